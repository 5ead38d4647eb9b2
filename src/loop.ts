import { AsyncIterableX } from 'ix/asynciterable';
import type { Channel } from './channel.js';
import { socketMap, ChannelMap } from './channel-map.js';
import { Dispatcher, alreadyDispatched, dispatchEvent, reportFailure } from './dispatcher.js';
import type { LoopEvent, TimeoutEvent } from './events.js';
import { nextMacrotask } from './internal/cursor.js';
import { noop } from './internal/deferred.js';
import { Engine, ROUND_END } from './internal/engine.js';
import type { EngineOptions } from './internal/engine.js';
import { checkPositiveInteger, checkSeconds } from './internal/validate.js';

/**
 * Options of {@link loop}.
 * @example
 * ```ts
 * loop({ map, timeout: 5, signal: AbortSignal.timeout(60_000) })
 * ```
 */
export interface LoopOptions {
  /**
   * Seconds without any event before a `timeout` event (iteration), or
   * before an idle pass ends (`await` with a `count`); unused by an awaited
   * loop without a `count`. 0 to 2147483.647 (Node's longest timer), or
   * `Infinity` for none; default 30.
   * @example
   * ```ts
   * for await (const ev of loop({ map, timeout: 1 })) if (ev.type === 'timeout') console.log('idle for 1 s');
   * ```
   */
  timeout?: number;
  /**
   * The channels to watch. Default {@link socketMap}.
   * @example
   * ```ts
   * await loop({ map: new ChannelMap() }); // resolves at once: the map is empty
   * ```
   */
  map?: ChannelMap;
  /**
   * Stops the loop when aborted: an awaited loop resolves, an iteration
   * ends; channels stay open. Already aborted, the loop ends at once.
   * @example
   * ```ts
   * await loop({ map, signal: AbortSignal.timeout(60_000) });
   * ```
   */
  signal?: AbortSignal;
  /**
   * Most passes before the loop stops, as Python's `count`. A pass is a
   * round that handed out at least one event, or a timeout; a round that
   * found nothing is not one. A positive integer; default: no limit.
   * @example
   * ```ts
   * await loop({ map, timeout: 0.1, count: 1 }); // one pass: one round of events, or 0.1 s idle
   * ```
   */
  count?: number;
  /**
   * Seconds between re-asks of idle dispatchers' `readable()`/`writable()`.
   * 0 to 2147483.647 (at least 1 ms is used); default 0.1.
   * @example
   * ```ts
   * await loop({ map, pollInterval: 0.1 }); // cheaper idle polling, slower to notice
   * ```
   */
  pollInterval?: number;
}

const TIMEOUT: TimeoutEvent = Object.freeze({ type: 'timeout' });

function isDispatcher(channel: Channel): boolean {
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
export class Loop extends AsyncIterableX<LoopEvent> implements PromiseLike<undefined> {
  readonly #options: Required<Omit<LoopOptions, 'signal' | 'count'>> & Pick<LoopOptions, 'signal' | 'count'>;
  readonly #stopper = new AbortController();
  #run: Promise<undefined> | null = null;

  /**
   * Use {@link loop} rather than this constructor.
   * @param options - see {@link LoopOptions}
   * @throws TypeError/RangeError for bad options
   * @example
   * ```ts
   * new Loop({ map })
   * ```
   */
  constructor(options: LoopOptions = {}) {
    super();
    if (options.map !== undefined && !(options.map instanceof ChannelMap)) {
      throw new TypeError('Invalid map: expected a ChannelMap');
    }
    if (options.count !== undefined) checkPositiveInteger('count', options.count);
    this.#options = {
      timeout: checkSeconds('timeout', options.timeout ?? 30, true),
      map: options.map ?? socketMap,
      pollInterval: checkSeconds('pollInterval', options.pollInterval ?? 0.1),
      signal: options.signal,
      count: options.count,
    };
  }

  #engine(dispatching: boolean, fail: (error: unknown) => void = noop): Engine {
    const { map, timeout, pollInterval, count } = this.#options;
    const options: EngineOptions = {
      map,
      accepts: dispatching ? isDispatcher : () => true,
      polls: isDispatcher,
      onPullError: (channel, error) => {
        // A readable()/writable() that throws goes to handleError, as a handler would.
        if (channel instanceof Dispatcher) reportFailure(channel, error)?.then(undefined, fail);
      },
      // The dispatch run yields no timeout events, but with a count an idle
      // timeout is a pass, as in Python: `await loop(0.1, false, map, 1)` ends.
      timeoutMs: (dispatching && count === undefined) || timeout === Infinity ? null : timeout * 1000,
      pollMs: Math.max(1, pollInterval * 1000),
      count: count ?? null,
      ...(dispatching ? { skip: alreadyDispatched } : {}),
    };
    return new Engine(options);
  }

  /** Stops the engine when the loop's or the caller's signal aborts; returns the cleanup. */
  #bindStop(engine: Engine, signal?: AbortSignal): () => void {
    const signals = [this.#stopper.signal, this.#options.signal, signal].filter((s) => s !== undefined);
    const stop = (): void => { engine.stop(); };
    for (const s of signals) {
      if (s.aborted) engine.stop();
      else s.addEventListener('abort', stop, { once: true });
    }
    return () => { for (const s of signals) s.removeEventListener('abort', stop); };
  }

  /**
   * Iterates every event of every channel in the map, `timeout` when none came
   * within the timeout; ends when the map is empty or the loop is stopped.
   * Handlers are not called. Leaving the iteration early stops it; channels stay open.
   * @param signal - stops the iteration (ix passes one)
   * @returns an iterator of loop events
   * @example
   * ```ts
   * for await (const ev of loop({ map })) if (ev.type === 'read') ev.channel.recv(4096);
   * ```
   */
  [Symbol.asyncIterator](signal?: AbortSignal): AsyncIterator<LoopEvent> {
    // The engine starts at the first next(), so an iterator fetched and never
    // used registers nothing on the map and holds no listeners.
    let engine: Engine | null = null;
    let unbind = noop;
    let done = false;
    const finish = (): IteratorResult<LoopEvent> => {
      done = true;
      unbind();
      engine?.dispose();
      return { done: true, value: undefined };
    };
    const start = (): Engine => {
      const started = this.#engine(false);
      unbind = this.#bindStop(started, signal);
      return started;
    };
    return {
      async next(): Promise<IteratorResult<LoopEvent>> {
        if (done) return { done: true, value: undefined };
        engine ??= start();
        for (;;) {
          if (engine.stopped) return finish();
          const event = engine.next();
          if (event === ROUND_END) {
            await nextMacrotask();
            engine.yielded();
          } else if (event !== null) {
            return { done: false, value: event };
          } else {
            const result = await engine.wait();
            if (result === 'timeout') return { done: false, value: TIMEOUT };
            if (result === 'end' || result === 'stop') return finish();
          }
        }
      },
      return(): Promise<IteratorResult<LoopEvent>> {
        return Promise.resolve(finish());
      },
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
   * Stops every run and iteration of this loop, now and later: a stopped
   * loop stays stopped (call {@link loop} again for a new one). Channels stay
   * open, except one whose `close` event the loop had already handed out.
   * @example
   * ```ts
   * const running = loop({ map }); setTimeout(() => running.stop(), 1000); await running;
   * ```
   */
  stop(): void {
    this.#stopper.abort();
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
    const engine = this.#engine(true, fail);
    const unbind = this.#bindStop(engine);
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
          await nextMacrotask();
          engine.yielded();
          continue;
        }
        if (event === null) {
          const result = await engine.wait();
          checkExit();
          if (result === 'end' || result === 'stop') return undefined;
          continue;
        }
        // The engine serves only dispatchers in this mode (see #engine).
        const result = dispatchEvent(event.channel as unknown as Dispatcher, event);
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
