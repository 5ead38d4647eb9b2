// The state half of the public channel: a thin front over the readiness core
// and a role. It checks arguments, speaks the Python socket vocabulary for
// ported code, and hands every real piece of work to the core (events,
// watchers, latches), the stream role (buffers, window, close) or the
// listener role (accept queue). A channel takes its role at run time, as
// Python's dispatcher does: idle, then a stream (connect(), an accepted
// socket) or a listener (listen()). Channel (channel.ts) adds the promise
// helpers and the iteration.
import type dgram from 'node:dgram';
import net from 'node:net';
import { AF_INET, AF_UNIX, SOCK_DGRAM, SOCK_STREAM } from './constants.js';
import type { Address, Family, SocketType } from './constants.js';
import { ChannelMap } from './core/channel-map.js';
import { CORE, Core } from './core/readiness.js';
import type { Front } from './core/readiness.js';
import { ChannelClosedError, ChannelStateError, UnsupportedError } from './errors.js';
import { isEmpty } from './internal/options.js';
import { DEFAULT_SETTINGS, checkNoReadBuffer, checkOptions } from './channel-options.js';
import type { ChannelOptions, ChannelState, Settings } from './channel-options.js';
import { checkAddress, checkFamily, checkPositiveInteger, checkSocketType, showValue, toBuffer } from './internal/validate.js';
import type { IpAddress } from './internal/validate.js';
import type { ListenerRole } from './roles/listener.js';
import { StreamRole } from './roles/stream.js';
import type { StreamBinding, StreamTransport } from './roles/stream.js';
import { NetListener, adoptSocket, listenNet, peerAddress, queuedAddress } from './transports/net-listener.js';
import { connectNet, startAccepted, transportFor } from './transports/net-stream.js';
import { listenTls } from './transports/tls-listener.js';
import { connectSecure } from './transports/tls-stream.js';
import { clientSetup, serverSetup } from './tls-options.js';
import { DgramTransport } from './transports/dgram.js';
import { checkDatagramHost, checkDatagramPeer } from './internal/datagram-address.js';

let nextId = 1;

/** Where Channel finds the stream role of its base; not exported from the package. */
export const STREAM = Symbol('asyncore.stream');
/** Where the datagram methods find the socket and role of a datagram channel. */
export const DATAGRAM = Symbol('asyncore.datagram');
/** @internal The key of a listener's accept without the peer's address (for code that wraps the socket at once). */
export const TAKE_SOCKET = Symbol('asyncore.takeSocket');

/**
 * The default map, used by channels and loops that are given none: Python's `socket_map`.
 * @example
 * ```ts
 * await loop(); // watches socketMap
 * ```
 */
export const socketMap = new ChannelMap();

/**
 * The state and the Python socket methods of a channel: `createSocket()`,
 * `bind()`, `listen()`, `connect()`, `accept()`, `send()`, `recv()`,
 * `close()`. Use {@link Channel}, which adds the events and the promise
 * helpers; this class exists to keep each file to one concern.
 * @example
 * ```ts
 * const base: ChannelBase = new Channel();
 * ```
 */
export abstract class ChannelBase implements Front {
  /**
   * Whether `read` and `accept` events are wanted; see {@link Channel.readInterest}.
   * @example
   * ```ts
   * const wants: boolean = channel.readInterest;
   * ```
   */
  abstract readonly readInterest: boolean;
  /**
   * Whether `write` events are wanted; see {@link Channel.writeInterest}.
   * @example
   * ```ts
   * const wants: boolean = channel.writeInterest;
   * ```
   */
  abstract readonly writeInterest: boolean;
  /**
   * Unique id of this channel (a positive integer, never reused in the
   * process), its key in its map.
   * @example
   * ```ts
   * channel.map.get(channel.id) === channel // while the channel is in its map
   * ```
   */
  readonly id = nextId++;
  /** @internal The readiness core; internal code is handed it, never this object. */
  readonly [CORE]: Core<this>;
  #family: Family | null = null;
  #map: ChannelMap;
  // A socket: the peer's address is read from it when first asked for (one
  // system call that a server which never asks does not make).
  #addr: Address | net.Socket | null = null;
  #bound: IpAddress | string | null = null;
  #settings: Settings;
  #stream: StreamRole | null = null;
  #listener: ListenerRole<net.Socket> | null = null;
  #datagram: DgramTransport | null = null;

  /**
   * Wraps an accepted socket (making a connected channel), or makes an idle
   * channel to call {@link Channel.createSocket} on.
   * @param sock - a socket returned by {@link Channel.accept}, or nothing
   * @param map - the map to join; default {@link socketMap}
   * @param options - buffer bounds and timeouts
   * @throws TypeError when `sock` is not a `net.Socket`; TypeError/RangeError for a bad option
   * @example
   * ```ts
   * const pair = server.accept();
   * if (pair) new Channel(pair[0]);
   * ```
   */
  constructor(sock?: net.Socket | null, map?: ChannelMap | null, options: ChannelOptions = {}) {
    this.#map = map ?? socketMap;
    this.#settings = isEmpty(options) ? DEFAULT_SETTINGS : checkOptions(options);
    this[CORE] = new Core(this, this.interestIsComputed);
    if (sock !== undefined && sock !== null) this.setSocket(sock, map);
  }

  /**
   * Whether this channel's interest is computed (a `Dispatcher`'s
   * `readable()`/`writable()`), so that a loop must poll it: a plain
   * channel's interest changes only through its setters, which tell the loop.
   * @returns false for a plain channel
   * @example
   * ```ts
   * class Polled extends Channel { protected override get interestIsComputed(): boolean { return true; } }
   * ```
   */
  // A prototype getter, not a field: no per-channel cost.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  protected get interestIsComputed(): boolean { return false; }

  // ---- state ---------------------------------------------------------------

  /**
   * Where the channel is in its life; see {@link ChannelState}.
   * @example
   * ```ts
   * channel.state // 'open'
   * ```
   */
  get state(): ChannelState {
    const core = this[CORE];
    if (core.life === 'closed') return 'closed';
    if (this.#listener !== null) return 'listening';
    if (this.#datagram !== null) return 'open';
    return this.#stream?.phase ?? 'idle';
  }

  /**
   * True once the connection is made (an accepted channel is connected at once).
   * @example
   * ```ts
   * if (channel.connected) channel.send('x')
   * ```
   */
  get connected(): boolean {
    return (this.#stream?.phase === 'open' || this.#datagram?.connected === true) && this[CORE].life === 'active';
  }

  /**
   * True once `listen()` was called and until the channel closes.
   * @example
   * ```ts
   * if (channel.accepting) channel.accept()
   * ```
   */
  get accepting(): boolean { return this.#listener !== null && this[CORE].life === 'active'; }

  /**
   * True between `connect()` and the `connect` or `error` event.
   * @example
   * ```ts
   * channel.connecting // true right after connect()
   * ```
   */
  get connecting(): boolean { return this.#stream?.phase === 'connecting' && this[CORE].life === 'active'; }

  /**
   * True once `close()` or `abort()` was called, or the channel closed itself.
   * @example
   * ```ts
   * if (!channel.closing) channel.close()
   * ```
   */
  get closing(): boolean { return this[CORE].life === 'closed'; }

  /**
   * The address: the peer's for a connected or accepted channel, the bound
   * one (with its real port once `opened` resolves) for a listener; `null` before.
   * An accepted channel reads its peer's address from the socket when first
   * asked (as `accept()` does): asked first once the connection is gone, it
   * is `['', 0]`, unknown.
   * @example
   * ```ts
   * const [host, port] = server.addr as [string, number];
   * ```
   */
  get addr(): Address | null {
    const addr = this.#addr;
    if (!(addr instanceof net.Socket)) return addr;
    return (this.#addr = peerAddress(addr, this.#family ?? AF_INET));
  }

  /**
   * The Node socket (`net.Socket`, or `dgram.Socket` once a datagram channel
   * binds, connects or sends), server (`net.Server`) or `null`.
   * @example
   * ```ts
   * const sock = channel.socket;
   * if (sock instanceof net.Socket) sock.setNoDelay(true);
   * ```
   */
  get socket(): net.Socket | net.Server | dgram.Socket | null {
    if (this.#datagram !== null) return this.#datagram.socket;
    const binding = this.#stream?.binding;
    if (binding instanceof net.Socket) return binding;
    const server = this.#listener?.binding;
    return server instanceof NetListener ? server.server : null;
  }

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
   * server.droppedConnections // 0
   * ```
   */
  get droppedConnections(): number { return this.#listener?.dropped ?? 0; }

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
  get closed(): Promise<undefined> { return this[CORE].closed; }

  // ---- socket methods ------------------------------------------------------

  /**
   * Chooses the family and type of the socket and joins the map. Node creates
   * the real socket at `connect()` or `listen()`.
   * @param family - {@link AF_INET}, {@link AF_INET6} or {@link AF_UNIX}
   * @param type - {@link SOCK_STREAM}, or {@link SOCK_DGRAM} for UDP (an `open` datagram channel at once)
   * @throws TypeError for an unknown family or type; UnsupportedError for `AF_UNIX` with `SOCK_DGRAM`, and for `SOCK_DGRAM` with the `tls` option;
   *   ChannelStateError when the channel already has a socket
   * @example
   * ```ts
   * channel.createSocket(AF_INET6, SOCK_STREAM);
   * ```
   */
  createSocket(family: Family = AF_INET, type: SocketType = SOCK_STREAM): void {
    checkFamily(family);
    checkSocketType(type);
    if (type === SOCK_DGRAM && family === AF_UNIX) {
      throw new UnsupportedError('Cannot create socket: AF_UNIX with SOCK_DGRAM is not supported (Node has no Unix datagram sockets)');
    }
    if (type === SOCK_DGRAM && this.#settings.tls !== null) {
      throw new UnsupportedError('Cannot create socket: the tls option is for streams (Node has no DTLS)');
    }
    this.#checkOpen('create socket');
    if (this.#family !== null || this.#stream !== null) throw new ChannelStateError('Cannot create socket: the channel already has one');
    this.#family = family;
    if (type === SOCK_DGRAM) {
      const datagram = this.#datagram = new DgramTransport(this[CORE], family, this.#settings);
      datagram.onBound = (where) => { if (this.#bound !== null && !datagram.hasPeer) this.#addr = where; };
    }
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
    checkNoReadBuffer(this.#settings.readBufferSize);
    this.#checkOpen('set socket');
    if (this.#stream !== null || this.#listener !== null || this.#datagram !== null) {
      throw new ChannelStateError('Cannot set socket: the channel already has one');
    }
    if (map !== undefined && map !== null) this.#map = map;
    const { family, error } = adoptSocket(sock);
    this.#family = family;
    const stream = ChannelBase.attach(this, sock, transportFor(family), family === AF_UNIX ? '' : sock);
    startAccepted(sock, stream, this.#settings.idleTimeout, error);
  }

  /**
   * @internal Makes the stream role over `binding`, open, and joins the map:
   * for the transports (an accepted socket, {@link channelPair}).
   */
  static attach(channel: ChannelBase, binding: StreamBinding, transport: StreamTransport, addr: Address | net.Socket): StreamRole {
    const core = channel[CORE];
    const stream = new StreamRole(core, binding, transport, channel.#settings, 'open');
    channel.#stream = stream;
    channel.#addr = addr;
    core.levels = stream;
    channel.#map.set(channel.id, channel);
    return stream;
  }

  /** @internal The checked options of `channel`, for the transports that attach to it. */
  static settingsOf(channel: ChannelBase): Settings { return channel.#settings; }

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
    if (this.#datagram?.reuseAddr() === false) {
      throw new ChannelStateError('Cannot set SO_REUSEADDR: the datagram socket already exists (set it before bind(), connect() or sending)');
    }
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
    if (this.#datagram !== null) checkDatagramHost(family, checked);
    if (this.#bound !== null || (this.#datagram?.started ?? this.state !== 'idle')) {
      throw new ChannelStateError('Cannot bind: the channel is already bound');
    }
    this.#bound = checked;
    this.#addr = typeof checked === 'string' ? checked : [checked.host, checked.port];
    this.#datagram?.bind(checked as IpAddress);
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
    if (this.state !== 'idle') throw new ChannelStateError(`Cannot listen: the channel is ${this.#datagram ? 'a datagram channel' : this.state}`);
    const tls = this.#settings.tls;
    const listening = (where: Address | null): void => { this.#addr = where ?? this.#addr ?? ''; };
    const args = [this[CORE], this.#settings.acceptQueueLimit, family, this.#bound, backlog, listening] as const;
    this.#listener = tls === null ? listenNet(...args) : listenTls(serverSetup(tls), ...args);
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
    const datagram = this.#datagram;
    if (datagram !== null) checkDatagramPeer(family, checked, 'connect to');
    if (datagram?.hasPeer ?? this.state !== 'idle') throw new ChannelStateError(`Cannot connect: the channel is ${datagram ? 'connected' : this.state}`);
    this.#addr = typeof checked === 'string' ? checked : [checked.host, checked.port];
    if (datagram !== null) {
      datagram.connect(checked as IpAddress);
      return;
    }
    const tls = this.#settings.tls;
    const host = typeof checked === 'string' || checked.host === '' ? 'localhost' : checked.host;
    const secure = tls === null ? undefined : connectSecure(clientSetup(tls, host));
    this.#stream = connectNet(this[CORE], this.#settings, family, checked, this.#bound, secure);
  }

  /**
   * Takes the oldest connection waiting in the accept queue.
   * @returns `[socket, address]` (pass the socket to a new channel), or `null` when none waits
   * @throws ChannelStateError when the channel is not listening; ChannelClosedError after close
   * @example
   * ```ts
   * class EchoHandler extends Dispatcher {
   *   override handleRead(): void {
   *     const data = this.recv(8192);
   *     if (data !== null && data.length > 0) this.send(data);
   *   }
   * }
   * const pair = server.accept();
   * if (pair !== null) new EchoHandler(pair[0]);
   * ```
   */
  accept(): [net.Socket, Address] | null {
    const sock = this[TAKE_SOCKET]();
    return sock === null ? null : [sock, queuedAddress(sock)];
  }

  /**
   * @internal As `accept()`, the socket alone: `connections()` and `serve()`
   * wrap it in a channel at once, which reads the address itself, so no
   * pair and no address array are made for them.
   */
  [TAKE_SOCKET](): net.Socket | null {
    this.#checkOpen('accept');
    const listener = this.#listener;
    if (listener === null) throw new ChannelStateError('Cannot accept: the channel is not listening');
    return listener.take();
  }

  /**
   * Offers bytes to the socket. Accepts only what fits under the write
   * high-water mark and returns that count, so partial sends are real:
   * `buffer = buffer.subarray(channel.send(buffer))`. Accepted bytes are
   * never lost by `close()`. The bytes are not copied: do not modify a buffer
   * after passing it. Returns 0 while `write()` calls wait (they go first) and
   * after the connection broke. On a datagram channel, sends `data` as one
   * datagram to the peer set by `connect()`, whole or not at all: see
   * {@link Channel.sendTo}.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @returns the number of bytes accepted
   * @throws TypeError for other data; ChannelClosedError after `close()`;
   *   ChannelStateError before `connect()`; RangeError for a datagram over the protocol's limit
   * @example
   * ```ts
   * let buffer = Buffer.from('hello\n');
   * const sent = channel.send(buffer); buffer = buffer.subarray(sent);
   * ```
   */
  send(data: Buffer | Uint8Array | string): number {
    const buf = toBuffer(data);
    this.#checkOpen('send');
    if (this.#datagram !== null) return this.#datagram.transmit(buf, null);
    const stream = this.#stream;
    if (stream === null) throw new ChannelStateError('Cannot send: the channel is not connected');
    return stream.send(buf);
  }

  /**
   * Takes received bytes. It may return fewer than are waiting, as a socket's
   * `recv()` does: a received piece of 16 KiB or more comes alone rather than
   * copied together with the ones behind it (the next call gives those).
   * @param bufferSize - the most bytes to return (a positive integer)
   * @returns at most `bufferSize` bytes; `null` when nothing waits and the peer
   *   is still open; an empty buffer at end of stream (or once a broken connection's bytes are taken).
   *   On a datagram channel: the next datagram as {@link Channel.recvFrom} gives it, without the address
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
    if (this.#datagram !== null) return this.#datagram.role.take(bufferSize);
    return StreamRole.needConnection(this.#stream, 'recv').recv(bufferSize);
  }


  /**
   * Closes the channel: `state` is `closed` at once, it leaves its map, its
   * iterators end, and waiting `write()`s whose bytes were not all accepted
   * reject. The socket: released at once if the channel never sent a byte
   * (as Python's `close()`); otherwise it lingers (see
   * {@link Channel.lingering}): every accepted byte is flushed, our side
   * ends, and input is read and discarded until the peer ends, for at most
   * `lingerTimeout` seconds without input once flushed and `closeTimeout`
   * seconds in all, so that a reset cannot destroy bytes the peer has not
   * read. Use `abort()` for a reset. A listener stops listening and closes
   * the connections still queued. Idempotent.
   * @example
   * ```ts
   * channel.close(); channel.close(); // fine
   * ```
   */
  close(): void {
    if (!this.#shutDown()) return;
    this.#stream?.close();
    this.#listener?.close();
    this.#datagram?.close();
  }

  /**
   * Closes abruptly: discards bytes not yet flushed and resets the connection
   * (TCP sends RST; a Unix socket's peer sees an end). After `close()`, cuts
   * a lingering close short: the socket is released at once (with a reset
   * unless our end of stream was already sent). Idempotent.
   * @example
   * ```ts
   * channel.abort();
   * ```
   */
  abort(): void {
    if (!this.#shutDown()) {
      this.#stream?.abort(); // a lingering close, cut short
      return;
    }
    this.#stream?.abort();
    this.#listener?.close();
    this.#datagram?.close();
  }

  /** @internal The stream role, for Channel's helpers. */
  get [STREAM](): StreamRole | null { return this.#stream; }
  /** @internal The datagram socket and role, for the datagram methods. */
  get [DATAGRAM](): DgramTransport | null { return this.#datagram; }

  // ---- internals -----------------------------------------------------------

  #checkOpen(action: string): void {
    if (this[CORE].life === 'closed') throw new ChannelClosedError(`Cannot ${action}: the channel is closed`);
  }

  #needFamily(action: string): Family {
    this.#checkOpen(action);
    if (this.#family === null) {
      // A channel over a descriptor is open with no family: it never binds, listens or connects.
      throw new ChannelStateError(`Cannot ${action}: ${this.#stream === null ? 'call createSocket() first' : `the channel is ${this.state}`}`);
    }
    return this.#family;
  }

  /** Marks the channel closed and leaves the map; returns false when it already was. */
  #shutDown(): boolean {
    if (!this[CORE].shutDown(notOpened)) return false;
    this.#map.delete(this.id);
    return true;
  }
}

function notOpened(): Error {
  return new ChannelClosedError('Channel closed before it opened');
}
