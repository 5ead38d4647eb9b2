// The demo behind `npm start`: a classic Dispatcher echo server and a
// for-await client exchange a few messages over loopback, printing what they see.
import type net from 'node:net';
import { AF_INET, Channel, ChannelMap, Dispatcher, DispatcherWithSend, SOCK_STREAM, loop } from 'asyncore';

const map = new ChannelMap();

class EchoHandler extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(8192);
    if (data !== null && data.length > 0) {
      console.log(`server: read ${JSON.stringify(data.toString())}, echoing`);
      this.send(data);
    }
  }
  override handleClose(): void {
    console.log('server: client closed');
    this.close();
  }
}

class EchoServer extends Dispatcher {
  readonly handlers: EchoHandler[] = [];
  constructor() {
    super(null, map);
    this.createSocket(AF_INET, SOCK_STREAM);
    this.setReuseAddr();
    this.bind(['127.0.0.1', 0]);
    this.listen(5);
  }
  override handleAccepted(sock: net.Socket, addr: readonly [string, number] | string): void {
    console.log(`server: accepted ${typeof addr === 'string' ? addr : addr.join(':')}`);
    this.handlers.push(new EchoHandler(sock, map));
  }
}

async function client(port: number): Promise<void> {
  const channel = new Channel(null, map);
  channel.createSocket(AF_INET, SOCK_STREAM);
  channel.connect(['127.0.0.1', port]);
  const messages = ['hello', 'from a for-await client', 'goodbye'];
  let expected = '';
  for await (const ev of channel) {
    console.log(`client: ${ev.type}`);
    if (ev.type === 'connect' || (ev.type === 'read' && expected === '')) {
      const next = messages.shift();
      if (next === undefined) break;
      expected = next;
      await channel.write(next);
    } else if (ev.type === 'read') {
      const data = channel.recv(8192);
      if (data === null) continue;
      expected = expected.slice(data.length);
      console.log(`client: got ${JSON.stringify(data.toString())}`);
      if (expected === '' && messages.length === 0) break;
      if (expected === '') {
        expected = messages.shift() ?? '';
        await channel.write(expected);
      }
    } else if (ev.type === 'error') {
      throw ev.error;
    }
  }
  channel.close();
}

const server = new EchoServer();
const running = loop({ map, timeout: 5 });
const served = running.then(() => undefined);
await server.opened;
const [, port] = server.addr as [string, number];
console.log(`server: listening on 127.0.0.1:${port}`);
await client(port);
// Once the server has seen the client leave, close the listener: the map is
// then empty and the loop ends.
await Promise.all(server.handlers.map((handler) => handler.closed));
server.close();
await served;
console.log('demo: done');
