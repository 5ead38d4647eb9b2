// What one pass of the classic loop does, as Python's `loop(timeout, false,
// map, 1)` called again and again shows it: every dispatcher that is ready
// gets its handlers on every pass, whatever the others do and whatever an
// earlier loop over the map already handled.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { loop } from '../../src/index.js';
import type { Address, ChannelMap } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, Server, failOnUnhandled } from '../helpers/dispatchers.js';
import { families, rawPeer, testMap } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';

failOnUnhandled(t);

const ipv4 = families[0] as FamilyCase;

/** Counts its handler calls; writable() and readable() stay true, as by default. */
class Counting extends QuietDispatcher {
  reads = 0;
  writes = 0;
  connects = 0;
  closes = 0;
  override handleConnect(): void { this.connects++; }
  override handleRead(): void { this.reads++; this.recv(65536); }
  override handleWrite(): void { this.writes++; }
  override handleClose(): void { this.closes++; this.close(); }
}

/** A client connected to a raw peer, its connect handled by loop(timeout, false, map, 1). */
async function connected<D extends Counting>(t: Test, map: ChannelMap, make: () => D): Promise<[D, net.Socket]> {
  const { port, accepted } = await rawPeer(t);
  const client = make();
  client.createSocket(ipv4.family);
  client.connect(['127.0.0.1', port]);
  await deadline((async () => {
    while (client.connects === 0) await loop(0.1, false, map, 1);
  })(), 'the connection');
  return [client, await deadline(accepted, 'the accepted socket')];
}

t.test('loop(timeout, usePoll, map, 1) called again and again calls handleWrite() of a connected client on every pass next to a busy dispatcher', async (t) => {
  const map = testMap(t);
  const accepted: Counting[] = [];
  const server = new Server(t, map, ipv4, (sock) => { accepted.push(new Counting(sock, map)); });
  await server.opened;
  const client = new Counting(null, map);
  client.createSocket(ipv4.family);
  client.connect(server.addr as Address);
  await deadline((async () => {
    while (client.connects === 0 || accepted.length === 0) await loop(0.1, false, map, 1);
  })(), 'the connection');
  server.close();
  client.writes = 0;
  for (let i = 0; i < 20; i++) await loop(0.1, false, map, 1);
  // Python 3.11: 20 of 20. The replayed connect event costs the client nothing.
  t.equal(client.writes, 20, 'handleWrite() on each of the 20 passes');
  t.equal(client.connects, 1, 'handleConnect() once');
  t.ok((accepted[0]?.writes ?? 0) >= 20, 'the busy neighbour is served too');
});

t.test('loop(timeout, usePoll, map, 1) called again and again while input keeps coming calls both handleRead() and handleWrite()', async (t) => {
  const map = testMap(t);
  const [client, peer] = await connected(t, map, () => new Counting(null, map));
  client.reads = 0;
  client.writes = 0;
  for (let i = 0; i < 50; i++) {
    // Input arrives before each pass, as from a peer that keeps sending.
    await new Promise<void>((resolve) => { peer.write('x', () => { resolve(); }); });
    await deadline((async () => {
      while (client.bufferedAmount === 0) await new Promise((resolve) => setImmediate(resolve));
    })(), 'the byte');
    await loop(0.1, false, map, 1);
  }
  // Python 3.11: 50 reads, 49 writes (its first pass after connecting is a read only).
  t.equal(client.reads, 50, 'handleRead() on every pass');
  t.ok(client.writes >= 49, `handleWrite() on (nearly) every pass: ${client.writes}`);
});

t.test('loop(timeout, usePoll, map, 1) calls handleClose() in the pass that finds a connection reset', async (t) => {
  const map = testMap(t);
  class Quiet extends Counting {
    override writable(): boolean { return false; }
  }
  const [client, peer] = await connected(t, map, () => new Quiet(null, map));
  peer.resetAndDestroy();
  await deadline(client.closed, 'the reset');
  // The ECONNRESET goes to handleClose(), not handleError(): its pass is the one that calls it.
  await loop(5, false, map, 1);
  t.equal(client.closes, 1, 'handleClose() ran in that one pass');
  t.same(client.logs, [], 'handleError() was not called');
});
