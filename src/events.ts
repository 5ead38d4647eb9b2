/**
 * The typed events that channels and the loop yield.
 * @module
 */
import type { Channel } from './channel.js';

/** The operation in which a socket error happened. @example `if (ev.type === 'error' && ev.operation === 'connect') ...` */
export type Operation = 'connect' | 'listen' | 'accept' | 'read' | 'write' | 'close';

/**
 * What a channel reports. `read`, `write` and `accept` are levels: reported
 * again and again while they hold. `connect` is reported once, `error` once per
 * error, and `close` once, as the channel's last event.
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
export type ChannelEvent<C extends Channel = Channel> =
  | { readonly type: 'read'; readonly channel: C }
  | { readonly type: 'write'; readonly channel: C }
  | { readonly type: 'connect'; readonly channel: C }
  | { readonly type: 'accept'; readonly channel: C }
  | { readonly type: 'close'; readonly channel: C }
  | { readonly type: 'expt'; readonly channel: C }
  | {
      readonly type: 'error';
      readonly channel: C;
      readonly error: Error;
      readonly operation: Operation;
    };

/** The `type` of a {@link ChannelEvent}. @example `const t: ChannelEventType = 'read';` */
export type ChannelEventType = ChannelEvent['type'];

/** Yielded by the loop when no event came within its timeout. @example `if (ev.type === 'timeout') console.log('idle');` */
export interface TimeoutEvent {
  readonly type: 'timeout';
}

/** What iterating a {@link Loop} yields. @example `for await (const ev of loop()) if (ev.type !== 'timeout') console.log(ev.channel.id);` */
export type LoopEvent = ChannelEvent | TimeoutEvent;
