// Experiment: the raw node:dgram echo, asking Node for a send callback per
// datagram (a new closure each time), as the datagram role does to bound its
// send queue. Compared with udp-raw, it prices the callback alone.
import dgram from 'node:dgram';
import { HOST, announce } from '../common.js';

let sending = 0;
const sock = dgram.createSocket('udp4');
sock.on('message', (data, from) => {
  sending++;
  sock.send(data, from.port, from.address, (error) => { sending--; if (error) sock.emit('error', error); });
});
sock.on('error', () => { /* a failed send costs that echo, as in the other servers */ });
process.once('exit', () => { if (sending !== 0) process.stderr.write(`${sending} sends unfinished at exit\n`); });
sock.bind(0, HOST, () => { announce(sock.address().port); });
