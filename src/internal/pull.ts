// A way to take an iterator's next result with a callback instead of a
// promise, for a consumer inside the library (the frame reader over
// chunks()): one promise fewer, and no extra microtask, per item it waits for.

/** Called once with the result (`ok`), or with the error that ended the iteration. */
export type PullCallback = (ok: boolean, value: unknown) => void;

/** The method's key on an iterator that has it (a chunks() iterator). */
export const PULL: unique symbol = Symbol('pull');

/**
 * An iterator whose next result can be taken with a callback: the result
 * when one holds now, else `null` and `callback` is called once later.
 * Throws the error that ends the iteration when it holds now.
 */
export interface Pullable<T> {
  [PULL](callback: PullCallback): IteratorResult<T, undefined> | null;
}
