// A datagram channel's readiness events, for await: each `read` takes every
// waiting datagram with recvFrom() and echoes it with sendTo().
import { AF_INET, Channel, SOCK_DGRAM } from 'asyncore';
import { HOST, announce } from './common.js';

const udp = new Channel();
udp.createSocket(AF_INET, SOCK_DGRAM);
udp.bind([HOST, 0]);
await udp.opened;
announce(udp.port as number);
for await (const ev of udp) {
  if (ev.type !== 'read') continue;
  for (let got = udp.recvFrom(65536); got !== null; got = udp.recvFrom(65536)) udp.sendTo(got[0], got[1]);
}
