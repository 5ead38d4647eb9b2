// examples/resp-server.ts, the Redis-protocol server, driven by Redis's own
// clients (redis-cli, redis-benchmark) and by raw sockets for what those never
// send: pipelines cut anywhere, inline commands, malformed requests. One
// server serves the whole file; the last test stops it with SIGTERM.
import { execFile } from 'node:child_process';
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { REDIS_BENCHMARK, REDIS_CLI, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { startExample } from '../helpers/example-server.js';

const server = await startExample(t, 'resp-server');

interface Run { code: number | null; stdout: Buffer; stderr: string }

/** Runs a client against the server, bounded in time; `input` is its standard input. */
function run(command: string, args: readonly string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(command, ['-h', server.host, '-p', String(server.port), ...args],
      { encoding: 'buffer', timeout: 20_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr: stderr.toString() });
      });
    child.stdin?.end(input);
  });
}

/**
 * redis-cli's answer to one command, as text without the newlines after it
 * (its raw mode, the output not being a terminal: an error gets two).
 */
async function cli(t: Test, ...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await run('redis-cli', args);
  t.equal(code, 0, `redis-cli ${args.join(' ')} exits 0 ${stderr}`);
  return stdout.toString('latin1').replace(/\n+$/, '');
}

/** A raw connection to the server, and what it received so far. */
interface Raw {
  readonly socket: net.Socket;
  /** Resolves with the first `length` bytes received, once that many came. */
  receive(length: number, what: string): Promise<Buffer>;
  /** Resolves with everything received once the server closed the connection. */
  ended(what: string): Promise<Buffer>;
}

async function connectRaw(t: Test): Promise<Raw> {
  const socket = net.connect(server.port, server.host);
  t.teardown(() => { socket.destroy(); });
  socket.on('error', () => undefined); // a reset shows as the close below
  const chunks: Buffer[] = [];
  let length = 0;
  const waiters = new Set<() => void>();
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    for (const wake of waiters) wake();
  });
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve(); }); });
  await deadline(new Promise((resolve) => socket.once('connect', resolve)), 'the connection');
  const all = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    receive: (want, what) => deadline(new Promise<Buffer>((resolve, reject) => {
      const wake = (): void => {
        if (length < want) return;
        waiters.delete(wake);
        resolve(all().subarray(0, want));
      };
      waiters.add(wake);
      wake();
      void closed.then(() => { reject(new Error(`closed after ${JSON.stringify(all().toString('latin1'))}`)); });
    }), what),
    ended: async (what) => {
      await deadline(closed, what);
      return all();
    },
  };
}

t.test('resp-server: redis-cli PING answers PONG', { skip: REDIS_CLI.skip }, async (t) => {
  if (!clientPresent(t, REDIS_CLI)) return;
  t.equal(await cli(t, 'PING'), 'PONG');
  t.equal(await cli(t, 'PING', 'hello there'), 'hello there');
});

t.test('resp-server: SET, GET, INCR, EXISTS and DEL round trip through redis-cli', { skip: REDIS_CLI.skip }, async (t) => {
  if (!clientPresent(t, REDIS_CLI)) return;
  t.equal(await cli(t, 'SET', 'cli:name', 'ada'), 'OK');
  t.equal(await cli(t, 'GET', 'cli:name'), 'ada');
  t.equal(await cli(t, 'INCR', 'cli:count'), '1');
  t.equal(await cli(t, 'incr', 'cli:count'), '2');
  t.equal(await cli(t, 'INCR', 'cli:name'), 'ERR value is not an integer or out of range');
  t.equal(await cli(t, 'EXISTS', 'cli:name', 'cli:count', 'cli:none', 'cli:name'), '3');
  t.equal(await cli(t, 'DEL', 'cli:name', 'cli:count', 'cli:none'), '2');
  t.equal(await cli(t, 'GET', 'cli:name'), '', 'a missing key is nil');
  t.equal(await cli(t, 'SET', 'cli:name', 'ada', 'EX', '0'), "ERR invalid expire time in 'set' command");
  t.equal(await cli(t, 'SET', 'cli:name', 'ada', 'NX'), 'ERR syntax error');
  t.equal(await cli(t, 'SET', 'cli:ttl', 'soon', 'EX', '100'), 'OK');
  t.equal(await cli(t, 'GET', 'cli:ttl'), 'soon', 'a key with a time to live left');
  t.equal(await cli(t, 'GET'), "ERR wrong number of arguments for 'get' command");
});

t.test('resp-server: a value with NUL, CR, LF and high bytes, given with redis-cli -x, comes back byte for byte', { skip: REDIS_CLI.skip }, async (t) => {
  if (!clientPresent(t, REDIS_CLI)) return;
  const value = Buffer.from([0x62, 0x00, 0x0d, 0x0a, 0x24, 0x33, 0x0d, 0x0a, 0xff, 0xfe, 0x2a, 0x31]);
  const set = await run('redis-cli', ['-x', 'SET', 'cli:binary'], value);
  t.equal(set.stdout.toString(), 'OK\n', set.stderr);
  const got = await run('redis-cli', ['GET', 'cli:binary']);
  t.same(got.stdout, Buffer.concat([value, Buffer.from('\n')]));
});

t.test('resp-server: an unknown command is answered with an error', { skip: REDIS_CLI.skip }, async (t) => {
  if (!clientPresent(t, REDIS_CLI)) return;
  t.match(await cli(t, 'FLY', 'away'), /^ERR unknown command 'FLY', with args beginning with: 'away'/);
});

t.test('resp-server: redis-benchmark completes ping, set and get, one request at a time and 16 pipelined', { skip: REDIS_BENCHMARK.skip }, async (t) => {
  if (!clientPresent(t, REDIS_BENCHMARK)) return;
  for (const pipeline of [[], ['-P', '16']]) {
    const { code, stdout, stderr } = await run('redis-benchmark', ['-t', 'ping,set,get', '-n', '2000', '-q', ...pipeline]);
    t.equal(code, 0, `redis-benchmark ${pipeline.join(' ')} exits 0`);
    t.notMatch(stderr, /WARNING|ERROR/, 'it fetched the CONFIG it asks for');
    const finals = stdout.toString().split(/[\r\n]+/).filter((line) => line.includes(" requests per second"));
    t.same(finals.map((line) => line.split(':')[0]), ['PING_INLINE', 'PING_MBULK', 'SET', 'GET'], finals.join('\n'));
  }
});

t.test('resp-server: commands pipelined in one write, inline and RESP, are answered in order', async (t) => {
  const raw = await connectRaw(t);
  raw.socket.write('*3\r\n$3\r\nSET\r\n$6\r\nraw:p1\r\n$3\r\none\r\nGET raw:p1\r\n*2\r\n$4\r\nINCR\r\n$6\r\nraw:p2\r\n'
    + '  ECHO   two   \r\n\r\n*0\r\n*-1\r\nincr raw:p2\n*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\nPING\r\n');
  const expected = '+OK\r\n$3\r\none\r\n:1\r\n$3\r\ntwo\r\n:2\r\n$4\r\na\r\nb\r\n+PONG\r\n';
  t.equal((await raw.receive(expected.length, 'the replies')).toString(), expected);
});

t.test('resp-server: replies to the commands received go out before the server waits for the rest of one', async (t) => {
  const raw = await connectRaw(t);
  raw.socket.write('PING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhel');
  t.equal((await raw.receive(7, 'the first reply')).toString(), '+PONG\r\n');
  raw.socket.write('lo\r\n');
  t.equal((await raw.receive(18, 'the second reply')).toString(), '+PONG\r\n$5\r\nhello\r\n');
});

t.test('resp-server: large replies to a pipeline come back whole and in order', async (t) => {
  const raw = await connectRaw(t);
  const value = Buffer.alloc(256 * 1024, 'v');
  raw.socket.write(Buffer.concat([Buffer.from(`*3\r\n$3\r\nSET\r\n$7\r\nraw:big\r\n$${value.length}\r\n`), value, Buffer.from('\r\n')]));
  raw.socket.write('GET raw:big\r\n'.repeat(32) + 'ECHO end\r\n');
  const reply = Buffer.concat([Buffer.from(`$${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const expected = Buffer.concat([Buffer.from('+OK\r\n'), ...Array.from({ length: 32 }, () => reply), Buffer.from('$3\r\nend\r\n')]);
  t.ok((await raw.receive(expected.length, 'the 32 values')).equals(expected));
});

// Each request, and all the server sends before it closes the connection.
const closing: readonly (readonly [string, string, string])[] = [
  ['a malformed multibulk length is a protocol error, after the replies before it', 'PING\r\n*x\r\nPING\r\n',
    '+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n'],
  ['a bulk length over the 64 MiB bound is a protocol error', `*2\r\n$3\r\nGET\r\n$${64 * 1024 * 1024 + 1}\r\n`,
    '-ERR Protocol error: invalid bulk length\r\n'],
  ['a non-numeric bulk length is a protocol error', '*1\r\n$4x\r\nPING\r\n', '-ERR Protocol error: invalid bulk length\r\n'],
  ['a bulk string without its $ header is a protocol error', '*1\r\n+PING\r\n', "-ERR Protocol error: expected '$', got '+'\r\n"],
  ['an inline line over 64 KiB is a protocol error', `ECHO ${'x'.repeat(70_000)}`, '-ERR Protocol error: too big inline request\r\n'],
  ['QUIT answers OK and closes', 'QUIT\r\nPING\r\n', '+OK\r\n'],
];
for (const [what, request, reply] of closing) {
  t.test(`resp-server: ${what}, and the connection closes`, async (t) => {
    const raw = await connectRaw(t);
    raw.socket.write(request);
    t.equal((await raw.ended('the close')).toString(), reply);
  });
}

t.test('resp-server: SIGTERM with a connection open exits 0 and closes it', async (t) => {
  const raw = await connectRaw(t);
  raw.socket.write('PING\r\n');
  await raw.receive(7, 'the PONG');
  const exit = await server.stop('SIGTERM');
  t.same(exit, { code: 0, signal: null });
  t.equal((await raw.ended('the close')).toString(), '+PONG\r\n');
  t.equal(server.stderr(), '', 'nothing was logged');
});
