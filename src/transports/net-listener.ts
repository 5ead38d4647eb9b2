// The `net.Server` binding of the listener role. Accepted sockets wait
// paused in the role's queue; what the channel wrapping one later needs (the
// listener's family, which Node does not say for Unix sockets, and any error
// the socket had while it waited) is remembered here.
import net from 'node:net';
import { AF_INET, AF_INET6, AF_UNIX } from '../constants.js';
import type { Address, Family } from '../constants.js';
import type { IpAddress } from '../internal/validate.js';
import type { Core } from '../core/readiness.js';
import { ListenerRole } from '../roles/listener.js';
import { RAW, heldFamily, holdSocket, takeEarlyError } from './net-stream.js';
import type { ListenerBinding } from '../roles/listener.js';

/** The peer's address of an accepted or connected socket. */
export function peerAddress(sock: net.Socket, family: Family): Address {
  if (family === AF_UNIX) return '';
  // A TLS socket asks its TCP socket through a proxy of each handle method:
  // the TCP socket answers the same, for less.
  const tcp = (sock as net.Socket & { [RAW]?: net.Socket })[RAW] ?? sock;
  return [tcp.remoteAddress ?? '', tcp.remotePort ?? 0];
}

/** The address of a queued socket, as `accept()` returns it. */
export function queuedAddress(sock: net.Socket): Address {
  return peerAddress(sock, heldFamily(sock) ?? AF_INET);
}

/** What a channel takes over from a socket that waited in an accept queue. */
export interface Adopted { readonly family: Family; readonly error: Error | undefined }

/** Takes a socket out of the listener's keeping: its family and any early error. */
export function adoptSocket(sock: net.Socket): Adopted {
  const family = heldFamily(sock)
    ?? (sock.remoteFamily === 'IPv6' ? AF_INET6 : sock.remoteFamily === 'IPv4' ? AF_INET : AF_UNIX);
  return { family, error: takeEarlyError(sock) };
}

/** The part of the listener role the server feeds. */
export interface ListenerSink {
  offer(sock: net.Socket): void;
  onError(error: Error): void;
}

/**
 * What stands between a new connection and the accept queue (the TLS
 * handshake): it calls `offer` with the connection to queue, or drops it.
 */
export interface SocketGate {
  admit(sock: net.Socket, offer: (sock: net.Socket) => void): void;
  /** The listener closed: connections still held are destroyed. */
  close(): void;
}

/** A `net.Server` bound to a listener role: made first, started once the role exists. */
export class NetListener implements ListenerBinding<net.Socket> {
  readonly server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  #family: Family = AF_INET;
  readonly gate: SocketGate | null;

  constructor(gate: SocketGate | null = null) {
    this.gate = gate;
  }

  close(): void {
    this.server.close();
    this.gate?.close();
  }

  /**
   * Turns a connection away: a TCP peer gets a reset, as Python's peers do
   * when its listening socket closes with connections in the kernel's queue
   * (an orderly end would look like a served, empty exchange); a Unix socket
   * has no reset and is destroyed.
   */
  refuse(sock: net.Socket): void {
    if (this.#family === AF_UNIX || sock.destroyed) sock.destroy();
    else sock.resetAndDestroy();
  }

  /**
   * Listens; connections go to `sink`, and `listening(address)` runs once the
   * server listens (`null` for a Unix path: the bound path stays the address).
   * @param bound - the address bound with bind(), or `null` for any port on every interface
   */
  start(sink: ListenerSink, family: Family, bound: IpAddress | string | null, backlog: number,
    listening: (address: Address | null) => void): void {
    const server = this.server;
    this.#family = family;
    const offer = (sock: net.Socket): void => {
      holdSocket(sock, family);
      sink.offer(sock);
    };
    const gate = this.gate;
    server.on('connection', gate === null ? offer : (sock: net.Socket) => { gate.admit(sock, offer); });
    server.on('error', (error: Error) => { sink.onError(error); });
    server.once('listening', () => {
      const where = server.address();
      listening(typeof where === 'string' || where === null ? null : [where.address, where.port]);
    });
    if (typeof bound === 'string') {
      server.listen({ path: bound, backlog });
    } else {
      const any = family === AF_INET6 ? '::' : '0.0.0.0';
      const host = bound === null || bound.host === '' ? any : bound.host;
      server.listen({ host, port: bound?.port ?? 0, backlog });
    }
  }
}

/** Starts listening for `core`: the listener role, with the server running. */
export function listenNet(core: Core, limit: number, family: Family, bound: IpAddress | string | null, backlog: number,
  listening: (address: Address | null) => void, gate: SocketGate | null = null): ListenerRole<net.Socket> {
  const binding = new NetListener(gate);
  const listener = new ListenerRole<net.Socket>(core, binding, limit);
  core.levels = listener;
  binding.start(listener, family, bound, backlog, (where) => {
    if (core.life === 'closed') return;
    listener.listening = true;
    listening(where);
    core.markOpened();
    core.signal();
  });
  return listener;
}
