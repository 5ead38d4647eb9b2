// The iterator behind Channel.datagrams(): received datagrams with their
// senders, taken from the datagram role as a consumer pulls (see
// pull-iterator.ts for the machinery).
import type { Address } from '../constants.js';
import type { Core } from '../core/readiness.js';
import { DatagramRole } from './datagram.js';
import { DONE, PullIterator } from './pull-iterator.js';

/**
 * The received datagrams of a datagram channel, from
 * `Channel.datagrams()`: an ix `AsyncIterableX` of `[data, address]` pairs
 * that is its own iterator. `next()` waits for a datagram; it is done once
 * the channel closes, and rejects with the failure of a bind or connect
 * that broke the channel.
 * @example
 * ```ts
 * const received = udp.datagrams();
 * const { value } = await received.next();
 * if (value) console.log(`${value[0].length} bytes from ${formatAddress(value[1])}`);
 * await received.return();
 * ```
 */
export class DatagramIterator extends PullIterator<[Buffer, Address]> {
  readonly #core: Core;
  readonly #size: number;

  /** @internal */
  constructor(core: Core, size: number, signal?: AbortSignal) {
    super(core, signal);
    this.#core = core;
    this.#size = size;
  }

  /** @internal */
  protected step(): IteratorResult<[Buffer, Address], undefined> | null {
    const core = this.#core;
    if (core.life === 'closed') return DONE;
    const role = core.levels;
    const taken = role instanceof DatagramRole ? role.take(this.#size) : null;
    if (taken !== null) return { done: false, value: [taken[0], [taken[1].address, taken[1].port]] };
    if (core.broken !== null) throw core.broken;
    return null;
  }
}
