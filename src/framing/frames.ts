// frames() and lines(): a frame reader's reads as an ix async iterable. The
// iterable is its own iterator (as chunks() is): its return() cancels a read
// that waits at once, and the bytes of that read go back into the reader, so
// a `break` leaves every byte not yet given out readable through `.reader`.
import { AsyncIterableX } from 'ix/asynciterable';
import { checkObject } from '../internal/options.js';
import { checkPrefix } from './length-prefix.js';
import type { LengthPrefix } from './length-prefix.js';
import { toDelimiter } from './read-options.js';
import type { Delimiter, FrameReaderOptions, FrameSource } from './read-options.js';
import { CANCEL, CANCELLED, STEP } from './reader-hooks.js';
import type { FrameTaker } from './reader-hooks.js';
import { FrameReader } from './reader.js';

/**
 * Options of {@link frames}: how frames end (a `delimiter`, several
 * `delimiters`, or a length prefix of `lengthBytes`), and, when `frames()`
 * makes the reader, the reader's options.
 * @example
 * ```ts
 * const options: FramesOptions = { delimiter: '\0', maxLength: 4096, encoding: 'utf8' };
 * ```
 */
export interface FramesOptions extends FrameReaderOptions, Partial<LengthPrefix> {
  /** The bytes that end each frame (a string is taken as UTF-8). */
  delimiter?: Delimiter;
  /** Several delimiters: the earliest ends a frame; at one position, the longest. */
  delimiters?: readonly Delimiter[];
  /** Give each frame with the delimiter that ended it; default false. */
  keepDelimiter?: boolean;
  /** Give strings decoded with this encoding instead of Buffers. */
  encoding?: BufferEncoding;
  /** Aborting it ends the iteration: the waiting step rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Options of {@link lines}: those of {@link frames} but the frame's end.
 * @example
 * ```ts
 * const options: LinesOptions = { maxLength: 1024, encoding: 'latin1' };
 * ```
 */
export type LinesOptions = Omit<FramesOptions, 'delimiter' | 'delimiters' | 'lengthBytes' | 'endian'>;

const NEWLINE = Buffer.from('\n');
const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

/**
 * How an iterator reads each frame (internal): up to a delimiter (`line`: a
 * readLine(), whose \r goes with the \n), or through a function (prefixed frames).
 */
export type FrameMode =
  | { readonly term: Buffer | Buffer[]; readonly keep: boolean; readonly line: boolean }
  | ((signal: AbortSignal | undefined) => Promise<Buffer | null>);

/**
 * The frames of a reader, from {@link frames} or {@link lines}: an ix
 * `AsyncIterableX` that is its own iterator. It ends at the end of the
 * stream, throws what a read rejects with, and on `return()` (a `break`)
 * stops at once, leaving the bytes not yet given out in {@link FrameIterator.reader}.
 * @example
 * ```ts
 * const it = lines(channel, { encoding: 'utf8' });
 * for await (const line of it) if (line === '') break; // the headers end
 * const body = await it.reader.readExactly(10);
 * ```
 */
export class FrameIterator<T extends Buffer | string> extends AsyncIterableX<T> implements AsyncIterator<T, undefined> {
  /**
   * The reader the frames come from: read on with it after a `break`.
   * @example
   * ```ts
   * console.log(lines(channel).reader.maxLength); // 65536
   * ```
   */
  readonly reader: FrameReader;
  readonly #mode: FrameMode;
  readonly #encoding: BufferEncoding | undefined;
  readonly #signal: AbortSignal | undefined;
  #done = false;
  #waiting: Promise<IteratorResult<T, undefined>> | null = null;
  /** What the reader settles a waiting step with: the result itself, no promise chained. */
  readonly #taker: FrameTaker<IteratorResult<T, undefined>> = {
    deliver: (frame) => this.#onFrame(frame),
    failed: (error) => this.#onError(error),
  };

  /** @internal */
  constructor(reader: FrameReader, mode: FrameMode, encoding: BufferEncoding | undefined, signal: AbortSignal | undefined) {
    super();
    this.reader = reader;
    this.#mode = mode;
    this.#encoding = encoding;
    this.#signal = signal;
  }

  /**
   * The next frame; done at the end of the stream (or after `return()`).
   * Calls made while one waits run after it, in order.
   * @returns the next result
   * @example
   * ```ts
   * const { value: greeting } = await lines(channel).next();
   * ```
   */
  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#waiting !== null) {
      const after = (): Promise<IteratorResult<T, undefined>> => this.next();
      return this.#waiting.then(after, after);
    }
    if (this.#done) return Promise.resolve(DONE);
    const mode = this.#mode;
    if (typeof mode === 'function') return this.#wait(mode(this.#signal).then(this.#onFrame, this.#onError));
    let frame: Buffer | Promise<IteratorResult<T, undefined>>;
    try {
      frame = this.reader[STEP](mode.term, mode.keep, this.#signal, mode.line, this.#taker);
    } catch (error) {
      try {
        return Promise.resolve(this.#onError(error));
      } catch (thrown) {
        // What a read rejects with: its errors, or the signal's reason as given.
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
        return Promise.reject(thrown);
      }
    }
    // A frame held: its result at once, no async step.
    if (!(frame instanceof Promise)) return Promise.resolve(this.#onFrame(frame));
    return this.#wait(frame);
  }

  #wait(step: Promise<IteratorResult<T, undefined>>): Promise<IteratorResult<T, undefined>> {
    this.#waiting = step;
    return step;
  }

  // Each clears #waiting as the step settles: calls queued behind it run next.
  readonly #onFrame = (frame: Buffer | null): IteratorResult<T, undefined> => {
    this.#waiting = null;
    if (frame === null) {
      this.#done = true;
      return DONE;
    }
    return { done: false, value: (this.#encoding === undefined ? frame : frame.toString(this.#encoding)) as T };
  };

  readonly #onError = (error: unknown): IteratorResult<T, undefined> => {
    this.#waiting = null;
    this.#done = true;
    if (error === CANCELLED) return DONE;
    throw error;
  };

  /**
   * Stops the iteration at once; a waiting `next()` ends done and its bytes
   * stay in the reader.
   * @returns a done result
   * @example
   * ```ts
   * await lines(channel).return();
   * ```
   */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#done = true;
    if (this.#waiting !== null) this.reader[CANCEL](CANCELLED);
    return Promise.resolve(DONE);
  }

  /**
   * Stops the iteration (as `return()`) and rejects with `error`.
   * @param error - the error to reject with
   * @returns a rejected promise
   * @example
   * ```ts
   * await lines(channel).throw(new Error('stop')).catch(() => undefined);
   * ```
   */
  throw(error: unknown): Promise<IteratorResult<T, undefined>> {
    void this.return();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  /**
   * Iterates itself.
   * @returns this
   * @example
   * ```ts
   * for await (const line of lines(channel)) console.log(line.length);
   * ```
   */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Stops the iteration: `await using` support.
   * @example
   * ```ts
   * await using incoming = lines(channel);
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }
}

/** The reader to use: the one given, or a new one with the reader options. */
function readerOf(source: FrameSource | FrameReader, options: FrameReaderOptions): FrameReader {
  if (!(source instanceof FrameReader)) return new FrameReader(source, options);
  const { maxLength, partial, readSize } = options;
  if (maxLength !== undefined || partial !== undefined || readSize !== undefined) {
    throw new TypeError('Invalid options: maxLength, partial and readSize belong to the reader given');
  }
  return source;
}

/**
 * The frames of a channel as an async iterable: up to a `delimiter` (or
 * the earliest of several `delimiters`), or length-prefixed frames
 * (`lengthBytes`, `endian`). Reads with the channel's backpressure: a frame
 * is read only when the consumer asks for it. Frames longer than `maxLength`
 * (default 64 KiB) throw {@link FrameTooLongError} as soon as they pass it;
 * a partial frame at the end of the stream throws
 * {@link IncompleteFrameError} (or is given, with `partial: 'emit'`).
 * @param source - a channel, or a {@link FrameReader} to go on reading with
 * @param options - {@link FramesOptions}: exactly one of `delimiter`, `delimiters` or `lengthBytes`
 * @returns an ix `AsyncIterableX` of Buffers (strings with `encoding`)
 * @throws TypeError/RangeError for bad options, at the call
 * @example
 * ```ts
 * import { map } from 'ix/asynciterable/operators';
 * const records = frames(channel, { delimiter: '\0', encoding: 'utf8' }).pipe(map((r) => r.split(',')));
 * for await (const record of records) console.log(record);
 * ```
 */
export function frames(source: FrameSource | FrameReader, options: FramesOptions & { encoding: BufferEncoding }): FrameIterator<string>;
export function frames(source: FrameSource | FrameReader, options: FramesOptions): FrameIterator<Buffer>;
export function frames(source: FrameSource | FrameReader, options: FramesOptions): FrameIterator<Buffer | string> {
  const { delimiter, delimiters, lengthBytes, endian, keepDelimiter, encoding, signal, ...readerOptions } = checkObject(options);
  const modes = [delimiter, delimiters, lengthBytes].filter((m) => m !== undefined).length;
  if (modes !== 1) throw new TypeError('Invalid options: expected exactly one of delimiter, delimiters and lengthBytes');
  if (encoding !== undefined && !Buffer.isEncoding(encoding)) throw new TypeError(`Invalid encoding: ${String(encoding)}`);
  const reader = readerOf(source, readerOptions);
  let mode: FrameMode;
  if (lengthBytes !== undefined) {
    const prefix: LengthPrefix = endian === undefined ? { lengthBytes } : { lengthBytes, endian };
    checkPrefix(prefix); // bad options throw at the call, not at the first step
    mode = (s) => reader.readPrefixed(s === undefined ? prefix : { ...prefix, signal: s });
  } else {
    mode = { term: toDelimiter(delimiter ?? delimiters), keep: keepDelimiter === true, line: false };
  }
  return new FrameIterator(reader, mode, encoding, signal);
}

/**
 * The lines of a channel, ended by `\n` or `\r\n`, as an async iterable
 * (see {@link frames}: the same backpressure, limit and end-of-stream rule).
 * @param source - a channel, or a {@link FrameReader} to go on reading with
 * @param options - {@link LinesOptions}
 * @returns an ix `AsyncIterableX` of lines without their endings (unless
 *   `keepDelimiter`), as Buffers (strings with `encoding`)
 * @throws TypeError/RangeError for bad options, at the call
 * @example
 * ```ts
 * for await (const line of lines(channel, { encoding: 'utf8' })) await channel.write(`${line.toUpperCase()}\n`);
 * ```
 */
export function lines(source: FrameSource | FrameReader, options: LinesOptions & { encoding: BufferEncoding }): FrameIterator<string>;
export function lines(source: FrameSource | FrameReader, options?: LinesOptions): FrameIterator<Buffer>;
export function lines(source: FrameSource | FrameReader, options: LinesOptions = {}): FrameIterator<Buffer | string> {
  const { keepDelimiter, encoding, signal, ...readerOptions } = checkObject(options);
  if (encoding !== undefined && !Buffer.isEncoding(encoding)) throw new TypeError(`Invalid encoding: ${String(encoding)}`);
  const reader = readerOf(source, readerOptions);
  const keep = keepDelimiter === true;
  return new FrameIterator(reader, { term: NEWLINE, keep, line: !keep }, encoding, signal);
}
