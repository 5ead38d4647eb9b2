// The classic style: handleRead() queues the waiting datagrams with their
// senders, writable() says whether replies wait, handleWrite() sends them with
// sendTo(). handleRead() takes every waiting datagram, not one: a loop pass
// per datagram would measure the loop's rounds rather than the datagram path.
import { AF_INET, Dispatcher, SOCK_DGRAM, loop } from 'asyncore';
import type { Address } from 'asyncore';
import { HOST, announce } from './common.js';

class UdpEcho extends Dispatcher {
  readonly #outbox: [Buffer, Address][] = [];
  override handleRead(): void {
    for (let got = this.recvFrom(65536); got !== null; got = this.recvFrom(65536)) this.#outbox.push(got);
  }
  override writable(): boolean {
    return this.#outbox.length > 0;
  }
  override handleWrite(): void {
    for (let next = this.#outbox[0]; next !== undefined; next = this.#outbox[0]) {
      if (this.sendTo(next[0], next[1]) === 0) return;
      this.#outbox.shift();
    }
  }
}

const server = new UdpEcho();
server.createSocket(AF_INET, SOCK_DGRAM);
server.bind([HOST, 0]);
const running = loop();
await server.opened;
announce(server.port as number);
await running;
