// One consumer's iteration over a channel's events. Not an async function:
// when nothing holds, the promise returned by next() is settled straight from
// the channel's change notification, saving a promise hop per event.
import { newCursor, nextMacrotask } from './cursor.js';
import type { Watcher } from './cursor.js';
import type { CoreEvent } from './events.js';
import type { Core, Front } from './readiness.js';

// Events handed out back to back before the iterator lets the event loop run
// I/O and timers, so one always-ready channel cannot starve them.
const STREAK_LIMIT = 32;
const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

export class EventIterator<F extends Front> implements AsyncIterator<CoreEvent<F>>, Watcher {
  readonly #core: Core<F>;
  readonly #cursor = newCursor();
  readonly #signal: AbortSignal | undefined;
  #done = false;
  #streak = 0;
  #pending: ((result: IteratorResult<CoreEvent<F>>) => void) | null = null;
  #fail: ((error: unknown) => void) | null = null;
  // The promise of a next() not yet settled (waiting for a change, or for a
  // macrotask after a streak): later calls run after it, in order.
  #inFlight: Promise<IteratorResult<CoreEvent<F>>> | null = null;
  // The executor of every waiting next(), made once rather than per call.
  readonly #wait = (resolve: (result: IteratorResult<CoreEvent<F>>) => void, reject: (error: unknown) => void): void => {
    this.#pending = resolve;
    this.#fail = reject;
  };
  // Level events (read, write, accept) are one object per channel, so their
  // results repeat: the last one is reused instead of made per event.
  #lastEvent: CoreEvent<F> | null = null;
  #lastResult: IteratorResult<CoreEvent<F>> = DONE;
  #watching = false;
  #onAbort: (() => void) | null = null;

  constructor(core: Core<F>, signal?: AbortSignal) {
    this.#core = core;
    this.#signal = signal;
    if (signal?.aborted === true) {
      this.#done = true;
      this.#abort = { reason: signal.reason };
    } else if (signal !== undefined) {
      this.#onAbort = () => { this.#aborted(signal.reason); };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  // An abort not yet reported: the next next() rejects with its reason, once.
  #abort: { reason: unknown } | null = null;

  /** The signal aborted: a waiting next() rejects with its reason, or the next one does. */
  #aborted(reason: unknown): void {
    const fail = this.#fail;
    this.#pending = null;
    this.#fail = null;
    this.#inFlight = null;
    if (fail !== null) fail(reason);
    else this.#abort = { reason };
    this.#finish();
  }

  next(): Promise<IteratorResult<CoreEvent<F>>> {
    if (this.#inFlight !== null) {
      // Calls made while one is in flight run after it, in order, as with a generator.
      const after = (): Promise<IteratorResult<CoreEvent<F>>> => this.next();
      return this.#inFlight.then(after, after);
    }
    if (this.#done) {
      const abort = this.#abort;
      if (abort === null) return Promise.resolve(DONE);
      this.#abort = null;
      // The signal's reason, as given: what the caller chose to abort with.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(abort.reason);
    }
    if (this.#streak >= STREAK_LIMIT) {
      this.#streak = 0;
      const later = nextMacrotask().then(() => {
        this.#inFlight = null;
        return this.next();
      });
      this.#inFlight = later;
      return later;
    }
    let result: IteratorResult<CoreEvent<F>> | null;
    try {
      result = this.#take();
    } catch (error) {
      // A readable()/writable() that throws ends the iteration with its error.
      this.#finish();
      // What the user's readable()/writable() threw, as thrown: the loop hands
      // the same value to handleError().
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    if (result !== null) {
      this.#streak++;
      return Promise.resolve(result);
    }
    this.#streak = 0;
    if (!this.#watching) {
      this.#watching = true;
      this.#core.watch(this);
    }
    const waiting = new Promise(this.#wait);
    this.#inFlight = waiting;
    return waiting;
  }

  /** The next result that holds now, or null. */
  #take(): IteratorResult<CoreEvent<F>> | null {
    const event = this.#core.pull(this.#cursor);
    if (event === undefined) {
      this.#finish();
      return DONE;
    }
    if (event === null) return null;
    if (event !== this.#lastEvent) {
      this.#lastEvent = event;
      this.#lastResult = Object.freeze({ done: false, value: event });
    }
    return this.#lastResult;
  }

  /** The channel's change notification (see {@link Watcher}). */
  changed(): void {
    const pending = this.#pending;
    if (pending === null || this.#done) return;
    let result: IteratorResult<CoreEvent<F>> | null;
    try {
      result = this.#take();
    } catch (error) {
      // A readable()/writable() that throws: the waiting next() rejects with
      // it, as one that found it at once does, and the iteration ends.
      const fail = this.#fail;
      this.#pending = null;
      this.#fail = null;
      this.#inFlight = null;
      this.#finish();
      fail?.(error);
      return;
    }
    if (result === null || this.#pending === null) return;
    this.#pending = null;
    this.#fail = null;
    this.#inFlight = null;
    pending(result);
  }

  return(): Promise<IteratorResult<CoreEvent<F>>> {
    // Stopping is not closing, except that a consumer handed `close` is done with it.
    if (this.#cursor.closeSeen) this.#core.pull(this.#cursor);
    this.#finish();
    return Promise.resolve(DONE);
  }

  #finish(): void {
    this.#done = true;
    if (this.#onAbort !== null) this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#watching) {
      this.#watching = false;
      this.#core.unwatch(this);
    }
    const pending = this.#pending;
    this.#pending = null;
    this.#fail = null;
    if (pending !== null) {
      this.#inFlight = null;
      pending(DONE);
    }
  }
}
