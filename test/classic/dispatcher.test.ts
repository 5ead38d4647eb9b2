// The classic adapter's scenarios, after Python's test_asyncore: each handler
// fires when it should and only then, state fields move as documented, the
// default handlers log and close, and a port in use reports EADDRINUSE.
// Every test runs its dispatchers under `await loop({ map })`.
import net from 'node:net';
import t from 'tap';
import { Dispatcher, loop } from '../../src/index.js';
import type { Address, ChannelMap } from '../../src/index.js';
import { families, testMap } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';
import { QuietDispatcher, Server, failOnUnhandled, settle } from '../helpers/dispatchers.js';

failOnUnhandled(t);

/**
 * A client dispatcher that connects at once and records its handler calls.
 * Not writable unless a test says so, so that write events do not crowd the
 * events a test waits for.
 */
class Client extends QuietDispatcher {
  readonly calls: string[] = [];
  constructor(map: ChannelMap, fam: FamilyCase, address: Address) {
    super(null, map);
    this.createSocket(fam.family);
    this.connect(address);
  }
  override writable(): boolean { return false; }
  override handleConnect(): void { this.calls.push('connect'); }
  override handleExpt(): void { this.calls.push('expt'); }
  override handleError(error: unknown): void {
    this.calls.push('error');
    throw error;
  }
}

function count(calls: readonly string[], name: string): number {
  return calls.filter((c) => c === name).length;
}

/** Captures what `write` receives on a stream while `fn` runs. */
function capture(stream: NodeJS.WriteStream, fn: () => void): string {
  const original = Object.getOwnPropertyDescriptor(stream, 'write');
  let out = '';
  stream.write = (chunk: string | Uint8Array): boolean => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  };
  try {
    fn();
  } finally {
    if (original === undefined) delete (stream as { write?: unknown }).write;
    else Object.defineProperty(stream, 'write', original);
  }
  return out;
}

t.test('Dispatcher.readable() and writable() default to true', async (t) => {
  const d = new Dispatcher(null, testMap(t));
  t.equal(d.readable(), true);
  t.equal(d.writable(), true);
  t.equal(d.readInterest, true, 'readInterest reads readable()');
  t.equal(d.writeInterest, true, 'writeInterest reads writable()');
  t.throws(() => { d.readInterest = false; }, TypeError);
  t.throws(() => { d.writeInterest = false; }, TypeError);
});

t.test('Dispatcher.log() writes "log: <message>" to stderr', async (t) => {
  const d = new Dispatcher(null, testMap(t));
  const out = capture(process.stderr, () => {
    d.log('Lovely spam! Wonderful spam!');
    d.log("I don't like spam!");
  });
  t.equal(out, "log: Lovely spam! Wonderful spam!\nlog: I don't like spam!\n");
});

t.test('Dispatcher.logInfo() prints "<type>: <message>" to stdout unless the type is in ignoreLogTypes', async (t) => {
  const d = new Dispatcher(null, testMap(t));
  t.same([...Dispatcher.ignoreLogTypes], ['warning'], 'warnings are ignored by default');
  const out = capture(process.stdout, () => {
    d.logInfo('Have you got anything without spam?', 'EGGS');
    d.logInfo("Why can't she have egg bacon spam and sausage?");
    d.logInfo('hidden', 'warning');
    d.logInfo("THAT'S got spam in it!", 'SPAM');
  });
  t.equal(out, [
    'EGGS: Have you got anything without spam?',
    "info: Why can't she have egg bacon spam and sausage?",
    "SPAM: THAT'S got spam in it!",
    '',
  ].join('\n'));
  Dispatcher.ignoreLogTypes.delete('warning');
  t.teardown(() => { Dispatcher.ignoreLogTypes.add('warning'); });
  t.equal(capture(process.stdout, () => { d.logInfo('shown', 'warning'); }), 'warning: shown\n');
});

t.test('Dispatcher.handleExpt(), handleRead(), handleWrite() and handleConnect() log unhandled warnings', async (t) => {
  const d = new QuietDispatcher(null, testMap(t));
  d.handleExpt();
  d.handleRead();
  d.handleWrite();
  d.handleConnect();
  t.same(d.logs, [
    'warning: unhandled incoming priority event',
    'warning: unhandled read event',
    'warning: unhandled write event',
    'warning: unhandled connect event',
  ]);
});

for (const fam of families) {
  t.test(`Dispatcher.handleConnect() is called once when connected, whatever writable() says, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => {
      const peer = new QuietDispatcher(sock, map);
      peer.writable = (): boolean => false;
      peer.handleRead = (): void => { peer.recv(16); };
      peer.send('x');
    });
    await server.opened;
    const silentDone = settle();
    const eagerDone = settle();
    class Silent extends Client {
      writes = 0;
      override handleWrite(): void { this.writes++; }
      override handleRead(): void {
        // The server's byte comes after the connection was made.
        if (this.recv(16)?.length === 1) silentDone.resolve(undefined);
      }
    }
    class Eager extends Client {
      writes = 0;
      override writable(): boolean { return true; }
      override handleWrite(): void {
        if (++this.writes === 20) eagerDone.resolve(undefined);
      }
      override handleRead(): void { this.recv(16); }
    }
    const silent = new Silent(map, fam, server.addr as Address);
    const eager = new Eager(map, fam, server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    await Promise.all([silentDone.promise, eagerDone.promise]);
    running.stop();
    await ended;
    t.same(silent.calls, ['connect'], 'writable() false: one connect');
    t.equal(silent.writes, 0, 'and no write');
    t.same(eager.calls, ['connect'], 'writable() true: one connect');
    t.equal(eager.writes, 20, 'then write events');
  });

  t.test(`Dispatcher.handleAccept() is called when a client connects over ${fam.name}`, async (t) => {
    const map = testMap(t);
    class Listener extends QuietDispatcher {
      accepts = 0;
      override handleAccept(): void {
        this.accepts++;
        this.accept()?.[0].destroy();
      }
    }
    const server = new Listener(null, map);
    server.createSocket(fam.family);
    server.bind(fam.listenAddress(t));
    server.listen(5);
    await server.opened;
    const closed = settle();
    class Watcher extends Client {
      override handleRead(): void { this.recv(16); }
      override handleClose(): void {
        this.calls.push('close');
        this.close();
        closed.resolve(undefined);
      }
    }
    const client = new Watcher(map, fam, server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    await closed.promise;
    server.close();
    await ended;
    t.equal(server.accepts, 1, 'one connection, one handleAccept');
    t.same(client.calls, ['connect', 'close']);
    t.equal(map.size, 0);
  });

  t.test(`Dispatcher.handleAccept() default passes accept()'s result to handleAccepted() over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const accepted = settle<[net.Socket, Address]>();
    const server = new Server(t, map, fam, (sock, addr) => {
      accepted.resolve([sock, addr]);
      sock.destroy();
    });
    await server.opened;
    const client = new Client(map, fam, server.addr as Address);
    client.handleRead = function (this: Client): void { this.recv(16); };
    client.handleClose = function (this: Client): void { this.close(); };
    const running = loop({ map });
    const ended = running.then();
    const [sock, addr] = await accepted.promise;
    t.ok(sock instanceof net.Socket, 'a net.Socket');
    if (fam.family === 'AF_UNIX') {
      t.equal(addr, '', 'a Unix peer has no address');
    } else {
      const local = (client.socket as net.Socket).localPort;
      t.same(addr, [fam.name === 'IPv4' ? '127.0.0.1' : '::1', local], "the peer's host and port");
    }
    await client.closed;
    server.close();
    await ended;
  });

  t.test(`Dispatcher.handleAccepted() default logs the connection as unhandled and closes it over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new QuietDispatcher(null, map);
    server.createSocket(fam.family);
    server.bind(fam.listenAddress(t));
    server.listen(5);
    await server.opened;
    const client = new Client(map, fam, server.addr as Address);
    client.handleRead = function (this: Client): void {
      this.calls.push('read');
      t.equal(this.recv(16)?.length, 0, 'the peer closed without a byte');
    };
    client.handleClose = function (this: Client): void {
      this.calls.push('close');
      this.close();
      server.close();
    };
    await loop({ map });
    t.equal(server.logs.length, 1);
    const from = fam.family === 'AF_UNIX' ? '' : `${fam.name === 'IPv4' ? '127.0.0.1' : '::1'}:\\d+`;
    t.match(server.logs[0], new RegExp(`^warning: unhandled accepted event from ${from}$`));
    t.same(client.calls, ['connect', 'read', 'close'], 'the client saw the end');
  });

  t.test(`Dispatcher.handleRead() is called when data arrives over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const peers: QuietDispatcher[] = [];
    const server = new Server(t, map, fam, (sock) => {
      const peer = new QuietDispatcher(sock, map);
      peers.push(peer);
      peer.writable = (): boolean => false;
      peer.handleRead = (): void => { peer.recv(4096); };
      peer.handleExpt = (): void => { t.fail('handleExpt() called on the server side'); };
      peer.send(Buffer.alloc(1024, 'x'));
    });
    await server.opened;
    let received = 0;
    const client = new Client(map, fam, server.addr as Address);
    client.handleRead = function (this: Client): void {
      this.calls.push('read');
      const data = this.recv(100);
      t.ok(data !== null && data.length <= 100, 'recv(100) returns at most 100 bytes');
      received += data?.length ?? 0;
      if (received === 1024) {
        this.close();
        server.close();
        for (const peer of peers) peer.close();
      }
    };
    await loop({ map });
    t.equal(received, 1024);
    t.equal(client.calls[0], 'connect');
    t.ok(count(client.calls, 'read') >= 11, 'read until every byte came');
    t.equal(count(client.calls, 'expt'), 0, 'handleExpt() never called');
    t.equal(count(client.calls, 'error'), 0);
  });

  t.test(`Dispatcher.handleWrite() is called while writable() is true, and only then, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const peerSaw = settle();
    const server = new Server(t, map, fam, (sock) => {
      const peer = new QuietDispatcher(sock, map);
      peer.writable = (): boolean => false;
      let got = '';
      peer.handleRead = (): void => {
        got += peer.recv(16)?.toString() ?? '';
        if (got === 'done') peerSaw.resolve(undefined);
      };
    });
    await server.opened;
    const client = new Client(map, fam, server.addr as Address);
    let on = true;
    client.writable = (): boolean => on;
    client.handleWrite = function (this: Client): void {
      this.calls.push('write');
      if (this.calls.length === 4) {
        on = false;
        this.send('done');
      }
    };
    const running = loop({ map });
    const ended = running.then();
    // By the time the peer has the bytes, the loop went round many times.
    await peerSaw.promise;
    running.stop();
    await ended;
    t.same(client.calls, ['connect', 'write', 'write', 'write'], 'no write once writable() is false');
  });

  t.test(`Dispatcher.handleClose() is called once when the peer closes over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => { new QuietDispatcher(sock, map).close(); });
    await server.opened;
    const client = new Client(map, fam, server.addr as Address);
    client.handleRead = function (this: Client): void {
      this.calls.push('read');
      t.equal(this.recv(1024)?.length, 0, 'the end of stream');
    };
    client.handleClose = function (this: Client): void {
      this.calls.push('close');
      server.close();
      // Not closing here: the loop pulls the channel again, which closes it
      // instead of reporting a second close.
    };
    const ended = loop({ map }).then();
    await client.closed;
    await ended;
    t.same(client.calls, ['connect', 'read', 'close'], 'read the end, then one handleClose');
    t.equal(client.closing, true);
    t.equal(map.size, 0);
  });

  // Python's test_handle_close: once recv() took the end of stream, close
  // comes next even though the connection could still be written to.
  t.test(`Dispatcher.handleClose() is called after the end of stream even while writable() is true over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => { new QuietDispatcher(sock, map).close(); });
    await server.opened;
    const finished = settle();
    let eof = false;
    let writesAfterEof = 0;
    const client = new Client(map, fam, server.addr as Address);
    client.writable = (): boolean => true;
    client.handleWrite = function (this: Client): void {
      if (eof && ++writesAfterEof === 1000) {
        this.close();
        finished.resolve(undefined);
      }
    };
    client.handleRead = function (this: Client): void {
      if (this.recv(16)?.length === 0) eof = true;
    };
    client.handleClose = function (this: Client): void {
      this.calls.push('close');
      this.close();
      finished.resolve(undefined);
    };
    const running = loop({ map });
    const ended = running.then();
    await finished.promise;
    running.stop();
    await ended;
    t.equal(client.calls.at(-1), 'close', 'handleClose() came');
    t.equal(writesAfterEof, 0, 'no write event after the end of stream was taken');
  });

  t.test(`Dispatcher.handleClose() default logs and closes the channel over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => {
      const peer = new QuietDispatcher(sock, map);
      peer.send('bye');
      peer.close();
    });
    await server.opened;
    let got = '';
    const client = new Client(map, fam, server.addr as Address);
    client.handleRead = function (this: Client): void { got += this.recv(1024)?.toString() ?? ''; };
    const running = loop({ map });
    const ended = running.then();
    await client.closed;
    server.close();
    await ended;
    t.equal(got, 'bye', 'every byte before the end was read');
    t.same(client.logs, ['warning: unhandled close event']);
    t.equal(client.closing, true);
    t.equal(client.connected, false);
    t.notOk(map.has(client.id), 'left the map');
  });

  t.test(`Dispatcher.connected, accepting, connecting, closing and addr move as documented over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const accepted = settle<QuietDispatcher>();
    const server = new Server(t, map, fam, (sock) => { accepted.resolve(new QuietDispatcher(sock, map)); });
    t.equal(server.connected, false);
    t.equal(server.accepting, true, 'accepting once listen() was called');
    t.equal(server.connecting, false);
    await server.opened;
    const serverAddr = server.addr as Address;
    if (typeof serverAddr === 'string') t.ok(serverAddr.endsWith('s.sock'), 'the bound path');
    else t.ok(serverAddr[1] > 0, 'the real port once opened');

    const connected = settle();
    const client = new Client(map, fam, serverAddr);
    client.handleConnect = function (this: Client): void {
      t.equal(this.connected, true, 'connected in handleConnect');
      t.equal(this.connecting, false);
      connected.resolve(undefined);
    };
    t.equal(client.connected, false, 'not connected right after connect()');
    t.equal(client.connecting, true);
    t.equal(client.accepting, false);
    t.same(client.addr, serverAddr, "addr is the peer's address");

    const running = loop({ map });
    const ended = running.then();
    await connected.promise;
    const peer = await accepted.promise;
    t.equal(peer.connected, true, 'an accepted dispatcher is connected at once');
    t.equal(peer.accepting, false);
    t.equal(peer.connecting, false);
    if (typeof serverAddr === 'string') t.equal(peer.addr, '');
    else t.same(peer.addr, [serverAddr[0], (client.socket as net.Socket).localPort]);
    t.equal(server.connected, false, 'a listener is never connected');
    t.equal(server.accepting, true);

    client.close();
    t.equal(client.connected, false, 'closed: not connected');
    t.equal(client.accepting, false);
    t.equal(client.closing, true);
    t.equal(server.accepting, true, 'the listener goes on');
    server.close();
    t.equal(server.accepting, false, 'stopped listening');
    t.equal(server.closing, true);
    t.equal(server.connected, false);
    peer.close();
    await ended;
  });

  t.test(`Dispatcher.listen() on an address in use reports EADDRINUSE to handleError, then closes, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => { sock.destroy(); });
    await server.opened;
    const errors: unknown[] = [];
    class Second extends QuietDispatcher {
      override handleError(error: unknown): void {
        errors.push(error);
        super.handleError(error);
      }
    }
    const second = new Second(null, map);
    second.createSocket(fam.family);
    second.bind(server.addr as Address);
    second.listen(5);
    const running = loop({ map });
    const ended = running.then();
    await second.closed;
    t.equal(errors.length, 1);
    t.equal((errors[0] as NodeJS.ErrnoException).code, 'EADDRINUSE');
    t.equal(second.accepting, false);
    t.equal(second.closing, true, 'default handleError() closed it');
    t.match(second.logs[0], /^error: uncaptured error, closing channel <Second .*> \(Error EADDRINUSE: /);
    t.equal(second.logs[1], 'warning: unhandled close event', 'through handleClose()');
    t.equal(server.accepting, true, 'the first listener is untouched');
    await t.rejects(second.opened, { code: 'EADDRINUSE' });
    server.close();
    await ended;
  });
}
