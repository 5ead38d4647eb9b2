// lines() over each accepted channel: one await per line read, one per reply
// (each line is echoed with its own ending).
import { lines, listen } from 'asyncore';
import type { Channel } from 'asyncore';
import { HOST, announce } from './common.js';

async function echoLines(channel: Channel): Promise<void> {
  try {
    for await (const line of lines(channel, { keepDelimiter: true })) await channel.write(line);
  } catch {
    // A peer that resets ends its own connection only.
  }
  channel.close();
}

const server = await listen([HOST, 0], { backlog: 4096 });
announce(server.port as number);
for await (const channel of server.connections()) void echoLines(channel);
