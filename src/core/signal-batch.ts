// When a socket-driven change (bytes arrived, end of stream, room to write) is
// signalled to the channel's consumers: at once, or batched after the event
// loop's poll phase.
//
// Why batch: Node runs the microtask queue after every socket callback, so a
// consumer woken at once runs, writes and waits again inside that one
// callback. With 100 busy connections that is 100 microtask checkpoints and
// 100 writes interleaved with the reads of one wake. Batched, the callbacks
// only record which channels changed; one setImmediate after the poll phase
// wakes them all, their consumers run back to back in one checkpoint and their
// writes leave in one burst, as a select() loop handles every descriptor one
// wake found ready. On rr-100 that took a for-await server from 0.85 to 1.00
// of raw node:net's requests/s (docs/performance.md, "Batched readiness").
//
// Why not always: the setImmediate costs about 1 µs of CPU per turn, which a
// lone connection (rr-1) pays on every request with nothing to share it with.
// So the batch adapts, as network drivers switch between interrupts and
// polling: it signals at once until a probe sees BATCH_MIN channels change in
// one turn, and goes back to that after a run of turns that had fewer. Two
// channels a turn do not pay for the batch: connection churn over 16
// connections runs in batches of two, and cost 6-9% more CPU per connection
// batched than never batched, while rr over 2 connections gains nothing and rr
// over 4 gains a fifth (docs/performance.md, "Round eight").
// Either way the consumers see the same events: events are computed from the
// channel's state when pulled, not from the signal.
//
// A datagram channel is busy alone in another way: up to 32 datagrams per
// wake on one socket, each its own callback. Its signals are `repeats`: a
// probe counts a second signal of the same item in one turn, and a batch
// that absorbed signals counts them with its channels, so that one busy
// datagram channel is woken once per turn rather than once per datagram.

/** Direct signals between two probes of whether batching would pay. */
export const PROBE_EVERY = 32;
/**
 * Channels that must change in one turn for the batch to pay: a probe that
 * sees this many starts batching, LONE_BATCHES batches of fewer stop it.
 */
export const BATCH_MIN = 3;
/** Batches below BATCH_MIN in a row after which signals go direct again. */
export const LONE_BATCHES = 8;

export class SignalBatch<T> {
  readonly #deliver: (item: T) => void;
  #queue: T[] = [];
  #spare: T[] = [];
  #scheduled = false;
  #batching = false;
  #lone = 0;
  #sinceProbe = 0;
  #probing = false;
  #probeOthers = 0;
  #last: T | null = null;
  #absorbed = 0;

  /** @param deliver - signals one item */
  constructor(deliver: (item: T) => void) {
    this.#deliver = deliver;
  }

  /** Whether signals are being batched now. */
  get batching(): boolean {
    return this.#batching;
  }

  /**
   * Offers a change of `item`. Returns true if it was queued (the caller
   * must not queue the same item again before it is delivered), false if the
   * caller should signal it at once.
   * @param repeats - a second signal of `item` in one turn counts as more work (datagrams)
   */
  defer(item: T, repeats = false): boolean {
    if (this.#batching) {
      this.#queue.push(item);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
      return true;
    }
    if (this.#probing) {
      if (item !== this.#last || repeats) this.#probeOthers++;
    } else if (++this.#sinceProbe >= PROBE_EVERY) {
      // Count the other items that change before this turn's check phase.
      this.#sinceProbe = 0;
      this.#probing = true;
      this.#probeOthers = 0;
      setImmediate(this.#endProbe);
    }
    this.#last = item;
    return false;
  }

  /** A repeated change of an item already queued: the batch it waits in is not lone. */
  absorb(): void {
    this.#absorbed++;
  }

  readonly #endProbe = (): void => {
    this.#probing = false;
    this.#last = null;
    if (this.#probeOthers >= BATCH_MIN - 1) {
      this.#batching = true;
      this.#lone = 0;
    }
  };

  /**
   * Delivers what waits now, ahead of the batch's own setImmediate, which
   * stays scheduled for anything queued after. A loop that starts a round
   * from a setImmediate of its own calls this first: its callback was queued
   * in the turn before, so it runs ahead of the batch of this turn's poll
   * phase, and the round would otherwise see readiness one turn late.
   */
  flushPending(): void {
    if (this.#queue.length > 0) this.#deliverQueued();
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    // Emptied already by flushPending(): not a batch, lone or otherwise.
    if (this.#queue.length === 0 && this.#absorbed === 0) return;
    this.#deliverQueued();
  };

  #deliverQueued(): void {
    const list = this.#queue;
    this.#queue = this.#spare;
    // Signals absorbed (datagrams past the first of a channel) count as work too.
    if (list.length + this.#absorbed >= BATCH_MIN) this.#lone = 0;
    else if (++this.#lone >= LONE_BATCHES) this.#batching = false;
    this.#absorbed = 0;
    // Every item is delivered even if one throws (a bug): a channel left out
    // would never be signalled again. The first error is thrown afterwards.
    let failure: { error: unknown } | null = null;
    for (const item of list) {
      try {
        this.#deliver(item);
      } catch (error) {
        failure ??= { error };
      }
    }
    list.length = 0;
    this.#spare = list;
    if (failure !== null) throw failure.error;
  }
}
