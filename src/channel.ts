// The public channel: the state and socket methods of ChannelBase, plus the
// events (a channel is an async iterable of them) and the promise helpers
// (write(), chunks(), connections()) that a `for await` program uses.
import { AsyncIterableX } from 'ix/asynciterable';
import { SHUT_RD, SHUT_WR } from './constants.js';
import type { Address, ShutdownHow } from './constants.js';
import { DATAGRAM, STREAM, TAKE_SOCKET } from './channel-base.js';
import { DatagramBase } from './channel-datagram.js';
import { DEFAULT_SETTINGS, checkNoReadBuffer, checkOptions } from './channel-options.js';
import type { ChannelOptions, ChunksOptions, ConnectionsOptions, Settings, WriteOptions } from './channel-options.js';
import { EventIterator } from './core/event-iterator.js';
import type { CoreEvent } from './core/events.js';
import { CORE } from './core/readiness.js';
import type { Core, Front } from './core/readiness.js';
import net from 'node:net';
import { ChannelClosedError, ChannelStateError, UnsupportedError } from './errors.js';
import { checkObject, isEmpty } from './internal/options.js';
import { checkPositiveInteger, checkShutdownHow, toBuffer } from './internal/validate.js';
import { ChunkIterator, STREAM_ROLE } from './roles/chunk-iterator.js';
import { DONE, PullIterator } from './roles/pull-iterator.js';
import { StreamRole, rejected } from './roles/stream.js';
import { tlsInfoOf } from './tls-info.js';
import type { TlsInfo } from './tls-info.js';
import { startTlsSetup } from './tls-options.js';
import type { StartTlsOptions } from './tls-options.js';
import { acceptorOf } from './transports/tls-listener.js';
import { startTlsStream } from './transports/tls-stream.js';
import type { TlsSetup } from './transports/tls-stream.js';

export { socketMap } from './channel-base.js';

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
export class Channel extends DatagramBase implements AsyncIterable<CoreEvent<Channel>>, Disposable, AsyncDisposable {
  #readInterest = true;
  #writeInterest = false;

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
   * declare const inbox: Buffer[]; // messages received and not yet handled
   * channel.readInterest = inbox.length < 10;
   * ```
   */
  set readInterest(on: boolean) {
    this.#readInterest = on;
    this[CORE].signal();
  }

  /**
   * Whether `write` events are reported (default `false`, so a reader that
   * ignores writes never spins). Turn it on while you have bytes to send and
   * off once they are sent.
   * @example
   * ```ts
   * let pending = Buffer.from('hello\n');
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
   * declare const pending: Buffer; // bytes not yet sent
   * channel.writeInterest = pending.length > 0;
   * ```
   */
  set writeInterest(on: boolean) {
    this.#writeInterest = on;
    this[CORE].signal();
  }

  /**
   * Resolves once the channel is connected or listening (a listener's
   * {@link Channel.addr} then holds its real port); rejects if it never gets
   * there. Never an unhandled rejection, awaited or not.
   * @example
   * ```ts
   * await server.opened; console.log(server.addr);
   * ```
   */
  get opened(): Promise<undefined> { return this[CORE].opened; }

  /**
   * Hands bytes to the socket past the write window, for a subclass that
   * flushes a buffer of its own as it closes (`DispatcherWithSend`). Nothing
   * bounds them: use `send()` or `write()` otherwise.
   * @param data - the bytes
   * @example
   * ```ts
   * class Buffered extends Channel { flushAll(b: Buffer): void { this.forceSend(b); } }
   * ```
   */
  protected forceSend(data: Buffer): void {
    this[STREAM]?.forceSend(data);
  }

  /**
   * A short description, like Python's repr.
   * @example
   * ```ts
   * String(channel) // '<Channel open 127.0.0.1:4000 #3>'
   * ```
   */
  override toString(): string {
    const where = formatAddress(this.addr);
    const addr = where === '' ? '' : ` ${where}`;
    return `<${this.constructor.name} ${this.state}${addr} #${this.id}>`;
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
    return this[CORE].closed;
  }

  /**
   * Closes the channel: `using` support (see {@link Channel.close}).
   * @example
   * ```ts
   * using channel = new Channel();
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Bytes received and not yet taken by `recv()` (on a datagram channel:
   * the bytes of the datagrams waiting for `recvFrom()`).
   * @example
   * ```ts
   * channel.bufferedAmount
   * ```
   */
  get bufferedAmount(): number { return this[STREAM]?.bufferedAmount ?? this[DATAGRAM]?.role.queuedBytes ?? 0; }

  /**
   * Bytes accepted by `send()`/`write()` (or `sendTo()`) and not yet flushed to the kernel.
   * @example
   * ```ts
   * channel.pendingWrite
   * ```
   */
  get pendingWrite(): number { return this[STREAM]?.pendingWrite ?? this[DATAGRAM]?.role.sendingBytes ?? 0; }

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
   * import { createHash } from 'node:crypto';
   * const scratch = Buffer.alloc(65536);
   * const hash = createHash('sha256');
   * const n = channel.recvInto(scratch); if (n) hash.update(scratch.subarray(0, n));
   * ```
   */
  recvInto(target: Uint8Array): number | null {
    if (!(target instanceof Uint8Array)) throw new TypeError('Invalid target: expected a Buffer or Uint8Array');
    if (target.length === 0) throw new RangeError('Invalid target: it must not be empty');
    if (this.closing) throw new ChannelClosedError('Cannot recv: the channel is closed');
    return StreamRole.needConnection(this[STREAM], 'recv').recvInto(target);
  }

  /**
   * Shuts down one or both directions of the connection, as Python's
   * `socket.shutdown()`; the channel stays open until `close()`.
   * {@link SHUT_WR} sends the end of stream after every byte already
   * accepted and keeps reading: the peer sees the end once it has read them,
   * and may still reply. `write()` calls still waiting for room are rejected
   * with a {@link ChannelStateError} (await a write before shutting down to
   * send all of it), and later `send()` throws and `write()` rejects with
   * one. {@link SHUT_RD} stops `read` events: bytes not yet taken and any
   * that arrive are discarded (the socket keeps reading, so a peer that
   * writes is not stalled), and `recv()` gives the empty buffer, as at the
   * end of stream. {@link SHUT_RDWR} does both. `close` comes once both
   * directions are done: with {@link ChannelOptions.allowHalfOpen}, once the
   * read side ended (or was shut down) and the write side was shut down;
   * without it, as soon as the read side ended or was shut down. Shutting
   * down a direction twice does nothing more.
   * @param how - {@link SHUT_RD}, {@link SHUT_WR} or {@link SHUT_RDWR}
   * @throws TypeError for another `how`; ChannelClosedError after `close()`;
   *   ChannelStateError on a channel that has no connection (idle,
   *   connecting or listening)
   * @example
   * ```ts
   * await channel.write('the whole request\n');
   * channel.shutdown(SHUT_WR); // the peer reads to its end of stream, then replies
   * for await (const chunk of channel.chunks()) process.stdout.write(chunk);
   * channel.close();
   * ```
   */
  shutdown(how: ShutdownHow): void {
    checkShutdownHow(how);
    if (this[CORE].life === 'closed') throw new ChannelClosedError('Cannot shut down: the channel is closed');
    const stream = StreamRole.needConnection(this[STREAM], 'shut down');
    if (stream.phase !== 'open') throw new ChannelStateError('Cannot shut down: the channel has no connection yet');
    stream.shutdown(how !== SHUT_WR, how !== SHUT_RD);
  }

  /**
   * True while a closed channel still holds its socket: it sent bytes, so
   * `close()` ended our side after them and keeps reading (discarding) until
   * the peer ends, `lingerTimeout` seconds pass without input, or
   * `closeTimeout` seconds pass in all (see {@link ChannelOptions.closeTimeout}).
   * {@link Channel.released} resolves when it lets go.
   * @example
   * ```ts
   * channel.close(); if (channel.lingering) await channel.released;
   * ```
   */
  get lingering(): boolean { return this[STREAM]?.closeSide === 'lingering'; }

  /**
   * Resolves once the channel holds no socket: at once for a channel that
   * never had one or whose socket is gone, after the linger for one that
   * lingers (see {@link Channel.lingering}). Never rejects.
   * @example
   * ```ts
   * channel.close(); await channel.released; // the descriptor is free
   * ```
   */
  get released(): Promise<undefined> {
    if (this[STREAM] !== null) return this[STREAM].released;
    if (this[DATAGRAM] !== null) return this[DATAGRAM].released;
    return this.state !== 'listening' ? Promise.resolve(undefined) : this[CORE].closed;
  }

  /**
   * The TLS session once its handshake is done (see {@link TlsInfo}); `null`
   * for a plain channel, a listener, or while a handshake runs.
   * @example
   * ```ts
   * console.log(client.tls?.protocol, client.tls?.alpnProtocol);
   * ```
   */
  get tls(): TlsInfo | null {
    const stream = this[STREAM];
    return stream === null || stream.upgrading || stream.phase !== 'open' ? null : tlsInfoOf(stream.binding);
  }

  /**
   * Connections a TLS listener dropped before handing them out: failed or
   * timed-out handshakes, and those reset because `maxHandshakes` were running.
   * @example
   * ```ts
   * console.log(`${server.failedHandshakes} handshakes failed`);
   * ```
   */
  get failedHandshakes(): number { return acceptorOf(this.socket)?.failed ?? 0; }

  /**
   * STARTTLS: runs TLS over this open connection. Every byte accepted before
   * the call goes out first, in plaintext; unread bytes the peer sent after
   * its request (its ClientHello in the same segment) are kept as the start of
   * the TLS stream; then the handshake runs, with no `read` or `write`
   * readiness meanwhile (`send()` accepts nothing, `recv()` gives `null`,
   * `write()` waits), and once it is done bytes flow encrypted. The side is
   * the server when `key`, `pfx` or `SNICallback` is given, else the client
   * (override it with `side`). A failed handshake breaks the channel (an
   * `error` event with operation `connect`, then `close`).
   * @param options - the TLS options of this side ({@link StartTlsOptions})
   * @returns a promise that resolves once the handshake is done; it rejects
   *   with a {@link TlsHandshakeError} (or subclass), or ChannelClosedError when
   *   the channel closes first
   * @throws TypeError for bad options; ChannelClosedError after `close()`;
   *   ChannelStateError when the channel is not connected, listens, or
   *   already runs TLS; UnsupportedError for an in-memory channel
   * @example
   * ```ts
   * await client.write('STARTTLS\r\n');
   * for await (const line of client.chunks()) if (line.toString().startsWith('220')) break;
   * await client.startTls({ servername: 'localhost' });
   * ```
   */
  startTls(options: StartTlsOptions): Promise<undefined> {
    const [stream, setup] = checkStartTls(this, options);
    return startTlsStream(stream, setup).then(() => undefined);
  }

  /**
   * The port of an IP channel once it has one (a listener's real port once
   * `opened` resolves, a connected channel's peer port); `null` for a Unix
   * socket or before.
   * @example
   * ```ts
   * await server.opened; console.log(server.port);
   * ```
   */
  get port(): number | null {
    const addr = this.addr;
    return addr === null || typeof addr === 'string' ? null : addr[1];
  }
  /**
   * The address as text: `host:port` (`[host]:port` for IPv6), a Unix path,
   * or `''` before there is one.
   * @example
   * ```ts
   * console.log(`listening on ${server.address}`);
   * ```
   */
  get address(): string {
    return formatAddress(this.addr);
  }

  /**
   * The channel's events as an ix `AsyncIterableX`, for `pipe(filter(...), take(n))`.
   * Each iteration starts with the channel's one-shot events still in its log
   * (`connect`, errors: up to 64), even those another consumer already saw.
   * Leaving the iteration early leaves the channel open.
   * @returns a new event stream over this channel
   * @example
   * ```ts
   * import { filter } from 'ix/asynciterable/operators';
   * const reads = channel.events().pipe(filter((ev) => ev.type === 'read'));
   * for await (const ev of reads) console.log(ev.channel.recv(4096));
   * ```
   */
  events(): AsyncIterableX<CoreEvent<this>> {
    return new ChannelEvents(this[CORE]);
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
  [Symbol.asyncIterator](signal?: AbortSignal): AsyncIterator<CoreEvent<this>> {
    return new EventIterator(this[CORE], signal);
  }

  /**
   * Sends every byte, waiting for room as needed; writes run in call order.
   * Rejects with the connection's error if it breaks, or with a
   * {@link ChannelClosedError} if the channel is closed before every byte was
   * accepted. Never an unhandled rejection, awaited or not.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @param options - {@link WriteOptions}: a `signal` whose abort, while the
   *   write waits, withdraws the bytes not yet accepted and rejects with `signal.reason`
   * @returns a promise that resolves once every byte is accepted
   * @throws TypeError (synchronously) for other data
   * @example
   * ```ts
   * await channel.write('hello\n');
   * ```
   */
  write(data: Buffer | Uint8Array | string, options?: WriteOptions): Promise<undefined> {
    const buf = toBuffer(data);
    const core = this[CORE];
    if (core.life === 'closed') return rejected(new ChannelClosedError('Cannot write: the channel is closed'));
    const stream = this[STREAM];
    if (stream === null) {
      if (core.broken !== null) return rejected(core.broken);
      return rejected(new ChannelStateError('Cannot write: the channel is not connected'));
    }
    const signal = options?.signal;
    if (signal === undefined) return stream.write(buf);
    if (signal.aborted) return rejected(signal.reason as Error);
    return stream.write(buf, signal);
  }

  /**
   * Received bytes as they come, ending at end of stream (and after a local
   * `close()`); throws the connection's error if it breaks, after the bytes
   * that came before it. Reads with `recv()`: read the channel no other way
   * meanwhile. Ending at end of stream does not close the channel (the peer
   * may still read a reply): call `close()` when done.
   * @param sizeOrOptions - the most bytes per chunk (default 65536), or
   *   {@link ChunksOptions}: `size` and a `signal` whose abort rejects the
   *   waiting (or next) step with `signal.reason`
   * @returns an async iterable of buffers (an ix `AsyncIterableX`: `.pipe()` works)
   * @throws TypeError/RangeError for a bad size, and ChannelStateError on a
   *   listening channel (as `recv()`) or a datagram channel, at the call; the connection's error,
   *   while iterating, if it breaks
   * @example
   * ```ts
   * for await (const chunk of channel.chunks()) process.stdout.write(chunk);
   * ```
   */
  chunks(sizeOrOptions: number | ChunksOptions = 65536): ChunkIterator {
    const options = typeof sizeOrOptions === 'number' ? { size: sizeOrOptions } : sizeOrOptions;
    const size = options.size ?? 65536;
    checkPositiveInteger('size', size);
    if (this.state === 'listening') throw new ChannelStateError('Cannot read chunks: the channel is listening');
    if (this[DATAGRAM] !== null) throw new ChannelStateError('Cannot read chunks: a datagram channel has no stream (use datagrams())');
    return new ChunkIterator(this[CORE], this, size, options.signal);
  }

  /**
   * Accepted connections of a listening channel, as connected channels that
   * join this channel's map with the given options (not the listener's).
   * Ends when the listener closes; throws a listen failure (EADDRINUSE ...).
   * Errors that leave the listener open stay `error` events on the listener.
   * @param options - options of each accepted channel; defaults as for `new Channel()`
   * @returns an async iterable of channels
   * @throws TypeError/RangeError for bad options, and ChannelStateError on a
   *   connecting or connected channel (as `accept()`), at the call; the listen
   *   failure, while iterating
   * @example
   * ```ts
   * declare function serve(conn: Channel): Promise<void>; // serves one connection
   * for await (const conn of server.connections()) void serve(conn);
   * ```
   */
  connections(options: ConnectionsOptions = {}): Connections {
    const { signal, ...rest } = checkObject(options);
    const checked = isEmpty(rest) ? DEFAULT_SETTINGS : checkOptions(rest);
    checkNoReadBuffer(checked.readBufferSize);
    this.#checkCanListen();
    return new Connections(this[CORE], () => this.#takeConnection(checked), signal);
  }

  /** A connection to hand out, or `null` while none waits (or before `listen()`). */
  #takeConnection(options: Settings): Channel | null {
    if (this.state !== 'listening') {
      this.#checkCanListen();
      return null;
    }
    const sock = this[TAKE_SOCKET]();
    // Checked settings pass through the constructor's check as they are.
    return sock === null ? null : new Channel(sock, this.map, options as unknown as ChannelOptions);
  }

  /** @internal The stream role, for the iterator of chunks(). */
  [STREAM_ROLE](): StreamRole | null { return this[STREAM]; }

  /** Throws as accept() would on a channel that connected: it will never listen. */
  #checkCanListen(): void {
    const state = this.state;
    if (state === 'connecting' || state === 'open') throw new ChannelStateError(`Cannot take connections: the channel is ${state}, not listening`);
  }
}

/**
 * An address as text: `host:port`, `[host]:port` for IPv6, a Unix path as it
 * is, `''` for none.
 * @param address - an address, or `null`
 * @returns the text
 * @example
 * ```ts
 * formatAddress(['::1', 80]) // '[::1]:80'
 * ```
 */
export function formatAddress(address: Address | null): string {
  if (address === null) return '';
  if (typeof address === 'string') return address;
  const [host, port] = address;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A channel's events as an ix AsyncIterableX. */
class ChannelEvents<F extends Front> extends AsyncIterableX<CoreEvent<F>> {
  readonly #core: Core<F>;
  constructor(core: Core<F>) {
    super();
    this.#core = core;
  }
  [Symbol.asyncIterator](signal?: AbortSignal): AsyncIterator<CoreEvent<F>> {
    return new EventIterator(this.#core, signal);
  }
}

/**
 * The accepted connections of a listener, from {@link Channel.connections}:
 * an ix `AsyncIterableX` (so `.pipe()` works) that is its own iterator.
 * `next()` waits for a connection and accepts it only then; it is done once
 * the listener closes, and rejects with a listen failure. `return()` settles
 * at once, ending a waiting `next()`: no connection is accepted after it.
 * @example
 * ```ts
 * const conns = server.connections();
 * const { value: first } = await conns.next();
 * ```
 */
export class Connections extends PullIterator<Channel> {
  readonly #core: Core;
  readonly #take: () => Channel | null;

  /** @internal */
  constructor(core: Core, take: () => Channel | null, signal?: AbortSignal) {
    super(core, signal);
    this.#core = core;
    this.#take = take;
  }

  /** @internal */
  protected step(): IteratorResult<Channel, undefined> | null {
    const core = this.#core;
    if (core.broken !== null) throw core.broken;
    if (core.life === 'closed') return DONE;
    const channel = this.#take();
    return channel === null ? null : { done: false, value: channel };
  }
}

/**
 * The checks of {@link Channel.startTls}: throws as it does, or gives the
 * stream to upgrade and the TLS setup (its secure context built).
 * @internal
 */
export function checkStartTls(channel: Channel, options: StartTlsOptions): [StreamRole, TlsSetup] {
  checkObject(options);
  const stream = upgradableStream(channel);
  const addr = channel.addr;
  return [stream, startTlsSetup(options, typeof addr !== 'string' && addr !== null && addr[0] !== '' ? addr[0] : 'localhost')];
}

/**
 * The state checks of {@link Channel.startTls} alone: the stream to upgrade.
 * For a subclass that checks at the call and starts later with that setup.
 * @internal
 */
export function upgradableStream(channel: Channel): StreamRole {
  const state = channel.state;
  if (state === 'closed') throw new ChannelClosedError('Cannot start TLS: the channel is closed');
  const stream = channel[STREAM];
  if (state !== 'open' || stream === null) throw new ChannelStateError(`Cannot start TLS: the channel is ${state}`);
  if (!(stream.binding instanceof net.Socket)) throw new UnsupportedError('Cannot start TLS: the channel has no socket');
  if (stream.upgrading || channel.tls !== null) throw new ChannelStateError('Cannot start TLS: the channel already runs TLS');
  return stream;
}
