// DispatcherWithSend, as the seed's echo server: handleRead() sends what it reads.
import type net from 'node:net';
import { AF_INET, Dispatcher, DispatcherWithSend, SOCK_STREAM, loop } from 'asyncore';
import { HOST, announce } from './common.js';

class EchoHandler extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data !== null && data.length > 0) this.send(data);
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
