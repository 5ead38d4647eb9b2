// The iterator behind Channel.chunks(). Written by hand rather than as an
// async generator: a generator suspended in `await` keeps its frame, a pending
// promise and a watcher closure alive for every idle connection (about 400
// bytes each); this object is the watcher itself and holds one resolver.
import type { Channel } from '../channel.js';
import { channelInternals } from '../channel.js';
import type { Watcher } from './cursor.js';

/** Errors here are a socket's errors, always Errors; anything else is wrapped. */
function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

const DONE: IteratorResult<Buffer, void> = Object.freeze({ done: true, value: undefined });

interface Pending {
  resolve(result: IteratorResult<Buffer, void>): void;
  reject(error: unknown): void;
  promise: Promise<IteratorResult<Buffer, void>>;
}

export class ChunkIterator implements AsyncGenerator<Buffer, void, undefined>, Watcher {
  readonly #channel: Channel;
  readonly #size: number;
  #done = false;
  #pending: Pending | null = null;

  constructor(channel: Channel, size: number) {
    this.#channel = channel;
    this.#size = size;
  }

  next(): Promise<IteratorResult<Buffer, void>> {
    if (this.#pending !== null) {
      // Calls made while one waits run after it, in order, as with a generator.
      const after = (): Promise<IteratorResult<Buffer, void>> => this.next();
      return this.#pending.promise.then(after, after);
    }
    if (this.#done) return Promise.resolve(DONE);
    let result: IteratorResult<Buffer, void> | null;
    try {
      result = this.#step();
    } catch (error) {
      return Promise.reject(toError(error));
    }
    if (result !== null) return Promise.resolve(result);
    let resolve!: (result: IteratorResult<Buffer, void>) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<IteratorResult<Buffer, void>>((res, rej) => { resolve = res; reject = rej; });
    this.#pending = { resolve, reject, promise };
    channelInternals.watch(this.#channel, this);
    return promise;
  }

  /** The next result that holds now, `null` to wait; throws a broken connection's error. */
  #step(): IteratorResult<Buffer, void> | null {
    let data: Buffer | null | undefined;
    try {
      data = channelInternals.takeChunk(this.#channel, this.#size);
    } catch (error) {
      this.#done = true;
      throw error;
    }
    if (data === null) return null;
    if (data === undefined) {
      this.#done = true;
      return DONE;
    }
    return { done: false, value: data };
  }

  /** The channel's change notification (see {@link Watcher}). */
  changed(): void {
    const pending = this.#pending;
    if (pending === null) return;
    let result: IteratorResult<Buffer, void> | null;
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
    channelInternals.unwatch(this.#channel, this);
  }

  return(): Promise<IteratorResult<Buffer, void>> {
    this.#done = true;
    const pending = this.#pending;
    if (pending !== null) {
      this.#settle();
      pending.resolve(DONE);
    }
    return Promise.resolve(DONE);
  }

  throw(error: unknown): Promise<IteratorResult<Buffer, void>> {
    void this.return();
    return Promise.reject(toError(error));
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}
