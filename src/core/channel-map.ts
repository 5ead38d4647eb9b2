// The core knows a map's members only by this shape: the public Channel front
// satisfies it, and a map typed with the front gives its users that type.

/**
 * What a {@link ChannelMap} holds: a channel, seen from its map (every member
 * is a `Channel`; narrow with `instanceof` for the rest of its API).
 * @example
 * ```ts
 * for (const member of map.values()) if (member instanceof Channel) member.send('bye\n');
 * ```
 */
export interface MapMember {
  /** The channel's id: its key in the map. */
  readonly id: number;
  /** True once the channel is closed (or closing). */
  readonly closing: boolean;
  /** Resolves once the channel is closed. */
  readonly closed: Promise<undefined>;
  /** Closes the channel (it leaves the map). */
  close(): void;
  /** Closes the channel abruptly. */
  abort(): void;
}

/**
 * Called by a {@link ChannelMap} when a channel joins it (`added` true) or
 * leaves it (`added` false); see {@link ChannelMap.watch}.
 * @example
 * ```ts
 * const listener: MapListener = (channel, added) => console.log(channel.id, added ? 'joined' : 'left');
 * const stop = map.watch(listener);
 * ```
 */
export type MapListener = (channel: MapMember, added: boolean) => void;

/**
 * The channels a loop watches, by numeric id: Python's `socket_map`. A channel
 * joins its map when it gets a socket and leaves it when it is closed, so a
 * loop over the map ends once every channel in it is closed.
 *
 * @example
 * ```ts
 * declare class EchoServer extends Dispatcher { constructor(address: Address, map: ChannelMap) } // as in Dispatcher's example
 * const map = new ChannelMap();
 * const server = new EchoServer(['127.0.0.1', 0], map);
 * await loop({ map });          // runs until every channel in `map` is closed
 * ```
 */
export class ChannelMap extends Map<number, MapMember> {
  readonly #listeners = new Set<MapListener>();

  /**
   * Adds a channel under `id`, telling every loop that watches this map.
   * @param id - the channel's {@link Channel.id}
   * @param channel - the channel
   * @returns this map
   * @example
   * ```ts
   * map.set(channel.id, channel)
   * ```
   */
  override set(id: number, channel: MapMember): this {
    const isNew = !super.has(id);
    super.set(id, channel);
    if (isNew) for (const listener of this.#listeners) listener(channel, true);
    return this;
  }

  /**
   * Removes the channel under `id` (without closing it).
   * @param id - the channel's id
   * @returns whether a channel was removed
   * @example
   * ```ts
   * map.delete(channel.id)
   * ```
   */
  override delete(id: number): boolean {
    const channel = super.get(id);
    if (channel === undefined) return false;
    super.delete(id);
    for (const listener of this.#listeners) listener(channel, false);
    return true;
  }

  /**
   * Removes every channel (without closing them); see {@link closeAll} to close them.
   * @example
   * ```ts
   * map.clear()
   * ```
   */
  override clear(): void {
    for (const id of [...super.keys()]) this.delete(id);
  }

  /**
   * Closes every channel in the map, then empties it: `await using` support.
   * @example
   * ```ts
   * await using map = new ChannelMap();
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const channel of [...super.values()]) channel.close();
    this.clear();
    return Promise.resolve();
  }

  /**
   * Watches additions and removals; returns the function that stops watching.
   * Used by loops; rarely needed elsewhere.
   * @param listener - called with the channel and whether it was added
   * @returns a function that removes the listener
   * @example
   * ```ts
   * const stop = map.watch((ch, added) => console.log(ch.id, added)); stop();
   * ```
   */
  watch(listener: MapListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
