// The write queue of a stream: write() calls resolve in call order, the empty
// one included, and a long queue of small writes drains in linear time
// without holding up the event loop.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import t from 'tap';
import type { Test } from 'tap';
import { channelPair, listen } from '../../src/index.js';
import type { Channel } from '../../src/index.js';
import { testMap } from '../helpers/net.js';
import { deadline } from '../helpers/deadline.js';

/** A raw peer connected to a listener, not reading yet; resolves with it and the accepted channel. */
async function rawPeer(t: Test): Promise<{ peer: net.Socket; conn: Channel }> {
  const map = testMap(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const peer = net.connect({ host: '127.0.0.1', port: server.port as number });
  t.teardown(() => { peer.destroy(); });
  peer.on('error', () => undefined);
  peer.pause();
  const { value: conn } = await deadline(server.connections().next(), 'the accepted connection');
  if (conn === undefined) throw new Error('no connection');
  server.close();
  return { peer, conn };
}

/** Counts the bytes a raw socket receives until its end of stream. */
function received(peer: net.Socket): Promise<number> {
  let total = 0;
  peer.on('data', (chunk: Buffer) => { total += chunk.length; });
  peer.resume();
  return new Promise((resolve) => peer.once('end', () => { resolve(total); }));
}

t.test('Channel.write() of nothing resolves only after the writes queued before it', async (t) => {
  const { peer, conn } = await rawPeer(t);
  const big = Buffer.alloc(4 << 20, 7);
  let bigDone = false;
  const bigWrite = conn.write(big).then(() => { bigDone = true; });
  const flushed = conn.write('');
  const total = received(peer); // reads, so the big write can be accepted
  await deadline(flushed, 'the empty write resolves');
  t.equal(bigDone, true, 'the write before it resolved first');
  conn.close();
  await bigWrite; // not rejected by close(): it was accepted in full
  peer.end();
  t.equal(await deadline(total, 'the peer reads to the end'), big.length, 'the peer gets every byte');
  await deadline(conn.released, 'the socket is released');
});

/**
 * Queues `count` 64-byte writes at once over an in-memory pair (no kernel
 * buffer takes them, so nearly all wait in the queue); resolves with the ms
 * from the last call until the last write is accepted, and the ticks of a
 * 10 ms timer meanwhile.
 */
async function queuedWrites(t: Test, count: number): Promise<{ ms: number; ticks: number }> {
  const [a, b] = channelPair({ map: testMap(t) });
  const chunk = Buffer.alloc(64, 1);
  let total = 0;
  const reading = (async () => {
    for await (const data of b.chunks()) total += data.length;
  })();
  let last: Promise<undefined> | undefined;
  for (let i = 0; i < count; i++) last = a.write(chunk);
  const started = performance.now();
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 10);
  t.teardown(() => { clearInterval(timer); });
  await deadline(last as Promise<undefined>, `${count} writes resolve`, 60_000);
  clearInterval(timer);
  const ms = performance.now() - started;
  a.close();
  await deadline(reading, 'the reader reads to the end');
  b.close();
  t.equal(total, count * 64, `the reader gets all ${count} writes`);
  return { ms, ticks };
}

t.test('Channel.write() queued by the hundred thousand drains in linear time, timers still firing', async (t) => {
  await queuedWrites(t, 2_000); // warm up
  // The fastest of three, against noise from the rest of the machine.
  let small = Infinity;
  for (let i = 0; i < 3; i++) small = Math.min(small, (await queuedWrites(t, 10_000)).ms);
  const large = await queuedWrites(t, 200_000);
  // Twenty times the writes: about twenty times the time when linear, four hundred when quadratic.
  const ratio = large.ms / Math.max(small, 1);
  t.ok(ratio < 100, `twenty times the writes take ${ratio.toFixed(1)} times as long (${small.toFixed(0)} ms, ${large.ms.toFixed(0)} ms)`);
  // The queue drains a window per turn of the event loop, so a timer keeps
  // its pace: on average at least one tick per 100 ms (its interval is 10).
  t.ok(large.ticks >= Math.floor(large.ms / 100), `a 10 ms timer fired ${large.ticks} times in ${large.ms.toFixed(0)} ms`);
});
