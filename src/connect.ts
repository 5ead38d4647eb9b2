// The modern entry points: connect() and listen() return channels that are
// already connected or listening, so a `for await` program needs none of the
// Python vocabulary (createSocket(AF_INET, SOCK_STREAM), bind, listen(n)).
import { Channel } from './channel.js';
import type { ChannelOptions } from './channel-options.js';
import { AF_INET, AF_INET6, AF_UNIX } from './constants.js';
import type { Address, Family } from './constants.js';
import type { ChannelMap } from './core/channel-map.js';
import { checkObject } from './internal/options.js';
import { checkSeconds } from './internal/validate.js';
import { ConnectTimeoutError } from './serve-errors.js';

/**
 * Options of {@link connect}: the channel's options, its map, its family and a signal.
 * @example
 * ```ts
 * const conn = await connect(['127.0.0.1', port], { idleTimeout: 30, signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface ConnectOptions extends ChannelOptions {
  /** The map the channel joins; default `socketMap`. */
  map?: ChannelMap;
  /** The family; default from the address (a string: `AF_UNIX`; a host with `:`: `AF_INET6`; else `AF_INET`). */
  family?: Family;
  /** Aborting it before the connection is made aborts the attempt and rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Seconds the attempt (TLS handshake included) may take before it is
   * aborted and the promise rejects with a {@link ConnectTimeoutError};
   * 0 < seconds ≤ 2147483.647. Default none (the kernel's own bound, minutes).
   * Unlike `idleTimeout`, it ends once connected. Not for {@link listen}.
   */
  connectTimeout?: number;
}

/**
 * Options of {@link listen}: the listener's options, its map, family, backlog and a signal.
 * @example
 * ```ts
 * const server = await listen(['127.0.0.1', 0], { backlog: 128 });
 * ```
 */
export interface ListenOptions extends Omit<ConnectOptions, 'connectTimeout'> {
  /** The kernel's backlog of pending connections; default 511. */
  backlog?: number;
}

function checkConnectTimeout(value: unknown): number {
  const seconds = checkSeconds('connectTimeout', value);
  if (seconds === 0) throw new RangeError('Invalid connectTimeout: it must be more than 0 (leave it out for none)');
  return seconds;
}

/** The family an address implies, unless given. */
function familyOf(address: Address, family: Family | undefined): Family {
  if (family !== undefined) return family;
  if (typeof address === 'string') return AF_UNIX;
  return typeof address[0] === 'string' && address[0].includes(':') ? AF_INET6 : AF_INET;
}

/** Waits for `channel` to open; on failure, abort or timeout closes it and rejects. */
async function opened(channel: Channel, signal: AbortSignal | undefined, seconds = 0): Promise<Channel> {
  if (seconds > 0) return timed(channel, signal, seconds);
  if (signal === undefined) {
    try {
      await channel.opened;
    } catch (error) {
      channel.close();
      throw error;
    }
    return channel;
  }
  const { promise, cleanup } = abortable(signal);
  try {
    await Promise.race([channel.opened, promise]);
    return channel;
  } catch (error) {
    if (signal.aborted) channel.abort();
    else channel.close();
    throw error;
  } finally {
    cleanup();
  }
}

/** As opened(), bounded by `seconds`. */
async function timed(channel: Channel, signal: AbortSignal | undefined, seconds: number): Promise<Channel> {
  const timeout = new AbortController();
  const timer = setTimeout(() => { timeout.abort(new ConnectTimeoutError(seconds)); }, seconds * 1000);
  try {
    return await opened(channel, signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]));
  } finally {
    clearTimeout(timer);
  }
}

/** A promise that rejects with the signal's reason when it aborts. */
function abortable(signal: AbortSignal): { promise: Promise<never>; cleanup: () => void } {
  let onAbort = (): void => { /* replaced below */ };
  const promise = new Promise<never>((_resolve, reject) => {
    onAbort = (): void => { reject(signal.reason as Error); };
  });
  promise.catch(() => { /* the race above reports it */ });
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return { promise, cleanup: () => { signal.removeEventListener('abort', onAbort); } };
}

/**
 * Connects to `address` and resolves with the connected channel (its
 * `connect` event still comes first when iterated). A refused or
 * unreachable peer or an unknown host rejects with Node's error (its `code`
 * kept: `ECONNREFUSED`, `ENOTFOUND` ...), and the channel is closed.
 * @param address - `[host, port]` or a Unix path
 * @param options - channel options, `map`, `family`, `signal`, `connectTimeout`
 * @returns the connected channel
 * @throws (as a rejection) TypeError/RangeError for a bad address or option;
 *   the connection's error; `signal.reason` on abort; a
 *   {@link ConnectTimeoutError} when `connectTimeout` passes
 * @example
 * ```ts
 * const conn = await connect(['127.0.0.1', port]);
 * await conn.write('hello\n');
 * for await (const chunk of conn.chunks()) console.log(chunk.toString());
 * conn.close();
 * ```
 */
export async function connect(address: Address, options: ConnectOptions = {}): Promise<Channel> {
  const { map, family, signal, connectTimeout, ...channelOptions } = checkObject(options);
  const seconds = connectTimeout === undefined ? 0 : checkConnectTimeout(connectTimeout);
  signal?.throwIfAborted();
  const channel = new Channel(null, map ?? null, channelOptions);
  try {
    channel.createSocket(familyOf(address, family));
    channel.connect(address);
  } catch (error) {
    channel.close();
    throw error;
  }
  return opened(channel, signal, seconds);
}

/**
 * Listens on `address` and resolves with the listening channel, its
 * {@link Channel.addr} holding the real port. An address in use rejects
 * with `EADDRINUSE` (Node's error), and the channel is closed.
 * @param address - `[host, port]` (port 0: any free port) or a Unix path
 * @param options - channel options (the listener's), `map`, `family`, `backlog`, `signal`
 * @returns the listening channel
 * @throws (as a rejection) TypeError/RangeError for a bad address or option;
 *   the listen error; `signal.reason` on abort
 * @example
 * ```ts
 * const server = await listen(['127.0.0.1', 0]);
 * console.log(`listening on ${server.address}`);
 * for await (const conn of server.connections()) void conn.write('hi\n').then(() => { conn.close(); });
 * ```
 */
export async function listen(address: Address, options: ListenOptions = {}): Promise<Channel> {
  const { map, family, signal, backlog, ...channelOptions } = checkObject(options);
  signal?.throwIfAborted();
  const channel = new Channel(null, map ?? null, channelOptions);
  try {
    channel.createSocket(familyOf(address, family));
    channel.bind(address);
    channel.listen(backlog ?? 511);
  } catch (error) {
    channel.close();
    throw error;
  }
  return opened(channel, signal);
}
