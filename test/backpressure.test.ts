// Backpressure, measured (items 2 and 5 of the reliability issue). A fast
// producer against a consumer that reads slowly, in each direction and each
// style, with the far end in another process (a plain node:net peer), so the
// memory measured here is the library side's alone:
//
// - send: this process produces (connects and sends as fast as the library
//   lets it), the peer reads slowly (it stops reading for 4 ms every 128 KiB);
// - receive: the peer produces as fast as its socket takes bytes, this
//   process accepts and reads slowly (it stops for 4 ms every 256 KiB).
//
// Styles: a Channel in for-await style with recv()/send(); Dispatcher and
// DispatcherWithSend under an awaited loop(); the promise helpers write(),
// chunks() and connections(). Each case asserts the high-water marks directly
// (pendingWrite, bufferedAmount, pendingOutput), that the consumer was slower
// (backpressure really applied), that every byte arrived in order, and that
// this process's memory stayed under a bound stated in terms of the marks:
// live memory (heapUsed + arrayBuffers, after a full gc) and RSS, sampled every
// 4 MiB of progress:
//   live <= 2 x (what the marks let the style hold) + 2 MiB
//   RSS  <= 2 x (what the marks let the style hold) + 16 MiB
// (see boundsOf()). Two control cases show that the meter sees unbounded
// buffering. 32 MiB a case here; `npm run stress` moves 256 MiB a case.
// Also: a listener whose user never calls accept() keeps its queue at
// acceptQueueLimit, and counts and reports the connections it drops.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import t from 'tap';
import type { Test } from 'tap';
import {
  AF_INET, AcceptQueueFullError, Channel, ChannelMap, Dispatcher, DispatcherWithSend, closeAll, loop,
} from '../src/index.js';
import type { Address, ChannelEvent, HandlerResult } from '../src/index.js';
import { families, listener, testMap } from './helpers/net.js';
import { nextEvent } from './helpers/events.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bytes per case; the stress run (npm run stress) moves 256 MiB and more. */
const TOTAL = 32 * MiB;
/** The producer's chunk: a fresh buffer each time, as a real producer makes. */
const CHUNK = 64 * KiB;
/** The slow consumer's recv() size. */
const RECV = 16 * KiB;
/**
 * The slow consumer stops reading for STALL_MS after every STALL_EVERY bytes
 * (this process's reader) or SINK_STALL_EVERY bytes (the peer): at most 64
 * and 32 MB/s, slower than either producer even with this process's gc
 * samples (15-30 ms each in a tap process) in its way.
 */
const STALL_EVERY = 256 * KiB;
const SINK_STALL_EVERY = 128 * KiB;
const STALL_MS = 4;
/** Memory is sampled (after a full gc) every SAMPLE_EVERY bytes of progress. */
const SAMPLE_EVERY = 4 * MiB;
/** The library's defaults (docs/guide.md, Bounds and defaults). */
const HWM = 64 * KiB;
/** Node reads at most this much per system call: the chunk that reaches readHighWaterMark. */
const NODE_READ = 64 * KiB;
/** What a paused net.Socket may still hold in its own readable buffer (Node 20: 16 KiB), rounded up. */
const NODE_STREAM = 64 * KiB;
/**
 * Fixed allowances on top of what the marks allow. Live memory: gc and
 * allocator noise, the samples' own bookkeeping. RSS: V8's young generation
 * growing under allocation pressure (up to 2 x 16 MiB semi-spaces) and malloc
 * arenas, which churned 64 KiB buffers leave at their peak size.
 */
const LIVE_ALLOWANCE = 2 * MiB;
const RSS_ALLOWANCE = 16 * MiB;
/** No case may take longer than this (the whole file stays under 30 s). */
const CASE_DEADLINE_MS = 20_000;

const fam = families[0] as (typeof families)[number];

// ---- the pattern: byte k of every stream is TILED[k % PERIOD] ---------------

const PERIOD = 1048573; // a prime, so a lost or repeated power-of-two chunk shows
const TILED = Buffer.allocUnsafe(PERIOD + MiB);
for (let i = 0; i < PERIOD; i++) TILED[i] = ((Math.imul(i, 2654435761) >>> 24) ^ (i >>> 12)) & 0xff;
TILED.copy(TILED, PERIOD, 0, MiB);

/** A fresh buffer holding stream bytes [offset, offset + length); length at most 1 MiB. */
function makeChunk(offset: number, length: number): Buffer {
  const at = offset % PERIOD;
  const chunk = Buffer.allocUnsafe(length);
  TILED.copy(chunk, 0, at, at + length);
  return chunk;
}

/** Whether `data` holds stream bytes from `offset` on. */
function matches(data: Buffer, offset: number): boolean {
  for (let done = 0; done < data.length; done += MiB) {
    const part = data.subarray(done, done + MiB);
    const at = (offset + done) % PERIOD;
    if (!part.equals(TILED.subarray(at, at + part.length))) return false;
  }
  return true;
}

// ---- the peer: a plain node:net process, no library ---------------------------

// sink: listens, prints its port, reads slowly (pauses STALL_MS every STALL_EVERY
// bytes), checks every byte, prints { bytes, mismatchAt } at the end of stream.
// source: connects, writes `bytes` of the pattern as fast as its socket takes
// them (fresh chunks, honouring 'drain'), ends, prints { sent }.
const PEER_SOURCE = `
import net from 'node:net';
const cfg = JSON.parse(process.env.ASYNCORE_PEER);
const MiB = 1 << 20, PERIOD = ${PERIOD};
const tiled = Buffer.allocUnsafe(PERIOD + MiB);
for (let i = 0; i < PERIOD; i++) tiled[i] = ((Math.imul(i, 2654435761) >>> 24) ^ (i >>> 12)) & 0xff;
tiled.copy(tiled, PERIOD, 0, MiB);
const report = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const fail = (e) => { report({ error: String(e && e.stack || e) }); process.exit(1); };
function matches(data, offset) {
  for (let done = 0; done < data.length; done += MiB) {
    const part = data.subarray(done, done + MiB);
    const at = (offset + done) % PERIOD;
    if (!part.equals(tiled.subarray(at, at + part.length))) return false;
  }
  return true;
}
if (cfg.mode === 'sink') {
  const server = net.createServer((sock) => {
    server.close();
    let bytes = 0, mismatchAt = -1, nextStall = cfg.stallEvery;
    sock.on('error', fail);
    sock.on('data', (chunk) => {
      if (mismatchAt < 0 && !matches(chunk, bytes)) mismatchAt = bytes;
      bytes += chunk.length;
      if (bytes >= nextStall) {
        nextStall += cfg.stallEvery;
        sock.pause();
        setTimeout(() => sock.resume(), cfg.stallMs);
      }
    });
    sock.on('end', () => { report({ bytes, mismatchAt }); sock.end(); });
    sock.on('close', () => process.exit(0));
  });
  server.on('error', fail);
  server.listen(0, '127.0.0.1', () => report({ port: server.address().port }));
} else {
  const sock = net.connect({ host: '127.0.0.1', port: cfg.port });
  sock.on('error', fail);
  sock.on('connect', () => {
    let offset = 0;
    const pump = () => {
      while (offset < cfg.bytes) {
        const n = Math.min(cfg.chunk, cfg.bytes - offset);
        const at = offset % PERIOD;
        const chunk = Buffer.from(tiled.subarray(at, at + n));
        offset += n;
        if (!sock.write(chunk)) { sock.once('drain', pump); return; }
      }
      sock.end(() => report({ sent: offset }));
    };
    pump();
  });
  sock.resume();
  sock.on('close', () => process.exit(0));
}
`;

interface PeerConfig { mode: 'sink' | 'source'; port?: number; bytes?: number; chunk?: number; stallEvery?: number; stallMs?: number }

interface Peer {
  /** The next JSON line the peer prints; rejects with its error report, or if it exits first. */
  next(): Promise<Record<string, number>>;
  readonly child: ChildProcess;
}

function spawnPeer(t: Test, config: PeerConfig): Peer {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PEER_SOURCE], {
    env: { ...process.env, ASYNCORE_PEER: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill(); });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  return {
    child,
    async next() {
      const line = await lines.next();
      if (line.done === true) throw new Error(`the ${config.mode} peer exited without a report`);
      const parsed = JSON.parse(line.value) as Record<string, number> & { error?: string };
      if (parsed.error !== undefined) throw new Error(`the ${config.mode} peer failed: ${parsed.error}`);
      return parsed;
    },
  };
}

/** Rejects if `promise` takes longer than `ms`: no case may hang. */
async function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`${what}: still running after ${ms} ms`)); }, ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The slow consumer's pause: a throttle of the workload, not a synchronisation. */
function stall(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, STALL_MS));
}

// ---- the meter -------------------------------------------------------------

/**
 * A full, synchronous garbage collection. The flags are set at run time (tap
 * starts this process): --expose-gc, and no concurrent sweeping of array
 * buffers, without which `arrayBuffers` still counts, for a while after the
 * gc, buffers it freed (spikes of 2-3 MiB that are not there).
 */
function getGc(): () => void {
  v8.setFlagsFromString('--no-concurrent-array-buffer-sweeping');
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed !== undefined) return exposed;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}
const gc = getGc();

/**
 * Live memory (heapUsed + arrayBuffers, after a full gc) and RSS growth over
 * a baseline. arrayBuffers, not external: V8 adjusts `external` lazily, so
 * right after a gc it still counts buffers just freed.
 */
class Meter {
  readonly #base: NodeJS.MemoryUsage;
  #next = SAMPLE_EVERY;
  samples = 0;
  peakHeap = 0;
  peakBuffers = 0;
  peakLive = 0;
  peakRss = 0;
  constructor() {
    gc();
    this.#base = process.memoryUsage();
  }
  /** Samples once `bytes` of progress passed the next sampling point. */
  at(bytes: number): void {
    if (bytes < this.#next) return;
    while (this.#next <= bytes) this.#next += SAMPLE_EVERY;
    this.sample();
  }
  sample(): void {
    gc();
    const now = process.memoryUsage();
    const heap = now.heapUsed - this.#base.heapUsed;
    const buffers = now.arrayBuffers - this.#base.arrayBuffers;
    this.samples++;
    this.peakHeap = Math.max(this.peakHeap, heap);
    this.peakBuffers = Math.max(this.peakBuffers, buffers);
    this.peakLive = Math.max(this.peakLive, heap + buffers);
    this.peakRss = Math.max(this.peakRss, now.rss - this.#base.rss);
  }
}

interface Bounds { live: number; rss: number; formula: string }

/**
 * What the library may hold, from the marks (see the file's head): a sender
 * holds writeHighWaterMark in its socket plus the chunk in hand
 * (DispatcherWithSend also up to outputHighWaterMark + a chunk in its
 * buffer); a reader holds readHighWaterMark plus the read that reached it plus
 * a paused net.Socket's own buffer, plus the chunk it took. Doubled for
 * Node's write requests and copies in flight, plus the fixed allowance.
 */
function boundsOf(holds: number, formula: string): Bounds {
  return {
    live: 2 * holds + LIVE_ALLOWANCE,
    rss: 2 * holds + RSS_ALLOWANCE,
    formula: `2 x (${formula}) + ${LIVE_ALLOWANCE / MiB} MiB live, + ${RSS_ALLOWANCE / MiB} MiB RSS`,
  };
}
const SEND_BOUNDS = boundsOf(HWM + CHUNK, 'writeHighWaterMark + chunk');
const SEND_DWS_BOUNDS = boundsOf(HWM + 2 * CHUNK + HWM, 'outputHighWaterMark + 2 chunks + writeHighWaterMark');
const RECEIVE_BOUNDS = boundsOf(HWM + NODE_READ + NODE_STREAM + RECV, 'readHighWaterMark + 64 KiB read + 64 KiB stream + recv size');

interface Figures {
  bytes: number;
  seconds: number;
  /** The library's own bound, from the counters: pendingWrite, bufferedAmount, pendingOutput. */
  peakQueued: number;
  /** How often the producer was held back (partial or refused sends, waits), or the reader's buffer hit the mark. */
  heldBack: number;
}

function checkMemory(t: Test, meter: Meter, bounds: Bounds): void {
  // One sample per SAMPLE_EVERY bytes of progress, except where one step of
  // the producer passes several points at once (the kernel took a burst).
  t.ok(meter.samples >= TOTAL / SAMPLE_EVERY / 2, `memory sampled ${meter.samples} times over the transfer`);
  t.ok(meter.peakLive <= bounds.live,
    `live memory grew at most ${(meter.peakLive / MiB).toFixed(2)} MiB (heap ${(meter.peakHeap / MiB).toFixed(2)}, buffers ${(meter.peakBuffers / MiB).toFixed(2)}), bound ${(bounds.live / MiB).toFixed(2)} MiB: ${bounds.formula}`);
  t.ok(meter.peakRss <= bounds.rss,
    `RSS grew at most ${(meter.peakRss / MiB).toFixed(2)} MiB, bound ${(bounds.rss / MiB).toFixed(2)} MiB`);
}

// ---- send: this process produces, the peer reads slowly --------------------

/** A slow sink peer, listening; returns it and its address. */
async function sink(t: Test): Promise<{ peer: Peer; address: Address }> {
  const peer = spawnPeer(t, { mode: 'sink', stallEvery: SINK_STALL_EVERY, stallMs: STALL_MS });
  const { port } = await peer.next();
  return { peer, address: ['127.0.0.1', port as number] };
}

async function sendChannel(t: Test, meter: Meter): Promise<Figures> {
  const { peer, address } = await sink(t);
  const map = testMap(t);
  const c = new Channel(null, map);
  c.createSocket(AF_INET);
  c.connect(address);
  const started = performance.now();
  let offset = 0;
  let rest: Buffer = Buffer.alloc(0);
  let peakQueued = 0;
  let heldBack = 0;
  c.writeInterest = true;
  for await (const ev of c) {
    if (ev.type === 'error') throw ev.error;
    if (ev.type !== 'write') continue;
    // A fast producer: fill until send() takes less than offered.
    for (;;) {
      if (rest.length === 0) {
        if (offset === TOTAL) break;
        rest = makeChunk(offset, Math.min(CHUNK, TOTAL - offset));
        offset += rest.length;
      }
      const sent = c.send(rest);
      rest = rest.subarray(sent);
      peakQueued = Math.max(peakQueued, c.pendingWrite);
      if (rest.length > 0) {
        heldBack++;
        break;
      }
    }
    meter.at(offset);
    if (offset === TOTAL && rest.length === 0) break;
  }
  c.close(); // flushes what send() accepted, then ends
  const report = await peer.next();
  t.equal(report.mismatchAt, -1, 'the sink found every byte in order');
  t.equal(report.bytes, TOTAL, 'the sink received every byte');
  t.ok(peakQueued <= HWM, `pendingWrite peaked at ${peakQueued}, at most writeHighWaterMark ${HWM}`);
  return { bytes: report.bytes ?? 0, seconds: (performance.now() - started) / 1000, peakQueued, heldBack };
}

/** A Dispatcher producer: sends a fresh chunk whenever handleWrite() is called and the last one is gone. */
class Producer extends Dispatcher {
  offset = 0;
  rest: Buffer = Buffer.alloc(0);
  peakQueued = 0;
  heldBack = 0;
  constructor(map: ChannelMap, readonly meter: Meter) {
    super(null, map);
  }
  override handleConnect(): void { /* writable() drives everything */ }
  override writable(): boolean {
    return this.rest.length > 0 || this.offset < TOTAL;
  }
  override handleWrite(): void {
    for (;;) {
      if (this.rest.length === 0) {
        if (this.offset === TOTAL) break;
        this.rest = makeChunk(this.offset, Math.min(CHUNK, TOTAL - this.offset));
        this.offset += this.rest.length;
      }
      this.rest = this.rest.subarray(this.send(this.rest));
      this.peakQueued = Math.max(this.peakQueued, this.pendingWrite);
      if (this.rest.length > 0) {
        this.heldBack++;
        break;
      }
    }
    this.meter.at(this.offset);
    if (!this.writable()) this.close();
  }
  override handleRead(): void { this.recv(65536); }
  override handleClose(): void { this.close(); }
  override handleError(error: unknown): void { throw error; }
}

async function sendDispatcher(t: Test, meter: Meter): Promise<Figures> {
  const { peer, address } = await sink(t);
  const map = testMap(t);
  const producer = new Producer(map, meter);
  producer.createSocket(AF_INET);
  producer.connect(address);
  const started = performance.now();
  await loop({ map }); // ends once the producer closed itself: every byte accepted
  const report = await peer.next();
  t.equal(producer.offset, TOTAL);
  t.equal(report.mismatchAt, -1, 'the sink found every byte in order');
  t.equal(report.bytes, TOTAL, 'the sink received every byte');
  t.ok(producer.peakQueued <= HWM, `pendingWrite peaked at ${producer.peakQueued}, at most writeHighWaterMark ${HWM}`);
  return { bytes: report.bytes ?? 0, seconds: (performance.now() - started) / 1000, peakQueued: producer.peakQueued, heldBack: producer.heldBack };
}

/**
 * A DispatcherWithSend producer: send() buffers every byte it is given, so
 * the classic bounded producer offers a chunk only while pendingOutput is
 * under outputHighWaterMark.
 */
class BufferedProducer extends DispatcherWithSend {
  offset = 0;
  peakOutput = 0;
  peakQueued = 0;
  heldBack = 0;
  constructor(map: ChannelMap, readonly meter: Meter) {
    super(null, map);
  }
  override handleConnect(): void { /* writable() drives everything */ }
  override writable(): boolean {
    return super.writable() || this.offset < TOTAL;
  }
  override handleWrite(): void {
    while (this.offset < TOTAL && this.pendingOutput < this.outputHighWaterMark) {
      const chunk = makeChunk(this.offset, Math.min(CHUNK, TOTAL - this.offset));
      this.offset += chunk.length;
      this.send(chunk);
    }
    super.handleWrite();
    if (this.pendingOutput > 0) this.heldBack++;
    this.peakOutput = Math.max(this.peakOutput, this.pendingOutput);
    this.peakQueued = Math.max(this.peakQueued, this.pendingWrite);
    this.meter.at(this.offset);
    if (this.offset === TOTAL && this.pendingOutput === 0) this.close();
  }
  override handleRead(): void { this.recv(65536); }
  override handleClose(): void { this.close(); }
  override handleError(error: unknown): void { throw error; }
}

async function sendDispatcherWithSend(t: Test, meter: Meter): Promise<Figures> {
  const { peer, address } = await sink(t);
  const map = testMap(t);
  const producer = new BufferedProducer(map, meter);
  producer.createSocket(AF_INET);
  producer.connect(address);
  const started = performance.now();
  await loop({ map });
  const report = await peer.next();
  t.equal(producer.offset, TOTAL);
  t.equal(report.mismatchAt, -1, 'the sink found every byte in order');
  t.equal(report.bytes, TOTAL, 'the sink received every byte');
  t.ok(producer.peakOutput < HWM + CHUNK,
    `pendingOutput peaked at ${producer.peakOutput}, under outputHighWaterMark + one chunk (${HWM + CHUNK})`);
  t.ok(producer.peakQueued <= HWM, `pendingWrite peaked at ${producer.peakQueued}, at most writeHighWaterMark ${HWM}`);
  return {
    bytes: report.bytes ?? 0, seconds: (performance.now() - started) / 1000,
    peakQueued: producer.peakOutput + producer.peakQueued, heldBack: producer.heldBack,
  };
}

async function sendHelpers(t: Test, meter: Meter): Promise<Figures> {
  const { peer, address } = await sink(t);
  const map = testMap(t);
  const c = new Channel(null, map);
  c.createSocket(AF_INET);
  c.connect(address);
  await c.opened;
  const started = performance.now();
  let offset = 0;
  let peakQueued = 0;
  let heldBack = 0;
  while (offset < TOTAL) {
    const chunk = makeChunk(offset, Math.min(CHUNK, TOTAL - offset));
    offset += chunk.length;
    const accepted = c.write(chunk);
    // A write() that had to wait for room: the consumer held the producer back.
    if (c.pendingWrite >= HWM) heldBack++;
    peakQueued = Math.max(peakQueued, c.pendingWrite);
    await accepted;
    peakQueued = Math.max(peakQueued, c.pendingWrite);
    meter.at(offset);
  }
  c.close();
  const report = await peer.next();
  t.equal(report.mismatchAt, -1, 'the sink found every byte in order');
  t.equal(report.bytes, TOTAL, 'the sink received every byte');
  t.ok(peakQueued <= HWM, `pendingWrite peaked at ${peakQueued}, at most writeHighWaterMark ${HWM}`);
  return { bytes: report.bytes ?? 0, seconds: (performance.now() - started) / 1000, peakQueued, heldBack };
}

// ---- receive: the peer produces, this process reads slowly ------------------

/** A fast source peer connecting to `server` and sending `total` bytes. */
function source(t: Test, server: Channel, total = TOTAL): Peer {
  const port = (server.addr as [string, number])[1];
  return spawnPeer(t, { mode: 'source', port, bytes: total, chunk: CHUNK });
}

/** The slow reader's bookkeeping, shared by every style. */
class Reader {
  received = 0;
  mismatchAt = -1;
  peakQueued = 0;
  heldBack = 0;
  #nextStall = STALL_EVERY;
  constructor(readonly meter: Meter, readonly readHwm = HWM) {}
  /** Takes one chunk; returns true when it is time to stall. */
  take(data: Buffer): boolean {
    if (this.mismatchAt < 0 && !matches(data, this.received)) this.mismatchAt = this.received;
    this.received += data.length;
    if (this.received < this.#nextStall) return false;
    this.#nextStall += STALL_EVERY;
    return true;
  }
  /** After a stall: the buffer is at its fullest. */
  afterStall(buffered: number): void {
    this.peakQueued = Math.max(this.peakQueued, buffered);
    if (buffered >= this.readHwm) this.heldBack++;
    this.meter.at(this.received);
  }
  check(t: Test, sent: number): void {
    t.equal(sent, TOTAL, 'the source sent every byte');
    t.equal(this.mismatchAt, -1, 'every byte arrived in order');
    t.equal(this.received, TOTAL, 'every byte arrived');
    t.ok(this.peakQueued < this.readHwm + NODE_READ,
      `bufferedAmount peaked at ${this.peakQueued}, under readHighWaterMark + one read (${this.readHwm + NODE_READ})`);
  }
}

async function receiveChannel(t: Test, meter: Meter, options: { readHighWaterMark?: number } = {}): Promise<Figures> {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const peer = source(t, server);
  const started = performance.now();
  let conn: Channel | null = null;
  for await (const ev of server) {
    if (ev.type === 'error') throw ev.error;
    const pair = ev.type === 'accept' ? server.accept() : null;
    if (pair === null) continue;
    conn = new Channel(pair[0], map, options);
    break;
  }
  server.close();
  if (conn === null) throw new Error('no connection');
  const reader = new Reader(meter, options.readHighWaterMark);
  for await (const ev of conn) {
    if (ev.type === 'error') throw ev.error;
    if (ev.type !== 'read') continue;
    const data = conn.recv(RECV);
    if (data === null || data.length === 0) continue; // the end of stream: close comes next
    if (reader.take(data)) {
      await stall();
      reader.afterStall(conn.bufferedAmount);
    }
  }
  const report = await peer.next();
  reader.check(t, report.sent ?? 0);
  return { bytes: reader.received, seconds: (performance.now() - started) / 1000, peakQueued: reader.peakQueued, heldBack: reader.heldBack };
}

/** A slow reading dispatcher: its handler's promise holds the channel's next event back. */
function slowReaderOf(Base: typeof Dispatcher) {
  return class SlowReader extends Base {
    reader: Reader | null = null;
    override handleRead(): HandlerResult {
      const reader = this.reader as Reader;
      const data = this.recv(RECV);
      if (data === null || data.length === 0) return; // the end of stream: handleClose comes next
      if (!reader.take(data)) return;
      return stall().then(() => { reader.afterStall(this.bufferedAmount); });
    }
    override handleClose(): void { this.close(); }
    override handleError(error: unknown): void { throw error; }
  };
}

async function receiveDispatcher(t: Test, meter: Meter, Base: typeof Dispatcher): Promise<Figures> {
  const map = testMap(t);
  const SlowReader = slowReaderOf(Base);
  const reader = new Reader(meter);
  class OneShotServer extends Dispatcher {
    override handleAccepted(sock: net.Socket): void {
      const conn = new SlowReader(sock, map);
      conn.reader = reader;
      this.close(); // one connection
    }
  }
  const server = new OneShotServer(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  const peer = source(t, server);
  const started = performance.now();
  await loop({ map }); // ends once the reader closed at the end of stream
  const report = await peer.next();
  reader.check(t, report.sent ?? 0);
  return { bytes: reader.received, seconds: (performance.now() - started) / 1000, peakQueued: reader.peakQueued, heldBack: reader.heldBack };
}

async function receiveHelpers(t: Test, meter: Meter): Promise<Figures> {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const peer = source(t, server);
  const started = performance.now();
  let conn: Channel | null = null;
  for await (const accepted of server.connections()) {
    conn = accepted;
    break;
  }
  server.close();
  if (conn === null) throw new Error('no connection');
  const reader = new Reader(meter);
  for await (const chunk of conn.chunks(RECV)) {
    if (reader.take(chunk)) {
      await stall();
      reader.afterStall(conn.bufferedAmount);
    }
  }
  conn.close();
  const report = await peer.next();
  reader.check(t, report.sent ?? 0);
  return { bytes: reader.received, seconds: (performance.now() - started) / 1000, peakQueued: reader.peakQueued, heldBack: reader.heldBack };
}

// ---- the cases ---------------------------------------------------------------

interface Case {
  direction: 'send' | 'receive';
  style: string;
  bounds: Bounds;
  run(t: Test, meter: Meter): Promise<Figures>;
}

const cases: Case[] = [
  { direction: 'send', style: 'Channel for await, send()', bounds: SEND_BOUNDS, run: sendChannel },
  { direction: 'send', style: 'Dispatcher, await loop()', bounds: SEND_BOUNDS, run: sendDispatcher },
  { direction: 'send', style: 'DispatcherWithSend, await loop()', bounds: SEND_DWS_BOUNDS, run: sendDispatcherWithSend },
  { direction: 'send', style: 'helpers, write()', bounds: SEND_BOUNDS, run: sendHelpers },
  { direction: 'receive', style: 'Channel for await, recv()', bounds: RECEIVE_BOUNDS, run: (t, m) => receiveChannel(t, m) },
  { direction: 'receive', style: 'Dispatcher, await loop()', bounds: RECEIVE_BOUNDS, run: (t, m) => receiveDispatcher(t, m, Dispatcher) },
  { direction: 'receive', style: 'DispatcherWithSend, await loop()', bounds: RECEIVE_BOUNDS, run: (t, m) => receiveDispatcher(t, m, DispatcherWithSend) },
  { direction: 'receive', style: 'helpers, connections() and chunks()', bounds: RECEIVE_BOUNDS, run: receiveHelpers },
];

for (const c of cases) {
  t.test(`backpressure, ${c.direction}: ${c.style}: a fast producer and a slow consumer in another process stay bounded`, async (t) => {
    const meter = new Meter();
    const figures = await deadline(c.run(t, meter), CASE_DEADLINE_MS, c.style);
    meter.sample();
    t.ok(figures.heldBack > 0, `the consumer held the producer back (${figures.heldBack} times): backpressure applied`);
    checkMemory(t, meter, c.bounds);
    t.comment(`${c.direction} ${c.style}: ${(figures.bytes / MiB).toFixed(0)} MiB in ${figures.seconds.toFixed(2)} s, `
      + `${(figures.bytes / 1e6 / figures.seconds).toFixed(0)} MB/s, peak queued ${figures.peakQueued} B, `
      + `live +${(meter.peakLive / MiB).toFixed(2)} MiB, RSS +${(meter.peakRss / MiB).toFixed(2)} MiB`);
  });
}

// ---- controls: the meter sees unbounded buffering ---------------------------

/** A DispatcherWithSend given every byte at once: its send() buffers them all, as documented. */
class Dumper extends DispatcherWithSend {
  constructor(map: ChannelMap, readonly meter: Meter) {
    super(null, map);
  }
  override handleConnect(): void {
    for (let offset = 0; offset < TOTAL; offset += CHUNK) this.send(makeChunk(offset, CHUNK));
    this.meter.sample();
    this.close(); // hands every buffered byte to the socket, which flushes them, then ends
    this.meter.sample();
  }
  override handleRead(): void { this.recv(65536); }
  override handleClose(): void { this.close(); }
  override handleError(error: unknown): void { throw error; }
}

t.test('backpressure control, send: the meter sees a producer that ignores backpressure (DispatcherWithSend.send() of everything at once)', async (t) => {
  const meter = new Meter();
  const { peer, address } = await sink(t);
  const map = testMap(t);
  const dumper = new Dumper(map, meter);
  dumper.createSocket(AF_INET);
  dumper.connect(address);
  await deadline(loop({ map }).then(() => peer.next()), CASE_DEADLINE_MS, 'control, send').then((report) => {
    t.equal(report.mismatchAt, -1, 'the sink found every byte in order');
    t.equal(report.bytes, TOTAL, 'the sink received every byte');
  });
  t.ok(meter.peakLive > SEND_DWS_BOUNDS.live,
    `live memory grew ${(meter.peakLive / MiB).toFixed(2)} MiB, over the bound of ${(SEND_DWS_BOUNDS.live / MiB).toFixed(2)} MiB`);
});

t.test('backpressure control, receive: the meter sees a reader whose readHighWaterMark is above the transfer', async (t) => {
  const meter = new Meter();
  const readHighWaterMark = 2 * TOTAL;
  const figures = await deadline(receiveChannel(t, meter, { readHighWaterMark }), CASE_DEADLINE_MS, 'control, receive');
  t.ok(figures.peakQueued > RECEIVE_BOUNDS.live, `bufferedAmount reached ${figures.peakQueued}`);
  t.ok(meter.peakLive > RECEIVE_BOUNDS.live,
    `live memory grew ${(meter.peakLive / MiB).toFixed(2)} MiB, over the bound of ${(RECEIVE_BOUNDS.live / MiB).toFixed(2)} MiB`);
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
      wave.push(new Promise((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('close', () => { reject(new Error('closed before connecting')); });
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
    const clients = await deadline(openClients(t, port, queueLimit + extra), CASE_DEADLINE_MS, 'connecting');
    // A connection beyond the limit is closed at once: wait for those closes.
    await deadline(closedCount(clients, extra), CASE_DEADLINE_MS, 'drops');
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
    await deadline(closedCount(more, 2), CASE_DEADLINE_MS, 'later drops');
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
    await deadline(replies, CASE_DEADLINE_MS, 'replies');
    t.equal(heard, queueLimit, 'each queued connection carried a byte to its client once accepted');
    closeAll(map);
    await deadline(closedCount(open, open.length), CASE_DEADLINE_MS, 'closing');
  });
}
