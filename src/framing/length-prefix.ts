// Length-prefixed frames: an unsigned integer of 1, 2 or 4 bytes, then that
// many bytes of payload. The encoder for writes lives here; the reader's
// readPrefixed() decodes with the same options.
import { checkObject } from '../internal/options.js';
import { showValue, toBuffer } from '../internal/validate.js';

/**
 * The shape of a length prefix.
 * @example
 * ```ts
 * const prefix: LengthPrefix = { lengthBytes: 2, endian: 'little' };
 * ```
 */
export interface LengthPrefix {
  /** The prefix's size in bytes: 1, 2 or 4. */
  lengthBytes: 1 | 2 | 4;
  /** Byte order of the prefix; default `'big'` (network order). */
  endian?: 'big' | 'little';
}

/** The largest payload each prefix size can announce. */
const LARGEST = { 1: 0xff, 2: 0xffff, 4: 0xffff_ffff } as const;

/** Checks a prefix's options; returns its size and whether it is big-endian. */
export function checkPrefix(prefix: LengthPrefix): { lengthBytes: 1 | 2 | 4; big: boolean } {
  const { lengthBytes, endian = 'big' } = checkObject(prefix);
  if (![1, 2, 4].includes(lengthBytes)) {
    throw new RangeError(`Invalid lengthBytes: expected 1, 2 or 4, got ${showValue(lengthBytes)}`);
  }
  if (!['big', 'little'].includes(endian)) {
    throw new TypeError(`Invalid endian: expected 'big' or 'little', got ${showValue(endian)}`);
  }
  return { lengthBytes, big: endian === 'big' };
}

/** The payload length a prefix announces. */
export function decodeLength(header: Buffer, big: boolean): number {
  return big ? header.readUIntBE(0, header.length) : header.readUIntLE(0, header.length);
}

/**
 * Makes a length-prefixed frame: the payload's length in `lengthBytes`
 * bytes, then the payload; what `frames(channel, { lengthBytes })` and
 * `reader.readPrefixed()` read.
 * @param payload - the bytes, or a string taken as UTF-8
 * @param prefix - {@link LengthPrefix}
 * @returns a new Buffer holding the frame
 * @throws TypeError for a bad payload or endian; RangeError for a bad
 *   `lengthBytes` or a payload too long for the prefix
 * @example
 * ```ts
 * encodeFrame('hi', { lengthBytes: 2 }) // <Buffer 00 02 68 69>
 * await channel.write(encodeFrame(Buffer.from([1, 2, 3]), { lengthBytes: 4, endian: 'little' }));
 * ```
 */
export function encodeFrame(payload: Buffer | Uint8Array | string, prefix: LengthPrefix): Buffer {
  const body = toBuffer(payload);
  const { lengthBytes, big } = checkPrefix(prefix);
  const largest = LARGEST[lengthBytes];
  if (body.length > largest) {
    throw new RangeError(`Cannot encode frame: ${body.length} bytes do not fit a ${lengthBytes}-byte length prefix (at most ${largest})`);
  }
  const frame = Buffer.allocUnsafe(lengthBytes + body.length);
  if (big) frame.writeUIntBE(body.length, 0, lengthBytes);
  else frame.writeUIntLE(body.length, 0, lengthBytes);
  body.copy(frame, lengthBytes);
  return frame;
}
