/**
 * The typed events that channels and the loop yield: the core's events, with
 * the public channel as their default.
 * @module
 */
import type { Channel } from './channel.js';
import type { CoreEvent, TimeoutEvent } from './core/events.js';

export type { CodedError, Operation, TimeoutEvent } from './core/events.js';

/**
 * What a channel reports. `read`, `write` and `accept` are levels: reported
 * again and again while they hold. `connect` is reported once, `error` once per
 * error, and `close` once, as the channel's last event.
 *
 * Generic in the channel that reports it: iterating a `Dispatcher` subclass
 * gives events whose `channel` is that subclass.
 *
 * @example
 * ```ts
 * for await (const ev of channel) {
 *   switch (ev.type) {
 *     case 'read': console.log(channel.recv(4096)); break;
 *     case 'error': console.error(ev.operation, ev.error); break;
 *     case 'close': console.log('closed'); break;
 *   }
 * }
 * ```
 */
export type ChannelEvent<C extends Channel = Channel> = CoreEvent<C>;

/**
 * The `type` of a {@link ChannelEvent}.
 * @example
 * ```ts
 * const t: ChannelEventType = 'read';
 * ```
 */
export type ChannelEventType = ChannelEvent['type'];

/**
 * What iterating a {@link Loop} yields.
 * @example
 * ```ts
 * for await (const ev of loop()) if (ev.type !== 'timeout') console.log(ev.channel.id);
 * ```
 */
export type LoopEvent<C extends Channel = Channel> = ChannelEvent<C> | TimeoutEvent;
