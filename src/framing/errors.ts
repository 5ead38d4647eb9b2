// The framing layer's typed errors.

/**
 * A frame passed its limit (`maxFrameLength` of an {@link AsyncChat},
 * `maxLength` of a frame reader) before its terminator came: the peer sent
 * more than the protocol allows, or never sent the terminator. Raised as
 * soon as the limit is passed, so memory stays bounded whatever the peer
 * sends.
 * @example
 * ```ts
 * class Lines extends AsyncChat {
 *   override frameTooLong(error: FrameTooLongError): void {
 *     console.log(`line of ${error.length}+ bytes over ${error.limit}`);
 *     this.close();
 *   }
 * }
 * ```
 */
export class FrameTooLongError extends Error {
  /**
   * Always `'ERR_FRAME_TOO_LONG'`: test it rather than the message.
   * @example
   * ```ts
   * if ((err as FrameTooLongError).code === 'ERR_FRAME_TOO_LONG') conn.close();
   * ```
   */
  readonly code = 'ERR_FRAME_TOO_LONG';

  /**
   * Always `'FrameTooLongError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(new FrameTooLongError(70000, 65536)) // 'FrameTooLongError: Cannot read frame: ...'
   * ```
   */
  override readonly name = 'FrameTooLongError';

  /**
   * The bytes of the frame seen when the limit was passed (more may have followed).
   * @example
   * ```ts
   * new FrameTooLongError(70000, 65536).length // 70000
   * ```
   */
  readonly length: number;

  /**
   * The limit that was passed.
   * @example
   * ```ts
   * new FrameTooLongError(70000, 65536).limit // 65536
   * ```
   */
  readonly limit: number;

  /**
   * Made by the framing layer when a frame passes its limit.
   * @param length - the bytes of the frame seen so far
   * @param limit - the limit it passed
   * @example
   * ```ts
   * new FrameTooLongError(70000, 65536).message // 'Cannot read frame: 70000 bytes without a terminator, over the limit of 65536'
   * ```
   */
  constructor(length: number, limit: number) {
    super(`Cannot read frame: ${length} bytes without a terminator, over the limit of ${limit}`);
    this.length = length;
    this.limit = limit;
  }
}

/**
 * The stream ended inside a frame: the bytes of the partial frame are in
 * {@link IncompleteFrameError.partial}. asyncio's `IncompleteReadError` is the model.
 * @example
 * ```ts
 * try {
 *   await reader.readExactly(8);
 * } catch (err) {
 *   if (err instanceof IncompleteFrameError) console.log(`only ${err.partial.length} of 8 bytes came`);
 * }
 * ```
 */
export class IncompleteFrameError extends Error {
  /**
   * Always `'ERR_INCOMPLETE_FRAME'`: test it rather than the message.
   * @example
   * ```ts
   * if ((err as IncompleteFrameError).code === 'ERR_INCOMPLETE_FRAME') console.log('the peer left mid-frame');
   * ```
   */
  readonly code = 'ERR_INCOMPLETE_FRAME';

  /**
   * Always `'IncompleteFrameError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(new IncompleteFrameError(Buffer.from('ab'), 4)) // 'IncompleteFrameError: Cannot read frame: ...'
   * ```
   */
  override readonly name = 'IncompleteFrameError';

  /**
   * The bytes of the partial frame (terminator not included: it never came).
   * @example
   * ```ts
   * new IncompleteFrameError(Buffer.from('ab'), 4).partial.toString() // 'ab'
   * ```
   */
  readonly partial: Buffer;

  /**
   * The bytes the frame needed in all when that was known (a count or a
   * length prefix), else `null`.
   * @example
   * ```ts
   * new IncompleteFrameError(Buffer.from('ab'), 4).expected // 4
   * ```
   */
  readonly expected: number | null;

  /**
   * Made by the frame reader when the stream ends inside a frame.
   * @param partial - the bytes of the partial frame
   * @param expected - the frame's full length when known, else `null`
   * @example
   * ```ts
   * new IncompleteFrameError(Buffer.from('ab'), null).message // 'Cannot read frame: the stream ended after 2 bytes of it'
   * ```
   */
  constructor(partial: Buffer, expected: number | null) {
    const of = expected === null ? '' : ` of ${expected}`;
    super(`Cannot read frame: the stream ended after ${partial.length}${of} bytes of it`);
    this.partial = partial;
    this.expected = expected;
  }
}
