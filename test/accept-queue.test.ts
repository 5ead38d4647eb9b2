// A listener whose user never calls accept() keeps its queue at
// acceptQueueLimit, and counts and reports the connections it drops (item 5
// of the reliability issue).
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, AcceptQueueFullError, Channel, closeAll } from '../src/index.js';
import type { ChannelEvent } from '../src/index.js';
import { testMap } from './helpers/net.js';
import { nextEvent } from './helpers/events.js';
import { deadline } from './helpers/deadline.js';

/** No step may take longer than this. */
const CASE_DEADLINE_MS = 30_000;

interface RawClient { sock: net.Socket; closed: Promise<void>; isClosed: boolean }

/** Plain clients connecting to `port`, in waves so the kernel's backlog never overflows. */
async function openClients(t: Test, port: number, count: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let start = 0; start < count; start += 32) {
    const wave: Promise<void>[] = [];
    for (let i = start; i < Math.min(count, start + 32); i++) {
      const sock = net.connect({ host: '127.0.0.1', port });
      t.teardown(() => { sock.destroy(); });
      sock.on('error', () => { /* a dropped connection may be reset */ });
      const client: RawClient = {
        sock,
        isClosed: false,
        closed: new Promise((resolve) => sock.once('close', () => { client.isClosed = true; resolve(); })),
      };
      clients.push(client);
      // One beyond the accept queue's bound is reset, maybe before it reports connect.
      wave.push(new Promise((resolve) => {
        sock.once('connect', resolve);
        void client.closed.then(resolve);
      }));
    }
    await Promise.all(wave);
  }
  return clients;
}

/** The AcceptQueueFullError an event carries, or null. */
function queueFull(ev: ChannelEvent): AcceptQueueFullError | null {
  return ev.type === 'error' && ev.error instanceof AcceptQueueFullError ? ev.error : null;
}

/** Resolves once `n` of the clients closed. */
function closedCount(clients: readonly RawClient[], n: number): Promise<void> {
  let closed = 0;
  return new Promise((resolve) => {
    for (const c of clients) void c.closed.then(() => { if (++closed === n) resolve(); });
  });
}

for (const limit of [8, undefined]) {
  const name = limit === undefined ? 'the default acceptQueueLimit (1024)' : `acceptQueueLimit ${limit}`;
  t.test(`backpressure: a listener whose user never calls accept() keeps ${name} connections, and counts and reports the rest`, async (t) => {
    const queueLimit = limit ?? 1024;
    const extra = limit === undefined ? 64 : 3 * limit;
    const map = testMap(t);
    const server = new Channel(null, map, limit === undefined ? {} : { acceptQueueLimit: limit });
    server.createSocket(AF_INET);
    server.bind(['127.0.0.1', 0]);
    // A kernel backlog above the connection count: clients in this process
    // complete their handshakes before Node accepts, and a full backlog
    // would drop SYNs (a second each to retry).
    server.listen(2048);
    await server.opened;
    const port = (server.addr as [string, number])[1];
    const clients = await deadline(openClients(t, port, queueLimit + extra), 'connecting', CASE_DEADLINE_MS);
    // A connection beyond the limit is reset at once: wait for those closes.
    await deadline(closedCount(clients, extra), 'drops', CASE_DEADLINE_MS);
    t.equal(server.droppedConnections, extra, `droppedConnections counts the ${extra} connections beyond the limit`);
    t.equal(clients.filter((c) => c.isClosed).length, extra, 'the others stay open');

    // The report: one error event for every drop since none was taken.
    const it = server[Symbol.asyncIterator]();
    const report = await nextEvent(it);
    t.equal(report.type, 'error', 'the first event is the report');
    const first = queueFull(report);
    t.ok(first !== null, 'an AcceptQueueFullError');
    t.equal(first?.code, 'ERR_ACCEPT_QUEUE_FULL');
    t.equal(first?.dropped, extra, 'dropped counts every connection closed since the last report');
    t.equal((report as Extract<ChannelEvent, { type: 'error' }>).operation, 'accept');
    t.equal((await nextEvent(it)).type, 'accept', 'then accept: connections wait');

    // A report once taken is final: later drops make a new one.
    const more = await openClients(t, port, 2);
    await deadline(closedCount(more, 2), 'later drops', CASE_DEADLINE_MS);
    t.equal(server.droppedConnections, extra + 2);
    const second = await nextEvent(it);
    t.equal(second.type, 'error', 'the next event is a new report');
    t.equal(queueFull(second)?.dropped, 2, 'counting the later drops only');
    await it.return?.();

    // The queue holds exactly the limit, and those connections are alive.
    const accepted: Channel[] = [];
    for (let pair = server.accept(); pair !== null; pair = server.accept()) accepted.push(new Channel(pair[0], map));
    t.equal(accepted.length, queueLimit, `the queue held acceptQueueLimit (${queueLimit}) connections`);
    const open = clients.filter((c) => !c.isClosed);
    let heard = 0;
    const replies = Promise.all(open.map((c) => new Promise<void>((resolve) => c.sock.once('data', () => { heard++; resolve(); }))));
    for (const conn of accepted) conn.send('x');
    await deadline(replies, 'replies', CASE_DEADLINE_MS);
    t.equal(heard, queueLimit, 'each queued connection carried a byte to its client once accepted');
    closeAll(map);
    await deadline(closedCount(open, open.length), 'closing', CASE_DEADLINE_MS);
  });
}
