// AsyncChat, as an asynchat program would write a line echo: terminator
// '\n', each line pushed back with its '\n'. For the line-protocol workloads.
import type net from 'node:net';
import { AF_INET, AsyncChat, Dispatcher, SOCK_STREAM, loop } from 'asyncore';
import { HOST, announce } from './common.js';

class LineEcho extends AsyncChat {
  constructor(sock: net.Socket) {
    super(sock);
    this.setTerminator('\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.incoming.push(data);
  }
  override foundTerminator(): void {
    this.incoming.push(NEWLINE);
    this.push(this.getData());
  }
}

const NEWLINE = Buffer.from('\n');

class EchoServer extends Dispatcher {
  constructor() {
    super();
    this.createSocket(AF_INET, SOCK_STREAM);
    this.setReuseAddr();
    this.bind([HOST, 0]);
    this.listen(4096);
  }
  override handleAccepted(sock: net.Socket): void {
    new LineEcho(sock);
  }
}

const server = new EchoServer();
const running = loop();
await server.opened;
announce((server.addr as [string, number])[1]);
await running;
