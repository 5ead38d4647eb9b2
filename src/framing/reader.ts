// The frame reader: one buffer over a channel's bytes, read in the mode the
// protocol is in at the moment (up to a delimiter, a count of bytes, a
// length-prefixed frame). It pulls a chunk from the channel only when the
// frame asked for is not already held, so the channel's own backpressure
// holds: while nobody reads, the reader holds at most one chunk and the
// channel stops reading at its high-water mark. What it holds between reads
// lives in the scanner (bytes not yet scanned) and in #unread (bytes handed
// back by a read that was cancelled or found no frame held, scanned first by
// the next read). The try-reads only ever scan those: they never pull.
import { ChannelStateError } from '../errors.js';
import { checkObject } from '../internal/options.js';
import { checkPositiveInteger, showValue } from '../internal/validate.js';
import { FrameTooLongError, IncompleteFrameError } from './errors.js';
import { checkPrefix, decodeLength } from './length-prefix.js';
import { readLimit, toDelimiter } from './read-options.js';
import type {
  Delimiter, FrameReaderOptions, FrameSource, ReadOptions, ReadPrefixedOptions, ReadUntilOptions, TryReadUntilOptions,
} from './read-options.js';
import { CANCEL, STEP, UNREAD } from './reader-hooks.js';
import type { FrameTaker } from './reader-hooks.js';
import { FrameScanner } from './scanner.js';
import type { FrameSink, ScanTerminator } from './scanner.js';

const EMPTY = Buffer.alloc(0);
const DEFAULT_MAX_LENGTH = 65536;
const NEWLINE = Buffer.from('\n');

/**
 * Reads frames from a channel: up to a delimiter, a line, an exact count of
 * bytes, or (with `readPrefixed()`) a length-prefixed frame, switching mode
 * from one read to the next. The reader keeps one buffer and takes bytes from
 * the channel only when a read needs them; bytes it holds stay readable by
 * the next read, after a `break` out of `frames()` or an aborted read alike.
 * Reads run one at a time; each has a synchronous form (`tryReadLine()`...)
 * that gives the frame when it is held, else `null`, never waiting: a parser
 * loops on those over a pipeline. Every read resolves `null` at the end of the
 * stream when no byte of a frame came; a partial frame follows
 * {@link FrameReaderOptions.partial}. After a {@link FrameTooLongError} the
 * stream is out of step with the protocol: every later read rejects with it.
 * @example
 * ```ts
 * const reader = new FrameReader(channel);
 * const header = await reader.readLine(); // 'LENGTH 5'
 * const body = await reader.readExactly(Number(header?.toString().split(' ')[1]));
 * ```
 */
export class FrameReader {
  readonly #source: FrameSource;
  readonly #scanner: FrameScanner;
  readonly #maxLength: number;
  readonly #emitPartial: boolean;
  readonly #readSize: number;
  readonly #sink: FrameSink;
  #chunks: AsyncIterator<Buffer> | null = null;
  #unread: Buffer = EMPTY;
  /** The pieces of the frame being read. */
  #parts: Buffer[] = [];
  #found = false;
  #keep = false;
  /** The read is readLine()'s without keepDelimiter: a \r before the \n goes too. */
  #line = false;
  #failure: FrameTooLongError | null = null;
  #ended = false;
  #busy = false;
  /** The waiting read was cancelled, and with what reason. */
  #cancelled = false;
  #reason: unknown = undefined;
  /** readPrefixed() is between its two reads: others wait; a cancel is held for it. */
  #prefixing = false;
  #heldCancel: { reason: unknown } | null = null;
  /** The waiting read: what it settles, how, and what it needs when a chunk comes. */
  #resolve: ((value: unknown) => void) | null = null;
  #reject: ((error: unknown) => void) | null = null;
  #taker: FrameTaker<unknown> | null = null;
  #expected: number | null = null;
  #signal: AbortSignal | undefined = undefined;
  readonly #onAbort = (): void => { this[CANCEL](this.#signal?.reason); };

  /**
   * Makes a reader over `source`; it reads nothing until asked.
   * @param source - a channel (any transport, or one of a `channelPair()`)
   * @param options - {@link FrameReaderOptions}
   * @throws TypeError/RangeError for bad options
   * @example
   * ```ts
   * const reader = new FrameReader(channel, { maxLength: 8192 });
   * ```
   */
  constructor(source: FrameSource, options: FrameReaderOptions = {}) {
    const { partial = 'error', readSize = 65536 } = checkObject(options);
    const maxLength = readLimit(options.maxLength, DEFAULT_MAX_LENGTH);
    if (!['error', 'emit'].includes(partial)) {
      throw new TypeError(`Invalid partial: expected 'error' or 'emit', got ${showValue(partial)}`);
    }
    this.#source = source;
    this.#maxLength = maxLength;
    this.#emitPartial = partial === 'emit';
    this.#readSize = checkPositiveInteger('readSize', readSize);
    this.#scanner = new FrameScanner(maxLength);
    this.#sink = {
      collect: (data) => { this.#parts.push(data); },
      found: () => {
        if (this.#keep && this.#scanner.matched !== null) this.#parts.push(this.#scanner.matched);
        this.#found = true;
        return true;
      },
      tooLong: (length, limit) => {
        this.#failure ??= new FrameTooLongError(length, limit);
        this.#parts = [];
      },
    };
  }

  /**
   * The longest frame this reader accepts, in bytes.
   * @example
   * ```ts
   * new FrameReader(channel).maxLength // 65536
   * ```
   */
  get maxLength(): number { return this.#maxLength; }

  /**
   * Bytes the reader holds that no read has returned yet.
   * @example
   * ```ts
   * if (reader.bufferedLength > 0) console.log('the peer sent more than one frame');
   * ```
   */
  get bufferedLength(): number { return this.#unread.length + this.#scanner.pendingLength; }

  /**
   * Takes the bytes the reader holds (none is left in it), for code that
   * goes on reading the channel itself.
   * @returns the bytes held, possibly empty
   * @example
   * ```ts
   * const rest = reader.takeBuffered();
   * for await (const chunk of channel.chunks()) console.log(rest.length + chunk.length);
   * ```
   */
  takeBuffered(): Buffer {
    const held = Buffer.concat([this.#unread, this.#scanner.takePending()]);
    this.#unread = EMPTY;
    return held;
  }

  /**
   * Reads up to the first occurrence of `delimiter` (with several, the
   * earliest; at one position the longest).
   * @param delimiter - bytes or a UTF-8 string, or an array of them
   * @param options - {@link ReadUntilOptions}
   * @returns the frame without its delimiter (unless `keepDelimiter`); `null` at the end of the stream
   * @throws TypeError/RangeError for a bad delimiter; rejects with
   *   {@link FrameTooLongError}, {@link IncompleteFrameError}, the
   *   connection's error, or `signal.reason`
   * @example
   * ```ts
   * const reply = await reader.readUntil('\r\n');
   * ```
   */
  readUntil(delimiter: Delimiter | readonly Delimiter[], options: ReadUntilOptions = {}): Promise<Buffer | null> {
    return this.#read(toDelimiter(delimiter), readLimit(options.maxLength, this.#maxLength), options.keepDelimiter === true, options.signal);
  }

  /**
   * Reads a line ended by `\n` or `\r\n`.
   * @param options - {@link ReadUntilOptions}
   * @returns the line without its ending (unless `keepDelimiter`); `null` at the end of the stream
   * @throws rejects as {@link FrameReader.readUntil}
   * @example
   * ```ts
   * const greeting = await reader.readLine();
   * ```
   */
  readLine(options: ReadUntilOptions = {}): Promise<Buffer | null> {
    const keep = options.keepDelimiter === true;
    return this.#read(NEWLINE, readLimit(options.maxLength, this.#maxLength), keep, options.signal, !keep);
  }

  /**
   * Reads exactly `size` bytes (not limited by `maxLength`).
   * @param size - a non-negative integer
   * @param options - {@link ReadOptions}
   * @returns the bytes; `null` at the end of the stream
   * @throws RangeError for a bad size; rejects with
   *   {@link IncompleteFrameError} (`expected` is `size`), the connection's
   *   error, or `signal.reason`
   * @example
   * ```ts
   * const header = await reader.readExactly(4);
   * ```
   */
  readExactly(size: number, options: ReadOptions = {}): Promise<Buffer | null> {
    if (size !== 0) checkPositiveInteger('size', size);
    if (size === 0 && this.#failure === null) return Promise.resolve(EMPTY);
    return this.#read(size, Infinity, false, options.signal);
  }

  /**
   * Reads a length-prefixed frame (as made by {@link encodeFrame}). A
   * prefix announcing more than `maxLength` fails with
   * {@link FrameTooLongError} at once, before any payload is read.
   * @param prefix - {@link ReadPrefixedOptions}: `lengthBytes`, `endian`, `maxLength` and a `signal`
   * @returns the payload; `null` at the end of the stream
   * @throws TypeError/RangeError for bad options; rejects with
   *   {@link FrameTooLongError}, {@link IncompleteFrameError} (its `partial`
   *   holds the frame's bytes from its prefix on, `expected` the whole
   *   frame's length, or `null` when the prefix itself was cut), the
   *   connection's error, or `signal.reason`
   * @example
   * ```ts
   * const message = await reader.readPrefixed({ lengthBytes: 2 });
   * ```
   */
  async readPrefixed(prefix: ReadPrefixedOptions): Promise<Buffer | null> {
    const { lengthBytes, big } = checkPrefix(prefix);
    const limit = readLimit(prefix.maxLength, this.#maxLength);
    if (this.#busy || this.#prefixing) throw new ChannelStateError('Cannot read: another read of this reader is waiting');
    this.#prefixing = true;
    try {
      const header = await this.#readPart(lengthBytes, prefix.signal, null);
      if (header === null || header.length < lengthBytes) return header;
      const length = decodeLength(header, big);
      if (length > limit) throw (this.#failure = new FrameTooLongError(length, limit));
      if (length === 0) return EMPTY;
      return await this.#readBody(header, length, prefix.signal);
    } finally {
      this.#prefixing = false;
      this.#heldCancel = null;
    }
  }

  /**
   * The synchronous form of {@link FrameReader.readUntil}: the frame when
   * the reader already holds it, else `null` (the bytes held stay, for the
   * next read). It never reads from the channel, so a parser can loop on it
   * over a pipeline; `null` is the moment to send what it owes and wait
   * with the async form, which takes up where this one stopped.
   * @param delimiter - bytes or a UTF-8 string, or an array of them
   * @param options - {@link TryReadUntilOptions}
   * @returns the frame without its delimiter (unless `keepDelimiter`); `null` when it
   *   is not held whole, at the end of the stream too (the async form tells the end)
   * @throws TypeError/RangeError for a bad delimiter, {@link FrameTooLongError} as soon as
   *   the bytes held pass `maxLength`, ChannelStateError while an async read waits
   * @example
   * ```ts
   * const reply = reader.tryReadUntil('\r\n') ?? await reader.readUntil('\r\n');
   * ```
   */
  tryReadUntil(delimiter: Delimiter | readonly Delimiter[], options: TryReadUntilOptions = {}): Buffer | null {
    return this.#try(toDelimiter(delimiter), readLimit(options.maxLength, this.#maxLength), options.keepDelimiter === true, false);
  }

  /**
   * The synchronous form of {@link FrameReader.readLine}; see {@link FrameReader.tryReadUntil}.
   * @param options - {@link TryReadUntilOptions}
   * @returns the line without its ending (unless `keepDelimiter`); `null` when it is not held whole
   * @throws as {@link FrameReader.tryReadUntil}
   * @example
   * ```ts
   * const lines: Buffer[] = [];
   * for (let line = reader.tryReadLine(); line !== null; line = reader.tryReadLine()) lines.push(line);
   * ```
   */
  tryReadLine(options: TryReadUntilOptions = {}): Buffer | null {
    const keep = options.keepDelimiter === true;
    return this.#try(NEWLINE, readLimit(options.maxLength, this.#maxLength), keep, !keep);
  }

  /**
   * The synchronous form of {@link FrameReader.readExactly}; see {@link FrameReader.tryReadUntil}.
   * @param size - a non-negative integer
   * @returns the bytes; `null` when fewer are held
   * @throws RangeError for a bad size; otherwise as {@link FrameReader.tryReadUntil}
   * @example
   * ```ts
   * const header = reader.tryReadExactly(4) ?? await reader.readExactly(4);
   * ```
   */
  tryReadExactly(size: number): Buffer | null {
    if (size !== 0) checkPositiveInteger('size', size);
    this.#checkIdle(false);
    if (this.bufferedLength < size) return null;
    return size === 0 ? EMPTY : this.#begin(size, Infinity, false, undefined, false, false) as Buffer;
  }

  /**
   * The synchronous form of {@link FrameReader.readPrefixed}: the payload when the
   * whole frame is held, else `null`; see {@link FrameReader.tryReadUntil}.
   * @param prefix - `lengthBytes`, `endian` and `maxLength`, as {@link ReadPrefixedOptions} without the signal
   * @returns the payload; `null` when the frame is not held whole
   * @throws TypeError/RangeError for bad options; otherwise as {@link FrameReader.tryReadUntil}
   *   (a prefix held that announces more than `maxLength` is enough)
   * @example
   * ```ts
   * const message = reader.tryReadPrefixed({ lengthBytes: 2 }) ?? await reader.readPrefixed({ lengthBytes: 2 });
   * ```
   */
  tryReadPrefixed(prefix: Omit<ReadPrefixedOptions, 'signal'>): Buffer | null {
    const { lengthBytes, big } = checkPrefix(prefix);
    const limit = readLimit(prefix.maxLength, this.#maxLength);
    const header = this.tryReadExactly(lengthBytes);
    if (header === null) return null;
    const length = decodeLength(header, big);
    if (length > limit) throw (this.#failure = new FrameTooLongError(length, limit));
    if (this.bufferedLength < length) {
      this[UNREAD](header);
      return null;
    }
    return this.tryReadExactly(length);
  }

  /** The payload after its prefix; the prefix goes back with the rest if the read stops. */
  async #readBody(header: Buffer, length: number, signal: AbortSignal | undefined): Promise<Buffer | null> {
    const expected = header.length + length;
    let body: Buffer | null;
    try {
      // A cancel that came between the prefix and the payload.
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- the signal's reason, or the iterable's symbol
      if (this.#heldCancel !== null) throw this.#heldCancel.reason;
      body = await this.#readPart(length, signal, expected);
    } catch (error) {
      if (error instanceof IncompleteFrameError) throw new IncompleteFrameError(Buffer.concat([header, error.partial]), expected);
      this[UNREAD](header);
      throw error;
    }
    if (body === null) return this.#partialFrame(header, expected);
    return body.length < length ? Buffer.concat([header, body]) : body;
  }

  /** Reads `size` bytes of a prefixed frame; a partial part comes back short (emit) or rejects. */
  async #readPart(size: number, signal: AbortSignal | undefined, expected: number | null): Promise<Buffer | null> {
    try {
      return await this.#read(size, Infinity, false, signal, false, true);
    } catch (error) {
      if (!(error instanceof IncompleteFrameError)) throw error;
      return this.#partialFrame(error.partial, expected);
    }
  }

  /** What a frame cut by the end of the stream gives, by the `partial` option. */
  #partialFrame(partial: Buffer, expected: number | null): Buffer {
    if (!this.#emitPartial) throw new IncompleteFrameError(partial, expected);
    return partial;
  }

  /** Puts bytes back at the front, to be read first. */
  [UNREAD](data: Buffer): void {
    if (data.length === 0) return;
    // Between reads the scanner holds bytes that came after those: they follow them.
    const rest = this.#scanner.takePending();
    this.#unread = this.#unread.length === 0 && rest.length === 0 ? data : Buffer.concat([data, this.#unread, rest]);
  }

  /** Cancels the waiting read: it hands its bytes back and rejects with `reason`. */
  [CANCEL](reason: unknown): void {
    if (this.#prefixing && !this.#busy) this.#heldCancel ??= { reason };
    if (!this.#busy || this.#cancelled) return;
    this.#cancelled = true;
    this.#reason = reason;
    void this.#chunks?.return?.();
    this.#chunks = null;
  }

  /**
   * A read: served from the bytes held when they hold the frame (no waiting,
   * the common case for pipelined input), else by #wait().
   */
  #read(term: ScanTerminator, limit: number, keep: boolean, signal: AbortSignal | undefined, line = false, inner = false): Promise<Buffer | null> {
    let frame: Buffer | undefined;
    try {
      frame = this.#begin(term, limit, keep, signal, line, inner);
    } catch (error) {
      // What a read rejects with: its errors, or the signal's reason as given.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      return Promise.reject(error);
    }
    if (frame !== undefined) return Promise.resolve(frame);
    return this.#wait(typeof term === 'number' ? term : null, signal, null) as Promise<Buffer | null>;
  }

  /**
   * @internal frames()'s read: the frame when held (no promise made here),
   * else a promise of `taker`'s result. Throws what a read rejects with at once.
   */
  [STEP]<R>(term: Buffer | Buffer[], keep: boolean, signal: AbortSignal | undefined, line: boolean, taker: FrameTaker<R>): Buffer | Promise<R> {
    const frame = this.#begin(term, this.#maxLength, keep, signal, line, false);
    if (frame !== undefined) return frame;
    return this.#wait(null, signal, taker) as Promise<R>;
  }

  /** A synchronous read by a delimiter: the frame, or `null` with the bytes scanned handed back. */
  #try(term: Buffer | Buffer[], limit: number, keep: boolean, line: boolean): Buffer | null {
    const frame = this.#begin(term, limit, keep, undefined, line, false);
    if (frame !== undefined) return frame;
    if (this.#parts.length > 0 || this.#scanner.pendingLength > 0) this.#handBack(null);
    return null;
  }

  /** Throws when another read waits (but readPrefixed()'s own, `inner`), or the stream is out of step. */
  #checkIdle(inner: boolean): void {
    if (this.#busy || (this.#prefixing && !inner)) throw new ChannelStateError('Cannot read: another read of this reader is waiting');
    if (this.#failure !== null) throw this.#failure;
  }

  /** Sets the read up and scans the bytes held: the frame, or `undefined` to wait; throws a failure. */
  #begin(term: ScanTerminator, limit: number, keep: boolean, signal: AbortSignal | undefined, line: boolean, inner: boolean): Buffer | undefined {
    this.#checkIdle(inner);
    // The signal's reason, as given.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    if (signal?.aborted === true) throw signal.reason;
    this.#scanner.terminator = term;
    this.#scanner.maxFrameLength = limit;
    if (this.#parts.length > 0) this.#parts = [];
    this.#found = false;
    this.#keep = keep;
    this.#line = line;
    const first = this.#unread;
    // Nothing held: nothing to scan.
    if (first.length === 0 && this.#scanner.pendingLength === 0) return undefined;
    this.#unread = EMPTY;
    return this.#next(first);
  }

  /** Scans `data` after the bytes held: the frame, or `undefined` while it goes on; throws the limit's error. */
  #next(data: Buffer): Buffer | undefined {
    const quick = this.#scanner.quick(data, this.#keep, this.#line);
    if (quick !== undefined) return quick;
    const failure = this.#scan(data);
    if (failure === undefined) return undefined;
    if (failure !== null) throw failure;
    return this.#takeFrame();
  }

  /**
   * The rest of a read: pulls chunks until the frame is found, the stream
   * ends, or the read is cancelled. Written as a continuation on each
   * chunk's promise rather than an async function: one promise per read.
   */
  #wait(expected: number | null, signal: AbortSignal | undefined, taker: FrameTaker<unknown> | null): Promise<unknown> {
    this.#busy = true;
    this.#cancelled = false;
    this.#expected = expected;
    this.#signal = signal;
    this.#taker = taker;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    const promise = new Promise<unknown>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#pull();
    return promise;
  }

  /** Asks for the next chunk (none at the end of the stream). */
  #pull(): void {
    if (this.#ended) {
      this.#onChunk(null);
      return;
    }
    // One chunks() iterator for the reader's life (a cancel ends it: the next read makes another).
    let next: Promise<IteratorResult<Buffer>>;
    try {
      next = (this.#chunks ??= this.#source.chunks({ size: this.#readSize })).next();
    } catch (error) {
      this.#onBroken(error);
      return;
    }
    next.then(this.#onResult, this.#onBroken);
  }

  readonly #onResult = (result: IteratorResult<Buffer>): void => { this.#onChunk(this.#took(result)); };

  /** A broken connection: the next read asks the channel again. */
  readonly #onBroken = (error: unknown): void => {
    this.#chunks = null;
    this.#fail(error);
  };

  /** A chunk came (`null`: the end of the stream, or a cancel). */
  #onChunk(chunk: Buffer | null): void {
    let frame: Buffer | null | undefined;
    try {
      this.#checkCancelled(chunk);
      frame = chunk === null ? this.#atEnd(this.#expected) : this.#next(chunk);
    } catch (error) {
      this.#fail(error);
      return;
    }
    if (frame === undefined) {
      this.#pull();
      return;
    }
    this.#finish(true, frame);
  }

  /** The waiting read failed: its bytes go back (unless the stream is out of step) and it rejects. */
  #fail(error: unknown): void {
    if (error !== this.#failure) this.#handBack(null); // a no-op when nothing is held
    this.#finish(false, error);
  }

  /**
   * Settles the waiting read with its frame (`ok`) or its error; with a
   * taker, with the taker's result (which may throw) instead.
   */
  #finish(ok: boolean, value: unknown): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#signal = undefined;
    this.#busy = false; // before the promise settles, as a finally would
    const taker = this.#taker;
    const resolve = this.#resolve as (value: unknown) => void;
    const reject = this.#reject as (error: unknown) => void;
    this.#taker = null;
    this.#resolve = this.#reject = null;
    if (taker === null) {
      if (ok) resolve(value);
      else reject(value);
      return;
    }
    try {
      resolve(ok ? taker.deliver(value as Buffer | null) : taker.failed(value));
    } catch (error) {
      reject(error);
    }
  }

  /** The frame found, in one Buffer. */
  #takeFrame(): Buffer {
    const parts = this.#parts;
    this.#parts = [];
    // One piece is a view of a chunk; a kept delimiter alone is the delimiter's own Buffer: copied.
    const frame = parts.length === 1 && !this.#keep ? parts[0] as Buffer : Buffer.concat(parts);
    // A line's \r\n ending (a partial line, given by #atEnd, keeps its bytes as they came).
    return this.#line && frame[frame.length - 1] === 0x0d ? frame.subarray(0, -1) : frame;
  }

  /**
   * Scans bytes for the frame: `undefined` while it goes on, `null` once the
   * frame is found, the error once it passed the limit.
   */
  #scan(data: Buffer): FrameTooLongError | null | undefined {
    this.#scanner.scan(data, this.#sink);
    if (this.#failure !== null) return this.#failure;
    return this.#found ? null : undefined;
  }

  /** A cancelled read hands back its bytes (and the chunk just pulled) and rejects with the reason. */
  #checkCancelled(chunk: Buffer | null): void {
    if (!this.#cancelled) return;
    this.#handBack(chunk);
    // The reason is the signal's, as given; the iterable's own is a symbol.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw this.#reason;
  }

  /** The chunk pulled, or `null` at the end of the stream (or a cancel). */
  #took(result: IteratorResult<Buffer>): Buffer | null {
    if (result.done !== true) return result.value;
    if (!this.#cancelled) this.#ended = true;
    return null;
  }

  /** The stream ended inside a frame (or between frames: null). */
  #atEnd(expected: number | null): Buffer | null {
    const partial = Buffer.concat([...this.#parts, this.#scanner.takePending()]);
    this.#parts = [];
    this.#scanner.reset();
    if (partial.length === 0) return null;
    if (!this.#emitPartial) throw new IncompleteFrameError(partial, expected);
    return partial;
  }

  /** A read stopped without its frame: its bytes go back to the front, in order. */
  #handBack(chunk: Buffer | null): void {
    const parts = this.#parts;
    const pending = this.#scanner.takePending();
    if (pending.length > 0) parts.push(pending);
    if (chunk !== null) parts.push(chunk);
    this.#parts = [];
    this.#scanner.reset();
    // One piece goes back as it is: a read tried again on a partial frame copies nothing.
    this[UNREAD](parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts));
  }
}
