// Faults of the connection itself (reliability issue, item 3), each ending in
// the documented events and never in a crash: a peer that resets mid-transfer,
// a write after the peer closed, a refused connection, a connect that never
// completes, half-closes both ways, a listener closed with connections still
// queued, and closeAll() or a stopped loop in the middle of transfers.
//
// Already covered elsewhere, and not repeated here: a reset while we write
// (classic/dispatcher-errors.test.ts), abort() of an idle TCP connection and the
// reset of a waiting write() (channel-close.test.ts), a refused connect seen
// through loop() and Dispatcher (classic/dispatcher-errors.test.ts), a listener closed
// with one silent connection queued (channel-listen.test.ts).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import {
  AF_INET, AF_UNIX, Channel, ChannelClosedError, ChannelMap, Dispatcher, closeAll, loop,
} from '../src/index.js';
import type { Address, ChannelEvent, LoopEvent } from '../src/index.js';
import { families, listener, client, tempDir, testMap } from './helpers/net.js';
import type { FamilyCase } from './helpers/net.js';
import { isPending, macrotask, nextEvent, pattern, readAll } from './helpers/events.js';
import { QuietDispatcher, deadAddress, failOnUnhandled } from './helpers/dispatchers.js';
import { deadline, until } from './helpers/deadline.js';

failOnUnhandled(t);

const tcpFamilies = families.filter((fam) => fam.family !== AF_UNIX);
const [ipv4] = families;
if (ipv4 === undefined) throw new Error('No families');

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** An event as a short string: `read`, `error:read:ECONNRESET`, ... */
function describe(ev: ChannelEvent | LoopEvent): string {
  return ev.type === 'error' ? `error:${ev.operation}:${codeOf(ev.error) ?? ''}` : ev.type;
}

/** A plain Node listener: the peer, controlled byte by byte. */
interface RawServer {
  readonly address: Address;
  /** The next connection it accepts. */
  next(): Promise<net.Socket>;
}

/** Starts a plain Node listener (allowHalfOpen) on `fam`'s loopback; closed at teardown with its sockets. */
async function rawServer(t: Test, fam: FamilyCase): Promise<RawServer> {
  const server = net.createServer({ allowHalfOpen: true });
  const sockets = new Set<net.Socket>();
  const waiting: net.Socket[] = [];
  const takers: ((sock: net.Socket) => void)[] = [];
  server.on('connection', (sock) => {
    sockets.add(sock);
    // A peer reset at teardown must not become an uncaught 'error'; tests that care listen too.
    sock.on('error', () => { /* seen by the test's own listener, if any */ });
    const take = takers.shift();
    if (take === undefined) waiting.push(sock);
    else take(sock);
  });
  t.teardown(() => {
    for (const sock of sockets) sock.destroy();
    server.close();
  });
  const where = fam.listenAddress(t);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof where === 'string') server.listen({ path: where }, resolve);
    else server.listen({ host: where[0], port: where[1] }, resolve);
  });
  const bound = server.address();
  const address: Address = typeof where === 'string' ? where : [where[0], (bound as net.AddressInfo).port];
  return {
    address,
    next: () => {
      const ready = waiting.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve) => { takers.push(resolve); });
    },
  };
}

/** A client channel in `map` connecting to `address`, aborted at teardown. */
function connectTo(t: Test, map: ChannelMap, fam: FamilyCase, address: Address): Channel {
  const channel = new Channel(null, map);
  t.teardown(() => { channel.abort(); });
  channel.createSocket(fam.family);
  channel.connect(address);
  return channel;
}

/** Every event of a channel's iteration to its end, taking every byte on `read`. */
async function drain(it: AsyncIterator<ChannelEvent>, channel: Channel): Promise<{ seen: ChannelEvent[]; data: Buffer }> {
  const seen: ChannelEvent[] = [];
  const parts: Buffer[] = [];
  for (;;) {
    const result = await it.next();
    if (result.done === true) break;
    seen.push(result.value);
    if (result.value.type === 'read') {
      const data = channel.recv(65536);
      if (data !== null) parts.push(data);
    }
  }
  return { seen, data: Buffer.concat(parts) };
}

/** Takes events without taking bytes until `length` bytes wait unread. */
async function untilBuffered(it: AsyncIterator<ChannelEvent>, channel: Channel, length: number): Promise<void> {
  for (;;) {
    const ev = await nextEvent(it);
    if (ev.type !== 'read') throw new Error(`Expected a read event, got ${describe(ev)}`);
    if (channel.bufferedAmount >= length) return;
    await macrotask(); // the read is reported again at once: let Node read meanwhile
  }
}

/** Checks the documented shape of a broken connection's events: one error, then close, once and last. */
function assertBroken(t: Test, seen: readonly ChannelEvent[], operation: string, codes: readonly string[]): void {
  const errors = seen.filter((ev) => ev.type === 'error');
  t.equal(errors.length, 1, 'one error event');
  const error = errors[0];
  if (error?.type === 'error') {
    t.equal(error.operation, operation, `operation ${operation}`);
    t.ok(codes.includes(codeOf(error.error) ?? ''), `code ${codeOf(error.error)} is one of ${codes.join(', ')}`);
  }
  t.equal(seen.filter((ev) => ev.type === 'close').length, 1, 'one close event');
  t.equal(seen.at(-1)?.type, 'close', 'close is the last event');
  t.ok(seen.findIndex((ev) => ev.type === 'error') < seen.findIndex((ev) => ev.type === 'close'), 'error comes before close');
}

// ---- a peer that resets mid-transfer ----------------------------------------

for (const fam of tcpFamilies) {
  t.test(`A peer reset while bytes wait unread: error (read, ECONNRESET), then those bytes, then close, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    // A read bound above what the peer sends: Node keeps reading, so it sees the reset.
    const c = new Channel(null, map, { readHighWaterMark: 1 << 20 });
    t.teardown(() => { c.abort(); });
    c.createSocket(fam.family);
    c.connect(raw.address);
    const peer = await raw.next();
    const it = c[Symbol.asyncIterator]();
    t.equal((await nextEvent(it)).type, 'connect');
    const sent = pattern(256 * 1024);
    peer.write(sent);
    await untilBuffered(it, c, sent.length);
    peer.resetAndDestroy();
    await deadline(c.closed, 'closed'); // resolves as soon as the connection breaks
    t.equal(c.connected, false);
    t.equal(c.bufferedAmount, sent.length, 'the bytes received before the reset are kept');
    const { seen, data } = await drain(it, c);
    t.same(seen.map(describe), ['error:read:ECONNRESET', ...seen.slice(1, -1).map(() => 'read'), 'close'],
      'the error first, then the waiting bytes, then close');
    t.ok(seen.length >= 3, 'at least one read between error and close');
    assertBroken(t, seen, 'read', ['ECONNRESET']);
    t.ok(data.equals(sent), 'every byte that was waiting is handed out, intact and in order');
    t.equal(c.state, 'closed', 'the consumer that saw close moved on: the channel is closed');
  });

  t.test(`A peer reset while the read buffer is full goes unseen until recv() takes bytes, then ends (a plain end of stream or ECONNRESET), over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    const it = c[Symbol.asyncIterator]();
    t.equal((await nextEvent(it)).type, 'connect');
    const sent = pattern(256 * 1024);
    peer.write(sent);
    // At readHighWaterMark (64 KiB) the channel pauses its socket: Node stops reading it.
    await untilBuffered(it, c, 65536);
    const held = c.bufferedAmount;
    const localPort = (c.socket as net.Socket).localPort as number;
    const remotePort = (c.socket as net.Socket).remotePort as number;
    peer.resetAndDestroy();
    await until(() => tcpState(localPort, remotePort) === null, 'the kernel took the reset');
    await macrotask();
    t.ok(await isPending(c.closed), 'closed is still pending: Node is not reading, so nothing saw the reset');
    t.equal(c.connected, true, 'the channel still looks connected');
    t.equal(c.bufferedAmount, held);
    const { seen, data } = await drain(it, c);
    // The bytes the kernel had queued come first. Then Linux reports the reset
    // once, to the next read(), unless libuv never makes one: when its last read
    // came up short with the hang-up in the same poll and the handle was still
    // reading, it ends the stream itself. Which of the two happens depends on
    // whether the consumer took the last bytes before Node paused the socket.
    const ends = seen.map(describe).filter((kind) => kind !== 'read');
    t.ok(['close', 'error:read:ECONNRESET,close'].includes(ends.join(',')),
      `reads, then close, with at most an ECONNRESET (read) before it: ${ends.join(', ')}`);
    t.equal(seen.at(-1)?.type, 'close');
    t.ok(data.length >= held && data.length < sent.length,
      `every byte held arrived, and what the kernel had queued (${data.length} of ${sent.length}); the rest is lost`);
    t.ok(data.equals(sent.subarray(0, data.length)), 'intact and in order');
  });

  t.test(`Channel.chunks() yields the bytes received before a reset, then throws ECONNRESET, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    await c.opened;
    const sent = pattern(100_000);
    const parts: Buffer[] = [];
    let total = 0;
    const outcome = (async (): Promise<unknown> => {
      try {
        for await (const chunk of c.chunks()) {
          parts.push(chunk);
          total += chunk.length;
          if (total === sent.length) peer.resetAndDestroy();
        }
        return null;
      } catch (error) {
        return error;
      }
    })();
    peer.write(sent);
    const error = await deadline(outcome, 'the end of chunks()');
    t.equal(codeOf(error), 'ECONNRESET', 'chunks() throws the reset');
    t.ok(Buffer.concat(parts).equals(sent), 'after yielding every byte sent before it');
    await t.rejects(c.write('late'), { code: 'ECONNRESET' }, 'write() rejects with the same error');
  });

  t.test(`A peer reset in the middle of a stream, seen through loop(): connect, reads, error, close, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    const stream = pattern(16 << 20);
    let written = 0;
    // The peer streams until it is reset, which the reader does once 256 KiB arrived.
    const pump = (): void => {
      while (!peer.destroyed && written < stream.length) {
        const chunk = stream.subarray(written, written + 16384);
        written += chunk.length;
        if (!peer.write(chunk)) {
          peer.once('drain', pump);
          return;
        }
      }
    };
    pump();
    const seen: LoopEvent[] = [];
    const parts: Buffer[] = [];
    let total = 0;
    let resetAt = -1;
    for await (const ev of loop({ map, timeout: 10 })) {
      if (ev.type === 'timeout') break;
      seen.push(ev);
      if (ev.type !== 'read') continue;
      const data = c.recv(65536);
      if (data === null) continue;
      parts.push(data);
      total += data.length;
      if (resetAt < 0 && total >= 256 * 1024) {
        resetAt = total;
        peer.resetAndDestroy();
      }
    }
    const kinds = seen.map(describe).filter((kind) => kind !== 'read');
    // As in the full-buffer case above, libuv may end the stream itself when the
    // hang-up comes in the same poll as a short last read (more likely when the
    // machine is slow and the reader falls behind): then no read sees the reset.
    t.ok(['connect,error:read:ECONNRESET,close', 'connect,close'].includes(kinds.join(',')),
      `nothing but reads between connect, at most an ECONNRESET (read), and close: ${kinds.join(', ')}`);
    t.equal(seen.at(-1)?.type, 'close', 'close is the last event: the loop ended with the map empty');
    const data = Buffer.concat(parts);
    t.ok(resetAt > 0, `the peer reset after ${resetAt} bytes had arrived`);
    t.ok(data.length >= resetAt && data.length < written, `${data.length} of the ${written} bytes the peer wrote arrived`);
    t.ok(data.equals(stream.subarray(0, data.length)), 'what arrived is an intact prefix');
    t.equal(map.size, 0);
  });
}

// ---- a write after the peer closed ------------------------------------------

for (const fam of families) {
  t.test(`A write after the peer closed: error (write, EPIPE on Linux), then close, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    const seen: ChannelEvent[] = [];
    let sends = 0;
    // Not reading: the peer's end of stream stays untaken, so the writes go on
    // until the kernel refuses them. (A consumer that takes the end first is
    // handed close at once and never sees the failure: see the next test.)
    c.readInterest = false;
    for await (const ev of c) {
      seen.push(ev);
      if (ev.type === 'connect') {
        peer.destroy();
        c.writeInterest = true;
      } else if (ev.type === 'write') {
        sends++;
        c.send(pattern(1000));
      }
    }
    t.ok(sends > 0, `wrote ${sends} times after the peer left`);
    const kinds = seen.map(describe).filter((kind) => kind !== 'write');
    // Linux: the peer's FIN put us in CLOSE_WAIT, so its RST is reported as EPIPE.
    const codes = process.platform === 'linux' ? ['EPIPE'] : ['EPIPE', 'ECONNRESET'];
    t.equal(kinds[0], 'connect');
    assertBroken(t, seen, 'write', codes);
    t.equal(kinds.length, 3, 'connect, error, close and nothing else but writes');
    t.equal(c.state, 'closed', 'the consumer that saw close moved on: the channel is closed');
  });

  t.test(`A reply written after taking the peer's end is sent silently, with no error event, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    peer.destroy();
    const seen: ChannelEvent[] = [];
    let accepted = -1;
    for await (const ev of c) {
      seen.push(ev);
      if (ev.type !== 'read') continue;
      const data = c.recv(100);
      if (data?.length === 0) accepted = c.send('too late');
    }
    t.same(seen.map(describe), ['connect', 'read', 'close'], 'the end, then close: the failed delivery is not reported');
    t.equal(accepted, 'too late'.length, 'send() accepted the reply');
    t.equal(c.state, 'closed');
  });
}

// ---- a refused connection ---------------------------------------------------

for (const fam of families) {
  t.test(`A refused connection through the channel's own events and promises over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const c = connectTo(t, map, fam, await deadAddress(t, fam));
    const opened = c.opened.then(() => null, (error: unknown) => error);
    const it = c[Symbol.asyncIterator]();
    const first = await nextEvent(it);
    t.equal(describe(first), 'error:connect:ECONNREFUSED');
    const error = first.type === 'error' ? first.error : null;
    t.equal(c.connecting, false, 'no longer connecting');
    t.equal(await c.write('x').then(() => null, (err: unknown) => err), error, 'write() rejects with the event\'s error');
    t.equal(await opened, error, 'opened rejects with the same error');
    t.equal((await nextEvent(it)).type, 'close');
    t.same(await it.next(), { done: true, value: undefined }, 'the iteration ends after close');
    t.equal(c.state, 'closed');
    t.equal((c.socket as net.Socket).destroyed, true, 'no socket left behind');
    t.notOk(map.has(c.id));
  });
}

t.test('A connect to a Unix path with no socket: error (connect, ENOENT), then close', async (t) => {
  const map = testMap(t);
  const fam = families.find((f) => f.family === AF_UNIX) as FamilyCase;
  const c = connectTo(t, map, fam, path.join(tempDir(t), 'nobody-here.sock'));
  const seen: ChannelEvent[] = [];
  for await (const ev of c) seen.push(ev);
  t.same(seen.map(describe), ['error:connect:ENOENT', 'close']);
  await t.rejects(c.opened, { code: 'ENOENT' });
});

// ---- a connect that never completes -----------------------------------------

// A listener whose process never accepts: it listens with backlog 1, then
// blocks its event loop for good. Linux completes backlog + 1 handshakes into
// its accept queue and then drops further SYNs, so the next connect stays in
// SYN-SENT (retransmitting) until the connect times out, minutes later.
const BLOCKED_LISTENER = `
import net from 'node:net';
const server = net.createServer();
server.listen({ host: process.argv[1], port: 0, backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n', () => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  });
});
`;

/** Starts a never-accepting listener in a child process and fills its accept queue; killed at teardown. */
async function fullListener(t: Test, host: string): Promise<Address> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // a bare node: nothing of tap's in the child
  const child = spawn(process.execPath, ['--input-type=module', '-e', BLOCKED_LISTENER, host], {
    stdio: ['ignore', 'pipe', 'inherit'], env,
  });
  const exited = once(child, 'exit');
  t.teardown(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const [line] = await once(child.stdout, 'data') as [Buffer];
  const address: Address = [host, Number(line.toString().trim())];
  // backlog + 1 connections complete and wait in the kernel's queue.
  for (let i = 0; i < 2; i++) {
    const filler = net.connect({ host, port: address[1] });
    t.teardown(() => { filler.destroy(); });
    await once(filler, 'connect');
  }
  return address;
}

const TCP_STATES: Record<string, string> = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '0A': 'LISTEN' };

/** The kernel's TCP state of the connection from `localPort` to `remotePort`, or null when there is none. */
function tcpState(localPort: number, remotePort: number): string | null {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex(localPort)}`) === true && fields[2]?.endsWith(`:${hex(remotePort)}`) === true) {
        const st = fields[3] ?? '';
        return TCP_STATES[st] ?? st;
      }
    }
  }
  return null;
}

/** Node handles of TCP sockets and connects held by this process. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
}

const hangs = process.platform === 'linux' ? tcpFamilies : [];
for (const fam of hangs) {
  t.test(`A connect that never completes (a full accept queue) over ${fam.name}`, async (t) => {
    const host = fam.family === AF_INET ? '127.0.0.1' : '::1';
    const target = await fullListener(t, host);
    const port = (target as readonly [string, number])[1];

    /** Aborts a channel still sending SYNs; the kernel and Node must both let it go. */
    async function abortReleases(t: Test, channel: Channel, before: number): Promise<void> {
      const sock = channel.socket as net.Socket;
      const localPort = sock.localPort as number;
      t.equal(tcpState(localPort, port), 'SYN_SENT');
      channel.abort();
      t.equal(tcpState(localPort, port), null, 'the kernel forgot the connection');
      await once(sock, 'close');
      t.equal(tcpHandles(), before, 'no Node handle left behind');
    }

    t.test('loop() yields timeout with no event of the channel; abort() then leaves no socket behind', async (t) => {
      const map = testMap(t);
      const before = tcpHandles();
      const c = connectTo(t, map, fam, target);
      const sock = c.socket as net.Socket;
      const seen: string[] = [];
      let localPort = 0;
      for await (const ev of loop({ map, timeout: 0.3 })) {
        seen.push(describe(ev));
        if (ev.type !== 'timeout') break;
        t.equal(c.state, 'connecting');
        t.equal(c.connecting, true);
        localPort = sock.localPort as number;
        t.equal(tcpState(localPort, port), 'SYN_SENT', 'the kernel is still sending SYNs');
        c.abort(); // the user's timeout; the loop ends with its map empty
      }
      t.same(seen, ['timeout'], 'only the loop\'s own timeout: no connect, no error, no close');
      await t.rejects(c.opened, ChannelClosedError, 'opened rejects: closed before it opened');
      await c.closed;
      t.equal(sock.destroyed, true);
      t.equal(tcpState(localPort, port), null, 'the kernel forgot the connection');
      await once(sock, 'close');
      t.equal(tcpHandles(), before, 'no Node handle left behind');
      t.equal(map.size, 0);
    });

    t.test('an idleTimeout that fires while connecting reports the error and lets the socket go at once', async (t) => {
      const map = testMap(t);
      const before = tcpHandles();
      const c = new Channel(null, map, { idleTimeout: 0.2 });
      t.teardown(() => { c.abort(); });
      c.createSocket(fam.family);
      c.connect(target);
      const sock = c.socket as net.Socket;
      const seen: string[] = [];
      let localPort = 0;
      for await (const ev of c) {
        if (localPort === 0) localPort = sock.localPort ?? 0;
        seen.push(ev.type === 'error' ? `error:${ev.error.code ?? ''}:${ev.operation}` : ev.type);
      }
      t.same(seen, ['error:ERR_CHANNEL_IDLE_TIMEOUT:connect', 'close']);
      t.equal(sock.destroyed, true, 'the socket is destroyed, not left connecting');
      await deadline(once(sock, 'close'), 'the socket closes');
      t.equal(tcpState(localPort, port), null, 'the kernel forgot the connection');
      t.equal(tcpHandles(), before, 'no Node handle left behind');
    });

    t.test('loop() iteration stopped by an AbortSignal: no event at all; the channel is still connecting; abort() releases it', async (t) => {
      const map = testMap(t);
      const before = tcpHandles();
      const c = connectTo(t, map, fam, target);
      const seen: string[] = [];
      for await (const ev of loop({ map, timeout: Infinity, signal: AbortSignal.timeout(300) })) seen.push(describe(ev));
      t.same(seen, [], 'nothing happened to report');
      t.equal(c.connecting, true, 'stopping the loop closed nothing');
      await abortReleases(t, c, before);
    });

    t.test('await loop() stopped by an AbortSignal: no handler ran, the dispatcher is still connecting; abort() releases it', async (t) => {
      const map = testMap(t);
      const before = tcpHandles();
      const calls: string[] = [];
      class Patient extends QuietDispatcher {
        override handleConnect(): void { calls.push('connect'); }
        override handleError(): void { calls.push('error'); }
        override handleClose(): void { calls.push('close'); }
      }
      const d = new Patient(null, map);
      t.teardown(() => { d.abort(); });
      d.createSocket(fam.family);
      d.connect(target);
      await loop({ map, signal: AbortSignal.timeout(300) });
      t.same(calls, [], 'no handler was called');
      t.equal(d.connecting, true, 'stopping the loop closed nothing');
      await abortReleases(t, d, before);
      t.same(calls, [], 'a local abort calls no handler');
    });

    t.test('close() instead of abort(): the channel is closed at once, its socket gone within closeTimeout', async (t) => {
      const map = testMap(t);
      const before = tcpHandles();
      const c = new Channel(null, map, { closeTimeout: 0.2 });
      t.teardown(() => { c.abort(); });
      c.createSocket(fam.family);
      c.connect(target);
      await macrotask(); // Node issues the connect on its next tick
      const sock = c.socket as net.Socket;
      const localPort = sock.localPort as number;
      t.equal(tcpState(localPort, port), 'SYN_SENT');
      c.close();
      t.equal(c.state, 'closed');
      t.notOk(map.has(c.id));
      await c.closed;
      await once(sock, 'close'); // bounded by closeTimeout
      t.equal(tcpState(localPort, port), null);
      t.equal(tcpHandles(), before, 'no Node handle left behind');
    });

    t.test('close() of a connecting channel that accepted no byte releases its socket at once', async (t) => {
      // Node's end() would wait for the connection, so the SYN-SENT socket (a
      // ref'd handle) would linger until closeTimeout: close() destroys it.
      const map = testMap(t);
      const c = connectTo(t, map, fam, target);
      await macrotask();
      const sock = c.socket as net.Socket;
      t.teardown(() => { sock.destroy(); }); // abort() after close() does nothing
      const localPort = sock.localPort as number;
      t.equal(tcpState(localPort, port), 'SYN_SENT');
      c.close();
      t.equal(c.state, 'closed');
      t.equal(sock.destroyed, true, 'nothing was accepted, so nothing is left to flush');
      t.equal(tcpState(localPort, port), null, 'the kernel forgot the connection');
    });
  });
}

// ---- half-closes ------------------------------------------------------------

for (const fam of families) {
  t.test(`The peer end()s while we still send: a reply of 4 MiB after its end all arrives, then close, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    const received = readAll(peer);
    peer.end('question'); // half-close: the peer still reads
    const reply = pattern(4 << 20);
    const seen: string[] = [];
    let question = '';
    for await (const ev of c) {
      seen.push(describe(ev));
      if (ev.type !== 'read') continue;
      const data = c.recv(65536);
      if (data === null) continue;
      if (data.length > 0) {
        question += data.toString();
        continue;
      }
      // The end is taken: close comes next, but not before this body returns.
      await c.write(reply);
    }
    t.equal(question, 'question');
    t.same(seen.filter((kind) => kind !== 'read'), ['connect', 'close'], 'no error: a half-close is no fault');
    t.equal(seen.at(-1), 'close');
    const got = await deadline(received, 'the peer\'s end');
    t.equal(got.length, reply.length, 'the peer received the whole reply, then our end');
    t.ok(got.equals(reply));
  });

  t.test(`We close() while the peer still sends: our bytes arrive, the peer's are discarded, no reset, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const raw = await rawServer(t, fam);
    const c = connectTo(t, map, fam, raw.address);
    const peer = await raw.next();
    const peerErrors: unknown[] = [];
    peer.on('error', (error) => { peerErrors.push(error); });
    // The peer streams at us until it sees our end, then ends too.
    let streaming = true;
    let pushed = 0;
    const chunk = pattern(65536);
    const pump = (): void => {
      while (streaming) {
        pushed += chunk.length;
        if (!peer.write(chunk)) {
          peer.once('drain', pump);
          return;
        }
      }
    };
    const received = new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      peer.on('data', (data: Buffer) => parts.push(data));
      peer.once('end', () => {
        streaming = false;
        peer.end();
        resolve(Buffer.concat(parts));
      });
    });
    pump();
    const ours = pattern(1 << 20);
    await c.write(ours);
    // Wait, reading nothing, until the channel holds its read bound and Node stopped reading.
    const it = c[Symbol.asyncIterator]();
    t.equal((await nextEvent(it)).type, 'connect');
    await untilBuffered(it, c, 65536);
    await it.return?.();
    const sock = c.socket as net.Socket;
    const sockClosed = once(sock, 'close') as Promise<[boolean]>;
    c.close();
    const got = await deadline(received, 'the peer\'s end');
    t.equal(got.length, ours.length, 'every byte we had accepted arrived, then our end');
    t.ok(got.equals(ours));
    const [hadError] = await deadline(sockClosed, 'our socket\'s close');
    t.equal(hadError, false, 'our socket closed without error once the peer ended');
    t.same(peerErrors, [], 'the peer saw no reset, though we never read what it sent');
    t.ok(pushed > 65536, `the peer was still sending (${pushed} bytes pushed)`);
  });
}

// ---- a listener closed with connections queued ------------------------------

for (const fam of families) {
  t.test(`Channel.close() of a listener with three connections queued: each is reset (a silent Unix one sees the end), over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const queued = new Promise<void>((resolve) => {
      let count = 0;
      (server.socket as net.Server).on('connection', () => { if (++count === 3) resolve(); });
    });
    const clients = [0, 1, 2].map(() => client(t, map, fam, server));
    await Promise.all(clients.map((c) => c.opened));
    await (clients[1] as Channel).write('unread');
    await (clients[2] as Channel).write(pattern(4096));
    t.same(clients.map((c) => c.pendingWrite), [0, 0, 0], 'the bytes are in the kernel');
    await deadline(queued, 'three connections'); // Node accepted all three into the listener's queue
    server.close();
    const outcomes = await Promise.all(clients.map(async (c) => {
      const seen: string[] = [];
      for await (const ev of c) {
        if (ev.type === 'read') {
          const data = c.recv(100);
          seen.push(data?.length === 0 ? 'end' : 'data');
        } else {
          seen.push(describe(ev));
        }
      }
      return seen;
    }));
    // As Python's peers: the listener's close resets what waited in its queue; Unix has no reset.
    if (fam.family === AF_UNIX) t.same(outcomes[0], ['connect', 'end', 'close'], 'a Unix connection that sent nothing is ended');
    else t.same(outcomes[0], ['connect', 'error:read:ECONNRESET', 'close'], 'a connection that sent nothing is reset');
    // Closing a socket with unread input resets it (TCP and Unix alike on Linux).
    t.same(outcomes[1], ['connect', 'error:read:ECONNRESET', 'close'], 'one whose bytes were never read is reset');
    t.same(outcomes[2], ['connect', 'error:read:ECONNRESET', 'close']);
    const late = new Channel(null, map);
    late.createSocket(fam.family);
    late.connect(server.addr as Address);
    const seen: string[] = [];
    for await (const ev of late) seen.push(describe(ev));
    t.same(seen, [`error:connect:${fam.family === AF_UNIX ? 'ENOENT' : 'ECONNREFUSED'}`, 'close'],
      'a new connection is refused (the Unix path is removed)');
  });
}

t.test('closeAll() of a Dispatcher listener that does not accept: its queued connections are reset, and nothing throws', async (t) => {
  const map = testMap(t);
  class Deaf extends QuietDispatcher {
    override readable(): boolean { return false; }
  }
  const server = new Deaf(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  const queued = new Promise<void>((resolve) => {
    let count = 0;
    (server.socket as net.Server).on('connection', () => { if (++count === 2) resolve(); });
  });
  const peers = [0, 1].map(() => net.connect({ host: '127.0.0.1', port: (server.addr as readonly [string, number])[1] }));
  for (const peer of peers) t.teardown(() => { peer.destroy(); });
  const ends = peers.map((peer) => new Promise<string>((resolve) => {
    peer.once('end', () => { resolve('end'); });
    peer.once('error', (error: NodeJS.ErrnoException) => { resolve(error.code ?? 'error'); });
  }));
  const running = loop({ map });
  await deadline(queued, 'two connections');
  t.doesNotThrow(() => { closeAll(map); });
  await deadline(running.then(), 'the end of the loop'); // the map is empty: the loop ends
  t.same(await Promise.all(ends), ['ECONNRESET', 'ECONNRESET'], 'each queued peer sees a reset, as Python\'s');
  t.same(server.logs, [], 'no handler reported anything');
  t.equal(server.accepting, false);
});

// ---- closeAll() and a stopped loop in the middle of transfers ---------------

t.test('closeAll() in the middle of transfers: every accepted byte arrives, write()s not fully accepted reject, nothing throws', async (t) => {
  const fam = ipv4;
  const map = testMap(t);
  const raw = await rawServer(t, fam);
  const stream = pattern(32 << 20);
  const senders = [0, 1, 2].map(() => connectTo(t, map, fam, raw.address));
  const peers = await Promise.all(senders.map(() => raw.next()));
  let received = 0;
  const results = peers.map((peer) => new Promise<{ data: Buffer; error: unknown }>((resolve) => {
    const parts: Buffer[] = [];
    let error: unknown = null;
    peer.on('data', (data: Buffer) => {
      parts.push(data);
      received += data.length;
    });
    peer.on('error', (err) => { error = err; });
    peer.once('end', () => {
      peer.end();
      resolve({ data: Buffer.concat(parts), error });
    });
  }));
  const accepted = [0, 0, 0];
  // The third sender uses write(), the others send() on write events.
  const writer = senders[2] as Channel;
  const writing = writer.write(stream).then(() => 'resolved', (error: unknown) => error);
  for (const c of senders.slice(0, 2)) c.writeInterest = true;
  const after: string[] = [];
  let closedAt = -1;
  for await (const ev of loop({ map, timeout: 10 })) {
    if (closedAt >= 0) after.push(describe(ev));
    if (ev.type === 'write') {
      const i = senders.indexOf(ev.channel);
      accepted[i] = (accepted[i] ?? 0) + ev.channel.send(stream.subarray(accepted[i], (accepted[i] ?? 0) + 65536));
    }
    if (closedAt < 0 && received >= 3 << 20) {
      closedAt = received;
      closeAll(map);
    }
    if (ev.type === 'timeout') break;
  }
  t.ok(closedAt > 0, `closeAll() ran after ${closedAt} bytes had arrived`);
  t.same(after, [], 'the loop ended at once: a local close reports nothing');
  t.equal(map.size, 0);
  const error = await deadline(writing, 'the write()');
  t.type(error, ChannelClosedError, 'the write() not fully accepted rejects with ChannelClosedError');
  const outcomes = await deadline(Promise.all(results), 'the peers\' ends');
  for (const [i, { data, error: peerError }] of outcomes.entries()) {
    t.equal(peerError, null, `peer ${i} saw no error`);
    t.ok(data.equals(stream.subarray(0, data.length)), `peer ${i} got an intact prefix`);
    if (i < 2) t.equal(data.length, accepted[i], `peer ${i} got exactly the ${accepted[i]} bytes send() accepted`);
    else t.ok(data.length > 0 && data.length < stream.length, `the write()r's peer got the accepted part (${data.length} bytes)`);
  }
});

t.test('A loop stopped by its signal in the middle of transfers: channels stay open, a write() in flight completes, closeAll() then loses nothing', async (t) => {
  const fam = ipv4;
  const map = testMap(t);
  const raw = await rawServer(t, fam);
  const stream = pattern(8 << 20);
  const controller = new AbortController();
  let received = 0;
  class Sender extends Dispatcher {
    accepted = 0;
    writes = 0;
    override readable(): boolean { return false; }
    override writable(): boolean { return this.accepted < stream.length; }
    override handleConnect(): void { /* nothing to do */ }
    override handleWrite(): void {
      this.writes++;
      this.accepted += this.send(stream.subarray(this.accepted, this.accepted + 65536));
    }
  }
  const senders = [0, 1].map(() => {
    const d = new Sender(null, map);
    t.teardown(() => { d.abort(); });
    d.createSocket(fam.family);
    d.connect(raw.address);
    return d;
  });
  const writer = connectTo(t, map, fam, raw.address);
  const peers = await Promise.all([0, 1, 2].map(() => raw.next()));
  const results = peers.map((peer) => new Promise<{ data: Buffer; error: unknown }>((resolve) => {
    const parts: Buffer[] = [];
    let error: unknown = null;
    peer.on('data', (data: Buffer) => {
      parts.push(data);
      received += data.length;
      if (received >= 2 << 20) controller.abort();
    });
    peer.on('error', (err) => { error = err; });
    peer.once('end', () => {
      peer.end();
      resolve({ data: Buffer.concat(parts), error });
    });
  }));
  // Which peer is which sender is not known (accepts need not follow connects): lengths are compared sorted.
  const writing = writer.write(stream);
  await loop({ map, signal: controller.signal });
  const writesAtStop = senders.map((d) => d.writes);
  t.equal(map.size, 3, 'stopping closed nothing');
  t.same(senders.map((d) => d.connected), [true, true]);
  await deadline(writing, 'the write() in flight');
  t.pass('the write() in flight completed without the loop');
  t.same(senders.map((d) => d.writes), writesAtStop, 'no handler ran after the stop');
  t.doesNotThrow(() => { closeAll(map); });
  const outcomes = await deadline(Promise.all(results), 'the peers\' ends');
  const lengths = outcomes.map((o) => o.data.length).sort((a, b) => a - b);
  const expected = [...senders.map((d) => d.accepted), stream.length].sort((a, b) => a - b);
  t.same(lengths, expected, 'each peer got exactly what its sender had accepted, then the end');
  for (const { data, error } of outcomes) {
    t.equal(error, null);
    t.ok(data.equals(stream.subarray(0, data.length)));
  }
});
