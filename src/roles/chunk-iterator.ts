// The iterator behind Channel.chunks(). Written by hand rather than as an
// async generator: a generator suspended in `await` keeps its frame, a pending
// promise and a watcher closure alive for every idle connection (about 400
// bytes each); this object is the watcher itself and holds one resolver. It is
// an ix AsyncIterableX as well, so `.pipe()` works on it as on every stream.
import { AsyncIterableX } from 'ix/asynciterable';
import type { Core } from '../core/readiness.js';
import type { StreamRole } from './stream.js';

/** Errors here are a socket's errors, always Errors; anything else is wrapped. */
function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

const DONE: IteratorResult<Buffer, undefined> = Object.freeze({ done: true, value: undefined });

interface Pending {
  resolve(result: IteratorResult<Buffer, undefined>): void;
  reject(error: unknown): void;
  promise: Promise<IteratorResult<Buffer, undefined>>;
}

/** Where the chunks come from: the stream role once there is one. */
export interface ChunkSource {
  readonly core: Core;
  /** The stream role, or `null` while the channel has none yet. */
  stream(): StreamRole | null;
}

/**
 * The received bytes of a channel, from `Channel.chunks()`: an ix
 * `AsyncIterableX` of buffers that is its own iterator (call `next()`
 * directly, or `for await` it, or `.pipe()` it).
 * @example
 * ```ts
 * const chunks = channel.chunks();
 * const first = await chunks.next();
 * await chunks.return();
 * ```
 */
export class ChunkIterator extends AsyncIterableX<Buffer> implements AsyncIterator<Buffer, undefined> {
  readonly #source: ChunkSource;
  readonly #size: number;
  readonly #signal: AbortSignal | undefined;
  #done = false;
  #pending: Pending | null = null;
  #onAbort: (() => void) | null = null;

  constructor(source: ChunkSource, size: number, signal?: AbortSignal) {
    super();
    this.#source = source;
    this.#size = size;
    this.#signal = signal;
    if (signal !== undefined && !signal.aborted) {
      this.#onAbort = () => { this.#aborted(); };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /**
   * The next chunk: waits for bytes; done at the end of stream or after a
   * local close; rejects with the connection's error if it broke (after the
   * bytes that came before it), or with the signal's reason if it aborted.
   * Calls made while one waits run after it, in order.
   * @returns the next result
   * @example
   * ```ts
   * const { value, done } = await channel.chunks().next();
   * ```
   */
  next(): Promise<IteratorResult<Buffer, undefined>> {
    if (this.#pending !== null) {
      // Calls made while one waits run after it, in order, as with a generator.
      const after = (): Promise<IteratorResult<Buffer, undefined>> => this.next();
      return this.#pending.promise.then(after, after);
    }
    if (this.#done) return Promise.resolve(DONE);
    if (this.#signal?.aborted === true) {
      this.#finish();
      // The signal's reason, as given.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(this.#signal.reason);
    }
    let result: IteratorResult<Buffer, undefined> | null;
    try {
      result = this.#step();
    } catch (error) {
      return Promise.reject(toError(error));
    }
    if (result !== null) return Promise.resolve(result);
    let resolve!: (result: IteratorResult<Buffer, undefined>) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<IteratorResult<Buffer, undefined>>((res, rej) => { resolve = res; reject = rej; });
    this.#pending = { resolve, reject, promise };
    this.#source.core.watch(this);
    return promise;
  }

  /** The next result that holds now, `null` to wait; throws a broken connection's error. */
  #step(): IteratorResult<Buffer, undefined> | null {
    const stream = this.#source.stream();
    let data: Buffer | null | undefined;
    if (stream === null) {
      data = this.#source.core.life === 'closed' ? undefined : null;
    } else {
      try {
        data = stream.takeChunk(this.#size);
      } catch (error) {
        this.#finish();
        throw error;
      }
    }
    if (data === null) return null;
    if (data === undefined) {
      this.#finish();
      return DONE;
    }
    return { done: false, value: data };
  }

  /**
   * The channel's change notification; called by the channel, not by users.
   * @example
   * ```ts
   * channel.chunks().changed(); // harmless: re-checks for bytes
   * ```
   */
  changed(): void {
    const pending = this.#pending;
    if (pending === null) return;
    let result: IteratorResult<Buffer, undefined> | null;
    try {
      result = this.#step();
    } catch (error) {
      this.#settle();
      pending.reject(error);
      return;
    }
    if (result === null) return;
    this.#settle();
    pending.resolve(result);
  }

  #settle(): void {
    this.#pending = null;
    this.#source.core.unwatch(this);
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
   * Stops the iteration (a waiting `next()` ends done); the channel stays open.
   * @returns a done result
   * @example
   * ```ts
   * await channel.chunks().return();
   * ```
   */
  return(): Promise<IteratorResult<Buffer, undefined>> {
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
  throw(error: unknown): Promise<IteratorResult<Buffer, undefined>> {
    void this.return();
    return Promise.reject(toError(error));
  }

  /**
   * Iterates itself.
   * @returns this
   * @example
   * ```ts
   * for await (const chunk of channel.chunks()) console.log(chunk.length);
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
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
