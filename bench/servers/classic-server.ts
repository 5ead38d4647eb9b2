// The listener every classic benchmark server shares: a Dispatcher that
// listens on HOST, hands each accepted socket to `handler`, and announces its
// port once the loop runs.
import type net from 'node:net';
import { AF_INET, Dispatcher, SOCK_STREAM, loop } from 'asyncore';
import { HOST, announce } from './common.js';

/** Serves each accepted connection with `handler` (which wraps the socket in its dispatcher). */
export async function serveClassic(handler: (sock: net.Socket) => unknown): Promise<void> {
  class EchoServer extends Dispatcher {
    constructor() {
      super();
      this.createSocket(AF_INET, SOCK_STREAM);
      this.setReuseAddr();
      this.bind([HOST, 0]);
      this.listen(4096);
    }
    override handleAccepted(sock: net.Socket): void {
      handler(sock);
    }
  }
  const server = new EchoServer();
  const running = loop();
  await server.opened;
  announce((server.addr as [string, number])[1]);
  await running;
}
