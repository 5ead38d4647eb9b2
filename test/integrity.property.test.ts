// Property-based integrity (reliability issue, item 1): over several
// concurrent connections, with random payloads, random write chunkings,
// random recv() sizes, random write high-water marks and random pauses in
// the consumers (so the connections' events interleave differently), every
// byte arrives exactly once and in order — in three styles:
//   (a) `for await` over plain channels with recv()/send() and the
//       partial-send pattern (write interest on while bytes are pending);
//   (b) Dispatcher / DispatcherWithSend subclasses under `await loop()`;
//   (c) the promise helpers write() and chunks() (IPv4 and Unix sockets).
//
// Each connection runs one of three exchanges, chosen at random: `echo` (the
// client sends, the server echoes every byte back), `upload` (the client
// sends, then close()s: the server must get every byte before the end of
// stream) and `download` (the server sends, then close()s: the client must
// get every byte before the end of stream). The client's first byte is its
// index, so the server knows which exchange and payload to expect.
//
// The seed is fixed: FC_SEED picks another one (default 42), FC_RUNS scales
// the number of runs and the time budget (raise tap's --timeout with it), and
// a failure prints fast-check's `{ seed, path }` and the shrunk
// counter-example; replay it (one property, chosen with --grep) with
//   FC_SEED=1234 FC_PATH='7:1:0' npx tap build/t/test/integrity.property.test.js --disable-coverage --grep='Dispatcher and'
// A run that takes more than 4 s is a failure (a hang): every channel of the
// run is then closed, so that nothing waits for ever.
import path from 'node:path';
import type net from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { AF_INET, AF_UNIX, Channel, ChannelMap, closeAll, loop } from '../src/index.js';
import type { Address, ChannelEvent, Dispatcher, Family } from '../src/index.js';
import { tempDir } from './helpers/net.js';
import { macrotask } from './helpers/events.js';
import { QuietDispatcher, QuietDispatcherWithSend, failOnUnhandled } from './helpers/dispatchers.js';
import { checkRuns, propertyParams } from './helpers/property.js';

failOnUnhandled(t);

// ---- fast-check settings ---------------------------------------------------

/** Runs of each property (times FC_RUNS). */
const RUNS = 60;
/** A run that has not finished by then is a failure (a hang), not a wait. */
const RUN_LIMIT_MS = 4000;
/** Each property's whole budget, shrinking included: stops a shrink of hanging runs. */
const PROPERTY_LIMIT_MS = 12000;
const params = (numRuns: number): fc.Parameters<unknown> => propertyParams(numRuns, PROPERTY_LIMIT_MS);

// ---- payloads and cuts -----------------------------------------------------

/** Pseudo-random bytes from a seed (xorshift32): any loss, duplicate or reordering shows. */
function bytes(seed: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let x = seed | 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = (x >>> 8) & 0xff;
  }
  return buf;
}

/** Endless cycling over a non-empty list of numbers. */
function cycle(values: readonly number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length] as number;
}

/** Cuts `data` into pieces whose sizes cycle through `sizes`. */
function cut(data: Buffer, sizes: readonly number[]): Buffer[] {
  const next = cycle(sizes);
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < data.length;) {
    const size = next();
    pieces.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

async function pause(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await macrotask();
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${error.name}${code === undefined ? '' : ` ${code}`}: ${error.message}`;
  }
  return String(error);
}

/** Closes every channel of `map` if a run is still going after RUN_LIMIT_MS: every iteration then ends. */
function watchdog(map: ChannelMap): { readonly expired: boolean; readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort();
    closeAll(map, true);
  }, RUN_LIMIT_MS);
  return {
    get expired() { return expired; },
    signal: controller.signal,
    dispose() { clearTimeout(timer); },
  };
}

// ---- arbitraries -------------------------------------------------------------

type Mode = 'echo' | 'upload' | 'download';

interface ConnSpec {
  readonly mode: Mode;
  readonly length: number;
  readonly dataSeed: number;
  /** How the sender cuts its payload into the buffers it offers. */
  readonly writeSizes: readonly number[];
  readonly clientRecvSizes: readonly number[];
  readonly serverRecvSizes: readonly number[];
  readonly clientWriteHwm: number;
  readonly clientReadHwm: number;
  /** Style (a): a reused read buffer for the client (0: none). */
  readonly readBufferSize: number;
  /** Style (a): the client reads with recvInto() instead of recv(). */
  readonly recvInto: boolean;
  /** Style (a): send() the pending pieces until one is short, or offer one piece per write event. */
  readonly greedy: boolean;
  /** Style (b): the client is a DispatcherWithSend (buffered), not a Dispatcher with its own partial sends. */
  readonly buffered: boolean;
  /** Style (c): await each write(), or queue them all. */
  readonly awaitWrites: boolean;
  /** Macrotasks a consumer yields after each event (cycled): varies the interleaving. */
  readonly jitter: readonly number[];
  /** Macrotasks before the client starts. */
  readonly startDelay: number;
}

interface RunSpec {
  readonly conns: readonly ConnSpec[];
  readonly serverWriteHwm: number;
  readonly serverReadHwm: number;
  /** Style (b): DispatcherWithSend.outputHighWaterMark of the server's connections. */
  readonly outputHwm: number;
  /** Style (b): how the loop is driven. */
  readonly driver: 'await' | 'passes' | 'restart';
  /** Style (b), driver `passes`: the `count` of each `loop(timeout, false, map, count)`. */
  readonly passes: number;
  /** Style (b), driver `restart`: bytes the clients receive before the first loop is stopped. */
  readonly restartAfter: number;
  /** Style (c): the family. */
  readonly unix: boolean;
  /** Style (c): the server's chunks() size. */
  readonly serverChunkSize: number;
}

const sizeArb = fc.oneof(
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }) },
  { weight: 3, arbitrary: fc.integer({ min: 65, max: 8192 }) },
  { weight: 2, arbitrary: fc.integer({ min: 8193, max: 131072 }) },
);
// Tiny sizes (down to 1 byte) are mixed with larger ones, so that a cycle of
// sizes moves at least 65 bytes: the cost of a run stays bounded.
const sizesArb = fc.array(sizeArb, { minLength: 1, maxLength: 5 })
  .map((sizes) => (sizes.every((n) => n <= 64) ? [...sizes, 4096] : sizes));
const hwmArb = fc.oneof(fc.integer({ min: 256, max: 4096 }), fc.integer({ min: 4097, max: 262144 }));

const connArb: fc.Arbitrary<ConnSpec> = fc.record({
  mode: fc.constantFrom<Mode>('echo', 'upload', 'download'),
  length: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 512 }), fc.integer({ min: 513, max: 64 * 1024 })),
  dataSeed: fc.integer({ min: 1, max: 0x7fffffff }),
  writeSizes: sizesArb,
  clientRecvSizes: sizesArb,
  serverRecvSizes: sizesArb,
  clientWriteHwm: hwmArb,
  clientReadHwm: hwmArb,
  readBufferSize: fc.oneof(fc.constant(0), fc.integer({ min: 512, max: 65536 })),
  recvInto: fc.boolean(),
  greedy: fc.boolean(),
  buffered: fc.boolean(),
  awaitWrites: fc.boolean(),
  jitter: fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 6 }),
  startDelay: fc.nat({ max: 3 }),
});

const runArb: fc.Arbitrary<RunSpec> = fc.record({
  conns: fc.array(connArb, { minLength: 2, maxLength: 6 }),
  serverWriteHwm: hwmArb,
  serverReadHwm: hwmArb,
  outputHwm: fc.integer({ min: 1, max: 131072 }),
  driver: fc.constantFrom<RunSpec['driver']>('await', 'passes', 'restart'),
  passes: fc.integer({ min: 1, max: 50 }),
  restartAfter: fc.integer({ min: 1, max: 64 * 1024 }),
  unix: fc.boolean(),
  serverChunkSize: fc.oneof(fc.integer({ min: 64, max: 8192 }), fc.integer({ min: 8193, max: 131072 })),
});

// ---- checking one run --------------------------------------------------------

interface ServerSide {
  /** The client's index (its first byte), -1 if none came. */
  index: number;
  /** Bytes the server received after the index byte. */
  got: Buffer;
}

/** Throws (failing the property) unless every connection carried its bytes exactly. */
function checkRun(
  run: RunSpec,
  payloads: readonly Buffer[],
  clientGot: readonly Buffer[],
  servers: readonly ServerSide[],
  problems: readonly string[],
  expired: boolean,
): void {
  const failures: string[] = [];
  if (expired) failures.push(`the run did not finish within ${RUN_LIMIT_MS} ms`);
  failures.push(...problems);
  if (servers.length !== run.conns.length) failures.push(`the server served ${servers.length} of ${run.conns.length} connections`);
  const indexes = servers.map((s) => s.index).sort((a, b) => a - b);
  if (indexes.join() !== run.conns.map((_, i) => i).join()) failures.push(`the server saw client indexes [${indexes.join()}]`);
  run.conns.forEach((spec, i) => {
    const payload = payloads[i] as Buffer;
    const server = servers.find((s) => s.index === i);
    const toServer = spec.mode === 'download' ? Buffer.alloc(0) : payload;
    const toClient = spec.mode === 'upload' ? Buffer.alloc(0) : payload;
    const got = clientGot[i] ?? Buffer.alloc(0);
    if (server !== undefined && !server.got.equals(toServer)) {
      failures.push(`connection ${i} (${spec.mode}): the server got ${mismatch(server.got, toServer)}`);
    }
    if (!got.equals(toClient)) failures.push(`connection ${i} (${spec.mode}): the client got ${mismatch(got, toClient)}`);
  });
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

function mismatch(got: Buffer, want: Buffer): string {
  const n = Math.min(got.length, want.length);
  let at = 0;
  while (at < n && got[at] === want[at]) at++;
  return `${got.length} bytes, expected ${want.length}; first difference at byte ${at}`;
}

// ---- style (a): for await, recv() and partial send() -----------------------

/** Offers pending pieces to send(): one per write event, or until one is short. */
function sendPending(channel: Channel, pending: Buffer[], greedy: boolean): void {
  while (pending.length > 0) {
    const head = pending[0] as Buffer;
    const sent = channel.send(head);
    if (sent < head.length) {
      pending[0] = head.subarray(sent);
      return;
    }
    pending.shift();
    if (!greedy) return;
  }
}

/** recv() or recvInto() of at most `size` bytes, as a buffer the caller may keep. */
function take(channel: Channel, size: number, into: boolean): Buffer | null {
  if (!into) return channel.recv(size);
  const scratch = Buffer.alloc(size);
  const n = channel.recvInto(scratch);
  return n === null ? null : scratch.subarray(0, n);
}

function errorText(side: string, ev: ChannelEvent): string {
  return ev.type === 'error' ? `${side}: error event (${ev.operation}) ${describe(ev.error)}` : `${side}: ${ev.type} event`;
}

async function clientA(map: ChannelMap, address: Address, index: number, spec: ConnSpec, payload: Buffer, problems: string[]): Promise<Buffer> {
  await pause(spec.startDelay);
  const c = new Channel(null, map, {
    writeHighWaterMark: spec.clientWriteHwm,
    readHighWaterMark: spec.clientReadHwm,
    ...(spec.readBufferSize > 0 ? { readBufferSize: spec.readBufferSize } : {}),
  });
  c.createSocket(AF_INET);
  c.connect(address);
  const pending = [Buffer.from([index]), ...(spec.mode === 'download' ? [] : cut(payload, spec.writeSizes))];
  const recvSize = cycle(spec.clientRecvSizes);
  const jitter = cycle(spec.jitter);
  const got: Buffer[] = [];
  let total = 0;
  const side = `client ${index}`;
  c.writeInterest = true;
  for await (const ev of c) {
    if (ev.type === 'write') {
      sendPending(c, pending, spec.greedy);
      if (pending.length === 0) c.writeInterest = false;
    } else if (ev.type === 'read') {
      const data = take(c, recvSize(), spec.recvInto);
      if (data === null) {
        problems.push(`${side}: a read event, but recv() returned null`);
      } else if (data.length === 0) {
        if (spec.mode !== 'download') problems.push(`${side}: end of stream after ${total} bytes`);
        c.close();
      } else {
        got.push(data);
        total += data.length;
      }
    } else if (ev.type !== 'connect') {
      problems.push(errorText(side, ev));
    }
    // Done? An echo client closes once every byte came back; an uploader once
    // send() accepted every byte (close() must still deliver them).
    if (c.state !== 'closed' && pending.length === 0) {
      if (spec.mode === 'upload') {
        c.close();
      } else if (spec.mode === 'echo' && total >= payload.length) {
        if (c.bufferedAmount !== 0) problems.push(`${side}: ${c.bufferedAmount} bytes beyond the echo`);
        c.close();
      }
    }
    await pause(jitter());
  }
  if (c.state !== 'closed') problems.push(`${side}: the iteration ended with the channel ${c.state}`);
  return Buffer.concat(got);
}

async function serverA(conn: Channel, run: RunSpec, payloads: readonly Buffer[], problems: string[]): Promise<ServerSide> {
  const result: ServerSide = { index: -1, got: Buffer.alloc(0) };
  const got: Buffer[] = [];
  const pending: Buffer[] = [];
  let spec: ConnSpec | null = null;
  let recvSize = (): number => 1;
  let jitter = (): number => 0;
  for await (const ev of conn) {
    const side = `server ${result.index}`;
    if (ev.type === 'read') {
      const data = conn.recv(recvSize());
      if (data === null) {
        problems.push(`${side}: a read event, but recv() returned null`);
      } else if (data.length === 0) {
        if (pending.length > 0) problems.push(`${side}: end of stream with bytes still to send`);
        conn.close();
      } else if (spec === null) {
        result.index = data[0] as number;
        spec = run.conns[result.index] ?? null;
        if (spec === null) {
          problems.push(`server: unknown client index ${result.index}`);
          conn.close();
          continue;
        }
        recvSize = cycle(spec.serverRecvSizes);
        jitter = cycle(spec.jitter);
        if (spec.mode === 'download') {
          pending.push(...cut(payloads[result.index] as Buffer, spec.writeSizes));
          conn.writeInterest = true;
          if (pending.length === 0) conn.close();
        }
      } else {
        got.push(data);
        if (spec.mode === 'echo') {
          pending.push(data);
          conn.writeInterest = true;
        }
      }
    } else if (ev.type === 'write') {
      sendPending(conn, pending, spec?.greedy ?? true);
      if (pending.length === 0) {
        conn.writeInterest = false;
        // A download ends with close(): it must deliver every accepted byte.
        if (spec?.mode === 'download') conn.close();
      }
    } else {
      problems.push(errorText(side, ev));
    }
    await pause(jitter());
  }
  result.got = Buffer.concat(got);
  return result;
}

t.test('for await with recv()/send(): every byte arrives once, in order, over concurrent IPv4 connections', async (t) => {
  let runs = 0;
  await fc.assert(fc.asyncProperty(runArb, async (run) => {
    runs++;
    const map = new ChannelMap();
    const dog = watchdog(map);
    const problems: string[] = [];
    try {
      const payloads = run.conns.map((spec) => bytes(spec.dataSeed, spec.length));
      const server = new Channel(null, map);
      server.createSocket(AF_INET);
      server.bind(['127.0.0.1', 0]);
      server.listen(64);
      await server.opened;
      const served: Promise<ServerSide>[] = [];
      const options = { writeHighWaterMark: run.serverWriteHwm, readHighWaterMark: run.serverReadHwm };
      const accepting = (async () => {
        for await (const ev of server) {
          if (ev.type === 'accept') {
            for (let pair = server.accept(); pair !== null; pair = server.accept()) {
              served.push(serverA(new Channel(pair[0], map, options), run, payloads, problems));
            }
            if (served.length >= run.conns.length) break;
          } else {
            problems.push(errorText('listener', ev));
          }
        }
      })();
      const address = server.addr as Address;
      const clientGot = await Promise.all(run.conns.map((spec, i) => clientA(map, address, i, spec, payloads[i] as Buffer, problems)));
      await accepting;
      const servers = await Promise.all(served);
      server.close();
      checkRun(run, payloads, clientGot, servers, problems, dog.expired);
      if (map.size !== 0) throw new Error(`${map.size} channels still in the map after every connection ended`);
    } finally {
      dog.dispose();
      closeAll(map, true);
    }
  }), params(RUNS));
  checkRuns(t, runs, RUNS);
});

// ---- style (b): dispatchers under loop() ---------------------------------------

interface BContext {
  readonly run: RunSpec;
  readonly map: ChannelMap;
  readonly payloads: readonly Buffer[];
  readonly problems: string[];
  readonly servers: ServerSide[];
  /** Bytes every client received so far (drives the `restart` driver). */
  received: number;
  onReceived: () => void;
}

class ServerB extends QuietDispatcher {
  #accepted = 0;
  readonly #ctx: BContext;
  constructor(ctx: BContext) {
    super(null, ctx.map);
    this.#ctx = ctx;
    this.createSocket(AF_INET);
    this.setReuseAddr();
    this.bind(['127.0.0.1', 0]);
    this.listen(64);
  }
  override handleAccepted(sock: net.Socket): void {
    const conn = new ServerConnB(sock, this.#ctx);
    conn.outputHighWaterMark = this.#ctx.run.outputHwm;
    if (++this.#accepted === this.#ctx.run.conns.length) this.close();
  }
  override handleError(error: unknown): void {
    this.#ctx.problems.push(`listener: handleError ${describe(error)}`);
    this.close();
  }
}

/** The server's side: reads with random sizes, echoes through DispatcherWithSend's buffer, or downloads then close()s. */
class ServerConnB extends QuietDispatcherWithSend {
  readonly #ctx: BContext;
  readonly #result: ServerSide = { index: -1, got: Buffer.alloc(0) };
  readonly #got: Buffer[] = [];
  #spec: ConnSpec | null = null;
  #recvSize = (): number => 1;
  constructor(sock: net.Socket, ctx: BContext) {
    super(sock, ctx.map, { writeHighWaterMark: ctx.run.serverWriteHwm, readHighWaterMark: ctx.run.serverReadHwm });
    this.#ctx = ctx;
    ctx.servers.push(this.#result);
  }
  override handleRead(): void {
    const data = this.recv(this.#recvSize());
    if (data === null) {
      this.#ctx.problems.push(`server ${this.#result.index}: handleRead(), but recv() returned null`);
      return;
    }
    if (data.length === 0) {
      this.#finish();
      this.close();
      return;
    }
    if (this.#spec === null) {
      const index = data[0] as number;
      this.#result.index = index;
      this.#spec = this.#ctx.run.conns[index] ?? null;
      if (this.#spec === null) {
        this.#ctx.problems.push(`server: unknown client index ${index}`);
        this.close();
        return;
      }
      this.#recvSize = cycle(this.#spec.serverRecvSizes);
      if (this.#spec.mode === 'download') {
        for (const piece of cut(this.#ctx.payloads[index] as Buffer, this.#spec.writeSizes)) this.send(piece);
        // close() flushes what DispatcherWithSend still buffers.
        this.#finish();
        this.close();
      }
      return;
    }
    this.#got.push(data);
    if (this.#spec.mode === 'echo') this.send(data);
  }
  #finish(): void {
    this.#result.got = Buffer.concat(this.#got);
  }
  override handleClose(): void {
    this.#ctx.problems.push(`server ${this.#result.index}: handleClose() before the end of stream was taken`);
    this.#finish();
    this.close();
  }
  override handleError(error: unknown): void {
    this.#ctx.problems.push(`server ${this.#result.index}: handleError ${describe(error)}`);
    this.#finish();
    this.close();
  }
}

/** What every client dispatcher does with what it reads; returns whether it is done. */
class ClientReader {
  readonly got: Buffer[] = [];
  total = 0;
  readonly #recvSize: () => number;
  constructor(readonly index: number, readonly spec: ConnSpec, readonly ctx: BContext) {
    this.#recvSize = cycle(spec.clientRecvSizes);
  }
  /** Reads once; returns true when the client should close. */
  read(d: Dispatcher2): boolean {
    const data = d.recv(this.#recvSize());
    if (data === null) {
      this.ctx.problems.push(`client ${this.index}: handleRead(), but recv() returned null`);
      return false;
    }
    if (data.length === 0) {
      if (this.spec.mode !== 'download') this.ctx.problems.push(`client ${this.index}: end of stream after ${this.total} bytes`);
      return true;
    }
    this.got.push(data);
    this.total += data.length;
    this.ctx.received += data.length;
    this.ctx.onReceived();
    return this.echoDone(d);
  }
  echoDone(d: Dispatcher2): boolean {
    if (this.spec.mode !== 'echo' || this.total < (this.ctx.payloads[this.index] as Buffer).length) return false;
    if (d.bufferedAmount !== 0) this.ctx.problems.push(`client ${this.index}: ${d.bufferedAmount} bytes beyond the echo`);
    return true;
  }
}

type Dispatcher2 = QuietDispatcher | QuietDispatcherWithSend;


/** A client dispatcher that ended before its transfer finished: record why and close. */
function closeUnfinished(dispatcher: Dispatcher, reader: ClientReader, why: string): void {
  reader.ctx.problems.push(`client ${reader.index}: ${why}`);
  dispatcher.close();
}

/** A client with its own partial sends: writable() while pieces are pending. */
class ClientB extends QuietDispatcher {
  readonly reader: ClientReader;
  readonly #pending: Buffer[];
  constructor(address: Address, reader: ClientReader, pieces: Buffer[]) {
    super(null, reader.ctx.map, { writeHighWaterMark: reader.spec.clientWriteHwm, readHighWaterMark: reader.spec.clientReadHwm });
    this.reader = reader;
    this.#pending = pieces;
    this.createSocket(AF_INET);
    this.connect(address);
  }
  override writable(): boolean { return this.#pending.length > 0; }
  override handleConnect(): void { /* writable() says when to write */ }
  override handleWrite(): void {
    sendPending(this, this.#pending, this.reader.spec.greedy);
    if (this.#pending.length > 0) return;
    if (this.reader.spec.mode === 'upload' || this.reader.echoDone(this)) this.close();
  }
  override handleRead(): void {
    if (this.reader.read(this)) this.close();
  }
  override handleClose(): void { closeUnfinished(this, this.reader, 'handleClose() before it finished'); }
  override handleError(error: unknown): void { closeUnfinished(this, this.reader, `handleError ${describe(error)}`); }
}

/** A client that hands every piece to DispatcherWithSend.send() at once (buffered before the connection is made). */
class BufferedClientB extends QuietDispatcherWithSend {
  readonly reader: ClientReader;
  constructor(address: Address, reader: ClientReader, pieces: Buffer[]) {
    super(null, reader.ctx.map, { writeHighWaterMark: reader.spec.clientWriteHwm, readHighWaterMark: reader.spec.clientReadHwm });
    this.reader = reader;
    this.createSocket(AF_INET);
    this.connect(address);
    for (const piece of pieces) this.send(piece);
    // An uploader closes at once: close() flushes every buffered byte.
    if (reader.spec.mode === 'upload') this.close();
  }
  override handleConnect(): void {
    if (this.reader.echoDone(this)) this.close();
  }
  override handleRead(): void {
    if (this.reader.read(this)) this.close();
  }
  override handleClose(): void { closeUnfinished(this, this.reader, 'handleClose() before it finished'); }
  override handleError(error: unknown): void { closeUnfinished(this, this.reader, `handleError ${describe(error)}`); }
}

/** One run of style (b): throws unless every byte arrived exactly once, in order. */
async function runDispatchers(run: RunSpec): Promise<void> {
  const map = new ChannelMap();
  const dog = watchdog(map);
  const restart = new AbortController();
  const ctx: BContext = {
    run,
    map,
    payloads: run.conns.map((spec) => bytes(spec.dataSeed, spec.length)),
    problems: [],
    servers: [],
    received: 0,
    onReceived: () => {
      if (run.driver === 'restart' && ctx.received >= run.restartAfter) restart.abort();
    },
  };
  try {
    const server = new ServerB(ctx);
    await server.opened;
    const address = server.addr as Address;
    const readers = run.conns.map((spec, i) => {
      const reader = new ClientReader(i, spec, ctx);
      const pieces = [Buffer.from([i]), ...(spec.mode === 'download' ? [] : cut(ctx.payloads[i] as Buffer, spec.writeSizes))];
      if (spec.buffered) new BufferedClientB(address, reader, pieces);
      else new ClientB(address, reader, pieces);
      return reader;
    });
    if (run.driver === 'await') {
      await loop({ map, signal: dog.signal });
    } else if (run.driver === 'passes') {
      // Python's way: `count` passes at a time, again and again, until the map is empty.
      while (map.size > 0 && !dog.expired) await loop(RUN_LIMIT_MS / 1000, false, map, run.passes);
    } else {
      // Stopped mid-transfer (once restartAfter bytes came back), then run again: nothing is lost or repeated.
      await loop({ map, signal: AbortSignal.any([dog.signal, restart.signal]) });
      await loop({ map, signal: dog.signal });
    }
    if (!dog.expired && map.size !== 0) throw new Error(`loop() ended with ${map.size} channels in the map`);
    checkRun(run, ctx.payloads, readers.map((r) => Buffer.concat(r.got)), ctx.servers, ctx.problems, dog.expired);
  } finally {
    dog.dispose();
    closeAll(map, true);
  }
}

t.test('Dispatcher and DispatcherWithSend under loop(): every byte arrives once, in order, over concurrent IPv4 connections', async (t) => {
  let runs = 0;
  await fc.assert(fc.asyncProperty(runArb, async (run) => {
    runs++;
    await runDispatchers(run);
  }), params(RUNS));
  checkRuns(t, runs, RUNS);
});

// The shrunk counter-example the property above finds with the default seed
// (FC_SEED=42, path 17:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:0:1:1:1:1):
// under Python's `loop(timeout, false, map, 1)` called again and again,
// which docs/guide.md names as supported ("calls handleConnect() once"), no
// byte ever moves. Each new loop hands out the clients' `connect` again
// (one-shot events stay in the log for every new loop), the dispatch skips
// the handler as already run, and that round is the loop's one pass: the
// next loop() does the same, for ever.
const COUNT_ONE: RunSpec = {
  conns: [0, 1].map((i) => ({
    mode: 'echo', length: 513, dataSeed: 1, writeSizes: [65], clientRecvSizes: [65], serverRecvSizes: [i === 0 ? 8193 : 65],
    clientWriteHwm: i === 0 ? 256 : 4097, clientReadHwm: i === 0 ? 4097 : 256, readBufferSize: i === 0 ? 512 : 0,
    recvInto: false, greedy: false, buffered: false, awaitWrites: false, jitter: [0], startDelay: 0,
  })),
  serverWriteHwm: 256, serverReadHwm: 256, outputHwm: 1, driver: 'passes', passes: 1, restartAfter: 1,
  unix: false, serverChunkSize: 64,
};

t.test('Dispatcher echo under loop(timeout, false, map, 1) called again and again carries every byte (the shrunk counter-example)', async (t) => {
  await t.resolves(runDispatchers(COUNT_ONE), 'every byte arrived, in order, and every channel closed');
});

// ---- style (c): write() and chunks() -------------------------------------------

async function serverC(conn: Channel, run: RunSpec, payloads: readonly Buffer[], problems: string[]): Promise<ServerSide> {
  const result: ServerSide = { index: -1, got: Buffer.alloc(0) };
  const got: Buffer[] = [];
  const writes: Promise<undefined>[] = [];
  let spec: ConnSpec | null = null;
  const send = async (data: Buffer): Promise<void> => {
    if (spec?.awaitWrites === true) await conn.write(data);
    else writes.push(conn.write(data));
  };
  try {
    for await (const chunk of conn.chunks(run.serverChunkSize)) {
      let body = chunk;
      if (spec === null) {
        result.index = chunk[0] as number;
        spec = run.conns[result.index] ?? null;
        if (spec === null) throw new Error(`unknown client index ${result.index}`);
        body = chunk.subarray(1);
        if (spec.mode === 'download') {
          for (const piece of cut(payloads[result.index] as Buffer, spec.writeSizes)) await send(piece);
          await Promise.all(writes);
          break; // close() below must deliver every byte written
        }
      }
      if (body.length === 0) continue;
      got.push(body);
      if (spec.mode === 'echo') await send(body);
    }
    await Promise.all(writes);
  } catch (error) {
    problems.push(`server ${result.index}: ${describe(error)}`);
  } finally {
    conn.close();
  }
  result.got = Buffer.concat(got);
  return result;
}

async function clientC(map: ChannelMap, family: Family, address: Address, index: number, spec: ConnSpec, payload: Buffer, problems: string[]): Promise<Buffer> {
  await pause(spec.startDelay);
  const c = new Channel(null, map, { writeHighWaterMark: spec.clientWriteHwm, readHighWaterMark: spec.clientReadHwm });
  c.createSocket(family);
  c.connect(address);
  const pieces = [Buffer.from([index]), ...(spec.mode === 'download' ? [] : cut(payload, spec.writeSizes))];
  const writing = (async () => {
    const queued: Promise<undefined>[] = [];
    for (const piece of pieces) {
      if (spec.awaitWrites) await c.write(piece);
      else queued.push(c.write(piece));
    }
    await Promise.all(queued);
    if (spec.mode === 'upload') c.close(); // every byte accepted: close() must deliver them
  })();
  const got: Buffer[] = [];
  let total = 0;
  try {
    if (spec.mode === 'download' || (spec.mode === 'echo' && payload.length > 0)) {
      // chunks() takes one size: one cycle of the recv sizes (at least 65 bytes).
      const size = Math.min(131072, spec.clientRecvSizes.reduce((a, b) => a + b, 0));
      for await (const chunk of c.chunks(size)) {
        got.push(chunk);
        total += chunk.length;
        if (spec.mode === 'echo' && total >= payload.length) break;
      }
      if (spec.mode === 'echo' && total < payload.length) problems.push(`client ${index}: end of stream after ${total} bytes`);
      if (c.bufferedAmount !== 0) problems.push(`client ${index}: ${c.bufferedAmount} bytes beyond the expected end`);
    }
    await writing;
  } catch (error) {
    problems.push(`client ${index}: ${describe(error)}`);
  } finally {
    c.close();
  }
  return Buffer.concat(got);
}

t.test('write() and chunks(): every byte arrives once, in order, over concurrent IPv4 and Unix connections', async (t) => {
  const dir = tempDir(t);
  let runs = 0;
  await fc.assert(fc.asyncProperty(runArb, async (run) => {
    runs++;
    const map = new ChannelMap();
    const dog = watchdog(map);
    const problems: string[] = [];
    try {
      const payloads = run.conns.map((spec) => bytes(spec.dataSeed, spec.length));
      const family = run.unix ? AF_UNIX : AF_INET;
      const server = new Channel(null, map);
      server.createSocket(family);
      server.bind(run.unix ? path.join(dir, `c${runs}.sock`) : ['127.0.0.1', 0]);
      server.listen(64);
      await server.opened;
      const serving = (async () => {
        const tasks: Promise<ServerSide>[] = [];
        const options = { writeHighWaterMark: run.serverWriteHwm, readHighWaterMark: run.serverReadHwm };
        for await (const conn of server.connections(options)) {
          tasks.push(serverC(conn, run, payloads, problems));
          if (tasks.length >= run.conns.length) break;
        }
        return Promise.all(tasks);
      })();
      const address = server.addr as Address;
      const clientGot = await Promise.all(run.conns.map((spec, i) => clientC(map, family, address, i, spec, payloads[i] as Buffer, problems)));
      const servers = await serving;
      server.close();
      checkRun(run, payloads, clientGot, servers, problems, dog.expired);
      if (map.size !== 0) throw new Error(`${map.size} channels still in the map after every connection ended`);
    } finally {
      dog.dispose();
      closeAll(map, true);
    }
  }), params(RUNS));
  checkRuns(t, runs, RUNS);
});
