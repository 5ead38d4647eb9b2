// Items 5 and 12 of the spec and the listener's promise helpers: the accept
// queue (paused, level-triggered, bounded, reported), accepted channels and
// their addresses, connections(), and listen failures (EADDRINUSE) — over
// IPv4, IPv6 and Unix sockets.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import {
  AF_INET6, AF_UNIX, AcceptQueueFullError, Channel, ChannelClosedError,
} from '../src/index.js';
import type { Address, ChannelEvent } from '../src/index.js';
import { families, listener, client, testMap } from './helpers/net.js';
import type { FamilyCase } from './helpers/net.js';
import {
  consume, isPending, macrotask, nextEvent, rawClient, typeOf, untilEvent,
} from './helpers/events.js';

const isAccept = (ev: ChannelEvent): boolean => ev.type === 'accept';

/** The accept-queue-full reports among a listener's events. */
function dropReports(events: readonly ChannelEvent[]): AcceptQueueFullError[] {
  const reports: AcceptQueueFullError[] = [];
  for (const ev of events) {
    if (ev.type === 'error' && ev.error instanceof AcceptQueueFullError) reports.push(ev.error);
  }
  return reports;
}

/**
 * An iteration from which the events ready now can be taken, keeping the
 * `next()` that found none for the next call.
 */
class ReadyEvents {
  readonly #it: AsyncIterator<ChannelEvent>;
  #pending: Promise<IteratorResult<ChannelEvent>> | null = null;
  constructor(it: AsyncIterator<ChannelEvent>) { this.#it = it; }

  async take(): Promise<ChannelEvent[]> {
    const seen: ChannelEvent[] = [];
    for (;;) {
      const next = this.#pending ?? this.#it.next();
      this.#pending = next;
      if (await isPending(next)) return seen;
      this.#pending = null;
      const result = await next;
      if (result.done === true) return seen;
      seen.push(result.value);
    }
  }

  async untilAccept(): Promise<void> {
    for (;;) {
      const next = this.#pending ?? this.#it.next();
      this.#pending = null;
      const result = await next;
      if (result.done === true) throw new Error('Cannot wait for accept: the iteration ended');
      if (result.value.type === 'accept') return;
    }
  }
}

/**
 * Checks how a connection the listener turned away ended for its peer: a
 * reset over TCP (as Python's peers see when a listening socket closes with
 * connections queued), an end of stream over Unix, which has no reset.
 */
async function expectRefused(t: Test, fam: FamilyCase, peer: Channel, what: string): Promise<void> {
  const types: string[] = [];
  const codes: (string | undefined)[] = [];
  for await (const ev of peer) {
    types.push(ev.type);
    if (ev.type === 'error') codes.push(ev.error.code);
    if (ev.type === 'read') peer.recv(65536);
  }
  if (fam.family === AF_UNIX) {
    t.same(types, ['connect', 'read', 'close'], `${what}: an end (Unix has no reset)`);
    return;
  }
  t.same(codes, ['ECONNRESET'], `${what}: a reset`);
  t.notOk(types.includes('read'), `${what}: no orderly end (${types.join(',')})`);
  t.equal(types.at(-1), 'close');
}

for (const fam of families) {
  t.test(`Channel listeners over ${fam.name}`, async (t) => {
    t.test('Channel.opened resolves for a listener, with addr holding the real port', async (t) => {
      const map = testMap(t);
      const server = new Channel(null, map);
      t.teardown(() => { server.close(); });
      server.createSocket(fam.family);
      const where = fam.listenAddress(t);
      server.bind(where);
      t.same(server.addr, where, 'bind() records the address asked for');
      server.listen(5);
      t.equal(server.state, 'listening');
      t.equal(server.accepting, true);
      t.equal(server.connected, false);
      t.ok(map.has(server.id));
      await server.opened;
      const bound = (server.socket as net.Server).address();
      if (fam.family === AF_UNIX) {
        t.equal(server.addr, where);
      } else {
        const [host, port] = server.addr as readonly [string, number];
        t.equal(host, (where as readonly [string, number])[0]);
        t.ok(port > 0, `port 0 became the real port ${port}`);
        t.equal(port, (bound as net.AddressInfo).port);
      }
    });

    t.test('Channel.accept() returns null when none waits; accept is reported again until taken', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      t.equal(server.accept(), null);
      const it = server[Symbol.asyncIterator]();
      const first = it.next();
      t.ok(await isPending(first), 'no accept event while the queue is empty');
      const a = client(t, map, fam, server);
      t.equal(typeOf(await first), 'accept');
      // Not acted on: reported again.
      t.equal((await nextEvent(it)).type, 'accept');
      t.equal((await nextEvent(it)).type, 'accept');
      const pair = server.accept();
      t.not(pair, null);
      t.teardown(() => pair?.[0].destroy());
      t.equal(server.accept(), null, 'the queue is empty again');
      t.ok(await isPending(it.next()), 'no accept event once taken');
      await a.opened;
      await it.return?.();
    });

    t.test('Channel.accept() leaves a waiting connection paused: no byte is read before accept()', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const raw = await rawClient(t, server.addr as string | readonly [string, number]);
      await new Promise<void>((resolve) => { raw.write('early', () => { resolve(); }); });
      const it = server[Symbol.asyncIterator]();
      await untilEvent(it, isAccept);
      // Give I/O turns in which a flowing socket would read the bytes.
      for (let i = 0; i < 20; i++) await macrotask();
      const pair = server.accept();
      if (pair === null) throw new Error('expected a waiting connection');
      const [sock] = pair;
      t.equal(sock.bytesRead, 0, 'nothing was read while queued');
      const s = new Channel(sock, map);
      t.teardown(() => { s.close(); });
      const chunks = s.chunks();
      t.equal((await chunks.next()).value?.toString(), 'early', 'the bytes wait for the channel');
      await chunks.return();
      await it.return?.();
    });

    t.test('Channel(sock) wraps an accepted socket as connected, with the peer address', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const it = server[Symbol.asyncIterator]();
      await untilEvent(it, isAccept);
      await it.return?.();
      const pair = server.accept();
      if (pair === null) throw new Error('expected a waiting connection');
      const [sock, addr] = pair;
      const s = new Channel(sock, map);
      t.teardown(() => { s.close(); });
      t.equal(s.state, 'open');
      t.equal(s.connected, true);
      t.equal(s.connecting, false);
      t.equal(s.family, fam.family);
      t.ok(map.has(s.id));
      await s.opened;
      await c.opened;
      const local = c.socket as net.Socket;
      const expected: Address = fam.family === AF_UNIX ? '' : [local.localAddress ?? '', local.localPort ?? 0];
      t.same(addr, expected, 'accept() gives the peer address');
      t.same(s.addr, expected, 'the channel keeps it');
      if (fam.family === AF_UNIX) t.equal(s.addr, '', 'an accepted Unix peer address is the empty string');
      await c.write('hi');
      const chunks = s.chunks();
      t.equal((await chunks.next()).value?.toString(), 'hi');
      await chunks.return();
    });

    t.test('Channel.connections(options) gives accepted channels those options and checks them at the call', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      t.throws(() => server.connections({ writeHighWaterMark: 0 }), RangeError, 'a bad option throws before iterating');
      t.throws(() => server.connections(null as unknown as object), TypeError);
      const c = client(t, map, fam, server);
      const conns = server.connections({ writeHighWaterMark: 4 });
      const { value: conn } = await conns.next();
      await conns.return();
      if (conn === undefined) throw new Error('connections() ended');
      t.teardown(() => { conn.close(); });
      t.equal(conn.send('abcdefgh'), 4, 'send() takes no more than the writeHighWaterMark given');
      const got = c.chunks();
      t.equal((await got.next()).value?.toString(), 'abcd');
      await got.return();
    });

    t.test('Channel.connections() yields connected channels that join the map, ending when the listener closes', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const clients = [client(t, map, fam, server), client(t, map, fam, server), client(t, map, fam, server)];
      const accepted: Channel[] = [];
      for await (const conn of server.connections()) {
        t.teardown(() => { conn.close(); });
        accepted.push(conn);
        t.equal(conn.connected, true);
        t.equal(conn.map, map);
        t.ok(map.has(conn.id));
        if (fam.family === AF_UNIX) t.equal(conn.addr, '');
        else t.equal((conn.addr as readonly [string, number])[1] > 0, true);
        if (accepted.length === clients.length) server.close();
      }
      t.equal(accepted.length, 3);
      t.equal(server.state, 'closed');
      // Each accepted channel talks to one of the clients.
      await Promise.all(accepted.map((conn, i) => conn.write(`to ${i}`)));
      const heard = await Promise.all(clients.map(async (c) => {
        const chunks = c.chunks();
        const text = (await chunks.next()).value?.toString() ?? '';
        await chunks.return();
        return text;
      }));
      t.same(heard.sort(), ['to 0', 'to 1', 'to 2']);
    });

    // A Unix peer has no address to read: IP families only.
    if (fam.family !== AF_UNIX) t.test('an accepted channel reads its peer address when first asked: the client\'s own, or [\'\', 0] once a reset took the socket first', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const address = server.addr as readonly [string, number];
      const kept = await rawClient(t, address);
      const conns = server.connections();
      const first = (await conns.next()).value;
      const reset = await rawClient(t, address);
      const second = (await conns.next()).value;
      await conns.return();
      if (first === undefined || second === undefined) throw new Error('connections() ended');
      t.teardown(() => { first.close(); second.close(); });
      t.same(first.addr, [kept.localAddress, kept.localPort], 'asked while connected: the client\'s address');
      reset.resetAndDestroy();
      const seen: string[] = [];
      for await (const ev of second) seen.push(ev.type);
      t.same(seen, ['error', 'close'], 'the reset reached the channel');
      t.same(second.addr, ['', 0], 'asked first after the reset: unknown');
      kept.destroy();
    });

    t.test('Channel(sock) of a connection whose peer left while queued reports the end', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      const it = server[Symbol.asyncIterator]();
      await untilEvent(it, isAccept);
      await it.return?.();
      c.abort();
      const pair = server.accept();
      if (pair === null) throw new Error('expected a waiting connection');
      const s = new Channel(pair[0], map);
      t.teardown(() => { s.close(); });
      const seen: ChannelEvent[] = [];
      for await (const ev of s) {
        seen.push(ev);
        if (ev.type === 'read') s.recv(100);
      }
      if (fam.family === AF_UNIX) {
        t.same(seen.map((ev) => ev.type), ['read', 'close'], 'a Unix peer that left is an end of stream');
      } else {
        t.same(seen.map((ev) => ev.type), ['error', 'close'], 'a TCP peer that reset is an error');
        const ev = seen[0];
        t.equal(ev?.type === 'error' ? (ev.error as NodeJS.ErrnoException).code : null, 'ECONNRESET');
      }
      t.equal(s.state, 'closed');
    });

    t.test('Channel.toString() names the class, state, address and id', async (t) => {
      const map = testMap(t);
      const idle = new Channel(null, map);
      t.equal(String(idle), `<Channel idle #${idle.id}>`);
      const server = await listener(t, map, fam);
      const [host, port] = fam.family === AF_UNIX ? ['', 0] : server.addr as readonly [string, number];
      // An IPv6 host is bracketed, as in a URL, so the port stays readable.
      const where = fam.family === AF_UNIX ? server.addr as string
        : fam.family === AF_INET6 ? `[${host}]:${port}` : `${host}:${port}`;
      t.equal(String(server), `<Channel listening ${where} #${server.id}>`);
      server.close();
      t.equal(String(server), `<Channel closed ${where} #${server.id}>`);
    });

    t.test('Channel.close() of a listener resets the connections still in its queue (TCP)', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const it = server[Symbol.asyncIterator]();
      await untilEvent(it, isAccept);
      const conns = server.connections();
      server.close();
      t.same(await it.next(), { done: true, value: undefined }, 'the listener iteration ends');
      t.same(await conns.next(), { done: true, value: undefined }, 'connections() ends');
      t.throws(() => server.accept(), ChannelClosedError);
      t.equal(server.accepting, false);
      await expectRefused(t, fam, c, 'the queued peer');
    });
  });

  t.test(`Channel accept queue bound over ${fam.name}`, async (t) => {
    t.test('Channel accept queue: beyond acceptQueueLimit new connections are reset (TCP), counted and reported', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam, { acceptQueueLimit: 1 });
      const it = server[Symbol.asyncIterator]();
      const events = new ReadyEvents(it);
      const a = client(t, map, fam, server);
      await events.untilAccept();
      // Only one-shot events from here on.
      server.readInterest = false;
      for (const round of [1, 2]) {
        const extra = client(t, map, fam, server);
        await expectRefused(t, fam, extra, `connection ${round} beyond the bound`);
        t.equal(server.droppedConnections, round);
        const reports = dropReports(await events.take());
        t.equal(reports.length, 1, `drop ${round} is reported`);
        t.equal(reports[0]?.dropped, 1);
        t.equal(reports[0]?.code, 'ERR_ACCEPT_QUEUE_FULL');
      }
      t.equal(server.accepting, true, 'a full queue does not close the listener');
      // The queued connection is intact.
      server.readInterest = true;
      await events.untilAccept();
      const pair = server.accept();
      if (pair === null) throw new Error('expected the queued connection');
      const s = new Channel(pair[0], map);
      t.teardown(() => { s.close(); });
      await a.write('still here');
      const chunks = s.chunks();
      t.equal((await chunks.next()).value?.toString(), 'still here');
      await chunks.return();
      await it.return?.();
    });

    t.test('Channel accept queue: drops between two reports are coalesced, every one counted', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam, { acceptQueueLimit: 1 });
      server.readInterest = false;
      const first = server.events()[Symbol.asyncIterator]();
      const probe = server[Symbol.asyncIterator]();
      server.readInterest = true;
      client(t, map, fam, server);
      await untilEvent(probe, isAccept);
      await probe.return?.();
      server.readInterest = false;
      const extras = [0, 1, 2].map(() => client(t, map, fam, server));
      const outcomes = await Promise.all(extras.map(consume));
      for (const { types } of outcomes) t.equal(types[types.length - 1], 'close');
      t.equal(server.droppedConnections, 3);
      const reports = dropReports(await new ReadyEvents(first).take());
      t.ok(reports.length >= 1 && reports.length <= 3, `${reports.length} report(s)`);
      t.equal(reports.reduce((sum, r) => sum + r.dropped, 0), 3, 'the reports count every drop');
      await first.return?.();
    });

    t.test('Channel.connections() goes on after an accept-queue report', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam, { acceptQueueLimit: 1 });
      const conns = server.connections();
      client(t, map, fam, server);
      const one = await conns.next();
      t.equal(one.value?.connected, true);
      // Nobody pulls connections() now: the next one waits, the one after is dropped.
      const it = server[Symbol.asyncIterator]();
      client(t, map, fam, server);
      await untilEvent(it, isAccept);
      await it.return?.();
      await consume(client(t, map, fam, server));
      t.equal(server.droppedConnections, 1);
      const two = await conns.next();
      t.equal(two.done, false, 'connections() does not throw an error that leaves the listener open');
      t.equal(two.value?.connected, true);
      await conns.return();
    });
  });

  t.test(`Channel listen failures over ${fam.name}`, async (t) => {
    const startSecond = async (t: Test, map: ReturnType<typeof testMap>): Promise<Channel> => {
      const first = await listener(t, map, fam);
      const second = new Channel(null, map);
      t.teardown(() => { second.close(); });
      second.createSocket(fam.family);
      second.bind(first.addr as Address);
      second.listen(5);
      return second;
    };

    t.test('Channel.listen() on an address in use reports EADDRINUSE (listen), then close', async (t) => {
      const map = testMap(t);
      const second = await startSecond(t, map);
      const seen: ChannelEvent[] = [];
      for await (const ev of second) seen.push(ev);
      t.same(seen.map((ev) => ev.type), ['error', 'close']);
      const ev = seen[0];
      if (ev?.type !== 'error') throw new Error('expected an error event');
      t.equal(ev.operation, 'listen');
      t.equal((ev.error as NodeJS.ErrnoException).code, 'EADDRINUSE');
      await t.rejects(second.opened, ev.error, 'opened rejects with the same error');
      await second.closed;
      t.equal(second.state, 'closed');
      t.equal(second.accepting, false);
      t.notOk(map.has(second.id));
    });

    t.test('Channel.connections() throws a listen failure', async (t) => {
      const map = testMap(t);
      const second = await startSecond(t, map);
      await t.rejects((async () => {
        for await (const conn of second.connections()) conn.close();
      })(), { code: 'EADDRINUSE' });
      await t.rejects(second.opened, { code: 'EADDRINUSE' });
      t.equal(second.accepting, false);
    });
  });
}

t.test('Channel.accept() on an IPv6 listener gives the ::1 peer address, and nothing reaches the IPv4 one', async (t) => {
  const [v4, v6] = families as [FamilyCase, FamilyCase];
  const map = testMap(t);
  const s4 = await listener(t, map, v4);
  const s6 = await listener(t, map, v6);
  const c6 = client(t, map, v6, s6);
  await c6.opened;
  const it = s6[Symbol.asyncIterator]();
  await untilEvent(it, isAccept);
  await it.return?.();
  t.equal(s4.accept(), null, 'the IPv4 listener got nothing');
  const pair = s6.accept();
  t.teardown(() => pair?.[0].destroy());
  t.equal((pair?.[1] as readonly [string, number])[0], '::1');
});
