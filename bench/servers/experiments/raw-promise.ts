// Experiment, not a server under test: raw node:net with each reply written
// from a promise reaction instead of the 'data' callback itself, to price a
// microtask checkpoint that has work in it.
import net from 'node:net';
import { HOST, announce } from '../common.js';

const server = net.createServer((socket) => {
  const reply = (data: Buffer): void => { socket.write(data); };
  socket.on('data', (data: Buffer) => { void Promise.resolve(data).then(reply); });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
