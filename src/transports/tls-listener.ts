// The TLS gate of a listener: each accepted TCP connection is handshaken
// before it may enter the accept queue, so `accept()` only ever hands out
// connections whose handshake is done. Handshakes in flight are bounded
// (beyond the bound a connection is reset at once) and each is timed out;
// every failure is counted, none reaches the user.
//
// Why `new tls.TLSSocket(raw, { isServer: true })` per connection rather
// than a non-listening `tls.Server` fed with `emit('connection')`: the
// server's `secureConnection` hands back a TLS socket with no public link to
// the TCP socket it came from, so the in-flight count could not be kept
// exactly, nor the sockets in flight destroyed when the listener closes.
// Wrapping ourselves keeps each TLS socket from its first byte; Node's TLS
// socket does SNI (`SNICallback`) and ALPN (`ALPNProtocols`) on its own.
import net from 'node:net';
import type tls from 'node:tls';
import type { ListenerRole } from '../roles/listener.js';
import { NetListener, listenNet } from './net-listener.js';
import type { SocketGate } from './net-listener.js';
import { handshake, wrapSocket } from './tls-stream.js';
import type { TlsSetup } from './tls-stream.js';

/** A listener's TLS settings: the handshake's, and the bound on handshakes in flight. */
export interface TlsListenSetup extends TlsSetup {
  readonly maxHandshakes: number;
}

const EMPTY = Buffer.alloc(0);
const acceptors = new WeakMap<net.Server, TlsAcceptor>();

/** The TLS gate of the listener whose server is `server`, if it has one. */
export function acceptorOf(server: unknown): TlsAcceptor | undefined {
  return server instanceof net.Server ? acceptors.get(server) : undefined;
}

export class TlsAcceptor implements SocketGate {
  readonly #setup: TlsListenSetup;
  readonly #inFlight = new Set<tls.TLSSocket>();
  #failed = 0;
  #closed = false;

  constructor(setup: TlsListenSetup) {
    this.#setup = setup;
  }

  /** Remembers which server this gate serves, for `acceptorOf()`. */
  serve(server: net.Server): void {
    acceptors.set(server, this);
  }

  /** Handshakes that failed, timed out or were refused for the bound. */
  get failed(): number { return this.#failed; }
  /** Handshakes running now. */
  get inFlight(): number { return this.#inFlight.size; }

  admit(raw: net.Socket, offer: (sock: net.Socket) => void): void {
    if (this.#closed || this.#inFlight.size >= this.#setup.maxHandshakes) {
      this.#failed++;
      if (raw.remoteFamily === undefined) raw.destroy();
      else raw.resetAndDestroy();
      return;
    }
    // The TCP socket is paused (pauseOnConnect): Node's TLS wrap reads from its handle.
    raw.on('error', ignore);
    const sock = wrapSocket(raw, EMPTY, this.#setup);
    this.#inFlight.add(sock);
    handshake(sock, this.#setup).then(() => {
      this.#inFlight.delete(sock);
      sock.pause(); // until a channel adopts it
      offer(sock);
    }, () => {
      this.#inFlight.delete(sock);
      this.#failed++;
      sock.destroy();
    });
  }

  close(): void {
    this.#closed = true;
    for (const sock of this.#inFlight) sock.destroy();
  }
}

function ignore(): void { /* a failed handshake's socket: its errors are counted already */ }

/** Starts a TLS listener: a net listener whose connections pass the handshake first. */
export function listenTls(setup: TlsListenSetup, ...args: Parameters<typeof listenNet>): ListenerRole<net.Socket> {
  const acceptor = new TlsAcceptor(setup);
  const [core, limit, family, bound, backlog, listening] = args;
  const role = listenNet(core, limit, family, bound, backlog, listening, acceptor);
  if (role.binding instanceof NetListener) acceptor.serve(role.binding.server);
  return role;
}
