// Fixtures for the classic adapter's tests: dispatchers that record their log
// instead of printing it, a Dispatcher listener, settle-able promises to
// synchronise on handler calls, and a guard that fails the test on any
// unhandled rejection or uncaught exception.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import type { Test } from 'tap';
import { Dispatcher, DispatcherWithSend } from '../../src/index.js';
import type { Address, ChannelMap, HandlerResult } from '../../src/index.js';
import type { FamilyCase } from './net.js';

/** A dispatcher whose logInfo() records `type: message` instead of printing. */
export class QuietDispatcher extends Dispatcher {
  readonly logs: string[] = [];
  override logInfo(message: string, type = 'info'): void {
    this.logs.push(`${type}: ${message}`);
  }
}

/** The same, for DispatcherWithSend. */
export class QuietDispatcherWithSend extends DispatcherWithSend {
  readonly logs: string[] = [];
  override logInfo(message: string, type = 'info'): void {
    this.logs.push(`${type}: ${message}`);
  }
}

/** A listening dispatcher that hands every accepted socket to `onAccepted`. */
export class Server extends QuietDispatcher {
  readonly #onAccepted: (sock: net.Socket, addr: Address) => void;
  constructor(t: Test, map: ChannelMap, fam: FamilyCase, onAccepted: (sock: net.Socket, addr: Address) => void) {
    super(null, map);
    this.#onAccepted = onAccepted;
    t.teardown(() => { this.close(); });
    this.createSocket(fam.family);
    this.setReuseAddr();
    this.bind(fam.listenAddress(t));
    this.listen(5);
  }
  override handleAccepted(sock: net.Socket, addr: Address): void {
    this.#onAccepted(sock, addr);
  }
}

export interface Settle<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  settled: boolean;
}

/** A promise to resolve from a handler; later resolves are ignored. */
export function settle<T = undefined>(): Settle<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((res) => { resolve = res; });
  const s: Settle<T> = {
    promise,
    settled: false,
    resolve(value: T): void {
      s.settled = true;
      resolve(value);
    },
  };
  return s;
}

/** Fails `t` on any unhandled rejection or uncaught exception while it runs. */
export function failOnUnhandled(t: Test): void {
  const onRejection = (reason: unknown): void => {
    t.fail(`unhandledRejection: ${reason instanceof Error ? reason.stack ?? reason.message : String(reason)}`);
  };
  const onException = (error: Error): void => {
    t.fail(`uncaughtException: ${error.stack ?? error.message}`);
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  t.teardown(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
}

/**
 * An address that refuses connections: a loopback port with nothing listening
 * (bound, then closed), or for Unix a path that is not a socket (Linux
 * refuses it with ECONNREFUSED, as a socket nobody listens on).
 */
export async function deadAddress(t: Test, fam: FamilyCase): Promise<Address> {
  const address = fam.listenAddress(t);
  if (typeof address === 'string') {
    writeFileSync(address, '');
    return address;
  }
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen({ host: address[0], port: 0 }, resolve));
  const where = probe.address() as net.AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => { resolve(); }));
  return [address[0], where.port];
}

/** Echoes what it reads; closes at end of stream. */
export class EchoHandler extends QuietDispatcher {
  #out = Buffer.alloc(0);
  override writable(): boolean { return this.#out.length > 0; }
  override handleRead(): void {
    const data = this.recv(65536);
    if (data === null) return;
    if (data.length === 0) this.close();
    else this.#out = Buffer.concat([this.#out, data]);
  }
  override handleWrite(): void {
    this.#out = this.#out.subarray(this.send(this.#out));
  }
}

/**
 * A client that sends a text when asked and resolves once as many bytes came
 * back: proof that the loop is still serving it. `ping()` is called from
 * outside any handler, so the loop must notice that writable() changed.
 */
export class Pinger extends QuietDispatcher {
  #out = Buffer.alloc(0);
  #in = '';
  #want = 0;
  #start = 0;
  #reply: Settle<string> | null = null;
  constructor(map: ChannelMap, fam: FamilyCase, address: Address) {
    super(null, map);
    this.createSocket(fam.family);
    this.connect(address);
  }
  ping(text: string): Promise<string> {
    this.#out = Buffer.concat([this.#out, Buffer.from(text)]);
    this.#start = this.#in.length;
    this.#want = text.length;
    this.#reply = settle<string>();
    return this.#reply.promise;
  }
  override handleConnect(): void { /* nothing to do */ }
  override writable(): boolean { return this.#out.length > 0; }
  override handleWrite(): void {
    this.#out = this.#out.subarray(this.send(this.#out));
  }
  override handleRead(): HandlerResult {
    const data = this.recv(65536);
    if (data === null || data.length === 0) return;
    this.#in += data.toString();
    if (this.#reply !== null && this.#in.length - this.#start >= this.#want) this.#reply.resolve(this.#in.slice(this.#start));
  }
}

/** A listening echo server in `map`. */
export async function echoServer(t: Test, map: ChannelMap, fam: FamilyCase): Promise<Server> {
  const server = new Server(t, map, fam, (sock) => { new EchoHandler(sock, map); });
  await server.opened;
  return server;
}

/** An echo server and a connected pinger in `map`, to show the loop still serves others. */
export async function echoPair(t: Test, map: ChannelMap, fam: FamilyCase): Promise<Pinger> {
  const server = await echoServer(t, map, fam);
  return new Pinger(map, fam, server.addr as Address);
}

/** A UDP echo server in the classic style: recvFrom() in handleRead(), sendTo() in handleWrite(). */
export class UdpEcho extends QuietDispatcher {
  readonly outbox: [Buffer, Address][] = [];
  override handleRead(): void {
    const got = this.recvFrom(65536);
    if (got !== null) this.outbox.push(got);
  }
  override writable(): boolean {
    return this.outbox.length > 0;
  }
  override handleWrite(): void {
    const next = this.outbox[0];
    // A refused datagram (send queue full) stays first for the next write event.
    if (next !== undefined && (this.sendTo(next[0], next[1]) > 0 || next[0].length === 0)) this.outbox.shift();
  }
}
