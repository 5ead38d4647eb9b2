// A TLS echo server in the for-await style.
//
//   node build/examples/tls-echo.js [--port N] [--host H] [--cert FILE --key FILE]
//
// --port 0 (the default) takes any free port. Without --cert/--key a
// self-signed certificate for localhost is made at start with `openssl`
// (into a temporary directory, removed at exit). Prints exactly one line,
// `listening HOST:PORT`, once ready; SIGTERM or SIGINT closes the listener
// and every connection, then exits 0. Try it with
//   openssl s_client -connect 127.0.0.1:PORT -servername localhost
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { listen } from 'asyncore';
import type { Channel } from 'asyncore';

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
if ((values.cert === undefined) !== (values.key === undefined)) throw new TypeError('Give both --cert and --key, or neither');

/** A self-signed certificate for localhost, 127.0.0.1 and ::1, made with openssl. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'tls-echo-'));
  try {
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'], { encoding: 'utf8', timeout: 20_000 });
    if (made.status !== 0) throw new Error(`Cannot make a self-signed certificate: openssl failed: ${made.stderr || String(made.error)}`);
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const credentials = values.cert !== undefined && values.key !== undefined
  ? { key: readFileSync(values.key), cert: readFileSync(values.cert) }
  : selfSigned();

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
