import { socketMap } from './channel.js';
import type { ChannelMap } from './core/channel-map.js';
import { ExitNow } from './errors.js';

/**
 * Closes every channel in a map and empties it (Python's `close_all`).
 * Every channel is closed even if one fails; then the first failure is
 * thrown, unless `ignoreAll`. As in Python, a failure with the code `EBADF`
 * (the descriptor was already gone) is ignored, and an {@link ExitNow} is
 * thrown even with `ignoreAll`.
 * @param map - default {@link socketMap}
 * @param ignoreAll - swallow failures of `close()` (except `ExitNow`)
 * @throws whatever a channel's `close()` threw, unless `ignoreAll` or `EBADF`;
 *   an `ExitNow` always
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
      if ((error as { code?: unknown } | null)?.code !== 'EBADF') failures.push(error);
    }
  }
  map.clear();
  const exit = failures.find((failure): failure is ExitNow => failure instanceof ExitNow);
  if (ignoreAll && exit !== undefined) throw exit;
  if (!ignoreAll && failures.length > 0) throw failures[0];
}
