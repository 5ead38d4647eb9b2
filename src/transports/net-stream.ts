// The `net.Socket` binding of the stream role: a socket already is a
// StreamBinding; this file wires its events to the role and supplies the
// abrupt close. TLS sockets and descriptor-backed sockets are `net.Socket`s
// too and reuse it.
import net from 'node:net';
import tls from 'node:tls';
import { AF_INET6, AF_UNIX } from '../constants.js';
import type { Family } from '../constants.js';
import type { Core } from '../core/readiness.js';
import { IdleTimeoutError } from '../errors.js';
import type { IpAddress } from '../internal/validate.js';
import { StreamRole } from '../roles/stream.js';
import type { StreamBinding, StreamSettings, StreamTransport } from '../roles/stream.js';

// The role of each socket, for the listeners every socket shares: a
// symbol-keyed property, read on every socket event with an inline-cached
// property load rather than a WeakMap's hash lookup, and no closure per socket
// (56 bytes each per connection).
// `null` while an accepted socket waits in a listener's queue: its error
// listener is this file's already, and what it hears is kept for the channel
// that adopts the socket (one listener for the socket's life, not one for the
// wait and another after it).
const OWNER = Symbol('asyncore.stream');
const FAMILY = Symbol('asyncore.family');
const EARLY = Symbol('asyncore.early');
/** The TCP socket under a TLS socket this library made: a reset goes there (a TLS handle has none). */
export const RAW = Symbol('asyncore.raw');
interface OwnedSocket extends net.Socket {
  [OWNER]?: StreamRole | null;
  [FAMILY]?: Family;
  [EARLY]?: Error;
  [RAW]?: net.Socket;
  idleSeconds?: number;
}

function socketError(this: OwnedSocket, error: Error): void {
  const role = this[OWNER];
  if (role !== null && role !== undefined) role.onError(error);
  else if (role === null) this[EARLY] ??= error; // waiting in a queue: the first error is the one reported
}

/** Keeps an accepted socket until a channel adopts it: its family, and any error it has meanwhile. */
export function holdSocket(sock: net.Socket, family: Family): void {
  const owned = sock as OwnedSocket;
  owned[OWNER] = null;
  owned[FAMILY] = family;
  sock.on('error', socketError);
}

/** The family a held socket was accepted with; `undefined` for one no listener held. */
export function heldFamily(sock: net.Socket): Family | undefined {
  return (sock as OwnedSocket)[FAMILY];
}

/** The error a held socket had while it waited, taken (it is reported once). */
export function takeEarlyError(sock: net.Socket): Error | undefined {
  const owned = sock as OwnedSocket;
  const error = owned[EARLY];
  if (error !== undefined) owned[EARLY] = undefined;
  return error;
}
function socketData(this: OwnedSocket, chunk: Buffer): void { this[OWNER]?.onData(chunk); }
function socketEnd(this: OwnedSocket): void { this[OWNER]?.onEnd(); }
function socketDrain(this: OwnedSocket): void { this[OWNER]?.onDrain(); }
function socketConnect(this: OwnedSocket): void { this[OWNER]?.onConnect(); }
function socketClose(this: OwnedSocket): void {
  const role = this[OWNER];
  if (role === undefined || role === null) return;
  role.onEnd(); // a socket destroyed without an end still ends the stream
  role.onRelease();
}
function socketTimeout(this: OwnedSocket): void {
  this[OWNER]?.onIdle(new IdleTimeoutError(this.idleSeconds ?? 0));
}

/**
 * TCP: a reset, unless still connecting (there is no connection to reset
 * yet) or our end of stream was already asked for: libuv refuses to reset a
 * handle that is shutting down, and Node then never closes it, so such a
 * socket is destroyed (released) instead.
 */
export const tcpTransport: StreamTransport = {
  reset(binding: StreamBinding): void {
    const raw = binding instanceof tls.TLSSocket ? (binding as OwnedSocket)[RAW] : binding;
    if (raw instanceof net.Socket && !raw.connecting && !raw.destroyed && !raw.writableEnded) {
      raw.resetAndDestroy();
      if (raw !== binding) binding.destroy();
    } else {
      binding.destroy();
    }
  },
};

/** Unix sockets have no reset: the peer sees an end. */
export const unixTransport: StreamTransport = {
  reset(binding: StreamBinding): void {
    binding.destroy();
  },
};

/**
 * Delivers a socket's events to its role. The error listener stays for the
 * socket's whole life: Node must never see an 'error' emission without a
 * listener, even after close().
 * @param idleTimeout - seconds of inactivity before the role is told (0: never)
 */
export function attachSocket(sock: net.Socket, role: StreamRole, idleTimeout: number): void {
  const owned = sock as OwnedSocket;
  // A held socket has this file's error listener already.
  if (owned[OWNER] !== null) sock.on('error', socketError);
  owned[OWNER] = role;
  sock.on('data', socketData);
  sock.on('end', socketEnd);
  sock.on('drain', socketDrain);
  sock.on('close', socketClose);
  if (idleTimeout > 0) {
    // Node's own inactivity timer: restarted by every read and write.
    owned.idleSeconds = idleTimeout;
    sock.setTimeout(idleTimeout * 1000);
    sock.on('timeout', socketTimeout);
  }
}

/**
 * Takes a socket's events away from its role (before TLS wraps it). The error
 * listener stays, with no role behind it: the socket must never emit 'error'
 * unheard. Returns the idle timeout it had, for the socket that replaces it.
 */
export function detachSocket(sock: net.Socket): number {
  const owned = sock as OwnedSocket;
  owned[OWNER] = undefined;
  sock.off('data', socketData);
  sock.off('end', socketEnd);
  sock.off('drain', socketDrain);
  sock.off('close', socketClose);
  sock.off('timeout', socketTimeout);
  sock.off('connect', socketConnect);
  sock.setTimeout(0);
  return owned.idleSeconds ?? 0;
}

/** The stream transport of a family. */
export function transportFor(family: Family): StreamTransport {
  return family === AF_UNIX ? unixTransport : tcpTransport;
}

/** Starts the stream of an accepted socket: an error it had while queued, or its end, or open. */
export function startAccepted(sock: net.Socket, stream: StreamRole, idleTimeout: number, early: Error | undefined): void {
  attachSocket(sock, stream, idleTimeout);
  if (early !== undefined) stream.onError(early);
  else if (sock.destroyed) stream.onEnd();
  else stream.core.markOpened();
  if (sock.isPaused()) sock.resume();
}

/**
 * A socket for connect(): half-open allowed (our side ends only when we say
 * so), and with `readBuffer` Node's `onread` mode reading into that one buffer.
 */
function newSocket(readBuffer: Buffer | null, onRead: (count: number) => boolean): net.Socket {
  if (readBuffer === null) return new net.Socket({ allowHalfOpen: true });
  // Node reads `onread` in the constructor too, though its types list it
  // only among connect() options.
  const options = { allowHalfOpen: true, onread: { buffer: readBuffer, callback: onRead } };
  return new net.Socket(options);
}

/** Connects a new socket and returns its stream role, `connecting` until the `connect` event. */
export function connectNet(core: Core, settings: StreamSettings & { readonly readBufferSize: number; readonly idleTimeout: number },
  family: Family, address: IpAddress | string, bound: IpAddress | string | null,
  secure?: (stream: StreamRole, sock: net.Socket) => void): StreamRole {
  const size = settings.readBufferSize;
  const readBuffer = size > 0 ? Buffer.allocUnsafe(size) : null;
  let stream: StreamRole | null = null;
  const sock = newSocket(readBuffer, (count) => (stream as StreamRole).onRead(count));
  stream = new StreamRole(core, sock, transportFor(family), settings, 'connecting');
  if (readBuffer !== null) stream.useReadBuffer(readBuffer);
  core.levels = stream;
  attachSocket(sock, stream, settings.idleTimeout);
  // With TLS, the `connect` event waits for the handshake that `secure` runs.
  if (secure === undefined) sock.once('connect', socketConnect);
  else sock.once('connect', () => { secure(stream, sock); });
  if (typeof address === 'string') {
    sock.connect({ path: address });
  } else {
    sock.connect({
      host: address.host === '' ? 'localhost' : address.host,
      port: address.port,
      family: family === AF_INET6 ? 6 : 4,
      ...(typeof bound === 'object' && bound !== null
        ? { localAddress: bound.host === '' ? undefined : bound.host, localPort: bound.port }
        : {}),
    });
  }
  return stream;
}
