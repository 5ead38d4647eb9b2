// Faults in the handlers of the classic adapter under `await loop()`: the
// failing channel goes through handleError() (whose default logs and closes
// it), and every other channel of the same loop keeps being served, proved by
// a second connection echoing before and after the fault; ExitNow ends the
// loop, and a new loop() over the same map goes on where it stopped.
//
// Already covered by dispatcher-errors.test.ts, and not repeated: handleRead()
// that throws or rejects, handleError() that throws or rejects, a handleError()
// that does not close, readable() that throws (each with another channel
// served), writable() that throws (without that check: added here). By
// loop.test.ts: ExitNow thrown or rejected by handleRead(), thrown by
// handleError() and by readable().
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { ExitNow, loop } from '../../src/index.js';
import type { Address, ChannelMap, HandlerResult } from '../../src/index.js';
import { families, testMap } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';
import {
  QuietDispatcher, Server, echoPair, echoServer, failOnUnhandled, settle,
} from '../helpers/dispatchers.js';
import type { Pinger } from '../helpers/dispatchers.js';
import { deadline } from '../helpers/deadline.js';

failOnUnhandled(t);

const [ipv4] = families;
if (ipv4 === undefined) throw new Error('No families');

type Mode = 'throws' | 'rejects';
const MODES: readonly Mode[] = ['throws', 'rejects'];

/** Fails the way a handler does: a synchronous throw, or a rejected promise. */
function fail(mode: Mode, error: Error): HandlerResult {
  if (mode === 'throws') throw error;
  return Promise.reject(error);
}

/** A dispatcher that records its handler calls and what reached handleError(), then runs the default. */
class Faulty extends QuietDispatcher {
  readonly calls: string[] = [];
  readonly errors: unknown[] = [];
  override handleError(error: unknown): HandlerResult {
    this.calls.push('handleError');
    this.errors.push(error);
    return super.handleError(error);
  }
}

/** A plain client of `address`, destroyed at teardown. */
async function plainClient(t: Test, address: Address): Promise<net.Socket> {
  const sock = typeof address === 'string'
    ? net.connect({ path: address })
    : net.connect({ host: address[0], port: address[1] });
  t.teardown(() => { sock.destroy(); });
  sock.on('error', () => { /* the server may go away */ });
  // A connection the listener turns away may be reset before it reports connect.
  await new Promise<void>((resolve) => { sock.once('connect', resolve).once('close', () => { resolve(); }); });
  return sock;
}

/** Runs `await loop({ map })` in the background; stopped and awaited at teardown. */
function running(t: Test, map: ChannelMap): { ended: Promise<void>; stop(): void } {
  const run = loop({ map });
  const ended = run.then();
  t.teardown(async () => {
    run.stop();
    await ended.catch(() => undefined);
  });
  return { ended, stop: () => { run.stop(); } };
}

/** One echo round trip of `other`, bounded. */
function served(other: Pinger, text: string): Promise<string> {
  return deadline(other.ping(text), `the echo of ${JSON.stringify(text)}`);
}

const uncaptured = (name: string, message: string): RegExp =>
  new RegExp(`^error: uncaptured error, closing channel <${name} [^>]*> \\(Error: ${message}`);

// ---- each handler that fails: handleError(), default close, the others served ----

for (const fam of families) {
  for (const mode of MODES) {
    t.test(`Dispatcher.handleConnect() that ${mode}: handleError(), closed, and the loop serves the others, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      const server = await echoServer(t, map, fam);
      running(t, map);
      t.equal(await served(other, 'before'), 'before');
      const boom = new Error('connect boom');
      class C extends Faulty {
        override writable(): boolean { return false; }
        override handleConnect(): HandlerResult {
          this.calls.push('handleConnect');
          return fail(mode, boom);
        }
      }
      const c = new C(null, map);
      c.createSocket(fam.family);
      c.connect(server.addr as Address);
      await deadline(c.closed, 'the close');
      t.same(c.calls, ['handleConnect', 'handleError']);
      t.equal(c.errors[0], boom, 'handleError() gets what was thrown');
      t.match(c.logs[0], uncaptured('C', 'connect boom'), 'the default logs a one-line traceback');
      t.equal(c.logs[1], 'warning: unhandled close event', 'then calls handleClose(), which closes');
      t.notOk(map.has(c.id));
      t.equal(await served(other, 'after'), 'after', 'the other connection is still served');
    });

    t.test(`Dispatcher.handleWrite() that ${mode}: handleError(), closed, and the loop serves the others, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      const server = await echoServer(t, map, fam);
      running(t, map);
      t.equal(await served(other, 'before'), 'before');
      const boom = new Error('write boom');
      class C extends Faulty {
        override handleConnect(): void { /* writable() is true: handleWrite() comes next */ }
        override handleWrite(): HandlerResult {
          this.calls.push('handleWrite');
          return fail(mode, boom);
        }
      }
      const c = new C(null, map);
      c.createSocket(fam.family);
      c.connect(server.addr as Address);
      await deadline(c.closed, 'the close');
      t.same(c.calls, ['handleWrite', 'handleError'], 'one failure, one handleError()');
      t.equal(c.errors[0], boom);
      t.match(c.logs[0], uncaptured('C', 'write boom'));
      t.notOk(map.has(c.id));
      t.equal(await served(other, 'after'), 'after', 'the other connection is still served');
    });

    t.test(`Dispatcher.handleClose() that ${mode}: handleError(), whose default calls handleClose() again, and the loop serves the others, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      // A server that ends every connection at once.
      const server = new Server(t, map, fam, (sock) => { sock.destroy(); });
      await server.opened;
      running(t, map);
      t.equal(await served(other, 'before'), 'before');
      const boom = new Error('close boom');
      class C extends Faulty {
        override writable(): boolean { return false; }
        override handleConnect(): void { /* nothing to send */ }
        override handleRead(): void {
          this.calls.push(`handleRead:${this.recv(100)?.length}`);
        }
        override handleClose(): HandlerResult {
          this.calls.push('handleClose');
          if (this.calls.filter((call) => call === 'handleClose').length === 1) return fail(mode, boom);
          this.close();
        }
      }
      const c = new C(null, map);
      c.createSocket(fam.family);
      c.connect(server.addr as Address);
      await deadline(c.closed, 'the close');
      t.same(c.calls, ['handleRead:0', 'handleClose', 'handleError', 'handleClose'],
        'the loop called handleClose() once; the default handleError() called it again');
      t.equal(c.errors[0], boom);
      t.match(c.logs[0], uncaptured('C', 'close boom'));
      t.equal(c.logs.length, 1);
      t.notOk(map.has(c.id));
      t.equal(await served(other, 'after'), 'after', 'the other connection is still served');
    });

    t.test(`Dispatcher.handleAccepted() that ${mode}: handleError(), whose default closes the listener; established connections are still served, over ${fam.name}`, async (t) => {
      const map = testMap(t);
      const other = await echoPair(t, map, fam);
      const boom = new Error('accepted boom');
      const failed = settle<unknown>();
      class Listener extends Faulty {
        override handleAccepted(sock: net.Socket): HandlerResult {
          this.calls.push('handleAccepted');
          // Not wrapped in a channel: the socket is the handler's to close.
          t.teardown(() => { sock.destroy(); });
          return fail(mode, boom);
        }
        override handleError(error: unknown): HandlerResult {
          failed.resolve(error);
          return super.handleError(error);
        }
      }
      const server = new Listener(null, map);
      t.teardown(() => { server.close(); });
      server.createSocket(fam.family);
      server.bind(fam.listenAddress(t));
      server.listen(5);
      await server.opened;
      running(t, map);
      t.equal(await served(other, 'before'), 'before');
      await plainClient(t, server.addr as Address);
      t.equal(await failed.promise, boom, 'handleError() gets what was thrown');
      await deadline(server.closed, 'the close');
      t.same(server.calls, ['handleAccepted', 'handleError']);
      t.match(server.logs[0], uncaptured('Listener', 'accepted boom'));
      t.equal(server.accepting, false, 'the default handleError() closed the listener');
      t.notOk(map.has(server.id));
      t.equal(await served(other, 'after'), 'after', 'connections accepted before are still served');
    });
  }

  t.test(`Dispatcher.writable() that throws: handleError(), closed, and the loop serves the others, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const other = await echoPair(t, map, fam);
    const server = await echoServer(t, map, fam);
    running(t, map);
    t.equal(await served(other, 'before'), 'before');
    const boom = new Error('writable boom');
    class C extends Faulty {
      override writable(): boolean {
        if (this.connected) throw boom;
        return false;
      }
      override handleConnect(): void { this.calls.push('handleConnect'); }
    }
    const c = new C(null, map);
    c.createSocket(fam.family);
    c.connect(server.addr as Address);
    await deadline(c.closed, 'the close');
    t.same(c.calls, ['handleConnect', 'handleError']);
    t.equal(c.errors[0], boom);
    t.match(c.logs[0], uncaptured('C', 'writable boom'));
    t.notOk(map.has(c.id));
    t.equal(await served(other, 'after'), 'after', 'the other connection is still served');
  });
}

// ---- what is thrown need not be an Error --------------------------------------

const ODD_VALUES: readonly [string, unknown, RegExp][] = [
  ['a string', 'oops', /\(string: oops\)$/],
  ['undefined', undefined, /\(undefined: undefined\)$/],
  ['null', null, /\(object: null\)$/],
  ['a number', 42, /\(number: 42\)$/],
];

for (const [name, value, logged] of ODD_VALUES) {
  for (const mode of MODES) {
    t.test(`Dispatcher.handleRead() that ${mode} ${name}: handleError() gets it as is, and the loop goes on`, async (t) => {
      const map = testMap(t);
      const fam = ipv4;
      const other = await echoPair(t, map, fam);
      const accepted = settle<Faulty>();
      class Odd extends Faulty {
        override writable(): boolean { return false; }
        override handleRead(): HandlerResult {
          this.recv(100);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a handler may reject with anything
          if (mode === 'rejects') return Promise.reject(value);
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- a handler may throw anything
          throw value;
        }
      }
      const server = new Server(t, map, fam, (sock) => { accepted.resolve(new Odd(sock, map)); });
      await server.opened;
      running(t, map);
      t.equal(await served(other, 'before'), 'before');
      (await plainClient(t, server.addr as Address)).write('x');
      const odd = await accepted.promise;
      await deadline(odd.closed, 'the close');
      t.same(odd.calls, ['handleError']);
      t.equal(odd.errors.length, 1);
      t.equal(odd.errors[0], value, 'the very value thrown');
      t.match(odd.logs[0], logged, 'the default logs its type and value');
      t.equal(await served(other, 'after'), 'after', 'the other connection is still served');
    });
  }
}

// ---- many failing channels at once ----------------------------------------------

t.test('Channels failing on every event, closed or kept by handleError(), do not stop the loop serving the others', async (t) => {
  const map = testMap(t);
  const fam = ipv4;
  const other = await echoPair(t, map, fam);
  const boom = new Error('every time');
  // Keepers fail on every round without consuming anything and keep the
  // channel: the read is reported again at once, forever.
  class Keeper extends QuietDispatcher {
    failures = 0;
    readonly spinning = settle();
    override writable(): boolean { return false; }
    override handleRead(): void { throw boom; }
    override handleError(): void {
      if (++this.failures === 10) this.spinning.resolve(undefined);
    }
  }
  class Closer extends Faulty {
    override writable(): boolean { return false; }
    override handleRead(): HandlerResult {
      this.recv(100);
      return fail('rejects', boom);
    }
  }
  const keepers: Keeper[] = [];
  const closers: Closer[] = [];
  const server = new Server(t, map, fam, (sock) => {
    if (keepers.length <= closers.length) keepers.push(new Keeper(sock, map));
    else closers.push(new Closer(sock, map));
  });
  await server.opened;
  running(t, map);
  for (let i = 0; i < 8; i++) (await plainClient(t, server.addr as Address)).write('x');
  await Promise.all(keepers.map((k) => k.spinning.promise));
  t.equal(keepers.length, 4);
  await Promise.all(closers.map((c) => c.closed));
  t.equal(closers.length, 4);
  t.same(closers.map((c) => c.errors.length), [1, 1, 1, 1], 'each closer failed once and was closed');
  const before = keepers.map((k) => k.failures);
  const replies: string[] = [];
  for (let i = 0; i < 20; i++) replies.push(await served(other, `ping ${i}`));
  t.same(replies, replies.map((_, i) => `ping ${i}`), 'twenty round trips while four channels fail on every round');
  t.ok(keepers.every((k, i) => k.failures > (before[i] ?? 0)), 'the keepers kept failing meanwhile: the loop interleaves');
  t.ok(keepers.every((k) => map.has(k.id) && !k.closing), 'a handleError() that does not close keeps its channel');
  for (const k of keepers) k.close();
});

t.test('A handler\'s promise that rejects late holds only its own channel; its rejection still reaches handleError()', async (t) => {
  const map = testMap(t);
  const fam = ipv4;
  const other = await echoPair(t, map, fam);
  const gate = settle();
  const started = settle();
  const boom = new Error('late');
  class Slow extends Faulty {
    reads = 0;
    override writable(): boolean { return false; }
    override async handleRead(): Promise<void> {
      this.reads++;
      this.recv(1);
      started.resolve(undefined);
      await gate.promise;
      throw boom;
    }
  }
  const accepted = settle<Slow>();
  const server = new Server(t, map, fam, (sock) => { accepted.resolve(new Slow(sock, map)); });
  await server.opened;
  running(t, map);
  const peer = await plainClient(t, server.addr as Address);
  peer.write('ab'); // two bytes, read one at a time: a second read is due at once
  const slow = await accepted.promise;
  await started.promise;
  t.equal(await served(other, 'while pending'), 'while pending', 'the others are served while the promise is pending');
  t.equal(slow.reads, 1, 'its own next event waits for the promise');
  t.same(slow.errors, []);
  gate.resolve(undefined);
  await deadline(slow.closed, 'the close');
  t.same(slow.errors, [boom], 'the late rejection went to handleError()');
  t.equal(slow.reads, 1, 'closed by the default handleError() before its next read');
  t.equal(await served(other, 'after'), 'after');
});

// ---- ExitNow ---------------------------------------------------------------------

type ExitSite = 'writable()' | 'handleConnect()' | 'handleWrite()' | 'handleAccepted()' | 'an async handleError()';
const EXIT_SITES: readonly ExitSite[] = ['writable()', 'handleConnect()', 'handleWrite()', 'handleAccepted()', 'an async handleError()'];

for (const site of EXIT_SITES) {
  t.test(`await loop() rejects with an ExitNow from ${site}; a new loop() over the map goes on, nothing lost`, async (t) => {
    const map = testMap(t);
    const fam: FamilyCase = ipv4;
    const other = await echoPair(t, map, fam);
    const server = await echoServer(t, map, fam);
    const exit = new ExitNow(site);
    let thrown = false;
    const once = (): boolean => {
      if (thrown) return false;
      thrown = true;
      return true;
    };
    class Quitter extends QuietDispatcher {
      override writable(): boolean {
        if (site === 'writable()' && this.connected && once()) throw exit;
        return site === 'handleWrite()' && !thrown;
      }
      override handleConnect(): void {
        if (site === 'handleConnect()' && once()) throw exit;
        if (site === 'an async handleError()') this.send('x');
      }
      override handleWrite(): void {
        if (once()) throw exit;
      }
      override handleRead(): void {
        this.recv(100);
        if (site === 'an async handleError()' && !thrown) throw new Error('first');
      }
      override handleAccepted(sock: net.Socket): void {
        t.teardown(() => { sock.destroy(); });
        if (once()) throw exit;
      }
      override handleError(): Promise<void> {
        once();
        return Promise.reject(exit);
      }
    }
    const quitter = new Quitter(null, map);
    t.teardown(() => { quitter.close(); });
    quitter.createSocket(fam.family);
    if (site === 'handleAccepted()') {
      quitter.bind(fam.listenAddress(t));
      quitter.listen(5);
      await quitter.opened;
      await plainClient(t, quitter.addr as Address);
    } else {
      quitter.connect(server.addr as Address);
    }
    const across = deadline(other.ping('across the exit'), 'the echo sent before the exit');
    const caught = await loop({ map }).then(() => null, (error: unknown) => error);
    t.equal(caught, exit, 'the run rejects with the ExitNow');
    t.equal(thrown, true);
    t.equal(quitter.closing, false, 'the channel that threw stays open');
    t.ok(map.has(quitter.id));
    t.same(quitter.logs, [], 'nothing was logged: ExitNow is not a failure');
    const again = running(t, map);
    t.equal(await across, 'across the exit', 'a ping sent before the exit is answered under the new loop');
    t.equal(await served(other, 'after'), 'after');
    t.equal(quitter.closing, false);
    again.stop();
    await again.ended;
  });
}

// ---- a listener's accept-queue report under the default handleError() ------------

t.test('Dispatcher listener: a full accept queue, reported to handleError(), leaves the listener open', async (t) => {
  // The guide: accept errors leave the listener open; no error closes a
  // listening channel except a failure to listen.
  const map = testMap(t);
  const fam = ipv4;
  const reported = settle<unknown>();
  class Busy extends Faulty {
    override readable(): boolean { return false; } // accepts nothing for now
    override handleError(error: unknown): HandlerResult {
      reported.resolve(error);
      return super.handleError(error);
    }
  }
  const server = new Busy(null, map, { acceptQueueLimit: 1 });
  t.teardown(() => { server.close(); });
  server.createSocket(fam.family);
  server.bind(fam.listenAddress(t));
  server.listen(5);
  await server.opened;
  running(t, map);
  await plainClient(t, server.addr as Address);
  await plainClient(t, server.addr as Address);
  t.match(await reported.promise, { code: 'ERR_ACCEPT_QUEUE_FULL' }, 'the second connection was dropped and reported');
  t.equal(server.droppedConnections, 1);
  t.equal(server.accepting, true, 'the listener stays open');
  t.notMatch(server.logs[0] ?? '', /closing channel <Busy listening/, 'the default handleError() did not close it');
  t.match(server.logs[0] ?? '', /^warning: Accept queue full/, 'it logged a warning');
});
