// Experiment, not a server under test: the minimal `for await` server of
// floor.ts, except that the 'data' callbacks only record which iterators have
// something, and one setImmediate after the poll phase wakes them all.
import net from 'node:net';
import { HOST, announce } from '../common.js';
import { MinimalReads } from './minimal-reads.js';

let ready: MinimalReads[] = [];
let scheduled = false;
function wakeAll(): void {
  scheduled = false;
  const list = ready;
  ready = [];
  for (const reads of list) reads.wake();
}

const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  void MinimalReads.echo(socket, (reads) => {
    ready.push(reads);
    if (!scheduled) {
      scheduled = true;
      setImmediate(wakeAll);
    }
  });
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
