// The datagram role: a bounded queue of received datagrams waiting for
// recvFrom(), and a bound on datagrams accepted for sending and not yet
// handed to the kernel. Datagrams that arrive while the queue is full are
// dropped and counted, never held without limit; a send past the bound is
// refused whole, as a full socket buffer refuses it.
import type { Core, Front, Levels } from '../core/readiness.js';
import type { CodedError, CoreEvent } from '../core/events.js';

/** Told once Node has handed a datagram to the kernel, or failed to. */
export type SentCallback = (error: Error | null, bytes?: number) => void;

/** Where a received datagram came from, as Node reports it (`dgram.RemoteInfo` fits). */
export interface DatagramSource { readonly address: string; readonly port: number }

/** A datagram socket as the role drives it: `dgram.Socket` satisfies it. */
export interface DatagramBinding {
  /** Sends to the connected peer. */
  send(msg: Buffer, callback: SentCallback): void;
  /** Sends to `address`:`port`. */
  send(msg: Buffer, port: number, address: string, callback: SentCallback): void;
}

/** The bounds of one datagram channel. */
export interface DatagramBounds {
  /** Most datagrams held in each direction (received, and sent but not yet flushed). */
  readonly datagramLimit: number;
  /** Bytes of received datagrams at which new ones are dropped. */
  readonly readHighWaterMark: number;
  /** Bytes of sent datagrams not yet flushed at which sends are refused. */
  readonly writeHighWaterMark: number;
}

/** A send waiting for the connect to finish: Node cannot send to a peer it is still resolving. */
interface Held { readonly data: Buffer; readonly done: SentCallback }

export class DatagramRole implements Levels {
  readonly core: Core;
  readonly #bounds: DatagramBounds;
  #binding: DatagramBinding;
  // Received datagrams from #head on; the arrays restart whenever they empty.
  #data: Buffer[] = [];
  #from: DatagramSource[] = [];
  #head = 0;
  #queuedBytes = 0;
  #dropped = 0;
  #sendingBytes = 0;
  #sendingCount = 0;
  // Sends accepted while connect() runs: null once the peer is set (or with no connect).
  #held: Held[] | null = null;
  #closeWhenFlushed = false;

  constructor(core: Core, binding: DatagramBinding, bounds: DatagramBounds) {
    this.core = core;
    this.#binding = binding;
    this.#bounds = bounds;
  }

  // A prototype getter, not a field: no per-channel cost.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  get readKind(): 'read' { return 'read'; }
  /** Datagrams dropped because the receive queue was full. */
  get dropped(): number { return this.#dropped; }
  /** Datagrams waiting for recvFrom(). */
  get queued(): number { return this.#data.length - this.#head; }
  /** Bytes of the datagrams waiting for recvFrom(). */
  get queuedBytes(): number { return this.#queuedBytes; }
  /** Bytes of datagrams accepted for sending and not yet handed to the kernel. */
  get sendingBytes(): number { return this.#sendingBytes; }

  // ---- levels ------------------------------------------------------------------

  readReady(): boolean {
    return this.#data.length > this.#head;
  }

  writeReady(front: Front): boolean {
    return this.#hasRoom() && this.core.life === 'active' && front.writeInterest;
  }

  finished(wantsRead: boolean): boolean {
    return this.core.broken !== null && !wantsRead;
  }

  ended(error: Error | null): void {
    // Closed: what waits unread goes (a broken channel keeps it to be read).
    if (error === null) this.#clear();
  }

  eventGone(_event: CoreEvent<unknown>): void { /* no report waits on its consumer */ }

  // ---- receiving -----------------------------------------------------------------

  /** A datagram arrived: queue it, or drop and count it when the queue is full. */
  offer(data: Buffer, from: DatagramSource): void {
    if (this.core.life === 'closed') return;
    const waiting = this.#data.length - this.#head;
    if (waiting >= this.#bounds.datagramLimit || this.#queuedBytes >= this.#bounds.readHighWaterMark) {
      this.#dropped++;
      return;
    }
    this.#data.push(data);
    this.#from.push(from);
    this.#queuedBytes += data.length;
    if (waiting === 0) this.core.signalSoon();
  }

  /**
   * Takes the oldest datagram, cut to `size` bytes (the rest is discarded);
   * `null` when none waits.
   */
  take(size: number): [Buffer, DatagramSource] | null {
    const head = this.#head;
    if (head >= this.#data.length) return null;
    const data = this.#data[head] as Buffer;
    const from = this.#from[head] as DatagramSource;
    this.#queuedBytes -= data.length;
    if (head + 1 === this.#data.length) this.#clear();
    else {
      this.#data[head] = EMPTY;
      this.#head = head + 1;
    }
    // A copy of the part kept: the discarded rest must not stay reachable.
    return [data.length > size ? Buffer.from(data.subarray(0, size)) : data, from];
  }

  #clear(): void {
    this.#data = [];
    this.#from = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  // ---- sending --------------------------------------------------------------------

  #hasRoom(): boolean {
    return this.#sendingBytes < this.#bounds.writeHighWaterMark && this.#sendingCount < this.#bounds.datagramLimit;
  }

  /**
   * Sends one datagram whole, to `to` or (with `null`) to the connected peer,
   * if the send bound has room; returns whether it was accepted.
   */
  send(data: Buffer, to: DatagramSource | null): boolean {
    if (!this.#hasRoom() || this.core.life !== 'active') return false;
    const size = data.length;
    this.#sendingBytes += size;
    this.#sendingCount++;
    const done: SentCallback = (error) => { this.#sent(size, error); };
    if (to !== null) this.#binding.send(data, to.port, to.address, done);
    else if (this.#held !== null) this.#held.push({ data, done });
    else this.#binding.send(data, done);
    return true;
  }

  #sent(size: number, error: Error | null): void {
    const hadRoom = this.#hasRoom();
    this.#sendingBytes -= size;
    this.#sendingCount--;
    if (error !== null) this.onError(error, 'write');
    if (this.#closeWhenFlushed && this.#sendingCount === 0) this.#release();
    else if (!hadRoom && this.core.life === 'active') this.core.signalSoon();
  }

  /** connect() started: sends to the peer wait for it. */
  connecting(): void {
    this.#held ??= [];
  }

  /** The peer is set: held sends go, in order. */
  connected(): void {
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const { data, done } of held) this.#binding.send(data, done);
  }

  // ---- failure and close --------------------------------------------------------------

  /**
   * The socket failed: before it was bound (or connected) the channel breaks;
   * after, the error is reported and the channel stays open, as a Python
   * datagram socket stays usable after an ICMP error.
   */
  onError(error: CodedError, operation: 'bind' | 'connect' | 'read' | 'write', fatal = false): void {
    if (this.core.life === 'closed') return;
    if (!fatal) {
      this.core.report(error, operation);
      return;
    }
    this.#dropHeld();
    this.core.fail(error, operation);
  }

  /** Forgets the sends held for a connect that will not finish. */
  #dropHeld(): void {
    const held = this.#held;
    this.#held = null;
    if (held === null) return;
    for (const { data } of held) {
      this.#sendingBytes -= data.length;
      this.#sendingCount--;
    }
  }

  /** Closes: datagrams already accepted go out first, then the socket is released. */
  close(release: () => void): void {
    this.#release = release;
    this.#dropHeld();
    if (this.#sendingCount === 0) release();
    else this.#closeWhenFlushed = true;
  }

  #release: () => void = () => { /* set by close() */ };
}

const EMPTY = Buffer.alloc(0);
