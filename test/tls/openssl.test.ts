// TLS against OpenSSL's own tools: `openssl s_client` as the client of our
// listener (plain TLS, and STARTTLS the SMTP way), and `openssl s_server` as
// the server of our client. Loopback, port 0, children killed in teardown.
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, Dispatcher, TlsCertificateError, connect, listen, loop } from '../../src/index.js';
import type { Channel } from '../../src/index.js';
import { certs } from '../helpers/certs.js';
import { OPENSSL, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { testMap } from '../helpers/net.js';

const skip = OPENSSL.skip;

/** Starts `openssl args...`, killed with the test. */
function openssl(t: Test, args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn('openssl', args, { stdio: 'pipe' });
  t.teardown(() => { child.kill('SIGKILL'); });
  return child;
}

/** Resolves once the child's stdout matches `pattern`, with the match. */
function stdoutMatch(child: ChildProcessWithoutNullStreams, pattern: RegExp): Promise<RegExpMatchArray> {
  let text = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const match = pattern.exec(text);
      if (match === null) return;
      child.stdout.off('data', onData);
      resolve(match);
    };
    child.stdout.on('data', onData);
    child.once('exit', (code) => { reject(new Error(`openssl exited (${code}) before ${pattern}; stdout: ${text}`)); });
  });
}

/** Reads lines from `conn` until one matches `pattern`; returns the text read. */
async function readUntil(conn: Channel, pattern: RegExp): Promise<string> {
  let text = '';
  for await (const ev of conn) {
    if (ev.type !== 'read') continue;
    // One byte at a time: a STARTTLS request must leave what follows it unread.
    const byte = conn.recv(1);
    if (byte === null || byte.length === 0) break;
    text += byte.toString('latin1');
    if (pattern.test(text)) return text;
  }
  throw new Error(`closed before ${pattern}: ${text}`);
}

t.test('openssl s_client talks to a TLS listener served with for await', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = await listen(['127.0.0.1', 0], { map: testMap(t), tls: { key: c.key, cert: c.cert } });
  t.teardown(() => { server.close(); });
  const client = openssl(t, ['s_client', '-connect', `127.0.0.1:${server.port ?? 0}`, '-servername', 'localhost',
    '-CAfile', c.caPath, '-verify_return_error', '-quiet']);
  client.stdin.write('hello from s_client\n');
  for await (const conn of server.connections()) {
    t.teardown(() => { conn.abort(); });
    t.equal(conn.tls?.servername, 'localhost');
    const line = await deadline(readUntil(conn, /\n$/), 'the line');
    t.equal(line, 'hello from s_client\n');
    await conn.write(line.toUpperCase());
    break;
  }
  await deadline(stdoutMatch(client, /HELLO FROM S_CLIENT\n/), 'the reply');
});

t.test('openssl s_client -starttls smtp upgrades a plain connection (server startTls)', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = await listen(['127.0.0.1', 0], { map: testMap(t) });
  t.teardown(() => { server.close(); });
  const client = openssl(t, ['s_client', '-connect', `127.0.0.1:${server.port ?? 0}`, '-starttls', 'smtp',
    '-servername', 'localhost', '-CAfile', c.caPath, '-verify_return_error', '-quiet']);
  for await (const conn of server.connections()) {
    t.teardown(() => { conn.abort(); });
    await conn.write('220 test ESMTP\r\n');
    await deadline(readUntil(conn, /^EHLO [^\r\n]*\r\n$/), 'EHLO');
    await conn.write('250-test\r\n250 STARTTLS\r\n');
    await deadline(readUntil(conn, /^STARTTLS\r\n$/), 'STARTTLS');
    await conn.write('220 go ahead\r\n');
    await deadline(conn.startTls({ key: c.key, cert: c.cert }), 'handshake');
    t.equal(conn.tls?.protocol, 'TLSv1.3');
    client.stdin.write('encrypted line\n');
    t.equal(await deadline(readUntil(conn, /\n$/), 'encrypted line'), 'encrypted line\n');
    await conn.write('250 encrypted reply\r\n');
    break;
  }
  await deadline(stdoutMatch(client, /250 encrypted reply/), 'the reply');
});

t.test('connect() with tls talks to openssl s_server, and refuses it with an unknown CA', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = openssl(t, ['s_server', '-accept', '127.0.0.1:0', '-cert', c.certPath, '-key', c.keyPath, '-rev', '-naccept', '2']);
  const port = Number((await deadline(stdoutMatch(server, /ACCEPT 127\.0\.0\.1:(\d+)/), 's_server listening'))[1]);
  const conn = await deadline(connect(['127.0.0.1', port], { map: testMap(t), tls: { servername: 'localhost', ca: c.ca } }), 'connect');
  t.teardown(() => { conn.close(); });
  t.equal(conn.tls?.authorized, true);
  await conn.write('stressed\n');
  t.equal(await deadline(readUntil(conn, /\n$/), 'reversed'), 'desserts\n');
  conn.close();
  const error = await deadline(connect(['127.0.0.1', port], { map: testMap(t), tls: { servername: 'localhost', ca: c.otherCa } })
    .then(() => null, (e: unknown) => e), 'refused');
  t.type(error, TlsCertificateError);
});

t.test('a Dispatcher client with the tls option talks to openssl s_server', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = openssl(t, ['s_server', '-accept', '127.0.0.1:0', '-cert', c.certPath, '-key', c.keyPath, '-rev', '-naccept', '1']);
  const port = Number((await deadline(stdoutMatch(server, /ACCEPT 127\.0\.0\.1:(\d+)/), 's_server listening'))[1]);
  const map = testMap(t);
  const seen: string[] = [];
  class Client extends Dispatcher {
    reply = '';
    override handleConnect(): void {
      seen.push(`connect ${this.tls?.protocol ?? 'no session'}`);
      this.send('live\n');
    }
    override handleRead(): void {
      this.reply += this.recv(100)?.toString() ?? '';
      if (this.reply.endsWith('\n')) this.close();
    }
  }
  const client = new Client(null, map, { tls: { servername: 'localhost', ca: c.ca } });
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  await deadline(Promise.resolve(loop({ map })), 'the loop ends once the client closes');
  t.same(seen, ['connect TLSv1.3']);
  t.equal(client.reply, 'evil\n');
});
