// README example: the classic style. Dispatcher subclasses whose handlers
// `await loop()` calls, as with Python's asyncore.dispatcher.
import type net from 'node:net';
import { AF_INET, ChannelMap, Dispatcher, DispatcherWithSend, SOCK_STREAM, loop } from 'asyncore';
import type { Address } from 'asyncore';

class EchoHandler extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(8192);
    if (data !== null && data.length > 0) this.send(data);
  }
  override handleClose(): void {
    console.log('server: client left');
    this.close();
  }
}

class EchoServer extends Dispatcher {
  constructor(map: ChannelMap) {
    super(null, map);
    this.createSocket(AF_INET, SOCK_STREAM);
    this.setReuseAddr();
    this.bind(['127.0.0.1', 0]);
    this.listen(5);
  }
  override handleAccepted(sock: net.Socket, addr: Address): void {
    console.log(`server: connection from ${typeof addr === 'string' ? addr : addr.join(':')}`);
    new EchoHandler(sock, this.map);
    this.close(); // this server serves one client, then stops listening
  }
}

class EchoClient extends Dispatcher {
  #outgoing = Buffer.from('hello, dispatcher\n');
  #incoming = '';
  constructor(address: Address, map: ChannelMap) {
    super(null, map);
    this.createSocket(AF_INET, SOCK_STREAM);
    this.connect(address);
  }
  override handleConnect(): void {
    console.log('client: connected');
  }
  override writable(): boolean {
    return this.#outgoing.length > 0;
  }
  override handleWrite(): void {
    this.#outgoing = this.#outgoing.subarray(this.send(this.#outgoing));
  }
  override handleRead(): void {
    this.#incoming += this.recv(8192)?.toString() ?? '';
    if (this.#incoming.endsWith('\n')) {
      console.log(`client: received ${JSON.stringify(this.#incoming)}`);
      this.close();
    }
  }
}

const map = new ChannelMap();
const server = new EchoServer(map);
await server.opened;
new EchoClient(server.addr as Address, map);
await loop({ map }); // resolves once every channel in the map is closed
console.log('loop: map is empty');
