// STARTTLS: startTls() on either side of an open channel. Nothing is lost or
// reordered across the upgrade: a ClientHello that came in the same segment
// as the STARTTLS line (what cpython issue 142352 lost in asyncio) is handed
// to TLS; bytes accepted before the call go out in plaintext first; bytes
// written after it go out encrypted once the handshake is done.
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, AsyncChat, Channel, ChannelClosedError, ChannelStateError, Dispatcher, TlsCertificateError, connect, listen, loop } from '../../src/index.js';
import type { HandlerResult } from '../../src/index.js';
import { certs } from '../helpers/certs.js';
import { OPENSSL, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { rawClient } from '../helpers/events.js';
import { testMap } from '../helpers/net.js';

const skip = OPENSSL.skip;
const LINE = Buffer.from('STARTTLS\r\n');

/** A plain listener of ours; its first connection, open. */
async function serverAndConn(t: Test, dial: (port: number) => void): Promise<Channel> {
  const server = await listen(['127.0.0.1', 0], { map: testMap(t) });
  t.teardown(() => { server.close(); });
  dial(server.port ?? 0);
  for await (const conn of server.connections()) {
    t.teardown(() => { conn.abort(); });
    return conn;
  }
  throw new Error('the listener closed');
}

/** Waits for a read event with more than `size` bytes buffered. */
async function buffered(conn: Channel, size: number): Promise<void> {
  for await (const ev of conn) if (ev.type === 'read' && conn.bufferedAmount > size) return;
  throw new Error('closed before the bytes came');
}

/** Everything `conn` receives until it has `size` bytes. */
async function receive(conn: Channel, size: number): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of conn.chunks()) {
    parts.push(chunk);
    total += chunk.length;
    if (total >= size) break;
  }
  return Buffer.concat(parts).toString();
}

/** What a socket receives until it has `size` bytes (and no more is taken from it). */
function readExactly(sock: net.Socket | tls.TLSSocket, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      const want = size - total;
      parts.push(chunk.subarray(0, want));
      total += Math.min(chunk.length, want);
      if (total < size) return;
      sock.off('data', onData);
      sock.pause();
      // Paused and unheard first: in flowing mode unshift() would emit the bytes again at once.
      if (chunk.length > want) sock.unshift(chunk.subarray(want));
      resolve(Buffer.concat(parts));
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
}

/** Resolves once the TLS client's handshake is done; rejects with its error. */
function handshaken(client: tls.TLSSocket): Promise<unknown> {
  return new Promise((resolve, reject) => { client.once('secureConnect', resolve); client.once('error', reject); });
}

/**
 * A TLS client over `sock` whose first bytes (its ClientHello) go out behind
 * the STARTTLS line in one write: the pipelined request of cpython 142352.
 */
function pipelinedClient(sock: net.Socket): tls.TLSSocket {
  let first = true;
  const carrier = new Duplex({
    write(chunk: Buffer, _encoding, callback): void {
      sock.write(first ? Buffer.concat([LINE, chunk]) : chunk, callback);
      first = false;
    },
    read(): void { sock.resume(); },
  });
  sock.on('data', (chunk: Buffer) => { if (!carrier.push(chunk)) sock.pause(); });
  sock.on('end', () => { carrier.push(null); });
  return tls.connect({ socket: carrier, servername: 'localhost', ca: certs().ca });
}

t.test('startTls() keeps a ClientHello that came with the STARTTLS line (cpython 142352)', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  let client: tls.TLSSocket | null = null;
  const conn = await deadline(serverAndConn(t, (port) => {
    const sock = net.connect(port, '127.0.0.1', () => { client = pipelinedClient(sock); });
    t.teardown(() => { sock.destroy(); });
  }), 'accepted');
  // The line and the ClientHello are both waiting unread in the channel.
  await deadline(buffered(conn, LINE.length), 'the request and its ClientHello');
  t.equal(conn.recv(LINE.length)?.toString(), 'STARTTLS\r\n');
  t.ok(conn.bufferedAmount > 0, 'ClientHello bytes wait unread behind the line');
  await deadline(conn.startTls({ key: c.key, cert: c.cert }), 'server handshake');
  t.equal(conn.tls?.protocol, 'TLSv1.3');
  const tlsClient = client as unknown as tls.TLSSocket;
  t.teardown(() => { tlsClient.destroy(); });
  tlsClient.write('encrypted ping');
  t.equal(await deadline(receive(conn, 14), 'ping'), 'encrypted ping');
  await conn.write('encrypted pong');
  t.equal((await deadline(readExactly(tlsClient, 14), 'pong')).toString(), 'encrypted pong');
});

t.test('startTls() sends the bytes accepted before it in plaintext, and those after it encrypted', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  let raw: net.Socket | null = null;
  const conn = await deadline(serverAndConn(t, (port) => {
    raw = net.connect(port, '127.0.0.1');
    t.teardown(() => { raw?.destroy(); });
  }), 'accepted');
  const sock = raw as unknown as net.Socket;
  // Far more than the write window: the upgrade must wait for all of it.
  const before = Buffer.alloc(300_000, 'p');
  const plain = conn.write(before);
  const upgraded = conn.startTls({ key: c.key, cert: c.cert });
  const after = conn.write('after the upgrade');
  t.equal(conn.send('x'), 0, 'send() accepts nothing while the upgrade runs');
  t.equal(conn.recv(10), null, 'recv() gives nothing while the upgrade runs');
  const received = await deadline(readExactly(sock, before.length), 'the plaintext');
  t.ok(received.equals(before), 'every byte before the call came in plaintext, in order');
  await plain;
  const client = tls.connect({ socket: sock, servername: 'localhost', ca: c.ca });
  t.teardown(() => { client.destroy(); });
  await deadline(upgraded, 'server handshake');
  t.equal((await deadline(readExactly(client, 17), 'encrypted')).toString(), 'after the upgrade');
  await after;
});

t.test('startTls() on a client channel, its request pipelined with the handshake', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  // A Node peer that takes the line, then runs TLS over what follows it.
  const peer = net.createServer({ pauseOnConnect: false }, (sock) => {
    t.teardown(() => { sock.destroy(); });
    void readExactly(sock, LINE.length).then(() => {
      const secure = new tls.TLSSocket(sock, { isServer: true, secureContext: tls.createSecureContext({ key: c.key, cert: c.cert }) });
      secure.on('error', () => { /* the test fails on the client side */ });
      secure.on('data', (chunk: Buffer) => { secure.write(Buffer.from(chunk.toString().toUpperCase())); });
    });
  });
  t.teardown(() => { peer.close(); });
  await new Promise<void>((resolve) => { peer.listen(0, '127.0.0.1', resolve); });
  const conn = await connect(['127.0.0.1', (peer.address() as net.AddressInfo).port], { map: testMap(t) });
  t.teardown(() => { conn.close(); });
  const request = conn.write(LINE);
  const upgraded = conn.startTls({ servername: 'localhost', ca: c.ca });
  t.throws(() => conn.startTls({ servername: 'localhost' }), ChannelStateError, 'one upgrade at a time');
  const secret = conn.write('secret');
  await deadline(upgraded, 'client handshake');
  await request;
  await secret;
  t.equal(conn.tls?.authorized, true);
  t.equal(await deadline(receive(conn, 6), 'reply'), 'SECRET');
});

t.test('a failed startTls() rejects with the typed error and breaks the channel', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const dialled: { client?: Promise<Channel> } = {};
  const conn = await deadline(serverAndConn(t, (port) => {
    dialled.client = connect(['127.0.0.1', port], { map: testMap(t) });
  }), 'accepted');
  if (dialled.client === undefined) throw new Error('not dialled');
  const ours = await deadline(dialled.client, 'client');
  t.teardown(() => { ours.close(); });
  const serverSide = conn.startTls({ key: c.otherKey, cert: c.otherCert });
  serverSide.catch(() => { /* the client's failure ends it */ });
  const error = await deadline(ours.startTls({ servername: 'localhost', ca: c.ca }).then(() => null, (e: unknown) => e), 'failure');
  t.type(error, TlsCertificateError);
  const events: string[] = [];
  for await (const ev of ours) events.push(ev.type === 'error' ? `error ${ev.operation}` : ev.type);
  t.same(events, ['connect', 'error connect', 'close'], 'the plain connect, then the failed handshake');
});

t.test('Dispatcher style: a handler reads the STARTTLS line, replies in plaintext, upgrades, and serves the encrypted rest', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const map = testMap(t);
  const seen: string[] = [];
  // An SMTP-like server: one plaintext command, the reply, then TLS.
  class Upgrading extends Dispatcher {
    #pending = '';
    override handleRead(): void {
      const data = this.recv(8192);
      if (data === null || data.length === 0) return;
      if (this.tls === null) {
        this.#pending += data.toString();
        if (this.#pending !== 'STARTTLS\r\n') return;
        this.send('220 go ahead\r\n');
        // The reply goes out in plaintext, before the handshake; no readiness until it is done.
        this.startTls({ key: c.key, cert: c.cert }).then(() => { seen.push(`secured ${this.tls?.protocol ?? '?'}`); }, (error: unknown) => { seen.push(`failed ${String(error)}`); });
        return;
      }
      seen.push(`read ${data.toString()} over ${this.tls.protocol ?? '?'}`);
      this.send(`250 ${data.toString()}`);
    }
  }
  class Server extends Dispatcher {
    override handleAccept(): void {
      const pair = this.accept();
      if (pair !== null) new Upgrading(pair[0], map);
    }
  }
  const server = new Server(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  const running = Promise.resolve(loop({ map })); // a Loop runs once awaited
  const sock = net.connect(server.port ?? 0, '127.0.0.1');
  t.teardown(() => { sock.destroy(); });
  sock.write('STARTTLS\r\n');
  t.equal((await deadline(readExactly(sock, 14), 'the plaintext reply')).toString(), '220 go ahead\r\n');
  const secure = tls.connect({ socket: sock, servername: 'localhost', ca: c.ca });
  t.teardown(() => { secure.destroy(); });
  await deadline(handshaken(secure), 'the handshake');
  secure.write('hello');
  t.equal((await deadline(readExactly(secure, 9), 'the encrypted reply')).toString(), '250 hello');
  t.same(seen, ['secured TLSv1.3', 'read hello over TLSv1.3'], 'the handler saw the upgrade, then decrypted bytes');
  server.close();
  secure.destroy();
  for (const ch of [...map.values()]) ch.close();
  await deadline(running, 'the loop ends once the map is empty');
});

/** A listening Dispatcher whose accepted connections become `make(sock)`; the loop runs. */
async function classicServer(t: Test, make: (sock: net.Socket, map: ReturnType<typeof testMap>) => void): Promise<{ port: number; stop: () => Promise<void> }> {
  const map = testMap(t);
  class Server extends Dispatcher {
    override handleAccept(): void {
      const pair = this.accept();
      if (pair !== null) make(pair[0], map);
    }
  }
  const server = new Server(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  const running = Promise.resolve(loop({ map }));
  return {
    port: server.port ?? 0,
    stop: async () => {
      for (const ch of [...map.values()]) ch.close();
      await deadline(running, 'the loop ends once the map is empty');
    },
  };
}

/** An AsyncChat line server: STARTTLS upgrades (after `greeting`, if any), other lines are echoed as `echo LINE`. */
function upgradingChat(seen: string[], greeting: Buffer | null) {
  const c = certs();
  return class extends AsyncChat {
    constructor(sock: net.Socket, map: ReturnType<typeof testMap>) {
      super(sock, map);
      this.setTerminator('\r\n');
    }
    override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
    override foundTerminator(): void {
      const line = this.getData().toString();
      if (line !== 'STARTTLS') {
        this.push(`echo ${line}\r\n`);
        return;
      }
      // From an async producer: its bytes are made only after startTls() is called.
      let made = false;
      if (greeting !== null) this.pushWithProducer((async function* () { await Promise.resolve(); made = true; yield greeting; })());
      if (greeting !== null) seen.push(`greeting made before the call: ${String(made)}`);
      this.startTls({ key: c.key, cert: c.cert }).then(
        () => { seen.push(`secured ${this.tls?.protocol ?? '?'}`); },
        (error: unknown) => { seen.push(`failed ${String(error)}`); });
      seen.push(`upgrading ${String(this.upgrading)}`);
    }
  };
}

t.test('AsyncChat.startTls() hands TLS the ClientHello that came in the same read as the STARTTLS line', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const seen: string[] = [];
  const Chat = upgradingChat(seen, null);
  const server = await classicServer(t, (sock, map) => { new Chat(sock, map); });
  const sock = await rawClient(t, ['127.0.0.1', server.port]);
  // One write: the line, then the ClientHello behind it.
  const client = pipelinedClient(sock);
  t.teardown(() => { client.destroy(); });
  await deadline(handshaken(client), 'the handshake');
  client.write('hello\r\n');
  t.equal((await deadline(readExactly(client, 12), 'the encrypted echo')).toString(), 'echo hello\r\n');
  t.same(seen, ['upgrading true', 'secured TLSv1.3'], 'no line but STARTTLS was framed before the handshake');
  client.destroy();
  await server.stop();
});

t.test('AsyncChat.startTls() sends everything pushed before it in plaintext first, then speaks TLS', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const seen: string[] = [];
  const greeting = Buffer.concat([Buffer.from('220 go ahead\r\n'), Buffer.alloc(300_000, 'g')]);
  const Chat = upgradingChat(seen, greeting);
  const server = await classicServer(t, (sock, map) => { new Chat(sock, map); });
  const sock = await rawClient(t, ['127.0.0.1', server.port]);
  sock.write('STARTTLS\r\n');
  const plain = await deadline(readExactly(sock, greeting.length), 'the plaintext');
  t.ok(plain.equals(greeting), 'every pushed byte came in plaintext, in order');
  const client = tls.connect({ socket: sock, servername: 'localhost', ca: c.ca });
  t.teardown(() => { client.destroy(); });
  await deadline(handshaken(client), 'the handshake');
  client.write('after\r\n');
  t.equal((await deadline(readExactly(client, 12), 'the encrypted echo')).toString(), 'echo after\r\n');
  t.same(seen, ['greeting made before the call: false', 'upgrading true', 'secured TLSv1.3'], 'the upgrade waited for the queue');
  client.destroy();
  await server.stop();
});

t.test('AsyncChat.startTls() checks at once: a second upgrade and a closed chat throw', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  const errors: unknown[] = [];
  let chat: AsyncChat | null = null;
  const server = await classicServer(t, (sock, map) => {
    chat = new (class extends AsyncChat {
      override handleConnect(): void { /* accepted: open already */ }
    })(sock, map);
    chat.push(Buffer.alloc(300_000, 'q')); // queued: startTls() waits for it
    const first = chat.startTls({ key: c.key, cert: c.cert });
    first.catch(() => { /* the peer never speaks TLS: closed by the test */ });
    try { chat.startTls({ key: c.key, cert: c.cert }); } catch (error) { errors.push(error); }
  });
  const sock = await rawClient(t, ['127.0.0.1', server.port]);
  await deadline(readExactly(sock, 1), 'the chat exists');
  t.equal(errors.length, 1);
  t.type(errors[0], ChannelStateError, 'one upgrade at a time');
  const opened = chat as unknown as AsyncChat;
  opened.close();
  t.throws(() => opened.startTls({ key: c.key, cert: c.cert }), ChannelClosedError, 'a closed chat cannot upgrade');
  await server.stop();
});

t.test('AsyncChat.startTls() waiting for its queue calls no handleRead(), though the peer\'s TLS bytes wait unread', { skip }, async (t) => {
  if (!clientPresent(t, OPENSSL)) return;
  const c = certs();
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => { open = resolve; });
  let readsWhileQueued = 0;
  let queued = false;
  let settle: (outcome: string) => void = () => undefined;
  const upgraded = new Promise<string>((resolve) => { settle = resolve; });
  class Gated extends AsyncChat {
    constructor(sock: net.Socket, map: ReturnType<typeof testMap>) {
      super(sock, map);
      this.setTerminator('\r\n');
    }
    override handleRead(): HandlerResult {
      if (queued) readsWhileQueued++;
      return super.handleRead();
    }
    override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
    override foundTerminator(): void {
      if (this.getData().toString() !== 'STARTTLS') return;
      // An async producer that holds the queue until the test opens the gate (a reply still being made).
      this.pushWithProducer({ [Symbol.asyncIterator]: () => ({ next: async (): Promise<IteratorResult<Buffer>> => { await gate; return { done: true, value: undefined }; } }) });
      queued = true;
      this.startTls({ key: c.key, cert: c.cert }).then(() => { settle('secured'); }, (error: unknown) => { settle(`failed ${String(error)}`); });
    }
  }
  const server = await classicServer(t, (sock, map) => { new Gated(sock, map); });
  const sock = await rawClient(t, ['127.0.0.1', server.port]);
  const client = pipelinedClient(sock);
  t.teardown(() => { client.destroy(); });
  await deadline(new Promise<void>((resolve) => { const check = (): void => { if (queued) resolve(); else setImmediate(check); }; check(); }), 'the upgrade asked for');
  // Let the loop go round while the ClientHello waits unread and the queue holds the upgrade.
  for (let i = 0; i < 50; i++) await new Promise((resolve) => { setImmediate(resolve); });
  t.equal(readsWhileQueued, 0, 'no handleRead() while the upgrade waits in the queue (no busy loop)');
  open();
  await deadline(handshaken(client), 'the handshake');
  t.equal(await deadline(upgraded, 'the server side'), 'secured');
  client.destroy();
  await server.stop();
});
