// Per-consumer reading position on a channel's events. Level events (read,
// write, accept) are computed from the channel's state at each pull, so every
// consumer sees them while they hold; one-shot events (connect, error) sit in a
// short log that each consumer walks with its own `seq`; `close` is delivered
// once per consumer, tracked by `closeSeen`.
export interface EventCursor {
  /** Next one-shot log entry to deliver. */
  seq: number;
  /** Alternates read and write when both hold, so neither starves (iterators). */
  preferWrite: boolean;
  /**
   * The engine handed out this channel's read (or accept) in the current
   * round and asks it once more for a write, so that each ready kind goes out
   * once per round, as Python's loop dispatches read, then write, per pass.
   */
  writeOnly: boolean;
  /** The engine's own mark of that second look (the pull clears `writeOnly`). */
  secondLook: boolean;
  /** The consumer was handed `close`; its next pull closes the channel. */
  closeSeen: boolean;
}

export function newCursor(): EventCursor {
  return { seq: 0, preferWrite: false, writeOnly: false, secondLook: false, closeSeen: false };
}

/** A channel's change watcher: `changed()` is called synchronously on every state change. */
export interface Watcher { changed(): void }

/** Resolves on the next macrotask, so I/O and timers get a turn. */
export function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
