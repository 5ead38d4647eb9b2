// A Channel in for-await style: readiness events, recv() and send(), with the
// classic partial-send buffer: while bytes wait to be sent, write interest is
// on and read interest off, so the server never holds more than one chunk.
import { AF_INET, Channel } from 'asyncore';
import { HOST, announce } from './common.js';

async function serve(channel: Channel): Promise<void> {
  let pending: Buffer | null = null;
  for await (const ev of channel) {
    if (ev.type === 'read') {
      const data = channel.recv(65536);
      if (data === null || data.length === 0) continue;
      const sent = channel.send(data);
      if (sent < data.length) {
        pending = data.subarray(sent);
        channel.writeInterest = true;
        channel.readInterest = false;
      }
    } else if (ev.type === 'write' && pending !== null) {
      const sent = channel.send(pending);
      pending = sent === pending.length ? null : pending.subarray(sent);
      channel.writeInterest = pending !== null;
      channel.readInterest = pending === null;
    }
  }
}

const listener = new Channel();
listener.createSocket(AF_INET);
listener.bind([HOST, 0]);
listener.listen(4096);
await listener.opened;
announce((listener.addr as [string, number])[1]);
for await (const channel of listener.connections()) void serve(channel);
