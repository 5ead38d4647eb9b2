// What AsyncChat sends: Python's producers (an object whose `more()` returns
// the next bytes, empty once exhausted), `SimpleProducer`, and our addition,
// any iterable or async iterable of chunks (send-queue.ts pulls them).
import { showValue } from '../internal/validate.js';

/**
 * A chunk of output: a Buffer, a Uint8Array, or a string (sent as UTF-8).
 * @example
 * ```ts
 * const chunks: Chunk[] = [Buffer.from('a'), new Uint8Array([98]), 'c'];
 * ```
 */
export type Chunk = Buffer | Uint8Array | string;

/**
 * Python's producer protocol: `more()` returns the next bytes to send, and an
 * empty chunk once it has nothing more. {@link AsyncChat.pushWithProducer}
 * calls it only when the socket can take more, so a producer can generate
 * its output lazily.
 * @example
 * ```ts
 * class Countdown implements Producer {
 *   #n = 3;
 *   more(): string { return this.#n > 0 ? `${this.#n--}\n` : ''; }
 * }
 * ```
 */
export interface Producer {
  /**
   * The next bytes to send; an empty chunk once exhausted.
   * @returns a Buffer, Uint8Array or string
   * @example
   * ```ts
   * const producer: Producer = { more: () => '' }; // exhausted at once
   * ```
   */
  more(): Chunk;
}

/**
 * What {@link AsyncChat.pushWithProducer} accepts: a {@link Producer}, a
 * chunk (sent as data, as Python accepts bytes there), or an iterable or async
 * iterable of chunks.
 * @example
 * ```ts
 * async function* rows(): AsyncGenerator<string> { yield 'a\n'; yield 'b\n'; }
 * const sources: ProducerLike[] = [new SimpleProducer('x'), 'data', ['a', 'b'], rows()];
 * ```
 */
export type ProducerLike = Producer | Chunk | Iterable<Chunk> | AsyncIterable<Chunk>;

/**
 * Python's `simple_producer`: hands out `data` in pieces of at most
 * `bufferSize` bytes.
 * @example
 * ```ts
 * class Greeter extends AsyncChat {
 *   override handleConnect(): void { this.pushWithProducer(new SimpleProducer('hello\r\n'.repeat(100), 64)); }
 * }
 * ```
 */
export class SimpleProducer implements Producer {
  #data: Buffer;
  readonly #bufferSize: number;

  /**
   * @param data - the bytes to hand out (a string is encoded as UTF-8)
   * @param bufferSize - the most bytes per `more()` (a positive integer; default 512, as in Python)
   * @throws TypeError for other data; TypeError/RangeError for a bad size
   * @example
   * ```ts
   * const producer = new SimpleProducer(Buffer.alloc(2000), 1024);
   * ```
   */
  constructor(data: Chunk, bufferSize = 512) {
    this.#data = toChunk(data, 'Cannot make SimpleProducer');
    if (typeof bufferSize !== 'number' || !Number.isInteger(bufferSize)) {
      throw new TypeError(`Cannot make SimpleProducer: bufferSize must be an integer, got ${showValue(bufferSize)}`);
    }
    if (bufferSize <= 0) throw new RangeError(`Cannot make SimpleProducer: bufferSize must be positive, got ${bufferSize}`);
    this.#bufferSize = bufferSize;
  }

  /**
   * The next piece of the data; an empty buffer once all was handed out.
   * @returns at most `bufferSize` bytes
   * @example
   * ```ts
   * const producer = new SimpleProducer('abcdef', 4);
   * producer.more().toString(); // 'abcd'
   * producer.more().toString(); // 'ef'
   * producer.more().length;     // 0
   * ```
   */
  more(): Buffer {
    const piece = this.#data.subarray(0, this.#bufferSize);
    this.#data = this.#data.subarray(piece.length);
    return piece;
  }
}

/** A chunk as a Buffer (a Uint8Array is not copied); TypeError for anything else. */
export function toChunk(data: unknown, action: string): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`${action}: expected a Buffer, Uint8Array or string, got ${showValue(data)}`);
}

export function isChunk(value: unknown): value is Chunk {
  return typeof value === 'string' || value instanceof Uint8Array;
}
