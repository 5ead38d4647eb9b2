// Datagram channels over loopback UDP, IPv4 and IPv6: sendTo()/recvFrom(),
// connect() with send()/recv(), readiness, the bounds, errors kept as events,
// the datagrams() iterator, and bad input. Loopback delivers a datagram into
// the receiver's socket buffer within the sender's system call, so a few
// small datagrams are never lost; only the flood test sends more than the
// buffer holds, and it asserts only what holds whatever the kernel drops.
import dgram from 'node:dgram';
import t from 'tap';
import type { Test } from 'tap';
import {
  AF_INET, AF_INET6, Channel, ChannelClosedError, ChannelStateError, SOCK_DGRAM, SOCK_STREAM,
} from '../src/index.js';
import type { Address, ChannelMap, ChannelOptions, Family } from '../src/index.js';
import { deadline, until } from './helpers/deadline.js';
import { nextEvent, untilEvent } from './helpers/events.js';
import { testMap } from './helpers/net.js';

const cases = [
  { name: 'IPv4', family: AF_INET, host: '127.0.0.1', type: 'udp4' },
  { name: 'IPv6', family: AF_INET6, host: '::1', type: 'udp6' },
] as const;

/** A datagram channel bound to loopback port 0, once bound. */
async function bound(t: Test, map: ChannelMap, family: Family, host: string, options: ChannelOptions = {}): Promise<Channel> {
  const udp = unbound(t, map, family, options);
  udp.bind([host, 0]);
  await deadline(udp.opened, 'the bind');
  return udp;
}

/** A datagram channel, not bound, closed with the test. */
function unbound(t: Test, map: ChannelMap, family: Family, options: ChannelOptions = {}): Channel {
  const udp = new Channel(null, map, options);
  t.teardown(() => { udp.close(); });
  udp.createSocket(family, SOCK_DGRAM);
  return udp;
}

/** A raw node:dgram socket bound to loopback, closed with the test. */
async function rawSocket(t: Test, type: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
  const sock = dgram.createSocket(type);
  t.teardown(() => { try { sock.close(); } catch { /* already closed */ } });
  await new Promise<void>((resolve) => { sock.bind(0, host, resolve); });
  return sock;
}

/** The next datagram a raw socket receives. */
function nextMessage(sock: dgram.Socket): Promise<[Buffer, dgram.RemoteInfo]> {
  return deadline(new Promise((resolve) => { sock.once('message', (data, from) => { resolve([data, from]); }); }), 'a datagram');
}

/** Waits for the channel's next `read` and takes one datagram. */
async function receive(udp: Channel, size = 65536): Promise<[Buffer, Address]> {
  const events = udp[Symbol.asyncIterator]();
  try {
    await deadline(untilEvent(events, (ev) => ev.type === 'read'), 'a read event');
  } finally {
    await events.return?.();
  }
  const got = udp.recvFrom(size);
  if (got === null) throw new Error('a read event with no datagram');
  return got;
}

for (const c of cases) {
  t.test(`${c.name}: Channel.sendTo() and recvFrom() exchange datagrams with their addresses`, async (t) => {
    const map = testMap(t);
    const a = await bound(t, map, c.family, c.host);
    t.equal(a.state, 'open');
    t.equal(a.socketType, SOCK_DGRAM);
    t.equal(a.connecting, false, 'a datagram channel is never connecting');
    t.equal(a.connected, false);
    const port = a.port as number;
    t.ok(port > 0, 'addr holds the real port once opened');
    const b = unbound(t, map, c.family);
    t.equal(b.sendTo('ping', [c.host, port]), 4);
    await deadline(b.opened, 'the implicit bind of the first sendTo');
    const [data, from] = await receive(a);
    t.equal(data.toString(), 'ping');
    const local = (b.socket as dgram.Socket).address();
    t.same(from, [c.host, local.port], 'the sender');
    t.equal(a.sendTo(data, from), 4);
    const [back] = await receive(b);
    t.equal(back.toString(), 'ping');
    t.equal(a.recvFrom(100), null, 'nothing else waits');
  });

  t.test(`${c.name}: Channel.recvFrom() gives a zero-length datagram as an empty buffer and cuts a long one`, async (t) => {
    const map = testMap(t);
    const a = await bound(t, map, c.family, c.host);
    const raw = await rawSocket(t, c.type, c.host);
    raw.send(Buffer.alloc(0), a.port as number, c.host);
    raw.send(Buffer.from('0123456789'), a.port as number, c.host);
    raw.send(Buffer.from('xy'), a.port as number, c.host);
    const [empty] = await receive(a);
    t.equal(empty.length, 0, 'an empty datagram: empty buffer, not null');
    await until(() => a.bufferedAmount === 12, 'both other datagrams to arrive');
    t.same(a.recvFrom(4)?.[0], Buffer.from('0123'), 'cut to the buffer size');
    t.same(a.recvFrom(4)?.[0], Buffer.from('xy'), 'the rest of the long one was discarded');
    t.equal(a.recvFrom(4), null);
    t.equal(a.bufferedAmount, 0);
  });

  t.test(`${c.name}: Channel.connect() sets a default peer: connect event, send() and recv()`, async (t) => {
    const map = testMap(t);
    const a = await bound(t, map, c.family, c.host);
    const b = await bound(t, map, c.family, c.host);
    a.connect([c.host, b.port as number]);
    t.equal(a.connecting, false, 'never connecting');
    t.equal(a.send('before the peer is set'), 22, 'accepted and held until the peer is set');
    const events = a[Symbol.asyncIterator]();
    t.teardown(async () => { await events.return?.(); });
    t.match(await deadline(nextEvent(events), 'the connect event'), { type: 'connect' });
    t.equal(a.connected, true);
    t.same(a.addr, [c.host, b.port], 'addr is the peer');
    t.equal(a.send('hello'), 5);
    const [first, from] = await receive(b);
    t.equal(first.toString(), 'before the peer is set');
    t.equal(from[1], (a.socket as dgram.Socket).address().port);
    t.equal(b.recvFrom(100)?.[0].toString() ?? (await receive(b))[0].toString(), 'hello');
    b.sendTo('reply', from);
    await deadline(untilEvent(events, (ev) => ev.type === 'read'), 'the reply');
    t.equal(a.recv(100)?.toString(), 'reply', 'recv() takes the datagram without its address');
    t.throws(() => a.sendTo('x', [c.host, b.port as number]), ChannelStateError, 'a connected channel sends with send()');
    t.throws(() => { a.connect([c.host, b.port as number]); }, ChannelStateError, 'connect() once');
  });

  t.test(`${c.name}: an ICMP refusal on a connected channel is an ECONNREFUSED error event; the channel stays open`, async (t) => {
    const map = testMap(t);
    const gone = await rawSocket(t, c.type, c.host);
    const deadPort = gone.address().port;
    gone.close();
    const a = await bound(t, map, c.family, c.host);
    a.connect([c.host, deadPort]);
    const events = a[Symbol.asyncIterator]();
    t.teardown(async () => { await events.return?.(); });
    await deadline(untilEvent(events, (ev) => ev.type === 'connect'), 'the connect event');
    // Each send draws an ICMP port unreachable; the next socket call reports it.
    a.send('knock');
    const ev = await deadline(untilEvent(events, (e) => e.type === 'error'), 'the error event');
    t.match(ev, { type: 'error', error: { code: 'ECONNREFUSED' } });
    t.ok(ev.type === 'error' && (ev.operation === 'read' || ev.operation === 'write'), 'reported on the read or write side');
    t.equal(a.state, 'open');
    t.equal(a.send('again'), 5, 'still usable');
  });
}

t.test('Channel.bind() on a port in use fails the channel: error (bind, EADDRINUSE), then close; opened rejects', async (t) => {
  const map = testMap(t);
  const a = await bound(t, map, AF_INET, '127.0.0.1');
  const b = unbound(t, map, AF_INET);
  b.bind(['127.0.0.1', a.port as number]);
  await t.rejects(deadline(b.opened, 'the failed bind'), { code: 'EADDRINUSE' });
  const types: string[] = [];
  for await (const ev of b) {
    types.push(ev.type);
    if (ev.type === 'error') t.match(ev, { operation: 'bind', error: { code: 'EADDRINUSE', syscall: 'bind' } });
  }
  t.same(types, ['error', 'close']);
  t.equal(b.state, 'closed');
});

t.test('Channel.sendTo() refuses whole datagrams past writeHighWaterMark; a write event tells of room', async (t) => {
  const map = testMap(t);
  const a = await bound(t, map, AF_INET, '127.0.0.1');
  const b = await bound(t, map, AF_INET, '127.0.0.1', { writeHighWaterMark: 100 });
  const to: Address = ['127.0.0.1', a.port as number];
  t.equal(b.sendTo(Buffer.alloc(150), to), 150, 'accepted whole while under the bound');
  t.equal(b.pendingWrite, 150);
  t.equal(b.sendTo(Buffer.alloc(1), to), 0, 'refused: the bound is reached');
  b.writeInterest = true;
  const events = b[Symbol.asyncIterator]();
  t.teardown(async () => { await events.return?.(); });
  t.match(await deadline(nextEvent(events), 'the write event'), { type: 'write' });
  t.equal(b.pendingWrite, 0);
  t.equal(b.sendTo(Buffer.alloc(1), to), 1);
});

t.test('Channel.droppedDatagrams counts what a flood brings past the queue bound; memory stays bounded', async (t) => {
  const map = testMap(t);
  const limit = 16;
  const a = await bound(t, map, AF_INET, '127.0.0.1', { datagramLimit: limit, readHighWaterMark: 4096 });
  const raw = await rawSocket(t, 'udp4', '127.0.0.1');
  const total = 2000;
  let handed = 0;
  await deadline(new Promise<void>((resolve) => {
    for (let i = 0; i < total; i++) {
      raw.send(Buffer.alloc(64, i), a.port as number, '127.0.0.1', () => { if (++handed === total) resolve(); });
    }
  }), 'the flood to be handed to the kernel');
  // The receiver's empty kernel buffer takes the first ~200 datagrams of the
  // burst whatever else it drops; once one was dropped here, the queue is full.
  await until(() => a.droppedDatagrams > 0, 'the first drop');
  t.equal(a.bufferedAmount, limit * 64, 'the queue holds exactly its bound');
  t.ok(a.droppedDatagrams > 0, 'the rest were dropped and counted');
  t.ok(a.droppedDatagrams + limit <= total, 'nothing counted twice');
  let taken = 0;
  for (let got = a.recvFrom(100); got !== null; got = a.recvFrom(100)) {
    t.equal(got[0][0], taken & 0xff, 'the oldest datagrams were kept, in order');
    taken++;
  }
  t.equal(taken, limit);
});

t.test('Channel.datagrams() yields [data, address] as they come and ends when the channel closes', async (t) => {
  const map = testMap(t);
  const a = await bound(t, map, AF_INET6, '::1');
  const raw = await rawSocket(t, 'udp6', '::1');
  for (const word of ['one', 'two', 'three']) raw.send(word, a.port as number, '::1');
  const words: string[] = [];
  for await (const [data, from] of a.datagrams(3)) {
    words.push(data.toString());
    t.same(from, ['::1', raw.address().port]);
    if (words.length === 3) break;
  }
  t.same(words, ['one', 'two', 'thr'], 'cut to the size given');
  t.equal(a.state, 'open', 'leaving the iteration leaves the channel open');
  const rest = a.datagrams();
  const next = rest.next();
  a.close();
  t.same(await deadline(next, 'the end of the iteration'), { done: true, value: undefined });
});

t.test('Channel.datagrams() rejects with the failure of the bind', async (t) => {
  const map = testMap(t);
  const a = await bound(t, map, AF_INET, '127.0.0.1');
  const b = unbound(t, map, AF_INET);
  b.bind(['127.0.0.1', a.port as number]);
  await t.rejects(deadline(b.datagrams().next(), 'the failure'), { code: 'EADDRINUSE' });
});

t.test('Channel.close() lets accepted datagrams go, then releases the socket', async (t) => {
  const map = testMap(t);
  const raw = await rawSocket(t, 'udp4', '127.0.0.1');
  const a = unbound(t, map, AF_INET);
  const arrived = nextMessage(raw);
  t.equal(a.sendTo('last words', ['127.0.0.1', raw.address().port]), 10);
  a.close();
  t.equal(a.state, 'closed');
  const [data] = await arrived;
  t.equal(data.toString(), 'last words');
  await deadline(a.released, 'the release');
  t.throws(() => a.sendTo('x', ['127.0.0.1', 9]), ChannelClosedError);
  t.throws(() => a.recvFrom(10), ChannelClosedError);
  t.rejects(a.opened, ChannelClosedError);
});

t.test('socket options given before the bind wait and are applied as it binds', async (t) => {
  const map = testMap(t);
  const a = unbound(t, map, AF_INET);
  a.setReuseAddr();
  a.bind(['127.0.0.1', 0]);
  const sock = a.socket as dgram.Socket;
  const applied: string[] = [];
  for (const name of ['setBroadcast', 'setMulticastTTL', 'setMulticastLoopback', 'setTTL'] as const) {
    const original = (sock[name] as (value: unknown) => unknown).bind(sock);
    (sock as unknown as Record<string, unknown>)[name] = (value: unknown) => {
      applied.push(`${name}(${String(value)})`);
      return original(value);
    };
  }
  a.setBroadcast(true);
  a.setMulticastTTL(3);
  a.setMulticastLoopback(false);
  a.setTTL(32);
  t.same(applied, [], 'nothing applied before the socket is bound');
  await deadline(a.opened, 'the bind');
  t.same(applied, ['setBroadcast(true)', 'setMulticastTTL(3)', 'setMulticastLoopback(false)', 'setTTL(32)']);
  a.setBroadcast(false);
  t.equal(applied.at(-1), 'setBroadcast(false)', 'applied at once once bound');
  t.throws(() => { a.setReuseAddr(); }, ChannelStateError, 'SO_REUSEADDR only before the socket exists');
});

t.test('Channel.addMembership() joins a multicast group on loopback', async (t) => {
  const map = testMap(t);
  const group = '239.255.42.99';
  const a = unbound(t, map, AF_INET);
  a.setReuseAddr();
  a.bind(['0.0.0.0', 0]);
  a.addMembership(group, '127.0.0.1');
  const events = a[Symbol.asyncIterator]();
  t.teardown(async () => { await events.return?.(); });
  await deadline(a.opened, 'the bind');
  const b = unbound(t, map, AF_INET);
  b.setMulticastInterface('127.0.0.1');
  b.setMulticastLoopback(true);
  b.sendTo('to the group', [group, a.port as number]);
  const ev = await deadline(untilEvent(events, (e) => e.type === 'read' || e.type === 'error'), 'the group datagram');
  if (ev.type === 'error') {
    await t.skip(`multicast on loopback is unavailable here: ${ev.error.code ?? ev.error.message}`, () => undefined);
    return;
  }
  t.equal(a.recvFrom(100)?.[0].toString(), 'to the group');
  a.dropMembership(group, '127.0.0.1');
});

t.test('datagram methods refuse bad input and the wrong kind of channel with clear errors', async (t) => {
  const map = testMap(t);
  const udp = unbound(t, map, AF_INET);
  const stream = new Channel(null, map);
  t.teardown(() => { stream.close(); });
  stream.createSocket(AF_INET, SOCK_STREAM);
  t.equal(stream.socketType, SOCK_STREAM);
  t.equal(new Channel(null, map).socketType, null);

  t.throws(() => stream.sendTo('x', ['127.0.0.1', 9]), { name: 'ChannelStateError', message: /not a datagram channel/ });
  t.throws(() => stream.recvFrom(10), { name: 'ChannelStateError', message: /not a datagram channel/ });
  t.throws(() => stream.datagrams(), ChannelStateError);
  t.throws(() => { stream.setBroadcast(true); }, ChannelStateError);
  t.throws(() => { udp.listen(); }, { name: 'ChannelStateError', message: 'Cannot listen: the channel is a datagram channel' });
  t.throws(() => udp.accept(), { name: 'ChannelStateError', message: /not listening/ });
  t.throws(() => udp.connections(), ChannelStateError);
  t.throws(() => udp.chunks(), { name: 'ChannelStateError', message: /datagram channel/ });
  t.throws(() => udp.recvInto(Buffer.alloc(4)), ChannelStateError);
  t.throws(() => { udp.shutdown('SHUT_WR'); }, ChannelStateError);
  t.rejects(udp.write('x'), ChannelStateError);
  t.throws(() => udp.send('x'), { name: 'ChannelStateError', message: /no peer/ });
  t.throws(() => udp.sendTo('x', ['::1', 9]), { name: 'TypeError', message: 'Invalid host: "::1" is an IPv6 address, the channel is AF_INET' });
  t.throws(() => udp.sendTo('x', ['127.0.0.1', 0]), { name: 'RangeError', message: /port 0/ });
  t.throws(() => udp.sendTo('x', ['127.0.0.1', 70000]), RangeError);
  t.throws(() => udp.sendTo('x', '/tmp/sock'), TypeError);
  t.throws(() => udp.sendTo(42 as unknown as string, ['127.0.0.1', 9]), TypeError);
  t.throws(() => udp.sendTo(Buffer.alloc(65508), ['127.0.0.1', 9]), { name: 'RangeError', message: /65507-byte limit/ });
  t.throws(() => udp.recvFrom(0), RangeError);
  t.throws(() => udp.recvFrom(1.5), TypeError);
  t.throws(() => udp.datagrams(-1), RangeError);
  t.throws(() => { udp.connect(['127.0.0.1', 0]); }, RangeError);
  t.throws(() => { udp.bind(['::', 0]); }, TypeError);
  t.throws(() => { udp.setMulticastTTL(256); }, RangeError);
  t.throws(() => { udp.setTTL(0); }, RangeError);
  t.throws(() => { udp.setBroadcast(1 as unknown as boolean); }, TypeError);
  t.throws(() => { udp.addMembership('10.0.0.1'); }, { name: 'TypeError', message: /multicast/ });
  t.throws(() => { udp.addMembership('ff02::1'); }, TypeError, 'a group of the other family');
  t.throws(() => { udp.setMulticastInterface(5 as unknown as string); }, TypeError);
  t.equal(udp.state, 'open', 'nothing changed');
  t.equal(udp.socket, null, 'no socket made by a refused call');
  udp.bind(['127.0.0.1', 0]);
  t.throws(() => { udp.bind(['127.0.0.1', 0]); }, { name: 'ChannelStateError', message: /already bound/ });
  const v6 = unbound(t, map, AF_INET6);
  t.throws(() => v6.sendTo(Buffer.alloc(65528), ['::1', 9]), { name: 'RangeError', message: /65527-byte limit/ });
  t.throws(() => { v6.addMembership('239.1.1.1'); }, TypeError);
});

t.test('createSocket(family, SOCK_DGRAM) on a channel with the tls option is refused: Node has no DTLS', async (t) => {
  const map = testMap(t);
  const channel = new Channel(null, map, { tls: { servername: 'localhost' } });
  t.throws(() => { channel.createSocket(AF_INET, SOCK_DGRAM); }, { code: 'ERR_NOT_SUPPORTED', message: /tls option is for streams/ });
  t.equal(channel.state, 'idle', 'nothing was made');
  t.equal(map.size, 0, 'the map is unchanged');
});
