// The classic adapter: handleRead() buffers, handleWrite() flushes, writable()
// says whether bytes wait, as an asyncore program would.
import type net from 'node:net';
import { AF_INET, Dispatcher, SOCK_STREAM, loop } from 'asyncore';
import { HOST, announce } from './common.js';

class EchoHandler extends Dispatcher {
  #buffer: Buffer | null = null;
  override readable(): boolean {
    return this.#buffer === null || this.#buffer.length < 65536;
  }
  override writable(): boolean {
    return this.#buffer !== null;
  }
  override handleRead(): void {
    const data = this.recv(65536);
    if (data === null || data.length === 0) return;
    this.#buffer = this.#buffer === null ? data : Buffer.concat([this.#buffer, data]);
  }
  override handleWrite(): void {
    if (this.#buffer === null) return;
    const sent = this.send(this.#buffer);
    this.#buffer = sent === this.#buffer.length ? null : this.#buffer.subarray(sent);
  }
  override handleClose(): void {
    this.close();
  }
}

class EchoServer extends Dispatcher {
  constructor() {
    super();
    this.createSocket(AF_INET, SOCK_STREAM);
    this.setReuseAddr();
    this.bind([HOST, 0]);
    this.listen(4096);
  }
  override handleAccepted(sock: net.Socket): void {
    new EchoHandler(sock);
  }
}

const server = new EchoServer();
const running = loop();
await server.opened;
announce((server.addr as [string, number])[1]);
await running;
