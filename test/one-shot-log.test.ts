// The one-shot event log is bounded: a listener that keeps producing
// accept-queue reports holds at most the latest 64 for consumers that have
// not taken them, and a new consumer starts with those.
import net from 'node:net';
import t from 'tap';
import { AcceptQueueFullError } from '../src/index.js';
import { families, listener, testMap } from './helpers/net.js';
import { untilEvent } from './helpers/events.js';

const fam = families[0] as (typeof families)[number];
const LOG_LIMIT = 64;

t.test('Channel one-shot log keeps the latest 64 events; a new consumer starts with those', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam, { acceptQueueLimit: 1 });
  const port = (server.addr as [string, number])[1];
  const peers: net.Socket[] = [];
  t.teardown(() => { for (const peer of peers) peer.destroy(); });
  const connect = (): void => {
    const peer = net.connect({ host: '127.0.0.1', port });
    peer.on('error', () => undefined);
    peers.push(peer);
  };
  const taker = server[Symbol.asyncIterator]();
  connect(); // fills the queue; nobody accepts it
  await untilEvent(taker, (ev) => ev.type === 'accept');
  // Each later connection is dropped; taking its report makes the next drop a new report.
  const reports = 70;
  const seen: AcceptQueueFullError[] = [];
  for (let i = 0; i < reports; i++) {
    connect();
    const ev = await untilEvent(taker, (e) => e.type === 'error');
    if (ev.type === 'error' && ev.error instanceof AcceptQueueFullError) seen.push(ev.error);
  }
  await taker.return?.();
  t.equal(seen.length, reports, 'every drop made its own report once the previous one was taken');
  t.equal(server.droppedConnections, reports);
  // A consumer that took none of them sees only the latest 64.
  const late = server[Symbol.asyncIterator]();
  const replayed: unknown[] = [];
  for (;;) {
    const ev = await untilEvent(late, (e) => e.type === 'error' || e.type === 'accept');
    if (ev.type !== 'error') break; // the queued connection's accept comes after the log
    replayed.push(ev.error);
  }
  await late.return?.();
  t.equal(replayed.length, LOG_LIMIT, 'the log holds the latest 64');
  t.same(replayed, seen.slice(reports - LOG_LIMIT), 'in order, the oldest dropped');
});
