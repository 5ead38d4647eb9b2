/**
 * Address families and socket types, named as in Python's `socket` module.
 *
 * @example
 * ```ts
 * import { Channel, AF_INET6, SOCK_STREAM } from 'asyncore';
 * const channel = new Channel();
 * channel.createSocket(AF_INET6, SOCK_STREAM);
 * ```
 * @module
 */

/**
 * IPv4 address family; addresses are `[host, port]`.
 * @example
 * ```ts
 * channel.createSocket(AF_INET)
 * ```
 */
export const AF_INET = 'AF_INET';

/**
 * IPv6 address family; addresses are `[host, port]`.
 * @example
 * ```ts
 * channel.createSocket(AF_INET6)
 * ```
 */
export const AF_INET6 = 'AF_INET6';

/**
 * Unix domain sockets; addresses are file-system paths.
 * @example
 * ```ts
 * channel.createSocket(AF_UNIX)
 * ```
 */
export const AF_UNIX = 'AF_UNIX';

/**
 * Stream sockets (TCP, or a stream Unix socket).
 * @example
 * ```ts
 * channel.createSocket(AF_INET, SOCK_STREAM)
 * ```
 */
export const SOCK_STREAM = 'SOCK_STREAM';

/**
 * Datagram sockets. Accepted by the types, refused at run time with an
 * {@link UnsupportedError} until UDP is built.
 * @example
 * ```ts
 * channel.createSocket(AF_INET, SOCK_DGRAM) // throws UnsupportedError
 * ```
 */
export const SOCK_DGRAM = 'SOCK_DGRAM';

/**
 * Shuts down the read side ({@link Channel.shutdown}): no more `read`
 * events; bytes not yet taken and any that arrive are discarded.
 * @example
 * ```ts
 * channel.shutdown(SHUT_RD)
 * ```
 */
export const SHUT_RD = 'SHUT_RD';

/**
 * Shuts down the write side ({@link Channel.shutdown}): the end of stream
 * goes to the peer after every byte accepted; reading goes on.
 * @example
 * ```ts
 * await channel.write('last request\n');
 * channel.shutdown(SHUT_WR)
 * ```
 */
export const SHUT_WR = 'SHUT_WR';

/**
 * Shuts down both sides ({@link Channel.shutdown}): {@link SHUT_RD} and {@link SHUT_WR}.
 * @example
 * ```ts
 * channel.shutdown(SHUT_RDWR)
 * ```
 */
export const SHUT_RDWR = 'SHUT_RDWR';

/**
 * One of {@link SHUT_RD}, {@link SHUT_WR}, {@link SHUT_RDWR}: the `how` of {@link Channel.shutdown}.
 * @example
 * ```ts
 * const how: ShutdownHow = SHUT_WR;
 * ```
 */
export type ShutdownHow = typeof SHUT_RD | typeof SHUT_WR | typeof SHUT_RDWR;

/**
 * One of {@link AF_INET}, {@link AF_INET6}, {@link AF_UNIX}.
 * @example
 * ```ts
 * const family: Family = AF_INET;
 * ```
 */
export type Family = typeof AF_INET | typeof AF_INET6 | typeof AF_UNIX;

/**
 * One of {@link SOCK_STREAM}, {@link SOCK_DGRAM}.
 * @example
 * ```ts
 * const type: SocketType = SOCK_STREAM;
 * ```
 */
export type SocketType = typeof SOCK_STREAM | typeof SOCK_DGRAM;

/**
 * A socket address: `[host, port]` for the IP families, a path for {@link AF_UNIX}.
 * An accepted Unix peer's address is the empty string, as in Python.
 *
 * @example
 * ```ts
 * const tcp: Address = ['127.0.0.1', 0];
 * const unix: Address = '/tmp/echo.sock';
 * ```
 */
export type Address = readonly [host: string, port: number] | string;
