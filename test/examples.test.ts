// The README's examples and the demo are real programs: run each over
// loopback from a transpiled copy (see helpers/from-source.ts; `npm test`
// builds dist/ first, which the copies import, and type-checks the examples)
// and check that it exits 0 having printed what the README says it prints.
// The README's snippets are checked to be excerpts of those files, so the two
// cannot drift. The cat example is run with piped input instead, and its
// output compared byte for byte.
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { OPENSSL, clientPresent } from './helpers/clients.js';
import { deadline } from './helpers/deadline.js';
import { transpiledExample } from './helpers/from-source.js';
import { root } from './helpers/root.js';

if (!existsSync(path.join(root, 'dist', 'index.js'))) {
  throw new Error('Cannot run the examples: dist/ is not built (npm run build; npm test does it first)');
}
// Every example, transpiled once for the whole file.
const examplesDir = path.dirname(transpiledExample(t, 'demo'));
const example = (name: string): string => path.join(examplesDir, `${name}.js`);

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs a command in the project root, bounded in time; never rejects. */
function run(command: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number | string; signal?: string | null }) | null;
      resolve({
        code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
        signal: failure?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

const examples: readonly { file: string; expect: readonly RegExp[] }[] = [
  {
    file: 'readme-for-await',
    expect: [/^client: connected$/m, /^client: received "hello\\n"$/m],
  },
  {
    file: 'readme-classic',
    expect: [
      /^server: connection from 127\.0\.0\.1:\d+$/m,
      /^client: connected$/m,
      /^client: received "hello, dispatcher\\n"$/m,
      /^server: client left$/m,
      /^loop: map is empty$/m,
    ],
  },
  {
    file: 'readme-connect',
    expect: [
      /^server: listening on 127\.0\.0\.1:\d+$/m,
      /^client: connected to 127\.0\.0\.1:\d+$/m,
      /^client: received "hello, connect\(\)\\n"$/m,
      /^client: released$/m,
    ],
  },
  {
    file: 'readme-ix',
    expect: [/^server: hello from ada$/m, /^server: hello from bob$/m, /^server: hello from cy$/m],
  },
  {
    file: 'chat-echo',
    expect: [
      /^client: connected$/m,
      /^client: received "echo: hello"\nclient: received "echo: a line from a producer"\nclient: received "bye"$/m,
      /^client: the server closed$/m,
      /^loop: map is empty$/m,
    ],
  },
  {
    file: 'demo',
    expect: [/^client: got "hello"$/m, /^client: got "goodbye"$/m, /^server: client closed$/m, /^demo: done$/m],
  },
];

for (const { file, expect } of examples) {
  t.test(`examples/${file}.ts runs to completion and prints its events`, async (t) => {
    const result = await run(process.execPath, [example(file)], 15_000);
    t.equal(result.signal, null, 'not killed by the time bound');
    t.equal(result.code, 0, `exit code 0${result.stderr === '' ? '' : `; stderr:\n${result.stderr}`}`);
    for (const pattern of expect) t.match(result.stdout, pattern);
  });
}

/** Runs the cat example with `stdin` as its standard input; resolves with what it wrote and its exit. */
function runCat(stdin: 'pipe' | number, input: Buffer | null): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(process.execPath, [example('cat')], { cwd: root, stdio: [stdin, 'pipe', 'pipe'] });
  const timer = setTimeout(() => { child.kill('SIGKILL'); }, 15_000);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => { out.push(chunk); });
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  if (input !== null) child.stdin?.end(input);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}

t.test('examples/cat.ts copies a binary payload from stdin to stdout byte for byte, and exits 0', async (t) => {
  const input = Buffer.alloc(384 * 1024);
  for (let i = 0; i < input.length; i++) input[i] = (i * 31 + (i >> 9)) & 0xff;
  const result = await runCat('pipe', input);
  t.equal(result.stderr, '');
  t.equal(result.code, 0);
  t.equal(result.stdout.length, input.length);
  t.ok(result.stdout.equals(input), 'the output is the input, byte for byte');
});

t.test('examples/cat.ts refuses a regular file as stdin with a clear message and exit status 2', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'asyncore-cat-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'in.txt');
  writeFileSync(file, 'a regular file\n');
  const fd = openSync(file, 'r');
  t.teardown(() => { closeSync(fd); });
  const result = await runCat(fd, null);
  t.equal(result.code, 2);
  t.match(result.stderr, /^cat: cannot use standard input: Cannot open descriptor 0: it is a regular file, not a pipe or a stream socket; use a pipe$/m);
  t.equal(result.stdout.length, 0, 'nothing copied');
});

t.test('README.md code examples are excerpts of the example files they name', (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)];
  // Every README example is one of the programs run above, and every readme-* program is in the README.
  const embedded = blocks.map(([, file = '']) => file).sort();
  const ran = examples.filter(({ file }) => file.startsWith('readme-')).map(({ file }) => `examples/${file}.ts`).sort();
  t.same(embedded, ran, 'the README embeds exactly the readme-* examples that are run');
  for (const [, file = '', snippet = ''] of blocks) {
    const source = readFileSync(path.join(root, file), 'utf8').split('\n');
    // Every snippet line appears in the file, in order.
    let at = 0;
    const missing: string[] = [];
    for (const line of snippet.split('\n')) {
      const found = source.indexOf(line, at);
      if (found === -1) missing.push(line);
      else at = found + 1;
    }
    t.same(missing, [], `${file} holds every line of its README snippet, in order`);
  }
  t.end();
});

for (const [name, host, type] of [['IPv4', '127.0.0.1', 'udp4'], ['IPv6', '::1', 'udp6']] as const) {
  t.test(`examples/udp-echo.ts (${name}) prints one listening line, echoes datagrams, exits 0 on SIGTERM`, async (t) => {
    const child = spawn(process.execPath, [example('udp-echo'), '--host', host, '--port', '0'], { cwd: root });
    t.teardown(() => { child.kill('SIGKILL'); });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    const exited = new Promise<[number | null, string | null]>((resolve) => {
      child.once('exit', (code, signal) => { resolve([code, signal]); });
    });
    const line = await deadline(new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
      });
    }), 'the listening line');
    const match = /^listening (\[::1\]|127\.0\.0\.1):(\d+)$/.exec(line);
    t.ok(match, `the listening line: ${line}`);
    const port = Number(match?.[2]);
    const peer = dgram.createSocket(type);
    t.teardown(() => { peer.close(); });
    // Request and reply, re-sent until the reply comes: a lost datagram only slows it.
    const reply = new Promise<string>((resolve) => { peer.once('message', (data) => { resolve(data.toString()); }); });
    peer.send('echo me', port, host);
    const resend = setInterval(() => { peer.send('echo me', port, host); }, 1000);
    t.teardown(() => { clearInterval(resend); });
    t.equal(await deadline(reply, 'the echo'), 'echo me');
    child.kill('SIGTERM');
    t.same(await deadline(exited, 'the example to exit'), [0, null], `exit code 0${stderr === '' ? '' : `; stderr:\n${stderr}`}`);
    t.equal(stdout, line + '\n', 'exactly one line');
  });
}

t.test('examples/tls-echo.ts prints its address, echoes over TLS, and exits 0 on SIGTERM', { skip: OPENSSL.skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const child = spawn(process.execPath, [example('tls-echo'), '--port', '0'], { cwd: root });
  t.teardown(() => { child.kill('SIGKILL'); });
  const exited = new Promise<number | null>((resolve) => { child.once('exit', resolve); });
  let stdout = '';
  const line = await deadline(new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('\n')) resolve(stdout);
    });
    child.once('exit', () => { reject(new Error(`exited before listening: ${stdout}`)); });
  }), 'listening');
  const match = /^listening 127\.0\.0\.1:(\d+)\n$/.exec(line);
  t.ok(match, `one line: ${JSON.stringify(line)}`);
  const sock = tls.connect({ port: Number(match?.[1]), host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
  t.teardown(() => { sock.destroy(); });
  sock.write('echo me');
  const echoed = await deadline(new Promise<string>((resolve, reject) => {
    sock.once('data', (chunk: Buffer) => { resolve(chunk.toString()); });
    sock.once('error', reject);
  }), 'echo');
  t.equal(echoed, 'echo me');
  child.kill('SIGTERM');
  t.equal(await deadline(exited, 'exit'), 0);
  t.equal(stdout, line, 'nothing else printed');
});
