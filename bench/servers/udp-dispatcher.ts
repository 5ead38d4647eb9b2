// The classic style: handleRead() queues each datagram with its sender,
// writable() says whether replies wait, handleWrite() sends them with sendTo().
import { AF_INET, Dispatcher, SOCK_DGRAM, loop } from 'asyncore';
import type { Address } from 'asyncore';
import { HOST, announce } from './common.js';

class UdpEcho extends Dispatcher {
  readonly #outbox: [Buffer, Address][] = [];
  override handleRead(): void {
    const got = this.recvFrom(65536);
    if (got !== null) this.#outbox.push(got);
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
