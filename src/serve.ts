// serve(): a server in one call. Each accepted connection runs its handler as
// a task of its own, at most `maxConnections` at once; past the cap the
// listener's bounded accept queue holds arrivals (and refuses, reported, what
// overflows it). Shutdown has two phases: stop accepting and signal every
// handler, wait up to `drainTimeout` for them, then abort what is left.
//
//   accepting ──close() / signal──▶ draining ──all done──────────▶ closed
//                                      └──drainTimeout: abort the rest──▶ closed
import type { Socket } from 'node:net';
import { Channel } from './channel.js';
import { TAKE_SOCKET } from './channel-base.js';
import type { ChannelOptions, Settings } from './channel-options.js';
import { checkNoReadBuffer, checkOptions } from './channel-options.js';
import type { Address } from './constants.js';
import { listen } from './connect.js';
import type { ListenOptions } from './connect.js';
import { ChannelStateError } from './errors.js';
import { deferred } from './internal/deferred.js';
import { checkObject } from './internal/options.js';
import { checkPositiveInteger, checkSeconds, showValue } from './internal/validate.js';
import { ServerClosingError } from './serve-errors.js';

/**
 * What a {@link serve} handler is given beside its connection.
 * @example
 * ```ts
 * const handler: ServeHandler = async (conn, { signal }) => {
 *   for await (const chunk of conn.chunks({ signal })) await conn.write(chunk);
 * };
 * ```
 */
export interface ServeContext {
  /**
   * Aborts (with a {@link ServerClosingError}) when the server begins to
   * shut down: finish up and return. A handler still running at the end of
   * the drain has its connection aborted.
   */
  readonly signal: AbortSignal;
}

/**
 * Serves one connection. It runs as a task of its own; when its promise
 * settles the connection is closed (a lingering close: what it wrote is
 * flushed). A throw or rejection is reported to `onError` (or logged), and
 * the server goes on serving.
 * @example
 * ```ts
 * const hello: ServeHandler = async (conn) => { await conn.write('hello\n'); };
 * ```
 */
export type ServeHandler = (channel: Channel, context: ServeContext) => unknown;

/**
 * Options of {@link serve}. Those of {@link listen} configure the listener
 * (`tls`, `acceptQueueLimit`, `backlog`, `family`, `map`); the other channel
 * options (`idleTimeout`, `allowHalfOpen`, the high-water marks, `closeTimeout`,
 * `lingerTimeout`) apply to every accepted connection.
 * @example
 * ```ts
 * const stop = new AbortController();
 * const server = await serve(['127.0.0.1', 0], async (conn) => { await conn.write('hi\n'); }, {
 *   maxConnections: 100, idleTimeout: 30, drainTimeout: 5, signal: stop.signal,
 * });
 * ```
 */
export interface ServeOptions extends ListenOptions {
  /** Handlers running at once; a positive integer or `Infinity`; default 1024. */
  maxConnections?: number;
  /** Seconds {@link Server.close} waits for handlers before aborting the rest; default 10. */
  drainTimeout?: number;
  /**
   * Told of every failure: a handler's throw or rejection (with its
   * connection), and the listener's errors (`null`): an
   * {@link AcceptQueueFullError}, EMFILE. Default: logged with
   * `console.error`, except a connection's ordinary ends, which a busy
   * server sees all the time: an {@link IdleTimeoutError}, a peer that left
   * mid-frame (`ERR_INCOMPLETE_FRAME`), `ECONNRESET`, `EPIPE`, `ETIMEDOUT`.
   */
  onError?: (error: unknown, channel: Channel | null) => void;
  /** Aborting it before the server listens rejects; after, it begins {@link Server.close}. */
  signal?: AbortSignal;
}

/**
 * Options of {@link Server.close}.
 * @example
 * ```ts
 * await running.close({ drainTimeout: 1 });
 * ```
 */
export interface ServerCloseOptions {
  /** Seconds to wait for handlers before aborting the rest; default the server's `drainTimeout`. */
  drainTimeout?: number;
}

const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_DRAIN_TIMEOUT = 10;

/**
 * Listens on `address` (or takes over a listening channel) and serves each
 * connection with `handler`, each in a task of its own, at most
 * `maxConnections` at once.
 * @param target - `[host, port]` (port 0: any free port), a Unix path, or a listening {@link Channel}
 * @param handler - serves one connection; the connection is closed when it settles
 * @param options - see {@link ServeOptions}
 * @returns the running server
 * @throws (as a rejection) TypeError/RangeError for a bad argument or option;
 *   ChannelStateError for a channel that is not listening; the listen failure
 *   (EADDRINUSE ...); `signal.reason` if aborted before listening
 * @example
 * ```ts
 * const server = await serve(['127.0.0.1', 0], async (conn, { signal }) => {
 *   for await (const line of lines(conn, { signal })) await conn.write(`you said: ${line.toString()}\n`);
 * });
 * console.log(`listening ${running.address}`);
 * process.once('SIGTERM', () => { void server.close(); });
 * await server.closed;
 * ```
 */
export async function serve(target: Address | Channel, handler: ServeHandler, options: ServeOptions = {}): Promise<Server> {
  if (typeof handler !== 'function') throw new TypeError(`Invalid handler: expected a function, got ${showValue(handler)}`);
  const { maxConnections, drainTimeout, onError, signal, ...rest } = checkObject(options);
  const max = maxConnections === undefined || maxConnections === Infinity
    ? maxConnections ?? DEFAULT_MAX_CONNECTIONS : checkPositiveInteger('maxConnections', maxConnections);
  const drain = drainTimeout === undefined ? DEFAULT_DRAIN_TIMEOUT : checkSeconds('drainTimeout', drainTimeout);
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError(`Invalid onError: expected a function, got ${showValue(onError)}`);
  }
  const { tls, acceptQueueLimit, backlog, family, map, ...connectionOptions } = rest;
  const listenerOptions = { tls, acceptQueueLimit, backlog, family, map };
  const settings = checkOptions(connectionOptions);
  checkNoReadBuffer(settings.readBufferSize);
  let listener: Channel;
  if (target instanceof Channel) {
    const given = Object.entries(listenerOptions).find(([, value]) => value !== undefined)?.[0];
    if (given !== undefined) throw new TypeError(`Invalid option ${given}: the listener given already listens`);
    if (target.state !== 'listening') throw new ChannelStateError(`Cannot serve: the channel is ${target.state}, not listening`);
    signal?.throwIfAborted();
    listener = target;
  } else {
    listener = await listen(target, { ...listenerOptions, signal });
  }
  return new Server(listener, handler, { settings, max, drain, onError: onError ?? logError, signal });
}

// What a connection's peer does to it in ordinary use: the default onError leaves these out.
const ORDINARY_ENDS = new Set(['ERR_CHANNEL_IDLE_TIMEOUT', 'ERR_INCOMPLETE_FRAME', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);

/** The default onError: logs what is not a connection's ordinary end. */
function logError(error: unknown, channel: Channel | null): void {
  if (channel !== null && ORDINARY_ENDS.has((error as { code?: unknown } | null)?.code as string)) return;
  const where = channel === null ? 'listener' : `connection from ${channel.address}`;
  console.error(`serve: ${where} failed:`, error);
}

interface ServerSettings {
  readonly settings: Settings;
  readonly max: number;
  readonly drain: number;
  readonly onError: (error: unknown, channel: Channel | null) => void;
  readonly signal: AbortSignal | undefined;
}

/** One connection being served: its channel and the handler's signal, made only if asked for. */
class Session implements ServeContext {
  readonly channel: Channel;
  // The server's list of running sessions, linked through them (no set to grow and shrink).
  prev: Session | null = null;
  next: Session | null = null;
  #controller: AbortController | null = null;
  #reason: ServerClosingError | null;

  constructor(channel: Channel, reason: ServerClosingError | null) {
    this.channel = channel;
    this.#reason = reason;
  }

  // Made on first use: a handler that never looks costs no AbortController.
  get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#reason !== null) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** The server is closing: signal the handler. */
  stop(reason: ServerClosingError): void {
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  /** Whether a failure is only the shutdown reaching the handler. */
  expected(error: unknown): boolean {
    return this.#reason !== null && (error === this.#reason || this.channel.state === 'closed');
  }
}

/**
 * A running server, from {@link serve}: its address, the connections being
 * served, and its shutdown. `await using` closes it.
 * @example
 * ```ts
 * await using server = await serve(['127.0.0.1', 0], async (conn) => { await conn.write('hi\n'); });
 * console.log(server.address, server.connectionCount);
 * ```
 */
export class Server implements AsyncDisposable {
  readonly #listener: Channel;
  readonly #handler: ServeHandler;
  readonly #options: ServerSettings;
  // Handlers running, and the lingering channels of handlers that returned.
  #first: Session | null = null;
  #count = 0;
  readonly #held = new Set<Channel>();
  // Before the shutdown: channels that lingered when their handler returned,
  // pruned of released ones as it doubles (no callback per connection).
  #lingering: Channel[] = [];
  #pruneAt = 64;
  readonly #closed = deferred<undefined>();
  #reason: ServerClosingError | null = null;
  #closing: Promise<undefined> | null = null;
  #room: (() => void) | null = null;
  #settled: (() => void) | null = null;
  #expired = false;
  readonly #accepting: Promise<void>;
  readonly #onAbort = (): void => { void this.close(); };

  /** @internal */
  constructor(listener: Channel, handler: ServeHandler, options: ServerSettings) {
    this.#listener = listener;
    this.#handler = handler;
    this.#options = options;
    if (options.signal?.aborted === true) queueMicrotask(this.#onAbort);
    else options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#accepting = this.#accept();
  }

  /**
   * The listening address as text (`host:port`, `[host]:port`, a Unix path).
   * @example
   * ```ts
   * console.log(`listening ${running.address}`);
   * ```
   */
  get address(): string { return this.#listener.address; }

  /**
   * The listening address as `[host, port]` or a Unix path.
   * @example
   * ```ts
   * const [, servedPort] = running.addr as [string, number];
   * ```
   */
  get addr(): Address | null { return this.#listener.addr; }

  /**
   * The listening channel (for its counters, such as `droppedConnections`).
   * @example
   * ```ts
   * console.log(running.listener.droppedConnections);
   * ```
   */
  get listener(): Channel { return this.#listener; }

  /**
   * Handlers running now.
   * @example
   * ```ts
   * console.log(`${running.connectionCount} connections`);
   * ```
   */
  get connectionCount(): number { return this.#count; }

  /**
   * Resolves once the server has shut down: the listener closed, every
   * handler settled or its connection aborted, every socket released.
   * Never rejects.
   * @example
   * ```ts
   * process.once('SIGTERM', () => { void running.close(); });
   * await running.closed;
   * ```
   */
  get closed(): Promise<undefined> { return this.#closed.promise; }

  /**
   * Shuts down: stops accepting (new connections are refused by the kernel,
   * queued ones closed), aborts every handler's signal, waits up to
   * `drainTimeout` seconds for the handlers to return and their connections
   * to close, then aborts (resets) every connection left. Idempotent: a
   * second call returns the first one's promise.
   * @param options - `drainTimeout`, overriding the server's
   * @returns resolves as {@link Server.closed}
   * @throws TypeError/RangeError for a bad option
   * @example
   * ```ts
   * await running.close({ drainTimeout: 5 });
   * ```
   */
  close(options: ServerCloseOptions = {}): Promise<undefined> {
    if (this.#closing !== null) return this.#closing;
    const { drainTimeout } = checkObject(options);
    const seconds = drainTimeout === undefined ? this.#options.drain : checkSeconds('drainTimeout', drainTimeout);
    this.#closing = this.#shutDown(seconds);
    return this.#closing;
  }

  /**
   * Closes the server, as `close()`; for `await using`.
   * @example
   * ```ts
   * await running[Symbol.asyncDispose]();
   * ```
   */
  [Symbol.asyncDispose](): Promise<undefined> {
    return this.close();
  }

  /** Takes connections while there is room, until the listener closes. */
  async #accept(): Promise<void> {
    const listener = this.#listener;
    try {
      for await (const event of listener) {
        if (event.type === 'accept') {
          while (this.#reason === null) {
            if (this.#count >= this.#options.max) {
              await new Promise<void>((resolve) => { this.#room = resolve; });
              this.#room = null;
              continue;
            }
            const sock = listener[TAKE_SOCKET]();
            if (sock === null) break;
            this.#start(sock);
          }
        } else if (event.type === 'error') {
          this.#report(event.error, null);
        }
        if (this.#reason !== null) break;
      }
    } catch (error) {
      this.#report(error, null);
    }
    // The listener failed or closed: no connection comes any more.
    void this.close();
  }

  #start(sock: Socket): void {
    // Checked settings pass through the constructor's check as they are.
    const channel = new Channel(sock, this.#listener.map, this.#options.settings as unknown as ChannelOptions);
    const session = new Session(channel, this.#reason);
    session.next = this.#first;
    if (this.#first !== null) this.#first.prev = session;
    this.#first = session;
    this.#count++;
    let result: unknown;
    try {
      result = this.#handler(channel, session);
    } catch (error) {
      this.#finish(session, error);
      return;
    }
    if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') {
      (result as PromiseLike<unknown>).then(() => { this.#finish(session); }, (error: unknown) => { this.#finish(session, error); });
    } else {
      this.#finish(session);
    }
  }

  /** A handler settled: report its failure, close its connection, make room. */
  #finish(session: Session, ...failure: [unknown?]): void {
    if (session.prev !== null) session.prev.next = session.next;
    else this.#first = session.next;
    if (session.next !== null) session.next.prev = session.prev;
    session.prev = session.next = null;
    this.#count--;
    const channel = session.channel;
    if (failure.length > 0 && !session.expected(failure[0])) this.#report(failure[0], channel);
    channel.close();
    if (channel.lingering) {
      if (this.#reason !== null) {
        this.#hold(channel);
      } else if (this.#lingering.push(channel) >= this.#pruneAt) {
        this.#lingering = this.#lingering.filter((kept) => kept.lingering);
        this.#pruneAt = Math.max(64, 2 * this.#lingering.length);
      }
    }
    this.#room?.();
    this.#check();
  }

  /** During the shutdown, a closed channel whose socket lingers: waited for, and cut short at the deadline. */
  #hold(channel: Channel): void {
    this.#held.add(channel);
    void channel.released.then(() => {
      this.#held.delete(channel);
      this.#check();
    });
  }

  #report(error: unknown, channel: Channel | null): void {
    try {
      this.#options.onError(error, channel);
    } catch (thrown) {
      // An onError that throws must not stop the server: log it, once per throw.
      console.error('serve: onError threw:', thrown);
    }
  }

  /**
   * During the drain: wakes the shutdown once every handler has returned and
   * every socket is released; past the deadline, once every socket is
   * released (a handler that ignores its aborted connection is not waited for).
   */
  #check(): void {
    if (this.#settled !== null && (this.#count === 0 || this.#expired) && this.#held.size === 0) this.#settled();
  }

  async #shutDown(seconds: number): Promise<undefined> {
    const reason = new ServerClosingError();
    this.#reason = reason;
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
    this.#listener.close();
    this.#room?.();
    for (let session = this.#first; session !== null; session = session.next) session.stop(reason);
    for (const channel of this.#lingering) if (channel.lingering) this.#hold(channel);
    this.#lingering = [];
    const settled = new Promise<void>((resolve) => { this.#settled = resolve; });
    this.#check();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => { timer = setTimeout(resolve, seconds * 1000); });
    await Promise.race([settled, expired]);
    clearTimeout(timer);
    // Past the drain: reset what is left, lingering closes included.
    this.#expired = true;
    for (let session = this.#first; session !== null; session = session.next) {
      const channel = session.channel;
      channel.abort();
      if (channel.lingering) this.#hold(channel);
    }
    for (const channel of this.#held) channel.abort();
    this.#check();
    await Promise.all([settled, this.#accepting]);
    this.#closed.resolve(undefined);
    return undefined;
  }
}
