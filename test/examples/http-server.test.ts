// examples/http-server.ts as a client sees it: real clients (curl, ab, wrk)
// for the common paths, a raw socket for pipelining and for every refusal,
// and the server contract (one listening line, exit 0 on SIGTERM after a
// graceful shutdown), with one process and with two workers.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { AB, CURL, WRK, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { startExample } from '../helpers/example-server.js';
import type { ExampleServer } from '../helpers/example-server.js';
import { tempDir } from '../helpers/net.js';

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs a client, bounded in time; never rejects. */
function run(command: string, args: readonly string[], timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      const code = (error as { code?: unknown } | null)?.code;
      resolve({ code: error === null ? 0 : typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

interface Exchange {
  /** Resolves with every byte received once the server ends the connection. */
  received(): Promise<Buffer>;
  /** Resolves with the bytes received so far once they hold `count` whole responses. */
  responses(count: number): Promise<Buffer>;
  readonly sock: net.Socket;
}

/** A raw connection that sends `data` in one write and collects the replies. */
function exchange(t: Test, server: ExampleServer, data: string | Buffer): Exchange {
  const sock = net.connect(server.port, server.host);
  t.teardown(() => { sock.destroy(); });
  const chunks: Buffer[] = [];
  let waiting: { count: number; resolve: (data: Buffer) => void } | null = null;
  const check = (): void => {
    const all = Buffer.concat(chunks);
    if (waiting !== null && parseResponses(all).length >= waiting.count) waiting.resolve(all);
  };
  sock.on('data', (chunk: Buffer) => { chunks.push(chunk); check(); });
  const received = new Promise<Buffer>((resolve, reject) => {
    sock.once('end', () => { resolve(Buffer.concat(chunks)); });
    sock.once('error', reject);
  });
  received.catch(() => { /* awaited where it matters */ });
  sock.write(data);
  return {
    sock,
    received: () => deadline(received, 'the server to end the connection'),
    responses: (count) => deadline(new Promise<Buffer>((resolve) => { waiting = { count, resolve }; check(); }), `${count} responses`),
  };
}

interface Response { status: number; headers: Map<string, string>; body: Buffer }

/** The whole responses in `data`, in order (bodies by Content-Length). */
function parseResponses(data: Buffer): Response[] {
  const responses: Response[] = [];
  let at = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', at);
    if (end === -1) return responses;
    const [statusLine = '', ...fields] = data.subarray(at, end).toString('latin1').split('\r\n');
    const headers = new Map(fields.map((field) => {
      const colon = field.indexOf(':');
      return [field.slice(0, colon).toLowerCase(), field.slice(colon + 1).trim()] as [string, string];
    }));
    const length = Number(headers.get('content-length') ?? 0);
    if (data.length < end + 4 + length) return responses;
    responses.push({ status: Number(statusLine.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
}

const server = await startExample(t, 'http-server');
const base = `http://${server.host}:${server.port}`;

t.test('http-server answers GET / with hello (curl)', { skip: CURL.skip }, async (t) => {
  if (!clientPresent(t, CURL)) return;
  const result = await run('curl', ['-sS', '--fail', `${base}/`]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, 'hello\n');
});

t.test('http-server echoes a 100 KB binary body byte for byte (curl --data-binary)', { skip: CURL.skip }, async (t) => {
  if (!clientPresent(t, CURL)) return;
  const dir = tempDir(t);
  const body = randomBytes(100_000);
  writeFileSync(path.join(dir, 'body'), body);
  const result = await run('curl', ['-sS', '--fail', '--data-binary', `@${path.join(dir, 'body')}`, '-o', path.join(dir, 'echo'), `${base}/echo`]);
  t.equal(result.code, 0, result.stderr);
  t.ok(readFileSync(path.join(dir, 'echo')).equals(body), 'the same bytes came back');
});

t.test('http-server keeps a connection alive for the next request (curl, two URLs)', { skip: CURL.skip }, async (t) => {
  if (!clientPresent(t, CURL)) return;
  // num_connects: the connections each transfer opened; 0 for the second, which reused the first's.
  const result = await run('curl', ['-sS', '-w', '%{http_code} %{num_connects}\n', `${base}/`, `${base}/missing`]);
  t.equal(result.code, 0, result.stderr);
  t.equal(result.stdout, 'hello\n200 1\nNot Found\n404 0\n');
});

t.test('http-server serves 2000 keep-alive requests from 10 clients with no failure (ab -k)', { skip: AB.skip }, async (t) => {
  if (!clientPresent(t, AB)) return;
  const result = await run('ab', ['-q', '-n', '2000', '-c', '10', '-k', `${base}/`]);
  t.equal(result.code, 0, result.stderr);
  t.match(result.stdout, /^Complete requests:\s+2000$/m);
  t.match(result.stdout, /^Failed requests:\s+0$/m);
  t.match(result.stdout, /^Keep-Alive requests:\s+2000$/m);
  t.notMatch(result.stdout, /^Non-2xx responses:\s+[1-9]/m);
});

t.test('http-server serves wrk for a second without an error', { skip: WRK.skip }, async (t) => {
  if (!clientPresent(t, WRK)) return;
  const result = await run('wrk', ['-t1', '-c10', '-d1s', `${base}/`]);
  t.equal(result.code, 0, result.stderr);
  t.notMatch(result.stdout, /Socket errors|Non-2xx/, result.stdout);
  const requests = Number(/(\d+) requests in/.exec(result.stdout)?.[1] ?? 0);
  t.ok(requests > 0, `${requests} requests`);
});

t.test('http-server answers pipelined requests in order', async (t) => {
  const client = exchange(t, server, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
    + 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst'
    + 'GET /missing HTTP/1.1\r\nHost: x\r\n\r\n');
  const responses = parseResponses(await client.responses(3));
  t.same(responses.map((r) => [r.status, r.body.toString()]), [[200, 'hello\n'], [200, 'first'], [404, 'Not Found\n']]);
  t.equal(responses[2]?.headers.get('connection'), 'keep-alive', 'the connection stays open');
});

t.test('http-server answers another method with 405 and an Allow header', async (t) => {
  const client = exchange(t, server, 'DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const [response] = parseResponses(await client.received());
  t.equal(response?.status, 405);
  t.equal(response?.headers.get('allow'), 'GET, HEAD');
});

// Each refusal is answered, then the connection closed (the client sees the end, not a reset).
const refusals: readonly { name: string; request: string; status: number }[] = [
  { name: 'a malformed request line with 400', request: 'GET /\r\n\r\n', status: 400 },
  { name: 'a malformed header field with 400', request: 'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n', status: 400 },
  { name: 'an HTTP/1.1 request without Host with 400', request: 'GET / HTTP/1.1\r\n\r\n', status: 400 },
  {
    name: 'headers over 8 KiB in all with 431',
    request: `GET / HTTP/1.1\r\nHost: x\r\nA: ${'a'.repeat(5000)}\r\nB: ${'b'.repeat(5000)}\r\n\r\n`,
    status: 431,
  },
  { name: 'one header line over 8 KiB with 431', request: `GET / HTTP/1.1\r\nHost: x\r\nA: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431 },
  { name: 'a chunked body with 411', request: 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', status: 411 },
  { name: 'another transfer coding with 501', request: 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', status: 501 },
  { name: 'a body over 1 MiB with 413', request: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nsome', status: 413 },
];
for (const { name, request, status } of refusals) {
  t.test(`http-server refuses ${name} and closes the connection`, async (t) => {
    // A good request after it on the same write is never answered.
    const client = exchange(t, server, `${request}GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
    const responses = parseResponses(await client.received());
    t.same(responses.map((r) => r.status), [status]);
    t.equal(responses[0]?.headers.get('connection'), 'close');
  });
}

t.test('http-server closes an HTTP/1.0 connection after the response unless asked to keep it alive', async (t) => {
  const client = exchange(t, server, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
    + 'GET / HTTP/1.0\r\n\r\n'
    + 'GET / HTTP/1.0\r\n\r\n');
  const responses = parseResponses(await client.received());
  t.same(responses.map((r) => [r.status, r.headers.get('connection')]), [[200, 'keep-alive'], [200, 'close']]);
});

t.test('http-server drops a keep-alive connection left idle', async (t) => {
  const idle = await startExample(t, 'http-server', ['--idle-timeout', '0.2']);
  const client = exchange(t, idle, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await client.responses(1);
  // The idle timeout aborts the connection: a reset or an end, whichever the client sees first.
  await deadline(new Promise((resolve) => { client.sock.once('close', resolve); }), 'the idle connection to be dropped');
  t.equal((await idle.stop()).code, 0);
  t.equal(idle.stderr(), '', 'a dropped idle client is no failure of the server');
});

t.test('http-server --workers 2 prints one listening line, serves, and exits 0 on SIGTERM', async (t) => {
  const cluster = await startExample(t, 'http-server', ['--workers', '2']);
  const clients = Array.from({ length: 4 }, () => exchange(t, cluster, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
  for (const client of clients) t.same(parseResponses(await client.received()).map((r) => r.body.toString()), ['hello\n']);
  const exit = await cluster.stop('SIGTERM');
  t.same(exit, { code: 0, signal: null });
  t.equal(cluster.stdout(), `${cluster.line}\n`, 'exactly one line on stdout');
  t.equal(cluster.stderr(), '');
});

// Last: it stops the server the other tests share.
t.test('http-server on SIGTERM ends an open keep-alive connection and exits 0', async (t) => {
  const client = exchange(t, server, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await client.responses(1);
  const exit = server.stop('SIGTERM');
  t.ok((await client.received()).length > 0, 'the connection ended gracefully');
  client.sock.end();
  t.same(await exit, { code: 0, signal: null });
  t.equal(server.stdout(), `${server.line}\n`, 'exactly one line on stdout');
  t.equal(server.stderr(), '', 'nothing on stderr');
});
