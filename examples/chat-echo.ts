// The classic asynchat style: AsyncChat subclasses that speak a line
// protocol. The server echoes each line and answers QUIT with "bye", then
// closes once that reply is sent; the client sends its lines (one of them
// from a producer) and prints what comes back.
import type net from 'node:net';
import { AF_INET, AsyncChat, ChannelMap, Dispatcher, SimpleProducer, loop } from 'asyncore';
import type { Address } from 'asyncore';

class EchoHandler extends AsyncChat {
  constructor(sock: net.Socket, map: ChannelMap) {
    super(sock, map);
    this.setTerminator('\r\n');
  }
  override collectIncomingData(data: Buffer): void {
    this.incoming.push(data);
  }
  override foundTerminator(): void {
    const line = this.getData().toString();
    if (line === 'QUIT') {
      this.push('bye\r\n');
      this.closeWhenDone();
    } else {
      this.push(`echo: ${line}\r\n`);
    }
  }
}

class EchoServer extends Dispatcher {
  constructor(map: ChannelMap) {
    super(null, map);
    this.createSocket(AF_INET);
    this.bind(['127.0.0.1', 0]);
    this.listen(5);
  }
  override handleAccepted(sock: net.Socket): void {
    new EchoHandler(sock, this.map);
    this.close(); // one client, then stop listening
  }
}

class Client extends AsyncChat {
  constructor(address: Address, map: ChannelMap) {
    super(null, map);
    this.createSocket(AF_INET);
    this.connect(address);
    this.setTerminator('\r\n');
    this.push('hello\r\n');
    this.pushWithProducer(new SimpleProducer('a line from a producer\r\n', 8));
    this.push('QUIT\r\n');
  }
  override handleConnect(): void {
    console.log('client: connected');
  }
  override collectIncomingData(data: Buffer): void {
    this.incoming.push(data);
  }
  override foundTerminator(): void {
    console.log(`client: received ${JSON.stringify(this.getData().toString())}`);
  }
  override handleClose(): void {
    console.log('client: the server closed');
    this.close();
  }
}

const map = new ChannelMap();
const server = new EchoServer(map);
await server.opened;
new Client(server.addr as Address, map);
await loop({ map }); // resolves once every channel in the map is closed
console.log('loop: map is empty');
