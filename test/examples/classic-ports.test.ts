// The two programs of Python's asyncore documentation, ported: the HTTP
// client fetches a file from Python's own http.server and prints the response
// byte for byte; the echo server echoes a Python asyncore client and a
// node:net client, and holds to the example servers' contract (one listening
// line, exit 0 on SIGTERM or SIGINT after closing what it opened).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { PYTHON, PYTHON_ASYNCHAT, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { startExample } from '../helpers/example-server.js';
import type { ExampleServer } from '../helpers/example-server.js';
import { transpiledExample } from '../helpers/from-source.js';

interface Exit { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string }

/** Runs a child to its exit, bounded in time; killed at teardown if still running. */
function run(t: Test, command: string, args: readonly string[], what: string): Promise<Exit> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { out.push(chunk); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  return deadline(new Promise<Exit>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => { resolve({ code, signal, stdout: Buffer.concat(out), stderr }); });
  }), what, 20_000);
}

/** Stops an example server with `signal` and checks its exit and its one line of output. */
async function stopCleanly(t: Test, server: ExampleServer, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const exit = await server.stop(signal);
  t.same(exit, { code: 0, signal: null }, `exit code 0 on ${signal}${server.stderr() === '' ? '' : `; stderr:\n${server.stderr()}`}`);
  t.equal(server.stdout(), `${server.line}\n`, 'exactly one line on stdout');
}

// Python's http.server on a free loopback port, serving `dir`; prints its port once listening.
const HTTP_SERVER = `
import functools, http.server, sys
class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=sys.argv[1]))
print(server.server_address[1], flush=True)
server.serve_forever()
`;

/** Starts Python's http.server over `dir`; resolves with its port. Stopped at teardown. */
async function httpServer(t: Test, dir: string): Promise<number> {
  const child = spawn('python3', ['-c', HTTP_SERVER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await deadline(exited, 'the HTTP server to exit');
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const port = await deadline(new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(stdout.trim());
    });
    void exited.then(() => { reject(new Error(`python3 http.server exited before listening:\n${stdout}${stderr}`)); });
  }), 'the HTTP server to listen');
  return Number(port);
}

t.test('examples/http-client.ts prints the response of Python\'s http.server byte for byte, and exits 0', { skip: PYTHON.skip }, async (t) => {
  if (!clientPresent(t, PYTHON)) return;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'asyncore-http-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  // Every byte value, over many recv(8192) calls.
  const body = Buffer.alloc(100_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 8)) & 0xff;
  writeFileSync(path.join(dir, 'payload.bin'), body);
  const port = await httpServer(t, dir);
  const client = transpiledExample(t, 'http-client');

  const got = await run(t, process.execPath, [client, '--host', '127.0.0.1', '--port', String(port), '--path', '/payload.bin'], 'the client');
  t.equal(got.code, 0, `exit code 0${got.stderr === '' ? '' : `; stderr:\n${got.stderr}`}`);
  const headerEnd = got.stdout.indexOf('\r\n\r\n');
  t.ok(headerEnd > 0, 'the response has a header');
  const head = got.stdout.subarray(0, headerEnd).toString('latin1');
  t.match(head, /^HTTP\/1\.0 200 OK\r\n/, 'the status line');
  t.match(head, new RegExp(`\r\nContent-Length: ${body.length}(\r\n|$)`), 'the length of the file');
  const received = got.stdout.subarray(headerEnd + 4);
  t.equal(received.length, body.length, 'as many bytes as the file');
  t.ok(received.equals(body), 'the file\'s bytes, exactly');

  const missing = await run(t, process.execPath, [client, '--host', '127.0.0.1', '--port', String(port), '--path', '/missing'], 'the client');
  t.equal(missing.code, 0);
  t.match(missing.stdout.toString('latin1'), /^HTTP\/1\.0 404 /, 'a 404 is printed as well');
});

t.test('examples/http-client.ts reports a refused connection on stderr and exits 1', async (t) => {
  // A port that was free a moment ago: nothing listens there.
  const probe = net.createServer();
  await new Promise<void>((resolve) => { probe.listen(0, '127.0.0.1', resolve); });
  const { port } = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => { probe.close(() => { resolve(); }); });
  const got = await run(t, process.execPath, [transpiledExample(t, 'http-client'), '--host', '127.0.0.1', '--port', String(port)], 'the client');
  t.equal(got.code, 1);
  t.match(got.stderr, /^http-client: connect ECONNREFUSED 127\.0\.0\.1:\d+$/m);
  t.equal(got.stdout.length, 0, 'nothing on stdout');
});

// A Python 3.11 asyncore client: sends its lines, reads the echo, checks
// every byte, prints OK (or what differs) and exits.
const ASYNCORE_CLIENT = `
import sys, warnings
warnings.simplefilter('ignore')
import asyncore
lines = b''.join(b'line %d: %s\\n' % (i, bytes(range(32, 127))) for i in range(500))
class Client(asyncore.dispatcher):
    def __init__(self, host, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket()
        self.connect((host, port))
        self.out = lines
        self.got = b''
    def handle_connect(self):
        pass
    def writable(self):
        return len(self.out) > 0
    def handle_write(self):
        self.out = self.out[self.send(self.out):]
    def handle_read(self):
        self.got += self.recv(8192)
        if len(self.got) >= len(lines):
            self.close()
    def handle_close(self):
        self.close()
client = Client(sys.argv[1], int(sys.argv[2]))
asyncore.loop(timeout=1)
if client.got == lines:
    print('OK')
else:
    print('MISMATCH: sent %d bytes, got %d back' % (len(lines), len(client.got)))
    sys.exit(1)
`;

t.test('examples/echo-server.ts echoes a Python asyncore client every byte, and exits 0 on SIGTERM', { skip: PYTHON_ASYNCHAT.skip }, async (t) => {
  if (!clientPresent(t, PYTHON_ASYNCHAT)) return;
  const server = await startExample(t, 'echo-server');
  t.equal(server.host, '127.0.0.1', 'the default host');
  const got = await run(t, 'python3', ['-c', ASYNCORE_CLIENT, server.host, String(server.port)], 'the Python client');
  t.equal(got.stdout.toString(), 'OK\n', `the Python client checked every byte${got.stderr === '' ? '' : `; stderr:\n${got.stderr}`}`);
  t.equal(got.code, 0);
  await stopCleanly(t, server);
});

t.test('examples/echo-server.ts echoes 1 MiB to a node:net client every byte, and exits 0 on SIGTERM', async (t) => {
  const server = await startExample(t, 'echo-server', ['--host', '127.0.0.1']);
  const payload = Buffer.alloc(1 << 20);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 13 + (i >> 10)) & 0xff;
  const sock = net.connect(server.port, server.host);
  t.teardown(() => { sock.destroy(); });
  const echoed = await deadline(new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= payload.length) resolve(Buffer.concat(chunks));
    });
    sock.once('error', reject);
    sock.once('close', () => { reject(new Error(`closed after ${length} bytes`)); });
    sock.write(payload);
  }), 'the echo of 1 MiB');
  t.equal(echoed.length, payload.length, 'as many bytes as sent');
  t.ok(echoed.equals(payload), 'every byte echoed, in order');
  const closed = new Promise<void>((resolve) => { sock.once('close', () => { resolve(); }); });
  sock.end();
  await deadline(closed, 'the connection to close');
  await stopCleanly(t, server);
});

t.test('examples/echo-server.ts on SIGINT ends an open connection after a grace, and exits 0', async (t) => {
  const server = await startExample(t, 'echo-server');
  const sock = net.connect(server.port, server.host);
  t.teardown(() => { sock.destroy(); });
  const echoed = await deadline(new Promise<string>((resolve, reject) => {
    sock.once('data', (chunk: Buffer) => { resolve(chunk.toString()); });
    sock.once('error', reject);
    sock.write('ping');
  }), 'the echo');
  t.equal(echoed, 'ping');
  // The connection stays open until the server ends it.
  const ended = new Promise<void>((resolve) => { sock.once('end', () => { resolve(); sock.end(); }); });
  await stopCleanly(t, server, 'SIGINT');
  await deadline(ended, 'the server to end the connection');
  t.match(server.stderr(), /^Incoming connection from 127\.0\.0\.1:\d+$/m, 'the connection was logged on stderr');
});
