// README example: the for-await style. An echo server built from
// connections() and chunks(), and a client that reads its channel's events.
import { AF_INET, Channel, SOCK_STREAM } from 'asyncore';
import type { Address } from 'asyncore';

const server = new Channel();
server.createSocket(AF_INET, SOCK_STREAM);
server.bind(['127.0.0.1', 0]);
server.listen(5);
await server.opened; // server.addr now holds the real port

async function echo(conn: Channel): Promise<void> {
  for await (const chunk of conn.chunks()) await conn.write(chunk);
  conn.close(); // the peer ended: every byte was echoed
}

const serving = (async () => {
  for await (const conn of server.connections()) echo(conn).catch(console.error);
})();

const client = new Channel();
client.createSocket(AF_INET, SOCK_STREAM);
client.connect(server.addr as Address);
let reply = '';
for await (const ev of client) {
  if (ev.type === 'connect') {
    console.log('client: connected');
    await client.write('hello\n');
  } else if (ev.type === 'read') {
    reply += client.recv(4096)?.toString() ?? '';
    if (reply.endsWith('\n')) client.close(); // ends this loop
  } else if (ev.type === 'error') {
    throw ev.error;
  }
}
console.log(`client: received ${JSON.stringify(reply)}`);
server.close(); // ends connections()
await serving;
