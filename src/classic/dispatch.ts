// The dispatch of one event to one dispatcher's handler, and the memory of
// which one-shot events were already handled.
import type { CoreEvent } from '../core/events.js';

type ChannelEvent = CoreEvent<unknown>;
import { ExitNow } from '../errors.js';
import { compactTraceback } from '../internal/traceback.js';

/**
 * What a handler may return: nothing, or a promise the loop awaits before the channel's next event.
 * @example
 * ```ts
 * declare const db: { save(data: Buffer | null): Promise<void> };
 * class Recorder extends Dispatcher {
 *   override async handleRead(): Promise<void> { await db.save(this.recv(512)); }
 * }
 * ```
 */
export type HandlerResult = void | Promise<void>;

/**
 * The handlers a dispatch calls: a `Dispatcher`, seen without its class.
 * Level events and `connect` go through the seed's direct interface
 * (`handle*Event()`), so that an override of it sees every one of them.
 */
export interface Handlers {
  handleReadEvent(): HandlerResult;
  handleWriteEvent(): HandlerResult;
  handleConnectEvent(): HandlerResult;
  handleExptEvent(): HandlerResult;
  handleClose(): HandlerResult;
  handleError(error: unknown): HandlerResult;
  logInfo(message: string, type?: string): void;
  close(): void;
  toString(): string;
}

// The seed treats these as the peer going away, not as faults: handleClose,
// not handleError.
const DISCONNECTED = new Set(['ECONNRESET', 'ENOTCONN', 'ESHUTDOWN', 'ECONNABORTED', 'EPIPE', 'EBADF']);

const closeHandled = new WeakSet<Handlers>();
// Dispatchers whose connect was handled (handleConnectEvent() ran, from the
// loop or called directly): the loop dispatches no `connect` to them again.
const connectHandled = new WeakSet();

/** Records that a dispatcher's connect was handled: no loop dispatches its `connect` after this. */
export function markConnectHandled(dispatcher: object): void {
  connectHandled.add(dispatcher);
}

/** Calls `next` after `result` (a handler's result) settled, or at once if it is not a promise. */
export function andThen(result: HandlerResult, next: () => HandlerResult): HandlerResult {
  return isPromise(result) ? result.then(next) : next();
}
// One-shot events (connect, error) stay in the channel's log for every
// consumer, so each new loop() over the map sees them again (the positional
// `loop(timeout, usePoll, map, 1)` is often called in a loop): their handlers
// run once all the same.
const oneShotHandled = new WeakSet<ChannelEvent>();

/**
 * Whether dispatching an event would call no handler, so that the dispatch
 * run skips it without spending a pass on it: a one-shot event (`connect`,
 * `error`) already dispatched (a new loop replays the channel's one-shot
 * log), or an error that means the peer went away (its `close` follows at
 * once and calls handleClose(), in the same pass).
 */
export function alreadyDispatched(event: ChannelEvent): boolean {
  if (event.type !== 'connect' && event.type !== 'error') return false;
  if (oneShotHandled.has(event)) return true;
  if (event.type === 'connect' && connectHandled.has(event.channel as object)) return true;
  if (event.type === 'error' && isDisconnect(event.error.code)) {
    oneShotHandled.add(event);
    return true;
  }
  return false;
}

function isDisconnect(code: string | undefined): boolean {
  return code !== undefined && DISCONNECTED.has(code);
}

function firstTime(event: ChannelEvent): boolean {
  if (oneShotHandled.has(event)) return false;
  oneShotHandled.add(event);
  return true;
}

function callHandler(dispatcher: Handlers, event: ChannelEvent): HandlerResult {
  switch (event.type) {
    // As Python's readwrite(): a read event on a listener is an accept.
    case 'read':
    case 'accept': return dispatcher.handleReadEvent();
    case 'write': return dispatcher.handleWriteEvent();
    case 'connect':
      if (!firstTime(event) || connectHandled.has(dispatcher)) return;
      return dispatcher.handleConnectEvent();
    case 'expt': return dispatcher.handleExptEvent();
    case 'close':
      if (closeHandled.has(dispatcher)) return;
      closeHandled.add(dispatcher);
      return dispatcher.handleClose();
    case 'error': {
      if (!firstTime(event)) return;
      // The peer went away: `close` follows and calls handleClose().
      if (isDisconnect(event.error.code)) return;
      return dispatcher.handleError(event.error);
    }
  }
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | undefined)?.then === 'function';
}

/** Whether the dispatch run that called a handler is still running. */
export type Running = () => boolean;

const always: Running = () => true;

/**
 * The code of the process warning that reports a handler's failure arriving
 * after its loop ended (see {@link lateFailure}).
 */
const LATE_FAILURE_WARNING = 'ASYNCORE_LATE_HANDLER_FAILURE';

/**
 * A handler's promise rejected after its dispatch run ended (the loop was
 * stopped, or ran its `count`): no handler runs once a loop stopped, so it
 * does not go to `handleError()`, and stopping closes nothing, so the channel
 * stays as it is. It is reported as a process warning instead of vanishing;
 * an `ExitNow` too, since the loop it would have ended is over already.
 */
function lateFailure(dispatcher: Handlers, error: unknown): void {
  const what = error instanceof ExitNow ? 'ExitNow' : 'A failure';
  process.emitWarning(
    `${what} from a handler of ${String(dispatcher)} after its loop ended was ignored (${compactTraceback(error)})`,
    { type: 'AsyncoreWarning', code: LATE_FAILURE_WARNING },
  );
}

/**
 * Routes a failure to `handleError`. A `handleError` that itself fails is
 * logged and its channel closed, so the loop goes on serving the others;
 * unless the run ended meanwhile (`running`), see {@link lateFailure}.
 */
export function reportFailure(dispatcher: Handlers, error: unknown, running: Running = always): HandlerResult {
  if (error instanceof ExitNow) throw error;
  const fallback = (failure: unknown): void => {
    if (!running()) {
      lateFailure(dispatcher, failure);
      return;
    }
    if (failure instanceof ExitNow) throw failure;
    dispatcher.logInfo(`handleError failed, closing channel ${String(dispatcher)} (${compactTraceback(failure)})`, 'error');
    dispatcher.close();
  };
  try {
    const result = dispatcher.handleError(error);
    if (isPromise(result)) return result.then(undefined, fallback);
  } catch (failure) {
    if (failure instanceof ExitNow) throw failure;
    fallback(failure);
  }
}

/**
 * Calls the handler for one event. Failures go to `handleError`; only
 * `ExitNow` escapes (thrown, or as the returned promise's rejection). A
 * promise that rejects once `running()` turned false is reported as a
 * process warning instead (see {@link lateFailure}).
 */
export function dispatchEvent(dispatcher: Handlers, event: ChannelEvent, running: Running = always): HandlerResult {
  let result: HandlerResult;
  try {
    result = callHandler(dispatcher, event);
  } catch (error) {
    return reportFailure(dispatcher, error, running);
  }
  if (isPromise(result)) {
    return result.then(undefined, (error: unknown) => {
      if (!running()) {
        lateFailure(dispatcher, error);
        return undefined;
      }
      return reportFailure(dispatcher, error, running);
    });
  }
}
