// The base of the promise helpers' iterators (chunks(), connections()).
// Written by hand rather than as async generators: a generator suspended in
// `await` keeps its frame, a pending promise and a watcher closure alive for
// every idle connection (about 400 bytes each), and it can be stopped only
// once it resumes, so a return() while a next() waits would wait for the next
// item. This object is the channel's watcher itself, holds one resolver, and
// settles at once on return(). It is an ix AsyncIterableX as well, so
// `.pipe()` works on it as on every stream.
import { AsyncIterableX } from 'ix/asynciterable';
import type { Core } from '../core/readiness.js';

/** Errors here are a socket's or a channel's errors, always Errors; anything else is wrapped. */
function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** The result of a finished iteration, shared. */
export const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

interface Pending<T> {
  resolve(result: IteratorResult<T, undefined>): void;
  reject(error: unknown): void;
  promise: Promise<IteratorResult<T, undefined>>;
}

/**
 * An async iterable that is its own iterator and pulls its items from a
 * channel's state: the base of {@link ChunkIterator} and {@link Connections}.
 * @example
 * ```ts
 * const chunks = channel.chunks();
 * const first = await chunks.next();
 * await chunks.return();
 * ```
 */
export abstract class PullIterator<T> extends AsyncIterableX<T> implements AsyncIterator<T, undefined> {
  readonly #core: Core;
  readonly #signal: AbortSignal | undefined;
  #done = false;
  #pending: Pending<T> | null = null;
  #onAbort: (() => void) | null = null;

  /** @internal */
  constructor(core: Core, signal?: AbortSignal) {
    super();
    this.#core = core;
    this.#signal = signal;
    if (signal !== undefined && !signal.aborted) {
      this.#onAbort = () => { this.#aborted(); };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** @internal The core whose channel this iterates. */
  protected get core(): Core { return this.#core; }

  /**
   * The next result that holds now, `null` to wait; throws what ends the
   * iteration with an error. The iteration ends after a done result or a throw.
   * @internal
   */
  protected abstract step(): IteratorResult<T, undefined> | null;

  /**
   * The next item: waits for one; done at the end; rejects with the error
   * that ended the iteration, or with the signal's reason if it aborted.
   * Calls made while one waits run after it, in order.
   * @returns the next result
   * @example
   * ```ts
   * const { value: chunk } = await channel.chunks().next();
   * const { value: conn } = await server.connections().next();
   * ```
   */
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#pending !== null) {
      // Calls made while one waits run after it, in order, as with a generator.
      const after = (): Promise<IteratorResult<T, undefined>> => this.next();
      return this.#pending.promise.then(after, after);
    }
    if (this.#done) return Promise.resolve(DONE);
    if (this.#signal?.aborted === true) {
      this.#finish();
      // The signal's reason, as given.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(this.#signal.reason);
    }
    let result: IteratorResult<T, undefined> | null;
    try {
      result = this.#take();
    } catch (error) {
      return Promise.reject(toError(error));
    }
    if (result !== null) return Promise.resolve(result);
    let resolve!: (result: IteratorResult<T, undefined>) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<IteratorResult<T, undefined>>((res, rej) => { resolve = res; reject = rej; });
    this.#pending = { resolve, reject, promise };
    this.#core.watch(this);
    return promise;
  }

  /** One step; the iteration ends after a done result or a throw. */
  #take(): IteratorResult<T, undefined> | null {
    let result: IteratorResult<T, undefined> | null;
    try {
      result = this.step();
    } catch (error) {
      this.#finish();
      throw error;
    }
    if (result?.done === true) this.#finish();
    return result;
  }

  /**
   * The channel's change notification; called by the channel, not by users.
   * @example
   * ```ts
   * channel.chunks().changed(); // harmless: re-checks for bytes
   * server.connections().changed(); // harmless: accepts nothing unless a next() waits
   * ```
   */
  changed(): void {
    const pending = this.#pending;
    if (pending === null) return;
    let result: IteratorResult<T, undefined> | null;
    try {
      result = this.#take();
    } catch (error) {
      this.#settle();
      pending.reject(toError(error));
      return;
    }
    if (result === null) return;
    this.#settle();
    pending.resolve(result);
  }

  #settle(): void {
    this.#pending = null;
    this.#core.unwatch(this);
  }

  #finish(): void {
    this.#done = true;
    if (this.#onAbort !== null) this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = null;
  }

  /** The signal aborted: a waiting next() rejects with its reason, or the next call does. */
  #aborted(): void {
    const pending = this.#pending;
    if (pending === null) return;
    this.#finish();
    this.#settle();
    pending.reject(this.#signal?.reason);
  }

  /**
   * Stops the iteration at once (a waiting `next()` ends done); the channel stays open.
   * @returns a done result
   * @example
   * ```ts
   * await channel.chunks().return();
   * await server.connections().return();
   * ```
   */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#finish();
    const pending = this.#pending;
    if (pending !== null) {
      this.#settle();
      pending.resolve(DONE);
    }
    return Promise.resolve(DONE);
  }

  /**
   * Stops the iteration and rejects with `error`, as a generator's `throw()`.
   * @param error - the error to reject with
   * @returns a rejected promise
   * @example
   * ```ts
   * await channel.chunks().throw(new Error('stop')).catch(() => undefined);
   * ```
   */
  throw(error: unknown): Promise<IteratorResult<T, undefined>> {
    void this.return();
    return Promise.reject(toError(error));
  }

  /**
   * Iterates itself.
   * @returns this
   * @example
   * ```ts
   * for await (const chunk of channel.chunks()) console.log(chunk.length);
   * for await (const conn of server.connections()) conn.close();
   * ```
   */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Stops the iteration: `await using` support.
   * @example
   * ```ts
   * await using chunks = channel.chunks();
   * await using conns = server.connections();
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
