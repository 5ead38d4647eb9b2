// The stream role: a connected byte stream's read buffer, write window and
// close protocol, over a small binding. A binding is the transport's handle
// (a `net.Socket`, a TLS socket, an in-memory endpoint) seen through the few
// members below, which `net.Socket` has as they are; the transport delivers
// the handle's events to the role's `on*` methods and supplies the abrupt
// close (a TCP reset is not available on every handle).
import { ChannelClosedError, ChannelStateError } from '../errors.js';
import type { Core, Front, Levels } from '../core/readiness.js';
import type { CodedError, CoreEvent, Operation } from '../core/events.js';
import { deferred, noop } from '../internal/deferred.js';
import type { Deferred } from '../internal/deferred.js';
import { Linger } from './linger.js';
import { WriteQueue } from './write-queue.js';
import type { PendingWrite } from './write-queue.js';

/** A connected stream as the role drives it: a subset of `net.Socket`. */
export interface StreamBinding {
  write(data: Buffer, flushed?: (error?: Error | null) => void): boolean;
  /** Bytes written and not yet handed to the kernel (or the peer). */
  readonly writableLength: number;
  readonly connecting: boolean;
  readonly destroyed: boolean;
  pause(): unknown;
  resume(): unknown;
  /** Sends the end of stream after every byte written; `flushed` once they are. */
  end(flushed?: () => void): unknown;
  /** Releases the handle now; the transport tells the role (`onRelease()`) once it is gone. */
  destroy(): unknown;
  /** True once the peer's end of stream was read (Node's flag); a binding without it always lingers. */
  readonly readableEnded?: boolean;
}

/** What differs between transports once a stream is made: shared by all its streams. */
export interface StreamTransport {
  /** Closes abruptly: a TCP reset where the handle has one, else a release. */
  reset(binding: StreamBinding): void;
}

/** The bounds a stream uses; checked and defaulted by the front. */
export interface StreamSettings {
  readonly readHighWaterMark: number;
  readonly writeHighWaterMark: number;
  /** Seconds a lingering close may last in all. */
  readonly closeTimeout: number;
  /** Seconds without input after which a lingering close ends. */
  readonly lingerTimeout: number;
  /** The peer's end of stream leaves the channel writable until it shuts down (default false). */
  readonly allowHalfOpen?: boolean;
}

/**
 * The stream's phase: `connecting` until the connection is made, then `open`.
 * The read side: `open`; `ended` when the end of stream arrived and waits to
 * be taken by `recv()`; `taken` once it was. The close: `none`; `lingering`
 * while a closed channel keeps reading so that a reset cannot destroy bytes
 * it sent; `released` once the handle is gone. The write side: `open`;
 * `ending` once `shutdown()` asked for the end of stream after the bytes
 * accepted; `ended` once it went to the kernel. A read side shut down
 * (`SHUT_RD`) counts as `taken`: its input is discarded. A one-way stream (a
 * pipe's end) has no other side at all: `none`, its only state.
 */
export type StreamPhase = 'connecting' | 'open';
export type ReadSide = 'open' | 'ended' | 'taken' | 'none';
export type WriteSide = 'open' | 'ending' | 'ended' | 'none';
export type CloseSide = 'none' | 'lingering' | 'released';

const EMPTY = Buffer.alloc(0);
const RESOLVED = Promise.resolve(undefined);
// A buffered chunk this large is handed out alone rather than copied together
// with the ones behind it: the copy would cost more than the extra pass.
const WHOLE_CHUNK = 16 * 1024;

export function rejected(error: Error): Promise<undefined> {
  const promise = Promise.reject<undefined>(error);
  promise.catch(noop);
  return promise;
}

function operationOf(error: CodedError & { syscall?: string | undefined }, connecting: boolean): Operation {
  if (connecting) return 'connect';
  if (error.syscall === 'write' || error.syscall === 'writev' || error.syscall === 'shutdown') return 'write';
  return 'read';
}

export class StreamRole implements Levels {
  // A prototype getter, not a field: no per-connection cost.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  get readKind(): 'read' { return 'read'; }
  readonly core: Core;
  /** The handle; replaced once, by rebind(), when TLS starts over the connection. */
  binding: StreamBinding;
  readonly #transport: StreamTransport;
  readonly #settings: StreamSettings;
  phase: StreamPhase;
  readSide: ReadSide = 'open';
  closeSide: CloseSide = 'none';
  writeSide: WriteSide = 'open';
  // Read side: chunks received and not yet taken by recv().
  #chunks: Buffer[] = [];
  #buffered = 0;
  #paused = false;
  // The reused read buffer of a channel that connects with `readBufferSize`.
  #readBuffer: Buffer | null = null;
  // Write side: write() calls waiting for room, in order.
  // Made on the first write that has to wait: an idle connection holds none.
  #writes: WriteQueue | null = null;
  /** Whether any byte was ever accepted: only then does a close linger. */
  #sentAny = false;
  /** The write callback of a write that fills the window; made on first use. */
  #afterWrite: (() => void) | null = null;
  #released: Deferred<undefined> | null = null;
  #linger: Linger | null = null;
  /** True while STARTTLS runs: no read or write readiness, writes wait behind the barrier. */
  upgrading = false;
  #barrierPassing = false;

  constructor(core: Core, binding: StreamBinding, transport: StreamTransport, settings: StreamSettings, phase: StreamPhase) {
    this.core = core;
    this.binding = binding;
    this.#transport = transport;
    this.#settings = settings;
    this.phase = phase;
  }

  /** Uses `buffer` as the reused read buffer (Node's `onread`); bytes wait there until taken. */
  useReadBuffer(buffer: Buffer): void {
    this.#readBuffer = buffer;
  }

  get bufferedAmount(): number { return this.#buffered; }
  get pendingWrite(): number { return this.binding.writableLength; }

  // ---- levels ------------------------------------------------------------------

  readReady(): boolean {
    if (this.upgrading) return false;
    return this.#buffered > 0 || (this.readSide === 'ended' && this.core.broken === null);
  }

  writeReady(front: Front): boolean {
    // The interest after the cheap checks: an idle dispatcher's writable() is
    // asked only while a write could happen; the handle is touched last.
    return this.phase === 'open' && !this.upgrading && this.core.broken === null && this.writeSide === 'open'
      && (this.readSide !== 'taken' || this.#settings.allowHalfOpen === true)
      && front.writeInterest && this.binding.writableLength < this.#settings.writeHighWaterMark;
  }

  finished(wantsRead: boolean): boolean {
    // A broken connection's remaining bytes come first, unless nobody reads.
    if (this.core.broken !== null && !wantsRead) return true;
    // A write-only stream is done once its write side is.
    if (this.readSide === 'none') return this.writeSide !== 'open';
    // Half-open, the end of input is not the end: writing may go on until
    // our side shuts down too.
    return this.readSide === 'taken' && (this.#settings.allowHalfOpen !== true || this.writeSide !== 'open');
  }

  ended(error: Error | null): void {
    if (error === null) {
      // Closed: unread bytes go (a broken connection keeps them to be read).
      this.#chunks = [];
      this.#buffered = 0;
    }
    this.#writes?.rejectAll(() => error ?? new ChannelClosedError('Cannot write: the channel was closed before every byte was accepted'));
  }

  eventGone(_event: CoreEvent<unknown>): void { /* no one-shot bookkeeping */ }

  // ---- reading -----------------------------------------------------------------

  recv(bufferSize: number): Buffer | null {
    // While STARTTLS runs, received bytes belong to the TLS layer.
    if (this.upgrading) return null;
    if (this.#buffered === 0) {
      if (this.readSide === 'none') throw new ChannelStateError('Cannot recv: the channel is write-only');
      if (this.readSide !== 'open' || this.core.broken !== null) {
        if (this.readSide !== 'taken') {
          this.readSide = 'taken';
          this.core.signal();
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
    } else if (chunks.length === 1 || first.length === bufferSize || first.length >= WHOLE_CHUNK) {
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

  recvInto(target: Uint8Array): number | null {
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

  /** One step of chunks(): bytes, `null` to wait, `undefined` at the end; throws a break. */
  takeChunk(size: number): Buffer | null | undefined {
    // A broken connection throws even once the channel closed after it.
    if (this.#buffered === 0 && this.core.broken !== null) throw this.core.broken;
    if (this.core.life === 'closed') return undefined;
    const data = this.recv(size);
    if (data === null) return null;
    return data.length === 0 ? undefined : data;
  }

  /** Counts bytes taken and lets the handle read again once below the bound. */
  #taken(count: number): void {
    this.#buffered -= count;
    // A reused read buffer must be empty before Node reads into it again.
    const resumeBelow = this.#readBuffer === null ? this.#settings.readHighWaterMark : 1;
    if (this.#paused && this.#buffered < resumeBelow) {
      this.#paused = false;
      this.binding.resume();
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

  // ---- writing -----------------------------------------------------------------

  /** Accepts what fits under the write window; see Channel.send(). */
  send(buf: Buffer): number {
    // Nothing is accepted before the connection exists (as a connecting
    // socket's send() fails in Python), nor while write() calls wait.
    if (this.writeSide !== 'open') throw new ChannelStateError(`Cannot send: ${this.#noWriting()}`);
    if ((this.#writes?.size ?? 0) > 0 || this.phase !== 'open') return 0;
    return this.#sendNow(buf);
  }

  /** Every byte, in call order, resolving once all are accepted; see Channel.write(). */
  write(buf: Buffer, signal?: AbortSignal): Promise<undefined> {
    if (this.core.broken !== null) return rejected(this.core.broken);
    if (this.writeSide !== 'open') return rejected(new ChannelStateError(`Cannot write: ${this.#noWriting()}`));
    // While connecting nothing is accepted: a write must not resolve before
    // the connection exists, or a refused connect would lose its bytes.
    let rest = buf;
    if ((this.#writes?.size ?? 0) === 0 && this.phase === 'open') {
      const sent = this.#sendNow(buf);
      if (sent === buf.length) return RESOLVED;
      rest = buf.subarray(sent);
    }
    // Queued even when empty: a write resolves after those before it.
    const pending: PendingWrite = { data: rest, done: deferred<undefined>(true) };
    const writes = (this.#writes ??= new WriteQueue());
    writes.push(pending);
    if (signal !== undefined) writes.withdrawOnAbort(pending, signal);
    return pending.done.promise;
  }

  #noWriting(): string {
    return this.writeSide === 'none' ? 'the channel is read-only' : 'the channel is shut down for writing';
  }

  /** Makes a one-way stream (a pipe's end): it has no read side, or no write side. */
  oneWay(way: 'read' | 'write'): void {
    if (way === 'read') this.writeSide = 'none';
    else this.readSide = 'none';
  }

  /** Hands bytes to the handle past the window: a subclass flushing its own buffer at close. */
  forceSend(data: Buffer): void {
    if (!this.binding.destroyed && this.writeSide === 'open') {
      this.#sentAny = true;
      this.binding.write(data);
    }
  }

  #sendNow(buf: Buffer): number {
    const binding = this.binding;
    if (this.core.broken !== null || binding.destroyed) return 0;
    const room = this.#settings.writeHighWaterMark - binding.writableLength;
    if (room <= 0 || buf.length === 0) return 0;
    this.#sentAny = true;
    if (buf.length < room) {
      binding.write(buf);
      return buf.length;
    }
    // This write fills the window. Node emits 'drain' only past its own
    // high-water mark, which may be above ours: its flush callback tells us too.
    this.#afterWrite ??= () => { this.onDrain(); };
    binding.write(buf.length === room ? buf : buf.subarray(0, room), this.#afterWrite);
    return room;
  }

  #pumpWrites(): void {
    // The head is read again on every pass: a write that ends the stream
    // reaches ended(), which empties the queue.
    const writes = this.#writes;
    if (writes === null) return;
    for (let head = writes.first; head !== undefined; head = writes.first) {
      if (head.barrier === true) {
        this.#passBarrier(head);
        return;
      }
      const sent = this.#sendNow(head.data);
      if (sent < head.data.length) {
        head.data = head.data.subarray(sent);
        return;
      }
      writes.shift();
      head.done.resolve(undefined);
    }
  }

  // ---- STARTTLS -----------------------------------------------------------------

  /**
   * Starts an upgrade: read and write readiness stop, and writes made from
   * now on wait. Resolves once every byte accepted before is flushed to the
   * handle's kernel side, so that it goes out in plaintext ahead of the
   * handshake; rejects when the channel breaks or closes first.
   */
  beginUpgrade(): Promise<undefined> {
    this.upgrading = true;
    const barrier: PendingWrite = { data: EMPTY, done: deferred<undefined>(true), barrier: true };
    const writes = (this.#writes ??= new WriteQueue());
    writes.push(barrier);
    if (writes.size === 1) this.#pumpWrites();
    this.core.signal();
    return barrier.done.promise;
  }

  #passBarrier(barrier: PendingWrite): void {
    // Once the handle has flushed all it was given; an empty write's callback
    // runs after those before it.
    if (this.binding.destroyed || this.#barrierPassing) return;
    this.#barrierPassing = true;
    this.binding.write(EMPTY, (error) => {
      if (error === null || error === undefined) barrier.done.resolve(undefined);
      else barrier.done.reject(error);
    });
  }

  /** Puts bytes taken with recv() back in front of those still unread (a layer above that read too far). */
  unread(data: Buffer): void {
    if (data.length === 0 || this.core.life === 'closed') return;
    this.#chunks.unshift(data);
    this.#buffered += data.length;
  }

  /** Takes the bytes received and not yet taken: they now belong to the layer above the handle. */
  takeUnread(): Buffer {
    const unread = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    this.#paused = false;
    return unread;
  }

  /** Moves the stream onto a new handle over the same connection (TLS over TCP). */
  rebind(binding: StreamBinding): void {
    this.binding = binding;
    this.#readBuffer = null;
  }

  /** Ends an upgrade: the writes behind the barrier go to the new handle. */
  endUpgrade(): void {
    if (!this.upgrading) return;
    this.upgrading = false;
    this.#barrierPassing = false;
    if (this.#writes?.first?.barrier === true) this.#writes.shift();
    if (this.core.life !== 'closed') this.#pumpWrites();
    this.core.signal();
  }

  /** An upgrade or a TLS connect failed: the channel breaks, reported as a `connect` failure. */
  failHandshake(error: CodedError): void {
    this.upgrading = false;
    this.core.fail(error, 'connect');
  }

  // ---- events from the transport -------------------------------------------

  onConnect(): void {
    if (this.core.life !== 'active') return;
    this.phase = 'open';
    this.core.logEvent({ type: 'connect', channel: this.core.owner });
    this.core.markOpened();
    this.#pumpWrites();
  }

  onData(chunk: Buffer): void {
    if (this.core.life === 'closed') {
      this.#linger?.heard();
      return;
    }
    if (this.readSide === 'taken') return; // shut down for reading: discarded
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered >= this.#settings.readHighWaterMark && !this.#paused) {
      this.#paused = true;
      this.binding.pause();
    }
    this.core.signalSoon();
  }

  /** Node's `onread` callback: `count` bytes are in the reused buffer. */
  onRead(count: number): boolean {
    if (this.core.life === 'closed') {
      this.#linger?.heard();
      return true; // discarding until the peer ends
    }
    if (this.readSide === 'taken') return true; // shut down for reading
    this.#chunks.push((this.#readBuffer as Buffer).subarray(0, count));
    this.#buffered += count;
    // Returning false pauses the handle: the buffer holds bytes not yet taken.
    this.#paused = true;
    this.core.signalSoon();
    // A consumer signalled at once (chunks()) may have taken every byte
    // already: its resume() came while Node still counted the handle as
    // reading and did nothing, so the answer must keep it reading.
    return !this.#paused;
  }

  onEnd(): void {
    if (this.core.life === 'closed' || this.readSide !== 'open') return;
    this.readSide = 'ended';
    this.core.signalSoon();
  }

  onDrain(): void {
    if (this.core.life === 'closed') return;
    this.#pumpWrites();
    this.core.signalSoon();
  }

  onError(error: CodedError): void {
    if (this.core.life === 'closed') return;
    this.core.fail(error, operationOf(error, this.phase === 'connecting'));
  }

  /** The connection went idle too long: report it, then reset. */
  onIdle(error: CodedError): void {
    if (this.core.life !== 'active') return;
    this.core.fail(error, this.phase === 'connecting' ? 'connect' : 'read');
    this.#transport.reset(this.binding);
  }

  /** The handle is released (closed, destroyed). */
  onRelease(): void {
    // Writes still waiting can never go out: as a write to a closed connection,
    // EPIPE. So it is for a write-only stream released by its owner (Node
    // closes a child's stdin pipe once the child exits): its reader is gone.
    const writeOnly = this.readSide === 'none' && this.writeSide === 'open';
    if (((this.#writes?.size ?? 0) > 0 || writeOnly) && this.core.life === 'active') {
      this.core.fail(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }), 'write');
    }
    this.closeSide = 'released';
    this.#released?.resolve(undefined);
    this.#linger?.stop();
    this.#linger = null;
  }

  // ---- half-close --------------------------------------------------------------

  /**
   * Shuts down one or both directions; see Channel.shutdown(). Reading:
   * unread bytes go, input is read on and discarded (a peer that writes is
   * not stalled), and the end counts as taken. Writing: write() calls still
   * waiting are refused, and the end of stream follows every accepted byte.
   */
  shutdown(read: boolean, write: boolean): void {
    if (read && this.readSide !== 'taken' && this.readSide !== 'none') {
      this.readSide = 'taken';
      this.#chunks = [];
      this.#buffered = 0;
      if (this.#paused) {
        this.#paused = false;
        this.binding.resume();
      }
    }
    if (write && this.writeSide === 'open') {
      this.writeSide = 'ending';
      this.#refuseWaiting();
      if (!this.binding.destroyed) {
        this.binding.end(() => {
          if (this.writeSide === 'ending') this.writeSide = 'ended';
        });
      }
    }
    this.core.signal();
  }

  #refuseWaiting(): void {
    this.#writes?.rejectAll(() => new ChannelStateError('Cannot write: the channel was shut down for writing before every byte was accepted'));
  }

  // ---- closing -----------------------------------------------------------------

  /** Resolves once the handle is released (at once unless the close lingers). */
  get released(): Promise<undefined> {
    if (this.closeSide === 'released' || this.binding.destroyed) return RESOLVED;
    return (this.#released ??= deferred<undefined>(true)).promise;
  }

  /**
   * The graceful close, after the core is marked closed. With bytes sent, it
   * lingers: ends our side after them and reads (discarding) until the peer
   * ends, so that unread input cannot make the kernel reset the connection
   * before the peer has our bytes. The linger ends when the peer ends, after
   * `lingerTimeout` seconds without input once our bytes are flushed, or
   * after `closeTimeout` seconds in all. Without bytes sent there is nothing
   * to protect: the handle is released at once, as Python's `close()` does.
   */
  close(): void {
    const binding = this.binding;
    if (binding.destroyed) return;
    // An end of stream in flight is sent as bytes are: the close lingers for it.
    const sent = this.#sentAny || this.writeSide === 'ending' || this.writeSide === 'ended';
    if (!sent || (binding.connecting && binding.writableLength === 0)) {
      binding.destroy();
      return;
    }
    this.closeSide = 'lingering';
    if (this.#paused) {
      this.#paused = false;
      binding.resume();
    }
    // A peer that has ended left nothing unread that could make the kernel
    // reset, and with every byte with the kernel our end cannot wait on
    // anything: Node releases the socket once it is sent, with no timer.
    if (binding.readableEnded !== true || binding.writableLength !== 0) this.#linger = new Linger(binding, this.#settings);
    if (this.writeSide === 'open') binding.end();
  }

  /** The abrupt close, after the core is marked closed: a reset where there is one. */
  abort(): void {
    if (!this.binding.destroyed) this.#transport.reset(this.binding);
  }

  // ---- state for the front ---------------------------------------------------

  /** Throws when bytes cannot be exchanged at all (no connection). */
  static needConnection(role: StreamRole | null, action: string): StreamRole {
    if (role === null) throw new ChannelStateError(`Cannot ${action}: the channel has no connection`);
    return role;
  }
}
