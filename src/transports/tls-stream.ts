// TLS over a connected `net.Socket`: the handshake of a client connect(), of
// STARTTLS on either side, and of an accepted connection. The TLS socket is
// made over the TCP socket that already exists (Node wraps its handle), so
// the stream role keeps its buffers and queue and only changes handle
// (`rebind()`); until the handshake is done the role reports nothing.
import net from 'node:net';
import tls from 'node:tls';
import type { CodedError } from '../core/events.js';
import { ChannelClosedError } from '../errors.js';
import { TlsCertificateError, TlsHandshakeError, TlsHandshakeTimeoutError, TlsHostnameError } from '../tls-errors.js';
import { noop } from '../internal/deferred.js';
import type { StreamRole } from '../roles/stream.js';
import { RAW, attachSocket, detachSocket } from './net-stream.js';

/** What a handshake needs, checked by the front: Node's options and our timeout. */
export interface TlsSetup {
  readonly isServer: boolean;
  /** Given to `tls.connect()` (client) or `new tls.TLSSocket()` (server). */
  readonly options: tls.ConnectionOptions & tls.TLSSocketOptions;
  /** Seconds the handshake may take. */
  readonly handshakeTimeout: number;
}

/** Node's handshake failure as one of ours: certificate, host name, or other. */
function handshakeError(error: CodedError, sock: tls.TLSSocket): TlsHandshakeError {
  if (error instanceof TlsHandshakeError) return error;
  if (error.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new TlsHostnameError(`TLS handshake failed: ${error.message}`, { cause: error });
  }
  // Node records the verification failure before it destroys the socket.
  const why = sock.authorizationError as Error | string | undefined | null;
  if (why !== undefined && why !== null) return new TlsCertificateError(String(why), { cause: error });
  return new TlsHandshakeError(`TLS handshake failed: ${error.message}`, { cause: error });
}

/** Resolves once `sock`'s handshake is done; rejects with a typed error on failure or timeout. */
export function handshake(sock: tls.TLSSocket, setup: TlsSetup): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error?: TlsHandshakeError): void => {
      clearTimeout(timer);
      sock.off(setup.isServer ? 'secure' : 'secureConnect', onSecure);
      sock.off('error', onError);
      sock.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    function onSecure(): void { done(); }
    function onError(error: Error): void { done(handshakeError(error, sock)); }
    function onClose(): void { done(new TlsHandshakeError('TLS handshake failed: the connection closed first')); }
    const timer = setTimeout(() => { done(new TlsHandshakeTimeoutError(setup.handshakeTimeout)); }, setup.handshakeTimeout * 1000);
    timer.unref();
    sock.once(setup.isServer ? 'secure' : 'secureConnect', onSecure);
    sock.on('error', onError);
    sock.once('close', onClose);
  });
}

/**
 * Wraps `raw` in TLS. Bytes read from it and not taken (`unread`: a peer's
 * ClientHello that came in the same segment as its STARTTLS) go back into
 * its readable buffer, where Node's TLS wrap reads them first as ciphertext.
 */
export function wrapSocket(raw: net.Socket, unread: Buffer, setup: TlsSetup): tls.TLSSocket {
  // An accepted socket is paused already (pauseOnConnect): pausing again
  // would only stop and restart its handle's reading.
  if (!raw.isPaused()) raw.pause();
  if (unread.length > 0) raw.unshift(unread);
  const sock = setup.isServer
    ? new tls.TLSSocket(raw, setup.options) // a server's options say isServer: Node copies them per socket
    : tls.connect({ ...setup.options, socket: raw });
  (sock as tls.TLSSocket & { [RAW]?: net.Socket })[RAW] = raw;
  // Heard for the socket's whole life: between the handshake's listeners and
  // the role's (or the accept queue's), no 'error' may go unheard.
  sock.on('error', noop);
  return sock;
}

/**
 * Runs TLS over the role's open socket: takes the socket from the role, wraps
 * it, and once the handshake is done hands the TLS socket to the role. On
 * failure the role breaks (an `error` with operation `connect`) and the
 * socket is destroyed; the promise rejects with the typed error either way.
 */
export async function secureStream(role: StreamRole, setup: TlsSetup): Promise<void> {
  const raw = role.binding;
  if (!(raw instanceof net.Socket) || raw.destroyed || role.core.life !== 'active') {
    throw new ChannelClosedError('Cannot start TLS: the connection is gone');
  }
  const idleTimeout = detachSocket(raw);
  const sock = wrapSocket(raw, role.takeUnread(), setup);
  role.rebind(sock);
  try {
    await handshake(sock, setup);
  } catch (error) {
    role.failHandshake(error as TlsHandshakeError);
    attachSocket(sock, role, 0);
    sock.destroy();
    throw error;
  }
  attachSocket(sock, role, idleTimeout);
}

/**
 * STARTTLS: every byte accepted before goes out in plaintext, then the
 * handshake runs, then the writes made meanwhile go out encrypted.
 */
export async function startTlsStream(role: StreamRole, setup: TlsSetup): Promise<void> {
  try {
    await role.beginUpgrade();
    await secureStream(role, setup);
  } finally {
    role.endUpgrade();
  }
}

/** The client handshake of connect(): the `connect` event comes once it is done. */
export function connectSecure(setup: TlsSetup): (role: StreamRole) => void {
  return (role) => {
    secureStream(role, setup).then(() => { role.onConnect(); }, () => { /* the role reported it */ });
  };
}
