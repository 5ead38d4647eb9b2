// The UDP reference: a raw node:dgram echo, what the datagram servers are compared with.
import dgram from 'node:dgram';
import { HOST, announce } from './common.js';

const sock = dgram.createSocket('udp4');
sock.on('message', (data, from) => { sock.send(data, from.port, from.address); });
sock.on('error', () => { /* a failed send costs that echo, as in the other servers */ });
sock.bind(0, HOST, () => { announce(sock.address().port); });
