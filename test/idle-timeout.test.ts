// The per-channel idle timeout: a connection with no byte either way for
// idleTimeout seconds is reported (error carrying IdleTimeoutError, then
// close) and aborted; a peer that trickles bytes faster than the timeout
// keeps its connection, one that trickles slower (a slowloris) loses it.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, Channel, IdleTimeoutError, loop } from '../src/index.js';
import type { ChannelEvent } from '../src/index.js';
import { families, listener, testMap } from './helpers/net.js';
import { QuietDispatcher } from './helpers/dispatchers.js';
import { acceptWith } from './helpers/events.js';

const fam = families[0] as (typeof families)[number];

/** The types of a channel's events until it ends, with the error events themselves. */
async function eventsOf(channel: Channel): Promise<{ types: string[]; errors: ChannelEvent[] }> {
  const types: string[] = [];
  const errors: ChannelEvent[] = [];
  for await (const ev of channel) {
    types.push(ev.type);
    if (ev.type === 'error') errors.push(ev);
    if (ev.type === 'read') channel.recv(65536);
  }
  return { types, errors };
}

/** A raw client that sends one byte every `everyMs` until stopped. */
function trickle(t: Test, port: number, everyMs: number): { sock: net.Socket; closed: Promise<void> } {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => undefined);
  sock.on('data', () => undefined);
  const timer = setInterval(() => { if (!sock.destroyed) sock.write('x'); }, everyMs);
  const closed = new Promise<void>((resolve) => sock.once('close', () => { clearInterval(timer); resolve(); }));
  t.teardown(() => { clearInterval(timer); sock.destroy(); });
  return { sock, closed };
}

t.test('IdleTimeoutError: an idle accepted connection is reported, then closed and reset', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const port = (server.addr as [string, number])[1];
  const peer = net.connect({ host: '127.0.0.1', port });
  const peerError = new Promise<string>((resolve) => {
    peer.on('error', (err: NodeJS.ErrnoException) => { resolve(err.code ?? ''); });
    peer.on('close', () => { resolve('close'); });
  });
  t.teardown(() => { peer.destroy(); });
  const s = await acceptWith(t, server, map, { idleTimeout: 0.2 });
  const started = performance.now();
  const { types, errors } = await eventsOf(s);
  const elapsed = performance.now() - started;
  t.same(types, ['error', 'close'], 'error, then close, nothing else');
  const ev = errors[0];
  t.ok(ev?.type === 'error' && ev.error instanceof IdleTimeoutError);
  if (ev?.type === 'error') {
    t.equal(ev.error instanceof IdleTimeoutError ? ev.error.code : '', 'ERR_CHANNEL_IDLE_TIMEOUT');
    t.equal(ev.operation, 'read');
  }
  t.ok(elapsed >= 150, `not before the timeout (${elapsed.toFixed(0)} ms)`);
  t.equal(await peerError, 'ECONNRESET', 'the peer sees the connection reset');
});

t.test('IdleTimeoutError: a peer trickling bytes faster than the timeout stays, a slowloris goes', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const port = (server.addr as [string, number])[1];
  const fast = trickle(t, port, 40);
  const fastChannel = await acceptWith(t, server, map, { idleTimeout: 0.4 });
  const slow = trickle(t, port, 1000);
  const slowChannel = await acceptWith(t, server, map, { idleTimeout: 0.4 });
  const slowEvents = await eventsOf(slowChannel);
  t.same(slowEvents.types.slice(-2), ['error', 'close'], 'the slow trickler is dropped');
  await slow.closed;
  t.equal(fastChannel.state, 'open', 'the fast trickler still has its connection');
  t.ok(fastChannel.connected);
  fast.sock.destroy();
});

t.test('IdleTimeoutError: connections({ idleTimeout }) and a Dispatcher get it too', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const port = (server.addr as [string, number])[1];
  const peer = net.connect({ host: '127.0.0.1', port });
  peer.on('error', () => undefined);
  t.teardown(() => { peer.destroy(); });
  const conns = server.connections({ idleTimeout: 0.1 });
  const first = await conns.next();
  await conns.return();
  const conn = first.value as Channel;
  t.same((await eventsOf(conn)).types, ['error', 'close']);

  // A Dispatcher: the error goes to handleError(), whose default logs and closes.
  const seen: unknown[] = [];
  class Idle extends QuietDispatcher {
    override handleError(error: unknown): void {
      seen.push(error);
      super.handleError(error);
    }
  }
  // In a map of its own, so the loop ends once the client is closed.
  const clientMap = testMap(t);
  const client = new Idle(null, clientMap, { idleTimeout: 0.1 });
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  const accepted = await acceptWith(t, server, map);
  accepted.readInterest = false;
  await loop({ map: clientMap, timeout: 5, signal: AbortSignal.timeout(5000) });
  t.equal(seen.length, 1);
  t.ok(seen[0] instanceof IdleTimeoutError, 'handleError() received the IdleTimeoutError');
  t.equal(client.state, 'closed');
});

t.test('idleTimeout is checked', async (t) => {
  const map = testMap(t);
  t.throws(() => new Channel(null, map, { idleTimeout: 0 }), RangeError);
  t.throws(() => new Channel(null, map, { idleTimeout: -1 }), RangeError);
  t.throws(() => new Channel(null, map, { idleTimeout: 3e6 }), RangeError);
  t.throws(() => new Channel(null, map, { idleTimeout: '5' as unknown as number }), TypeError);
});
