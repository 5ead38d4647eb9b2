// Experiment, not a server under test: the least a `for await` readiness
// server can do on net.Socket. Each 'data' event resolves the waiting
// iterator's promise at once, so the consumer runs in the microtask
// checkpoint after that socket's callback, as a channel did before the signal
// batch. Compared with raw node:net it prices one promise per event.
import net from 'node:net';
import { HOST, announce } from '../common.js';
import { MinimalReads } from './minimal-reads.js';

const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  void MinimalReads.echo(socket, (reads) => { reads.wake(); });
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
