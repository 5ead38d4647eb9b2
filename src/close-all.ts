import { socketMap } from './channel.js';
import type { ChannelMap } from './core/channel-map.js';

/**
 * Closes every channel in a map and empties it (Python's `close_all`).
 * Every channel is closed even if one fails; then, unless `ignoreAll`, the
 * first failure is thrown.
 * @param map - default {@link socketMap}
 * @param ignoreAll - swallow failures of `close()`
 * @throws whatever a channel's `close()` threw, unless `ignoreAll`
 * @example
 * ```ts
 * closeAll(map);
 * ```
 */
export function closeAll(map: ChannelMap = socketMap, ignoreAll = false): void {
  const failures: unknown[] = [];
  for (const channel of [...map.values()]) {
    try {
      channel.close();
    } catch (error) {
      failures.push(error);
    }
  }
  map.clear();
  if (!ignoreAll && failures.length > 0) throw failures[0];
}
