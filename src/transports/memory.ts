// The in-memory binding of the stream role: two endpoints joined in the
// process, with no socket. Each direction models a connection's buffers:
// bytes written wait in the writer's queue (its `writableLength`), move into
// a window of bytes in flight (the kernel's buffers), and reach the reader's
// role while the reader is not paused. So the writer feels backpressure once
// the reader stops taking, as over TCP. Delivery runs on a later turn of the
// event loop (setImmediate), never inside write(), as a socket's does; faults
// (a reset, a stalled direction, delivery in chosen chunk sizes) are injected
// from outside.
import type { StreamBinding, StreamRole, StreamTransport } from '../roles/stream.js';

/** How bytes cross one direction of a pair. */
export interface MemoryLinkOptions {
  /** Bytes in flight between the two ends (the kernel's buffers), at least 1. */
  readonly window: number;
  /** Sizes the bytes are delivered in, used in turn; empty: as they were written. */
  readonly chunkSizes: readonly number[];
}

/** A reset error as Node reports one. */
function resetError(): Error {
  return Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
}

export class MemoryEndpoint implements StreamBinding {
  peer: MemoryEndpoint | null = null;
  role: StreamRole | null = null;
  readonly #options: MemoryLinkOptions;
  // Written and not yet in flight.
  #queue: Buffer[] = [];
  #queued = 0;
  // In flight toward the peer.
  #flight: Buffer[] = [];
  #flying = 0;
  #chunkAt = 0;
  #paused = false;
  #stalled = false;
  #ending = false;
  #endSent = false;
  /** Our end of stream reached the peer. */
  #ended = false;
  /** The peer's end of stream reached us. */
  #gotEnd = false;
  #flushed: (() => void)[] = [];
  #scheduled = false;
  #destroyed = false;
  #released = false;

  constructor(options: MemoryLinkOptions) {
    this.#options = options;
  }

  get writableLength(): number { return this.#queued; }
  // A prototype getter: StreamBinding asks, as it asks a socket.
  // eslint-disable-next-line @typescript-eslint/class-literal-property-style
  get connecting(): boolean { return false; }
  get destroyed(): boolean { return this.#destroyed; }

  write(data: Buffer, flushed?: (error?: Error | null) => void): boolean {
    if (this.#destroyed || this.#ending) return false;
    if (data.length > 0) {
      this.#queue.push(data);
      this.#queued += data.length;
    }
    if (flushed !== undefined) this.#flushed.push(flushed);
    this.#schedule();
    return this.#queued < this.#options.window;
  }

  pause(): void { this.#paused = true; }

  resume(): void {
    this.#paused = false;
    this.peer?.kick();
  }

  /** Schedules a delivery turn toward the peer. */
  kick(): void {
    this.#schedule();
  }

  end(flushed?: () => void): void {
    if (this.#destroyed || this.#ending) return;
    this.#ending = true;
    if (flushed !== undefined) this.#flushed.push(flushed);
    this.#schedule();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue = [];
    this.#queued = 0;
    this.#flight = [];
    this.#flying = 0;
    const peer = this.peer;
    // The peer sees an end: the bytes already in its buffer stay readable.
    if (peer !== null && !peer.#destroyed) setImmediate(() => { peer.#peerGone(); });
    setImmediate(() => { this.#release(); });
  }

  /** Stops (or restarts) delivery toward this end. */
  stall(on: boolean): void {
    this.#stalled = on;
    if (!on) this.peer?.kick();
  }

  /** Injects a reset: this end reports ECONNRESET; the peer is released as if it aborted. */
  reset(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#queue = [];
    this.#queued = 0;
    const peer = this.peer;
    if (peer !== null && !peer.#destroyed) {
      // The other end's connection is over: its end of stream, then release.
      peer.#destroyed = true;
      setImmediate(() => {
        peer.role?.onEnd();
        peer.#release();
      });
    }
    setImmediate(() => {
      this.role?.onError(resetError());
      this.#release();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#destroyed) return;
    this.#scheduled = true;
    setImmediate(this.#pump);
  }

  /** Moves bytes: our queue into flight up to the window, flight into the peer while it takes them. */
  readonly #pump = (): void => {
    this.#scheduled = false;
    const peer = this.peer;
    if (this.#destroyed || peer === null) return;
    const window = this.#options.window;
    while (this.#queued > 0 && this.#flying < window) {
      const head = this.#queue[0] as Buffer;
      const take = Math.min(head.length, window - this.#flying);
      const part = take === head.length ? head : head.subarray(0, take);
      if (take === head.length) this.#queue.shift();
      else this.#queue[0] = head.subarray(take);
      this.#queued -= take;
      this.#flight.push(part);
      this.#flying += take;
    }
    let delivered = false;
    // With chunk sizes, one chunk a turn, so the reader sees each split.
    const oneByOne = this.#options.chunkSizes.length > 0;
    while (this.#flying > 0 && !peer.#paused && !peer.#stalled && !peer.#destroyed) {
      const chunk = this.#nextChunk();
      delivered = true;
      peer.role?.onData(chunk);
      if (oneByOne) break;
    }
    if (this.#queued === 0 && this.#flushed.length > 0) {
      for (const done of this.#flushed.splice(0)) done();
    }
    if (this.#queued === 0 && !this.#ending) this.role?.onDrain();
    if (this.#ending && !this.#endSent && this.#queued === 0 && this.#flying === 0) {
      this.#endSent = true;
      setImmediate(() => {
        this.#ended = true;
        peer.#peerEnded();
        if (this.#gotEnd) this.#release();
      });
    }
    // More to move once the peer takes, or once the window has room.
    if (delivered && (this.#queued > 0 || (oneByOne && this.#flying > 0))) this.#schedule();
  };

  /** The next delivery: the head of the flight, cut to the next chunk size. */
  #nextChunk(): Buffer {
    const sizes = this.#options.chunkSizes;
    const head = this.#flight[0] as Buffer;
    let size = head.length;
    if (sizes.length > 0) {
      size = Math.min(size, sizes[this.#chunkAt % sizes.length] as number);
      this.#chunkAt++;
    }
    if (size === head.length) this.#flight.shift();
    else this.#flight[0] = head.subarray(size);
    this.#flying -= size;
    return size === head.length ? head : head.subarray(0, size);
  }

  #peerEnded(): void {
    if (this.#destroyed) return;
    this.#gotEnd = true;
    this.role?.onEnd();
    // Both ends ended: the connection is over, as a socket closes then.
    if (this.#ended) this.#release();
  }

  #peerGone(): void {
    if (this.#destroyed) return;
    this.role?.onEnd();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#destroyed = true;
    this.role?.onRelease();
  }
}

/** Abrupt close of an in-memory end: the peer is told of a reset. */
export const memoryTransport: StreamTransport = {
  reset(binding: StreamBinding): void {
    if (!(binding instanceof MemoryEndpoint)) {
      binding.destroy();
      return;
    }
    const endpoint = binding;
    const peer = endpoint.peer;
    if (peer !== null && !peer.destroyed) {
      endpoint.peer = null;
      peer.reset();
    }
    endpoint.destroy();
  },
};

/** Two joined endpoints. */
export function memoryLink(options: MemoryLinkOptions): [MemoryEndpoint, MemoryEndpoint] {
  const a = new MemoryEndpoint(options);
  const b = new MemoryEndpoint(options);
  a.peer = b;
  b.peer = a;
  return [a, b];
}
