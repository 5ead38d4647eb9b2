/**
 * asyncore: event-driven socket channels for Node.js.
 *
 * A {@link Channel} wraps a non-blocking socket and is an async iterable of
 * typed readiness events; {@link loop} merges every channel of a
 * {@link ChannelMap} into one stream, or, awaited, runs the classic handler
 * dispatch of {@link Dispatcher} subclasses, as Python's `asyncore` did.
 *
 * @example
 * An echo server that serves each connection in its own async function, so
 * that accepting goes on while connections are served:
 *
 * ```ts
 * import { Channel, AF_INET, SOCK_STREAM } from 'asyncore';
 *
 * async function serve(conn: Channel): Promise<void> {
 *   try {
 *     for await (const chunk of conn.chunks()) await conn.write(chunk);
 *   } catch (error) {
 *     console.error('connection broke:', error);
 *   } finally {
 *     conn.close(); // at end of stream (or a break): the channel stays open until then
 *   }
 * }
 *
 * const server = new Channel();
 * server.createSocket(AF_INET, SOCK_STREAM);
 * server.bind(['127.0.0.1', 0]);
 * server.listen(5);
 * for await (const conn of server.connections()) void serve(conn);
 * ```
 * @packageDocumentation
 */
export { AF_INET, AF_INET6, AF_UNIX, SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_STREAM, SOCK_DGRAM } from './constants.js';
export type { Address, Family, ShutdownHow, SocketType } from './constants.js';
export type { ChannelEvent, ChannelEventType, CodedError, LoopEvent, Operation, TimeoutEvent } from './events.js';
export { ChannelMap } from './core/channel-map.js';
export type { MapListener, MapMember } from './core/channel-map.js';
export { Channel, Connections, formatAddress, socketMap } from './channel.js';
export { ChannelBase } from './channel-base.js';
export { DatagramBase } from './channel-datagram.js';
export type { DatagramsOptions } from './channel-datagram.js';
export type {
  ChannelOptions, ChannelState, ChunksOptions, ConnectionsOptions, WriteOptions,
} from './channel-options.js';
export { Dispatcher } from './classic/dispatcher.js';
export type { HandlerResult } from './classic/dispatch.js';
export { DispatcherWithSend } from './classic/dispatcher-with-send.js';
export { AsyncChat } from './classic/async-chat.js';
export type { AsyncChatOptions, Terminator } from './classic/async-chat.js';
export { SimpleProducer } from './classic/producers.js';
export type { Chunk, Producer, ProducerLike } from './classic/producers.js';
export { FrameTooLongError, IncompleteFrameError } from './framing/errors.js';
export { FileDispatcher } from './classic/file-dispatcher.js';
export { closeAll } from './close-all.js';
export { loop, Loop } from './classic/loop.js';
export { EventLoop } from './loop.js';
export type { LoopOptions } from './loop.js';
export {
  AcceptQueueFullError, ChannelClosedError, ChannelStateError, ExitNow, IdleTimeoutError, UnsupportedError,
} from './errors.js';
export { BadDescriptorError } from './errors.js';
export type { DescriptorKind, ErrorCode } from './errors.js';
export { openDescriptor } from './descriptor.js';
export type { DescriptorOptions, DescriptorSource, DescriptorWays } from './descriptor.js';
export { TlsCertificateError, TlsHandshakeError, TlsHandshakeTimeoutError, TlsHostnameError } from './tls-errors.js';
export type { StartTlsOptions, TlsOptions } from './tls-options.js';
export type { TlsInfo } from './tls-info.js';
export { channelPair } from './pair.js';
export type { ChannelPair, PairControl, PairOptions } from './pair.js';
export { connect, listen } from './connect.js';
export type { ConnectOptions, ListenOptions } from './connect.js';
export { serve, Server } from './serve.js';
export type { ServeContext, ServeHandler, ServeOptions, ServerCloseOptions } from './serve.js';
export { ConnectTimeoutError, ServerClosingError } from './serve-errors.js';
export type { CoreEvent } from './core/events.js';
export type { Front } from './core/readiness.js';
export type { ChunkIterator } from './roles/chunk-iterator.js';
export type { DatagramIterator } from './roles/datagram-iterator.js';
export { FrameReader } from './framing/reader.js';
export type {
  Delimiter, FrameReaderOptions, FrameSource, ReadOptions, ReadPrefixedOptions, ReadUntilOptions, TryReadUntilOptions,
} from './framing/read-options.js';
export { FrameIterator, frames, lines } from './framing/frames.js';
export type { FramesOptions, LinesOptions } from './framing/frames.js';
export { encodeFrame } from './framing/length-prefix.js';
export type { LengthPrefix } from './framing/length-prefix.js';
