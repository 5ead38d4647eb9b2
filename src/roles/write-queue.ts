// The write() calls of a stream waiting for room in its window, in call
// order. A finished write leaves by moving the head rather than by
// Array#shift, which would make a long queue quadratic; the slots before the
// head are dropped once they are many and at least half of the array.
import type { Deferred } from '../internal/deferred.js';

/**
 * A write() whose bytes are not all accepted yet. A barrier (STARTTLS)
 * carries no bytes: it holds back the writes behind it until the new layer
 * is in place.
 */
export interface PendingWrite { data: Buffer; readonly done: Deferred<undefined>; readonly barrier?: true }

const COMPACT_AT = 1024;

export class WriteQueue {
  #items: (PendingWrite | undefined)[] = [];
  #head = 0;

  /** The writes waiting. */
  get size(): number { return this.#items.length - this.#head; }

  /** The oldest write waiting, if any. */
  get first(): PendingWrite | undefined { return this.#items[this.#head]; }

  push(pending: PendingWrite): void {
    this.#items.push(pending);
  }

  /** Drops the oldest write: all its bytes were accepted (or the barrier passed). */
  shift(): void {
    const items = this.#items;
    items[this.#head++] = undefined;
    const done = this.#head;
    if (done === items.length) {
      items.length = 0;
      this.#head = 0;
    } else if (done >= COMPACT_AT && done * 2 >= items.length) {
      items.splice(0, done);
      this.#head = 0;
    }
  }

  /**
   * Empties the queue, rejecting every write that waited. The reason is made
   * only when one waits: capturing a stack trace costs more than the rest
   * of a close.
   */
  rejectAll(reason: () => unknown): void {
    if (this.size === 0) return;
    const waiting = this.#items.slice(this.#head) as PendingWrite[];
    this.#items = [];
    this.#head = 0;
    const error = reason();
    for (const pending of waiting) pending.done.reject(error);
  }

  /** An aborted write leaves the queue: its bytes not yet accepted are never sent. */
  withdrawOnAbort(pending: PendingWrite, signal: AbortSignal): void {
    const onAbort = (): void => {
      const items = this.#items;
      const at = items.indexOf(pending, this.#head);
      if (at < 0) return;
      items.splice(at, 1);
      if (this.#head === items.length) {
        items.length = 0;
        this.#head = 0;
      }
      pending.done.reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const forget = (): void => { signal.removeEventListener('abort', onAbort); };
    pending.done.promise.then(forget, forget);
  }
}
