// The listener role: a bounded queue of accepted connections waiting for
// accept(), over the transport's server. Connections beyond the bound are
// refused at once and reported, never held without limit.
import { AcceptQueueFullError } from '../errors.js';
import type { Core, Front, Levels } from '../core/readiness.js';
import type { CodedError, CoreEvent } from '../core/events.js';

/** A listening server as the role drives it; `H` is its connection handle. */
export interface ListenerBinding<H> {
  /** Stops listening; connections already accepted are not touched. */
  close(): void;
  /** Closes a connection that will not be served (the queue is full, or the listener closed). */
  refuse(handle: H): void;
}

export class ListenerRole<H> implements Levels {
  readonly core: Core;
  readonly binding: ListenerBinding<H>;
  readonly #limit: number;
  #queue: H[] = [];
  #dropped = 0;
  // The accept-queue-full report no consumer has taken yet: later drops add to it.
  #dropReport: AcceptQueueFullError | null = null;
  /** False until the server listens (its address is known). */
  listening = false;

  constructor(core: Core, binding: ListenerBinding<H>, limit: number) {
    this.core = core;
    this.binding = binding;
    this.#limit = limit;
  }

  // A prototype getter, not a field: no per-channel cost.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  get readKind(): 'accept' { return 'accept'; }
  get dropped(): number { return this.#dropped; }
  get queued(): number { return this.#queue.length; }

  // ---- levels ------------------------------------------------------------------

  readReady(): boolean {
    return this.core.broken === null && this.#queue.length > 0;
  }

  writeReady(_front: Front): boolean {
    return false;
  }

  finished(_wantsRead: boolean): boolean {
    return this.core.broken !== null;
  }

  ended(_error: Error | null): void { /* nothing waits on a listener's writes */ }

  eventGone(event: CoreEvent<unknown>): void {
    // Once reported (or dropped unseen), a drop report is final: a later drop makes a new one.
    if (event.type === 'error' && event.error === this.#dropReport) this.#dropReport = null;
  }

  // ---- the queue -----------------------------------------------------------------

  /** The oldest waiting connection, or `null`. */
  take(): H | null {
    return this.#queue.shift() ?? null;
  }

  /** A connection arrived: queue it, or refuse it when the queue is full. */
  offer(handle: H): void {
    if (this.core.life === 'closed') {
      this.binding.refuse(handle);
      return;
    }
    if (this.#queue.length >= this.#limit) {
      this.#dropped++;
      this.binding.refuse(handle);
      if (this.#dropReport !== null) {
        this.#dropReport.dropped++;
      } else {
        this.#dropReport = new AcceptQueueFullError(this.#limit);
        this.core.report(this.#dropReport, 'accept');
      }
      return;
    }
    this.#queue.push(handle);
    this.core.signal();
  }

  /** The server failed: an accept failure leaves it open, any other ends it. */
  onError(error: CodedError): void {
    if (this.core.life === 'closed') return;
    if (this.listening) {
      // An accept failure (EMFILE ...): the listener stays open.
      this.core.report(error, 'accept');
      return;
    }
    this.binding.close();
    this.core.fail(error, 'listen');
  }

  /** Stops listening and refuses every connection still queued. */
  close(): void {
    this.binding.close();
    for (const handle of this.#queue.splice(0)) this.binding.refuse(handle);
  }
}
