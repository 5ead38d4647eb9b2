// Backpressure, measured (items 2 and 5 of the reliability issue). A fast
// producer against a consumer that reads slowly, in each direction and each
// style, with the far end in another process (a plain node:net peer), so the
// memory measured is the library side's alone. The cases are the stress
// suite's (stress/backpressure.ts), each run here in a fresh child process
// from source, at 32 MiB instead of 256 and with a tighter RSS allowance:
//
// - send: the child produces (connects and sends as fast as the library lets
//   it), the peer reads slowly (it stops reading for 4 ms every 128 KiB);
// - receive: the peer produces as fast as its socket takes bytes, the child
//   accepts and reads slowly (it stops for 4 ms every 256 KiB).
//
// Styles: a Channel in for-await style with recv()/send(); Dispatcher and
// DispatcherWithSend under an awaited loop(); the promise helpers write(),
// chunks() and connections(). Each case checks the high-water marks directly
// (pendingWrite, bufferedAmount, pendingOutput), that the consumer was slower
// (backpressure really applied), that every byte arrived in order, and that
// the child's memory stayed under a bound stated in terms of the marks: live
// memory (heapUsed + arrayBuffers, after a full gc) and RSS, sampled every
// 4 MiB of progress, and the kernel's peak RSS:
//   live <= 2 x (what the marks let the style hold) + 2 MiB
//   RSS  <= 2 x (what the marks let the style hold) + 16 MiB
// Two control cases show that the meter sees unbounded buffering. (RSS barely
// moves in these children: V8's young generation and malloc's arenas reached
// their working size while the loader compiled the sources.)
// Also: a listener whose user never calls accept() keeps its queue at
// acceptQueueLimit, and counts and reports the connections it drops.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, AcceptQueueFullError, Channel, closeAll } from '../src/index.js';
import type { ChannelEvent } from '../src/index.js';
import { DIRECTIONS, STYLES, STYLE_NAMES, runChild } from '../stress/backpressure.js';
import type { CaseFigures, Direction, Style, Tuning } from '../stress/backpressure.js';
import { testMap } from './helpers/net.js';
import { nextEvent } from './helpers/events.js';
import { deadline } from './helpers/deadline.js';
import { transpiledStress } from './helpers/from-source.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bytes per case; the stress run (npm run stress) moves 256 MiB. */
const TOTAL = 32 * MiB;
/** The library's defaults (docs/guide.md, Bounds and defaults). */
const HWM = 64 * KiB;
/**
 * The readers stop for 4 ms after every 256 KiB (this side) or 128 KiB (the
 * peer): at most 64 and 32 MB/s, slower than either producer. Memory is
 * sampled every 4 MiB. The RSS allowance covers V8's young generation growing
 * under allocation pressure and malloc arenas, which churned 64 KiB buffers
 * leave at their peak size.
 */
const TUNING: Tuning = { stallEvery: 256 * KiB, sinkStallEvery: 128 * KiB, sampleEvery: 4 * MiB, rssAllowance: 16 * MiB };
/** No case may take longer than this. */
const CASE_DEADLINE_MS = 30_000;
/**
 * The file moves 10 x 32 MiB through slow consumers in child processes: about
 * 60 s with the cores to itself, twice that with both busy. tap's default of
 * 60 s per file would make the file's outcome depend on the machine's load;
 * this bound still stops a hang (each case is also killed after
 * CASE_DEADLINE_MS).
 */
t.setTimeout(240_000);
/** The cases run from source, transpiled once for all (the TypeScript loader would cost each child seconds). */
const script = transpiledStress(t, 'backpressure');

const mib = (bytes: number): string => (bytes / MiB).toFixed(2);

function run(direction: Direction, style: Style, tuning = TUNING): Promise<CaseFigures> {
  return runChild(direction, style, TOTAL, HWM, CASE_DEADLINE_MS, { tuning, script });
}

for (const direction of DIRECTIONS) {
  for (const style of STYLES) {
    t.test(`backpressure, ${direction}: ${STYLE_NAMES[style]}: a fast producer and a slow consumer in another process stay bounded`, async (t) => {
      const figures = await run(direction, style);
      t.same(figures.failures, [], 'every check of the case held (bytes, marks, memory)');
      t.equal(figures.bytes, TOTAL, 'every byte arrived, in order');
      t.ok(figures.heldBack > 0, `the consumer held the producer back (${figures.heldBack} times): backpressure applied`);
      t.ok(figures.samples >= TOTAL / TUNING.sampleEvery / 2, `memory sampled ${figures.samples} times over the transfer`);
      t.ok(figures.peakLive <= figures.boundLive,
        `live memory grew at most ${mib(figures.peakLive)} MiB (heap ${mib(figures.peakHeap)}, buffers ${mib(figures.peakBuffers)}), bound ${mib(figures.boundLive)} MiB: ${figures.formula}`);
      t.ok(figures.peakRss <= figures.boundRss && figures.maxRssGrowth <= figures.boundRss,
        `RSS grew at most ${mib(figures.peakRss)} MiB (peak ${mib(figures.maxRssGrowth)}), bound ${mib(figures.boundRss)} MiB`);
      t.comment(`${direction} ${STYLE_NAMES[style]}: ${(figures.bytes / MiB).toFixed(0)} MiB in ${figures.seconds.toFixed(2)} s, `
        + `${figures.mbPerSecond.toFixed(0)} MB/s, peak queued ${figures.peakQueued} B`);
    });
  }
}

// ---- controls: the meter sees unbounded buffering ---------------------------

t.test('backpressure control, send: the meter sees a producer that ignores backpressure (DispatcherWithSend.send() of everything at once)', async (t) => {
  const figures = await run('send', 'dump');
  t.equal(figures.bytes, TOTAL, 'the sink received every byte, in order');
  t.ok(figures.peakLive > figures.boundLive, `live memory grew ${mib(figures.peakLive)} MiB, over the bound of ${mib(figures.boundLive)} MiB`);
  t.ok(figures.failures.some((failure) => failure.startsWith('live memory grew')), 'the case fails on memory');
  t.notOk(figures.failures.some((failure) => /byte|received|sent/.test(failure)), `no byte was lost: ${figures.failures.join('; ')}`);
});

t.test('backpressure control, receive: the meter sees a reader whose readHighWaterMark is above the transfer', async (t) => {
  const figures = await run('receive', 'channel', { ...TUNING, readMark: 2 * TOTAL });
  t.equal(figures.bytes, TOTAL, 'every byte arrived, in order');
  t.ok(figures.peakQueued > figures.boundLive, `bufferedAmount reached ${figures.peakQueued}`);
  t.ok(figures.peakLive > figures.boundLive, `live memory grew ${mib(figures.peakLive)} MiB, over the bound of ${mib(figures.boundLive)} MiB`);
  t.ok(figures.failures.some((failure) => failure.startsWith('live memory grew')), 'the case fails on memory');
});

// ---- the accept queue --------------------------------------------------------

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
