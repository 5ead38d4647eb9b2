// A Channel through the promise helpers: chunks() in, write() out.
import { AF_INET, Channel } from 'asyncore';
import { HOST, announce } from './common.js';

async function serve(channel: Channel): Promise<void> {
  try {
    for await (const chunk of channel.chunks()) await channel.write(chunk);
  } catch {
    // A peer that resets ends its own connection only.
  }
  // chunks() ends at the peer's end of stream; close() flushes the echo, then ends ours.
  channel.close();
}

const listener = new Channel();
listener.createSocket(AF_INET);
listener.bind([HOST, 0]);
listener.listen(4096);
await listener.opened;
announce((listener.addr as [string, number])[1]);
for await (const channel of listener.connections()) void serve(channel);
