import { checkPositiveInteger, toBuffer } from '../internal/validate.js';
import { Dispatcher } from './dispatcher.js';

/**
 * A {@link Dispatcher} that buffers output: `send()` takes every byte, and
 * `handleWrite()` flushes the buffer as the socket accepts it. Unlike
 * Python's `dispatcher_with_send`, the buffer is bounded the classic way:
 * while more than {@link DispatcherWithSend.outputHighWaterMark} bytes are
 * pending, `readable()` is false, so an echo server stops reading instead of
 * buffering without limit. `close()` flushes what is buffered before ending.
 * A subclass that overrides `readable()` or `writable()` should combine its
 * answer with `super`'s.
 *
 * @example
 * ```ts
 * class Echo extends DispatcherWithSend {
 *   override handleRead(): void {
 *     const data = this.recv(8192);
 *     if (data !== null && data.length > 0) this.send(data);
 *   }
 * }
 * ```
 */
export class DispatcherWithSend extends Dispatcher {
  #out: Buffer[] = [];
  #outBytes = 0;
  #highWaterMark = 64 * 1024;

  /**
   * Buffered bytes above which `readable()` turns false. Default 65536.
   * @example
   * ```ts
   * class BigBuffer extends DispatcherWithSend {
   *   constructor(sock: net.Socket) { super(sock); this.outputHighWaterMark = 1 << 20; }
   * }
   * ```
   */
  get outputHighWaterMark(): number {
    return this.#highWaterMark;
  }

  /**
   * Sets the bound; the loop notices the change of `readable()` by polling.
   * @param bytes - a positive integer
   * @throws TypeError/RangeError for anything else
   * @example
   * ```ts
   * class BigBuffer extends DispatcherWithSend {
   *   constructor(sock: net.Socket) { super(sock); this.outputHighWaterMark = 1 << 20; }
   * }
   * ```
   */
  set outputHighWaterMark(bytes: number) {
    this.#highWaterMark = checkPositiveInteger('outputHighWaterMark', bytes);
  }

  /**
   * Bytes buffered and not yet accepted by the socket.
   * @example
   * ```ts
   * class SendAndClose extends DispatcherWithSend {
   *   override handleWrite(): void { super.handleWrite(); if (this.pendingOutput === 0) this.close(); }
   * }
   * ```
   */
  get pendingOutput(): number {
    return this.#outBytes;
  }

  /**
   * Buffers every byte and starts sending.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @returns the number of bytes taken: all of them; 0 once closed (as {@link Dispatcher.send})
   * @throws TypeError for other data
   * @example
   * ```ts
   * class Greeter extends DispatcherWithSend {
   *   constructor(sock: net.Socket) { super(sock); this.send('220 ready\r\n'); }
   * }
   * ```
   */
  override send(data: Buffer | Uint8Array | string): number {
    const buf = toBuffer(data);
    if (this.closing) return 0;
    if (buf.length > 0) {
      this.#out.push(buf);
      this.#outBytes += buf.length;
      this.initiateSend();
    }
    return buf.length;
  }

  /**
   * Hands buffered bytes to the socket while it accepts them (Python's `initiate_send`).
   * @example
   * ```ts
   * class Eager extends DispatcherWithSend {
   *   override handleConnect(): void { this.initiateSend(); } // what send() buffered before the connection
   * }
   * ```
   */
  initiateSend(): void {
    const out = this.#out;
    while (out.length > 0 && this.connected) {
      const head = out[0] as Buffer;
      const sent = super.send(head);
      this.#outBytes -= sent;
      if (sent < head.length) {
        out[0] = head.subarray(sent);
        return;
      }
      out.shift();
    }
  }

  /**
   * Flushes the buffer.
   * @example
   * ```ts
   * class Progress extends DispatcherWithSend {
   *   override handleWrite(): void { super.handleWrite(); this.logInfo(`${this.pendingOutput} bytes left`); }
   * }
   * ```
   */
  override handleWrite(): void {
    this.initiateSend();
  }

  /**
   * True while bytes are buffered, or before the connection is made.
   * @example
   * ```ts
   * class Greeter extends DispatcherWithSend {
   *   greeting = true;
   *   override writable(): boolean { return super.writable() || this.greeting; }
   * }
   * ```
   */
  override writable(): boolean {
    return !this.connected || this.#outBytes > 0;
  }

  /**
   * False while more than `outputHighWaterMark` bytes are buffered.
   * @example
   * ```ts
   * class Pausable extends DispatcherWithSend {
   *   paused = false;
   *   override readable(): boolean { return super.readable() && !this.paused; }
   * }
   * ```
   */
  override readable(): boolean {
    return this.#outBytes <= this.#highWaterMark;
  }

  /**
   * Closes after handing every buffered byte to the socket, which flushes them
   * before ending the connection (a lingering close: see `Channel.close()`). Idempotent.
   * @example
   * ```ts
   * class Quitter extends DispatcherWithSend {
   *   override handleRead(): void {
   *     if (this.recv(512)?.toString().trim() === 'QUIT') { this.send('bye\r\n'); this.close(); } // 'bye' still arrives
   *   }
   * }
   * ```
   */
  override close(): void {
    if (!this.closing) {
      for (const chunk of this.#out) this.forceSend(chunk);
    }
    this.#out = [];
    this.#outBytes = 0;
    super.close();
  }

  /**
   * Discards the buffer and resets the connection.
   * @example
   * ```ts
   * class Strict extends DispatcherWithSend {
   *   override handleError(error: unknown): void { this.logInfo(String(error), 'error'); this.abort(); }
   * }
   * ```
   */
  override abort(): void {
    this.#out = [];
    this.#outBytes = 0;
    super.abort();
  }
}
