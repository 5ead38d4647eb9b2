// A datagram channel's datagrams() iterator: one [data, address] pair per step.
import { AF_INET, Channel, SOCK_DGRAM } from 'asyncore';
import { HOST, announce } from './common.js';

const udp = new Channel();
udp.createSocket(AF_INET, SOCK_DGRAM);
udp.bind([HOST, 0]);
await udp.opened;
announce(udp.port as number);
for await (const [data, from] of udp.datagrams()) udp.sendTo(data, from);
