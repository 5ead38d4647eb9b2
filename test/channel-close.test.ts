// Items 6 and 10 of the spec for a plain Channel: `close` once and last,
// idempotent close() that loses no accepted byte, abort() that resets, a
// broken connection seen through events, write() and chunks(), and stopping
// an iteration without closing — over IPv4, IPv6 and Unix sockets.
import { once } from 'node:events';
import net from 'node:net';
import t from 'tap';
import { take } from 'ix/asynciterable/operators';
import { AF_UNIX, Channel, ChannelClosedError, ChannelMap } from '../src/index.js';
import type { ChannelEvent } from '../src/index.js';
import { families, listener, client, acceptOne, testMap } from './helpers/net.js';
import type { FamilyCase } from './helpers/net.js';
import {
  consume, fill, isPending, macrotask, nextEvent, pattern, rawClient, readAll, untilEvent,
} from './helpers/events.js';

const isTcp = (fam: FamilyCase): boolean => fam.family !== AF_UNIX;

/** Every byte a channel receives until its end of stream, through chunks(). */
async function receiveAll(channel: Channel): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of channel.chunks()) parts.push(chunk);
  return Buffer.concat(parts);
}

/** Iterates a channel to its end, taking bytes on `read`; returns every event. */
async function events(channel: Channel): Promise<ChannelEvent[]> {
  const seen: ChannelEvent[] = [];
  for await (const ev of channel) {
    seen.push(ev);
    if (ev.type === 'read') channel.recv(65536);
  }
  return seen;
}

for (const fam of families) {
  t.test(`Channel close over ${fam.name}`, async (t) => {
    t.test('Channel close event is reported exactly once, last, when the peer closes', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('bye');
      c.close();
      const { types, data } = await consume(s);
      t.equal(data.toString(), 'bye');
      t.equal(types.filter((type) => type === 'close').length, 1, 'one close event');
      t.equal(types[types.length - 1], 'close', 'close is the last event');
      t.notOk(types.includes('error'), 'an orderly end is no error');
      // The consumer came back after `close`: the channel closed itself.
      t.equal(s.state, 'closed');
      t.notOk(map.has(s.id));
      await s.closed;
    });

    t.test('Channel close event on end of stream still lets the handler send a final reply', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const raw = await rawClient(t, server.addr as string | readonly [string, number]);
      const s = await acceptOne(t, server, map);
      const reply = readAll(raw);
      raw.end('question');
      let question = '';
      const types: string[] = [];
      for await (const ev of s) {
        types.push(ev.type);
        if (ev.type !== 'read') continue;
        const data = s.recv(100);
        if (data?.length === 0) t.equal(s.send(`answer to ${question}`), 'answer to question'.length);
        else question += data?.toString() ?? '';
      }
      t.equal(types[types.length - 1], 'close');
      t.equal((await reply).toString(), 'answer to question', 'the reply sent on end of stream arrives');
    });

    t.test('Channel.close() is idempotent, leaves the map and ends every iterator at once', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.opened;
      const first = c[Symbol.asyncIterator]();
      await untilEvent(first, (ev) => ev.type === 'connect');
      const second = c.events()[Symbol.asyncIterator]();
      await untilEvent(second, (ev) => ev.type === 'connect');
      const a = first.next();
      const b = second.next();
      t.ok(await isPending(a), 'nothing to report before close()');
      c.close();
      // No `close` event for a local close: the iterations just end.
      t.same(await a, { done: true, value: undefined });
      t.same(await b, { done: true, value: undefined });
      t.equal(c.state, 'closed');
      t.equal(c.closing, true);
      t.equal(c.connected, false);
      t.notOk(map.has(c.id));
      c.close();
      c.abort();
      t.equal(c.state, 'closed');
      await c.closed;
      // A new iteration of a closed channel ends at once.
      t.same(await c[Symbol.asyncIterator]().next(), { done: true, value: undefined });
      const { types } = await consume(s);
      t.same(types, ['read', 'close'], 'the peer sees an orderly end');
    });

    t.test('Channel.close() loses no byte that send() accepted', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 256 * 1024 });
      const s = await acceptOne(t, server, map);
      await c.opened;
      // Fill the kernel both ways, then the channel's own window.
      const accepted = fill(c);
      t.ok(c.pendingWrite > 0, 'bytes wait in Node when close() is called');
      c.close();
      const received = await receiveAll(s);
      t.equal(received.length, accepted.length);
      t.ok(received.equals(accepted), 'every accepted byte arrived, in order');
    });

    t.test('Channel.close() delivers what write() accepted and rejects a write() not fully accepted', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 4096 });
      const s = await acceptOne(t, server, map);
      await c.opened;
      await c.write('head:');
      const big = pattern(16 << 20);
      const pending = c.write(big);
      t.ok(await isPending(pending), 'the big write waits for room');
      c.close();
      const error = await pending.then(() => null, (err: unknown) => err);
      t.type(error, ChannelClosedError);
      t.equal((error as ChannelClosedError).code, 'ERR_CHANNEL_CLOSED');
      const received = await receiveAll(s);
      t.equal(received.subarray(0, 5).toString(), 'head:', 'a resolved write() arrived');
      const rest = received.subarray(5);
      t.ok(rest.length > 0 && rest.length < big.length, `part of the rejected write arrived (${rest.length} bytes)`);
      t.ok(rest.equals(big.subarray(0, rest.length)), 'what arrived is the accepted prefix, intact');
    });

    t.test('Channel.close() destroys the socket after closeTimeout when the peer takes nothing', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { closeTimeout: 0.05 });
      const s = await acceptOne(t, server, map);
      s.readInterest = false;
      await c.opened;
      fill(c);
      const sock = c.socket as net.Socket;
      c.close();
      t.equal(sock.destroyed, false, 'close() waits for the bytes to flush');
      await once(sock, 'close');
      t.equal(sock.destroyed, true);
      t.ok(s.bufferedAmount > 0, 'the peer never took them');
    });

    t.test('Channel.write() and send() after close(): ChannelClosedError, and opened rejects', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      c.close();
      await t.rejects(c.opened, { code: 'ERR_CHANNEL_CLOSED' }, 'closed before it opened');
      await t.rejects(c.write('x'), { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' });
      t.throws(() => c.send('x'), { code: 'ERR_CHANNEL_CLOSED' });
      await c.closed;
    });

    t.test('Channel.chunks() ends after a local close() and at end of stream', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('abc');
      const local = receiveAll(c);
      const remote = receiveAll(s);
      t.ok(await isPending(local), 'chunks() waits while the channel is open');
      c.close();
      t.equal((await local).length, 0, 'local close(): chunks() ends');
      t.equal((await remote).toString(), 'abc', 'end of stream: chunks() ends after the bytes');
    });

    t.test('Channel.abort() is idempotent, rejects a waiting write() and ends the peer', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 4096 });
      const s = await acceptOne(t, server, map);
      s.readInterest = false;
      await c.opened;
      const pending = c.write(pattern(16 << 20));
      t.ok(await isPending(pending));
      const peer = events(s);
      s.readInterest = true;
      c.abort();
      c.abort();
      c.close();
      await t.rejects(pending, { code: 'ERR_CHANNEL_CLOSED' });
      t.equal(c.state, 'closed');
      t.notOk(map.has(c.id));
      await c.closed;
      const seen = await peer;
      t.equal(seen[seen.length - 1]?.type, 'close', 'the peer ends with close');
      t.equal(seen.filter((ev) => ev.type === 'close').length, 1);
    });
  });

  t.test(`Channel broken connections over ${fam.name}`, async (t) => {
    if (isTcp(fam)) {
      t.test('Channel.abort() resets TCP: the peer reports an ECONNRESET error, then close', async (t) => {
        const map = testMap(t);
        const server = await listener(t, map, fam);
        const c = client(t, map, fam, server);
        const s = await acceptOne(t, server, map);
        await c.opened;
        const peer = events(s);
        c.abort();
        const seen = await peer;
        t.same(seen.map((ev) => ev.type), ['error', 'close']);
        const ev = seen[0];
        if (ev?.type !== 'error') throw new Error('expected an error event');
        t.equal((ev.error as NodeJS.ErrnoException).code, 'ECONNRESET');
        t.equal(ev.operation, 'read');
        t.equal(s.state, 'closed');
        await s.closed;
        await t.rejects(s.write('x'), { code: 'ERR_CHANNEL_CLOSED' }, 'the consumer that saw close closed the channel');
      });

      t.test('Channel.chunks() throws the ECONNRESET of a reset connection', async (t) => {
        const map = testMap(t);
        const server = await listener(t, map, fam);
        const c = client(t, map, fam, server);
        const s = await acceptOne(t, server, map);
        await c.opened;
        const received = receiveAll(s);
        t.ok(await isPending(received));
        c.abort();
        await t.rejects(received, { code: 'ECONNRESET' });
        t.equal(s.connected, false);
        await s.closed;
      });
    } else {
      t.test('Channel.abort() on a Unix socket: the peer sees end of stream, then close', async (t) => {
        const map = testMap(t);
        const server = await listener(t, map, fam);
        const c = client(t, map, fam, server);
        const s = await acceptOne(t, server, map);
        await c.opened;
        const peer = events(s);
        c.abort();
        const seen = await peer;
        t.same(seen.map((ev) => ev.type), ['read', 'close']);
        t.equal(s.state, 'closed');
      });
    }

    t.test('Channel.write() waiting when the peer resets rejects with the break error', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      c.readInterest = false;
      await c.opened;
      const pending = s.write(pattern(32 << 20));
      t.ok(await isPending(pending), 'the write waits for the peer');
      const it = s[Symbol.asyncIterator]();
      c.abort();
      const ev = await untilEvent(it, (e) => e.type === 'error');
      if (ev.type !== 'error') throw new Error('expected an error event');
      const error = await pending.then(() => null, (err: unknown) => err);
      t.equal(error, ev.error, 'write() rejects with the error the event carries');
      t.match((error as NodeJS.ErrnoException).code, /^(ECONNRESET|EPIPE)$/);
      t.equal((await nextEvent(it)).type, 'close', 'close follows the error');
      await t.rejects(s.write('late'), ev.error, 'later write()s reject with it too');
      t.equal(s.send('late'), 0, 'send() accepts nothing on a broken connection');
      await it.return?.();
      t.equal(s.state, 'closed');
    });
  });

  t.test(`Stopping an iteration is not closing over ${fam.name}`, async (t) => {
    t.test('Channel[Symbol.asyncIterator]() break, return or throw leaves the channel open', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('ping');
      for await (const ev of s) if (ev.type === 'read') break;
      t.equal(s.state, 'open', 'after break');
      const viaReturn = async (): Promise<string> => {
        for await (const ev of s) return ev.type;
        return 'ended';
      };
      t.equal(await viaReturn(), 'read', 'the unread bytes are reported again');
      t.equal(s.state, 'open', 'after return');
      await t.rejects((async () => {
        for await (const ev of s) throw new Error(`stop at ${ev.type}`);
      })(), { message: 'stop at read' });
      t.equal(s.state, 'open', 'after a thrown error');
      for await (const _ of s.events().pipe(take(1))) { /* one event */ }
      t.equal(s.state, 'open', 'after ix take(1)');
      t.ok(map.has(s.id));
      t.equal(s.recv(100)?.toString(), 'ping');
      await s.write('pong');
      const parts: Buffer[] = [];
      for await (const chunk of c.chunks()) {
        parts.push(chunk);
        if (Buffer.concat(parts).length >= 4) break;
      }
      t.equal(Buffer.concat(parts).toString(), 'pong', 'both ends still work');
      t.equal(c.state, 'open', 'breaking out of chunks() leaves it open');
    });

    t.test('Channel[Symbol.asyncIterator](signal) rejects the waiting next() with signal.reason when the signal aborts, then ends', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      const controller = new AbortController();
      const it = c[Symbol.asyncIterator](controller.signal);
      t.equal((await nextEvent(it)).type, 'connect');
      const next = it.next();
      const reason = new Error('enough');
      controller.abort(reason);
      await t.rejects(next, reason, 'the reason reaches the consumer');
      t.same(await it.next(), { done: true, value: undefined }, 'then the iteration is over');
      t.equal(c.state, 'open', 'stopping is not closing');
    });

    t.test('Channel[Symbol.asyncIterator](signal) with a signal already aborted rejects the first next() with its reason', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      const reason = new Error('too late');
      const it = c[Symbol.asyncIterator](AbortSignal.abort(reason));
      await t.rejects(it.next(), reason);
      t.same(await it.next(), { done: true, value: undefined });
    });
  });

  t.test(`Channel disposal over ${fam.name}`, async (t) => {
    t.test('Channel[Symbol.asyncDispose]() closes the channel at the end of an await using block', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      let outside: Channel | null = null;
      {
        await using c = new Channel(null, map);
        outside = c;
        c.createSocket(fam.family);
        c.connect(server.addr as string | readonly [string, number]);
        await c.write('in a block');
        t.ok(map.has(c.id));
      }
      t.equal(outside.state, 'closed');
      t.notOk(map.has(outside.id));
      const s = await acceptOne(t, server, map);
      t.equal((await receiveAll(s)).toString(), 'in a block', 'the bytes written before disposal arrive');
    });

    t.test('ChannelMap[Symbol.asyncDispose]() closes every channel in the map', async (t) => {
      const outer = testMap(t);
      const server = await listener(t, outer, fam);
      let a: Channel | null = null;
      let b: Channel | null = null;
      {
        await using map = new ChannelMap();
        a = client(t, map, fam, server);
        b = client(t, map, fam, server);
        await Promise.all([a.opened, b.opened]);
        t.equal(map.size, 2);
      }
      t.equal(a.state, 'closed');
      t.equal(b.state, 'closed');
    });
  });
}

t.test('Channel promise helpers never cause an unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => { process.off('unhandledRejection', onUnhandled); });
  const fam = families[0] as FamilyCase;
  const map = testMap(t);
  const server = await listener(t, map, fam);
  // Neither opened nor the write()s are awaited before they reject.
  const never = new Channel(null, map);
  never.createSocket(fam.family);
  const c = client(t, map, fam, server, { writeHighWaterMark: 1024 });
  const waiting = c.write(pattern(64 << 20));
  never.close();
  const late = never.write('x');
  const s = await acceptOne(t, server, map);
  s.readInterest = false;
  c.close();
  for (let i = 0; i < 5; i++) await macrotask();
  t.same(unhandled, [], 'no unhandled rejection');
  // They did reject, and a late await still sees why.
  await t.rejects(never.opened, { code: 'ERR_CHANNEL_CLOSED' });
  await t.rejects(late, { code: 'ERR_CHANNEL_CLOSED' });
  await t.rejects(waiting, { code: 'ERR_CHANNEL_CLOSED' });
  await never.closed;
  await c.closed;
});

t.test('Channel.closed never rejects, even when the connection breaks', async (t) => {
  const fam = families[0] as FamilyCase;
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  await c.opened;
  const outcome = s.closed.then(() => 'resolved', () => 'rejected');
  c.abort();
  t.equal(await outcome, 'resolved');
  t.equal(s.connected, false);
});
