// The readiness core: what every channel has whatever its transport or role.
// It keeps the one-shot event log, tells watchers of changes, settles the
// `opened`/`closed` latches, and answers a consumer's pull by combining the
// log, the role's levels and the front's interest. It imports nothing from the
// roles, the transports, the public front or the classic layer: those plug in
// through the small interfaces below.
import { deferred } from '../internal/deferred.js';
import type { Deferred } from '../internal/deferred.js';
import type { EventCursor, Watcher } from './cursor.js';
import type { CodedError, CoreEvent, Operation } from './events.js';
import { SignalBatch } from './signal-batch.js';

/** The key of {@link Front}'s optional interest-failure hook. */
export const INTEREST_FAILED = Symbol('asyncore.interestFailed');

/**
 * What the core asks of the public object that owns it (the front): its
 * interest in read and write events, and how to close it. `Channel`
 * implements it; users meet it only as a name in the declarations.
 * @example
 * ```ts
 * const front: Front = channel;
 * console.log(front.readInterest, front.writeInterest);
 * ```
 */
export interface Front {
  /** Whether `read`/`accept` events are wanted (a `Dispatcher` answers with `readable()`). */
  readonly readInterest: boolean;
  /** Whether `write` events are wanted (a `Dispatcher` answers with `writable()`). */
  readonly writeInterest: boolean;
  /** Closes the channel: a consumer that was handed `close` and comes back calls it. */
  close(): void;
  /**
   * Told when asking the interest threw (a `readable()` that throws); the
   * classic layer routes it to `handleError()`. A promise it returns is the
   * handling, which a dispatch run waits for.
   */
  [INTEREST_FAILED]?(error: unknown): PromiseLike<void> | undefined;
}



/**
 * The levels a role reports: which of `read`/`accept` and `write` hold now,
 * and whether `close` is next. The core adds interest, one-shots and `close`.
 */
export interface Levels {
  /** The read-side event this role reports. */
  readonly readKind: 'read' | 'accept';
  /** Input waits (bytes, end of stream, a connection), whatever the interest. */
  readReady(): boolean;
  /** `write` holds: the role asks the front's write interest itself, after its own cheap checks. */
  writeReady(front: Front): boolean;
  /** Nothing more will hold: `close` comes next (`wantsRead`: input waits and is wanted). */
  finished(wantsRead: boolean): boolean;
  /** The channel broke (`error`) or closed (`null`): release what waits. */
  ended(error: Error | null): void;
  /** A one-shot event left the log: a consumer took it, or it was dropped unseen. */
  eventGone(event: CoreEvent<unknown>): void;
}

/** Where the core is in its life: `broken` keeps the failure until the front closes. */
export type Life = 'active' | 'broken' | 'closed';

// Long enough for any burst of one-shot events (connect, errors, drop reports);
// consumers that fall further behind skip the oldest.
const ONE_SHOT_LOG_LIMIT = 64;

/** The core of one channel; `F` is the front that events carry as `channel`. */
export class Core<F extends Front = Front> implements Watcher {
  readonly owner: F;
  life: Life = 'active';
  /** The failure that broke the channel, kept after it closes. */
  broken: CodedError | null = null;
  /** The role's levels; `null` while the channel has no role (idle). */
  levels: Levels | null = null;
  // The `opened` and `closed` latches, as fields rather than objects: most
  // programs never read them, and two latch objects cost about 110 bytes per
  // channel. A promise is made only when asked for, settled as recorded.
  #openState: 'pending' | 'resolved' | 'rejected' = 'pending';
  #openReason: unknown = undefined;
  #openWaiter: Deferred<undefined> | null = null;
  #closedSet = false;
  #closedWaiter: Deferred<undefined> | null = null;
  #log: CoreEvent<F>[] = [];
  #logBase = 0;
  // Change watchers: nearly always one (a loop or an iterator), so the first
  // has a field of its own and a set is made only for more.
  #watcher: Watcher | null = null;
  #moreWatchers: Set<Watcher> | null = null;
  // Reused event objects: level events carry nothing but the channel.
  // Made on first use: an idle channel never needs them.
  #readEvent: CoreEvent<F> | null = null;
  #writeEvent: CoreEvent<F> | null = null;
  // A socket-driven change waits in the signal batch (see signalSoon()).
  #signalQueued = false;

  /** The front's interest is computed (and may change without a call): a loop polls it. */
  readonly polls: boolean;

  constructor(owner: F, polls: boolean) {
    this.owner = owner;
    this.polls = polls;
  }

  get isClosed(): boolean { return this.life === 'closed'; }

  // ---- the opened and closed latches ---------------------------------------

  /** Resolves once opened, rejects if it never opens; never an unhandled rejection. */
  get opened(): Promise<undefined> {
    if (this.#openWaiter === null) {
      this.#openWaiter = deferred<undefined>(true);
      if (this.#openState === 'resolved') this.#openWaiter.resolve(undefined);
      else if (this.#openState === 'rejected') this.#openWaiter.reject(this.#openReason);
    }
    return this.#openWaiter.promise;
  }

  /** Not yet opened nor failed. */
  get openPending(): boolean { return this.#openState === 'pending'; }

  /** Settles `opened` as opened (once). */
  markOpened(): void {
    if (this.#openState !== 'pending') return;
    this.#openState = 'resolved';
    this.#openWaiter?.resolve(undefined);
  }

  /** Settles `opened` as failed (once). */
  markNotOpened(reason: unknown): void {
    if (this.#openState !== 'pending') return;
    this.#openState = 'rejected';
    this.#openReason = reason;
    this.#openWaiter?.reject(reason);
  }

  /** Resolves once closed; never rejects. */
  get closed(): Promise<undefined> {
    if (this.#closedWaiter === null) {
      this.#closedWaiter = deferred<undefined>(true);
      if (this.#closedSet) this.#closedWaiter.resolve(undefined);
    }
    return this.#closedWaiter.promise;
  }

  #markClosed(): void {
    if (this.#closedSet) return;
    this.#closedSet = true;
    this.#closedWaiter?.resolve(undefined);
  }

  // ---- watchers --------------------------------------------------------------

  watch(watcher: Watcher): void {
    if (this.#watcher === null) this.#watcher = watcher;
    else (this.#moreWatchers ??= new Set()).add(watcher);
  }

  unwatch(watcher: Watcher): void {
    if (this.#watcher === watcher) this.#watcher = null;
    else this.#moreWatchers?.delete(watcher);
  }

  /** Tells every watcher at once that something changed. */
  signal(): void {
    this.#watcher?.changed();
    if (this.#moreWatchers !== null) for (const watcher of this.#moreWatchers) watcher.changed();
  }

  /**
   * Tells the watchers of a change that came from the transport (bytes, end
   * of stream, room to write): at once, or batched after the poll phase when
   * several channels are busy (see signal-batch.ts).
   */
  signalSoon(): void {
    if (this.#signalQueued) return;
    if (Core.#batch.defer(this)) this.#signalQueued = true;
    else this.signal();
  }

  /**
   * As signalSoon(), for a change that comes many times a turn on one
   * channel (each datagram): call it for every one, so that the batch sees
   * the burst and wakes the consumers once for all of it.
   */
  signalEach(): void {
    if (this.#signalQueued) Core.#batch.absorb();
    else if (Core.#batch.defer(this, true)) this.#signalQueued = true;
    else this.signal();
  }

  static readonly #batch = new SignalBatch<Core>((core) => { core.changed(); });

  /** Delivers the batched signals waiting now (see SignalBatch.flushPending()). */
  static flushSignals(): void {
    Core.#batch.flushPending();
  }

  /** The batch's delivery (the core is its own watcher there). */
  changed(): void {
    this.#signalQueued = false;
    this.signal();
  }

  // ---- one-shot events and failure -----------------------------------------

  /** Appends a one-shot event (`connect`, `error`) for every consumer. */
  logEvent(event: CoreEvent<F>): void {
    this.#log.push(event);
    if (this.#log.length > ONE_SHOT_LOG_LIMIT) {
      const gone = this.#log.shift() as CoreEvent<F>;
      this.#logBase++;
      this.levels?.eventGone(gone);
    }
    this.signal();
  }

  /** Reports a one-shot `error` that leaves the channel open (an accept failure). */
  report(error: CodedError, operation: Operation): void {
    this.logEvent({ type: 'error', channel: this.owner, error, operation });
  }

  /** The channel broke: report, reject `opened`, settle `closed`, wake consumers. */
  fail(error: CodedError, operation: Operation): void {
    if (this.broken !== null || this.life === 'closed') return;
    this.broken = error;
    this.life = 'broken';
    this.logEvent({ type: 'error', channel: this.owner, error, operation });
    this.markNotOpened(error);
    this.#markClosed();
    this.levels?.ended(error);
    this.signal();
  }

  /** Marks the channel closed; returns false when it already was. */
  shutDown(notOpened: () => Error): boolean {
    if (this.life === 'closed') return false;
    this.life = 'closed';
    this.levels?.ended(null);
    if (this.#openState === 'pending') this.markNotOpened(notOpened());
    this.#markClosed();
    this.#log = [];
    this.signal();
    this.#watcher = null;
    this.#moreWatchers = null;
    return true;
  }

  // ---- the pull ----------------------------------------------------------------

  /**
   * The next event for one consumer: a one-shot event, else a level event
   * that holds now, else `close` once; `null` when nothing holds now,
   * `undefined` when the channel will report nothing more.
   */
  pull(cursor: EventCursor): CoreEvent<F> | null | undefined {
    if (cursor.closeSeen) {
      // The consumer came back after `close`: the channel is done.
      this.owner.close();
      return undefined;
    }
    if (this.life === 'closed') return undefined;
    if (cursor.writeOnly) {
      // The second look of a round: a write if one holds, else the close of
      // a channel whose read just took the end; nothing else.
      cursor.writeOnly = false;
      const levels = this.levels;
      if (levels === null) return null;
      if (!levels.writeReady(this.owner)) return this.#closeAfterRead(cursor, levels);
      cursor.preferWrite = false;
      return this.#writeEvent ??= Object.freeze({ type: 'write', channel: this.owner });
    }
    const log = this.#log;
    if (cursor.seq < this.#logBase) cursor.seq = this.#logBase;
    if (cursor.seq < this.#logBase + log.length) {
      const event = log[cursor.seq++ - this.#logBase] as CoreEvent<F>;
      this.levels?.eventGone(event);
      return event;
    }
    const levels = this.levels;
    if (levels === null) return null;
    const owner = this.owner;
    const wantsRead = levels.readReady() && owner.readInterest;
    const writeReady = levels.writeReady(owner);
    // Every ready kind goes out before any kind repeats: read and write alternate.
    if (wantsRead && (!writeReady || !cursor.preferWrite)) {
      cursor.preferWrite = writeReady;
      return this.#readEvent ??= Object.freeze({ type: levels.readKind, channel: owner });
    }
    if (writeReady) {
      cursor.preferWrite = false;
      return this.#writeEvent ??= Object.freeze({ type: 'write', channel: owner });
    }
    if (!levels.finished(wantsRead)) return null;
    return this.#close(cursor);
  }

  /** The consumer's `close`, once: its next pull closes the channel. */
  #close(cursor: EventCursor): CoreEvent<F> {
    cursor.closeSeen = true;
    return Object.freeze({ type: 'close', channel: this.owner });
  }

  /** One-shot events wait in the log that this consumer has not taken. */
  #logWaiting(cursor: EventCursor): boolean {
    return Math.max(cursor.seq, this.#logBase) < this.#logBase + this.#log.length;
  }

  /**
   * The second look found no write: if the read just handled took the end
   * of stream and nothing else is left to report, `close` comes now, in the
   * same round, as Python's `recv()` calls `handle_close()` when it reads
   * the end. Otherwise nothing: the next round asks again.
   */
  #closeAfterRead(cursor: EventCursor, levels: Levels): CoreEvent<F> | null {
    if (this.#logWaiting(cursor)) return null;
    if (!levels.finished(levels.readReady() && this.owner.readInterest)) return null;
    return this.#close(cursor);
  }

  /**
   * Whether `pull()` would report anything (anything but `null`); changes
   * nothing, but still asks the front's interest. Unlike `pull()`, it asks
   * the read interest even while no input waits: a loop's sweeps call it for
   * every polled channel in turn, and Python calls `readable()` on every
   * pass, so an idle check written there runs and one that throws is noticed.
   */
  wouldReport(cursor: EventCursor): boolean {
    if (cursor.closeSeen || this.life === 'closed') return true;
    const readInterest = this.owner.readInterest;
    if (this.#logWaiting(cursor)) return true;
    const levels = this.levels;
    if (levels === null) return false;
    const wantsRead = readInterest && levels.readReady();
    return wantsRead || levels.writeReady(this.owner) || levels.finished(wantsRead);
  }
}

/**
 * Where a front keeps its core, for the engine and the iterators (looked up
 * once per consumer, never per event). A symbol-keyed property rather than a
 * WeakMap: it costs one field, where a WeakMap entry costs more per channel.
 */
export const CORE = Symbol('asyncore.core');

/** A front that holds a core under {@link CORE}. */
export interface HasCore<F extends Front = Front> { readonly [CORE]: Core<F> }

/** The core of a front (of a map member: every member is a front). */
export function coreOf(owner: object): Core {
  const core = (owner as Partial<HasCore>)[CORE];
  if (core === undefined) throw new TypeError('Invalid channel: expected a channel made by this library');
  return core;
}
