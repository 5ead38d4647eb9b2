import net from 'node:net';
import { AsyncIterableX } from 'ix/asynciterable';
import { AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM } from './constants.js';
import type { Address, Family, SocketType } from './constants.js';
import { socketMap } from './channel-map.js';
import type { ChannelMap } from './channel-map.js';
import { AcceptQueueFullError, ChannelClosedError, ChannelStateError, IdleTimeoutError, UnsupportedError } from './errors.js';
import type { ChannelEvent, Operation } from './events.js';
import { SignalBatch } from './internal/signal-batch.js';
import { Latch, deferred, noop } from './internal/deferred.js';
import type { Deferred } from './internal/deferred.js';
import type { EventCursor, Watcher } from './internal/cursor.js';
import { EventIterator } from './internal/event-iterator.js';
import { ChunkIterator } from './internal/chunk-iterator.js';
import {
  checkAddress, checkFamily, checkPositiveInteger, checkSeconds, checkSocketType, showValue, toBuffer,
} from './internal/validate.js';
import type { IpAddress } from './internal/validate.js';

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
   * default 65536.
   * @example
   * ```ts
   * new Channel(sock, map, { readHighWaterMark: 16 * 1024 })
   * ```
   */
  readHighWaterMark?: number;
  /**
   * Bytes accepted and not yet flushed to the kernel at which `send()` accepts
   * nothing more; `send()` takes only what fits under it. A positive integer;
   * default 65536.
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
   * Seconds a connection may go without a byte sent or received before it is
   * aborted, reported as an `error` event carrying an {@link IdleTimeoutError}
   * (operation `'read'`, or `'connect'` while still connecting), then `close`. Counts from the connection's start and
   * restarts with every byte either way, so a peer that trickles one byte a
   * minute is dropped by a timeout under a minute. 0 < seconds ≤ 2147483.647;
   * default none (connections may stay idle forever, as with `node:net`).
   * Applies to connections, accepted or connecting, not to listeners.
   * @example
   * ```ts
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
   * Seconds `close()` waits for accepted bytes to flush (and for the peer to
   * end) before destroying the socket. 0 to 2147483.647; default 30.
   * @example
   * ```ts
   * new Channel(sock, map, { closeTimeout: 5 })
   * ```
   */
  closeTimeout?: number;
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
 * ```
 *
 * "close event": once a consumer was handed `close`, its next pull (or
 * leaving its iteration) closes the channel. `close()` or `abort()` closes it
 * from any state. A broken connection, a failed connect or a failed listen
 * keeps its state until then, with {@link Channel.connected},
 * {@link Channel.connecting} or {@link Channel.accepting} false.
 * @example
 * ```ts
 * if (channel.state === 'open') channel.send('hi');
 * ```
 */
export type ChannelState = 'idle' | 'connecting' | 'open' | 'listening' | 'closed';

const DEFAULT_HWM = 64 * 1024;
const DEFAULT_ACCEPT_QUEUE_LIMIT = 1024;
const DEFAULT_CLOSE_TIMEOUT = 30;
// Long enough for any burst of one-shot events (connect, errors, drop reports);
// consumers that fall further behind skip the oldest.
const ONE_SHOT_LOG_LIMIT = 64;
const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve(undefined);

let nextId = 1;

// The channel of each socket, for the socket listeners every channel shares:
// a symbol-keyed property, read on every socket event with an inline-cached
// property load rather than a WeakMap's hash lookup.
const OWNER = Symbol('asyncore.channel');
interface OwnedSocket extends net.Socket { [OWNER]?: Channel }

// Remembered for sockets waiting in an accept queue: the listener's family
// (Node does not say it for Unix sockets) and any error they had while waiting.
const queuedFamily = new WeakMap<net.Socket, Family>();
const queuedError = new WeakMap<net.Socket, Error>();
function onQueuedError(this: net.Socket, error: Error): void {
  queuedError.set(this, error);
}

function operationOf(error: NodeJS.ErrnoException, connecting: boolean): Operation {
  if (connecting) return 'connect';
  if (error.syscall === 'write' || error.syscall === 'writev' || error.syscall === 'shutdown') return 'write';
  return 'read';
}

function peerAddress(sock: net.Socket, family: Family): Address {
  if (family === AF_UNIX) return '';
  return [sock.remoteAddress ?? '', sock.remotePort ?? 0];
}

interface PendingWrite { data: Buffer; readonly done: Deferred<undefined> }

/**
 * Internal hooks for the loop and the adapter; not exported from the package.
 * Assigned in Channel's static block, the only place with access to its privates.
 */
export const channelInternals = {} as {
  pull(channel: Channel, cursor: EventCursor): ChannelEvent | null | undefined;
  /** Whether `pull()` would report anything now; changes nothing. */
  wouldReport(channel: Channel, cursor: EventCursor): boolean;
  takeChunk(channel: Channel, size: number): Buffer | null | undefined;
  watch(channel: Channel, watcher: Watcher): void;
  unwatch(channel: Channel, watcher: Watcher): void;
  forceSend(channel: Channel, data: Buffer): void;
};


/** Accepted sockets read into Node's own buffers: `onread` is set at creation. */
function checkNoReadBuffer(readBufferSize: number): void {
  if (readBufferSize > 0) {
    throw new TypeError('Invalid option readBufferSize: it applies to channels that connect(), not to accepted sockets');
  }
}

function checkIdleTimeout(value: unknown): number {
  const seconds = checkSeconds('idleTimeout', value);
  if (seconds === 0) throw new RangeError('Invalid idleTimeout: it must be more than 0 (leave it out for none)');
  return seconds;
}

/** Validates channel options and fills in the defaults. */
function checkOptions(value: unknown): Required<ChannelOptions> {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Invalid options: expected an object, got ${value === null ? 'null' : typeof value}`);
  }
  const options = value as ChannelOptions;
  return {
    readHighWaterMark: options.readHighWaterMark === undefined
      ? DEFAULT_HWM : checkPositiveInteger('readHighWaterMark', options.readHighWaterMark),
    writeHighWaterMark: options.writeHighWaterMark === undefined
      ? DEFAULT_HWM : checkPositiveInteger('writeHighWaterMark', options.writeHighWaterMark),
    acceptQueueLimit: options.acceptQueueLimit === undefined
      ? DEFAULT_ACCEPT_QUEUE_LIMIT : checkPositiveInteger('acceptQueueLimit', options.acceptQueueLimit),
    closeTimeout: options.closeTimeout === undefined
      ? DEFAULT_CLOSE_TIMEOUT : checkSeconds('closeTimeout', options.closeTimeout),
    readBufferSize: options.readBufferSize === undefined
      ? 0 : checkPositiveInteger('readBufferSize', options.readBufferSize),
    idleTimeout: options.idleTimeout === undefined ? 0 : checkIdleTimeout(options.idleTimeout),
  };
}

/**
 * A non-blocking socket and its readiness events: Python's `dispatcher`
 * without the handler methods. A channel is an async iterable of
 * {@link ChannelEvent}s: `read` while received bytes (or the end of stream)
 * wait for `recv()`, `write` while `send()` would accept bytes (only when
 * {@link Channel.writeInterest} is on), `accept` while a connection waits,
 * `connect` once, `error` per socket error, and `close` once, last.
 *
 * @example
 * ```ts
 * const client = new Channel();
 * client.createSocket(AF_INET, SOCK_STREAM);
 * client.connect(['127.0.0.1', port]);
 * for await (const ev of client) {
 *   if (ev.type === 'connect') client.send('hello\n');
 *   if (ev.type === 'read') { console.log(client.recv(4096)?.toString()); client.close(); }
 * }
 * ```
 */
export class Channel implements AsyncIterable<ChannelEvent> {
  /**
   * Unique id of this channel (a positive integer, never reused in the
   * process), its key in its map.
   * @example
   * ```ts
   * channel.map.get(channel.id) === channel // while the channel is in its map
   * ```
   */
  readonly id = nextId++;
  /** Event read-interest of a plain channel; see {@link Channel.readInterest}. */
  #readInterest = true;
  #writeInterest = false;
  #family: Family | null = null;
  #map: ChannelMap;
  #state: ChannelState = 'idle';
  #addr: Address | null = null;
  #bound: IpAddress | string | null = null;
  #sock: net.Socket | null = null;
  #server: net.Server | null = null;
  #closing = false;
  #closedLocally = false;
  #broken: Error | null = null;
  // Read side: chunks received from Node and not yet taken by recv().
  #chunks: Buffer[] = [];
  #buffered = 0;
  #paused = false;
  #eof = false;
  #eofTaken = false;
  // Write side: write() calls waiting for room, in order.
  #writes: PendingWrite[] = [];
  // Listener side.
  #queue: net.Socket[] = [];
  #dropped = 0;
  // The accept-queue-full report no consumer has taken yet: later drops add to it.
  #dropReport: AcceptQueueFullError | null = null;
  // One-shot events (connect, error), shared by every consumer.
  #log: ChannelEvent[] = [];
  #logBase = 0;
  // Change watchers: nearly always one (a loop or an iterator), so the first
  // has a field of its own and a set is made only for more.
  #watcher: Watcher | null = null;
  #moreWatchers: Set<Watcher> | null = null;
  readonly #readHwm: number;
  readonly #writeHwm: number;
  readonly #queueLimit: number;
  readonly #closeTimeout: number;
  // The reused read buffer of a connecting channel (readBufferSize), else null.
  #readBuffer: Buffer | null = null;
  readonly #readBufferSize: number;
  readonly #idleTimeout: number;
  readonly #opened = new Latch<undefined>();
  readonly #closed = new Latch<undefined>();
  // Reused event objects: level events carry nothing but the channel.
  // Made on first use: an idle channel never needs them.
  #readEvent: ChannelEvent | null = null;
  #writeEvent: ChannelEvent | null = null;
  #acceptEvent: ChannelEvent | null = null;
  // A socket-driven change waits in the signal batch (see #signalSoon).
  #signalQueued = false;

  static {
    channelInternals.pull = (channel, cursor) => channel.#pull(cursor);
    channelInternals.wouldReport = (channel, cursor) => channel.#pull(cursor, true) !== null;
    channelInternals.takeChunk = (channel, size) => channel.#takeChunk(size);
    channelInternals.watch = (channel, watcher) => {
      if (channel.#watcher === null) channel.#watcher = watcher;
      else (channel.#moreWatchers ??= new Set()).add(watcher);
    };
    channelInternals.unwatch = (channel, watcher) => {
      if (channel.#watcher === watcher) channel.#watcher = null;
      else channel.#moreWatchers?.delete(watcher);
    };
    channelInternals.forceSend = (channel, data) => {
      if (channel.#sock !== null && !channel.#sock.destroyed) channel.#sock.write(data);
    };
  }

  /**
   * Wraps an accepted socket (making a connected channel), or makes an idle
   * channel to call {@link Channel.createSocket} on.
   * @param sock - a socket returned by {@link Channel.accept}, or nothing
   * @param map - the map to join; default {@link socketMap}
   * @param options - buffer bounds and timeouts
   * @throws TypeError when `sock` is not a `net.Socket`; TypeError/RangeError for a bad option
   * @example
   * ```ts
   * const pair = listener.accept();
   * if (pair) new Channel(pair[0]);
   * ```
   */
  constructor(sock?: net.Socket | null, map?: ChannelMap | null, options: ChannelOptions = {}) {
    this.#map = map ?? socketMap;
    const settings = checkOptions(options);
    this.#readHwm = settings.readHighWaterMark;
    this.#writeHwm = settings.writeHighWaterMark;
    this.#queueLimit = settings.acceptQueueLimit;
    this.#closeTimeout = settings.closeTimeout;
    this.#readBufferSize = settings.readBufferSize;
    this.#idleTimeout = settings.idleTimeout;
    if (sock !== undefined && sock !== null) this.setSocket(sock, map);
  }

  // ---- state ---------------------------------------------------------------

  /**
   * Where the channel is in its life; see {@link ChannelState}.
   * @example
   * ```ts
   * channel.state // 'open'
   * ```
   */
  get state(): ChannelState { return this.#state; }

  /**
   * True once the connection is made (an accepted channel is connected at once).
   * @example
   * ```ts
   * if (channel.connected) channel.send('x')
   * ```
   */
  get connected(): boolean { return this.#state === 'open' && this.#broken === null; }

  /**
   * True once `listen()` was called and until the channel closes.
   * @example
   * ```ts
   * if (channel.accepting) channel.accept()
   * ```
   */
  get accepting(): boolean { return this.#state === 'listening' && this.#broken === null; }

  /**
   * True between `connect()` and the `connect` or `error` event.
   * @example
   * ```ts
   * channel.connecting // true right after connect()
   * ```
   */
  get connecting(): boolean { return this.#state === 'connecting' && this.#broken === null; }

  /**
   * True once `close()` or `abort()` was called, or the channel closed itself.
   * @example
   * ```ts
   * if (!channel.closing) channel.close()
   * ```
   */
  get closing(): boolean { return this.#closing; }

  /**
   * The address: the peer's for a connected or accepted channel, the bound
   * one (with its real port once `opened` resolves) for a listener; `null` before.
   * @example
   * ```ts
   * const [host, port] = listener.addr as [string, number];
   * ```
   */
  get addr(): Address | null { return this.#addr; }

  /**
   * The Node socket (`net.Socket`), server (`net.Server`) or `null`.
   * @example
   * ```ts
   * const sock = channel.socket;
   * if (sock instanceof net.Socket) sock.setNoDelay(true);
   * ```
   */
  get socket(): net.Socket | net.Server | null { return this.#sock ?? this.#server; }

  /**
   * The family given to {@link Channel.createSocket}, or `null`.
   * @example
   * ```ts
   * channel.family // 'AF_INET'
   * ```
   */
  get family(): Family | null { return this.#family; }

  /**
   * The map this channel belongs to.
   * @example
   * ```ts
   * channel.map.size
   * ```
   */
  get map(): ChannelMap { return this.#map; }

  /**
   * Connections a listener closed because its accept queue was full.
   * @example
   * ```ts
   * listener.droppedConnections // 0
   * ```
   */
  get droppedConnections(): number { return this.#dropped; }

  /**
   * Bytes received and not yet taken by `recv()`.
   * @example
   * ```ts
   * channel.bufferedAmount
   * ```
   */
  get bufferedAmount(): number { return this.#buffered; }

  /**
   * Bytes accepted by `send()`/`write()` and not yet flushed to the kernel.
   * @example
   * ```ts
   * channel.pendingWrite
   * ```
   */
  get pendingWrite(): number { return this.#sock?.writableLength ?? 0; }

  /**
   * Whether `read` and `accept` events are reported (default `true`). Turn it
   * off to stop hearing about input you do not want yet; bytes keep arriving
   * up to the read high-water mark and then Node stops reading.
   * @example
   * ```ts
   * channel.readInterest = false;
   * ```
   */
  get readInterest(): boolean { return this.#readInterest; }

  /**
   * Turns `read` and `accept` events on or off; every consumer waiting on the
   * channel is told at once.
   * @param on - whether to report them
   * @example
   * ```ts
   * channel.readInterest = inbox.length < 10;
   * ```
   */
  set readInterest(on: boolean) {
    this.#readInterest = on;
    this.#signal();
  }

  /**
   * Whether `write` events are reported (default `false`, so a reader that
   * ignores writes never spins). Turn it on while you have bytes to send and
   * off once they are sent.
   * @example
   * ```ts
   * channel.writeInterest = true;
   * for await (const ev of channel) if (ev.type === 'write') { pending = pending.subarray(channel.send(pending)); channel.writeInterest = pending.length > 0; }
   * ```
   */
  get writeInterest(): boolean { return this.#writeInterest; }

  /**
   * Turns `write` events on or off; every consumer waiting on the channel is
   * told at once.
   * @param on - whether to report them
   * @example
   * ```ts
   * channel.writeInterest = pending.length > 0;
   * ```
   */
  set writeInterest(on: boolean) {
    this.#writeInterest = on;
    this.#signal();
  }

  /**
   * Resolves once the channel is connected or listening (a listener's
   * {@link Channel.addr} then holds its real port); rejects if it never gets
   * there. Never an unhandled rejection, awaited or not.
   * @example
   * ```ts
   * await listener.opened; console.log(listener.addr);
   * ```
   */
  get opened(): Promise<undefined> { return this.#opened.promise; }

  /**
   * Resolves once the channel is closed: by `close()` or `abort()`; by a
   * broken connection or a failed connect or listen (at once, before its
   * events are taken); or when a consumer that was handed the `close` event
   * (which comes after the peer's end of stream was taken) moves on: its next
   * pull, or leaving its iteration, closes the channel. A clean end of stream
   * alone, read through {@link Channel.chunks} or `recv()`, leaves the channel
   * open, so a reply can still be written, until `close()`. Never rejects.
   * @example
   * ```ts
   * for await (const chunk of channel.chunks()) await channel.write(chunk);
   * channel.close();      // the end of stream alone does not close it
   * await channel.closed;
   * ```
   */
  get closed(): Promise<undefined> { return this.#closed.promise; }

  // ---- socket methods ------------------------------------------------------

  /**
   * Chooses the family and type of the socket and joins the map. Node creates
   * the real socket at `connect()` or `listen()`.
   * @param family - {@link AF_INET}, {@link AF_INET6} or {@link AF_UNIX}
   * @param type - {@link SOCK_STREAM}
   * @throws TypeError for an unknown family or type; UnsupportedError for `SOCK_DGRAM`;
   *   ChannelStateError when the channel already has a socket
   * @example
   * ```ts
   * channel.createSocket(AF_INET6, SOCK_STREAM);
   * ```
   */
  createSocket(family: Family = AF_INET, type: SocketType = SOCK_STREAM): void {
    checkFamily(family);
    checkSocketType(type);
    if (type === SOCK_DGRAM) throw new UnsupportedError('Cannot create socket: SOCK_DGRAM is not supported yet');
    this.#checkOpen('create socket');
    if (this.#family !== null) throw new ChannelStateError('Cannot create socket: the channel already has one');
    this.#family = family;
    this.#map.set(this.id, this);
  }

  /**
   * Wraps an existing connected socket (what the constructor does with `sock`).
   * @param sock - a connected `net.Socket`, usually from {@link Channel.accept}
   * @param map - the map to join; default the channel's
   * @throws TypeError when `sock` is not a `net.Socket`; ChannelStateError when the channel has a socket
   * @example
   * ```ts
   * channel.setSocket(sock);
   * ```
   */
  setSocket(sock: net.Socket, map?: ChannelMap | null): void {
    if (!(sock instanceof net.Socket)) throw new TypeError('Invalid socket: expected a net.Socket');
    checkNoReadBuffer(this.#readBufferSize);
    this.#checkOpen('set socket');
    if (this.#sock !== null || this.#server !== null) {
      throw new ChannelStateError('Cannot set socket: the channel already has one');
    }
    if (map !== undefined && map !== null) this.#map = map;
    const family = queuedFamily.get(sock)
      ?? (sock.remoteFamily === 'IPv6' ? AF_INET6 : sock.remoteFamily === 'IPv4' ? AF_INET : AF_UNIX);
    this.#family = family;
    this.#addr = peerAddress(sock, family);
    this.#attach(sock);
    sock.off('error', onQueuedError);
    queuedFamily.delete(sock);
    this.#state = 'open';
    this.#map.set(this.id, this);
    const early = queuedError.get(sock);
    if (early !== undefined) this.#fail(early, 'read');
    else if (sock.destroyed) this.#onEnd();
    else this.#opened.resolve(undefined);
    if (sock.isPaused()) sock.resume();
  }

  /**
   * Kept for porting: Node already sets `SO_REUSEADDR` on every TCP listener,
   * so a restarted server can bind its port at once. Does nothing else.
   * @example
   * ```ts
   * server.setReuseAddr();
   * ```
   */
  setReuseAddr(): void {
    this.#checkOpen('set SO_REUSEADDR');
  }

  /**
   * Binds to an address. Node binds when `listen()` or `connect()` runs, so an
   * operating-system failure (EADDRINUSE, EACCES) is reported then, as an
   * `error` event with operation `listen` or `connect`.
   * @param address - `[host, port]` (port 0: any free port; host `''`: every interface) or a Unix path
   * @throws ChannelClosedError after `close()`; ChannelStateError without a socket
   *   (checked before the address, which is checked against the family);
   *   TypeError/RangeError for a bad address; ChannelStateError when already bound
   * @example
   * ```ts
   * server.bind(['127.0.0.1', 0]);
   * ```
   */
  bind(address: Address): void {
    const family = this.#needFamily('bind');
    const checked = checkAddress(family, address);
    if (this.#bound !== null || this.#state !== 'idle') {
      throw new ChannelStateError('Cannot bind: the channel is already bound');
    }
    this.#bound = checked;
    this.#addr = typeof checked === 'string' ? checked : [checked.host, checked.port];
  }

  /**
   * Starts listening. Incoming connections wait paused in the channel's
   * accept queue (bounded by `acceptQueueLimit`) until {@link Channel.accept}.
   * @param backlog - the kernel's backlog for pending connections (at least 0)
   * @throws TypeError/RangeError for a bad backlog; ChannelClosedError after `close()`;
   *   ChannelStateError without a socket or when not idle
   * @example
   * ```ts
   * server.listen(511); await server.opened;
   * ```
   */
  listen(backlog = 511): void {
    if (typeof backlog !== 'number' || !Number.isInteger(backlog)) {
      throw new TypeError(`Invalid backlog: expected an integer, got ${showValue(backlog)}`);
    }
    if (backlog < 0) throw new RangeError(`Invalid backlog: expected 0 or more, got ${backlog}`);
    const family = this.#needFamily('listen');
    if (this.#state !== 'idle') throw new ChannelStateError(`Cannot listen: the channel is ${this.#state}`);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.#server = server;
    this.#state = 'listening';
    server.on('connection', (sock: net.Socket) => { this.#onConnection(sock, family); });
    server.on('error', (error: Error) => { this.#onServerError(error); });
    server.once('listening', () => {
      if (this.#closedLocally) return;
      const where = server.address();
      this.#addr = typeof where === 'string' || where === null ? (this.#addr ?? '') : [where.address, where.port];
      this.#opened.resolve(undefined);
      this.#signal();
    });
    const bound = this.#bound;
    if (typeof bound === 'string') {
      server.listen({ path: bound, backlog });
    } else {
      const any = family === AF_INET6 ? '::' : '0.0.0.0';
      const host = bound === null || bound.host === '' ? any : bound.host;
      server.listen({ host, port: bound?.port ?? 0, backlog });
    }
  }

  /**
   * Connects. The `connect` event comes once the connection is made; a
   * refused or unreachable peer or an unknown host gives an `error` event
   * (operation `connect`, Node's `code` kept) and then `close`.
   * @param address - `[host, port]` or a Unix path
   * @throws ChannelClosedError after `close()`; ChannelStateError without a socket
   *   (checked before the address, which is checked against the family);
   *   TypeError/RangeError for a bad address; ChannelStateError when not idle
   * @example
   * ```ts
   * client.connect(['::1', port]); await client.opened;
   * ```
   */
  connect(address: Address): void {
    const family = this.#needFamily('connect');
    const checked = checkAddress(family, address);
    if (this.#state !== 'idle') throw new ChannelStateError(`Cannot connect: the channel is ${this.#state}`);
    let sock: net.Socket;
    if (this.#readBufferSize > 0) {
      const buffer = Buffer.allocUnsafe(this.#readBufferSize);
      this.#readBuffer = buffer;
      // Node reads `onread` in the constructor too, though its types list it
      // only among connect() options.
      const options = { allowHalfOpen: true, onread: { buffer, callback: (count: number) => this.#onRead(count) } };
      sock = new net.Socket(options);
    } else {
      sock = new net.Socket({ allowHalfOpen: true });
    }
    this.#attach(sock);
    this.#state = 'connecting';
    this.#addr = typeof checked === 'string' ? checked : [checked.host, checked.port];
    sock.once('connect', Channel.#socketConnect);
    if (typeof checked === 'string') {
      sock.connect({ path: checked });
    } else {
      const local = this.#bound;
      sock.connect({
        host: checked.host === '' ? 'localhost' : checked.host,
        port: checked.port,
        family: family === AF_INET6 ? 6 : 4,
        ...(typeof local === 'object' && local !== null
          ? { localAddress: local.host === '' ? undefined : local.host, localPort: local.port }
          : {}),
      });
    }
  }

  /**
   * Takes the oldest connection waiting in the accept queue.
   * @returns `[socket, address]` (pass the socket to a new channel), or `null` when none waits
   * @throws ChannelStateError when the channel is not listening; ChannelClosedError after close
   * @example
   * ```ts
   * const pair = server.accept();
   * if (pair !== null) new EchoHandler(pair[0]);
   * ```
   */
  accept(): [net.Socket, Address] | null {
    this.#checkOpen('accept');
    if (this.#server === null) throw new ChannelStateError('Cannot accept: the channel is not listening');
    const sock = this.#queue.shift();
    if (sock === undefined) return null;
    return [sock, peerAddress(sock, queuedFamily.get(sock) ?? AF_INET)];
  }

  /**
   * Offers bytes to the socket. Accepts only what fits under the write
   * high-water mark and returns that count, so partial sends are real:
   * `buffer = buffer.subarray(channel.send(buffer))`. Accepted bytes are
   * never lost by `close()`. The bytes are not copied: do not modify a buffer
   * after passing it. Returns 0 while `write()` calls wait (they go first) and
   * after the connection broke.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @returns the number of bytes accepted
   * @throws TypeError for other data; ChannelClosedError after `close()`;
   *   ChannelStateError before `connect()`
   * @example
   * ```ts
   * const sent = channel.send(buffer); buffer = buffer.subarray(sent);
   * ```
   */
  send(data: Buffer | Uint8Array | string): number {
    const buf = toBuffer(data);
    this.#checkOpen('send');
    if (this.#writes.length > 0) return 0;
    return this.#sendNow(buf);
  }

  /**
   * Takes received bytes.
   * @param bufferSize - the most bytes to return (a positive integer)
   * @returns at most `bufferSize` bytes; `null` when nothing waits and the peer
   *   is still open; an empty buffer at end of stream (or once a broken connection's bytes are taken)
   * @throws TypeError/RangeError for a bad size (checked first: `recv(0)` on a
   *   closed channel throws RangeError); ChannelClosedError after `close()`;
   *   ChannelStateError on a channel that has no connection
   * @example
   * ```ts
   * const data = channel.recv(65536); if (data?.length === 0) channel.close();
   * ```
   */
  recv(bufferSize: number): Buffer | null {
    checkPositiveInteger('bufferSize', bufferSize);
    this.#checkOpen('recv');
    if (this.#sock === null) throw new ChannelStateError('Cannot recv: the channel has no connection');
    if (this.#buffered === 0) {
      if (this.#eof || this.#broken !== null) {
        if (!this.#eofTaken) {
          this.#eofTaken = true;
          this.#signal();
        }
        return EMPTY;
      }
      return null;
    }
    const chunks = this.#chunks;
    const first = chunks[0] as Buffer;
    let out: Buffer;
    if (first.length > bufferSize) {
      out = first.subarray(0, bufferSize);
      chunks[0] = first.subarray(bufferSize);
    } else if (chunks.length === 1 || first.length === bufferSize) {
      out = first;
      chunks.shift();
    } else {
      out = this.#gather(bufferSize);
    }
    // Bytes in the reused read buffer are overwritten by the next read.
    if (this.#readBuffer !== null) out = Buffer.from(out);
    this.#taken(out.length);
    return out;
  }

  /**
   * Takes received bytes into the caller's buffer (Python's `recv_into`):
   * no allocation, one copy. With {@link ChannelOptions.readBufferSize} the
   * bytes go from the kernel to the channel's reused buffer to `target`.
   * @param target - where to copy (a non-empty Buffer or Uint8Array)
   * @returns the number of bytes copied (at most `target.length`); `null`
   *   when nothing waits and the peer is still open; 0 at end of stream
   * @throws TypeError/RangeError for a bad or empty target; otherwise as `recv()`
   * @example
   * ```ts
   * const n = channel.recvInto(scratch); if (n) hash.update(scratch.subarray(0, n));
   * ```
   */
  recvInto(target: Uint8Array): number | null {
    if (!(target instanceof Uint8Array)) throw new TypeError('Invalid target: expected a Buffer or Uint8Array');
    if (target.length === 0) throw new RangeError('Invalid target: it must not be empty');
    this.#checkOpen('recv');
    if (this.#sock === null) throw new ChannelStateError('Cannot recv: the channel has no connection');
    if (this.#buffered === 0) {
      const end = this.recv(1);
      return end === null ? null : 0;
    }
    const chunks = this.#chunks;
    let copied = 0;
    while (copied < target.length && chunks.length > 0) {
      const chunk = chunks[0] as Buffer;
      const n = chunk.copy(target, copied, 0, Math.min(chunk.length, target.length - copied));
      copied += n;
      if (n === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(n);
    }
    this.#taken(copied);
    return copied;
  }

  /** Counts bytes taken and lets Node read again once below the bound. */
  #taken(count: number): void {
    this.#buffered -= count;
    // A reused read buffer must be empty before Node reads into it again.
    const resumeBelow = this.#readBuffer === null ? this.#readHwm : 1;
    if (this.#paused && this.#buffered < resumeBelow) {
      this.#paused = false;
      (this.#sock as net.Socket).resume();
    }
  }

  /**
   * Closes the channel: leaves its map, ends its iterators at once, rejects
   * waiting `write()`s whose bytes were not all accepted, and ends the
   * connection once every accepted byte is flushed (destroying it if the peer
   * does not take them within `closeTimeout` seconds). A listener stops
   * listening and closes the connections still queued. Idempotent.
   * @example
   * ```ts
   * channel.close(); channel.close(); // fine
   * ```
   */
  close(): void {
    if (!this.#shutDown()) return;
    const sock = this.#sock;
    if (sock !== null && sock.connecting && sock.writableLength === 0) {
      // Still connecting and nothing accepted to flush: Node's end() would wait
      // for the connection (up to closeTimeout); give it up now.
      sock.destroy();
    } else if (sock !== null && !sock.destroyed) {
      // Keep reading (and discarding) until the peer ends, so unread input does
      // not make the kernel reset the connection before our bytes arrive.
      if (this.#paused) sock.resume();
      sock.end();
      const timer = setTimeout(() => sock.destroy(), this.#closeTimeout * 1000);
      timer.unref();
      sock.once('close', () => { clearTimeout(timer); });
    }
  }

  /**
   * Closes abruptly: discards bytes not yet flushed and resets the connection
   * (TCP sends RST; a Unix socket's peer sees an end). Idempotent.
   * @example
   * ```ts
   * channel.abort();
   * ```
   */
  abort(): void {
    if (!this.#shutDown()) return;
    const sock = this.#sock;
    if (sock !== null && !sock.destroyed) {
      if (this.#family === AF_UNIX || sock.connecting) sock.destroy();
      else sock.resetAndDestroy();
    }
  }

  /**
   * Closes the channel: `await using` support.
   * @example
   * ```ts
   * await using channel = new Channel();
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.#closed.promise;
  }

  // ---- events and promise helpers -----------------------------------------

  /**
   * The channel's events as an ix `AsyncIterableX`, for `pipe(filter(...), take(n))`.
   * Each iteration starts with the channel's one-shot events still in its log
   * (`connect`, errors: up to 64), even those another consumer already saw.
   * Leaving the iteration early leaves the channel open.
   * @returns a new event stream over this channel
   * @example
   * ```ts
   * const reads = channel.events().pipe(filter((ev) => ev.type === 'read'));
   * for await (const ev of reads) console.log(ev.channel.recv(4096));
   * ```
   */
  events(): AsyncIterableX<ChannelEvent> {
    return new ChannelEvents(this);
  }

  /**
   * Iterates the channel's events; see {@link Channel.events}.
   * @param signal - stops the iteration when aborted (ix passes one)
   * @returns an iterator over this channel's events
   * @example
   * ```ts
   * for await (const ev of channel) console.log(ev.type);
   * ```
   */
  [Symbol.asyncIterator](signal?: AbortSignal): AsyncIterator<ChannelEvent> {
    return new EventIterator(this, signal);
  }

  /**
   * Sends every byte, waiting for room as needed; writes run in call order.
   * Rejects with the connection's error if it breaks, or with a
   * {@link ChannelClosedError} if the channel is closed before every byte was
   * accepted. Never an unhandled rejection, awaited or not.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @returns a promise that resolves once every byte is accepted
   * @throws TypeError (synchronously) for other data
   * @example
   * ```ts
   * await channel.write('hello\n');
   * ```
   */
  write(data: Buffer | Uint8Array | string): Promise<undefined> {
    const buf = toBuffer(data);
    if (this.#closedLocally) return rejected(new ChannelClosedError('Cannot write: the channel is closed'));
    if (this.#broken !== null) return rejected(this.#broken);
    if (this.#sock === null) return rejected(new ChannelStateError('Cannot write: the channel is not connected'));
    const sent = this.#writes.length === 0 ? this.#sendNow(buf) : 0;
    if (sent === buf.length) return RESOLVED;
    const pending: PendingWrite = { data: buf.subarray(sent), done: deferred<undefined>(true) };
    this.#writes.push(pending);
    return pending.done.promise;
  }

  /**
   * Received bytes as they come, ending at end of stream (and after a local
   * `close()`); throws the connection's error if it breaks, after the bytes
   * that came before it. Reads with `recv()`: read the channel no other way
   * meanwhile. Ending at end of stream does not close the channel (the peer
   * may still read a reply): call `close()` when done.
   * @param size - the most bytes per chunk (default 65536)
   * @returns an async iterable of buffers
   * @throws TypeError/RangeError for a bad size, at the call; the
   *   connection's error, while iterating, if it breaks
   * @example
   * ```ts
   * for await (const chunk of channel.chunks()) process.stdout.write(chunk);
   * ```
   */
  chunks(size = 65536): AsyncGenerator<Buffer, void, undefined> {
    checkPositiveInteger('size', size);
    return new ChunkIterator(this, size);
  }

  /** One step of chunks(): bytes, `null` to wait, `undefined` at the end; throws a break. */
  #takeChunk(size: number): Buffer | null | undefined {
    // A broken connection throws even once the channel closed after it.
    if (this.#buffered === 0 && this.#broken !== null) throw this.#broken;
    if (this.#closedLocally) return undefined;
    if (this.#sock === null) return null;
    const data = this.recv(size);
    if (data === null) return null;
    return data.length === 0 ? undefined : data;
  }

  /**
   * Accepted connections of a listening channel, as connected channels that
   * join this channel's map with the given options (not the listener's).
   * Ends when the listener closes; throws a listen failure (EADDRINUSE ...).
   * Errors that leave the listener open stay `error` events on the listener.
   * @param options - options of each accepted channel; defaults as for `new Channel()`
   * @returns an async iterable of channels
   * @throws TypeError/RangeError for bad options, at the call; the listen
   *   failure, while iterating
   * @example
   * ```ts
   * for await (const conn of server.connections()) void serve(conn);
   * ```
   */
  connections(options: ChannelOptions = {}): AsyncGenerator<Channel, void, undefined> {
    const { readBufferSize, idleTimeout, ...checked } = checkOptions(options);
    checkNoReadBuffer(readBufferSize);
    return this.#connectionStream(idleTimeout > 0 ? { ...checked, idleTimeout } : checked);
  }

  async *#connectionStream(options: ChannelOptions): AsyncGenerator<Channel, void, undefined> {
    for (;;) {
      if (this.#broken !== null) throw this.#broken;
      if (this.#closedLocally) return;
      const pair = this.#server === null ? null : this.accept();
      if (pair !== null) yield new Channel(pair[0], this.#map, options);
      else await this.#change();
    }
  }

  /**
   * A short description, like Python's repr.
   * @example
   * ```ts
   * String(channel) // '<Channel open 127.0.0.1:4000 #3>'
   * ```
   */
  toString(): string {
    const addr = this.#addr === null ? '' : typeof this.#addr === 'string' ? ` ${this.#addr}` : ` ${this.#addr[0]}:${this.#addr[1]}`;
    return `<${this.constructor.name} ${this.#state}${addr} #${this.id}>`;
  }

  // ---- internals -----------------------------------------------------------

  #checkOpen(action: string): void {
    if (this.#closedLocally) throw new ChannelClosedError(`Cannot ${action}: the channel is closed`);
  }

  #needFamily(action: string): Family {
    this.#checkOpen(action);
    if (this.#family === null) throw new ChannelStateError(`Cannot ${action}: call createSocket() first`);
    return this.#family;
  }

  #signal(): void {
    this.#watcher?.changed();
    if (this.#moreWatchers !== null) for (const watcher of this.#moreWatchers) watcher.changed();
  }

  /**
   * Tells the watchers of a change that came from the socket (bytes, end of
   * stream, room to write): at once, or batched after the poll phase when
   * several channels are busy (see internal/signal-batch.ts).
   */
  #signalSoon(): void {
    if (this.#signalQueued) return;
    if (Channel.#batch.defer(this)) this.#signalQueued = true;
    else this.#signal();
  }

  static readonly #batch = new SignalBatch<Channel>((channel) => {
    channel.#signalQueued = false;
    channel.#signal();
  });

  /** Resolves on the channel's next state change. */
  #change(): Promise<void> {
    return new Promise((resolve) => {
      const watcher: Watcher = {
        changed: () => {
          channelInternals.unwatch(this, watcher);
          resolve();
        },
      };
      channelInternals.watch(this, watcher);
    });
  }

  #attach(sock: net.Socket): void {
    this.#sock = sock;
    (sock as OwnedSocket)[OWNER] = this;
    // The listeners are shared by every socket and find their channel in
    // `OWNER`: per-channel closures would cost 56 bytes each per connection.
    // The error listener stays for the socket's whole life: Node must never see
    // an 'error' emission without a listener, even after close().
    sock.on('error', Channel.#socketError);
    sock.on('data', Channel.#socketData);
    sock.on('end', Channel.#socketEnd);
    sock.on('drain', Channel.#socketDrain);
    sock.on('close', Channel.#socketEnd);
    if (this.#idleTimeout > 0) {
      // Node's own inactivity timer: restarted by every read and write.
      sock.setTimeout(this.#idleTimeout * 1000);
      sock.on('timeout', Channel.#socketTimeout);
    }
  }

  static #socketError(this: OwnedSocket, error: NodeJS.ErrnoException): void { const channel = this[OWNER]; if (channel !== undefined) channel.#onError(error); }
  static #socketData(this: OwnedSocket, chunk: Buffer): void { const channel = this[OWNER]; if (channel !== undefined) channel.#onData(chunk); }
  static #socketEnd(this: OwnedSocket): void { const channel = this[OWNER]; if (channel !== undefined) channel.#onEnd(); }
  static #socketDrain(this: OwnedSocket): void { const channel = this[OWNER]; if (channel !== undefined) channel.#onDrain(); }
  static #socketTimeout(this: OwnedSocket): void {
    const channel = this[OWNER];
    if (channel !== undefined) channel.#onIdle();
  }

  #onIdle(): void {
    const sock = this.#sock;
    if (this.#closedLocally || this.#broken !== null || sock === null) return;
    this.#fail(new IdleTimeoutError(this.#idleTimeout), this.#state === 'connecting' ? 'connect' : 'read');
    if (this.#family === AF_UNIX) sock.destroy();
    else sock.resetAndDestroy();
  }

  static #socketConnect(this: OwnedSocket): void { const channel = this[OWNER]; if (channel !== undefined) channel.#onConnect(); }

  #onConnect(): void {
    if (this.#closedLocally || this.#broken !== null) return;
    this.#state = 'open';
    this.#logEvent({ type: 'connect', channel: this });
    this.#opened.resolve(undefined);
    this.#pumpWrites();
  }

  #onData(chunk: Buffer): void {
    if (this.#closedLocally) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= this.#readHwm && !this.#paused) {
      this.#paused = true;
      (this.#sock as net.Socket).pause();
    }
    this.#signalSoon();
  }

  /** Node's `onread` callback: `count` bytes are in the reused buffer. */
  #onRead(count: number): boolean {
    if (this.#closedLocally) return true; // discarding until the peer ends
    this.#chunks.push((this.#readBuffer as Buffer).subarray(0, count));
    this.#buffered += count;
    // Returning false pauses the socket: the buffer holds bytes not yet taken.
    this.#paused = true;
    this.#signalSoon();
    return false;
  }

  #onEnd(): void {
    if (this.#closedLocally || this.#eof) return;
    this.#eof = true;
    this.#signalSoon();
  }

  #onDrain(): void {
    if (this.#closedLocally) return;
    this.#pumpWrites();
    this.#signalSoon();
  }

  /** The write callback of a write that fills the window; made on first use. */
  #afterWrite: (() => void) | null = null;

  #onError(error: NodeJS.ErrnoException): void {
    if (this.#closedLocally) return;
    this.#fail(error, operationOf(error, this.#state === 'connecting'));
  }

  #onServerError(error: NodeJS.ErrnoException): void {
    if (this.#closedLocally) return;
    if (this.#addr !== null && this.#server?.listening === true) {
      // An accept failure (EMFILE ...): the listener stays open.
      this.#logEvent({ type: 'error', channel: this, error, operation: 'accept' });
      return;
    }
    this.#server?.close();
    this.#fail(error, 'listen');
  }

  #onConnection(sock: net.Socket, family: Family): void {
    if (this.#closedLocally) {
      sock.destroy();
      return;
    }
    sock.on('error', onQueuedError);
    if (this.#queue.length >= this.#queueLimit) {
      this.#dropped++;
      sock.destroy();
      if (this.#dropReport !== null) {
        this.#dropReport.dropped++;
      } else {
        this.#dropReport = new AcceptQueueFullError(this.#queueLimit);
        this.#logEvent({ type: 'error', channel: this, error: this.#dropReport, operation: 'accept' });
      }
      return;
    }
    queuedFamily.set(sock, family);
    this.#queue.push(sock);
    this.#signal();
  }

  /** The connection (or listener) is broken: report, reject writers, wake consumers. */
  #fail(error: Error, operation: Operation): void {
    if (this.#broken !== null) return;
    this.#broken = error;
    this.#logEvent({ type: 'error', channel: this, error, operation });
    this.#opened.reject(error);
    this.#closed.resolve(undefined);
    for (const pending of this.#writes.splice(0)) pending.done.reject(error);
    this.#signal();
  }

  #logEvent(event: ChannelEvent): void {
    this.#log.push(event);
    if (this.#log.length > ONE_SHOT_LOG_LIMIT) {
      const gone = this.#log.shift();
      this.#logBase++;
      if (gone?.type === 'error' && gone.error === this.#dropReport) this.#dropReport = null;
    }
    this.#signal();
  }

  /** Marks the channel closed; returns false when it already was. */
  #shutDown(): boolean {
    if (this.#closedLocally) return false;
    this.#closedLocally = true;
    this.#closing = true;
    this.#state = 'closed';
    this.#map.delete(this.id);
    // Errors are made only when somebody waits: capturing a stack trace costs
    // more than the rest of a close.
    if (this.#writes.length > 0) {
      const error = new ChannelClosedError('Cannot write: the channel was closed before every byte was accepted');
      for (const pending of this.#writes.splice(0)) pending.done.reject(error);
    }
    if (this.#opened.pending) this.#opened.reject(new ChannelClosedError('Channel closed before it opened'));
    this.#closed.resolve(undefined);
    this.#chunks = [];
    this.#buffered = 0;
    this.#log = [];
    if (this.#server !== null) {
      this.#server.close();
      for (const sock of this.#queue.splice(0)) sock.destroy();
    }
    this.#signal();
    this.#watcher = null;
    this.#moreWatchers = null;
    return true;
  }

  #sendNow(buf: Buffer): number {
    const sock = this.#sock;
    if (sock === null) throw new ChannelStateError('Cannot send: the channel is not connected');
    if (this.#broken !== null || sock.destroyed) return 0;
    const room = this.#writeHwm - sock.writableLength;
    if (room <= 0 || buf.length === 0) return 0;
    if (buf.length < room) {
      sock.write(buf);
      return buf.length;
    }
    // This write fills the window. Node emits 'drain' only past its own
    // high-water mark, which may be above ours: its flush callback tells us too.
    this.#afterWrite ??= () => { this.#onDrain(); };
    sock.write(buf.length === room ? buf : buf.subarray(0, room), this.#afterWrite);
    return room;
  }

  #pumpWrites(): void {
    const writes = this.#writes;
    while (writes.length > 0) {
      const head = writes[0] as PendingWrite;
      const sent = this.#sendNow(head.data);
      if (sent < head.data.length) {
        head.data = head.data.subarray(sent);
        return;
      }
      writes.shift();
      head.done.resolve(undefined);
    }
  }

  #gather(bufferSize: number): Buffer {
    const chunks = this.#chunks;
    const parts: Buffer[] = [];
    let total = 0;
    while (total < bufferSize && chunks.length > 0) {
      const chunk = chunks[0] as Buffer;
      const want = bufferSize - total;
      if (chunk.length > want) {
        parts.push(chunk.subarray(0, want));
        chunks[0] = chunk.subarray(want);
        total += want;
      } else {
        parts.push(chunk);
        chunks.shift();
        total += chunk.length;
      }
    }
    return Buffer.concat(parts, total);
  }

  /**
   * The next event for one consumer: a one-shot event, else a level event
   * that holds now, else `close` once; `null` when nothing holds now,
   * `undefined` when the channel will report nothing more.
   */
  #pull(cursor: EventCursor, peek = false): ChannelEvent | null | undefined {
    // A peek answers whether a pull would report something (anything but
    // null), changing nothing; it still asks readable()/writable().
    if (peek) {
      if (cursor.closeSeen || this.#closedLocally) return undefined;
      if (Math.max(cursor.seq, this.#logBase) < this.#logBase + this.#log.length) return undefined;
    }
    if (cursor.closeSeen) {
      // The consumer came back after `close`: the channel is done.
      this.close();
      return undefined;
    }
    if (this.#closedLocally) return undefined;
    const log = this.#log;
    if (cursor.seq < this.#logBase) cursor.seq = this.#logBase;
    if (cursor.seq < this.#logBase + log.length) {
      const event = log[cursor.seq++ - this.#logBase] as ChannelEvent;
      // Once reported, a drop report is final: a later drop makes a new one.
      if (event.type === 'error' && event.error === this.#dropReport) this.#dropReport = null;
      return event;
    }
    const broken = this.#broken !== null;
    if (this.#server !== null) {
      if (!broken && this.#queue.length > 0 && this.readInterest) return this.#acceptEvent ??= Object.freeze({ type: 'accept', channel: this });
      if (!broken) return null;
    } else {
      const readReady = this.#buffered > 0 || (this.#eof && !this.#eofTaken && !broken);
      const wantsRead = readReady && this.readInterest;
      // Once the end of stream is taken, `close` is next, whatever the write interest.
      // The interest first: when it is false (an idle dispatcher) the socket is not touched.
      const writeReady = this.#state === 'open' && !broken && !this.#eofTaken && this.#sock !== null
        && this.writeInterest && this.#sock.writableLength < this.#writeHwm;
      if (peek) return wantsRead || writeReady || !(!(broken && (!readReady || !this.readInterest)) && !this.#eofTaken) ? undefined : null;
      if (wantsRead && (!writeReady || !cursor.preferWrite)) {
        cursor.preferWrite = writeReady;
        return this.#readEvent ??= Object.freeze({ type: 'read', channel: this });
      }
      if (writeReady) {
        cursor.preferWrite = false;
        return this.#writeEvent ??= Object.freeze({ type: 'write', channel: this });
      }
      // A broken connection's remaining bytes come first, unless nobody reads.
      if (!(broken && (!readReady || !this.readInterest)) && !this.#eofTaken) return null;
    }
    if (peek) return undefined;
    cursor.closeSeen = true;
    return Object.freeze({ type: 'close', channel: this });
  }
}

function rejected(error: Error): Promise<undefined> {
  const promise = Promise.reject<undefined>(error);
  promise.catch(noop);
  return promise;
}

/** A channel's events as an ix AsyncIterableX. */
class ChannelEvents extends AsyncIterableX<ChannelEvent> {
  readonly #channel: Channel;
  constructor(channel: Channel) {
    super();
    this.#channel = channel;
  }
  [Symbol.asyncIterator](signal?: AbortSignal): AsyncIterator<ChannelEvent> {
    return new EventIterator(this.#channel, signal);
  }
}
