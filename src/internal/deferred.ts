// Node 20 has no Promise.withResolvers.
export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

export function noop(): void { /* intentionally empty */ }

/**
 * A promise with its settle functions. `handled` marks the promise as handled
 * at once, so a rejection that nobody awaits never becomes an unhandled
 * rejection, while a caller that does await it still sees the error.
 */
export function deferred<T>(handled = false): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  if (handled) promise.catch(noop);
  return { promise, resolve, reject };
}

/**
 * A promise made only when somebody asks for it: a settled state until then.
 * Channels keep two of these (`opened`, `closed`) that most programs never
 * read, and a pending promise with its settle functions costs about 200 bytes;
 * with 10,000 connections that is memory for nothing. Settles once, like a
 * promise; a rejection is marked handled, as with `deferred(true)`.
 */
export class Latch<T> {
  #state: 'pending' | 'resolved' | 'rejected' = 'pending';
  #value: T | undefined;
  #reason: unknown;
  #deferred: Deferred<T> | null = null;

  get promise(): Promise<T> {
    if (this.#deferred === null) {
      this.#deferred = deferred<T>(true);
      if (this.#state === 'resolved') this.#deferred.resolve(this.#value as T);
      else if (this.#state === 'rejected') this.#deferred.reject(this.#reason);
    }
    return this.#deferred.promise;
  }

  /** Not yet settled. */
  get pending(): boolean { return this.#state === 'pending'; }

  resolve(value: T): void {
    if (this.#state !== 'pending') return;
    this.#state = 'resolved';
    this.#value = value;
    this.#deferred?.resolve(value);
  }

  reject(reason: unknown): void {
    if (this.#state !== 'pending') return;
    this.#state = 'rejected';
    this.#reason = reason;
    this.#deferred?.reject(reason);
  }
}
