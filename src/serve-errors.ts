/**
 * The typed errors of serving and connecting with a deadline: the reason a
 * server's handlers are signalled with as it shuts down, and a connection
 * attempt that took too long.
 * @module
 */

/**
 * The reason of the `signal` a {@link serve} handler is given, once the server
 * begins to shut down: the handler should finish what it is doing, say
 * goodbye if its protocol has a way, and return. Whatever is still open at
 * the end of the drain is aborted.
 *
 * @example
 * ```ts
 * const server = await serve(['127.0.0.1', 0], async (conn, { signal }) => {
 *   signal.addEventListener('abort', () => { console.log((signal.reason as ServerClosingError).code); }); // 'ERR_SERVER_CLOSING'
 *   for await (const chunk of conn.chunks({ signal })) await conn.write(chunk);
 * });
 * ```
 */
export class ServerClosingError extends Error {
  /**
   * Always `'ERR_SERVER_CLOSING'`: test it rather than the message.
   * @example
   * ```ts
   * if ((err as ServerClosingError).code === 'ERR_SERVER_CLOSING') console.log('shutting down: not a failure');
   * ```
   */
  readonly code = 'ERR_SERVER_CLOSING';

  /**
   * Always `'ServerClosingError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(new ServerClosingError()) // 'ServerClosingError: Server closing: finish and return'
   * ```
   */
  override readonly name = 'ServerClosingError';

  /**
   * Made by the server as it begins to shut down.
   * @example
   * ```ts
   * new ServerClosingError().message // 'Server closing: finish and return'
   * ```
   */
  constructor() {
    super('Server closing: finish and return');
  }
}

/**
 * A {@link connect} that was not connected (TLS handshake included) within
 * its `connectTimeout`: the attempt is aborted and the promise rejects with
 * this error. Distinct from the idle timeout, which bounds silence on a
 * connection, not how long it takes to make one.
 *
 * @example
 * ```ts
 * try {
 *   await connect(['127.0.0.1', port], { connectTimeout: 2 });
 * } catch (err) {
 *   if (err instanceof ConnectTimeoutError) console.error(`no connection within ${err.seconds} s`);
 * }
 * ```
 */
export class ConnectTimeoutError extends Error {
  /**
   * Always `'ERR_CONNECT_TIMEOUT'`: test it rather than the message.
   * @example
   * ```ts
   * if ((err as ConnectTimeoutError).code === 'ERR_CONNECT_TIMEOUT') console.error('the server did not answer in time');
   * ```
   */
  readonly code = 'ERR_CONNECT_TIMEOUT';

  /**
   * Always `'ConnectTimeoutError'`, as shown in stack traces.
   * @example
   * ```ts
   * String(new ConnectTimeoutError(5)) // 'ConnectTimeoutError: Cannot connect: no connection within 5 s'
   * ```
   */
  override readonly name = 'ConnectTimeoutError';

  /**
   * The bound that passed, in seconds.
   * @example
   * ```ts
   * new ConnectTimeoutError(5).seconds // 5
   * ```
   */
  readonly seconds: number;

  /**
   * Made by {@link connect} when its `connectTimeout` passes.
   * @param seconds - the bound, quoted in the message
   * @example
   * ```ts
   * new ConnectTimeoutError(5).message // 'Cannot connect: no connection within 5 s'
   * ```
   */
  constructor(seconds: number) {
    super(`Cannot connect: no connection within ${seconds} s`);
    this.seconds = seconds;
  }
}
