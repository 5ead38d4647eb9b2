// AsyncChat's send queue (Python's `producer_fifo`): data, sources of data,
// and the close mark of `closeWhenDone()`, sent from the head as the socket
// accepts bytes. Each source (a producer, an iterable, an async iterable)
// becomes a `Pullable`, one `pull()` over the three kinds, so the queue never
// asks which kind it holds.
import { showValue } from '../internal/validate.js';
import { toChunk } from './producers.js';
import type { Producer } from './producers.js';

const EMPTY = Buffer.alloc(0);

/**
 * One source of output in AsyncChat's queue, whatever its kind.
 * @internal
 */
export interface Pullable {
  /** The next chunk (never empty); an empty buffer once exhausted; `null` while an async source has none ready. */
  pull(): Buffer | null;
  /** True while an async source is asked for a chunk and has none ready: nothing to send yet. */
  readonly waiting: boolean;
  /** Lets the source go: an iterator is returned (closed). Idempotent. */
  release(): void;
}

/** What an async source tells its owner. */
export interface PullableOwner {
  /** A chunk is ready, or the source ended. */
  ready(): void;
  /** The source threw or rejected, or yielded something that is not a chunk; it counts as exhausted. */
  failed(error: unknown): void;
}

const PRODUCED = 'Cannot send what a producer returned';

/** Python's `more()` protocol. */
class MorePullable implements Pullable {
  readonly waiting = false;
  constructor(readonly producer: Producer) {}
  pull(): Buffer { return toChunk(this.producer.more(), PRODUCED); }
  release(): void { /* a producer holds nothing to release */ }
}

/** A synchronous iterable: each `next()` gives a chunk. */
class IterablePullable implements Pullable {
  readonly waiting = false;
  #iterator: Iterator<unknown> | null;
  constructor(iterable: Iterable<unknown>) { this.#iterator = iterable[Symbol.iterator](); }
  pull(): Buffer {
    const iterator = this.#iterator;
    if (iterator === null) return EMPTY;
    for (;;) {
      const step = iterator.next();
      if (step.done === true) {
        this.#iterator = null;
        return EMPTY;
      }
      const chunk = toChunk(step.value, PRODUCED);
      if (chunk.length > 0) return chunk;
    }
  }
  release(): void {
    const iterator = this.#iterator;
    this.#iterator = null;
    iterator?.return?.();
  }
}

/**
 * An async iterable, pulled without ever being awaited by the caller: one
 * `next()` at a time, and at most one chunk read ahead of what was sent, so
 * what is read ahead stays bounded by one chunk.
 */
class AsyncPullable implements Pullable {
  #iterator: AsyncIterator<unknown> | null;
  #ready: Buffer | null = null;
  #pulling = false;
  readonly #owner: PullableOwner;

  constructor(iterable: AsyncIterable<unknown>, owner: PullableOwner) {
    this.#iterator = iterable[Symbol.asyncIterator]();
    this.#owner = owner;
  }

  get waiting(): boolean { return this.#pulling && this.#ready === null; }

  pull(): Buffer | null {
    const chunk = this.#ready;
    this.#ready = null;
    this.#next();
    if (chunk !== null) return chunk;
    return this.#iterator === null ? EMPTY : null;
  }

  #next(): void {
    const iterator = this.#iterator;
    if (this.#pulling || iterator === null) return;
    this.#pulling = true;
    const step = (async () => iterator.next())();
    step.then((result) => {
      this.#pulling = false;
      if (this.#iterator !== iterator) return; // released meanwhile
      if (result.done === true) {
        this.#iterator = null;
      } else {
        const chunk = toChunk(result.value, PRODUCED);
        if (chunk.length === 0) {
          this.#next();
          return;
        }
        this.#ready = chunk;
      }
      this.#owner.ready();
    }).catch((error: unknown) => {
      this.#pulling = false;
      if (this.#iterator !== iterator) return;
      this.#iterator = null;
      this.#ready = null;
      // It gave a bad chunk, or failed: it may hold resources still.
      closeIterator(iterator);
      this.#owner.failed(error);
      this.#owner.ready();
    });
  }

  release(): void {
    const iterator = this.#iterator;
    this.#iterator = null;
    this.#ready = null;
    // A generator suspended in a pending next() runs the return() after it.
    if (iterator !== null) closeIterator(iterator);
  }
}

/** Calls an async iterator's return(), ignoring its failure: it is let go either way. */
function closeIterator(iterator: AsyncIterator<unknown>): void {
  try {
    Promise.resolve(iterator.return?.()).catch(() => undefined);
  } catch {
    // return() threw: nothing more to release
  }
}

/**
 * Makes a Pullable of a producer, an iterable or an async iterable (a chunk
 * is handled by the caller as data).
 * @throws TypeError for anything else
 */
export function toPullable(source: unknown, owner: PullableOwner): Pullable {
  if (typeof source === 'object' && source !== null) {
    if (typeof (source as Partial<Producer>).more === 'function') return new MorePullable(source as Producer);
    if (typeof (source as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] === 'function') {
      return new AsyncPullable(source as AsyncIterable<unknown>, owner);
    }
    if (typeof (source as Partial<Iterable<unknown>>)[Symbol.iterator] === 'function') {
      return new IterablePullable(source as Iterable<unknown>);
    }
  }
  throw new TypeError(
    `Cannot push producer: expected an object with more(), an iterable or async iterable of chunks, or a Buffer, Uint8Array or string, got ${showValue(source)}`,
  );
}

/** The close mark of `closeWhenDone()` (Python's `None`); also marks a slot already sent. */
const CLOSE = Symbol('close when done');
type Entry = Buffer | Pullable | typeof CLOSE;

/** Where the queue sends: the channel. */
export interface SendTarget {
  readonly connected: boolean;
  send(data: Buffer): number;
}

/** The queue itself: entries from `#head` on, so that taking the head is O(1). */
export class SendQueue {
  #entries: Entry[] = [];
  #head = 0;
  #bytes = 0;

  /** Bytes of data queued (pushed, or pulled from a source and not yet sent). */
  get bytes(): number { return this.#bytes; }

  /** Whether nothing is queued: no data, source or close mark. */
  get empty(): boolean { return this.#head >= this.#entries.length; }

  /** Whether the head can be sent now: something is queued and it is not an async source still waiting. */
  get ready(): boolean {
    const first = this.#entries[this.#head];
    if (first === undefined) return false;
    return first === CLOSE || Buffer.isBuffer(first) || !first.waiting;
  }

  /** Queues data in pieces of at most `pieceSize` bytes. */
  pushData(data: Buffer, pieceSize: number): void {
    if (data.length <= pieceSize) this.#entries.push(data); // no view made of the whole
    else for (let at = 0; at < data.length; at += pieceSize) this.#entries.push(data.subarray(at, at + pieceSize));
    this.#bytes += data.length;
  }

  pushSource(source: Pullable): void { this.#entries.push(source); }

  pushClose(): void { this.#entries.push(CLOSE); }

  /**
   * Sends from the head while `to.send()` takes every byte offered and `to`
   * is connected. Each source's chunks go before it (Python's `appendleft`).
   * @returns true when it reached the close mark (now taken off the queue)
   */
  flush(to: SendTarget): boolean {
    while (this.#head < this.#entries.length && to.connected) {
      const entries = this.#entries; // #shift() may replace it
      const first = entries[this.#head] as Entry;
      if (first === CLOSE) {
        this.#shift();
        return true;
      }
      if (Buffer.isBuffer(first)) {
        const sent = to.send(first);
        this.#bytes -= sent;
        if (sent < first.length) {
          if (sent > 0) entries[this.#head] = first.subarray(sent);
          return false;
        }
        this.#shift();
        continue;
      }
      let chunk: Buffer | null;
      try {
        chunk = first.pull();
      } catch (error) {
        this.#shift(); // a source that threw is done: the queue goes on after it
        first.release();
        throw error;
      }
      if (chunk === null) return false; // an async source: its chunk comes later
      if (chunk.length === 0) {
        this.#shift(); // exhausted
        continue;
      }
      if (this.#head > 0) entries[--this.#head] = chunk;
      else entries.unshift(chunk);
      this.#bytes += chunk.length;
    }
    return false;
  }

  /** Empties the queue, releasing its sources. */
  clear(): void {
    const entries = this.#entries;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
    for (const entry of entries) if (entry !== CLOSE && !Buffer.isBuffer(entry)) entry.release();
  }

  #shift(): void {
    const entries = this.#entries;
    entries[this.#head++] = CLOSE; // drops the reference
    if (this.#head === entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= entries.length) {
      this.#entries = entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
