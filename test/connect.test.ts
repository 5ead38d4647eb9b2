// connect() and listen(): channels that are ready when the promise resolves.
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET6, Channel, ChannelMap, closeAll, connect, listen } from '../src/index.js';
import { deadline } from './helpers/deadline.js';
import { tempDir } from './helpers/net.js';

function mapFor(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return map;
}

const addresses = [
  { name: 'IPv4', address: (): [string, number] => ['127.0.0.1', 0] },
  { name: 'IPv6', address: (): [string, number] => ['::1', 0] },
  { name: 'Unix', address: (t: Test): string => path.join(tempDir(t), 's.sock') },
];

for (const { name, address } of addresses) {
  t.test(`listen() resolves with a listening channel and connect() with a connected one, over ${name}`, async (t) => {
    const map = mapFor(t);
    const server = await listen(address(t), { map });
    t.equal(server.state, 'listening');
    t.equal(server.accepting, true);
    if (name !== 'Unix') t.ok((server.port ?? 0) > 0, `a real port (${server.address})`);
    else t.equal(server.port, null);
    const client = await connect(server.addr as string | [string, number], { map });
    t.equal(client.state, 'open');
    const { value: conn } = await deadline(server.connections().next(), 'a connection');
    if (conn === undefined) throw new Error('no connection');
    await client.write('ping');
    client.close();
    let got = '';
    for await (const chunk of conn.chunks()) got += chunk.toString();
    t.equal(got, 'ping');
    conn.close();
    server.close();
  });
}

t.test('connect() infers AF_INET6 from a host with a colon', async (t) => {
  const map = mapFor(t);
  const server = await listen(['::1', 0], { map });
  t.equal(server.family, AF_INET6);
  const client = await connect(['::1', server.port ?? 0], { map });
  t.equal(client.family, AF_INET6);
});

t.test('connect() rejects with ECONNREFUSED and closes the channel it made', async (t) => {
  const map = mapFor(t);
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  await t.rejects(connect(['127.0.0.1', port], { map }), { code: 'ECONNREFUSED' });
  t.equal(map.size, 0, 'nothing left in the map');
});

t.test('listen() rejects with EADDRINUSE on an address in use', async (t) => {
  const map = mapFor(t);
  const first = await listen(['127.0.0.1', 0], { map });
  await t.rejects(listen(['127.0.0.1', first.port ?? 0], { map }), { code: 'EADDRINUSE' });
  t.equal(map.size, 1, 'only the first listener is left');
});

t.test('connect() and listen() reject bad input with TypeError/RangeError', async (t) => {
  await t.rejects(connect(['127.0.0.1', 70000]), RangeError);
  await t.rejects(connect(['127.0.0.1', '80'] as unknown as [string, number]), TypeError);
  await t.rejects(listen(['127.0.0.1', 0], { backlog: -1 }), RangeError);
  await t.rejects(connect(['127.0.0.1', 1], { writeHighWaterMark: 0 }), RangeError);
  await t.rejects(connect(['127.0.0.1', 1], null as unknown as object), TypeError);
});

t.test('connect({ signal }) rejects with signal.reason when aborted before the connection is made', async (t) => {
  const map = mapFor(t);
  const reason = new Error('gave up');
  await t.rejects(connect(['127.0.0.1', 1], { map, signal: AbortSignal.abort(reason) }), reason, 'already aborted');
  // A listener whose accept queue and backlog are full never completes a
  // handshake promptly on every system; abort as soon as the attempt starts.
  const controller = new AbortController();
  const attempt = connect(['127.0.0.1', 1], { map, signal: controller.signal });
  controller.abort(reason);
  await t.rejects(attempt, reason, 'aborted while connecting');
  t.equal(map.size, 0, 'the aborted channel left the map');
});

t.test('listen({ signal }) rejects with signal.reason when already aborted', async (t) => {
  const reason = new Error('no');
  await t.rejects(listen(['127.0.0.1', 0], { signal: AbortSignal.abort(reason) }), reason);
});

t.test('Channel.connections({ signal }) rejects the waiting step with signal.reason', async (t) => {
  const map = mapFor(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const controller = new AbortController();
  const conns = server.connections({ signal: controller.signal });
  const next = conns.next();
  const reason = new Error('stop accepting');
  controller.abort(reason);
  await t.rejects(next, reason);
  t.equal(server.state, 'listening', 'the listener stays open');
});

t.test('Channel.chunks({ signal }) rejects the waiting step with signal.reason', async (t) => {
  const map = mapFor(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const client = await connect(['127.0.0.1', server.port ?? 0], { map });
  const controller = new AbortController();
  const chunks = client.chunks({ signal: controller.signal });
  const next = chunks.next();
  const reason = new Error('enough reading');
  controller.abort(reason);
  await t.rejects(next, reason);
  await t.rejects(client.chunks({ signal: controller.signal }).next(), reason, 'an aborted signal rejects the first step');
});

t.test('Channel.write(data, { signal }) withdraws the bytes not yet accepted and rejects with signal.reason', async (t) => {
  const map = mapFor(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const client = await connect(['127.0.0.1', server.port ?? 0], { map, writeHighWaterMark: 1024 });
  // Nobody reads on the other side: a large write waits for room.
  const controller = new AbortController();
  const writing = client.write(Buffer.alloc(64 << 20), { signal: controller.signal });
  const reason = new Error('too slow');
  controller.abort(reason);
  await t.rejects(writing, reason);
  await t.resolves(client.write('after'), 'the channel goes on: later writes are not blocked behind it');
});

t.test('Channel.write() on a channel whose connect is refused rejects, whatever its size', async (t) => {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  const map = mapFor(t);
  for (const size of [1, 1024, 65536]) {
    const c = new Channel(null, map);
    c.createSocket();
    c.connect(['127.0.0.1', port]);
    const writing = c.write(Buffer.alloc(size));
    await t.rejects(writing, { code: 'ECONNREFUSED' }, `a ${size}-byte write rejects`);
    await t.rejects(c.opened, { code: 'ECONNREFUSED' });
  }
});

t.test('using a channel closes it at the end of the block (Symbol.dispose)', async (t) => {
  const map = mapFor(t);
  let outside: Channel | null = null;
  {
    using c = new Channel(null, map);
    c.createSocket();
    outside = c;
  }
  t.equal(outside.state, 'closed');
});

t.test('Channel.send() on a connecting channel accepts nothing: bytes are never accepted before the connection exists', async (t) => {
  const map = mapFor(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const c = new Channel(null, map);
  c.createSocket();
  c.connect(['127.0.0.1', server.port ?? 0]);
  t.equal(c.connecting, true);
  t.equal(c.send('early'), 0, 'send() takes nothing while connecting');
  await c.opened;
  t.equal(c.send('now'), 3, 'and takes bytes once connected');
});
