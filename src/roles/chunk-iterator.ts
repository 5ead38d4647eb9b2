// The iterator behind Channel.chunks(): the bytes of the stream role, taken
// with recv() as a consumer pulls (see pull-iterator.ts for the machinery).
import type { Core } from '../core/readiness.js';
import { ChannelStateError } from '../errors.js';
import { DONE, PullIterator } from './pull-iterator.js';
import type { StreamRole } from './stream.js';

/** The method by which a chunk source hands over its stream role (a symbol: not a public name). */
export const STREAM_ROLE = Symbol('asyncore.streamRole');

/**
 * Where the chunks come from: the channel itself, which hands over its stream
 * role once it has one. The iterator keeps the channel, not an object and a
 * closure of its own: one field per idle connection instead of three objects.
 */
export interface ChunkSource {
  /** The stream role, or `null` while the channel has none yet. */
  [STREAM_ROLE](): StreamRole | null;
}

/**
 * The received bytes of a channel, from `Channel.chunks()`: an ix
 * `AsyncIterableX` of buffers that is its own iterator (call `next()`
 * directly, or `for await` it, or `.pipe()` it). `next()` waits for bytes;
 * it is done at the end of stream or after a local close, and rejects with
 * the connection's error if it broke (after the bytes that came before it).
 * @example
 * ```ts
 * const chunks = channel.chunks();
 * const first = await chunks.next();
 * await chunks.return();
 * ```
 */
export class ChunkIterator extends PullIterator<Buffer> {
  readonly #source: ChunkSource;
  readonly #size: number;

  /** @internal */
  constructor(core: Core, source: ChunkSource, size: number, signal?: AbortSignal) {
    super(core, signal);
    this.#source = source;
    this.#size = size;
  }

  /** @internal */
  protected step(): IteratorResult<Buffer, undefined> | null {
    const stream = this.#source[STREAM_ROLE]();
    let data: Buffer | null | undefined;
    if (stream !== null) {
      data = stream.takeChunk(this.#size);
    } else {
      const core = this.core;
      if (core.life === 'closed') data = undefined;
      // A role without a stream is a listener's: recv() would throw too.
      else if (core.levels !== null) throw new ChannelStateError('Cannot read chunks: the channel is listening');
      else data = null; // idle: waits for connect()
    }
    if (data === null) return null;
    if (data === undefined) return DONE;
    return { done: false, value: data };
  }
}
