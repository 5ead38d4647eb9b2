// Fixtures for the AsyncChat tests: the echo server and client of Python's
// test_asynchat.py, rebuilt here (a node:net server that collects until
// QUIT\n, then echoes in pieces of a given size), and a chat fed by hand for
// tests that need exact splits of the input.
import net from 'node:net';
import type { Test } from 'tap';
import { AF_INET, AsyncChat, Dispatcher } from '../../src/index.js';
import type { ChannelMap, Terminator } from '../../src/index.js';

export const SERVER_QUIT = Buffer.from('QUIT\n');

/** Python's echo_server: what it received (QUIT removed), once it has echoed it back. */
export interface EchoServer {
  readonly port: number;
  /** Resolves with the bytes received (without QUIT) once the server is done. */
  readonly done: Promise<Buffer>;
}

/**
 * Listens on a loopback port 0; takes one connection, collects until
 * `QUIT\n` (or the end), waits for `startResend` if given, then sends the
 * bytes back in pieces of `chunkSize` (each written once the previous one was
 * handed to the kernel, with Nagle off), and closes.
 */
export async function echoServer(t: Test, chunkSize: number, startResend?: Promise<unknown>): Promise<EchoServer> {
  const server = net.createServer();
  t.teardown(() => { server.close(); });
  let resolveDone!: (data: Buffer) => void;
  const done = new Promise<Buffer>((resolve) => { resolveDone = resolve; });
  server.once('connection', (sock) => {
    server.close();
    t.teardown(() => { sock.destroy(); });
    sock.setNoDelay(true);
    sock.on('error', () => { /* the client may close first (close_when_done) */ });
    let buffer = Buffer.alloc(0);
    const echo = async (): Promise<void> => {
      sock.removeListener('data', onData);
      sock.removeListener('end', onEnd);
      const received = Buffer.from(buffer.toString('latin1').replaceAll(SERVER_QUIT.toString('latin1'), ''), 'latin1');
      await startResend;
      for (let at = 0; at < received.length && !sock.destroyed; at += chunkSize) {
        await new Promise<void>((resolve) => { sock.write(received.subarray(at, at + chunkSize), () => { resolve(); }); });
        await new Promise((resolve) => setImmediate(resolve));
      }
      sock.end();
      resolveDone(received);
    };
    const onData = (data: Buffer): void => {
      buffer = Buffer.concat([buffer, data]);
      if (buffer.includes(SERVER_QUIT)) void echo();
    };
    const onEnd = (): void => { void echo(); };
    sock.on('data', onData);
    sock.on('end', onEnd);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, done };
}

/** An AsyncChat that records its log and errors instead of printing them. */
export class QuietChat extends AsyncChat {
  readonly logs: string[] = [];
  override logInfo(message: string, type = 'info'): void {
    this.logs.push(`${type}: ${message}`);
  }
}

/** Python's echo_client: collects each frame into `contents`, the partial one in `buffer`. */
export class EchoClient extends QuietChat {
  contents: Buffer[] = [];
  buffer = Buffer.alloc(0);
  constructor(terminator: Terminator, port: number, map: ChannelMap) {
    super(null, map);
    this.createSocket(AF_INET);
    this.connect(['127.0.0.1', port]);
    this.setTerminator(terminator);
  }
  override handleConnect(): void { /* nothing to do */ }
  override collectIncomingData(data: Buffer): void { this.buffer = Buffer.concat([this.buffer, data]); }
  override foundTerminator(): void {
    this.contents.push(this.buffer);
    this.buffer = Buffer.alloc(0);
  }
}

/**
 * A chat with no socket whose `recv()` returns the chunks it is fed, for
 * exact splits of the input; it records frames as EchoClient does, and the
 * errors handleError() got.
 */
export class FedChat extends EchoClient {
  readonly feed: (Buffer | null)[] = [];
  readonly errors: unknown[] = [];
  constructor(terminator: Terminator, map: ChannelMap) {
    super(terminator, 0, map);
  }
  override connect(): void { /* no socket */ }
  override createSocket(): void { /* no socket */ }
  override recv(): Buffer | null { return this.feed.shift() ?? null; }
  override handleError(error: unknown): void { this.errors.push(error); }
  /** Calls handleRead() once per chunk. */
  give(...chunks: (string | Buffer)[]): void {
    for (const chunk of chunks) {
      this.feed.push(Buffer.from(chunk));
      void this.handleRead();
    }
  }
  get texts(): string[] { return this.contents.map((c) => c.toString()); }
}

/**
 * A Dispatcher listening on a loopback port 0 that makes `make(sock)` of its
 * first connection and closes; resolves with the port and what was made.
 */
export async function serveOnce<C>(map: ChannelMap, make: (sock: net.Socket) => C): Promise<{ port: number; made: Promise<C> }> {
  let accepted!: (made: C) => void;
  const made = new Promise<C>((resolve) => { accepted = resolve; });
  class Server extends Dispatcher {
    override handleAccepted(sock: net.Socket): void {
      accepted(make(sock));
      this.close();
    }
  }
  const server = new Server(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(1);
  await server.opened;
  return { port: (server.addr as [string, number])[1], made };
}
