// The timer of a stream's lingering close (see StreamRole.close()).
import { performance } from 'node:perf_hooks';

/** What a linger watches and ends: the part of a stream's handle it needs. */
export interface LingerHandle {
  readonly writableLength: number;
  destroy(): unknown;
}

/** The two bounds of a lingering close, in seconds. */
export interface LingerBounds {
  readonly closeTimeout: number;
  readonly lingerTimeout: number;
}

/**
 * A lingering close's timer: the total bound from the start, and the quiet
 * bound (no input for that long, once every byte we sent is flushed), as
 * nginx bounds its lingering close (`lingering_time`, `lingering_timeout`).
 * One timer, armed at the close and re-armed only when it fires early: a
 * churning server closes thousands of connections a second, and most end
 * (the peer's end of stream) long before it fires.
 */
export class Linger {
  readonly #binding: LingerHandle;
  readonly #deadline: number;
  readonly #quietMs: number;
  #lastInput: number;
  #timer: NodeJS.Timeout | null;

  constructor(binding: LingerHandle, settings: LingerBounds) {
    this.#binding = binding;
    const now = performance.now();
    this.#deadline = now + settings.closeTimeout * 1000;
    this.#quietMs = settings.lingerTimeout * 1000;
    this.#lastInput = now;
    this.#timer = setTimeout(this.#fire, Math.ceil(Math.min(this.#quietMs, this.#deadline - now)));
    this.#timer.unref();
  }

  heard(): void {
    this.#lastInput = performance.now();
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  readonly #fire = (): void => {
    this.#timer = null;
    const now = performance.now();
    // Quiet counts only once our bytes are flushed: until then the peer may
    // be slow to take them, and only the total bounds the wait.
    const flushed = this.#binding.writableLength === 0;
    const quietLeft = flushed ? this.#lastInput + this.#quietMs - now : this.#quietMs;
    const wait = Math.min(this.#deadline - now, quietLeft);
    if (wait <= 0) {
      this.#binding.destroy();
      return;
    }
    this.#timer = setTimeout(this.#fire, Math.ceil(wait));
    this.#timer.unref();
  };
}
