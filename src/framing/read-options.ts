// The options of a frame reader and of its reads, and the check that makes a
// delimiter bytes: what FrameReader (reader.ts) and frames() (frames.ts) share.
import type { Channel } from '../channel.js';
import { checkPositiveInteger, showValue, toBuffer } from '../internal/validate.js';
import type { LengthPrefix } from './length-prefix.js';

/**
 * What a reader reads from: a channel (over any transport), or anything
 * with a channel's `chunks()`.
 * @example
 * ```ts
 * const source: FrameSource = channelPair()[1];
 * const reader = new FrameReader(source);
 * ```
 */
export type FrameSource = Pick<Channel, 'chunks'>;

/**
 * A delimiter: bytes, or a string taken as UTF-8.
 * @example
 * ```ts
 * const crlf: Delimiter = '\r\n';
 * const nul: Delimiter = Buffer.from([0]);
 * ```
 */
export type Delimiter = Buffer | Uint8Array | string;

/**
 * Options of {@link FrameReader}.
 * @example
 * ```ts
 * const reader = new FrameReader(channel, { maxLength: 1024, partial: 'emit' });
 * ```
 */
export interface FrameReaderOptions {
  /**
   * The longest frame in bytes, delimiter or prefix not counted; default
   * 65536. A frame that passes it fails with {@link FrameTooLongError} as
   * soon as it does. `readExactly()` is not limited by it.
   */
  maxLength?: number;
  /**
   * What the end of the stream inside a frame gives: `'error'` (default)
   * rejects with an {@link IncompleteFrameError} carrying the partial bytes,
   * `'emit'` gives those bytes as the last frame.
   */
  partial?: 'error' | 'emit';
  /** The most bytes taken from the channel at a time; default 65536. */
  readSize?: number;
}

/**
 * Options of one read.
 * @example
 * ```ts
 * const line = await reader.readLine({ signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ReadOptions {
  /** Aborting it rejects the read with `signal.reason`; its bytes stay in the reader. */
  signal?: AbortSignal;
}

/**
 * Options of {@link FrameReader.readUntil} and {@link FrameReader.readLine}.
 * @example
 * ```ts
 * const line = await reader.readUntil('\r\n', { keepDelimiter: true });
 * ```
 */
export interface ReadUntilOptions extends TryReadUntilOptions, ReadOptions {}

/**
 * Options of {@link FrameReader.tryReadUntil} and {@link FrameReader.tryReadLine}
 * (which never wait, so take no signal).
 * @example
 * ```ts
 * const line = reader.tryReadUntil('\r\n', { keepDelimiter: true });
 * ```
 */
export interface TryReadUntilOptions {
  /** End the frame with the delimiter that ended it; default false. */
  keepDelimiter?: boolean;
  /**
   * This read's longest frame, instead of the reader's `maxLength` (a
   * positive integer, or `Infinity`): a short limit for a command line, a
   * longer one for a line of data.
   */
  maxLength?: number;
}

/**
 * Options of {@link FrameReader.readPrefixed} (and, but the signal, of
 * {@link FrameReader.tryReadPrefixed}): the prefix's shape, a limit and a signal.
 * @example
 * ```ts
 * const frame = await reader.readPrefixed({ lengthBytes: 4, maxLength: 1 << 20, signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ReadPrefixedOptions extends LengthPrefix, ReadOptions {
  /** This read's largest payload, instead of the reader's `maxLength` (a positive integer, or `Infinity`). */
  maxLength?: number;
}

/** A read's own limit, checked, or the reader's when it gives none. */
export function readLimit(value: unknown, readers: number): number {
  if (value === undefined) return readers;
  return value === Infinity ? value : checkPositiveInteger('maxLength', value);
}

/** Checks a delimiter (or several) and makes it bytes. */
export function toDelimiter(value: unknown): Buffer | Buffer[] {
  const one = (d: unknown): Buffer => {
    if (typeof d !== 'string' && !(d instanceof Uint8Array)) {
      throw new TypeError(`Invalid delimiter: expected a Buffer, Uint8Array or string, got ${showValue(d)}`);
    }
    const buf = toBuffer(d);
    if (buf.length === 0) throw new RangeError('Invalid delimiter: it must not be empty');
    return buf;
  };
  if (!Array.isArray(value)) return one(value);
  if (value.length === 0) throw new RangeError('Invalid delimiters: expected at least one');
  return value.map(one);
}
