// channelPair(): two connected channels in one process, over the in-memory
// binding: the same events, the same backpressure and the same close and
// error order as over a socket, with faults to inject. For testing protocol
// code without the kernel.
import { Channel } from './channel.js';
import { ChannelBase } from './channel-base.js';
import type { ChannelOptions } from './channel-options.js';
import type { ChannelMap } from './core/channel-map.js';
import { CORE } from './core/readiness.js';
import { checkObject } from './internal/options.js';
import { checkPositiveInteger } from './internal/validate.js';
import { memoryLink, memoryTransport } from './transports/memory.js';
import type { MemoryEndpoint } from './transports/memory.js';

/**
 * Options of {@link channelPair}: those of both channels, the map they join,
 * and how bytes cross between them.
 * @example
 * ```ts
 * const pair = channelPair({ window: 1024, chunkSizes: [1, 7] });
 * ```
 */
export interface PairOptions extends ChannelOptions {
  /** The map both channels join; default `socketMap`. */
  map?: ChannelMap;
  /**
   * Bytes in flight in each direction (what the kernel's socket buffers
   * hold over TCP): a writer whose reader stops taking can put this many
   * bytes past its own write window before `send()` takes nothing. A
   * positive integer; default 65536.
   */
  window?: number;
  /**
   * Delivers the bytes in these sizes, in turn (`[1]`: one byte at a time),
   * to test a parser against every split; default: as written.
   */
  chunkSizes?: readonly number[];
}

/**
 * The faults that can be injected between the two channels of a pair.
 * @example
 * ```ts
 * const pair = channelPair();
 * pair.stall(pair.b); // bytes to b stop arriving; a's writes back up
 * ```
 */
export interface PairControl {
  /** The first channel (also `pair[0]`). */
  readonly a: Channel;
  /** The second channel (also `pair[1]`). */
  readonly b: Channel;
  /**
   * Resets the connection as seen by `channel`: it reports an `error`
   * (`ECONNRESET`, operation `read`); the bytes it already holds stay
   * readable, then `close`. The other channel's connection ends: it sees the
   * end of stream, and writes still waiting reject with `EPIPE`.
   * @param channel - `a` or `b`
   * @throws TypeError for another channel
   */
  reset(channel: Channel): void;
  /**
   * Stops delivering bytes to `channel` until `unstall()`: they pile up in
   * flight, then in the writer's window, as with a peer that stops reading.
   * @param channel - `a` or `b`
   * @throws TypeError for another channel
   */
  stall(channel: Channel): void;
  /**
   * Delivers bytes to `channel` again.
   * @param channel - `a` or `b`
   * @throws TypeError for another channel
   */
  unstall(channel: Channel): void;
}

/**
 * Two connected channels with no socket, from {@link channelPair}: a tuple
 * to destructure (`const [a, b] = channelPair()`) with the fault controls
 * of {@link PairControl}.
 * @example
 * ```ts
 * const pair: ChannelPair = channelPair();
 * const [a, b] = pair;
 * pair.reset(b);
 * a.close();
 * ```
 */
export type ChannelPair = readonly [Channel, Channel] & PairControl;

function controls(a: Channel, b: Channel, ends: Map<Channel, MemoryEndpoint>): PairControl {
  const end = (channel: Channel): MemoryEndpoint => {
    const found = ends.get(channel);
    if (found === undefined) throw new TypeError('Invalid channel: expected a channel of this pair');
    return found;
  };
  return {
    a,
    b,
    reset(channel: Channel): void { end(channel).reset(); },
    stall(channel: Channel): void { end(channel).stall(true); },
    unstall(channel: Channel): void { end(channel).stall(false); },
  };
}

function checkChunkSizes(value: unknown): readonly number[] {
  if (!Array.isArray(value)) throw new TypeError('Invalid chunkSizes: expected an array of positive integers');
  return (value as unknown[]).map((size) => checkPositiveInteger('chunk size', size));
}

/**
 * Makes two connected channels in memory: what one sends, the other
 * receives, with the events, backpressure, end of stream and close of a
 * socket, and no kernel. Both are open at once and join `options.map`.
 * @param options - channel options for both, the map, the window and chunk sizes
 * @returns the pair: destructure it as `[a, b]`; see {@link PairControl} for faults
 * @throws TypeError/RangeError for bad options
 * @example
 * ```ts
 * const [a, b] = channelPair({ map: new ChannelMap() });
 * await a.write('ping');
 * for await (const chunk of b.chunks()) { console.log(chunk.toString()); break; }
 * a.close(); b.close();
 * ```
 */
export function channelPair(options: PairOptions = {}): ChannelPair {
  const { map, window, chunkSizes, ...channelOptions } = checkObject(options);
  const link = memoryLink({
    window: window === undefined ? 65536 : checkPositiveInteger('window', window),
    chunkSizes: chunkSizes === undefined ? [] : checkChunkSizes(chunkSizes),
  });
  const ends = new Map<Channel, MemoryEndpoint>();
  const channels = link.map((end) => {
    const channel = new Channel(null, map ?? null, channelOptions);
    const stream = ChannelBase.attach(channel, end, memoryTransport, '');
    end.role = stream;
    channel[CORE].markOpened();
    ends.set(channel, end);
    return channel;
  });
  const [a, b] = channels as [Channel, Channel];
  return Object.freeze(Object.assign([a, b] as const, controls(a, b, ends)));
}
