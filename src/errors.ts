/**
 * Typed errors. Each has a stable `code` that callers can test.
 * @module
 */

/**
 * Every error code this library sets on its own errors.
 * @example
 * ```ts
 * const code: ErrorCode = (err as ChannelClosedError).code; // 'ERR_CHANNEL_CLOSED'
 * ```
 */
export type ErrorCode =
  | 'ERR_CHANNEL_CLOSED'
  | 'ERR_CHANNEL_STATE'
  | 'ERR_NOT_SUPPORTED'
  | 'ERR_ACCEPT_QUEUE_FULL'
  | 'ERR_CHANNEL_IDLE_TIMEOUT'
  | 'ERR_FRAME_TOO_LONG'
  | 'ERR_BAD_DESCRIPTOR'
  | 'ERR_TLS_HANDSHAKE'
  | 'ERR_TLS_HANDSHAKE_TIMEOUT'
  | 'ERR_TLS_CERTIFICATE'
  | 'ERR_TLS_HOSTNAME'
  | 'ERR_INCOMPLETE_FRAME'
  | 'ERR_SERVER_CLOSING'
  | 'ERR_CONNECT_TIMEOUT';

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
  /**
   * Always `'ERR_CHANNEL_CLOSED'`: test it rather than the message, which may change.
   * @example
   * ```ts
   * channel.write('bye\n').catch((err: unknown) => { if ((err as ChannelClosedError).code !== 'ERR_CHANNEL_CLOSED') throw err; });
   * ```
   */
  readonly code = 'ERR_CHANNEL_CLOSED';

  /**
   * Always `'ChannelClosedError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'ChannelClosedError: ...'
   * ```
   */
  override readonly name = 'ChannelClosedError';

  /**
   * Makes the error; the library throws it, and code that wraps a channel may too.
   * @param message - what failed, first (default `'Channel is closed'`)
   * @param options - `{ cause }` to wrap an underlying error
   * @example
   * ```ts
   * throw new ChannelClosedError('Cannot send: the channel is closed');
   * ```
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
  /**
   * Always `'ERR_CHANNEL_STATE'`: test it rather than the message, which may change.
   * @example
   * ```ts
   * if ((err as ChannelStateError).code === 'ERR_CHANNEL_STATE') console.error('wrong state:', (err as Error).message);
   * ```
   */
  readonly code = 'ERR_CHANNEL_STATE';

  /**
   * Always `'ChannelStateError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'ChannelStateError: ...'
   * ```
   */
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
  /**
   * Always `'ERR_NOT_SUPPORTED'`: test it rather than the message, which may change.
   * @example
   * ```ts
   * if ((err as UnsupportedError).code === 'ERR_NOT_SUPPORTED') console.error('not supported yet');
   * ```
   */
  readonly code = 'ERR_NOT_SUPPORTED';

  /**
   * Always `'UnsupportedError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'UnsupportedError: ...'
   * ```
   */
  override readonly name = 'UnsupportedError';
}

/**
 * Reported (as an `error` event with operation `'accept'`) when a listening
 * channel's accept queue was full and new connections were closed at once.
 * `dropped` counts the connections closed since the last report.
 *
 * @example
 * ```ts
 * for await (const ev of server) {
 *   if (ev.type === 'error' && ev.error instanceof AcceptQueueFullError) console.log(ev.error.dropped);
 * }
 * ```
 */
export class AcceptQueueFullError extends Error {
  /**
   * Always `'ERR_ACCEPT_QUEUE_FULL'`: test it rather than the message, which may change.
   * @example
   * ```ts
   * if (ev.type === 'error' && (ev.error as AcceptQueueFullError).code === 'ERR_ACCEPT_QUEUE_FULL') console.warn('accept queue full');
   * ```
   */
  readonly code = 'ERR_ACCEPT_QUEUE_FULL';

  /**
   * Always `'AcceptQueueFullError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'AcceptQueueFullError: ...'
   * ```
   */
  override readonly name = 'AcceptQueueFullError';

  /**
   * Connections closed unaccepted that this report stands for: 1 when it is
   * made, one more for each further drop until a consumer is handed the report.
   * @example
   * ```ts
   * if (ev.type === 'error' && ev.error instanceof AcceptQueueFullError) console.log(`${ev.error.dropped} dropped`);
   * ```
   */
  dropped: number;

  /**
   * Makes the report of one dropped connection; the listening channel makes it.
   * @param limit - the queue's bound, quoted in the message
   * @example
   * ```ts
   * new AcceptQueueFullError(1024).dropped // 1
   * ```
   */
  constructor(limit: number) {
    super(`Accept queue full: more than ${limit} connections waiting, new ones closed`);
    this.dropped = 1;
  }
}

/**
 * Reported (as an `error` event with operation `'read'`, then `close`) when a
 * connection saw no byte in either direction for its `idleTimeout`; the
 * connection is then aborted. Protects a server from peers that hold
 * connections open doing nothing, or trickling a byte now and then.
 *
 * @example
 * ```ts
 * const conn = new Channel(sock, map, { idleTimeout: 30 });
 * for await (const ev of conn) if (ev.type === 'error' && ev.error instanceof IdleTimeoutError) console.log('idle peer dropped');
 * ```
 */
export class IdleTimeoutError extends Error {
  /**
   * Always `'ERR_CHANNEL_IDLE_TIMEOUT'`: test it rather than the message.
   * @example
   * ```ts
   * const metrics = { idleDrops: 0 };
   * if (ev.type === 'error' && (ev.error as IdleTimeoutError).code === 'ERR_CHANNEL_IDLE_TIMEOUT') metrics.idleDrops++;
   * ```
   */
  readonly code = 'ERR_CHANNEL_IDLE_TIMEOUT';

  /**
   * Always `'IdleTimeoutError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'IdleTimeoutError: ...'
   * ```
   */
  override readonly name = 'IdleTimeoutError';

  /**
   * Made by the channel whose connection went idle.
   * @param seconds - the idle timeout, quoted in the message
   * @example
   * ```ts
   * new IdleTimeoutError(30).message // 'No byte sent or received for 30 s: connection aborted'
   * ```
   */
  constructor(seconds: number) {
    super(`No byte sent or received for ${seconds} s: connection aborted`);
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
  /**
   * Always `'ExitNow'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'ExitNow: ...'
   * ```
   */
  override readonly name = 'ExitNow';
}

/**
 * What a descriptor turned out to be, in a {@link BadDescriptorError}:
 * `closed` (not open), or a kind Node cannot watch for readiness.
 * @example
 * ```ts
 * const kind: DescriptorKind = 'tty';
 * ```
 */
export type DescriptorKind = 'closed' | 'file' | 'directory' | 'tty' | 'character device' | 'block device' | 'unsupported socket' | 'unknown';

/**
 * Thrown by `openDescriptor()` and `FileDispatcher` for a descriptor that
 * cannot become a channel: one that is not open, or one that is neither a
 * pipe nor a stream socket (a regular file, a terminal, a directory, a
 * device, a datagram socket), which Node cannot watch for readiness.
 *
 * @example
 * ```ts
 * try { openDescriptor(0); }
 * catch (err) { if (err instanceof BadDescriptorError && err.kind === 'tty') console.error('stdin is a terminal: pipe something in'); }
 * ```
 */
export class BadDescriptorError extends Error {
  /**
   * Always `'ERR_BAD_DESCRIPTOR'`: test it rather than the message.
   * @example
   * ```ts
   * if ((err as BadDescriptorError).code === 'ERR_BAD_DESCRIPTOR') process.exitCode = 2;
   * ```
   */
  readonly code = 'ERR_BAD_DESCRIPTOR';

  /**
   * Always `'BadDescriptorError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'BadDescriptorError: ...'
   * ```
   */
  override readonly name = 'BadDescriptorError';

  /**
   * The descriptor that was refused.
   * @example
   * ```ts
   * if (err instanceof BadDescriptorError) console.error(`descriptor ${err.fd} refused`);
   * ```
   */
  readonly fd: number;

  /**
   * What the descriptor is: `closed`, `file`, `tty` ...
   * @example
   * ```ts
   * if (err instanceof BadDescriptorError && err.kind === 'file') console.error('a regular file is always ready: read it with node:fs');
   * ```
   */
  readonly kind: DescriptorKind;

  /**
   * Made by the function that refused the descriptor.
   * @param fd - the descriptor
   * @param kind - what it is
   * @param options - `{ cause }`: the underlying error, if any
   * @example
   * ```ts
   * new BadDescriptorError(7, 'file').message // 'Cannot open descriptor 7: it is a regular file, not a pipe or a stream socket'
   * ```
   */
  constructor(fd: number, kind: DescriptorKind, options?: ErrorOptions) {
    super(kind === 'closed'
      ? `Cannot open descriptor ${fd}: it is not open`
      : `Cannot open descriptor ${fd}: it is ${KIND_TEXT[kind]}, not a pipe or a stream socket`, options);
    this.fd = fd;
    this.kind = kind;
  }
}

const KIND_TEXT: Readonly<Record<Exclude<DescriptorKind, 'closed'>, string>> = {
  file: 'a regular file',
  directory: 'a directory',
  tty: 'a terminal (TTY)',
  'character device': 'a character device',
  'block device': 'a block device',
  'unsupported socket': 'a socket Node cannot stream (datagram or raw)',
  unknown: 'of an unknown kind',
};
