// TLS clients and listeners: connect() and the Python-style path against our
// listener and Node's tls, handshake failures as typed errors, the bounds of a
// listener's handshakes, SNI and ALPN, and bad options refused before any
// socket opens. Certificates are made at test time (helpers/certs.ts).
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import {
  AF_INET, Channel, ChannelClosedError, ChannelStateError, Dispatcher, TlsCertificateError, TlsHandshakeError,
  TlsHandshakeTimeoutError, TlsHostnameError, UnsupportedError, channelPair, connect, listen, loop,
} from '../../src/index.js';
import type { ChannelMap, ListenOptions, TlsOptions } from '../../src/index.js';
import { certs } from '../helpers/certs.js';
import { OPENSSL, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { families, testMap } from '../helpers/net.js';

const skip = OPENSSL.skip;

/** A TLS listener on 127.0.0.1 that echoes every connection; closed with the test. */
async function echoServer(t: Test, tlsOptions: TlsOptions, options: ListenOptions = {}): Promise<Channel> {
  const c = certs();
  const server = await listen(['127.0.0.1', 0], { ...options, tls: { key: c.key, cert: c.cert, ...tlsOptions } });
  t.teardown(() => { server.close(); });
  void (async () => {
    for await (const conn of server.connections()) {
      t.teardown(() => { conn.abort(); });
      void (async () => {
        try {
          for await (const chunk of conn.chunks()) await conn.write(chunk);
        } catch { /* the peer went away */ }
        conn.close();
      })();
    }
  })().catch(() => { /* closed */ });
  return server;
}

/** What a socket receives until it has `size` bytes. */
function readBytes(sock: net.Socket, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      parts.push(chunk);
      total += chunk.length;
      if (total >= size) {
        sock.off('data', onData);
        resolve(Buffer.concat(parts));
      }
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
}

t.test('connect() with tls makes the handshake before resolving and shows the session', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = await echoServer(t, { ALPNProtocols: ['echo/1'] });
  const conn = await deadline(connect(['127.0.0.1', server.port ?? 0], {
    map: testMap(t), tls: { servername: 'localhost', ca: c.ca, ALPNProtocols: ['echo/1'] },
  }), 'connect');
  t.teardown(() => { conn.close(); });
  const info = conn.tls;
  t.ok(info?.authorized);
  t.equal(info?.authorizationError, null);
  t.equal(info?.protocol, 'TLSv1.3');
  t.equal(info?.alpnProtocol, 'echo/1');
  t.equal(info?.servername, 'localhost');
  t.match(info?.peerCertificate?.subject, { CN: 'localhost' });
  t.ok(info?.cipher?.name);
  await conn.write('hello over tls');
  const got: Buffer[] = [];
  for await (const chunk of conn.chunks()) {
    got.push(chunk);
    if (Buffer.concat(got).length >= 14) break;
  }
  t.equal(Buffer.concat(got).toString(), 'hello over tls');
  t.equal(server.tls, null, 'a listener has no session');
  t.equal(server.failedHandshakes, 0);
});

t.test('a channel with the tls option reports connect once the handshake is done (Python style)', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = await echoServer(t, {});
  const map = testMap(t);
  const client = new Channel(null, map, { tls: { servername: 'localhost', ca: c.ca } });
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', server.port ?? 0]);
  void client.write('ping');
  t.equal(client.tls, null, 'no session while connecting');
  const seen: string[] = [];
  await deadline((async () => {
    for await (const ev of client) {
      seen.push(ev.type);
      if (ev.type === 'connect') t.equal(client.tls?.authorized, true, 'the handshake is done at connect');
      if (ev.type === 'read') {
        t.equal(client.recv(100)?.toString(), 'ping');
        break;
      }
    }
  })(), 'echo');
  t.same(seen, ['connect', 'read']);
  client.close();
});

t.test('certificate and host name failures are typed errors reported as connect errors, never connections', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const server = await echoServer(t, {});
  const port = server.port ?? 0;
  const unknown = await connect(['127.0.0.1', port], { map: testMap(t), tls: { servername: 'localhost', ca: c.otherCa } })
    .then(() => null, (error: unknown) => error);
  t.type(unknown, TlsCertificateError);
  t.equal((unknown as TlsCertificateError).code, 'ERR_TLS_CERTIFICATE');
  t.equal((unknown as TlsCertificateError).reason, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  t.ok((unknown as Error).cause instanceof Error);
  const host = await connect(['127.0.0.1', port], { map: testMap(t), tls: { servername: 'example.com', ca: c.ca } })
    .then(() => null, (error: unknown) => error);
  t.type(host, TlsHostnameError);
  t.equal((host as TlsHostnameError).code, 'ERR_TLS_HOSTNAME');

  // The event stream: error (operation connect), then close; no connect.
  const map = testMap(t);
  const client = new Channel(null, map, { tls: { servername: 'localhost' } }); // Node's roots: unknown issuer
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  const events: string[] = [];
  await deadline((async () => {
    for await (const ev of client) {
      events.push(ev.type === 'error' ? `error ${ev.operation} ${String(ev.error.code)}` : ev.type);
    }
  })(), 'events');
  t.same(events, ['error connect ERR_TLS_CERTIFICATE', 'close']);
  await t.rejects(client.opened, TlsCertificateError);

  // An expired certificate from a trusted authority.
  const stale = await listen(['127.0.0.1', 0], { map: testMap(t), tls: { key: c.key, cert: c.expiredCert } });
  t.teardown(() => { stale.close(); });
  const expired = await connect(['127.0.0.1', stale.port ?? 0], { map: testMap(t), tls: { servername: 'localhost', ca: c.ca } })
    .then(() => null, (error: unknown) => error);
  t.type(expired, TlsCertificateError);
  t.equal((expired as TlsCertificateError).reason, 'CERT_HAS_EXPIRED');

  // Without rejectUnauthorized the connection is made and says why it is not authorized.
  const lax = await connect(['127.0.0.1', port], { map: testMap(t), tls: { servername: 'localhost', rejectUnauthorized: false } });
  t.teardown(() => { lax.close(); });
  t.equal(lax.tls?.authorized, false);
  t.equal(lax.tls?.authorizationError, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

t.test('a client handshake with a peer that never speaks TLS times out', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const silent = net.createServer((sock) => { t.teardown(() => { sock.destroy(); }); });
  t.teardown(() => { silent.close(); });
  await new Promise<void>((resolve) => { silent.listen(0, '127.0.0.1', resolve); });
  const port = (silent.address() as net.AddressInfo).port;
  const error = await deadline(connect(['127.0.0.1', port], {
    map: testMap(t), tls: { servername: 'localhost', ca: certs().ca, handshakeTimeout: 0.2 },
  }).then(() => null, (e: unknown) => e), 'timeout');
  t.type(error, TlsHandshakeTimeoutError);
  t.equal((error as TlsHandshakeTimeoutError).code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
  t.ok(error instanceof TlsHandshakeError, 'a kind of handshake error');
});

t.test('a listener drops silent peers after its handshake timeout and counts them', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const server = await echoServer(t, { handshakeTimeout: 0.2 });
  const sock = net.connect(server.port ?? 0, '127.0.0.1');
  t.teardown(() => { sock.destroy(); });
  await deadline(new Promise((resolve) => { sock.once('close', resolve); }), 'the silent peer is dropped');
  t.equal(server.failedHandshakes, 1);
  t.equal(server.accept(), null, 'nothing reached the accept queue');
});

t.test('a listener runs at most maxHandshakes handshakes; beyond, connections are reset and counted', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const server = await echoServer(t, { maxHandshakes: 1, handshakeTimeout: 5 });
  const holder = net.connect(server.port ?? 0, '127.0.0.1');
  t.teardown(() => { holder.destroy(); });
  await new Promise((resolve) => { holder.once('connect', resolve); });
  const second = net.connect(server.port ?? 0, '127.0.0.1');
  t.teardown(() => { second.destroy(); });
  const error = await deadline(new Promise<NodeJS.ErrnoException>((resolve) => { second.once('error', resolve); }), 'reset');
  t.equal(error.code, 'ECONNRESET');
  t.equal(server.failedHandshakes, 1);
  // Closing the listener ends the handshake still in flight.
  server.close();
  await deadline(new Promise((resolve) => { holder.once('close', resolve); }), 'in-flight handshake destroyed');
});

t.test('a TLS listener serves Node tls clients, with SNI and ALPN', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const names: string[] = [];
  const context = tls.createSecureContext({ key: c.key, cert: c.cert });
  const server = await echoServer(t, {
    ALPNProtocols: ['b', 'a'],
    SNICallback: (name, callback) => { names.push(name); callback(null, context); },
  });
  const sock = tls.connect({ port: server.port ?? 0, host: '127.0.0.1', servername: 'localhost', ca: c.ca, ALPNProtocols: ['a'] });
  t.teardown(() => { sock.destroy(); });
  await deadline(new Promise((resolve, reject) => { sock.once('secureConnect', resolve); sock.once('error', reject); }), 'handshake');
  t.equal(sock.alpnProtocol, 'a');
  t.same(names, ['localhost']);
  sock.write('node tls');
  t.equal((await deadline(readBytes(sock, 8), 'echo')).toString(), 'node tls');
});

t.test('Dispatcher style: handleAccept, accept() and new Handler(sock) over TLS', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const map: ChannelMap = testMap(t);
  const served: string[] = [];
  class Echo extends Dispatcher {
    override handleRead(): void {
      const data = this.recv(8192);
      if (data !== null && data.length > 0) {
        served.push(this.tls?.protocol ?? 'plain');
        this.send(data);
      }
    }
  }
  class Server extends Dispatcher {
    override handleAccept(): void {
      const pair = this.accept();
      if (pair !== null) new Echo(pair[0], map);
    }
  }
  const server = new Server(null, map, { tls: { key: c.key, cert: c.cert } });
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  const running = Promise.resolve(loop({ map })); // a Loop runs once awaited
  const sock = tls.connect({ port: server.port ?? 0, host: '127.0.0.1', servername: 'localhost', ca: c.ca });
  t.teardown(() => { sock.destroy(); });
  sock.write('classic');
  t.equal((await deadline(readBytes(sock, 7), 'echo')).toString(), 'classic');
  t.same(served, ['TLSv1.3']);
  server.close();
  sock.destroy();
  for (const ch of [...map.values()]) ch.close();
  await deadline(running, 'loop ends once the map is empty');
});

t.test('bad tls options throw before any socket opens', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const map = testMap(t);
  t.throws(() => new Channel(null, map, { tls: { key: c.key } }), { name: 'TypeError', message: /key needs its cert/ });
  t.throws(() => new Channel(null, map, { tls: { cert: c.cert } }), { name: 'TypeError', message: /cert needs its key/ });
  t.throws(() => new Channel(null, map, { tls: { key: c.otherKey, cert: c.cert } }), { name: 'TypeError', message: /cannot build the secure context/ });
  t.throws(() => new Channel(null, map, { tls: { key: c.encryptedKey, cert: c.cert, passphrase: 'wrong' } }), TypeError);
  t.doesNotThrow(() => new Channel(null, map, { tls: { key: c.encryptedKey, cert: c.cert, passphrase: 'secret' } }));
  t.throws(() => new Channel(null, map, { tls: { handshakeTimeout: 0 } }), RangeError);
  t.throws(() => new Channel(null, map, { tls: { maxHandshakes: 0 } }), RangeError);
  t.throws(() => new Channel(null, map, { tls: 'yes' as unknown as TlsOptions }), TypeError);
  t.throws(() => new Channel(null, map, { tls: {}, readBufferSize: 4096 }), { name: 'TypeError', message: /readBufferSize/ });
  await t.rejects(listen(['127.0.0.1', 0], { map, tls: { ca: c.ca } }), { name: 'TypeError', message: /a listener needs key and cert/ });
  t.equal(map.size, 0, 'no channel was left open');
});

t.test('startTls() refuses channels that cannot upgrade', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const map = testMap(t);
  const idle = new Channel(null, map);
  t.throws(() => idle.startTls({ servername: 'localhost' }), ChannelStateError);
  idle.close();
  t.throws(() => idle.startTls({ servername: 'localhost' }), ChannelClosedError);
  const server = await echoServer(t, {});
  t.throws(() => server.startTls({ key: c.key, cert: c.cert }), ChannelStateError);
  const conn = await connect(['127.0.0.1', server.port ?? 0], { map, tls: { servername: 'localhost', ca: c.ca } });
  t.throws(() => conn.startTls({ servername: 'localhost' }), { name: 'ChannelStateError', message: /already runs TLS/ });
  conn.close();
  const [left, right] = channelPair({ map });
  t.throws(() => left.startTls({ servername: 'localhost' }), UnsupportedError);
  left.close();
  right.close();
});

for (const fam of families) {
  t.test(`connect() and listen() with tls over ${fam.name}`, { skip }, async (t) => {
    if (!clientPresent(t, OPENSSL)) return;
    const c = certs();
    const map = testMap(t);
    const server = await listen(fam.listenAddress(t), { map, family: fam.family, tls: { key: c.key, cert: c.cert } });
    t.teardown(() => { server.close(); });
    const conn = await deadline(connect(server.addr ?? '', { map, family: fam.family, tls: { servername: 'localhost', ca: c.ca } }), 'connect');
    t.teardown(() => { conn.close(); });
    for await (const accepted of server.connections()) {
      t.teardown(() => { accepted.close(); });
      await conn.write('over tls');
      let got = '';
      for await (const chunk of accepted.chunks()) {
        got += chunk.toString();
        if (got.length >= 8) break;
      }
      t.equal(got, 'over tls');
      t.equal(accepted.tls?.protocol, 'TLSv1.3');
      break;
    }
  });
}
