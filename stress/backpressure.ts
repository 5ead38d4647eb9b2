// Backpressure at volume: a fast producer against a slow consumer in another
// process, each direction (send: this process produces, a plain node:net
// peer reads slowly; receive: the peer produces as fast as its socket takes
// bytes, this process reads slowly) and each style (a Channel in for-await
// style with recv()/send(); Dispatcher and DispatcherWithSend under an
// awaited loop(); the promise helpers write(), connections() and chunks()),
// at each high-water mark given. Every case runs in a fresh child process
// (node --expose-gc --no-concurrent-array-buffer-sweeping), which spawns its
// peer, checks every byte, and measures its own memory: live memory
// (heapUsed + arrayBuffers after a full gc, every `sampleEvery` bytes) and RSS
// (sampled, and the kernel's peak, maxRSS), as growth over a baseline taken
// once connected. The bounds:
//   live <= 2 x (what the marks let the style hold) + 2 MiB
//   RSS  <= 2 x (what the marks let the style hold) + rssAllowance (32 MiB here)
// test/backpressure-send.test.ts and -receive.test.ts run these same cases from source at 32 MiB, with
// its own Tuning (faster stalls, 4 MiB samples, a 16 MiB RSS allowance) and the
// two controls (the `dump` style, and a read mark above the transfer).
//
//   node build/stress/run.js     (all stress parts)
//   node --expose-gc --no-concurrent-array-buffer-sweeping build/stress/backpressure.js \
//     --case send:channel --bytes 268435456 --hwm 65536
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AF_INET, Channel, ChannelMap, Dispatcher, DispatcherWithSend, loop } from 'asyncore';
import type { Address, HandlerResult } from 'asyncore';
import { endWithParent } from './child.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const RECV = 16 * KiB;
const STALL_MS = 4;
const NODE_READ = 64 * KiB;
const NODE_STREAM = 64 * KiB;
export const LIVE_ALLOWANCE = 2 * MiB;

/** What a run may change: the consumers' pace, the sampling and the RSS allowance. */
export interface Tuning {
  /** This process's slow reader stops for 4 ms after every so many bytes. */
  stallEvery: number;
  /** The sink peer stops for 4 ms after every so many bytes. */
  sinkStallEvery: number;
  /** Memory is sampled (after a full gc) every so many bytes of progress. */
  sampleEvery: number;
  /** The fixed RSS allowance on top of what the marks let a style hold. */
  rssAllowance: number;
  /** A control's read mark, far above the bound's (the meter must see it). */
  readMark?: number;
}

/** `npm run stress`: a fresh process per case, 512 KiB stalls, 8 MiB samples, 32 MiB RSS allowance. */
export const STRESS_TUNING: Tuning = { stallEvery: 512 * KiB, sinkStallEvery: 512 * KiB, sampleEvery: 8 * MiB, rssAllowance: 32 * MiB };
let tuning = STRESS_TUNING;

export const DIRECTIONS = ['send', 'receive'] as const;
export const STYLES = ['channel', 'dispatcher', 'dispatcher-with-send', 'helpers'] as const;
export type Direction = (typeof DIRECTIONS)[number];
/** The styles, and `dump`: a control that sends everything at once, ignoring backpressure. */
export type Style = (typeof STYLES)[number] | 'dump';
export const STYLE_NAMES: Record<Style, string> = {
  channel: 'Channel for await',
  dispatcher: 'Dispatcher',
  'dispatcher-with-send': 'DispatcherWithSend',
  helpers: 'helpers',
  dump: 'DispatcherWithSend.send() of everything at once (control)',
};

export interface CaseFigures {
  direction: Direction;
  style: Style;
  hwm: number;
  bytes: number;
  seconds: number;
  mbPerSecond: number;
  /** The library's own counters at their peak: pendingWrite, bufferedAmount, pendingOutput (+ pendingWrite). */
  peakQueued: number;
  /** How often the consumer held the producer back. */
  heldBack: number;
  samples: number;
  peakHeap: number;
  peakBuffers: number;
  peakLive: number;
  peakRss: number;
  /** maxRSS (the kernel's peak) over the baseline RSS. */
  maxRssGrowth: number;
  boundLive: number;
  boundRss: number;
  formula: string;
  pass: boolean;
  failures: string[];
}

// ---- the pattern: byte k of every stream is TILED[k % PERIOD] ---------------

const PERIOD = 1048573;
const TILED = Buffer.allocUnsafe(PERIOD + MiB);
for (let i = 0; i < PERIOD; i++) TILED[i] = ((Math.imul(i, 2654435761) >>> 24) ^ (i >>> 12)) & 0xff;
TILED.copy(TILED, PERIOD, 0, MiB);

function makeChunk(offset: number, length: number): Buffer {
  const at = offset % PERIOD;
  const chunk = Buffer.allocUnsafe(length);
  TILED.copy(chunk, 0, at, at + length);
  return chunk;
}

function matches(data: Buffer, offset: number): boolean {
  for (let done = 0; done < data.length; done += MiB) {
    const part = data.subarray(done, done + MiB);
    const at = (offset + done) % PERIOD;
    if (!part.equals(TILED.subarray(at, at + part.length))) return false;
  }
  return true;
}

// ---- the peer (plain node:net, no library) ----------------------------------

interface PeerConfig { mode: 'sink' | 'source'; port?: number; bytes?: number; stallEvery?: number }

function report(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

function peer(config: PeerConfig): void {
  const fail = (e: unknown): void => {
    report({ error: e instanceof Error ? e.stack ?? e.message : String(e) });
    process.exit(1);
  };
  if (config.mode === 'sink') {
    const server = net.createServer((sock) => {
      server.close();
      let bytes = 0;
      let mismatchAt = -1;
      const stallEvery = config.stallEvery ?? STRESS_TUNING.sinkStallEvery;
      let nextStall = stallEvery;
      sock.on('error', fail);
      sock.on('data', (chunk: Buffer) => {
        if (mismatchAt < 0 && !matches(chunk, bytes)) mismatchAt = bytes;
        bytes += chunk.length;
        if (bytes >= nextStall) {
          nextStall += stallEvery;
          sock.pause();
          setTimeout(() => sock.resume(), STALL_MS);
        }
      });
      sock.on('end', () => { report({ bytes, mismatchAt }); sock.end(); });
      sock.on('close', () => process.exit(0));
    });
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => { report({ port: (server.address() as net.AddressInfo).port }); });
  } else {
    const total = config.bytes ?? 0;
    const sock = net.connect({ host: '127.0.0.1', port: config.port ?? 0 });
    sock.on('error', fail);
    sock.on('connect', () => {
      let offset = 0;
      const pump = (): void => {
        while (offset < total) {
          const chunk = makeChunk(offset, Math.min(CHUNK, total - offset));
          offset += chunk.length;
          if (!sock.write(chunk)) {
            sock.once('drain', pump);
            return;
          }
        }
        sock.end(() => { report({ sent: offset }); });
      };
      pump();
    });
    sock.resume();
    sock.on('close', () => process.exit(0));
  }
}

interface Peer { next(): Promise<Record<string, number>>; child: ChildProcess }

function spawnPeer(config: PeerConfig): Peer {
  // This process's own node options (a TypeScript loader when run from source).
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--peer', JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  child.channel?.unref();
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

function stall(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, STALL_MS));
}

// ---- the meter ---------------------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc ?? ((): void => { throw new Error('run with --expose-gc'); });

class Meter {
  #base: NodeJS.MemoryUsage | null = null;
  #next = tuning.sampleEvery;
  samples = 0;
  peakHeap = 0;
  peakBuffers = 0;
  peakLive = 0;
  peakRss = 0;
  /** Takes the baseline: call once connected, before the transfer. */
  start(): void {
    gc();
    this.#base = process.memoryUsage();
  }
  get baseRss(): number {
    return this.#base?.rss ?? 0;
  }
  at(bytes: number): void {
    if (bytes < this.#next) return;
    while (this.#next <= bytes) this.#next += tuning.sampleEvery;
    this.sample();
  }
  sample(): void {
    const base = this.#base;
    if (base === null) return;
    gc();
    const now = process.memoryUsage();
    const heap = now.heapUsed - base.heapUsed;
    const buffers = now.arrayBuffers - base.arrayBuffers;
    this.samples++;
    this.peakHeap = Math.max(this.peakHeap, heap);
    this.peakBuffers = Math.max(this.peakBuffers, buffers);
    this.peakLive = Math.max(this.peakLive, heap + buffers);
    this.peakRss = Math.max(this.peakRss, now.rss - base.rss);
  }
}

interface Outcome { bytes: number; peakQueued: number; heldBack: number; failures: string[] }

// ---- send: this process produces --------------------------------------------

async function sink(): Promise<{ peer: Peer; address: Address }> {
  const p = spawnPeer({ mode: 'sink', stallEvery: tuning.sinkStallEvery });
  const { port } = await p.next();
  return { peer: p, address: ['127.0.0.1', port ?? 0] };
}

function checkSink(report: Record<string, number>, total: number, failures: string[]): number {
  if (report.mismatchAt !== -1) failures.push(`the sink found a wrong byte at ${String(report.mismatchAt)}`);
  if (report.bytes !== total) failures.push(`the sink received ${String(report.bytes)} bytes of ${total}`);
  return report.bytes ?? 0;
}

/** A channel connected to a slow sink, the meter's baseline taken once connected. */
async function connectedToSink(hwm: number, meter: Meter): Promise<{ p: Peer; c: Channel }> {
  const { peer: p, address } = await sink();
  const c = new Channel(null, new ChannelMap(), { writeHighWaterMark: hwm });
  c.createSocket(AF_INET);
  c.connect(address);
  await c.opened;
  meter.start();
  return { p, c };
}

async function sendChannel(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const { p, c } = await connectedToSink(hwm, meter);
  let offset = 0;
  let rest: Buffer = Buffer.alloc(0);
  let peakQueued = 0;
  let heldBack = 0;
  c.writeInterest = true;
  for await (const ev of c) {
    if (ev.type === 'error') throw ev.error;
    if (ev.type !== 'write') continue;
    for (;;) {
      if (rest.length === 0) {
        if (offset === total) break;
        rest = makeChunk(offset, Math.min(CHUNK, total - offset));
        offset += rest.length;
      }
      rest = rest.subarray(c.send(rest));
      peakQueued = Math.max(peakQueued, c.pendingWrite);
      if (rest.length > 0) {
        heldBack++;
        break;
      }
    }
    meter.at(offset);
    if (offset === total && rest.length === 0) break;
  }
  c.close();
  const failures: string[] = [];
  const bytes = checkSink(await p.next(), total, failures);
  if (peakQueued > hwm) failures.push(`pendingWrite peaked at ${peakQueued}, over ${hwm}`);
  return { bytes, peakQueued, heldBack, failures };
}

class Producer extends Dispatcher {
  offset = 0;
  rest: Buffer = Buffer.alloc(0);
  peakQueued = 0;
  heldBack = 0;
  constructor(map: ChannelMap, hwm: number, readonly total: number, readonly meter: Meter) {
    super(null, map, { writeHighWaterMark: hwm });
  }
  override handleConnect(): void { this.meter.start(); }
  override writable(): boolean { return this.rest.length > 0 || this.offset < this.total; }
  override handleWrite(): void {
    for (;;) {
      if (this.rest.length === 0) {
        if (this.offset === this.total) break;
        this.rest = makeChunk(this.offset, Math.min(CHUNK, this.total - this.offset));
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

/** Connects a dispatcher to a slow sink and runs it under an awaited loop(); checks what the sink got. */
async function throughLoop<T extends Dispatcher>(total: number, make: (map: ChannelMap) => T): Promise<{ producer: T; bytes: number; failures: string[] }> {
  const { peer: p, address } = await sink();
  const map = new ChannelMap();
  const producer = make(map);
  producer.createSocket(AF_INET);
  producer.connect(address);
  await loop({ map });
  const failures: string[] = [];
  const bytes = checkSink(await p.next(), total, failures);
  return { producer, bytes, failures };
}

async function sendDispatcher(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const { producer, bytes, failures } = await throughLoop(total, (map) => new Producer(map, hwm, total, meter));
  if (producer.peakQueued > hwm) failures.push(`pendingWrite peaked at ${producer.peakQueued}, over ${hwm}`);
  return { bytes, peakQueued: producer.peakQueued, heldBack: producer.heldBack, failures };
}

class BufferedProducer extends DispatcherWithSend {
  offset = 0;
  peakOutput = 0;
  peakQueued = 0;
  heldBack = 0;
  constructor(map: ChannelMap, hwm: number, readonly total: number, readonly meter: Meter) {
    super(null, map, { writeHighWaterMark: hwm });
    this.outputHighWaterMark = hwm;
  }
  override handleConnect(): void { this.meter.start(); }
  override writable(): boolean { return super.writable() || this.offset < this.total; }
  override handleWrite(): void {
    while (this.offset < this.total && this.pendingOutput < this.outputHighWaterMark) {
      const chunk = makeChunk(this.offset, Math.min(CHUNK, this.total - this.offset));
      this.offset += chunk.length;
      this.send(chunk);
    }
    super.handleWrite();
    if (this.pendingOutput > 0) this.heldBack++;
    this.peakOutput = Math.max(this.peakOutput, this.pendingOutput);
    this.peakQueued = Math.max(this.peakQueued, this.pendingWrite);
    this.meter.at(this.offset);
    if (this.offset === this.total && this.pendingOutput === 0) this.close();
  }
  override handleRead(): void { this.recv(65536); }
  override handleClose(): void { this.close(); }
  override handleError(error: unknown): void { throw error; }
}

async function sendDispatcherWithSend(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const { producer, bytes, failures } = await throughLoop(total, (map) => new BufferedProducer(map, hwm, total, meter));
  if (producer.peakOutput >= hwm + CHUNK) failures.push(`pendingOutput peaked at ${producer.peakOutput}, not under ${hwm + CHUNK}`);
  if (producer.peakQueued > hwm) failures.push(`pendingWrite peaked at ${producer.peakQueued}, over ${hwm}`);
  return { bytes, peakQueued: producer.peakOutput + producer.peakQueued, heldBack: producer.heldBack, failures };
}

/** The control: a DispatcherWithSend given every byte at once buffers them all, as documented. */
class Dumper extends DispatcherWithSend {
  constructor(map: ChannelMap, readonly total: number, readonly meter: Meter) {
    super(null, map);
  }
  override handleConnect(): void {
    this.meter.start();
    for (let offset = 0; offset < this.total; offset += CHUNK) this.send(makeChunk(offset, Math.min(CHUNK, this.total - offset)));
    this.meter.sample();
    this.close(); // hands every buffered byte to the socket, which flushes them, then ends
    this.meter.sample();
  }
  override handleRead(): void { this.recv(65536); }
  override handleClose(): void { this.close(); }
  override handleError(error: unknown): void { throw error; }
}

async function sendDump(total: number, meter: Meter): Promise<Outcome> {
  const { bytes, failures } = await throughLoop(total, (map) => new Dumper(map, total, meter));
  return { bytes, peakQueued: 0, heldBack: 0, failures };
}

async function sendHelpers(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const { p, c } = await connectedToSink(hwm, meter);
  let offset = 0;
  let peakQueued = 0;
  let heldBack = 0;
  while (offset < total) {
    const chunk = makeChunk(offset, Math.min(CHUNK, total - offset));
    offset += chunk.length;
    const accepted = c.write(chunk);
    if (c.pendingWrite >= hwm) heldBack++;
    peakQueued = Math.max(peakQueued, c.pendingWrite);
    await accepted;
    peakQueued = Math.max(peakQueued, c.pendingWrite);
    meter.at(offset);
  }
  c.close();
  const failures: string[] = [];
  const bytes = checkSink(await p.next(), total, failures);
  if (peakQueued > hwm) failures.push(`pendingWrite peaked at ${peakQueued}, over ${hwm}`);
  return { bytes, peakQueued, heldBack, failures };
}

// ---- receive: the peer produces, this process reads slowly -------------------

class Reader {
  received = 0;
  mismatchAt = -1;
  peakQueued = 0;
  heldBack = 0;
  #nextStall = tuning.stallEvery;
  constructor(readonly meter: Meter, readonly hwm: number) {}
  take(data: Buffer): boolean {
    if (this.mismatchAt < 0 && !matches(data, this.received)) this.mismatchAt = this.received;
    this.received += data.length;
    if (this.received < this.#nextStall) return false;
    this.#nextStall += tuning.stallEvery;
    return true;
  }
  afterStall(buffered: number): void {
    this.peakQueued = Math.max(this.peakQueued, buffered);
    if (buffered >= this.hwm) this.heldBack++;
    this.meter.at(this.received);
  }
  outcome(sent: number, total: number): Outcome {
    const failures: string[] = [];
    if (sent !== total) failures.push(`the source sent ${sent} of ${total}`);
    if (this.mismatchAt !== -1) failures.push(`a wrong byte at ${this.mismatchAt}`);
    if (this.received !== total) failures.push(`received ${this.received} of ${total}`);
    if (this.peakQueued >= this.hwm + NODE_READ) failures.push(`bufferedAmount peaked at ${this.peakQueued}, not under ${this.hwm + NODE_READ}`);
    return { bytes: this.received, peakQueued: this.peakQueued, heldBack: this.heldBack, failures };
  }
}

/** Listens on a loopback port; resolves with it. */
async function listening(channel: Channel): Promise<number> {
  channel.createSocket(AF_INET);
  channel.bind(['127.0.0.1', 0]);
  channel.listen(5);
  await channel.opened;
  return (channel.addr as [string, number])[1];
}

async function receiveChannel(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const map = new ChannelMap();
  const server = new Channel(null, map);
  const p = spawnPeer({ mode: 'source', port: await listening(server), bytes: total });
  let conn: Channel | null = null;
  for await (const ev of server) {
    const pair = ev.type === 'accept' ? server.accept() : null;
    if (pair === null) continue;
    conn = new Channel(pair[0], map, { readHighWaterMark: tuning.readMark ?? hwm });
    break;
  }
  server.close();
  if (conn === null) throw new Error('no connection');
  meter.start();
  const reader = new Reader(meter, hwm);
  for await (const ev of conn) {
    if (ev.type === 'error') throw ev.error;
    if (ev.type !== 'read') continue;
    const data = conn.recv(RECV);
    if (data === null || data.length === 0) continue;
    if (reader.take(data)) {
      await stall();
      reader.afterStall(conn.bufferedAmount);
    }
  }
  return reader.outcome((await p.next()).sent ?? 0, total);
}

function slowReaderOf(Base: typeof Dispatcher) {
  return class SlowReader extends Base {
    reader: Reader | null = null;
    override handleRead(): HandlerResult {
      const reader = this.reader as Reader;
      const data = this.recv(RECV);
      if (data === null || data.length === 0) return;
      if (!reader.take(data)) return;
      return stall().then(() => { reader.afterStall(this.bufferedAmount); });
    }
    override handleClose(): void { this.close(); }
    override handleError(error: unknown): void { throw error; }
  };
}

async function receiveDispatcher(total: number, hwm: number, meter: Meter, Base: typeof Dispatcher): Promise<Outcome> {
  const map = new ChannelMap();
  const SlowReader = slowReaderOf(Base);
  const reader = new Reader(meter, hwm);
  class OneShotServer extends Dispatcher {
    override handleAccepted(sock: net.Socket): void {
      const conn = new SlowReader(sock, map, { readHighWaterMark: hwm });
      if (conn instanceof DispatcherWithSend) conn.outputHighWaterMark = hwm;
      conn.reader = reader;
      meter.start();
      this.close();
    }
  }
  const server = new OneShotServer(null, map);
  const p = spawnPeer({ mode: 'source', port: await listening(server), bytes: total });
  await loop({ map });
  return reader.outcome((await p.next()).sent ?? 0, total);
}

async function receiveHelpers(total: number, hwm: number, meter: Meter): Promise<Outcome> {
  const map = new ChannelMap();
  const server = new Channel(null, map);
  const p = spawnPeer({ mode: 'source', port: await listening(server), bytes: total });
  let conn: Channel | null = null;
  for await (const accepted of server.connections({ readHighWaterMark: hwm })) {
    conn = accepted;
    break;
  }
  server.close();
  if (conn === null) throw new Error('no connection');
  meter.start();
  const reader = new Reader(meter, hwm);
  for await (const chunk of conn.chunks(RECV)) {
    if (reader.take(chunk)) {
      await stall();
      reader.afterStall(conn.bufferedAmount);
    }
  }
  conn.close();
  return reader.outcome((await p.next()).sent ?? 0, total);
}

// ---- one case, in this process ----------------------------------------------

/** What the marks let a style hold (see the file's head and the test). */
export function holds(direction: Direction, style: Style, hwm: number): { bytes: number; formula: string } {
  if (direction === 'receive') {
    return { bytes: hwm + NODE_READ + NODE_STREAM + RECV, formula: 'readHighWaterMark + 64 KiB read + 64 KiB stream + 16 KiB recv' };
  }
  if (style === 'dispatcher-with-send' || style === 'dump') {
    return { bytes: 2 * hwm + 2 * CHUNK, formula: 'outputHighWaterMark + writeHighWaterMark + 2 x 64 KiB chunks' };
  }
  return { bytes: hwm + CHUNK, formula: 'writeHighWaterMark + 64 KiB chunk' };
}

export async function runCase(direction: Direction, style: Style, total: number, hwm: number, tuned = STRESS_TUNING): Promise<CaseFigures> {
  tuning = tuned;
  const meter = new Meter();
  const started = performance.now();
  let outcome: Outcome;
  if (direction === 'send') {
    outcome = style === 'dump' ? await sendDump(total, meter)
      : style === 'channel' ? await sendChannel(total, hwm, meter)
      : style === 'dispatcher' ? await sendDispatcher(total, hwm, meter)
        : style === 'dispatcher-with-send' ? await sendDispatcherWithSend(total, hwm, meter)
          : await sendHelpers(total, hwm, meter);
  } else {
    outcome = style === 'channel' ? await receiveChannel(total, hwm, meter)
      : style === 'dispatcher' ? await receiveDispatcher(total, hwm, meter, Dispatcher)
        : style === 'dispatcher-with-send' ? await receiveDispatcher(total, hwm, meter, DispatcherWithSend)
          : await receiveHelpers(total, hwm, meter);
  }
  const seconds = (performance.now() - started) / 1000;
  meter.sample();
  const maxRssGrowth = process.resourceUsage().maxRSS * 1024 - meter.baseRss;
  const { bytes: held, formula } = holds(direction, style, hwm);
  const boundLive = 2 * held + LIVE_ALLOWANCE;
  const boundRss = 2 * held + tuning.rssAllowance;
  const failures = [...outcome.failures];
  if (outcome.heldBack === 0) failures.push('the consumer never held the producer back');
  if (meter.samples < total / tuning.sampleEvery / 2) failures.push(`only ${meter.samples} memory samples`);
  if (meter.peakLive > boundLive) failures.push(`live memory grew ${meter.peakLive}, over ${boundLive}`);
  if (meter.peakRss > boundRss) failures.push(`RSS grew ${meter.peakRss}, over ${boundRss}`);
  if (maxRssGrowth > boundRss) failures.push(`peak RSS (maxRSS) grew ${maxRssGrowth}, over ${boundRss}`);
  return {
    direction, style, hwm, bytes: outcome.bytes, seconds, mbPerSecond: outcome.bytes / 1e6 / seconds,
    peakQueued: outcome.peakQueued, heldBack: outcome.heldBack, samples: meter.samples,
    peakHeap: meter.peakHeap, peakBuffers: meter.peakBuffers, peakLive: meter.peakLive, peakRss: meter.peakRss,
    maxRssGrowth, boundLive, boundRss, formula: `2 x (${formula}) + ${LIVE_ALLOWANCE / MiB} MiB live / + ${tuning.rssAllowance / MiB} MiB RSS`,
    pass: failures.length === 0, failures,
  };
}

// ---- every case, each in a child process -------------------------------------

export interface BackpressureOptions {
  bytes: number;
  hwms: readonly number[];
  /** No case may run longer. */
  caseTimeoutMs: number;
  /** Cases not started by then are skipped (reported as failures). */
  deadline: number;
  onCase?(figures: CaseFigures): void;
}

/**
 * How a case's child process runs: its tuning, node options (a TypeScript
 * loader from source), and the script to run if not this file (a transpiled
 * copy of it).
 */
export interface ChildOptions { tuning?: Tuning; nodeOptions?: readonly string[]; script?: string }

/** Runs one case in a fresh process; a crash or a timeout is a failed case. */
export async function runChild(direction: Direction, style: Style, bytes: number, hwm: number, timeoutMs: number, options: ChildOptions = {}): Promise<CaseFigures> {
  const args = [
    '--expose-gc', '--no-concurrent-array-buffer-sweeping', ...(options.nodeOptions ?? []), options.script ?? fileURLToPath(import.meta.url),
    '--case', `${direction}:${style}`, '--bytes', String(bytes), '--hwm', String(hwm),
    '--tuning', JSON.stringify(options.tuning ?? STRESS_TUNING),
  ];
  // The IPC channel carries nothing: its end tells the child that this process is gone.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  child.channel?.unref();
  let out = '';
  const stdout = child.stdout as Readable; // piped: never null
  stdout.setEncoding('utf8');
  stdout.on('data', (text: string) => { out += text; });
  const timer = setTimeout(() => { child.kill('SIGKILL'); }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
    child.once('close', (c: number | null, s: string | null) => { resolve([c, s]); });
  });
  clearTimeout(timer);
  const last = out.trim().split('\n').pop() ?? '';
  if (signal === null && code === 0 && last !== '') return JSON.parse(last) as CaseFigures;
  return failed(direction, style, hwm, signal !== null ? `killed by ${signal} after ${timeoutMs} ms` : `exited with code ${String(code)}`);
}

function failed(direction: Direction, style: Style, hwm: number, why: string): CaseFigures {
  return {
    direction, style, hwm, bytes: 0, seconds: 0, mbPerSecond: 0, peakQueued: 0, heldBack: 0, samples: 0,
    peakHeap: 0, peakBuffers: 0, peakLive: 0, peakRss: 0, maxRssGrowth: 0, boundLive: 0, boundRss: 0,
    formula: '', pass: false, failures: [why],
  };
}

export async function runBackpressure(options: BackpressureOptions): Promise<CaseFigures[]> {
  const results: CaseFigures[] = [];
  for (const hwm of options.hwms) {
    for (const direction of DIRECTIONS) {
      for (const style of STYLES) {
        const left = options.deadline - Date.now();
        const figures = left < 1000
          ? failed(direction, style, hwm, 'skipped: out of time')
          : await runChild(direction, style, options.bytes, hwm, Math.min(options.caseTimeoutMs, left));
        results.push(figures);
        options.onCase?.(figures);
      }
    }
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name: string): string | undefined => {
    const at = args.indexOf(`--${name}`);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const peerConfig = option('peer');
  const which = option('case');
  if (peerConfig !== undefined) {
    endWithParent('backpressure peer');
    peer(JSON.parse(peerConfig) as PeerConfig);
  } else if (which !== undefined) {
    endWithParent(`backpressure case ${which}`);
    const [direction, style] = which.split(':') as [Direction, Style];
    const tuned = JSON.parse(option('tuning') ?? JSON.stringify(STRESS_TUNING)) as Tuning;
    const figures = await runCase(direction, style, Number(option('bytes') ?? 256 * MiB), Number(option('hwm') ?? 64 * KiB), tuned);
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  }
}
