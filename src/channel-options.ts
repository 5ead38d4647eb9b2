// Channel options: their public shape, their checks and their defaults. A
// checked set is frozen and shared by every channel made with it (every
// connection of one connections() call), rather than copied into each.
import { checkPositiveInteger, checkSeconds, showValue } from './internal/validate.js';
import { checkTls } from './tls-options.js';
import type { TlsOptions, TlsSettings } from './tls-options.js';

/**
 * Tuning of one channel; every field has a default.
 * @example
 * ```ts
 * new Channel(undefined, map, { writeHighWaterMark: 1 << 20 })
 * ```
 */
export interface ChannelOptions {
  /**
   * Bytes received and not yet taken by `recv()` at which Node stops reading
   * from the kernel until `recv()` takes them below it. A positive integer;
   * default 65536. On a datagram channel: bytes of received datagrams
   * waiting, at or past which new ones are dropped (see `datagramLimit`).
   * @example
   * ```ts
   * new Channel(sock, map, { readHighWaterMark: 16 * 1024 })
   * ```
   */
  readHighWaterMark?: number;
  /**
   * Bytes accepted and not yet flushed to the kernel at which `send()` accepts
   * nothing more; `send()` takes only what fits under it. A positive integer;
   * default 65536. On a datagram channel: bytes of datagrams sent and not yet
   * handed to the kernel, at or past which `sendTo()` refuses whole datagrams.
   * @example
   * ```ts
   * new Channel(sock, map, { writeHighWaterMark: 1 << 20 })
   * ```
   */
  writeHighWaterMark?: number;
  /**
   * Connections a listener holds waiting for `accept()`; beyond it new ones
   * are closed at once, counted in {@link Channel.droppedConnections} and
   * reported as an {@link AcceptQueueFullError}. A positive integer; default 1024.
   * @example
   * ```ts
   * new Channel(null, map, { acceptQueueLimit: 64 })
   * ```
   */
  acceptQueueLimit?: number;
  /**
   * Seconds a connection may go without activity before it is aborted
   * (reset; a connecting socket is released at once), reported as an `error`
   * event carrying an {@link IdleTimeoutError} (operation `'read'`, or
   * `'connect'` while still connecting), then `close`. Counts from the
   * connection's start and restarts with every read and with every write
   * handed to the socket or completed, so a peer that trickles one byte a
   * minute is dropped by a timeout under a minute. What the kernel sends from
   * its own buffer is not seen: a large write to a slow reader shows progress
   * only when the kernel takes more (with several MiB of socket buffer and a
   * reader taking 400 KB/s, seconds apart), so for bulk transfers choose a
   * timeout above what the kernel's buffers hold divided by the slowest
   * reader's rate. 0 < seconds ≤ 2147483.647; default none (connections may
   * stay idle forever, as with `node:net`). Applies to connections, accepted
   * or connecting, not to listeners.
   * @example
   * ```ts
   * declare function serve(conn: Channel): Promise<void>; // serves one connection
   * for await (const conn of server.connections({ idleTimeout: 60 })) void serve(conn);
   * ```
   */
  idleTimeout?: number;
  /**
   * Bytes Node reads per system call into one buffer the channel allocates
   * once and reuses, instead of a new buffer of up to 64 KiB per read (Node's
   * `onread` option). Only for channels that `connect()`: Node offers it for
   * sockets it creates, not for accepted ones. Bytes wait in that buffer
   * until taken, and Node reads nothing more meanwhile, so it is also the
   * read bound; `recv()` returns copies, and {@link Channel.recvInto} copies
   * straight into the caller's buffer. A positive integer; default none.
   * @example
   * ```ts
   * const client = new Channel(null, map, { readBufferSize: 256 * 1024 });
   * ```
   */
  readBufferSize?: number;
  /**
   * Seconds a lingering close may last in all: after `close()` on a channel
   * that sent bytes, the socket flushes them, ends, and keeps reading (and
   * discarding) until the peer ends, so that unread input cannot make the
   * kernel reset the connection before the peer has our bytes; past this
   * bound the socket is destroyed. 0 to 2147483.647; default 30 (nginx's
   * `lingering_time`). A channel that never sent a byte does not linger.
   * @example
   * ```ts
   * new Channel(sock, map, { closeTimeout: 5 })
   * ```
   */
  closeTimeout?: number;
  /**
   * Seconds without input after which a lingering close ends, counted once
   * every byte sent is flushed (nginx's `lingering_timeout`). 0 to
   * 2147483.647; default 5.
   * @example
   * ```ts
   * new Channel(sock, map, { lingerTimeout: 1 })
   * ```
   */
  lingerTimeout?: number;
  /**
   * Whether the peer's end of stream leaves the channel open for writing
   * (Node's `allowHalfOpen`). The end is reported as a `read` whose `recv()`
   * gives the empty buffer, as always; with `true`, `write` events, `send()`
   * and `write()` go on after it until the channel shuts down for writing
   * ({@link Channel.shutdown} with {@link SHUT_WR}) or closes, and only then
   * does `close` come. With `false` (the default), `close` comes once the end
   * is taken, after which `close()` flushes what was accepted.
   * @example
   * ```ts
   * declare function serve(conn: Channel): Promise<void>; // serves one connection
   * for await (const conn of server.connections({ allowHalfOpen: true })) void serve(conn);
   * ```
   */
  allowHalfOpen?: boolean;
  /**
   * TLS ({@link TlsOptions}): a channel that connects makes the handshake
   * before its `connect` event; a listener hands out only connections whose
   * handshake is done. Ignored for accepted channels (the listener's applies).
   * Not with `readBufferSize`. Default none (plain TCP).
   * @example
   * ```ts
   * declare const caPem: string; // the certificate authority that signed the server's certificate
   * const client = new Channel(null, map, { tls: { servername: 'localhost', ca: caPem } });
   * ```
   */
  tls?: TlsOptions;
  /**
   * Datagrams a datagram channel holds in each direction: received ones
   * waiting for `recvFrom()` (beyond it, or beyond `readHighWaterMark` bytes,
   * arrivals are dropped and counted in {@link Channel.droppedDatagrams}),
   * and sent ones not yet handed to the kernel (beyond it, or beyond
   * `writeHighWaterMark` bytes, `sendTo()` refuses and returns 0). A
   * positive integer; default 1024.
   * @example
   * ```ts
   * const udp = new Channel(null, map, { datagramLimit: 4096, readHighWaterMark: 1 << 20 });
   * ```
   */
  datagramLimit?: number;
}

const DEFAULT_HWM = 64 * 1024;
const DEFAULT_ACCEPT_QUEUE_LIMIT = 1024;
const DEFAULT_DATAGRAM_LIMIT = 1024;
const DEFAULT_CLOSE_TIMEOUT = 30;
const DEFAULT_LINGER_TIMEOUT = 5;

/** Checked options with every default filled in. */
export type Settings = Readonly<Required<Omit<ChannelOptions, 'tls'>>> & { readonly tls: TlsSettings | null };

function checkIdleTimeout(value: unknown): number {
  const seconds = checkSeconds('idleTimeout', value);
  if (seconds === 0) throw new RangeError('Invalid idleTimeout: it must be more than 0 (leave it out for none)');
  return seconds;
}

function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Invalid ${name}: expected a boolean, got ${showValue(value)}`);
  return value;
}

// Settings made here: passed on (to each accepted channel) they are not checked again.
const checked = new WeakSet();

/** Validates channel options and fills in the defaults; settings made here pass as they are. */
export function checkOptions(value: unknown): Settings {
  if (typeof value === 'object' && value !== null && checked.has(value)) return value as Settings;
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Invalid options: expected an object, got ${showValue(value)}`);
  }
  const options = value as ChannelOptions;
  const settings: Settings = Object.freeze({
    readHighWaterMark: options.readHighWaterMark === undefined
      ? DEFAULT_HWM : checkPositiveInteger('readHighWaterMark', options.readHighWaterMark),
    writeHighWaterMark: options.writeHighWaterMark === undefined
      ? DEFAULT_HWM : checkPositiveInteger('writeHighWaterMark', options.writeHighWaterMark),
    acceptQueueLimit: options.acceptQueueLimit === undefined
      ? DEFAULT_ACCEPT_QUEUE_LIMIT : checkPositiveInteger('acceptQueueLimit', options.acceptQueueLimit),
    closeTimeout: options.closeTimeout === undefined
      ? DEFAULT_CLOSE_TIMEOUT : checkSeconds('closeTimeout', options.closeTimeout),
    lingerTimeout: options.lingerTimeout === undefined
      ? DEFAULT_LINGER_TIMEOUT : checkSeconds('lingerTimeout', options.lingerTimeout),
    readBufferSize: options.readBufferSize === undefined
      ? 0 : checkPositiveInteger('readBufferSize', options.readBufferSize),
    idleTimeout: options.idleTimeout === undefined ? 0 : checkIdleTimeout(options.idleTimeout),
    allowHalfOpen: options.allowHalfOpen === undefined ? false : checkBoolean('allowHalfOpen', options.allowHalfOpen),
    tls: options.tls === undefined ? null : checkTls(options.tls),
    datagramLimit: options.datagramLimit === undefined
      ? DEFAULT_DATAGRAM_LIMIT : checkPositiveInteger('datagramLimit', options.datagramLimit),
  });
  if (settings.tls !== null && settings.readBufferSize > 0) {
    throw new TypeError('Invalid option readBufferSize: not available with tls');
  }
  checked.add(settings);
  return settings;
}

/** The settings of channels given no options, checked once. */
export const DEFAULT_SETTINGS = checkOptions({});

/** Accepted sockets read into Node's own buffers: `onread` is set at creation. */
export function checkNoReadBuffer(readBufferSize: number): void {
  if (readBufferSize > 0) {
    throw new TypeError('Invalid option readBufferSize: it applies to channels that connect(), not to accepted sockets');
  }
}

/**
 * A channel's life: `idle` (no socket yet, or only `createSocket()`), then
 * `connecting` → `open`, or `listening`; a channel made from an accepted
 * socket starts `open`; `closed` is final.
 *
 * ```
 * idle ──connect()──▶ connecting ──connect event──▶ open ──close(), or close event──▶ closed
 *  │                      └──failure: error, then close event──────────────────────▶ closed
 *  ├───listen()───▶ listening ──close(), or failure: error, then close event───────▶ closed
 *  └───close()─────────────────────────────────────────────────────────────────────▶ closed
 * accepted socket ──new Channel(sock)──▶ open
 * createSocket(family, SOCK_DGRAM) ──▶ open (a datagram channel: never connecting nor listening)
 * ```
 *
 * "close event": once a consumer was handed `close`, its next pull (or
 * leaving its iteration) closes the channel. `close()` or `abort()` closes it
 * from any state. A broken connection, a failed connect or a failed listen
 * keeps its state until then, with {@link Channel.connected},
 * {@link Channel.connecting} or {@link Channel.accepting} false. A `closed`
 * channel may still hold its socket for a while: see {@link Channel.lingering}.
 * @example
 * ```ts
 * if (channel.state === 'open') channel.send('hi');
 * ```
 */
export type ChannelState = 'idle' | 'connecting' | 'open' | 'listening' | 'closed';

/**
 * Options of {@link Channel.chunks}.
 * @example
 * ```ts
 * for await (const chunk of channel.chunks({ size: 1024, signal: AbortSignal.timeout(5000) })) process.stdout.write(chunk);
 * ```
 */
export interface ChunksOptions {
  /** The most bytes per chunk (a positive integer); default 65536. */
  size?: number;
  /** Aborting it rejects the waiting (or next) step with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Options of {@link Channel.write}.
 * @example
 * ```ts
 * await channel.write('hello\n', { signal: AbortSignal.timeout(5000) });
 * ```
 */
export interface WriteOptions {
  /**
   * Aborting it, while the write waits for room, withdraws the bytes not
   * yet accepted and rejects with `signal.reason`; bytes already accepted
   * are sent.
   */
  signal?: AbortSignal;
}

/**
 * Options of {@link Channel.connections}: those of each accepted channel, and a signal.
 * @example
 * ```ts
 * declare function serve(conn: Channel): Promise<void>; // serves one connection
 * const stop = new AbortController(); // stop.abort() ends the iteration
 * for await (const conn of server.connections({ idleTimeout: 60, signal: stop.signal })) void serve(conn);
 * ```
 */
export interface ConnectionsOptions extends ChannelOptions {
  /** Aborting it rejects the waiting (or next) step with `signal.reason`. */
  signal?: AbortSignal;
}
