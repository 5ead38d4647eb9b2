// A UDP echo server in the classic style: a Dispatcher on a datagram
// channel, as a Python asyncore program writes one. handleRead() takes a
// datagram with recvFrom(), writable() says whether replies wait, and
// handleWrite() sends them back with sendTo().
//
//   node build/examples/udp-echo.js [--host 127.0.0.1] [--port 0]
//
// Prints one line, `listening HOST:PORT` (`[HOST]:PORT` for IPv6), once
// bound; exits 0 on SIGTERM or SIGINT after closing its socket.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { AF_INET, AF_INET6, ChannelMap, Dispatcher, SOCK_DGRAM, formatAddress, loop } from 'asyncore';
import type { Address } from 'asyncore';

// Replies held while the socket's send queue is full; past it, requests are
// dropped, as a kernel drops datagrams its buffer cannot hold.
const MAX_WAITING_REPLIES = 1024;

class UdpEchoServer extends Dispatcher {
  readonly #outbox: [Buffer, Address][] = [];

  override handleRead(): void {
    const got = this.recvFrom(65536);
    if (got !== null && this.#outbox.length < MAX_WAITING_REPLIES) this.#outbox.push(got);
  }

  override writable(): boolean {
    return this.#outbox.length > 0;
  }

  override handleWrite(): void {
    // Send while the socket takes them; a refused reply waits for the next write event.
    for (let next = this.#outbox[0]; next !== undefined; next = this.#outbox[0]) {
      if (this.sendTo(next[0], next[1]) === 0 && next[0].length > 0) return;
      this.#outbox.shift();
    }
  }

  override handleError(error: unknown): void {
    // A datagram that could not be sent costs that reply, not the server.
    console.error('udp-echo:', error instanceof Error ? error.message : error);
  }
}

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
const host = values.host;
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`udp-echo: invalid --port ${values.port}: expected 0 to 65535`);
  process.exit(2);
}

const map = new ChannelMap();
const server = new UdpEchoServer(null, map);
server.createSocket(isIP(host) === 6 ? AF_INET6 : AF_INET, SOCK_DGRAM);
server.bind([host, port]);

const stop = (): void => { server.close(); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

const running = (async () => { await loop({ map }); })();
try {
  await server.opened;
  console.log(`listening ${formatAddress(server.addr)}`);
} catch (error) {
  console.error(`udp-echo: cannot bind ${formatAddress([host, port])}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
  server.close();
}
await running; // the map is empty once the server closed
process.off('SIGTERM', stop);
process.off('SIGINT', stop);
