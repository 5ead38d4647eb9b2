// Fakes for unit tests of the core: a front whose interest and close are
// plain fields, levels that report what the test sets, a map member built on
// them, and a spy that counts a core's live watchers.
import type { ChannelMap, MapMember } from '../../src/core/channel-map.js';
import type { Watcher } from '../../src/core/cursor.js';
import type { CoreEvent } from '../../src/core/events.js';
import { CORE, Core } from '../../src/core/readiness.js';
import type { Front, Levels } from '../../src/core/readiness.js';

/** A front: interest as fields, `close()` counted. */
export class FakeFront implements Front {
  readInterest = true;
  writeInterest = false;
  closes = 0;
  close(): void { this.closes++; }
}

/** Levels that hold what the test sets; calls of ended() and eventGone() recorded. */
export class FakeLevels implements Levels {
  readKind: 'read' | 'accept' = 'read';
  read = false;
  write = false;
  done = false;
  readonly endedWith: (Error | null)[] = [];
  readonly gone: CoreEvent<unknown>[] = [];
  readReady(): boolean { return this.read; }
  writeReady(front: Front): boolean { return this.write && front.writeInterest; }
  finished(_wantsRead: boolean): boolean { return this.done; }
  ended(error: Error | null): void { this.endedWith.push(error); }
  eventGone(event: CoreEvent<unknown>): void { this.gone.push(event); }
}

/** A core over a fake front and fake levels. */
export function fakeCore(): { core: Core<FakeFront>; front: FakeFront; levels: FakeLevels } {
  const front = new FakeFront();
  const levels = new FakeLevels();
  const core = new Core(front, false);
  core.levels = levels;
  return { core, front, levels };
}

let nextId = 1;

/** A map member over a core with fake levels; close() shuts the core down and leaves the map. */
export class FakeMember implements MapMember, Front {
  readonly id = nextId++;
  readonly [CORE]: Core<FakeMember>;
  readonly levels = new FakeLevels();
  readInterest = true;
  writeInterest = true;
  closes = 0;
  readonly #map: ChannelMap;

  constructor(map: ChannelMap) {
    this.#map = map;
    this[CORE] = new Core(this, false);
    this[CORE].levels = this.levels;
    map.set(this.id, this);
  }

  get core(): Core<FakeMember> { return this[CORE]; }
  get closing(): boolean { return this[CORE].isClosed; }
  get closed(): Promise<undefined> { return this[CORE].closed; }

  close(): void {
    this.closes++;
    if (!this[CORE].shutDown(() => new Error('closed before it opened'))) return;
    this.#map.delete(this.id);
  }

  abort(): void { this.close(); }
}

/** Counts the watchers a core holds now, by wrapping its watch()/unwatch(). */
export function watcherSpy<F extends Front>(core: Core<F>): { readonly live: number } {
  const live = new Set<Watcher>();
  const watch = core.watch.bind(core);
  const unwatch = core.unwatch.bind(core);
  const shutDown = core.shutDown.bind(core);
  core.watch = (watcher: Watcher): void => { live.add(watcher); watch(watcher); };
  core.unwatch = (watcher: Watcher): void => { live.delete(watcher); unwatch(watcher); };
  // shutDown() drops every watcher at once.
  core.shutDown = (notOpened: () => Error): boolean => {
    const done = shutDown(notOpened);
    if (done) live.clear();
    return done;
  };
  return { get live() { return live.size; } };
}

/** Resolves after `n` turns of the event loop's check phase. */
export async function turns(n = 1): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}
