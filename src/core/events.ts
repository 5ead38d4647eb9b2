// The typed events of the readiness core, generic in the object that reports
// them (the public channel front): the core never names that class. The
// public aliases with their defaults are in src/events.ts.

/**
 * An error with the stable `code` that callers test: Node's errno errors
 * (`ECONNRESET`, `ECONNREFUSED` ...) and this library's typed errors.
 * @example
 * ```ts
 * if (ev.type === 'error' && ev.error.code === 'ECONNREFUSED') console.error('nobody listens');
 * ```
 */
export interface CodedError extends Error {
  /** The stable code: Node's (`ECONNRESET` ...) or this library's (`ERR_...`); see docs/guide.md. */
  readonly code?: string | undefined;
  /** Node's errno number, for Node's own errors. */
  readonly errno?: number | undefined;
  /** The system call that failed, for Node's own errors. */
  readonly syscall?: string | undefined;
}

/**
 * The operation in which a socket error happened (`bind`: a datagram
 * channel's bind, explicit or implicit).
 * @example
 * ```ts
 * if (ev.type === 'error' && ev.operation === 'connect') console.error('cannot connect:', ev.error);
 * ```
 */
export type Operation = 'bind' | 'connect' | 'listen' | 'accept' | 'read' | 'write' | 'close';

/**
 * What a channel reports. `read`, `write` and `accept` are levels: reported
 * again and again while they hold. `connect` is reported once, `error` once per
 * error, and `close` once, as the channel's last event.
 *
 * @example
 * ```ts
 * for await (const ev of channel) {
 *   switch (ev.type) {
 *     case 'read': console.log(channel.recv(4096)); break;
 *     case 'error': console.error(ev.operation, ev.error); break;
 *     case 'close': console.log('closed'); break;
 *   }
 * }
 * ```
 */
export type CoreEvent<C> =
  | {
      /** Received bytes, or the end of stream, wait for `recv()` (a level). */
      readonly type: 'read';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** `send()` would accept bytes and write interest is on (a level). */
      readonly type: 'write';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** The connection was made (once). */
      readonly type: 'connect';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** A connection waits in the listener's accept queue (a level). */
      readonly type: 'accept';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** The peer ended, or the connection broke or never opened, and every byte before was taken (once, last). */
      readonly type: 'close';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** Out-of-band data: part of the type for ported code, never reported on Node. */
      readonly type: 'expt';
      /** The channel that reports the event. */
      readonly channel: C;
    }
  | {
      /** A socket error happened (once per error); one that ends the connection or the listener is followed by `close`. */
      readonly type: 'error';
      /** The channel that reports the event. */
      readonly channel: C;
      /** The error: Node's own errno error, or one of this library's, each with its `code`. */
      readonly error: CodedError;
      /** Where the error happened. */
      readonly operation: Operation;
    };

/**
 * The `type` of a {@link ChannelEvent}.
 * @example
 * ```ts
 * const t: ChannelEventType = 'read';
 * ```
 */
export type CoreEventType = CoreEvent<unknown>['type'];

/**
 * Yielded by the loop when no event came within its timeout.
 * @example
 * ```ts
 * if (ev.type === 'timeout') console.log('idle');
 * ```
 */
export interface TimeoutEvent {
  /**
   * Always `'timeout'`: no channel event came within the loop's `timeout` seconds.
   * @example
   * ```ts
   * if (ev.type === 'timeout') console.log('idle');
   * ```
   */
  readonly type: 'timeout';
}

/**
 * What iterating a {@link Loop} yields.
 * @example
 * ```ts
 * for await (const ev of loop()) if (ev.type !== 'timeout') console.log(ev.channel.id);
 * ```
 */
export type CoreLoopEvent<C> = CoreEvent<C> | TimeoutEvent;
