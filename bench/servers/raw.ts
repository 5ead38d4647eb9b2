// The reference: raw node:net, the echo every other server is compared with.
import net from 'node:net';
import { HOST, announce } from './common.js';

const server = net.createServer((socket) => {
  socket.on('data', (data) => socket.write(data));
  socket.on('error', () => socket.destroy());
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
