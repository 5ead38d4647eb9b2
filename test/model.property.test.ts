// Model-based fuzzing (reliability issue, item 7): random sequences of API
// calls on plain channels and dispatchers — createSocket, bind, listen,
// connect, accept, send, write, recv, readInterest/writeInterest, close,
// abort, iterating events, awaiting `opened`, reading to the end — checked
// against a small model after every call:
//   - the state fields agree with each other and with the model (state,
//     connected, accepting, connecting, closing, socket, map membership, the
//     `closed` promise), and `state` only moves forward;
//   - each call throws exactly what the documentation says for the model's
//     state (TypeError, RangeError, ChannelClosedError, ChannelStateError,
//     UnsupportedError, with their `code`), and nothing undocumented;
//   - every consumer sees `close` at most once and as its last event; close()
//     ends iterations at once without a `close` event; `connect` only on
//     channels that connect, `accept` only on listeners, `write` only after
//     write interest was on; error events carry an Error with a `code`;
//   - send() accepts exactly what fits under the write high-water mark (0 while
//     write()s wait); recv() answers by what is buffered; write() promises
//     settle as documented (a closed channel rejects every waiting write);
//   - what one side receives is always a prefix of what the other side's
//     send()/write() calls were given, and after a graceful close() every
//     accepted byte reaches the peer;
//   - nothing reaches the process as an unhandled rejection or an uncaught
//     exception (some write() promises, and the `opened` of half the
//     connecting channels, are left without handlers on purpose).
//
// The seed is fixed: FC_SEED picks another one (default 42), FC_RUNS scales
// the number of runs (raise tap's --timeout with it), and a failure prints
// fast-check's `{ seed, path }` and the shrunk list of commands; replay it with
//   FC_SEED=1234 FC_PATH='7:1:0' npx tap build/t/test/model.property.test.js --disable-coverage
// Anything awaited (an accept, `opened`, a drain) that takes more than 4 s is
// a failure (a hang), and each run closes every channel it made.
import net from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import {
  AF_INET, AF_UNIX, Channel, ChannelClosedError, ChannelMap, ChannelStateError, SOCK_DGRAM, SOCK_STREAM,
  UnsupportedError, closeAll,
} from '../src/index.js';
import type { Address, ChannelEvent, ChannelState, Family } from '../src/index.js';
import { families } from './helpers/net.js';
import { macrotask } from './helpers/events.js';
import { QuietDispatcher, deadAddress, failOnUnhandled } from './helpers/dispatchers.js';
import { checkRuns, propertyParams } from './helpers/property.js';

failOnUnhandled(t);

const RUNS = 500;
const MAX_COMMANDS = 50;
/** How long anything awaited may take before it counts as a hang. */
const WAIT_LIMIT_MS = 4000;
/** The whole property's budget, shrinking included. */
const PROPERTY_LIMIT_MS = 30000;
const WRITE_HWM = 16384;

// ---- the model ---------------------------------------------------------------

type Phase = 'idle' | 'connecting' | 'open' | 'listening' | 'closed';
type Kind = 'channel' | 'dispatcher' | 'accepted';

interface ModelSlot {
  kind: Kind;
  /** createSocket() succeeded (an accepted channel has its family). */
  family: boolean;
  bound: boolean;
  /** What our own calls (and a consumer moving on from `close`) made of it. */
  phase: Phase;
}

interface Model { slots: ModelSlot[] }

type Expected = null | 'TypeError' | 'RangeError' | 'ChannelClosedError' | 'ChannelStateError' | 'UnsupportedError';

// ---- the real system -----------------------------------------------------------

interface WriteRecord {
  readonly bytes: number;
  /** 'untracked': no handler attached on purpose (it must never become an unhandled rejection). */
  outcome: 'pending' | 'resolved' | 'untracked' | Error;
  /** What the documentation says it must end as, when the model knows. */
  readonly expect: 'ChannelClosedError' | 'ChannelStateError' | null;
}

/** One send() or write() call in call order: what the peer may receive, in order. */
interface Outgoing { readonly data: Buffer; readonly write: WriteRecord | null }

class Observer {
  readonly #slot: Slot;
  readonly #world: World;
  readonly #it: AsyncIterator<ChannelEvent>;
  pending: Promise<void> | null = null;
  done = false;
  sawClose = false;
  sawConnect = false;
  readonly types: string[] = [];
  /** The last event taken and not yet acted on. */
  last: ChannelEvent | null = null;

  constructor(slot: Slot, world: World) {
    this.#slot = slot;
    this.#world = world;
    this.#it = slot.channel[Symbol.asyncIterator]();
  }

  /** Asks for the next event unless a request is outstanding or the iteration ended. */
  pull(): Promise<void> | null {
    if (this.pending === null && !this.done) {
      this.pending = this.#it.next().then(
        (result) => { this.#record(result); },
        (error: unknown) => { this.#world.fail(`slot ${this.#slot.index}: next() rejected: ${describe(error)}`); },
      );
    }
    return this.pending;
  }

  #record(result: IteratorResult<ChannelEvent>): void {
    this.pending = null;
    const slot = this.#slot;
    const where = `slot ${slot.index} (${slot.kind}) observer`;
    const state = slot.channel.state;
    if (result.done === true) {
      this.done = true;
      if (this.sawClose) {
        // Moving on from `close` closes the channel.
        if (state !== 'closed') this.#world.fail(`${where}: the pull after close ended the iteration, but the channel is ${state}`);
        slot.passedClose = true;
      } else if (state !== 'closed') {
        this.#world.fail(`${where}: the iteration ended without a close event while the channel is ${state}`);
      }
      return;
    }
    const ev = result.value;
    this.types.push(ev.type);
    if (this.sawClose) this.#world.fail(`${where}: ${ev.type} after close (events: ${this.types.join(' ')})`);
    if (ev.channel !== slot.channel) this.#world.fail(`${where}: an event of another channel`);
    const listener = slot.channel.socket instanceof net.Server;
    switch (ev.type) {
      case 'connect':
        if (!slot.connectCalled) this.#world.fail(`${where}: connect on a channel that never called connect()`);
        if (this.sawConnect) this.#world.fail(`${where}: connect twice`);
        this.sawConnect = true;
        break;
      case 'accept':
        if (!listener) this.#world.fail(`${where}: accept on a channel that is not listening`);
        break;
      case 'read':
      case 'write':
        if (listener) this.#world.fail(`${where}: ${ev.type} on a listener`);
        if (slot.connectCalled && !this.sawConnect) this.#world.fail(`${where}: ${ev.type} before connect`);
        if (ev.type === 'write' && !slot.writeInterestEverOn) this.#world.fail(`${where}: write without write interest`);
        break;
      case 'error': {
        const code = (ev.error as NodeJS.ErrnoException | undefined)?.code;
        if (!(ev.error instanceof Error) || typeof code !== 'string') {
          this.#world.fail(`${where}: an error event without an Error with a code: ${describe(ev.error)}`);
        }
        const ops = listener ? ['listen', 'accept'] : ['connect', 'read', 'write'];
        if (!ops.includes(ev.operation)) this.#world.fail(`${where}: error with operation ${ev.operation} (${describe(ev.error)})`);
        break;
      }
      case 'close':
        if (slot.localClose !== null) this.#world.fail(`${where}: close event after a local ${slot.localClose}()`);
        this.sawClose = true;
        break;
      case 'expt':
        this.#world.fail(`${where}: expt, which Node cannot report`);
        break;
    }
    this.last = ev;
  }
}

class Slot {
  readonly observers: Observer[] = [];
  lastState: ChannelState;
  closedResolved = false;
  opened: 'pending' | 'resolved' | Error = 'pending';
  openedWatched = false;
  connectCalled = false;
  writeInterestEverOn = false;
  localClose: 'close' | 'abort' | null = null;
  /** The connection looked healthy (connected or connecting) when close() was called. */
  healthyAtClose = false;
  passedClose = false;
  eofTaken = false;
  localPort: number | null = null;
  /** For an accepted channel: the peer's port, to pair it with its client. */
  readonly peerPort: number | null;
  readonly outgoing: Outgoing[] = [];
  readonly received: Buffer[] = [];
  readonly writes: WriteRecord[] = [];

  constructor(readonly index: number, readonly channel: Channel, readonly kind: Kind | 'server') {
    this.lastState = channel.state;
    // A dispatcher's writeInterest is writable(), true by default.
    this.writeInterestEverOn = kind === 'dispatcher';
    const addr = channel.addr;
    this.peerPort = kind === 'accepted' && addr !== null && typeof addr !== 'string' ? addr[1] : null;
    void channel.closed.then(() => { this.closedResolved = true; });
  }

  watchOpened(): void {
    if (this.openedWatched) return;
    this.openedWatched = true;
    this.channel.opened.then(
      () => { this.opened = 'resolved'; },
      (error: unknown) => { this.opened = error instanceof Error ? error : new Error(String(error)); },
    );
  }

  /** Bytes of the outgoing stream known to be accepted: the leading sends and resolved writes. */
  acceptedFloor(): number {
    let floor = 0;
    for (const item of this.outgoing) {
      if (item.write !== null && item.write.outcome !== 'resolved') break;
      floor += item.data.length;
    }
    return floor;
  }
}

class World {
  readonly slots: Slot[] = [];
  readonly failures: string[] = [];
  readonly fixedAddress: Address;
  dataSeed = 1;
  commands = 0;

  /**
   * @param unhandled - where the process listeners put unhandled rejections and uncaught exceptions
   */
  constructor(readonly map: ChannelMap, readonly deadAddress: Address, server: Channel, readonly unhandled: string[]) {
    this.fixedAddress = server.addr as Address;
    this.slots.push(new Slot(0, server, 'server'));
  }

  fail(message: string): void {
    this.failures.push(message);
  }

  add(channel: Channel, kind: Kind | 'server'): Slot {
    const slot = new Slot(this.slots.length, channel, kind);
    this.slots.push(slot);
    return slot;
  }

  /** Throws (failing the command, so fast-check shrinks) if anything was recorded as wrong. */
  throwIfFailed(): void {
    const all = [...this.failures, ...this.unhandled];
    if (all.length > 0) throw new Error(all.join('\n'));
  }
}

// ---- helpers ---------------------------------------------------------------------

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return `${error.name}${code === undefined ? '' : ` ${code}`}: ${error.message}`;
  }
  return String(error);
}

/** Pseudo-random bytes (xorshift32). */
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

/** The documented class of an error this library throws, or null for anything else. */
function documentedClass(error: unknown): Expected {
  // The `code` is checked at run time: the types say it, the objects must too.
  const code: unknown = (error as { code?: unknown } | null)?.code;
  if (error instanceof ChannelClosedError) return code === 'ERR_CHANNEL_CLOSED' ? 'ChannelClosedError' : null;
  if (error instanceof ChannelStateError) return code === 'ERR_CHANNEL_STATE' ? 'ChannelStateError' : null;
  if (error instanceof UnsupportedError) return code === 'ERR_NOT_SUPPORTED' ? 'UnsupportedError' : null;
  if (error instanceof RangeError) return 'RangeError';
  if (error instanceof TypeError) return 'TypeError';
  return null;
}

/** Calls `fn`; records a failure unless it throws exactly `expected` (or returns, for null). */
function expectCall<T>(world: World, what: string, expected: Expected, fn: () => T): { ok: true; value: T } | { ok: false } {
  try {
    const value = fn();
    if (expected !== null) world.fail(`${what}: expected ${expected}, but it returned`);
    return { ok: true, value };
  } catch (error) {
    const got = documentedClass(error);
    if (got === null) world.fail(`${what}: threw an undocumented error: ${describe(error)}`);
    else if (got !== expected) world.fail(`${what}: expected ${expected ?? 'no error'}, got ${describe(error)}`);
    return { ok: false };
  }
}

/** Resolves with the promise's outcome, or records a hang after WAIT_LIMIT_MS. */
async function within<T>(world: World, what: string, promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => { resolve('timeout'); }, WAIT_LIMIT_MS); });
  try {
    const result = await Promise.race([promise.then((value) => ({ value })), limit]);
    if (result === 'timeout') {
      world.fail(`${what}: did not settle within ${WAIT_LIMIT_MS} ms`);
      return { ok: false };
    }
    return { ok: true, value: result.value };
  } finally {
    clearTimeout(timer);
  }
}

/** Whether `promise` is still pending after one macrotask (events that hold now settle within microtasks). */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  await macrotask();
  return !settled;
}

/**
 * The slot a command works on: mostly one where the model says the call
 * would succeed (so that new Channel, createSocket, bind, listen, connect
 * build on each other), otherwise any slot (mostly wrong-state calls).
 */
function slotOf(m: Readonly<Model>, pick: number, wants: (ms: ModelSlot) => boolean): number {
  const n = m.slots.length;
  if (pick < 640) {
    const fit = m.slots.flatMap((ms, i) => (wants(ms) ? [i] : []));
    if (fit.length > 0) return fit[pick % fit.length] as number;
  }
  return pick % n;
}

const open = (ms: ModelSlot): boolean => ms.phase === 'connecting' || ms.phase === 'open';
const fresh = (ms: ModelSlot): boolean => ms.phase === 'idle' && ms.family;

function isClosed(ms: ModelSlot): boolean {
  return ms.phase === 'closed';
}

/** A consumer's move past `close` (or anything else that closed it) is known to the model from now on. */
function sync(m: Model, world: World): void {
  world.slots.forEach((slot, i) => {
    const ms = m.slots[i];
    if (ms !== undefined && slot.passedClose) ms.phase = 'closed';
  });
}

// ---- the checks run after every command -------------------------------------------

// States seen between two commands may skip some in between (idle, then open).
const FORWARD: Record<ChannelState, readonly ChannelState[]> = {
  idle: ['idle', 'connecting', 'open', 'listening', 'closed'],
  connecting: ['connecting', 'open', 'closed'],
  open: ['open', 'closed'],
  listening: ['listening', 'closed'],
  closed: ['closed'],
};

const ALLOWED: Record<Phase, readonly ChannelState[]> = {
  idle: ['idle'],
  connecting: ['connecting', 'open', 'closed'],
  open: ['open', 'closed'],
  listening: ['listening', 'closed'],
  closed: ['closed'],
};

function checkWorld(m: Model, world: World): void {
  for (const slot of world.slots) {
    const ms = m.slots[slot.index] as ModelSlot;
    const c = slot.channel;
    const where = `slot ${slot.index} (${slot.kind}, model ${ms.phase})`;
    const state = c.state;
    if (!FORWARD[slot.lastState].includes(state)) world.fail(`${where}: state went from ${slot.lastState} to ${state}`);
    slot.lastState = state;
    if (!ALLOWED[ms.phase].includes(state)) world.fail(`${where}: state ${state}`);
    if (state === 'closed' && ms.phase !== 'closed' && !slot.passedClose) world.fail(`${where}: closed, though nobody closed it nor moved on from close`);
    if (c.connected && state !== 'open') world.fail(`${where}: connected while ${state}`);
    if (c.accepting && state !== 'listening') world.fail(`${where}: accepting while ${state}`);
    if (c.connecting && state !== 'connecting') world.fail(`${where}: connecting while ${state}`);
    if (c.closing !== (state === 'closed')) world.fail(`${where}: closing is ${c.closing} while ${state}`);
    const inMap = ms.family && state !== 'closed';
    if (world.map.has(c.id) !== inMap) world.fail(`${where}: map.has() is ${world.map.has(c.id)} while ${state}`);
    if (c.bufferedAmount < 0 || c.pendingWrite < 0) world.fail(`${where}: negative counters`);
    if (state === 'closed' && c.bufferedAmount !== 0) world.fail(`${where}: closed with ${c.bufferedAmount} bytes buffered`);
    if (state === 'closed' && !slot.closedResolved) world.fail(`${where}: closed, but \`closed\` has not resolved`);
    if (slot.closedResolved && state !== 'closed' && (c.connected || c.accepting || c.connecting)) {
      world.fail(`${where}: \`closed\` resolved while ${state} and healthy`);
    }
    const sock = c.socket;
    if (state === 'idle' && sock !== null) world.fail(`${where}: a socket while idle`);
    if (state === 'listening' && !(sock instanceof net.Server)) world.fail(`${where}: listening without a net.Server`);
    if ((state === 'connecting' || state === 'open') && !(sock instanceof net.Socket)) world.fail(`${where}: ${state} without a net.Socket`);
    if (sock instanceof net.Socket && slot.localPort === null && typeof sock.localPort === 'number') slot.localPort = sock.localPort;
    if (slot.opened === 'resolved' && !['open', 'listening', 'closed'].includes(state)) world.fail(`${where}: opened resolved while ${state}`);
    if (slot.opened instanceof Error && documentedClass(slot.opened) !== 'ChannelClosedError'
      && typeof (slot.opened as NodeJS.ErrnoException).code !== 'string') {
      world.fail(`${where}: opened rejected with ${describe(slot.opened)}`);
    }
    if (state === 'closed') {
      // close() ends every iteration at once.
      for (const obs of slot.observers) if (obs.pending !== null) world.fail(`${where}: an iteration still waits on a closed channel`);
      for (const w of slot.writes) if (w.outcome === 'pending') world.fail(`${where}: a write() still waits on a closed channel`);
    }
    for (const w of slot.writes) {
      if (!(w.outcome instanceof Error)) {
        if (w.outcome === 'resolved' && w.expect !== null) world.fail(`${where}: a write() resolved, expected ${w.expect}`);
        continue;
      }
      const cls = documentedClass(w.outcome);
      if (w.expect !== null ? cls !== w.expect : cls !== 'ChannelClosedError' && typeof (w.outcome as NodeJS.ErrnoException).code !== 'string') {
        world.fail(`${where}: a write() rejected with ${describe(w.outcome)}${w.expect === null ? '' : `, expected ${w.expect}`}`);
      }
    }
  }
  // What each side received is a prefix of what the other side's calls were given.
  for (const [from, to] of pairs(world)) {
    const sent = Buffer.concat(from.outgoing.map((o) => o.data));
    const got = Buffer.concat(to.received);
    if (got.length > sent.length || !sent.subarray(0, got.length).equals(got)) {
      world.fail(`slot ${to.index} received ${got.length} bytes that are not a prefix of the ${sent.length} bytes slot ${from.index} sent`);
    }
  }
}

/** [sender, receiver] for every client/accepted pair, matched by port. */
function pairs(world: World): [Slot, Slot][] {
  const out: [Slot, Slot][] = [];
  for (const accepted of world.slots) {
    if (accepted.peerPort === null) continue;
    const client = world.slots.find((s) => s.connectCalled && s.localPort === accepted.peerPort);
    if (client === undefined) continue;
    out.push([client, accepted], [accepted, client]);
  }
  return out;
}

async function settle(m: Model, world: World): Promise<void> {
  world.commands++;
  await macrotask();
  await macrotask();
  sync(m, world);
  checkWorld(m, world);
  world.throwIfFailed();
}

// ---- the operations, shared by commands and by consumers that act on events -----

function doRecv(m: Model, world: World, slot: Slot, size: number): void {
  const ms = m.slots[slot.index] as ModelSlot;
  const c = slot.channel;
  let expected: Expected = null;
  if (!Number.isInteger(size)) expected = 'TypeError';
  else if (size <= 0) expected = 'RangeError';
  else if (isClosed(ms) && ms.kind !== 'dispatcher') expected = 'ChannelClosedError';
  else if (!isClosed(ms) && (ms.phase === 'idle' || ms.phase === 'listening')) expected = 'ChannelStateError';
  const before = c.bufferedAmount;
  const result = expectCall(world, `slot ${slot.index}: recv(${size})`, expected, () => c.recv(size));
  if (!result.ok) return;
  const data = result.value;
  const where = `slot ${slot.index}: recv(${size})`;
  if (isClosed(ms)) {
    // A closed dispatcher answers as Python's: the end of stream, an empty buffer.
    if (data?.length !== 0) world.fail(`${where}: a closed dispatcher returned ${describe(data)}, not an empty buffer`);
    return;
  }
  if (data === null) {
    if (before > 0) world.fail(`${where}: null with ${before} bytes buffered`);
    if (slot.eofTaken) world.fail(`${where}: null after the end of stream was taken`);
    return;
  }
  if (data.length === 0) {
    if (before > 0) world.fail(`${where}: end of stream with ${before} bytes buffered`);
    slot.eofTaken = true;
    return;
  }
  if (slot.eofTaken) world.fail(`${where}: bytes after the end of stream`);
  if (data.length > size || data.length > before) world.fail(`${where}: ${data.length} bytes with ${before} buffered`);
  if (before - c.bufferedAmount !== data.length) world.fail(`${where}: bufferedAmount went from ${before} to ${c.bufferedAmount} for ${data.length} bytes`);
  slot.received.push(Buffer.from(data));
}

function doSend(m: Model, world: World, slot: Slot, length: number, badType: boolean): void {
  const ms = m.slots[slot.index] as ModelSlot;
  const c = slot.channel;
  let expected: Expected = null;
  if (badType) expected = 'TypeError';
  else if (isClosed(ms) && ms.kind !== 'dispatcher') expected = 'ChannelClosedError';
  else if (!isClosed(ms) && (ms.phase === 'idle' || ms.phase === 'listening')) expected = 'ChannelStateError';
  const data = bytes(world.dataSeed++, length);
  const waiting = slot.writes.some((w) => w.outcome === 'pending' || w.outcome === 'untracked');
  const knownWaiting = slot.writes.some((w) => w.outcome === 'pending');
  const before = c.pendingWrite;
  const healthy = c.connected;
  const hwm = slot.kind === 'accepted' ? 65536 : WRITE_HWM;
  const result = expectCall(world, `slot ${slot.index}: send(${badType ? '42' : `${length} bytes`})`, expected, () => c.send(badType ? (42 as unknown as string) : data));
  if (!result.ok) return;
  const n = result.value;
  const where = `slot ${slot.index}: send(${length} bytes)`;
  if (!Number.isInteger(n) || n < 0 || n > length) world.fail(`${where}: returned ${n}`);
  // A closed dispatcher (as Python's) and a connecting channel accept nothing.
  if ((isClosed(ms) || c.connecting) && n !== 0) world.fail(`${where}: accepted ${n} bytes while ${isClosed(ms) ? 'closed' : 'connecting'}`);
  if (knownWaiting && n !== 0) world.fail(`${where}: accepted ${n} bytes while a write() waits`);
  if (!waiting && healthy && !(c.socket as net.Socket).destroyed) {
    const fits = Math.min(length, Math.max(0, hwm - before));
    if (n !== fits) world.fail(`${where}: accepted ${n}, expected ${fits} (pendingWrite ${before}, mark ${hwm})`);
  }
  if (n > 0) slot.outgoing.push({ data: data.subarray(0, n), write: null });
}

function doAccept(m: Model, world: World, slot: Slot): void {
  const ms = m.slots[slot.index] as ModelSlot;
  let expected: Expected = null;
  if (isClosed(ms)) expected = 'ChannelClosedError';
  else if (ms.phase !== 'listening') expected = 'ChannelStateError';
  const result = expectCall(world, `slot ${slot.index}: accept()`, expected, () => slot.channel.accept());
  if (!result.ok || result.value === null) return;
  const [sock, addr] = result.value;
  if (!(sock instanceof net.Socket) || !Array.isArray(addr)) world.fail(`slot ${slot.index}: accept() returned ${describe(sock)}, ${JSON.stringify(addr)}`);
  const channel = new Channel(sock, world.map);
  world.add(channel, 'accepted');
  m.slots.push({ kind: 'accepted', family: true, bound: false, phase: 'open' });
  if (channel.state !== 'open') world.fail(`an accepted channel starts ${channel.state}`);
}

function doClose(m: Model, world: World, slot: Slot, abrupt: boolean): void {
  const ms = m.slots[slot.index] as ModelSlot;
  const c = slot.channel;
  const healthy = c.connected;
  const result = expectCall(world, `slot ${slot.index}: ${abrupt ? 'abort' : 'close'}()`, null, () => {
    if (abrupt) c.abort();
    else c.close();
  });
  if (result.ok && ms.phase !== 'closed') {
    slot.localClose ??= abrupt ? 'abort' : 'close';
    slot.healthyAtClose = healthy;
  }
  ms.phase = 'closed';
  if (c.state !== 'closed' || !c.closing || world.map.has(c.id)) world.fail(`slot ${slot.index}: after close(), ${c.state}, in map ${world.map.has(c.id)}`);
}

// ---- commands ----------------------------------------------------------------------

type Cmd = fc.AsyncCommand<Model, World>;

abstract class SlotCommand implements Cmd {
  constructor(readonly pick: number) {}
  check(_m: Readonly<Model>): boolean { return true; }
  /** The slots on which this call is meant to succeed. */
  wants(ms: ModelSlot): boolean { return ms.phase !== 'closed'; }
  abstract run(m: Model, world: World): Promise<void>;
  abstract toString(): string;
  protected slot(m: Model, world: World): [Slot, ModelSlot] {
    sync(m, world);
    const i = slotOf(m, this.pick, (ms) => this.wants(ms));
    return [world.slots[i] as Slot, m.slots[i] as ModelSlot];
  }
}

/** A new channel or dispatcher; `steps` 1 also calls createSocket(), 2 also bind() to loopback. */
class NewChannel implements Cmd {
  constructor(readonly dispatcher: boolean, readonly steps: number) {}
  check(): boolean { return true; }
  async run(m: Model, world: World): Promise<void> {
    sync(m, world);
    const channel = this.dispatcher
      ? new QuietDispatcher(null, world.map, { writeHighWaterMark: WRITE_HWM })
      : new Channel(null, world.map, { writeHighWaterMark: WRITE_HWM });
    const slot = world.add(channel, this.dispatcher ? 'dispatcher' : 'channel');
    const ms: ModelSlot = { kind: this.dispatcher ? 'dispatcher' : 'channel', family: false, bound: false, phase: 'idle' };
    m.slots.push(ms);
    if (channel.state !== 'idle' || world.map.has(channel.id)) world.fail('a new channel is not idle, or already in its map');
    if (this.steps >= 1 && expectCall(world, `slot ${slot.index}: createSocket()`, null, () => { channel.createSocket(AF_INET); }).ok) ms.family = true;
    if (this.steps >= 2 && expectCall(world, `slot ${slot.index}: bind()`, null, () => { channel.bind(['127.0.0.1', 0]); }).ok) ms.bound = true;
    await settle(m, world);
  }
  toString(): string {
    return `new ${this.dispatcher ? 'Dispatcher' : 'Channel'}()${this.steps >= 1 ? '.createSocket()' : ''}${this.steps >= 2 ? '.bind()' : ''}`;
  }
}

class CreateSocket extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return ms.phase === 'idle' && !ms.family; }
  constructor(pick: number, readonly variant: 'ok' | 'badFamily' | 'dgram') { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    let expected: Expected = null;
    if (this.variant === 'badFamily') expected = 'TypeError';
    else if (this.variant === 'dgram') expected = 'UnsupportedError';
    else if (isClosed(ms)) expected = 'ChannelClosedError';
    else if (ms.family) expected = 'ChannelStateError';
    // Unix datagrams stay unsupported (Node has none); UDP is modelled in test/datagram/.
    const family = this.variant === 'badFamily' ? ('AF_BOGUS' as Family) : this.variant === 'dgram' ? AF_UNIX : AF_INET;
    const type = this.variant === 'dgram' ? SOCK_DGRAM : SOCK_STREAM;
    const result = expectCall(world, `slot ${slot.index}: createSocket(${this.variant})`, expected, () => { slot.channel.createSocket(family, type); });
    if (result.ok) ms.family = true;
    await settle(m, world);
  }
  toString(): string { return `createSocket(#${this.pick}, ${this.variant})`; }
}

class Bind extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return fresh(ms) && !ms.bound; }
  constructor(pick: number, readonly variant: 'loopback' | 'inUse' | 'badPort' | 'badHost') { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    let expected: Expected = null;
    if (isClosed(ms)) expected = 'ChannelClosedError';
    else if (!ms.family) expected = 'ChannelStateError';
    else if (this.variant === 'badPort') expected = 'RangeError';
    else if (this.variant === 'badHost') expected = 'TypeError';
    else if (ms.bound || ms.phase !== 'idle') expected = 'ChannelStateError';
    const address: Address = this.variant === 'badPort' ? ['127.0.0.1', 70000]
      : this.variant === 'badHost' ? ([42, 0] as unknown as Address)
        : this.variant === 'inUse' ? world.fixedAddress : ['127.0.0.1', 0];
    const result = expectCall(world, `slot ${slot.index}: bind(${this.variant})`, expected, () => { slot.channel.bind(address); });
    if (result.ok) ms.bound = true;
    await settle(m, world);
  }
  toString(): string { return `bind(#${this.pick}, ${this.variant})`; }
}

class Listen extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return fresh(ms) && ms.bound; }
  constructor(pick: number, readonly backlog: number) { super(pick); }
  override check(m: Readonly<Model>): boolean {
    // Loopback only: a listen() that would succeed on an unbound channel would take every interface.
    const ms = m.slots[slotOf(m, this.pick, (x) => this.wants(x))] as ModelSlot;
    const valid = Number.isInteger(this.backlog) && this.backlog >= 0;
    return !(valid && !isClosed(ms) && ms.family && ms.phase === 'idle' && !ms.bound);
  }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    let expected: Expected = null;
    if (!Number.isInteger(this.backlog)) expected = 'TypeError';
    else if (this.backlog < 0) expected = 'RangeError';
    else if (isClosed(ms)) expected = 'ChannelClosedError';
    else if (!ms.family) expected = 'ChannelStateError';
    else if (ms.phase !== 'idle') expected = 'ChannelStateError';
    if (expected === null && !ms.bound) return; // see check(): the model moved since
    const result = expectCall(world, `slot ${slot.index}: listen(${this.backlog})`, expected, () => { slot.channel.listen(this.backlog); });
    if (result.ok) {
      ms.phase = 'listening';
      if (slot.channel.state !== 'listening' || !slot.channel.accepting) world.fail(`slot ${slot.index}: after listen(), ${slot.channel.state}, accepting ${slot.channel.accepting}`);
      slot.watchOpened();
    }
    await settle(m, world);
  }
  toString(): string { return `listen(#${this.pick}, ${this.backlog})`; }
}

class Connect extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return fresh(ms); }
  constructor(pick: number, readonly target: 'fixed' | 'dead' | 'listener' | 'badPort', readonly which: number) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    let expected: Expected = null;
    if (isClosed(ms)) expected = 'ChannelClosedError';
    else if (!ms.family) expected = 'ChannelStateError';
    else if (this.target === 'badPort') expected = 'RangeError';
    else if (ms.phase !== 'idle') expected = 'ChannelStateError';
    let address: Address = world.fixedAddress;
    if (this.target === 'dead') address = world.deadAddress;
    else if (this.target === 'badPort') address = ['127.0.0.1', -1];
    else if (this.target === 'listener') {
      const ready = world.slots.filter((s) => s.channel.accepting && s.opened === 'resolved');
      const chosen = ready[this.which % Math.max(1, ready.length)];
      if (chosen !== undefined) address = chosen.channel.addr as Address;
    }
    const result = expectCall(world, `slot ${slot.index}: connect(${this.target})`, expected, () => { slot.channel.connect(address); });
    if (result.ok) {
      ms.phase = 'connecting';
      slot.connectCalled = true;
      if (slot.channel.state !== 'connecting' || !slot.channel.connecting) world.fail(`slot ${slot.index}: after connect(), ${slot.channel.state}`);
      const sock = slot.channel.socket as net.Socket;
      sock.once('connect', () => { slot.localPort = sock.localPort ?? null; });
      if (this.which % 2 === 0) slot.watchOpened(); // otherwise `opened` is left alone: it must not reject unhandled
    }
    await settle(m, world);
  }
  toString(): string { return `connect(#${this.pick}, ${this.target})`; }
}

/** A client connected to the fixed listener and its accepted peer, in one step. */
class NewPair implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, world: World): Promise<void> {
    sync(m, world);
    const server = world.slots[0] as Slot;
    if (!server.channel.accepting || !server.channel.readInterest) return;
    const client = new Channel(null, world.map, { writeHighWaterMark: WRITE_HWM });
    const slot = world.add(client, 'channel');
    m.slots.push({ kind: 'channel', family: true, bound: false, phase: 'connecting' });
    client.createSocket(AF_INET);
    client.connect(world.fixedAddress);
    slot.connectCalled = true;
    const sock = client.socket as net.Socket;
    sock.once('connect', () => { slot.localPort = sock.localPort ?? null; });
    const it = server.channel[Symbol.asyncIterator]();
    const deadline = performance.now() + WAIT_LIMIT_MS;
    try {
      for (;;) {
        if (performance.now() > deadline) {
          world.fail(`NewPair: no connection to accept within ${WAIT_LIMIT_MS} ms`);
          break;
        }
        const next = await within(world, 'NewPair: waiting for an accept event', it.next());
        if (!next.ok || next.value.done === true) break;
        if (next.value.value.type !== 'accept') continue;
        const before = world.slots.length;
        doAccept(m, world, server);
        if (world.slots.length > before) break;
      }
    } finally {
      await it.return?.();
    }
    await settle(m, world);
  }
  toString(): string { return 'newPair()'; }
}

class Accept extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return ms.phase === 'listening'; }
  async run(m: Model, world: World): Promise<void> {
    const [slot] = this.slot(m, world);
    doAccept(m, world, slot);
    await settle(m, world);
  }
  toString(): string { return `accept(#${this.pick})`; }
}

class Send extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return open(ms); }
  /** @param thenClose - close() at once after: every accepted byte must still arrive */
  constructor(pick: number, readonly length: number, readonly badType: boolean, readonly thenClose: boolean) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot] = this.slot(m, world);
    doSend(m, world, slot, this.length, this.badType);
    if (this.thenClose) doClose(m, world, slot, false);
    await settle(m, world);
  }
  toString(): string { return `send(#${this.pick}, ${this.badType ? 'bad type' : `${this.length} bytes`})${this.thenClose ? ' then close()' : ''}`; }
}

class Write extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return open(ms); }
  /** @param thenClose - close() at once after: a write() not yet done must reject with ChannelClosedError */
  constructor(pick: number, readonly length: number, readonly variant: 'tracked' | 'untracked' | 'badType', readonly thenClose: boolean) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    const data = bytes(world.dataSeed++, this.length);
    const expectedThrow: Expected = this.variant === 'badType' ? 'TypeError' : null;
    const result = expectCall(world, `slot ${slot.index}: write(${this.variant})`, expectedThrow, () => slot.channel.write(this.variant === 'badType' ? (42 as unknown as string) : data));
    if (result.ok) {
      const expect = isClosed(ms) ? 'ChannelClosedError' : ms.phase === 'idle' || ms.phase === 'listening' ? 'ChannelStateError' : null;
      const record: WriteRecord = { bytes: this.length, outcome: this.variant === 'tracked' ? 'pending' : 'untracked', expect };
      slot.writes.push(record);
      if (this.variant === 'tracked') {
        result.value.then(
          () => { record.outcome = 'resolved'; },
          (error: unknown) => { record.outcome = error instanceof Error ? error : new Error(String(error)); },
        );
      }
      // Bytes go out only from a channel with a connection.
      if (expect === null) slot.outgoing.push({ data, write: record });
    }
    if (this.thenClose) doClose(m, world, slot, false);
    await settle(m, world);
  }
  toString(): string { return `write(#${this.pick}, ${this.length} bytes, ${this.variant})${this.thenClose ? ' then close()' : ''}`; }
}

class Recv extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return open(ms); }
  constructor(pick: number, readonly size: number) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot] = this.slot(m, world);
    doRecv(m, world, slot, this.size);
    await settle(m, world);
  }
  toString(): string { return `recv(#${this.pick}, ${this.size})`; }
}

class SetInterest extends SlotCommand {
  constructor(pick: number, readonly which: 'readInterest' | 'writeInterest', readonly on: boolean) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    const expected: Expected = ms.kind === 'dispatcher' ? 'TypeError' : null;
    const result = expectCall(world, `slot ${slot.index}: ${this.which} = ${this.on}`, expected, () => { slot.channel[this.which] = this.on; });
    if (result.ok) {
      if (slot.channel[this.which] !== this.on) world.fail(`slot ${slot.index}: ${this.which} reads ${slot.channel[this.which]} after set to ${this.on}`);
      if (this.which === 'writeInterest' && this.on) slot.writeInterestEverOn = true;
    }
    await settle(m, world);
  }
  toString(): string { return `#${this.pick}.${this.which} = ${this.on}`; }
}

class Close extends SlotCommand {
  constructor(pick: number, readonly abrupt: boolean) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot] = this.slot(m, world);
    const c = slot.channel;
    doClose(m, world, slot, this.abrupt);
    // A new iteration of a closed channel ends at once.
    const fresh = await within(world, `slot ${slot.index}: a new iteration after close()`, c[Symbol.asyncIterator]().next());
    if (fresh.ok && fresh.value.done !== true) world.fail(`slot ${slot.index}: a new iteration after close() yielded ${fresh.value.value.type}`);
    await settle(m, world);
  }
  toString(): string { return `${this.abrupt ? 'abort' : 'close'}(#${this.pick})`; }
}

/** One consumer takes the events that hold now (at most `max`), acting on them if asked. */
class Pump extends SlotCommand {
  constructor(pick: number, readonly observer: number, readonly max: number, readonly act: boolean, readonly size: number) { super(pick); }
  async run(m: Model, world: World): Promise<void> {
    const [slot] = this.slot(m, world);
    while (slot.observers.length <= this.observer) slot.observers.push(new Observer(slot, world));
    const obs = slot.observers[this.observer] as Observer;
    for (let i = 0; i < this.max; i++) {
      const pending = obs.pull();
      if (pending === null || await stillPending(pending)) break;
      const ev = obs.last;
      obs.last = null;
      if (!this.act || ev === null) continue;
      sync(m, world);
      if (ev.type === 'read') doRecv(m, world, slot, this.size);
      else if (ev.type === 'accept') doAccept(m, world, slot);
      else if (ev.type === 'write') doSend(m, world, slot, this.size, false);
    }
    await settle(m, world);
  }
  toString(): string { return `pump(#${this.pick}, observer ${this.observer}, up to ${this.max}${this.act ? `, acting with ${this.size}` : ''})`; }
}

class AwaitOpened extends SlotCommand {
  override wants(ms: ModelSlot): boolean { return ms.phase !== 'idle'; }
  async run(m: Model, world: World): Promise<void> {
    const [slot, ms] = this.slot(m, world);
    // An idle channel's `opened` waits for connect() or listen(): nothing to await.
    if (ms.phase === 'idle') return;
    slot.watchOpened();
    const outcome = await within(world, `slot ${slot.index}: opened`, slot.channel.opened.then(() => null, (error: unknown) => error));
    if (outcome.ok && outcome.value === null) {
      const addr = slot.channel.addr;
      if (slot.channel.socket instanceof net.Server && (!Array.isArray(addr) || addr[1] === 0)) world.fail(`slot ${slot.index}: opened resolved without the real port`);
    }
    await settle(m, world);
  }
  toString(): string { return `await opened(#${this.pick})`; }
}

/**
 * Reads an accepted-or-client channel to its end once its peer was closed
 * gracefully: every byte the peer's send()/write() accepted must arrive.
 */
class Drain extends SlotCommand {
  async run(m: Model, world: World): Promise<void> {
    sync(m, world);
    const eligible = pairs(world).filter(([from, to]) => from.localClose === 'close' && from.healthyAtClose
      && to.localClose === null && !to.passedClose && to.channel.connected && (m.slots[to.index] as ModelSlot).kind !== 'dispatcher');
    const pair = eligible[this.pick % Math.max(1, eligible.length)];
    if (pair === undefined) return;
    const [from, to] = pair;
    to.channel.readInterest = true;
    const it = to.channel[Symbol.asyncIterator]();
    const deadline = performance.now() + WAIT_LIMIT_MS;
    try {
      for (;;) {
        if (performance.now() > deadline) {
          world.fail(`drain slot ${to.index}: no end of stream within ${WAIT_LIMIT_MS} ms`);
          break;
        }
        const next = await within(world, `drain slot ${to.index}`, it.next());
        if (!next.ok || next.value.done === true) break;
        if (next.value.value.type === 'close') {
          to.passedClose = true; // leaving below closes it
          break;
        }
        if (next.value.value.type !== 'read') continue;
        doRecv(m, world, to, 65536);
        if (to.eofTaken) break;
      }
    } finally {
      await it.return?.();
    }
    const got = to.received.reduce((n, b) => n + b.length, 0);
    const floor = from.acceptedFloor();
    if (got < floor) world.fail(`slot ${to.index} got ${got} bytes before the end, but slot ${from.index} had ${floor} accepted when it called close()`);
    await settle(m, world);
  }
  toString(): string { return `drain(${this.pick})`; }
}

class Settle implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, world: World): Promise<void> {
    for (let i = 0; i < 5; i++) await macrotask();
    await settle(m, world);
  }
  toString(): string { return 'settle()'; }
}

const pick = fc.nat({ max: 1023 });
const commandArbs: fc.Arbitrary<Cmd>[] = [
  fc.tuple(fc.boolean(), fc.nat({ max: 2 })).map(([d, steps]) => new NewChannel(d, steps)),
  fc.tuple(fc.boolean(), fc.nat({ max: 2 })).map(([d, steps]) => new NewChannel(d, steps)),
  fc.constant(new NewPair()),
  fc.constant(new NewPair()),
  fc.tuple(pick, fc.constantFrom<'ok' | 'badFamily' | 'dgram'>('ok', 'ok', 'badFamily', 'dgram')).map(([p, v]) => new CreateSocket(p, v)),
  fc.tuple(pick, fc.constantFrom<'loopback' | 'inUse' | 'badPort' | 'badHost'>('loopback', 'loopback', 'inUse', 'badPort', 'badHost')).map(([p, v]) => new Bind(p, v)),
  fc.tuple(pick, fc.constantFrom(5, 0, -1, 1.5)).map(([p, b]) => new Listen(p, b)),
  fc.tuple(pick, fc.constantFrom<'fixed' | 'dead' | 'listener' | 'badPort'>('fixed', 'dead', 'listener', 'listener', 'badPort'), fc.nat({ max: 15 }))
    .map(([p, target, w]) => new Connect(p, target, w)),
  pick.map((p) => new Accept(p)),
  fc.tuple(pick, fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 65, max: 40000 })), fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) })).map(([p, n, bad]) => new Send(p, n, bad, false)),
  fc.tuple(pick, fc.integer({ min: 1, max: 40000 })).map(([p, n]) => new Send(p, n, false, true)),
  fc.tuple(pick, fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 65, max: 100000 })), fc.constantFrom<'tracked' | 'untracked' | 'badType'>('tracked', 'tracked', 'untracked', 'badType'))
    .map(([p, n, v]) => new Write(p, n, v, false)),
  fc.tuple(pick, fc.integer({ min: 1, max: 100000 })).map(([p, n]) => new Write(p, n, 'tracked', true)),
  fc.tuple(pick, fc.oneof(fc.integer({ min: 1, max: 70000 }), fc.constantFrom(0, -3, 1.5))).map(([p, n]) => new Recv(p, n)),
  fc.tuple(pick, fc.constantFrom<'readInterest' | 'writeInterest'>('readInterest', 'writeInterest'), fc.boolean()).map(([p, w, on]) => new SetInterest(p, w, on)),
  fc.tuple(pick, fc.boolean()).map(([p, abrupt]) => new Close(p, abrupt)),
  fc.tuple(pick, fc.nat({ max: 1 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), fc.integer({ min: 1, max: 70000 }))
    .map(([p, o, max, act, size]) => new Pump(p, o, max, act, size)),
  fc.tuple(pick, fc.nat({ max: 1 }), fc.integer({ min: 1, max: 8 }), fc.constant(true), fc.integer({ min: 1, max: 70000 }))
    .map(([p, o, max, act, size]) => new Pump(p, o, max, act, size)),
  pick.map((p) => new AwaitOpened(p)),
  pick.map((p) => new Drain(p)),
  fc.constant(new Settle()),
];

// ---- the property -------------------------------------------------------------------

t.test('random API call sequences on channels keep state, events, errors and bytes as documented', async (t) => {
  const dead = await deadAddress(t, families[0]!);
  let runs = 0;
  let commands = 0;
  const unhandled: string[] = [];
  const onRejection = (reason: unknown): void => { unhandled.push(`unhandledRejection: ${describe(reason)}`); };
  const onException = (error: Error): void => { unhandled.push(`uncaughtException: ${describe(error)}`); };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.teardown(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });

  await fc.assert(fc.asyncProperty(fc.commands(commandArbs, { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
    runs++;
    unhandled.length = 0;
    const map = new ChannelMap();
    const server = new Channel(null, map);
    server.createSocket(AF_INET);
    server.bind(['127.0.0.1', 0]);
    server.listen(64);
    await server.opened;
    const world = new World(map, dead, server, unhandled);
    world.slots[0]?.watchOpened();
    const model: Model = { slots: [{ kind: 'channel', family: true, bound: true, phase: 'listening' }] };
    let problems: string[];
    try {
      await fc.asyncModelRun(() => ({ model, real: world }), cmds);
    } finally {
      commands += world.commands;
      problems = await teardown(world);
    }
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }), propertyParams(RUNS, PROPERTY_LIMIT_MS));
  checkRuns(t, runs, RUNS, `, ${commands} commands`);
});

/**
 * Closes everything, then checks what closing promises: every iteration and
 * every waiting write() ended, the map is empty, and nothing went unhandled.
 * Returns what did not hold.
 */
async function teardown(world: World): Promise<string[]> {
  for (const slot of world.slots) {
    slot.channel.close();
    slot.localClose ??= 'close';
  }
  closeAll(world.map, true);
  await macrotask();
  await macrotask();
  const problems: string[] = [];
  for (const slot of world.slots) {
    if (slot.channel.state !== 'closed') problems.push(`slot ${slot.index}: ${slot.channel.state} after close()`);
    for (const obs of slot.observers) if (obs.pending !== null) problems.push(`slot ${slot.index}: an iteration still waits after close()`);
    for (const w of slot.writes) if (w.outcome === 'pending') problems.push(`slot ${slot.index}: a write() still waits after close()`);
  }
  if (world.map.size !== 0) problems.push(`${world.map.size} channels left in the map`);
  problems.push(...world.unhandled.splice(0));
  return problems;
}
