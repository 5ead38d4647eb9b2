// The `dgram.Socket` binding of the datagram role. The socket is made on
// first need (bind, connect or the first send), so that SO_REUSEADDR, which
// Node takes only at creation, can still be asked for after createSocket().
// Socket options given before the socket is bound wait and are applied as
// it binds: Node refuses them on an unbound socket, Python does not.
import dgram from 'node:dgram';
import { AF_INET6 } from '../constants.js';
import type { Family } from '../constants.js';
import type { CodedError } from '../core/events.js';
import type { Core } from '../core/readiness.js';
import { ChannelStateError } from '../errors.js';
import { checkDatagramSize } from '../internal/datagram-address.js';
import { deferred } from '../internal/deferred.js';
import type { Deferred } from '../internal/deferred.js';
import type { IpAddress } from '../internal/validate.js';
import { DatagramRole } from '../roles/datagram.js';
import type { DatagramBinding, DatagramBounds, DatagramSource, SentCallback } from '../roles/datagram.js';

/** A socket option applied once the socket is bound. */
export type SocketSetting = (sock: dgram.Socket) => void;

/** The phase of a datagram socket's default peer. */
type PeerState = 'none' | 'connecting' | 'connected';

/** A datagram channel's socket and role. */
export class DgramTransport implements DatagramBinding {
  readonly role: DatagramRole;
  readonly #core: Core;
  readonly #family: Family;
  #socket: dgram.Socket | null = null;
  #reuseAddr = false;
  #bound = false;
  #peer: PeerState = 'none';
  #waiting: SocketSetting[] = [];
  #released: Deferred<undefined> | null = null;
  #isReleased = false;
  /** Told the bound address once the socket is bound. */
  onBound: (address: [string, number]) => void = () => { /* replaced by the front */ };

  constructor(core: Core, family: Family, bounds: DatagramBounds) {
    this.#core = core;
    this.#family = family;
    this.role = new DatagramRole(core, this, bounds);
    core.levels = this.role;
  }

  /** The socket, or `null` before the first bind, connect or send. */
  get socket(): dgram.Socket | null { return this.#socket; }
  /** Whether the socket is bound (explicitly, or by a first send or connect). */
  get bound(): boolean { return this.#bound; }
  /** Whether a bind, connect or send made the socket: it binds, or is bound. */
  get started(): boolean { return this.#socket !== null; }
  /** Whether connect() was called (it may still be resolving). */
  get hasPeer(): boolean { return this.#peer !== 'none'; }
  /** Whether the default peer is set. */
  get connected(): boolean { return this.#peer === 'connected'; }

  /** Asks for SO_REUSEADDR; only before the socket exists. */
  reuseAddr(): boolean {
    if (this.#socket !== null) return false;
    this.#reuseAddr = true;
    return true;
  }

  /** Applies a socket option now if bound, else as the socket binds. */
  setting(apply: SocketSetting): void {
    if (this.#bound && this.#socket !== null) apply(this.#socket);
    else this.#waiting.push(apply);
  }

  send(msg: Buffer, callback: SentCallback): void;
  send(msg: Buffer, port: number, address: string, callback: SentCallback): void;
  send(msg: Buffer, portOrDone: number | SentCallback, address?: string, callback?: SentCallback): void {
    const sock = this.#open();
    if (typeof portOrDone === 'function') sock.send(msg, portOrDone);
    else sock.send(msg, portOrDone, address, callback);
  }

  /**
   * Sends one datagram whole, to `to` or (`null`) to the connected peer;
   * returns its size if accepted, 0 if the send bound is full or the channel broke.
   */
  transmit(data: Buffer, to: IpAddress | null): number {
    if (to === null && this.#peer === 'none') {
      throw new ChannelStateError('Cannot send: the datagram channel has no peer (connect() first, or use sendTo())');
    }
    if (to !== null && this.#peer !== 'none') {
      throw new ChannelStateError('Cannot send to an address: the datagram channel is connected (use send())');
    }
    checkDatagramSize(this.#family, data.length);
    const peer = to === null ? null : { address: to.host === '' ? this.#loopback() : to.host, port: to.port };
    return this.role.send(data, peer) ? data.length : 0;
  }

  /** Binds to `address` (host `''`: every interface). */
  bind(address: IpAddress): void {
    const host = address.host === '' ? (this.#family === AF_INET6 ? '::' : '0.0.0.0') : address.host;
    this.#open().bind({ port: address.port, address: host });
  }

  /** Sets the default peer; the `connect` event comes once it is set. */
  connect(address: IpAddress): void {
    const sock = this.#open();
    this.#peer = 'connecting';
    this.role.connecting();
    const host = address.host === '' ? this.#loopback() : address.host;
    sock.connect(address.port, host, (error?: Error) => {
      if (this.#core.life === 'closed') return;
      if (error !== undefined) {
        this.role.onError(error, 'connect', true);
        return;
      }
      this.#peer = 'connected';
      this.role.connected();
      this.#core.logEvent({ type: 'connect', channel: this.#core.owner });
      this.#core.markOpened();
    });
  }

  /** Closes the socket once the datagrams already accepted are handed to the kernel. */
  close(): void {
    this.role.close(() => {
      const sock = this.#socket;
      if (sock === null) {
        this.#release();
        return;
      }
      try {
        sock.close();
      } catch {
        // Node closed it already (it does after some failures): nothing is held.
        this.#release();
      }
    });
  }

  /** Resolves once the socket is closed (at once if there never was one). */
  get released(): Promise<undefined> {
    this.#released ??= deferred<undefined>(true);
    if (this.#isReleased) this.#released.resolve(undefined);
    return this.#released.promise;
  }

  #release(): void {
    this.#isReleased = true;
    this.#released?.resolve(undefined);
  }

  /** Where host `''` sends: the loopback address of the family. */
  #loopback(): string {
    return this.#family === AF_INET6 ? '::1' : '127.0.0.1';
  }

  /** The socket, made on first need with every listener it will ever have. */
  #open(): dgram.Socket {
    if (this.#socket !== null) return this.#socket;
    const sock = dgram.createSocket({ type: this.#family === AF_INET6 ? 'udp6' : 'udp4', reuseAddr: this.#reuseAddr });
    this.#socket = sock;
    const role = this.role;
    sock.on('message', (data: Buffer, from: DatagramSource) => { role.offer(data, from); });
    sock.on('error', (error: CodedError) => { this.#onError(error); });
    sock.once('listening', () => { this.#onListening(sock); });
    sock.once('close', () => { this.#release(); });
    return sock;
  }

  #onListening(sock: dgram.Socket): void {
    if (this.#core.life === 'closed') return;
    this.#bound = true;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const apply of waiting) {
      try {
        apply(sock);
      } catch (error) {
        this.role.onError(error as CodedError, 'bind');
      }
    }
    const where = sock.address();
    this.onBound([where.address, where.port]);
    // With connect() pending, `opened` waits for the peer.
    if (this.#peer === 'none') this.#core.markOpened();
    this.#core.signal();
  }

  /**
   * Before the socket is bound an error is a failed bind and breaks the
   * channel; after, it is a receive error (ECONNREFUSED from an ICMP port
   * unreachable on a connected socket ...) and the channel stays open.
   */
  #onError(error: CodedError): void {
    if (!this.#bound) this.role.onError(error, error.syscall === 'connect' ? 'connect' : 'bind', true);
    else this.role.onError(error, error.syscall === 'send' ? 'write' : 'read');
  }
}
