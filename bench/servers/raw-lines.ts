// The framing benchmark's reference: raw node:net splitting lines by hand
// (indexOf in what came, the tail kept for the next chunk), each line echoed.
import net from 'node:net';
import { HOST, announce } from './common.js';

const NEWLINE = 0x0a;

const server = net.createServer((socket) => {
  let tail: Buffer | null = null;
  socket.on('data', (data: Buffer) => {
    const buf = tail === null ? data : Buffer.concat([tail, data]);
    let start = 0;
    for (let end = buf.indexOf(NEWLINE); end >= 0; end = buf.indexOf(NEWLINE, start)) {
      socket.write(buf.subarray(start, end + 1)); // the line with its \n
      start = end + 1;
    }
    tail = start < buf.length ? buf.subarray(start) : null;
  });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
