// AsyncChat, as an asynchat program would write a line echo: terminator
// '\n', each line pushed back with its '\n'. For the line-protocol workloads.
import type net from 'node:net';
import { AsyncChat } from 'asyncore';
import { serveClassic } from './classic-server.js';

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

await serveClassic((sock) => new LineEcho(sock));
