// Running out of file descriptors (reliability issue, item 4). A library echo
// server runs in a child process (test/fixtures/emfile-server.ts); once it
// serves a few connections, its descriptor limit is lowered with
// `prlimit --pid`, and the test watches what the server and its clients see.
//
// What happens on Linux with Node 20 (libuv 1.46): libuv's accept() fails with
// EMFILE, and libuv sheds the load itself. It closes a spare descriptor it
// keeps for the purpose (opened on /dev/null), accepts the waiting connections
// and closes them at once, then takes the spare back. The peers see their
// connection ended; nothing reaches JavaScript: no 'error' on the net.Server,
// no 'drop', no connection. When the spare cannot help (the limit is at or
// below its number), libuv swallows the error all the same: the connection
// waits in the kernel's accept queue while libuv retries on every turn of the
// event loop (a busy loop), and is served once a descriptor is available.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Test } from 'tap';
import { until } from './helpers/deadline.js';
import { childLoader, fromSource, root } from './helpers/root.js';

// The child runs the fixture as this file runs: compiled beside it (npm test
// runs the tree compiled into build/t/), or from source through tap's
// TypeScript loader.
const fixture = fromSource
  ? path.join(root, 'test', 'fixtures', 'emfile-server.ts')
  : fileURLToPath(new URL('fixtures/emfile-server.js', import.meta.url));

interface Message { type: string; [key: string]: unknown }
interface Stats extends Message {
  accepted: number;
  closed: number;
  open: number;
  accepting: boolean;
  droppedConnections: number;
  listenerErrors: unknown[];
  serverErrors: unknown[];
  drops: number;
}

interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  waitFor(what: string, match: (m: Message) => boolean): Promise<Message>;
  stats(): Promise<Stats>;
}

/** Starts the fixture server; stopped (and killed if need be) at teardown. */
async function startServer(t: Test): Promise<ServerProcess> {
  // Without tap's NODE_OPTIONS: its process-info hook writes a file at exit,
  // which fails while the limit is low.
  const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' };
  delete env.NODE_OPTIONS;
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(process.execPath, [...childLoader, fixture], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
    env,
  });
  const exited = once(child, 'exit');
  t.teardown(async () => {
    child.stdin.end('exit\n');
    const bound = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(bound);
  });
  const waiters: { match: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as Message;
    const at = waiters.findIndex((w) => w.match(message));
    if (at >= 0) waiters.splice(at, 1)[0]?.resolve(message);
  });
  const waitFor = (what: string, match: (m: Message) => boolean): Promise<Message> => new Promise((resolve, reject) => {
    const bound = setTimeout(() => { reject(new Error(`The server never reported ${what}`)); }, 30_000); // a child starting on a busy machine
    waiters.push({
      match,
      resolve: (m) => {
        clearTimeout(bound);
        resolve(m);
      },
    });
  });
  const listening = await waitFor('listening', (m) => m.type === 'listening');
  return {
    pid: child.pid as number,
    port: listening.port as number,
    waitFor,
    async stats(): Promise<Stats> {
      const answer = waitFor('stats', (m) => m.type === 'stats');
      child.stdin.write('stats\n');
      return await answer as Stats;
    },
  };
}

/** The child's open descriptors, sorted. */
function descriptors(pid: number): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
}

/** What a descriptor of the child points at. */
function target(pid: number, fd: number): string {
  try {
    return readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch {
    return '';
  }
}

/** The lowest descriptor number the child could open next. */
function lowestFree(fds: readonly number[]): number {
  let fd = 0;
  while (fds.includes(fd)) fd++;
  return fd;
}

/**
 * Sets the child's soft descriptor limit. The hard limit stays: lowering it
 * too (`N:N`) could not be undone without CAP_SYS_RESOURCE.
 */
function prlimit(pid: number, limit: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/prlimit', ['--pid', String(pid), `--nofile=${limit}:`], (error) => {
      if (error === null) resolve();
      else reject(new Error(`prlimit failed: ${error.message}`, { cause: error }));
    });
  });
}

/** Connections waiting in the kernel's accept queue of the listener on `port` (/proc/net/tcp). */
function acceptQueue(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // For a listening socket (state 0A), rx_queue is the accept queue's length.
    if (fields[1] === `0100007F:${hex}` && fields[3] === '0A') return parseInt((fields[4] ?? '').split(':')[1] ?? '', 16);
  }
  throw new Error(`No listener on port ${port}`);
}

/** A plain client connected to the server; destroyed at teardown. */
async function connect(t: Test, port: number): Promise<net.Socket> {
  const sock = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => { sock.destroy(); });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return sock;
}

/**
 * Sends `text` and resolves with what became of it: 'echo' once it came back,
 * else how the connection ended ('end', or an error code).
 */
function echo(sock: net.Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (data: Buffer): void => {
      got += data.toString();
      if (got.length >= text.length) finish(got === text ? 'echo' : `garbled: ${got}`);
    };
    const onEnd = (): void => { finish('end'); };
    const onError = (error: NodeJS.ErrnoException): void => { finish(error.code ?? 'error'); };
    const finish = (outcome: string): void => {
      sock.off('data', onData);
      sock.off('end', onEnd);
      sock.off('error', onError);
      resolve(outcome);
    };
    sock.on('data', onData);
    sock.once('end', onEnd);
    sock.once('error', onError);
    sock.write(text);
  });
}

const SHED = ['end', 'ECONNRESET', 'EPIPE'];
const linux = process.platform === 'linux';

t.test('EMFILE: new connections are shed silently, existing ones are still served, and accepting resumes once descriptors are free', { skip: !linux && 'Linux only' }, async (t) => {
  const server = await startServer(t);
  const old: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const sock = await connect(t, server.port);
    t.equal(await echo(sock, `before ${i}`), 'echo', `connection ${i} is served`);
    old.push(sock);
  }
  const fds = descriptors(server.pid);
  const spares = fds.filter((fd) => fd > 2 && target(server.pid, fd) === '/dev/null');
  t.equal(spares.length, 1, 'libuv keeps one spare descriptor, on /dev/null');
  const limit = lowestFree(fds);
  t.ok((spares[0] ?? Infinity) < limit, `the spare (${spares[0]}) is under the limit (${limit}): it can be used`);
  await prlimit(server.pid, limit); // every descriptor under the limit is in use
  t.comment(`limit ${limit}, ${fds.length} descriptors open, the highest ${fds.at(-1)}`);

  for (let i = 0; i < 3; i++) {
    const sock = await connect(t, server.port);
    const outcome = await echo(sock, `over ${i}`);
    t.ok(SHED.includes(outcome), `a connection over the limit is connected, then closed unserved (${outcome})`);
  }
  for (const [i, sock] of old.entries()) t.equal(await echo(sock, `during ${i}`), 'echo', `connection ${i} is still served`);
  const during = await server.stats();
  t.equal(during.accepted, 4, 'the shed connections never reached the listener');
  t.same(during.listenerErrors, [], 'the listening channel reported no error event');
  t.same(during.serverErrors, [], 'the net.Server emitted no error');
  t.equal(during.drops, 0, 'nor drop');
  t.equal(during.droppedConnections, 0);
  t.equal(during.accepting, true, 'the channel is still listening');

  // Free two descriptors: exactly two new connections are accepted.
  old[0]?.end();
  old[1]?.end();
  await server.waitFor('two closes', (m) => m.type === 'closed' && m.total === 2);
  const outcomes: string[] = [];
  for (let i = 0; i < 3; i++) outcomes.push(await echo(await connect(t, server.port), `after ${i}`));
  t.same(outcomes.slice(0, 2), ['echo', 'echo'], 'two descriptors freed: two new connections served');
  t.ok(SHED.includes(outcomes[2] ?? ''), `the third is shed again (${outcomes[2]})`);
  t.equal(await echo(old[2] as net.Socket, 'still'), 'echo');
  const after = await server.stats();
  t.equal(after.accepted, 6);
  t.same(after.listenerErrors, []);
  t.same(after.serverErrors, []);
});

t.test('EMFILE when the spare descriptor cannot help: the connection waits in the kernel queue, nothing is reported, and it is served once descriptors are available', { skip: !linux && 'Linux only' }, async (t) => {
  const server = await startServer(t);
  const old: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const sock = await connect(t, server.port);
    t.equal(await echo(sock, `before ${i}`), 'echo');
    old.push(sock);
  }
  const fds = descriptors(server.pid);
  const spare = fds.find((fd) => fd > 2 && target(server.pid, fd) === '/dev/null') ?? -1;
  t.ok(spare > 2, 'libuv keeps a spare descriptor');
  // At or below the spare's number, closing the spare frees nothing usable.
  const limit = Math.min(lowestFree(fds), spare);
  await prlimit(server.pid, limit);
  t.comment(`limit ${limit}, spare ${spare}`);

  const waiting = await connect(t, server.port); // the kernel completes the handshake
  await until(() => acceptQueue(server.port) === 1, 'the connection waits in the accept queue');
  const reply = echo(waiting, 'queued');
  const served: string[] = [];
  for (let round = 0; round < 20; round++) {
    for (const [i, sock] of old.entries()) served.push(await echo(sock, `r${round} ${i}`));
  }
  t.same(served, served.map(() => 'echo'), `the other connections are served meanwhile (${served.length} round trips)`);
  t.equal(acceptQueue(server.port), 1, 'still waiting in the kernel, unaccepted');
  let answered = false;
  void reply.then(() => { answered = true; });
  const stats = await server.stats();
  t.equal(answered, false, 'no reply yet');
  t.equal(stats.accepted, 3);
  t.same(stats.listenerErrors, [], 'no error event on the listening channel');
  t.same(stats.serverErrors, [], 'no error on the net.Server');
  t.equal(stats.accepting, true);

  // Closing a connection would not help here: its descriptor is above the
  // limit, and Linux allocates under it. Raise the limit instead.
  await prlimit(server.pid, 1024);
  t.equal(await reply, 'echo', 'descriptors available again: the waiting connection is accepted and served');
  t.equal(acceptQueue(server.port), 0);
  const after = await server.stats();
  t.equal(after.accepted, 4);
  t.same(after.listenerErrors, []);
  t.same(after.serverErrors, []);
  t.ok(descriptors(server.pid).some((fd) => fd > 2 && target(server.pid, fd) === '/dev/null'),
    'libuv took a spare descriptor again when it set up the new connection');
});
