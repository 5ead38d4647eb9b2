import type net from 'node:net';
import { Channel } from '../channel.js';
import { SOCK_DGRAM } from '../constants.js';
import type { Address } from '../constants.js';
import { CORE, INTEREST_FAILED } from '../core/readiness.js';
import { AcceptQueueFullError } from '../errors.js';
import { compactTraceback } from '../internal/traceback.js';
import { checkPositiveInteger, toBuffer } from '../internal/validate.js';
import { andThen, markConnectHandled, reportFailure } from './dispatch.js';
import type { HandlerResult } from './dispatch.js';

export type { HandlerResult } from './dispatch.js';


/**
 * The classic adapter: subclass it and override the handlers, as with
 * Python's `asyncore.dispatcher`. `await loop()` calls them: `handleRead()`
 * while `readable()` and bytes wait, `handleWrite()` while `writable()` and
 * `send()` would accept bytes, `handleConnect()` once connected,
 * `handleAccept()` while a connection waits, `handleClose()` once the peer
 * closed or the connection broke, `handleError(error)` when a handler throws
 * or rejects or a socket error happens. `readable()`/`writable()` are polled:
 * a change in what they return is noticed without any call.
 *
 * @example
 * ```ts
 * class EchoHandler extends Dispatcher {
 *   override handleRead(): void {
 *     const data = this.recv(8192);
 *     if (data !== null && data.length > 0) this.send(data);
 *   }
 * }
 * class EchoServer extends Dispatcher {
 *   constructor(address: Address) {
 *     super();
 *     this.createSocket(AF_INET, SOCK_STREAM);
 *     this.setReuseAddr();
 *     this.bind(address);
 *     this.listen(5);
 *   }
 *   override handleAccepted(sock: net.Socket): void { new EchoHandler(sock); }
 * }
 * ```
 */
export class Dispatcher extends Channel {
  /**
   * Message types `logInfo()` does not print (default: `warning`, as in Python).
   * @example
   * ```ts
   * Dispatcher.ignoreLogTypes.delete('warning');
   * ```
   */
  static ignoreLogTypes = new Set<string>(['warning']);

  // connect() was called and handleConnectEvent() has not run yet: Python's
  // `connecting`, which its handle_read_event()/handle_write_event() check.
  #connectPending = false;

  /**
   * True: a dispatcher's interest is what `readable()`/`writable()` return,
   * which may change without any call, so loops poll it.
   * @returns true
   * @example
   * ```ts
   * class Quiet extends Dispatcher { override readable(): boolean { return false; } }
   * ```
   */
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  protected override get interestIsComputed(): boolean { return true; }

  /**
   * A `readable()`/`writable()` that throws goes to `handleError()`, as a
   * handler that throws does (the loop calls this).
   * @internal
   */
  [INTEREST_FAILED](error: unknown): PromiseLike<void> | undefined {
    return reportFailure(this, error) ?? undefined;
  }

  /**
   * Polled by the loop: `read`/`accept` events come only while it returns true.
   * @example
   * ```ts
   * class Bounded extends Dispatcher {
   *   inbox: Buffer[] = [];
   *   override readable(): boolean { return this.inbox.length < 10; }
   * }
   * ```
   */
  override get readInterest(): boolean {
    return this.readable();
  }

  /**
   * Not settable on a dispatcher: its interest is what `readable()` returns.
   * @param _on - ignored
   * @throws TypeError always; override `readable()` instead
   * @example
   * ```ts
   * class Reader extends Dispatcher {
   *   wantsRead = true;
   *   override readable(): boolean { return this.wantsRead; } // instead of this.readInterest = ...
   * }
   * ```
   */
  override set readInterest(_on: boolean) {
    throw new TypeError('Cannot set readInterest on a Dispatcher: override readable() instead');
  }

  /**
   * Polled by the loop: `write` events come only while it returns true.
   * @example
   * ```ts
   * class Writer extends Dispatcher {
   *   out: Buffer[] = [];
   *   override writable(): boolean { return this.out.length > 0; }
   * }
   * ```
   */
  override get writeInterest(): boolean {
    return this.writable();
  }

  /**
   * Not settable on a dispatcher: its interest is what `writable()` returns.
   * @param _on - ignored
   * @throws TypeError always; override `writable()` instead
   * @example
   * ```ts
   * class Writer extends Dispatcher {
   *   wantsWrite = false;
   *   override writable(): boolean { return this.wantsWrite; } // instead of this.writeInterest = ...
   * }
   * ```
   */
  override set writeInterest(_on: boolean) {
    throw new TypeError('Cannot set writeInterest on a Dispatcher: override writable() instead');
  }

  /**
   * Whether the channel wants `handleRead()`/`handleAccept()` calls. Default `true`.
   * A running `loop()` asks it whenever it re-examines the dispatcher, input or
   * not (while idle, at least every `pollInterval` in a map of up to 1,024
   * dispatchers), so an idle check may live here, as in Python; one that
   * throws goes to `handleError()`.
   * @returns the read interest
   * @example
   * ```ts
   * class Pausable extends Dispatcher {
   *   paused = false;
   *   override readable(): boolean { return !this.paused; }
   * }
   * ```
   */
  readable(): boolean {
    return true;
  }

  /**
   * Whether the channel wants `handleWrite()` calls. Default `true`, as in
   * Python: a connected dispatcher that keeps it is called on every pass.
   * @returns the write interest
   * @example
   * ```ts
   * class Sender extends Dispatcher {
   *   buffer = Buffer.alloc(0);
   *   override writable(): boolean { return this.buffer.length > 0; }
   * }
   * ```
   */
  writable(): boolean {
    return true;
  }

  /**
   * As {@link Channel.send}, except on a closed dispatcher, where it returns 0
   * as Python's `send()` does, instead of throwing `ChannelClosedError`: relay
   * code (`a.handleRead()` sending to `b`) does not fail because `b` closed.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @returns the number of bytes accepted; 0 once closed
   * @throws TypeError for other data; ChannelStateError before `connect()`
   * @example
   * ```ts
   * class Relay extends Dispatcher {
   *   constructor(sock: net.Socket, readonly other: Dispatcher) { super(sock); }
   *   override handleRead(): void {
   *     const data = this.recv(8192);
   *     if (data !== null && data.length > 0) this.other.send(data); // 0 once `other` closed
   *   }
   * }
   * ```
   */
  override send(data: Buffer | Uint8Array | string): number {
    if (!this.closing) return super.send(data);
    toBuffer(data); // the argument is still checked
    return 0;
  }

  /**
   * As {@link Channel.recv}, except on a closed dispatcher, where it returns
   * an empty buffer (the end of stream), as Python's `recv()` does, instead of
   * throwing `ChannelClosedError`.
   * @param bufferSize - the most bytes to return (a positive integer)
   * @returns at most `bufferSize` bytes; `null` when nothing waits; an empty
   *   buffer at the end of stream and once closed
   * @throws TypeError/RangeError for a bad size; ChannelStateError on a
   *   dispatcher that has no connection
   * @example
   * ```ts
   * class Reader extends Dispatcher {
   *   override handleRead(): void { if (this.recv(8192)?.length === 0) this.close(); }
   * }
   * ```
   */
  override recv(bufferSize: number): Buffer | null {
    if (!this.closing) return super.recv(bufferSize);
    checkPositiveInteger('bufferSize', bufferSize);
    return Buffer.alloc(0);
  }

  /**
   * Connects, as {@link Channel.connect}; the connect is then pending until
   * `handleConnectEvent()` runs (the loop calls it once the connection is
   * made, or `handleReadEvent()`/`handleWriteEvent()` called directly do).
   * @param address - `[host, port]` or a Unix path
   * @throws as {@link Channel.connect}
   * @example
   * ```ts
   * const client = new Dispatcher();
   * client.createSocket(AF_INET);
   * client.connect(['127.0.0.1', port]);
   * ```
   */
  override connect(address: Address): void {
    super.connect(address);
    // A datagram channel is never connecting: its peer is set, not reached.
    this.#connectPending = this.socketType !== SOCK_DGRAM;
  }

  /**
   * The seed's direct interface for a read event: the loop calls it for
   * every `read` and `accept` event, and it calls the implied handler, as
   * Python's `handle_read_event()`: on a listener `handleAccept()`; on a
   * client whose connect is still pending `handleConnectEvent()` and then
   * `handleRead()`; otherwise `handleRead()`. Override it to see every read
   * event before its handler, or call it directly to drive a dispatcher
   * without a loop.
   * @returns what the handler returned (a promise is awaited by the loop)
   * @example
   * ```ts
   * class Traced extends Dispatcher {
   *   override handleReadEvent(): HandlerResult { console.log('read event'); return super.handleReadEvent(); }
   * }
   * ```
   */
  handleReadEvent(): HandlerResult {
    if (this.accepting) return this.handleAccept();
    if (this.#connectPending) return andThen(this.handleConnectEvent(), () => this.handleRead());
    return this.handleRead();
  }

  /**
   * The seed's direct interface for a write event: the loop calls it for
   * every `write` event. As Python's `handle_write_event()`: nothing on a
   * listener; on a client whose connect is still pending
   * `handleConnectEvent()` first; then `handleWrite()`.
   * @returns what the handler returned
   * @example
   * ```ts
   * class Traced extends Dispatcher {
   *   override handleWriteEvent(): HandlerResult { console.log('write event'); return super.handleWriteEvent(); }
   * }
   * ```
   */
  handleWriteEvent(): HandlerResult {
    if (this.accepting) return undefined;
    if (this.#connectPending) return andThen(this.handleConnectEvent(), () => this.handleWrite());
    return this.handleWrite();
  }

  /**
   * The seed's direct interface for a completed connection: the loop calls it
   * once, for the `connect` event, unless it already ran. It ends the pending
   * connect and calls `handleConnect()`, as Python's `handle_connect_event()`
   * (Node reports a failed connect as an `error` event, so there is no
   * `SO_ERROR` to check).
   * @returns what `handleConnect()` returned
   * @example
   * ```ts
   * class Traced extends Dispatcher {
   *   override handleConnectEvent(): HandlerResult { console.log('connected'); return super.handleConnectEvent(); }
   * }
   * ```
   */
  handleConnectEvent(): HandlerResult {
    this.#connectPending = false;
    markConnectHandled(this);
    return this.handleConnect();
  }

  /**
   * The seed's direct interface for an exceptional condition, as Python's
   * `handle_expt_event()`: `handleClose()` once the connection broke, else
   * `handleExpt()`. The loop never reports one (Node does not expose TCP
   * urgent data); it is here for ported code that calls it.
   * @returns what the handler returned
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleExpt(): void { this.close(); }
   * }
   * new Client().handleExptEvent(); // calls handleExpt()
   * ```
   */
  handleExptEvent(): HandlerResult {
    if (this[CORE].broken !== null) return this.handleClose();
    return this.handleExpt();
  }

  /**
   * Received bytes (or the end of stream) wait for `recv()`.
   * @example
   * ```ts
   * class Printer extends Dispatcher {
   *   override handleRead(): void { console.log(this.recv(4096)); }
   * }
   * ```
   */
  handleRead(): HandlerResult {
    this.logInfo('unhandled read event', 'warning');
  }

  /**
   * `send()` would accept bytes.
   * @example
   * ```ts
   * class Sender extends Dispatcher {
   *   buffer = Buffer.from('hello\n');
   *   override handleWrite(): void { this.buffer = this.buffer.subarray(this.send(this.buffer)); }
   * }
   * ```
   */
  handleWrite(): HandlerResult {
    this.logInfo('unhandled write event', 'warning');
  }

  /**
   * Out-of-band data: never called on Node, which does not expose TCP urgent data.
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleExpt(): void { this.close(); }
   * }
   * ```
   */
  handleExpt(): HandlerResult {
    this.logInfo('unhandled incoming priority event', 'warning');
  }

  /**
   * The connection was made (once, whatever `writable()` says).
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleConnect(): void { this.send('HELLO\r\n'); }
   * }
   * ```
   */
  handleConnect(): HandlerResult {
    this.logInfo('unhandled connect event', 'warning');
  }

  /**
   * A connection waits. Default: `accept()` it and pass it to `handleAccepted()`.
   * @example
   * ```ts
   * class EchoHandler extends DispatcherWithSend {
   *   override handleRead(): void {
   *     const data = this.recv(8192);
   *     if (data !== null && data.length > 0) this.send(data);
   *   }
   * }
   * class Server extends Dispatcher {
   *   override handleAccept(): void { const pair = this.accept(); if (pair) new EchoHandler(pair[0]); }
   * }
   * ```
   */
  handleAccept(): HandlerResult {
    const pair = this.accept();
    if (pair !== null) return this.handleAccepted(pair[0], pair[1]);
  }

  /**
   * A connection was accepted. Default: log it as unhandled and close it.
   * @param sock - the accepted socket; wrap it in a channel
   * @param addr - the peer's address (`''` for Unix)
   * @example
   * ```ts
   * class EchoHandler extends DispatcherWithSend {
   *   override handleRead(): void {
   *     const data = this.recv(8192);
   *     if (data !== null && data.length > 0) this.send(data);
   *   }
   * }
   * class Server extends Dispatcher {
   *   override handleAccepted(sock: net.Socket): void { new EchoHandler(sock, this.map); }
   * }
   * ```
   */
  handleAccepted(sock: net.Socket, addr: Address): HandlerResult {
    sock.destroy();
    this.logInfo(`unhandled accepted event from ${typeof addr === 'string' ? addr : addr.join(':')}`, 'warning');
  }

  /**
   * The peer closed or the connection broke; the loop calls it once (the
   * default `handleError()` calls it again if it threw). Default: close.
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleClose(): void { console.log('bye'); this.close(); }
   * }
   * ```
   */
  handleClose(): HandlerResult {
    this.logInfo('unhandled close event', 'warning');
    this.close();
  }

  /**
   * A handler threw or rejected, or a socket error happened. Default: log a
   * condensed one-line traceback, then `handleClose()` — except for an
   * {@link AcceptQueueFullError} on a listener, which is logged as a warning
   * and leaves the listener open (no accept error closes a listener).
   * @param error - what was thrown, or the socket error
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleError(error: unknown): void { console.error(error); this.close(); }
   * }
   * ```
   */
  handleError(error: unknown): HandlerResult {
    if (error instanceof AcceptQueueFullError && this.accepting) {
      this.logInfo(`${error.message} (${error.dropped} dropped) on ${String(this)}`, 'warning');
      return undefined;
    }
    this.logInfo(`uncaptured error, closing channel ${String(this)} (${compactTraceback(error)})`, 'error');
    return this.handleClose();
  }

  /**
   * Prints a message to standard error, as Python's `log()`.
   * @param message - the message
   * @example
   * ```ts
   * class Client extends Dispatcher {
   *   override handleConnect(): void { this.log('connected'); }
   * }
   * ```
   */
  log(message: string): void {
    process.stderr.write(`log: ${message}\n`);
  }

  /**
   * Prints `type: message` unless `type` is in {@link Dispatcher.ignoreLogTypes}.
   * @param message - the message
   * @param type - `info`, `warning`, `error` ...
   * @example
   * ```ts
   * class Handler extends Dispatcher {
   *   constructor(sock: net.Socket) { super(sock); this.logInfo('client connected'); }
   * }
   * ```
   */
  logInfo(message: string, type = 'info'): void {
    if (!Dispatcher.ignoreLogTypes.has(type)) process.stdout.write(`${type}: ${message}\n`);
  }
}
