// Failures in the classic adapter and the loop: refused connections and bad
// hosts (issue item 4), handlers, handleError(), readable() and writable()
// that throw or reject (item 7), and a peer that resets the connection while
// we write. In every case the failing channel goes through handleError() or
// handleClose() and the loop goes on serving the others; nothing reaches the
// process as an unhandled rejection or an uncaught exception.
import type net from 'node:net';
import t from 'tap';
import { Channel, loop } from '../../src/index.js';
import type { Address, ChannelEvent, LoopEvent } from '../../src/index.js';
import { acceptOne, families, listener, readExactly, testMap } from '../helpers/net.js';
import {
  Pinger, QuietDispatcher, Server, deadAddress, echoPair, echoServer, failOnUnhandled, settle,
} from '../helpers/dispatchers.js';
import { macrotask } from '../helpers/events.js';

failOnUnhandled(t);

// A label longer than 63 bytes: the resolver rejects the name itself, without
// asking any server, so the test stays on this machine.
const BAD_HOST = `${'a'.repeat(64)}.invalid`;
const NOT_FOUND = /^(ENOTFOUND|EAI_)/;
const DISCONNECTED = ['ECONNRESET', 'EPIPE'];

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A connecting dispatcher that records its handler calls and does not close on error. */
class Recorder extends QuietDispatcher {
  readonly calls: string[] = [];
  readonly errors: unknown[] = [];
  override handleConnect(): void { this.calls.push('connect'); }
  override handleRead(): void { this.calls.push('read'); }
  override handleWrite(): void { this.calls.push('write'); }
  override handleError(error: unknown): void {
    this.calls.push('error');
    this.errors.push(error);
  }
  override handleClose(): void {
    this.calls.push('close');
    this.close();
  }
}

const ipFamilies = families.filter((fam) => fam.family !== 'AF_UNIX');

for (const fam of families) {
  t.test(`Dispatcher.connect() to a refused address calls handleError() with ECONNREFUSED, then handleClose(), over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const address = await deadAddress(t, fam);
    const keeper = new Recorder(null, map);
    keeper.createSocket(fam.family);
    keeper.connect(address);
    const plain = new QuietDispatcher(null, map);
    plain.createSocket(fam.family);
    plain.connect(address);
    // Resolves once both are closed: no crash, nothing left behind.
    await loop({ map });
    t.same(keeper.calls, ['error', 'close'], 'one error, then handleClose, and nothing else');
    t.equal(codeOf(keeper.errors[0]), 'ECONNREFUSED');
    t.equal((keeper.errors[0] as NodeJS.ErrnoException).syscall, 'connect');
    t.equal(keeper.connected, false);
    t.equal(keeper.connecting, false, 'no longer connecting once refused');
    await t.rejects(keeper.opened, { code: 'ECONNREFUSED' });
    t.equal(plain.logs.length, 2);
    t.match(plain.logs[0], /^error: uncaptured error, closing channel <QuietDispatcher .*> \(Error ECONNREFUSED: connect ECONNREFUSED/,
      'default handleError() logs a one-line traceback');
    t.equal(plain.logs[1], 'warning: unhandled close event', 'then calls handleClose()');
    t.equal(plain.closing, true);
    t.equal(map.size, 0);
  });

  t.test(`loop() yields an error (operation connect, ECONNREFUSED), then close, for a refused connection over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const channel = new Channel(null, map);
    channel.createSocket(fam.family);
    channel.connect(await deadAddress(t, fam));
    const seen: LoopEvent[] = [];
    for await (const ev of loop({ map, timeout: 5 })) {
      seen.push(ev);
      if (ev.type === 'timeout') break;
    }
    t.same(seen.map((ev) => ev.type), ['error', 'close']);
    const [error] = seen;
    if (error?.type === 'error') {
      t.equal(error.operation, 'connect');
      t.equal(codeOf(error.error), 'ECONNREFUSED');
      t.equal(error.channel, channel);
    }
    t.equal(channel.closing, true, 'pulled after close, the channel is closed and the loop ends');
  });
}

for (const fam of families) {
  t.test(`loop() yields an error (operation listen, EADDRINUSE), then close, for an address in use over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const first = await listener(t, map, fam);
    const second = new Channel(null, map);
    t.teardown(() => { second.close(); });
    second.createSocket(fam.family);
    second.bind(first.addr as Address);
    second.listen(5);
    const seen: LoopEvent[] = [];
    for await (const ev of loop({ map, timeout: 5 })) {
      if (ev.type === 'timeout') break;
      if (ev.channel === second) seen.push(ev);
      if (ev.type === 'close') break;
    }
    t.same(seen.map((ev) => ev.type), ['error', 'close']);
    const [error] = seen;
    if (error?.type === 'error') {
      t.equal(error.operation, 'listen');
      t.equal(codeOf(error.error), 'EADDRINUSE');
    }
    t.equal(second.accepting, false);
    t.equal(first.accepting, true, 'the first listener is untouched');
  });
}

for (const fam of ipFamilies) {
  t.test(`Dispatcher.connect() to an unknown host calls handleError() with ENOTFOUND over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const client = new Recorder(null, map);
    client.createSocket(fam.family);
    client.connect([BAD_HOST, 80]);
    await loop({ map });
    t.same(client.calls, ['error', 'close']);
    t.match(codeOf(client.errors[0]), NOT_FOUND);
  });

  t.test(`loop() yields an error (operation connect, ENOTFOUND), then close, for an unknown host over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const channel = new Channel(null, map);
    channel.createSocket(fam.family);
    channel.connect([BAD_HOST, 80]);
    const seen: LoopEvent[] = [];
    for await (const ev of loop({ map, timeout: 5 })) {
      seen.push(ev);
      if (ev.type === 'timeout') break;
    }
    t.same(seen.map((ev) => ev.type), ['error', 'close']);
    const [error] = seen;
    if (error?.type === 'error') {
      t.equal(error.operation, 'connect');
      t.match(codeOf(error.error), NOT_FOUND);
    }
  });
}

for (const fam of families) {
  for (const mode of ['throws', 'rejects'] as const) {
    t.test(`Dispatcher.handleRead() that ${mode} goes to handleError(), and the loop goes on serving others, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      const boom = new Error('boom');
      const failed = settle<unknown>();
      let reads = 0;
      class Thrower extends QuietDispatcher {
        override writable(): boolean { return false; }
        override handleRead(): void | Promise<void> {
          reads++;
          this.recv(16);
          if (mode === 'throws') throw boom;
          return Promise.reject(boom);
        }
        override handleError(error: unknown): void | Promise<void> {
          failed.resolve(error);
          return super.handleError(error);
        }
      }
      let thrower: Thrower | null = null;
      const server = new Server(t, map, fam, (sock) => { thrower = new Thrower(sock, map); });
      await server.opened;
      const victim = new Pinger(map, fam, server.addr as Address);
      void victim.ping('x');
      const running = loop({ map });
      const ended = running.then();
      t.equal(await failed.promise, boom, 'handleError() gets what was thrown');
      t.equal(await other.ping('still served'), 'still served', 'the loop goes on');
      const failing = thrower as unknown as Thrower;
      t.equal(reads, 1);
      t.equal(failing.closing, true, 'default handleError() closed the channel');
      t.notOk(map.has(failing.id));
      t.match(failing.logs[0], /^error: uncaptured error, closing channel <Thrower .*> \(Error: boom \[.*dispatcher-errors\.test\.ts:\d+\]/);
      running.stop();
      await ended;
    });

    t.test(`Dispatcher.handleError() that ${mode} is logged and its channel closed, and the loop goes on, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      class Double extends QuietDispatcher {
        errors = 0;
        override writable(): boolean { return false; }
        override handleRead(): void {
          this.recv(16);
          throw new Error('first');
        }
        override handleError(): void | Promise<void> {
          this.errors++;
          if (mode === 'throws') throw new Error('second');
          return Promise.reject(new Error('second'));
        }
      }
      const accepted = settle<Double>();
      const server = new Server(t, map, fam, (sock) => { accepted.resolve(new Double(sock, map)); });
      await server.opened;
      const victim = new Pinger(map, fam, server.addr as Address);
      void victim.ping('x');
      const running = loop({ map });
      const ended = running.then();
      const failing = await accepted.promise;
      await failing.closed;
      t.equal(failing.errors, 1);
      t.notOk(map.has(failing.id), 'closed and out of the map');
      t.equal(failing.logs.length, 1);
      t.match(failing.logs[0], /^error: handleError failed, closing channel <Double .*> \(Error: second /);
      t.equal(await other.ping('still served'), 'still served', 'the loop goes on');
      running.stop();
      await ended;
    });
  }

  t.test(`Dispatcher.handleError() that does not close the channel leaves it in the loop over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await echoServer(t, map, fam);
    const errors: unknown[] = [];
    class Stubborn extends Pinger {
      #failed = false;
      override handleWrite(): void {
        if (!this.#failed) {
          this.#failed = true;
          throw new Error('once');
        }
        super.handleWrite();
      }
      override handleError(error: unknown): void { errors.push(error); }
    }
    const stubborn = new Stubborn(map, fam, server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    t.equal(await stubborn.ping('again'), 'again', 'still served after the failure');
    t.equal(errors.length, 1);
    t.match(errors[0], { message: 'once' });
    t.ok(map.has(stubborn.id), 'still in the map');
    t.equal(stubborn.closing, false);
    t.same(stubborn.logs, [], 'nothing logged');
    running.stop();
    await ended;
  });

  t.test(`Dispatcher.readable() that throws goes to handleError() over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const other = await echoPair(t, map, fam);
    class Picky extends QuietDispatcher {
      override writable(): boolean { return false; }
      override readable(): boolean {
        // Asked only once bytes wait to be read.
        throw new Error('readable broke');
      }
    }
    const accepted = settle<Picky>();
    const server = new Server(t, map, fam, (sock) => { accepted.resolve(new Picky(sock, map)); });
    await server.opened;
    const victim = new Pinger(map, fam, server.addr as Address);
    void victim.ping('x');
    const running = loop({ map });
    const ended = running.then();
    const picky = await accepted.promise;
    await picky.closed;
    t.match(picky.logs[0], /^error: uncaptured error, closing channel <Picky .*> \(Error: readable broke /);
    t.equal(await other.ping('still served'), 'still served', 'the loop goes on');
    running.stop();
    await ended;
  });

  t.test(`Dispatcher.readable() that throws ends a for-await iteration with its error over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const peer = new Channel(null, map);
    t.teardown(() => { peer.close(); });
    peer.createSocket(fam.family);
    peer.connect(server.addr as Address);
    const boom = new Error('readable broke');
    class Picky extends QuietDispatcher {
      override writable(): boolean { return false; }
      // Asked only once bytes wait to be read.
      override readable(): boolean { throw boom; }
    }
    let pair = server.accept();
    for await (const ev of server) {
      if (ev.type === 'accept' && (pair = server.accept()) !== null) break;
    }
    // In a map of its own, so no loop runs it: only the iteration below.
    const picky = new Picky((pair as [net.Socket, Address])[0], testMap(t));
    t.teardown(() => { picky.close(); });
    const seen: string[] = [];
    const iterating = (async () => {
      for await (const ev of picky) seen.push(ev.type);
    })();
    await macrotask();
    await peer.write('x'); // the iteration is waiting when the byte arrives
    await t.rejects(iterating, boom, 'the waiting next() rejects with the error');
    t.same(seen, [], 'no event before it');
    const again = picky[Symbol.asyncIterator]();
    await t.rejects(again.next(), boom, 'a new iteration finds the error at once');
  });

  t.test(`Dispatcher.writable() that throws goes to handleError() over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => { new QuietDispatcher(sock, map).writable = (): boolean => false; });
    await server.opened;
    const boom = new Error('writable broke');
    const client = new Recorder(null, map);
    client.writable = (): boolean => { throw boom; };
    client.handleError = function (this: Recorder, error: unknown): void {
      this.calls.push('error');
      this.errors.push(error);
      this.close();
    };
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    await client.closed;
    running.stop();
    await ended;
    t.same(client.calls, ['connect', 'error']);
    t.equal(client.errors[0], boom);
  });

  t.test(`Dispatcher.handleClose(), not handleError(), ends a client whose peer resets the connection mid-write over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const data = Buffer.alloc(128);
    class Resetter extends QuietDispatcher {
      override writable(): boolean { return false; }
      override handleRead(): void {
        if ((this.recv(128)?.length ?? 0) > 0) this.abort();
      }
    }
    const server = new Server(t, map, fam, (sock) => { new Resetter(sock, map); });
    await server.opened;
    const closed = settle();
    let writes = 0;
    class Writer extends Recorder {
      override handleWrite(): void {
        writes++;
        this.send(data);
      }
      override handleRead(): void { this.recv(65536); }
      override handleClose(): void {
        super.handleClose();
        closed.resolve(undefined);
      }
    }
    const client = new Writer(null, map);
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    await closed.promise;
    running.stop();
    await ended;
    t.same(client.calls, ['connect', 'close'], 'handleClose(), and no handleError()');
    t.ok(writes > 1, 'was writing when the peer reset');
    t.equal(client.closing, true);
  });

  t.test(`loop() ends a client whose peer resets the connection mid-write with close, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const serverMap = testMap(t);
    const server = await listener(t, serverMap, fam);
    const client = new Channel(null, map);
    t.teardown(() => { client.close(); });
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    client.writeInterest = true;
    void acceptOne(t, server, serverMap).then(async (peer) => {
      await readExactly(peer, 128);
      peer.abort();
    });
    const data = Buffer.alloc(128);
    const seen: ChannelEvent[] = [];
    for await (const ev of loop({ map, timeout: 5 })) {
      if (ev.type === 'timeout') break;
      seen.push(ev);
      if (ev.type === 'write') client.send(data);
      if (ev.type === 'read') client.recv(65536);
    }
    const types = seen.map((ev) => ev.type);
    t.equal(types[0], 'connect');
    t.equal(types.filter((type) => type === 'connect').length, 1);
    t.equal(types.at(-1), 'close', 'close is the last event');
    t.equal(types.filter((type) => type === 'close').length, 1);
    for (const ev of seen) {
      if (ev.type === 'error') {
        t.ok(DISCONNECTED.includes(codeOf(ev.error) ?? ''), `a disconnect error (${codeOf(ev.error)})`);
        t.ok(ev.operation === 'write' || ev.operation === 'read', `in ${ev.operation}`);
      }
    }
    t.equal(client.closing, true);
  });
}
