// serve(): a task per connection, the cap, failures reported and survived,
// the two-phase shutdown, and nothing left behind.
import { getEventListeners } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import {
  AcceptQueueFullError, Channel, IdleTimeoutError, ChannelMap, ChannelStateError, ConnectTimeoutError, ServerClosingError, closeAll, connect,
  listen, serve,
} from '../src/index.js';
import type { ServeOptions, Server } from '../src/index.js';
import { certs } from './helpers/certs.js';
import { OPENSSL, clientPresent } from './helpers/clients.js';
import { deadline, until } from './helpers/deadline.js';
import { isPending } from './helpers/events.js';
import { tempDir } from './helpers/net.js';

function mapFor(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return map;
}

/** serve() on loopback with a map of the test's own; closed at teardown. */
async function start(t: Test, handler: Parameters<typeof serve>[1], options: ServeOptions = {}): Promise<Server> {
  const server = await serve(['127.0.0.1', 0], handler, { map: mapFor(t), ...options });
  t.teardown(() => server.close({ drainTimeout: 0 }));
  return server;
}

function portOf(server: Server): number {
  return (server.addr as [string, number])[1];
}

/** A raw client: resolves once connected; collects what it receives until the server ends. */
function rawClient(t: Test, port: number): { sock: net.Socket; connected: Promise<void>; received: Promise<string> } {
  const sock = net.connect(port, '127.0.0.1');
  t.teardown(() => { sock.destroy(); });
  const connected = new Promise<void>((resolve, reject) => { sock.once('connect', resolve).once('error', reject); });
  connected.catch(() => { /* a refused client: awaited where it matters */ });
  let text = '';
  sock.on('data', (chunk: Buffer) => { text += chunk.toString(); });
  const received = new Promise<string>((resolve) => { sock.once('close', () => { resolve(text); }); });
  sock.on('error', () => { /* a reset: `received` settles on close */ });
  return { sock, connected, received };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => { /* replaced */ };
  const promise = new Promise<void>((resolve) => { open = resolve; });
  return { promise, open };
}

// First in the file: no other test's handles are still closing.
t.test('nothing is left after shutdown: no socket, server or timer handle more than before', async (t) => {
  const count = (): { tcp: number; server: number; timers: number } => {
    const counts: Record<string, number> = {};
    for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
    return { tcp: counts.TCPSocketWrap ?? 0, server: counts.TCPServerWrap ?? 0, timers: counts.Timeout ?? 0 };
  };
  const before = count();
  const map = new ChannelMap();
  const server = await serve(['127.0.0.1', 0], async (conn, { signal }) => {
    for await (const chunk of conn.chunks({ signal })) await conn.write(chunk);
  }, { map, idleTimeout: 30 });
  const clients = [rawClient(t, portOf(server)), rawClient(t, portOf(server)), rawClient(t, portOf(server))];
  await Promise.all(clients.map(async ({ connected }) => connected));
  await until(() => server.connectionCount === 3, 'three handlers');
  const closing = server.close({ drainTimeout: 5 });
  for (const { received } of clients) await deadline(received, 'each client to see the end');
  await deadline(closing, 'closed');
  t.equal(map.size, 0, 'the map is empty');
  await until(() => count().tcp === before.tcp && count().server === before.server && count().timers <= before.timers,
    `no handles left (before ${JSON.stringify(before)}, now ${JSON.stringify(count())})`);
  t.pass('handles back to where they were');
});

t.test('serve() runs each connection in a task of its own and closes it when the handler returns', async (t) => {
  const both = gate();
  let started = 0;
  const server = await start(t, async (conn) => {
    if (++started === 2) both.open();
    await both.promise; // the first handler waits for the second: only concurrent tasks get past
    await conn.write(`hello ${started}\n`);
  });
  t.match(server.address, /^127\.0\.0\.1:\d+$/);
  const a = rawClient(t, portOf(server));
  const b = rawClient(t, portOf(server));
  t.equal(await deadline(a.received, 'a reply and the end'), 'hello 2\n');
  t.equal(await deadline(b.received, 'b reply and the end'), 'hello 2\n');
  await until(() => server.connectionCount === 0, 'no handler running');
});

t.test('a handler that throws or rejects is reported with its connection, which is closed; serving goes on', async (t) => {
  const reported: [unknown, Channel | null][] = [];
  let n = 0;
  const server = await start(t, async (conn) => {
    n++;
    if (n === 1) throw new Error('sync-ish failure');
    if (n === 2) await Promise.reject(new Error('async failure'));
    await conn.write('fine\n');
  }, { onError: (error, channel) => { reported.push([error, channel]); } });
  for (const expected of ['', '', 'fine\n']) {
    const client = rawClient(t, portOf(server));
    t.equal(await deadline(client.received, 'the end'), expected);
  }
  t.same(reported.map(([error]) => (error as Error).message), ['sync-ish failure', 'async failure']);
  t.ok(reported.every(([, channel]) => channel instanceof Channel), 'each report names its connection');
  t.ok(reported.every(([, channel]) => channel?.state === 'closed'), 'each failed connection is closed');
});

t.test('a handler that throws synchronously (not async) is reported too', async (t) => {
  const reported: unknown[] = [];
  const server = await start(t, () => { throw new TypeError('not even async'); }, { onError: (error) => { reported.push(error); } });
  const client = rawClient(t, portOf(server));
  t.equal(await deadline(client.received, 'the end'), '');
  t.match(reported, [{ name: 'TypeError', message: 'not even async' }]);
});

t.test('without onError, failures are logged, except a connection\'s ordinary ends (idle timeout, reset)', async (t) => {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]): void => { logged.push(args); };
  t.teardown(() => { console.error = original; });
  let n = 0;
  const server = await serve(['127.0.0.1', 0], async (conn) => {
    n++;
    if (n === 1) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    if (n === 2) throw new IdleTimeoutError(5);
    await conn.write('x');
    throw new Error('a real bug');
  }, { map: mapFor(t) });
  t.teardown(() => server.close({ drainTimeout: 0 }));
  for (let i = 0; i < 3; i++) await deadline(rawClient(t, portOf(server)).received, 'the end');
  console.error = original;
  t.equal(logged.length, 1, 'one line logged');
  t.match(String(logged[0]?.[0]), /^serve: connection from 127\.0\.0\.1:\d+ failed:$/);
  t.match(logged[0]?.[1], { message: 'a real bug' });
});

t.test('maxConnections: past the cap arrivals wait in the accept queue, overflow is refused and reported', async (t) => {
  const release = gate();
  const order: string[] = [];
  const reported: unknown[] = [];
  const server = await start(t, async (conn) => {
    const first = await conn.chunks().next();
    const name = first.done === true ? '' : first.value.toString();
    order.push(`start ${name}`);
    if (name === 'A') await release.promise;
    order.push(`end ${name}`);
    await conn.write(name);
  }, { maxConnections: 1, acceptQueueLimit: 1, onError: (error) => { reported.push(error); } });
  const a = rawClient(t, portOf(server));
  a.sock.write('A');
  await until(() => order.length === 1, 'A to start');
  const b = rawClient(t, portOf(server));
  b.sock.write('B');
  await b.connected;
  // C overflows the queue of one (B waits in it): the listener closes C at once.
  const c = rawClient(t, portOf(server));
  t.equal(await deadline(c.received, 'C refused'), '');
  t.same(order, ['start A'], 'B waits while A holds the only slot');
  t.equal(server.connectionCount, 1);
  t.equal(server.listener.droppedConnections, 1);
  release.open();
  t.equal(await deadline(a.received, 'A done'), 'A');
  t.equal(await deadline(b.received, 'B served'), 'B');
  t.same(order, ['start A', 'end A', 'start B', 'end B']);
  t.equal(reported.length, 1, 'the refusal is reported');
  t.type(reported[0], AcceptQueueFullError);
});

t.test('close(): stops accepting, signals handlers, waits for them, then resolves closed', async (t) => {
  const started = gate();
  let reason: unknown;
  const server = await start(t, async (conn, { signal }) => {
    started.open();
    await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve(); }); });
    reason = signal.reason;
    await conn.write('bye\n'); // a goodbye still goes out during the drain
  });
  const port = portOf(server);
  const client = rawClient(t, port);
  await deadline(started.promise, 'the handler to start');
  const closing = server.close();
  t.equal(server.close(), closing, 'close() twice: the same promise');
  // During the drain the listener is gone: new connections are refused.
  const late = net.connect(port, '127.0.0.1');
  const refused = await deadline(new Promise<string>((resolve) => {
    late.once('error', (error: NodeJS.ErrnoException) => { resolve(error.code ?? ''); });
    late.once('connect', () => { resolve('connected'); });
  }), 'the late connection');
  late.destroy();
  t.equal(refused, 'ECONNREFUSED');
  t.equal(await deadline(client.received, 'the goodbye'), 'bye\n');
  await deadline(closing, 'closed');
  await deadline(server.closed, 'closed');
  t.type(reason, ServerClosingError);
  t.equal((reason as ServerClosingError).code, 'ERR_SERVER_CLOSING');
  t.equal(server.connectionCount, 0);
  t.equal(server.listener.state, 'closed');
});

t.test('a handler that ignores the signal is aborted at the drain deadline; closed does not wait for it', async (t) => {
  const reported: unknown[] = [];
  const started = gate();
  const server = await start(t, async () => {
    started.open();
    await new Promise(() => { /* never settles, ignores everything */ });
  }, { onError: (error) => { reported.push(error); } });
  const client = rawClient(t, portOf(server));
  let reset = '';
  client.sock.on('error', (error: NodeJS.ErrnoException) => { reset = error.code ?? ''; });
  await deadline(started.promise, 'the handler to start');
  await deadline(server.close({ drainTimeout: 0.1 }), 'closed past the deadline');
  t.equal(await deadline(client.received, 'the connection to end'), '');
  t.equal(reset, 'ECONNRESET', 'the connection was reset, not ended');
  t.same(reported, [], 'the shutdown is not a failure');
});

t.test('a handler reading without the signal ends when its connection is aborted at the deadline, unreported', async (t) => {
  const reported: unknown[] = [];
  const started = gate();
  const server = await start(t, async (conn) => {
    started.open();
    for await (const chunk of conn.chunks()) await conn.write(chunk);
  }, { onError: (error) => { reported.push(error); } });
  const client = rawClient(t, portOf(server));
  await deadline(started.promise, 'the handler to start');
  await deadline(server.close({ drainTimeout: 0 }), 'closed');
  await deadline(client.received, 'the connection to end');
  await until(() => server.connectionCount === 0, 'the handler to return');
  t.same(reported, []);
});

t.test('close() waits for the lingering closes of handlers that returned, and cuts them short at the deadline', async (t) => {
  let finished = 0;
  const server = await start(t, async (conn) => {
    await conn.write('reply\n');
    finished++;
  });
  // Two clients read the reply but never end their side: each server socket lingers.
  const clients = [0, 1].map(() => {
    const sock = net.connect({ port: portOf(server), host: '127.0.0.1', allowHalfOpen: true });
    t.teardown(() => { sock.destroy(); });
    sock.on('error', () => { /* cut short: a reset or an end */ });
    const replied = new Promise<void>((resolve) => { sock.once('data', () => { resolve(); }); });
    return { sock, replied };
  });
  for (const { replied } of clients) await deadline(replied, 'the reply');
  await until(() => finished === 2, 'both handlers to return');
  const closing = server.close({ drainTimeout: 30 });
  t.ok(await isPending(closing), 'the shutdown waits for the lingering sockets');
  clients[0]?.sock.end();
  t.ok(await isPending(closing), 'still waiting for the second');
  clients[1]?.sock.end();
  await deadline(closing, 'closed once both peers ended');
  // With a short drain, a peer that never ends is cut short.
  const second = await start(t, async (conn) => { await conn.write('reply\n'); });
  const stuck = net.connect({ port: portOf(second), host: '127.0.0.1', allowHalfOpen: true });
  t.teardown(() => { stuck.destroy(); });
  stuck.on('error', () => { /* cut short */ });
  await deadline(new Promise((resolve) => { stuck.once('data', resolve); }), 'the reply');
  await until(() => second.connectionCount === 0, 'the handler to return');
  await deadline(second.close({ drainTimeout: 0.05 }), 'closed at the deadline');
  t.equal(second.listener.state, 'closed');
});

t.test('the signal option begins close(); aborted before listening, serve() rejects', async (t) => {
  const stop = new AbortController();
  const server = await start(t, async (conn) => { await conn.write('x'); }, { signal: stop.signal });
  stop.abort();
  await deadline(server.closed, 'closed by the signal');
  t.equal(server.listener.state, 'closed');
  // A server closed otherwise leaves no listener on the signal.
  const kept = new AbortController();
  const other = await start(t, () => undefined, { signal: kept.signal });
  t.equal(getEventListeners(kept.signal, 'abort').length, 1);
  await other.close();
  t.equal(getEventListeners(kept.signal, 'abort').length, 0, 'the abort listener is removed');
  const early = new AbortController();
  early.abort(new Error('never mind'));
  await t.rejects(serve(['127.0.0.1', 0], () => undefined, { signal: early.signal }), { message: 'never mind' });
});

t.test('await using closes the server', async (t) => {
  let listener: Channel | undefined;
  {
    await using server = await serve(['127.0.0.1', 0], () => undefined, { map: mapFor(t) });
    listener = server.listener;
    t.equal(listener.state, 'listening');
  }
  t.equal(listener.state, 'closed');
});

t.test('serve() takes over a listening channel, and serves Unix sockets', async (t) => {
  const map = mapFor(t);
  const listener = await listen(path.join(tempDir(t), 's.sock'), { map });
  const server = await serve(listener, async (conn) => { await conn.write('unix\n'); });
  t.teardown(() => server.close({ drainTimeout: 0 }));
  t.equal(server.listener, listener);
  const conn = await connect(listener.addr as string, { map });
  let got = '';
  for await (const chunk of conn.chunks()) got += chunk.toString();
  conn.close();
  t.equal(got, 'unix\n');
});

t.test('serve() over TLS hands handlers handshaken connections', { skip: OPENSSL.skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const { key, cert, ca } = certs();
  const server = await start(t, async (conn) => {
    await conn.write(`tls ${conn.tls?.protocol ?? 'none'}\n`);
  }, { tls: { key, cert } });
  const sock = tls.connect({ port: portOf(server), host: '127.0.0.1', servername: 'localhost', ca });
  t.teardown(() => { sock.destroy(); });
  let got = '';
  sock.on('data', (chunk: Buffer) => { got += chunk.toString(); });
  await deadline(new Promise((resolve) => { sock.once('end', resolve); }), 'the end');
  t.match(got, /^tls TLSv1\.[23]\n$/);
});

t.test('serve() over TLS: a client that never handshakes is dropped at handshakeTimeout and never reaches the handler', { skip: OPENSSL.skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const { key, cert, ca } = certs();
  let handled = 0;
  const server = await start(t, async (conn) => {
    handled++;
    await conn.write('hi\n');
  }, { tls: { key, cert, handshakeTimeout: 0.2 } });
  const mute = rawClient(t, portOf(server)); // TCP only: never sends a ClientHello
  await mute.connected;
  t.equal(await deadline(mute.received, 'the server to drop the mute client'), '');
  t.equal(server.listener.failedHandshakes, 1, 'counted as a failed handshake');
  t.equal(handled, 0, 'the handler never saw it');
  // The server still serves a client that does handshake.
  const sock = tls.connect({ port: portOf(server), host: '127.0.0.1', servername: 'localhost', ca });
  t.teardown(() => { sock.destroy(); });
  let got = '';
  sock.on('data', (chunk: Buffer) => { got += chunk.toString(); });
  await deadline(new Promise((resolve) => { sock.once('end', resolve); }), 'the end');
  t.equal(got, 'hi\n');
  t.equal(handled, 1);
});

t.test('serve() refuses bad arguments with clear errors', async (t) => {
  const handler = (): undefined => undefined;
  const address: [string, number] = ['127.0.0.1', 0];
  await t.rejects(serve(address, 'nope' as never), { name: 'TypeError', message: 'Invalid handler: expected a function, got "nope"' });
  await t.rejects(serve(address, handler, { maxConnections: 0 }), RangeError);
  await t.rejects(serve(address, handler, { maxConnections: 1.5 }), TypeError);
  await t.rejects(serve(address, handler, { drainTimeout: -1 }), RangeError);
  await t.rejects(serve(address, handler, { onError: 3 as never }), TypeError);
  await t.rejects(serve(address, handler, { readBufferSize: 1024 }), TypeError);
  await t.rejects(serve(address, handler, { idleTimeout: 0 }), RangeError);
  await t.rejects(serve(address, handler, null as never), TypeError);
  const map = mapFor(t);
  const idle = new Channel(null, map);
  await t.rejects(serve(idle, handler), ChannelStateError);
  const listening = await listen(['127.0.0.1', 0], { map });
  await t.rejects(serve(listening, handler, { tls: {} }), { name: 'TypeError', message: /Invalid option tls: the listener given already listens/ });
  await t.rejects(serve(listening.addr as [string, number], handler, { map }), { code: 'EADDRINUSE' });
  const server = await serve(listening, handler);
  t.throws(() => server.close({ drainTimeout: 'soon' as never }), TypeError);
  await server.close();
});

t.test('connect() with connectTimeout: a TLS handshake that never comes is aborted with ConnectTimeoutError', async (t) => {
  const silent = net.createServer(() => { /* accepts and never answers */ });
  const sockets = new Set<net.Socket>();
  silent.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('error', () => { /* our side resets it */ });
  });
  await new Promise<void>((resolve) => { silent.listen(0, '127.0.0.1', resolve); });
  t.teardown(() => { for (const sock of sockets) sock.destroy(); silent.close(); });
  const port = (silent.address() as net.AddressInfo).port;
  const map = mapFor(t);
  const error = await deadline(connect(['127.0.0.1', port], { map, tls: { servername: 'localhost' }, connectTimeout: 0.1 })
    .then(() => null, (e: unknown) => e), 'the timeout');
  t.type(error, ConnectTimeoutError);
  t.equal((error as ConnectTimeoutError).code, 'ERR_CONNECT_TIMEOUT');
  t.equal(map.size, 0, 'the channel is closed');
  await t.rejects(connect(['127.0.0.1', port], { connectTimeout: 0 }), RangeError);
  await t.rejects(connect(['127.0.0.1', port], { connectTimeout: 'x' as never }), TypeError);
  // A connection made in time leaves no timer behind.
  const timers = (): number => process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length;
  const before = timers();
  const conn = await connect(['127.0.0.1', port], { map, connectTimeout: 30 });
  t.equal(conn.state, 'open');
  t.equal(timers(), before, 'the bound is cleared once connected');
  conn.close();
});
