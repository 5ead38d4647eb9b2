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
