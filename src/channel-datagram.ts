// The datagram half of the public channel: the Python socket methods that
// only UDP has (sendto, recvfrom, the broadcast and multicast options), over
// the datagram transport that ChannelBase makes at createSocket(family,
// SOCK_DGRAM). Channel (channel.ts) builds on it.
import { isIP } from 'node:net';
import { SOCK_DGRAM, SOCK_STREAM } from './constants.js';
import type { Address, SocketType } from './constants.js';
import { ChannelBase, DATAGRAM } from './channel-base.js';
import { CORE } from './core/readiness.js';
import { ChannelClosedError, ChannelStateError } from './errors.js';
import { checkDatagramPeer } from './internal/datagram-address.js';
import { checkAddress, checkPositiveInteger, showValue, toBuffer } from './internal/validate.js';
import { DatagramIterator } from './roles/datagram-iterator.js';
import type { DgramTransport, SocketSetting } from './transports/dgram.js';

/**
 * Options of {@link Channel.datagrams}.
 * @example
 * ```ts
 * for await (const [data, from] of udp.datagrams({ size: 1500, signal: AbortSignal.timeout(5000) })) console.log(data, from);
 * ```
 */
export interface DatagramsOptions {
  /** The most bytes kept of each datagram (the rest is discarded, as `recvFrom()`); default 65536. */
  size?: number;
  /** Aborting it rejects the waiting (or next) step with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * The datagram methods of a channel: `sendTo()`, `recvFrom()`,
 * `datagrams()` and the broadcast and multicast options. Use
 * {@link Channel}; this class exists to keep each file to one concern.
 * @example
 * ```ts
 * const base: DatagramBase = new Channel();
 * ```
 */
export abstract class DatagramBase extends ChannelBase {
  /**
   * The socket type given to {@link Channel.createSocket} (Python's
   * `socket.type`): `SOCK_DGRAM` for a datagram channel, `SOCK_STREAM` for
   * any other with a socket, `null` before.
   * @example
   * ```ts
   * if (channel.socketType === SOCK_DGRAM) channel.sendTo('ping', ['127.0.0.1', port]);
   * ```
   */
  get socketType(): SocketType | null {
    if (this[DATAGRAM] !== null) return SOCK_DGRAM;
    return this.family === null ? null : SOCK_STREAM;
  }

  /**
   * Datagrams a datagram channel dropped on arrival because its receive
   * queue was full ({@link ChannelOptions.datagramLimit} datagrams or
   * `readHighWaterMark` bytes waiting); 0 for other channels. The kernel's
   * own drops (a full socket buffer) are not seen here.
   * @example
   * ```ts
   * if (udp.droppedDatagrams > 0) console.warn(`${udp.droppedDatagrams} datagrams dropped: read faster`);
   * ```
   */
  get droppedDatagrams(): number { return this[DATAGRAM]?.role.dropped ?? 0; }

  /**
   * Sends `data` as one datagram to `address` (Python's `sendto`), binding
   * the socket to any port first if it is not bound. The datagram goes whole
   * or not at all: while {@link ChannelOptions.datagramLimit} datagrams or
   * `writeHighWaterMark` bytes wait to be handed to the kernel, it is refused
   * and 0 returned, as a full socket buffer refuses it; `write` events say
   * when there is room again. A zero-length datagram is valid: 0 then does
   * not tell accepted from refused (check `pendingWrite` against the bound
   * first if it matters). A host name is resolved by Node for every
   * datagram; host `''` means the loopback address. A send failure (no route,
   * an unknown host ...) is an `error` event, operation `write`, Node's
   * `code` kept; the channel stays open. The bytes are not copied: do not
   * modify a buffer after passing it.
   * @param data - a Buffer, Uint8Array or string (UTF-8)
   * @param address - `[host, port]`; an IP address of the channel's family, or a host name
   * @returns the number of bytes accepted: `data.length`, or 0 when refused
   * @throws TypeError for other data or a bad address (an IP address of the
   *   other family included); RangeError for port 0 or a datagram over UDP's
   *   limit (65507 bytes over IPv4, 65527 over IPv6); ChannelClosedError after
   *   `close()`; ChannelStateError on a channel that is not a datagram channel,
   *   or that is connected (use `send()`)
   * @example
   * ```ts
   * const udp = new Channel();
   * udp.createSocket(AF_INET, SOCK_DGRAM);
   * if (udp.sendTo('ping', ['127.0.0.1', port]) === 0) console.log('send queue full: wait for a write event');
   * ```
   */
  sendTo(data: Buffer | Uint8Array | string, address: Address): number {
    const buf = toBuffer(data);
    const datagram = this.#need('send to an address');
    const family = this.family as 'AF_INET' | 'AF_INET6';
    return datagram.transmit(buf, checkDatagramPeer(family, checkAddress(family, address), 'send to'));
  }

  /**
   * Takes the oldest received datagram and its sender (Python's
   * `recvfrom`). A datagram longer than `bufferSize` is cut to its first
   * `bufferSize` bytes and the rest is discarded, as `recvfrom` does on
   * Linux. A zero-length datagram gives an empty buffer; `null` means none waits.
   * @param bufferSize - the most bytes to keep of the datagram (a positive integer)
   * @returns `[data, [host, port]]`, or `null` when no datagram waits
   * @throws TypeError/RangeError for a bad size (checked first);
   *   ChannelClosedError after `close()`; ChannelStateError on a channel that
   *   is not a datagram channel
   * @example
   * ```ts
   * const got = udp.recvFrom(2048);
   * if (got !== null) udp.sendTo(got[0], got[1]); // echo
   * ```
   */
  recvFrom(bufferSize: number): [Buffer, Address] | null {
    checkPositiveInteger('bufferSize', bufferSize);
    const taken = this.#need('receive from').role.take(bufferSize);
    return taken === null ? null : [taken[0], [taken[1].address, taken[1].port]];
  }

  /**
   * Received datagrams with their senders as they come, as `recvFrom()`
   * gives them; ends when the channel closes; throws the failure of a bind
   * or connect that broke the channel. Read the channel no other way meanwhile.
   * @param sizeOrOptions - the most bytes kept per datagram (default 65536), or {@link DatagramsOptions}
   * @returns an async iterable of `[data, address]` (an ix `AsyncIterableX`: `.pipe()` works)
   * @throws TypeError/RangeError for a bad size; ChannelStateError on a
   *   channel that is not a datagram channel (at the call)
   * @example
   * ```ts
   * for await (const [data, from] of udp.datagrams()) udp.sendTo(data, from);
   * ```
   */
  datagrams(sizeOrOptions: number | DatagramsOptions = 65536): DatagramIterator {
    const options = typeof sizeOrOptions === 'number' ? { size: sizeOrOptions } : sizeOrOptions;
    const size = options.size ?? 65536;
    checkPositiveInteger('size', size);
    if (this[DATAGRAM] === null && !this.closing) this.#need('read datagrams');
    return new DatagramIterator(this[CORE], size, options.signal);
  }

  /**
   * Allows sending to a broadcast address: Python's
   * `setsockopt(SOL_SOCKET, SO_BROADCAST, 1)`. Before the socket is bound the
   * setting waits and is applied as it binds (a refusal then is an `error`
   * event, operation `bind`); once bound, a refusal throws Node's error.
   * @param on - whether to allow it
   * @throws TypeError for a non-boolean; ChannelClosedError after `close()`;
   *   ChannelStateError on a channel that is not a datagram channel
   * @example
   * ```ts
   * udp.setBroadcast(true);
   * udp.sendTo('anyone?', ['255.255.255.255', 9999]);
   * ```
   */
  setBroadcast(on: boolean): void {
    checkFlag('on', on);
    this.#set('set SO_BROADCAST', (sock) => { sock.setBroadcast(on); });
  }

  /**
   * Joins a multicast group: Python's `setsockopt(IPPROTO_IP,
   * IP_ADD_MEMBERSHIP, ...)` (or `IPV6_JOIN_GROUP`). Without `iface` the
   * system chooses one interface. Applied as {@link Channel.setBroadcast} is.
   * @param group - the group's address, of the channel's family
   * @param iface - the address of the local interface to join on
   * @throws TypeError for a group that is not a multicast address of the
   *   channel's family, or a non-string interface; otherwise as `setBroadcast()`
   * @example
   * ```ts
   * udp.setReuseAddr();
   * udp.bind(['0.0.0.0', 5353]);
   * udp.addMembership('224.0.0.251');
   * ```
   */
  addMembership(group: string, iface?: string): void {
    this.#checkGroup(group, iface);
    this.#set('add membership', (sock) => { sock.addMembership(group, iface); });
  }

  /**
   * Leaves a multicast group: Python's `IP_DROP_MEMBERSHIP` (or `IPV6_LEAVE_GROUP`).
   * Applied as {@link Channel.setBroadcast} is.
   * @param group - the group's address
   * @param iface - the interface it was joined on
   * @throws as {@link Channel.addMembership}
   * @example
   * ```ts
   * udp.dropMembership('224.0.0.251');
   * ```
   */
  dropMembership(group: string, iface?: string): void {
    this.#checkGroup(group, iface);
    this.#set('drop membership', (sock) => { sock.dropMembership(group, iface); });
  }

  /**
   * Hops a multicast datagram may make: Python's `IP_MULTICAST_TTL` (or
   * `IPV6_MULTICAST_HOPS`); the system's default is 1. Applied as
   * {@link Channel.setBroadcast} is.
   * @param ttl - 0 to 255
   * @throws TypeError/RangeError for another value; otherwise as `setBroadcast()`
   * @example
   * ```ts
   * udp.setMulticastTTL(4);
   * ```
   */
  setMulticastTTL(ttl: number): void {
    checkByte('ttl', ttl, 0);
    this.#set('set IP_MULTICAST_TTL', (sock) => { sock.setMulticastTTL(ttl); });
  }

  /**
   * Hops a unicast datagram may make: Python's `IP_TTL` (or
   * `IPV6_UNICAST_HOPS`). Applied as {@link Channel.setBroadcast} is.
   * @param ttl - 1 to 255
   * @throws TypeError/RangeError for another value; otherwise as `setBroadcast()`
   * @example
   * ```ts
   * udp.setTTL(64);
   * ```
   */
  setTTL(ttl: number): void {
    checkByte('ttl', ttl, 1);
    this.#set('set IP_TTL', (sock) => { sock.setTTL(ttl); });
  }

  /**
   * Whether multicast datagrams we send come back to our own sockets on
   * this host: Python's `IP_MULTICAST_LOOP` (default on). Applied as
   * {@link Channel.setBroadcast} is.
   * @param on - whether they loop back
   * @throws as {@link Channel.setBroadcast}
   * @example
   * ```ts
   * udp.setMulticastLoopback(false);
   * ```
   */
  setMulticastLoopback(on: boolean): void {
    checkFlag('on', on);
    this.#set('set IP_MULTICAST_LOOP', (sock) => { sock.setMulticastLoopback(on); });
  }

  /**
   * The interface multicast datagrams leave by: Python's `IP_MULTICAST_IF`
   * (or `IPV6_MULTICAST_IF`), given as the interface's address (IPv6:
   * `'::%eth1'`, the scope naming the interface). Applied as
   * {@link Channel.setBroadcast} is.
   * @param iface - the interface's address
   * @throws TypeError for a non-string; otherwise as `setBroadcast()`
   * @example
   * ```ts
   * udp.setMulticastInterface('127.0.0.1');
   * ```
   */
  setMulticastInterface(iface: string): void {
    if (typeof iface !== 'string') throw new TypeError(`Invalid iface: expected a string, got ${showValue(iface)}`);
    this.#set('set IP_MULTICAST_IF', (sock) => { sock.setMulticastInterface(iface); });
  }

  #need(action: string): DgramTransport {
    if (this.closing) throw new ChannelClosedError(`Cannot ${action}: the channel is closed`);
    const datagram = this[DATAGRAM];
    if (datagram === null) {
      throw new ChannelStateError(`Cannot ${action}: the channel is not a datagram channel (createSocket(family, SOCK_DGRAM))`);
    }
    return datagram;
  }

  #set(action: string, apply: SocketSetting): void {
    this.#need(action).setting(apply);
  }

  #checkGroup(group: unknown, iface: unknown): void {
    const wanted = this.family === 'AF_INET6' ? 6 : 4;
    const multicast = typeof group === 'string' && isIP(group) === wanted
      && (wanted === 4 ? /^2(2[4-9]|3\d)\./.test(group) : /^ff/i.test(group));
    if (!multicast) {
      throw new TypeError(`Invalid group: expected an IPv${wanted} multicast address, got ${showValue(group)}`);
    }
    if (iface !== undefined && typeof iface !== 'string') {
      throw new TypeError(`Invalid iface: expected a string, got ${showValue(iface)}`);
    }
  }
}

function checkFlag(name: string, value: unknown): void {
  if (typeof value !== 'boolean') throw new TypeError(`Invalid ${name}: expected a boolean, got ${showValue(value)}`);
}

function checkByte(name: string, value: unknown, least: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Invalid ${name}: expected an integer, got ${showValue(value)}`);
  }
  if (value < least || value > 255) throw new RangeError(`Invalid ${name}: expected ${least} to 255, got ${value}`);
}
