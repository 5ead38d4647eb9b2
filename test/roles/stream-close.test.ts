// The close protocol of a stream: released at once when nothing was sent,
// lingering (bounded) when bytes were sent, so that they reach the peer.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { Channel, ChannelMap, closeAll, connect, listen, loop } from '../../src/index.js';
import { QuietDispatcher, Server } from '../helpers/dispatchers.js';
import { families } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';
import { deadline, until } from '../helpers/deadline.js';

function mapFor(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return map;
}

/** A raw peer connected to a listener; resolves with it and the accepted channel. */
async function rawPeer(t: Test, map: ChannelMap, options = {}): Promise<{ peer: net.Socket; conn: Channel }> {
  const server = await listen(['127.0.0.1', 0], { map });
  const peer = net.connect({ host: '127.0.0.1', port: server.port ?? 0 });
  t.teardown(() => { peer.destroy(); });
  peer.on('error', () => { /* resets are what some cases expect */ });
  const { value: conn } = await deadline(server.connections(options).next(), 'the accepted connection');
  if (conn === undefined) throw new Error('no connection');
  server.close();
  return { peer, conn };
}

t.test('Channel.close() on a channel that never sent a byte releases the socket at once', async (t) => {
  const map = mapFor(t);
  const { peer, conn } = await rawPeer(t, map);
  const peerClosed = new Promise((resolve) => peer.once('close', resolve));
  conn.close();
  t.equal(conn.lingering, false, 'no linger: nothing of ours to protect');
  await deadline(conn.released, 'the socket is released');
  peer.resume();
  await deadline(peerClosed, 'the peer sees the connection end at once, not after closeTimeout');
});

t.test('Channel.close() after sending lingers until the peer ends, and the bytes arrive', async (t) => {
  const map = mapFor(t);
  const { peer, conn } = await rawPeer(t, map);
  // The peer sent input we never read: without lingering, closing with it
  // unread makes the kernel reset the connection and destroy our reply.
  peer.write(Buffer.alloc(256 * 1024, 1));
  await deadline(new Promise<void>((resolve) => { const check = (): void => { if (conn.bufferedAmount > 0) resolve(); else setImmediate(check); }; check(); }), 'input arrives');
  const reply = Buffer.alloc(512 * 1024, 2);
  await conn.write(reply);
  conn.close();
  t.equal(conn.state, 'closed');
  t.equal(conn.lingering, true, 'it lingers: it sent bytes');
  let received = 0;
  peer.on('data', (chunk: Buffer) => { received += chunk.length; });
  await deadline(new Promise((resolve) => peer.once('end', resolve)), 'the peer gets our end of stream');
  t.equal(received, reply.length, 'every byte of the reply arrived');
  peer.end();
  await deadline(conn.released, 'the linger ends when the peer ends');
  t.equal(conn.lingering, false);
});

t.test('abort() after close() cuts a lingering close short: the socket is released at once', async (t) => {
  const map = mapFor(t);
  const { peer, conn } = await rawPeer(t, map, { lingerTimeout: 30, closeTimeout: 60 });
  await conn.write('bye');
  peer.allowHalfOpen = true; // our end of stream leaves it open: it never ends its side
  peer.resume(); // the peer reads, but never ends: the linger would last lingerTimeout
  conn.close();
  t.equal(conn.lingering, true);
  conn.abort();
  await deadline(conn.released, 'released at once, not after lingerTimeout');
  await until(() => !conn.lingering, 'the linger to end');
  t.pass('the linger ended without waiting for its bounds');
});

t.test('a lingering close ends after lingerTimeout seconds without input', async (t) => {
  const map = mapFor(t);
  const { peer, conn } = await rawPeer(t, map, { lingerTimeout: 0.05, closeTimeout: 30 });
  await conn.write('bye');
  peer.resume(); // the peer reads, but never ends
  conn.close();
  t.equal(conn.lingering, true);
  await deadline(conn.released, 'the quiet bound ends the linger', 5000);
});

t.test('a lingering close ends after closeTimeout seconds in all, even while input keeps coming', async (t) => {
  const map = mapFor(t);
  const { peer, conn } = await rawPeer(t, map, { lingerTimeout: 10, closeTimeout: 0.2 });
  await conn.write('bye');
  peer.resume();
  conn.close();
  const trickle = setInterval(() => { if (!peer.destroyed) peer.write('.'); }, 10);
  t.teardown(() => { clearInterval(trickle); });
  await deadline(conn.released, 'the total bound ends the linger', 5000);
  clearInterval(trickle);
  t.equal(conn.lingering, false);
});

t.test('Python\'s broken connection: a server reads once and closes; the writing client ends in handleClose()', async (t) => {
  const map = mapFor(t);
  const calls: string[] = [];
  class ReadOnce extends QuietDispatcher {
    override writable(): boolean { return false; }
    override handleRead(): void {
      this.recv(1024);
      this.close();
    }
  }
  class Writer extends QuietDispatcher {
    override handleConnect(): void { calls.push('connect'); }
    override handleWrite(): void { this.send(Buffer.alloc(1024, 120)); }
    override handleRead(): void { this.recv(1024); }
    override handleClose(): void {
      calls.push('close');
      this.close();
    }
    override handleError(error: unknown): void {
      calls.push(`error:${(error as NodeJS.ErrnoException).code ?? String(error)}`);
      this.close();
    }
  }
  const server = new Server(t, map, families[0] as FamilyCase, (sock) => {
    new ReadOnce(sock, map);
    server.close();
  });
  await server.opened;
  const client = new Writer(null, map);
  client.createSocket();
  client.connect(server.addr as [string, number]);
  await deadline(loop({ map, timeout: 5 }).then(() => undefined), 'the loop ends: every channel closed');
  t.same(calls, ['connect', 'close'], 'handleClose(), through EPIPE or ECONNRESET, not handleError()');
});

t.test('connect() channel closing without sending does not linger', async (t) => {
  const map = mapFor(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const client = await connect(['127.0.0.1', server.port ?? 0], { map });
  client.close();
  t.equal(client.lingering, false);
  await deadline(client.released, 'released');
});
