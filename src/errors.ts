/**
 * Typed errors. Each has a stable `code` that callers can test.
 * @module
 */

/** Every error code this library sets on its own errors. @example `if (err.code === 'ERR_CHANNEL_CLOSED') ...` */
export type ErrorCode =
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_CHANNEL_STATE'
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_ACCEPT_QUEUE_FULL';

/**
 * The channel was closed locally before the operation could complete: a
 * `write()` whose bytes were not all accepted, `send()`/`recv()` after `close()`.
 *
 * @example
 * ```ts
 * try { channel.send('x'); } catch (err) {
 *   if (err instanceof ChannelClosedError) console.log(err.code); // 'ERR_CHANNEL_CLOSED'
 * }
 * ```
 */
export class ChannelClosedError extends Error {
  /** Always `'ERR_CHANNEL_CLOSED'`. */
  readonly code = 'ERR_CHANNEL_CLOSED';
  override readonly name = 'ChannelClosedError';
  /**
   * @param message - what failed, first
   * @param options - `{ cause }` to wrap an underlying error
   */
  constructor(message = 'Channel is closed', options?: ErrorOptions) {
    super(message, options);
  }
}

/**
 * The operation does not fit the channel's state: `listen()` before
 * `createSocket()`, `accept()` on a channel that is not listening, a second `bind()`.
 *
 * @example
 * ```ts
 * const channel = new Channel();
 * try { channel.accept(); } catch (err) { console.log((err as ChannelStateError).code); } // 'ERR_CHANNEL_STATE'
 * ```
 */
export class ChannelStateError extends Error {
  /** Always `'ERR_CHANNEL_STATE'`. */
  readonly code = 'ERR_CHANNEL_STATE';
  override readonly name = 'ChannelStateError';
}

/**
 * A feature is not built yet (today: `SOCK_DGRAM`).
 *
 * @example
 * ```ts
 * try { new Channel().createSocket(AF_INET, SOCK_DGRAM); }
 * catch (err) { console.log((err as UnsupportedError).code); } // 'ERR_NOT_SUPPORTED'
 * ```
 */
export class UnsupportedError extends Error {
  /** Always `'ERR_NOT_SUPPORTED'`. */
  readonly code = 'ERR_NOT_SUPPORTED';
  override readonly name = 'UnsupportedError';
}

/**
 * Reported (as an `error` event with operation `'accept'`) when a listening
 * channel's accept queue was full and new connections were closed at once.
 * `dropped` counts the connections closed since the last report.
 *
 * @example
 * ```ts
 * for await (const ev of listener) {
 *   if (ev.type === 'error' && ev.error instanceof AcceptQueueFullError) console.log(ev.error.dropped);
 * }
 * ```
 */
export class AcceptQueueFullError extends Error {
  /** Always `'ERR_ACCEPT_QUEUE_FULL'`. */
  readonly code = 'ERR_ACCEPT_QUEUE_FULL';
  override readonly name = 'AcceptQueueFullError';
  /** Connections closed unaccepted since this error was first reported. */
  dropped: number;
  /** @param limit - the queue's bound */
  constructor(limit: number) {
    super(`Accept queue full: more than ${limit} connections waiting, new ones closed`);
    this.dropped = 1;
  }
}

/**
 * Thrown from a handler, ends the loop: `await loop()` rejects with it.
 * Named after Python's `asyncore.ExitNow`.
 *
 * @example
 * ```ts
 * class Once extends Dispatcher {
 *   override handleRead() { this.recv(100); throw new ExitNow('done'); }
 * }
 * await loop().catch((err: unknown) => { if (!(err instanceof ExitNow)) throw err; });
 * ```
 */
export class ExitNow extends Error {
  override readonly name = 'ExitNow';
}
