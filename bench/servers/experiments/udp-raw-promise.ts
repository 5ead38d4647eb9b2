// Experiment: the raw node:dgram echo with the reply sent from a promise
// reaction per datagram (a consumer woken inside each 'message' callback),
// no library code: prices the per-datagram wake alone.
import dgram from 'node:dgram';
import { HOST, announce } from '../common.js';

const sock = dgram.createSocket('udp4');
sock.on('message', (data, from) => {
  void Promise.resolve(data).then((d) => { sock.send(d, from.port, from.address); });
});
sock.on('error', () => { /* a failed send costs that echo, as in the other servers */ });
sock.bind(0, HOST, () => { announce(sock.address().port); });
