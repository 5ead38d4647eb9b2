// The modern entry points: listen() and connect() resolve with channels that
// are already listening or connected, and the promise helpers do the rest.
import { connect, listen } from 'asyncore';
import type { Channel } from 'asyncore';

async function echo(conn: Channel): Promise<void> {
  for await (const chunk of conn.chunks()) await conn.write(chunk);
  conn.close(); // the peer ended: every byte was echoed
}

const server = await listen(['127.0.0.1', 0]); // port 0: any free port
console.log(`server: listening on ${server.address}`);
const serving = (async () => {
  for await (const conn of server.connections()) echo(conn).catch(console.error);
})();

const client = await connect(['127.0.0.1', server.port as number], { signal: AbortSignal.timeout(5000) });
console.log(`client: connected to ${client.address}`);
await client.write('hello, connect()\n');
let reply = '';
for await (const chunk of client.chunks()) {
  reply += chunk.toString();
  if (reply.endsWith('\n')) break; // leaving chunks() leaves the channel open
}
console.log(`client: received ${JSON.stringify(reply)}`);
client.close(); // it sent bytes: it lingers until the server's echo loop ends too
server.close(); // ends connections()
await serving;
await client.released;
console.log('client: released');
