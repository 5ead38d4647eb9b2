// Dispatcher subclasses on datagram channels, as Python ports write them:
// handleRead() takes a datagram with recvFrom(), writable() says whether
// replies wait, handleWrite() sends one with sendTo(). A datagram connect
// is never "connecting": handleConnect() runs once, from the connect event,
// and reads go straight to handleRead().
import dgram from 'node:dgram';
import t from 'tap';
import { AF_INET, AF_INET6, SOCK_DGRAM, loop } from '../../src/index.js';
import type { ChannelMap } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, UdpEcho, settle } from '../helpers/dispatchers.js';
import { testMap } from '../helpers/net.js';

/** Runs the classic loop over `map` now (an awaited loop starts when awaited). */
async function runLoop(map: ChannelMap): Promise<void> {
  await loop({ map });
}

for (const [name, family, host, type] of [['IPv4', AF_INET, '127.0.0.1', 'udp4'], ['IPv6', AF_INET6, '::1', 'udp6']] as const) {
  t.test(`${name}: a Dispatcher echoes datagrams with recvFrom() in handleRead() and sendTo() in handleWrite()`, async (t) => {
    const map = testMap(t);
    const server = new UdpEcho(null, map);
    server.createSocket(family, SOCK_DGRAM);
    server.bind([host, 0]);
    const running = runLoop(map);
    await deadline(server.opened, 'the bind');
    const peer = dgram.createSocket(type);
    t.teardown(() => { peer.close(); });
    const replies: string[] = [];
    const allBack = new Promise<void>((resolve) => {
      peer.on('message', (data) => { replies.push(data.toString()); if (replies.length === 3) resolve(); });
    });
    for (const word of ['one', 'two', 'three']) peer.send(word, server.port as number, host);
    await deadline(allBack, 'the echoes');
    t.same(replies.sort(), ['one', 'three', 'two']);
    server.close();
    await deadline(running, 'the loop to end once the map is empty');
    t.same(server.logs, [], 'no unhandled event');
  });
}

t.test('Dispatcher.connect() on a datagram channel: never connecting, handleConnect() once, then handleRead()', async (t) => {
  const map = testMap(t);
  const peer = dgram.createSocket('udp4');
  t.teardown(() => { peer.close(); });
  await new Promise<void>((resolve) => { peer.bind(0, '127.0.0.1', resolve); });
  const calls: string[] = [];
  const gotReply = settle<string>();
  class Client extends QuietDispatcher {
    override handleConnect(): void {
      calls.push('connect');
      this.send('hello');
    }
    override handleRead(): void {
      calls.push('read');
      const data = this.recv(100);
      if (data !== null) gotReply.resolve(data.toString());
      this.close();
    }
    override writable(): boolean { return false; }
  }
  const client = new Client(null, map);
  client.createSocket(AF_INET, SOCK_DGRAM);
  client.connect(['127.0.0.1', peer.address().port]);
  t.equal(client.connecting, false);
  peer.once('message', (data, from) => { peer.send(data.toString().toUpperCase(), from.port, from.address); });
  const running = runLoop(map);
  t.equal(await deadline(gotReply.promise, 'the reply'), 'HELLO');
  await deadline(running, 'the loop');
  t.same(calls, ['connect', 'read']);
  t.same(client.logs, []);
});
