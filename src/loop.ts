// The loop's iterable face: every event of every channel in a map, as one ix
// stream. The awaitable face (the classic handler dispatch) is a subclass in
// src/classic/loop.ts; nothing here knows of it.
import { AsyncIterableX } from 'ix/asynciterable';
import { socketMap } from './channel.js';
import { ChannelMap } from './core/channel-map.js';
import type { MapMember } from './core/channel-map.js';
import { Engine, ROUND_END, nextRound } from './core/engine.js';
import type { EngineOptions } from './core/engine.js';
import { INTEREST_FAILED } from './core/readiness.js';
import type { Front } from './core/readiness.js';
import type { LoopEvent, TimeoutEvent } from './events.js';
import { noop } from './internal/deferred.js';
import { checkNonNegativeInteger, checkSeconds } from './internal/validate.js';

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
   * found nothing is not one. A non-negative integer; 0 ends the loop at once
   * (as Python's `count=0`); default: no limit.
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

/** The interest-failure hook of a map member, if it has one. */
export function interestFailed(channel: MapMember, error: unknown): PromiseLike<void> | undefined {
  return (channel as Partial<Front>)[INTEREST_FAILED]?.(error);
}

/**
 * The iterable face of a loop: an ix `AsyncIterableX` of every event of every
 * channel in a map (and `timeout`). {@link Loop} adds the awaitable face, the
 * classic handler dispatch; {@link loop} makes one. Lazy: nothing runs until
 * it is iterated, and each iteration runs its own pass over the map.
 *
 * @example
 * ```ts
 * for await (const ev of loop({ map })) console.log(ev.type);
 * ```
 */
export class EventLoop extends AsyncIterableX<LoopEvent> {
  /** The checked options, defaults filled in, for the subclass that runs the dispatch. */
  protected readonly options: Required<Omit<LoopOptions, 'signal' | 'count'>> & Pick<LoopOptions, 'signal' | 'count'>;
  readonly #stopper = new AbortController();

  /**
   * Use {@link loop} rather than this constructor.
   * @param options - see {@link LoopOptions}
   * @throws TypeError/RangeError for bad options
   * @example
   * ```ts
   * new EventLoop({ map })
   * ```
   */
  constructor(options: LoopOptions = {}) {
    super();
    if (options.map !== undefined && !(options.map instanceof ChannelMap)) {
      throw new TypeError('Invalid map: expected a ChannelMap');
    }
    if (options.count !== undefined) checkNonNegativeInteger('count', options.count);
    this.options = {
      timeout: checkSeconds('timeout', options.timeout ?? 30, true),
      map: options.map ?? socketMap,
      pollInterval: checkSeconds('pollInterval', options.pollInterval ?? 0.1),
      signal: options.signal,
      count: options.count,
    };
  }

  /**
   * The engine of one iteration: every channel of the map, timeouts as events.
   * @internal
   */
  protected engineOptions(): EngineOptions {
    const { map, timeout, pollInterval, count } = this.options;
    return {
      map,
      accepts: () => true,
      onPullError: (channel, error) => {
        // A readable()/writable() that throws goes to handleError, as a handler would.
        interestFailed(channel, error)?.then(undefined, noop);
      },
      timeoutMs: timeout === Infinity ? null : timeout * 1000,
      pollMs: Math.max(1, pollInterval * 1000),
      count: count ?? null,
    };
  }

  /**
   * Stops the engine when the loop's or the caller's signal aborts; returns the cleanup.
   * @internal
   */
  protected bindStop(engine: Engine, signal?: AbortSignal): () => void {
    const signals = [this.#stopper.signal, this.options.signal, signal].filter((s) => s !== undefined);
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
   * A `next()` called while another is pending waits for it, and `return()`
   * settles at once, ending every pending `next()` with `done`. Moving on
   * from a channel's `close` event closes that channel, even if another
   * consumer (a `chunks()` reader writing a reply) still serves it.
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
      const started = new Engine(this.engineOptions());
      unbind = this.bindStop(started, signal);
      return started;
    };
    const step = async (): Promise<IteratorResult<LoopEvent>> => {
      if (done) return { done: true, value: undefined };
      engine ??= start();
      for (;;) {
        if (engine.stopped) return finish();
        const event = engine.next();
        if (event === ROUND_END) {
          await nextRound();
          engine.yielded();
        } else if (event !== null) {
          // The map holds channels: the core's events carry them.
          return { done: false, value: event as LoopEvent };
        } else {
          const result = await engine.wait();
          if (result === 'timeout') return { done: false, value: TIMEOUT };
          if (result === 'end' || result === 'stop') return finish();
        }
      }
    };
    // A next() called while another is pending waits for it (the engine has
    // one waiter): `Promise.race([it.next(), timer])` then `it.next()` works.
    let last: Promise<IteratorResult<LoopEvent>> | null = null;
    return {
      next(): Promise<IteratorResult<LoopEvent>> {
        const result = last === null ? step() : last.then(step, step);
        last = result;
        const settled = (): void => { if (last === result) last = null; };
        result.then(settled, settled);
        return result;
      },
      // Settles at once; a pending next() then ends with `done`.
      return(): Promise<IteratorResult<LoopEvent>> {
        return Promise.resolve(finish());
      },
    };
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
}
