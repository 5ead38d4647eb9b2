// One consumer's iteration over a channel's events. Not an async function:
// when nothing holds, the promise returned by next() is settled straight from
// the channel's change notification, saving a promise hop per event.
import type { Channel } from '../channel.js';
import { channelInternals } from '../channel.js';
import type { ChannelEvent } from '../events.js';
import { newCursor, nextMacrotask } from './cursor.js';
import type { Watcher } from './cursor.js';

// Events handed out back to back before the iterator lets the event loop run
// I/O and timers, so one always-ready channel cannot starve them.
const STREAK_LIMIT = 32;
const DONE: IteratorResult<ChannelEvent> = Object.freeze({ done: true, value: undefined });

export class EventIterator implements AsyncIterator<ChannelEvent>, Watcher {
  readonly #channel: Channel;
  readonly #cursor = newCursor();
  readonly #signal: AbortSignal | undefined;
  #done = false;
  #streak = 0;
  #pending: ((result: IteratorResult<ChannelEvent>) => void) | null = null;
  #fail: ((error: unknown) => void) | null = null;
  // The executor of every waiting next(), made once rather than per call.
  readonly #wait = (resolve: (result: IteratorResult<ChannelEvent>) => void, reject: (error: unknown) => void): void => {
    this.#pending = resolve;
    this.#fail = reject;
  };
  // Level events (read, write, accept) are one object per channel, so their
  // results repeat: the last one is reused instead of made per event.
  #lastEvent: ChannelEvent | null = null;
  #lastResult: IteratorResult<ChannelEvent> = DONE;
  #watching = false;
  #onAbort: (() => void) | null = null;

  constructor(channel: Channel, signal?: AbortSignal) {
    this.#channel = channel;
    this.#signal = signal;
    if (signal?.aborted === true) {
      this.#done = true;
    } else if (signal !== undefined) {
      this.#onAbort = () => { this.#finish(); };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  next(): Promise<IteratorResult<ChannelEvent>> {
    if (this.#done) return Promise.resolve(DONE);
    if (this.#streak >= STREAK_LIMIT) {
      this.#streak = 0;
      return nextMacrotask().then(() => this.next());
    }
    let result: IteratorResult<ChannelEvent> | null;
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
      channelInternals.watch(this.#channel, this);
    }
    return new Promise(this.#wait);
  }

  /** The next result that holds now, or null. */
  #take(): IteratorResult<ChannelEvent> | null {
    const event = channelInternals.pull(this.#channel, this.#cursor);
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
    let result: IteratorResult<ChannelEvent> | null;
    try {
      result = this.#take();
    } catch (error) {
      // A readable()/writable() that throws: the waiting next() rejects with
      // it, as one that found it at once does, and the iteration ends.
      const fail = this.#fail;
      this.#pending = null;
      this.#fail = null;
      this.#finish();
      fail?.(error);
      return;
    }
    if (result === null || this.#pending === null) return;
    this.#pending = null;
    this.#fail = null;
    pending(result);
  }

  return(): Promise<IteratorResult<ChannelEvent>> {
    // Stopping is not closing, except that a consumer handed `close` is done with it.
    if (this.#cursor.closeSeen) channelInternals.pull(this.#channel, this.#cursor);
    this.#finish();
    return Promise.resolve(DONE);
  }

  #finish(): void {
    this.#done = true;
    if (this.#onAbort !== null) this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#watching) {
      this.#watching = false;
      channelInternals.unwatch(this.#channel, this);
    }
    const pending = this.#pending;
    this.#pending = null;
    this.#fail = null;
    pending?.(DONE);
  }
}
