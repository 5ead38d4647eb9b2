// The loop's scheduler. Why not ix's `merge`: it races every source on every
// event (cost O(sources) per event) and cannot take sources added while it
// runs. Here each channel tells the engine when its state changes; the engine
// keeps a queue of channels that may have an event, asks only those, and
// re-asks a channel right after it produced one (readiness is a level).
//
// Events are handed out in rounds: a round is the queue as it stood when the
// round began. Between two rounds the consumer yields a macrotask, so one
// always-ready channel cannot starve I/O, timers or the other channels.
import { performance } from 'node:perf_hooks';
import type { ChannelMap, MapMember } from './channel-map.js';
import { newCursor } from './cursor.js';
import type { EventCursor, Watcher } from './cursor.js';
import type { CoreEvent } from './events.js';
import { Core, coreOf } from './readiness.js';
import type { Front } from './readiness.js';

type Member = MapMember;
type Event = CoreEvent<Front>;

/** One channel in the engine; its own change watcher (no closure per channel). */
export class Entry implements Watcher {
  readonly cursor: EventCursor = newCursor();
  queued = false;
  busy = false;
  /** The channel left the map; dropped once it has nothing more to report. */
  leaving = false;
  removed = false;
  /** Position in the engine's list of polled entries, or -1 (not polled, or dropped). */
  polledAt = -1;
  /** What asking its interest threw during a sweep, reported at its next turn. */
  failure: { readonly error: unknown } | null = null;
  constructor(
    readonly channel: Member,
    readonly core: Core,
    readonly wake: (entry: Entry) => void,
  ) {}

  changed(): void { this.wake(this); }
}

export const ROUND_END = Symbol('round end');

function startRound(resolve: () => void): void {
  Core.flushSignals();
  resolve();
}

/**
 * The yield between two rounds: a macrotask, after which the batched signals
 * of the poll phase just ended are delivered before the round starts, so a
 * round sees what the last poll found, as a select() loop's pass does.
 * Without it the round would start from the setImmediate queued in the turn
 * before, ahead of this turn's batch, and each event would wait one more turn.
 */
export function nextRound(): Promise<void> {
  return new Promise((resolve) => setImmediate(startRound, resolve));
}

export type WaitResult = 'woke' | 'timeout' | 'end' | 'stop';

/** How many polled channels a round re-asks: bounded, so an event costs O(1). */
export const SWEEP_BATCH = 64;
/** With more polled channels than SWEEP_BATCH, the least time between two round sweeps. */
export const BUSY_SWEEP_MS = 1;
/**
 * How many polled channels an idle tick re-asks. A peek of an idle
 * dispatcher costs about 0.2 µs once 10,000 of them no longer fit the CPU's
 * caches, and each wake of the process over 100 µs on a virtual machine:
 * 1,024 peeks every 100 ms keep an idle loop well under 1% of a core.
 */
export const IDLE_SWEEP_BATCH = 1024;

export interface EngineOptions {
  readonly map: ChannelMap;
  /** Which channels this engine serves; the others only keep the loop alive. */
  readonly accepts: (channel: Member) => boolean;
  /** Called when pulling a channel threw (a readable()/writable() that throws). */
  readonly onPullError: (channel: Member, error: unknown) => void;
  /** Milliseconds without events before a `timeout`; `null`: never report one. */
  readonly timeoutMs: number | null;
  /** Milliseconds between sweeps of polled channels while idle. */
  readonly pollMs: number;
  /**
   * Most passes to run, or `null`. A pass is a round that handed out an
   * event, or a timeout; a round that found nothing (the first look at new
   * channels, an idle sweep) is not one, so each pass waits as Python's does.
   */
  readonly count: number | null;
  /** Events to drop without handing them out or counting a pass (already dispatched one-shots). */
  readonly skip?: (event: Event) => boolean;
}

export class Engine {
  readonly #options: EngineOptions;
  readonly #entries = new Map<Member, Entry>();
  #current: Entry[] = [];
  #index = 0;
  #next: Entry[] = [];
  #yielded = true;
  /** The entries whose interest is polled, swept in rotation from `#sweepAt`. */
  readonly #polled: Entry[] = [];
  #sweepAt = 0;
  #lastBusySweep = 0;
  #rounds = 0;
  #roundCounted = false;
  #waiter: ((result: WaitResult) => void) | null = null;
  #blockedSince = 0;
  /** An event or a timeout was handed out since the idle time was last measured. */
  #active = true;
  #timeoutTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #stopped = false;
  #unwatchMap: () => void;
  /** The entry of the event last returned by `next()`. */
  last: Entry | null = null;

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#unwatchMap = options.map.watch(this.#onMapChange);
    for (const channel of options.map.values()) this.#add(channel);
  }

  readonly #wakeEntry = (entry: Entry): void => { this.#enqueue(entry); };

  readonly #onMapChange = (channel: Member, added: boolean): void => {
    if (added) this.#add(channel);
    else this.#remove(channel);
  };

  #add(channel: Member): void {
    const known = this.#entries.get(channel);
    if (known !== undefined) {
      // Removed and added back before its entry was dropped: it stays.
      known.leaving = false;
      this.#enqueue(known);
      return;
    }
    if (!this.#options.accepts(channel)) return;
    const core = coreOf(channel);
    const entry = new Entry(channel, core, this.#wakeEntry);
    core.watch(entry);
    this.#entries.set(channel, entry);
    // A computed interest (readable()/writable()) may change silently: poll it.
    if (core.polls) {
      entry.polledAt = this.#polled.push(entry) - 1;
      if (this.#polled.length === 1) this.#startPolling();
    }
    this.#enqueue(entry);
  }

  #remove(channel: Member): void {
    const entry = this.#entries.get(channel);
    if (entry !== undefined) {
      // A queued entry may still hold this consumer's last events; it is
      // dropped once pulled dry.
      entry.leaving = true;
      if (!entry.queued && !entry.busy) this.#drop(entry);
    }
    if (this.#options.map.size === 0) this.#wake('end');
  }

  #drop(entry: Entry): void {
    if (entry.removed) return;
    entry.removed = true;
    entry.core.unwatch(entry);
    this.#entries.delete(entry.channel);
    if (entry.polledAt >= 0) {
      // Swap-remove: the last entry takes this one's place.
      const last = this.#polled.pop() as Entry;
      if (last !== entry) {
        this.#polled[entry.polledAt] = last;
        last.polledAt = entry.polledAt;
      }
      entry.polledAt = -1;
      if (this.#polled.length === 0) this.#stopPolling();
    }
  }

  #enqueue(entry: Entry): void {
    if (entry.queued || entry.removed || entry.busy) return;
    entry.queued = true;
    this.#next.push(entry);
    this.#wake('woke');
  }

  #wake(result: WaitResult): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter(result);
    }
  }

  /** Marks the end of a handler's pending promise: the channel may go on. */
  release(entry: Entry): void {
    entry.busy = false;
    this.#enqueue(entry);
  }

  /** The consumer yielded a macrotask (or waited): the next round may start. */
  yielded(): void {
    this.#yielded = true;
  }

  /**
   * The next event that holds now; `ROUND_END` when the consumer must yield a
   * macrotask before the next round; `null` when nothing holds.
   */
  next(): Event | typeof ROUND_END | null {
    for (;;) {
      if (this.#index >= this.#current.length) {
        if (this.#next.length === 0) return null;
        if (!this.#yielded) return ROUND_END;
        const { count } = this.#options;
        if (count !== null && this.#rounds >= count) {
          this.#stopped = true;
          return null;
        }
        this.#roundCounted = false;
        this.#yielded = false;
        const spent = this.#current;
        spent.length = 0;
        this.#current = this.#next;
        this.#next = spent;
        this.#index = 0;
        this.#busySweep();
      }
      const entry = this.#current[this.#index++] as Entry;
      entry.queued = false;
      if (entry.removed || entry.busy) {
        // A busy channel's second look is dropped: after release() it starts a fresh round.
        entry.cursor.writeOnly = false;
        entry.cursor.secondLook = false;
        continue;
      }
      if (entry.failure !== null) {
        // Raised by a sweep: reported here, where a pull's failure is. The
        // sweeps ask again later; re-asking now would report it twice.
        const { error } = entry.failure;
        entry.failure = null;
        this.#options.onPullError(entry.channel, error);
        continue;
      }
      let event: Event | null | undefined;
      try {
        event = entry.core.pull(entry.cursor);
      } catch (error) {
        this.#options.onPullError(entry.channel, error);
        this.#enqueue(entry);
        continue;
      }
      if (event === undefined || (event === null && entry.leaving)) {
        this.#drop(entry);
        continue;
      }
      if (event === null) {
        // A second look that found no write: the read level may still hold.
        if (entry.cursor.secondLook) {
          entry.cursor.secondLook = false;
          this.#enqueue(entry);
        }
        continue;
      }
      entry.cursor.secondLook = false;
      if (this.#options.skip?.(event) === true) {
        // Not handed out and not a pass: the channel is asked again at once,
        // in this round, so a replayed one-shot costs it nothing.
        entry.queued = true;
        this.#index--;
        continue;
      }
      if (!this.#roundCounted) {
        this.#roundCounted = true;
        this.#rounds++;
      }
      this.#active = true;
      this.last = entry;
      if (event.type === 'read' || event.type === 'accept') {
        // The same channel is asked again right after, for a write only.
        entry.cursor.writeOnly = true;
        entry.cursor.secondLook = true;
        entry.queued = true;
        this.#index--;
      } else {
        this.#enqueue(entry);
      }
      return event;
    }
  }

  /**
   * Re-asks a bounded batch of polled channels, in rotation: their
   * readable()/writable() may have changed without any call on them.
   */
  #sweep(target: Entry[], batch: number): void {
    const polled = this.#polled;
    const limit = Math.min(batch, polled.length);
    for (let seen = 0; seen < limit; seen++) {
      if (this.#sweepAt >= polled.length) this.#sweepAt = 0;
      const entry = polled[this.#sweepAt++] as Entry;
      if (!entry.queued && !entry.busy && !entry.removed && this.#wouldReport(entry)) {
        entry.queued = true;
        target.push(entry);
      }
    }
  }

  /**
   * The sweep at the start of a round. With up to SWEEP_BATCH dispatchers it
   * runs every round, so each is asked before each round as in Python. Beyond
   * that, at most once per BUSY_SWEEP_MS: peeking 64 of 10,000 dispatchers
   * that no longer fit the CPU's caches costs about 13 µs, which every round
   * of a busy connection would otherwise pay.
   */
  #busySweep(): void {
    if (this.#polled.length === 0) return;
    if (this.#polled.length > SWEEP_BATCH) {
      const now = performance.now();
      if (now - this.#lastBusySweep < BUSY_SWEEP_MS) return;
      this.#lastBusySweep = now;
    }
    this.#sweep(this.#current, SWEEP_BATCH);
  }

  /**
   * Whether a sweep should queue this entry: only if a pull would report
   * something, so a sweep that finds nothing costs a readable()/writable()
   * call per channel and no round. One that throws is queued with its
   * failure, which `next()` reports the way a pull's is (a sweep may run
   * from a timer, where a thrown ExitNow would escape every loop).
   */
  #wouldReport(entry: Entry): boolean {
    try {
      return entry.core.wouldReport(entry.cursor);
    } catch (error) {
      entry.failure = { error };
      return true;
    }
  }

  /** Waits for a change, the timeout, the map to empty, or `stop()`. */
  wait(): Promise<WaitResult> {
    this.#yielded = true;
    // The last pass is over: do not wait for a timeout that would be one more.
    const { count } = this.#options;
    if (count !== null && this.#rounds >= count) this.#stopped = true;
    if (this.#stopped) return Promise.resolve('stop');
    if (this.#next.length > 0) return Promise.resolve('woke');
    if (this.#options.map.size === 0) return Promise.resolve('end');
    const { timeoutMs } = this.#options;
    if (timeoutMs !== null) {
      // Idle time counts from the last event, not from the last wake: sweeps
      // of polled channels that find nothing must not put the timeout off.
      if (this.#active) {
        this.#active = false;
        this.#blockedSince = performance.now();
      }
      this.#timeoutTimer ??= setTimeout(this.#onTimeoutTimer, timeoutMs);
    }
    return new Promise((resolve) => { this.#waiter = resolve; });
  }

  readonly #onTimeoutTimer = (): void => {
    this.#timeoutTimer = null;
    if (this.#waiter === null) return;
    const timeoutMs = this.#options.timeoutMs ?? 0;
    const left = timeoutMs - (performance.now() - this.#blockedSince);
    if (left > 1) {
      this.#timeoutTimer = setTimeout(this.#onTimeoutTimer, left);
      return;
    }
    if (this.#options.count !== null && ++this.#rounds >= this.#options.count) this.#stopped = true;
    this.#active = true;
    this.#wake('timeout');
  };

  #startPolling(): void {
    this.#pollTimer = setInterval(() => {
      if (this.#waiter === null) return;
      this.#sweep(this.#next, IDLE_SWEEP_BATCH);
      if (this.#next.length > 0) this.#wake('woke');
    }, this.#options.pollMs);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
    this.#pollTimer = null;
  }

  /** Ends a pending or future wait with `stop`. */
  stop(): void {
    this.#stopped = true;
    this.#wake('stop');
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Releases every watcher and timer. Channels handed `close` are closed. */
  dispose(): void {
    this.#stopped = true;
    this.#unwatchMap();
    for (const entry of [...this.#entries.values()]) {
      if (entry.cursor.closeSeen) entry.core.owner.close();
      this.#drop(entry);
    }
    this.#stopPolling();
    if (this.#timeoutTimer !== null) clearTimeout(this.#timeoutTimer);
    this.#timeoutTimer = null;
    this.#wake('stop');
  }
}

