// A TLS echo server in the for-await style.
//
//   node build/examples/tls-echo.js [--port N] [--host H] [--cert FILE --key FILE]
//
// --port 0 (the default) takes any free port. Without --cert/--key a
// self-signed certificate for localhost is made at start with `openssl`
// (see tls-credentials.ts). Prints exactly one line,
// `listening HOST:PORT`, once ready; SIGTERM or SIGINT closes the listener
// and every connection, then exits 0. Try it with
//   openssl s_client -connect 127.0.0.1:PORT -servername localhost
import { parseArgs } from 'node:util';
import { listen } from 'asyncore';
import type { Channel } from 'asyncore';
import { tlsCredentials } from './tls-credentials.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Invalid --port: ${values.port}`);

const credentials = tlsCredentials(values.cert, values.key);

const server = await listen([values.host, port], { tls: credentials });
const open = new Set<Channel>();

async function echo(conn: Channel): Promise<void> {
  open.add(conn);
  try {
    for await (const chunk of conn.chunks()) await conn.write(chunk);
  } catch (error) {
    console.error(`connection from ${conn.address} broke:`, error);
  } finally {
    conn.close();
    open.delete(conn);
  }
}

function stop(): void {
  server.close(); // ends connections() below
  for (const conn of open) conn.close();
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

console.log(`listening ${server.address}`);
for await (const conn of server.connections()) void echo(conn);
// Lingering closes end on their own (the peers' ends, or closeTimeout): wait for none.
await Promise.all([...open].map(async (conn) => conn.closed));
process.exit(0);
