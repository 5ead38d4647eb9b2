// The awaitable face of a loop: the classic handler dispatch. Each event of
// each Dispatcher in the map goes to its handler; a handler's promise holds
// that channel's next event while the others go on.
import type { MapMember } from '../core/channel-map.js';
import { Engine, ROUND_END, nextRound } from '../core/engine.js';
import type { EngineOptions } from '../core/engine.js';
import { noop } from '../internal/deferred.js';
import { EventLoop, interestFailed } from '../loop.js';
import type { LoopOptions } from '../loop.js';
import type { ChannelMap } from '../core/channel-map.js';
import { Dispatcher } from './dispatcher.js';
import { alreadyDispatched, dispatchEvent } from './dispatch.js';

function isDispatcher(channel: MapMember): boolean {
  return channel instanceof Dispatcher;
}

/**
 * A loop over a map: an ix `AsyncIterableX` of every event of every channel
 * in the map (and `timeout`), and a promise-like that runs the classic
 * handler dispatch. It is lazy: nothing runs until it is iterated or
 * awaited. Each iteration runs its own pass over the map. The dispatch run
 * starts at the first `then()` (that is, the first `await`), and every later
 * `then()` shares it; if `stop()` was called (or the `signal` aborted) before
 * that, it resolves at once. Two dispatch runs over the same map at once
 * (two `Loop`s awaited together) would each call the handlers.
 *
 * A new loop, and each new iteration, starts with each channel's one-shot
 * events still in its log (`connect` and errors, up to 64 per channel), even
 * those an earlier loop already handed out; a dispatcher's handler for a
 * given one-shot event runs only once all the same (and `handleClose()` at
 * most once per dispatcher).
 *
 * A thenable has one hazard: returning it from an async function (or
 * resolving a promise with it) awaits it, which starts the dispatch run. To
 * hand a loop around un-run, wrap it: `return { loop: loop() }`.
 *
 * @example
 * ```ts
 * for await (const ev of loop({ map })) console.log(ev.type);   // events
 * await loop({ map });                                          // handlers
 * ```
 */
export class Loop extends EventLoop implements PromiseLike<undefined> {
  #run: Promise<undefined> | null = null;

  /** The dispatch run's engine: dispatchers only, one-shots already handled skipped. */
  #dispatchOptions(fail: (error: unknown) => void): EngineOptions {
    const { timeout, count } = this.options;
    return {
      ...this.engineOptions(),
      accepts: isDispatcher,
      onPullError: (channel, error) => {
        // A readable()/writable() that throws goes to handleError, as a handler would.
        interestFailed(channel, error)?.then(undefined, fail);
      },
      // The dispatch run yields no timeout events, but with a count an idle
      // timeout is a pass, as in Python: `await loop(0.1, false, map, 1)` ends.
      timeoutMs: count === undefined || timeout === Infinity ? null : timeout * 1000,
      skip: alreadyDispatched,
    };
  }

  /**
   * Runs the classic loop: each event of each {@link Dispatcher} in the map
   * goes to its handler; a handler's promise is awaited before that channel's
   * next event while the others go on. Resolves once the map is empty or the
   * loop is stopped; rejects with an {@link ExitNow} thrown by a handler.
   * Plain channels in the map are left to their own iterators (they keep the loop running).
   * The first call starts the run; later calls share it.
   * @param onfulfilled - as for a promise
   * @param onrejected - as for a promise
   * @returns a promise of the run's end
   * @example
   * ```ts
   * await loop({ map });
   * ```
   */
  then<T = void, E = never>(
    onfulfilled?: ((value: undefined) => T | PromiseLike<T>) | null,
    onrejected?: ((reason: unknown) => E | PromiseLike<E>) | null,
  ): Promise<T | E> {
    this.#run ??= this.#dispatchAll();
    return this.#run.then(onfulfilled, onrejected);
  }

  /**
   * As `Promise.prototype.catch` on the dispatch run.
   * @param onrejected - called with the rejection
   * @returns a promise
   * @example
   * ```ts
   * await loop().catch((err: unknown) => console.error(err));
   * ```
   */
  catch<E = never>(onrejected?: ((reason: unknown) => E | PromiseLike<E>) | null): Promise<E | undefined> {
    return this.then(undefined, onrejected);
  }


  /**
   * Stops the loop and waits for its dispatch run to end: `await using` support.
   * @example
   * ```ts
   * await using running = loop({ map });
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.stop();
    if (this.#run !== null) await this.#run.catch(noop);
  }

  async #dispatchAll(): Promise<undefined> {
    const state: { exit: Error | null } = { exit: null };
    const fail = (error: unknown): void => {
      state.exit ??= error instanceof Error ? error : new Error(String(error));
      engine.stop();
    };
    const engine = new Engine(this.#dispatchOptions(fail));
    // Once the run stopped, a handler's promise that rejects goes to no handler.
    const running = (): boolean => !engine.stopped;
    const unbind = this.bindStop(engine);
    const release = (entry: NonNullable<Engine['last']>) => (): void => { engine.release(entry); };
    // Read through a function: a rejection can set it during any await.
    const checkExit = (): void => {
      if (state.exit !== null) throw state.exit;
    };
    try {
      for (;;) {
        checkExit();
        if (engine.stopped) return undefined;
        const event = engine.next();
        if (event === ROUND_END) {
          await nextRound();
          engine.yielded();
          continue;
        }
        if (event === null) {
          const result = await engine.wait();
          checkExit();
          if (result === 'end' || result === 'stop') return undefined;
          continue;
        }
        // The engine serves only dispatchers in this mode (see #dispatchOptions).
        const result = dispatchEvent(event.channel as unknown as Dispatcher, event, running);
        if (result !== undefined) {
          const entry = engine.last as NonNullable<Engine['last']>;
          entry.busy = true;
          result.then(release(entry), (error: unknown) => {
            fail(error);
            release(entry)();
          });
        }
      }
    } finally {
      unbind();
      engine.dispose();
    }
  }
}

/**
 * Makes a loop over a map: iterate it for events, or await it to run the
 * handlers of its dispatchers; nothing runs before either. The seed's positional form
 * `loop(timeout?, usePoll?, map?, count?)` is kept (`usePoll` is accepted and
 * ignored: Node chooses its own poller).
 * Iterating a loop is not passive: moving on from a channel's `close` event
 * closes that channel, as for any consumer, so a loop iterated only to watch a
 * map closes channels that are served elsewhere (by `chunks()` and `write()`)
 * right after their peer's end of stream, cutting short a reply still being
 * written. Observe a map only where its channels are served.
 * @param timeoutOrOptions - seconds (default 30), or {@link LoopOptions}
 * @param usePoll - ignored
 * @param map - default {@link socketMap}
 * @param count - most passes, as in Python
 * @returns a {@link Loop}
 * @throws TypeError/RangeError for bad arguments
 * @example
 * ```ts
 * await loop();                       // classic: run every dispatcher in socketMap
 * await loop(5, false, map);          // the seed's positional form
 * for await (const ev of loop({ map, timeout: 1 })) console.log(ev.type);
 * ```
 */
export function loop(timeoutOrOptions?: number | LoopOptions, usePoll?: boolean, map?: ChannelMap, count?: number): Loop {
  if (typeof timeoutOrOptions === 'object') return new Loop(timeoutOrOptions);
  if (timeoutOrOptions !== undefined && typeof timeoutOrOptions !== 'number') {
    throw new TypeError('Invalid loop argument: expected a timeout in seconds or an options object');
  }
  if (usePoll !== undefined && typeof usePoll !== 'boolean') {
    throw new TypeError('Invalid usePoll: expected a boolean');
  }
  const options: LoopOptions = {};
  if (timeoutOrOptions !== undefined) options.timeout = timeoutOrOptions;
  if (map !== undefined) options.map = map;
  if (count !== undefined) options.count = count;
  return new Loop(options);
}
