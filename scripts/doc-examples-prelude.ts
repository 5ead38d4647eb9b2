// The names an `@example` in src/ may use without declaring them; scripts/check-examples.ts
// imports them (and every public name of the package) into each example it type-checks.
// Keep it to what a reader takes as given: anything else an example declares itself.
import type { Socket } from 'node:net';
import type { Channel, ChannelMap, FrameReader, LoopEvent, Server } from '../src/index.js';

export { default as net } from 'node:net';

/** Any channel. */
export declare const channel: Channel;
/** A channel map, other than the default `socketMap`. */
export declare const map: ChannelMap;
/** A listening channel. */
export declare const server: Channel;
/** A connecting or connected channel. */
export declare const client: Channel;
/** The port a server listens on. */
export declare const port: number;
/** A connected `node:net` socket, not yet wrapped in a channel. */
export declare const sock: Socket;
/** The event in hand, as in `for await (const ev of loop())`: narrow it by `type` first. */
export declare const ev: LoopEvent;
/** The error in hand, as in `catch (err)`. */
export declare const err: unknown;
/** A datagram channel: `createSocket(AF_INET, SOCK_DGRAM)` was called on it. */
export declare const udp: Channel;
/** A connected channel, as handed out by `server.connections()`. */
export declare const conn: Channel;
/** A frame reader over a connected channel. */
export declare const reader: FrameReader;
/** A running server, from `serve()`. */
export declare const running: Server;
