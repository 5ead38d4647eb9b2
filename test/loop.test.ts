// loop(): both styles over a map. Iterated, it yields every channel's events
// (and `timeout` when idle) and calls no handler; awaited, it runs the
// dispatchers' handlers. It picks up channels added while it runs, ends when
// the map is empty, stops on its signal and on stop(), never closes a channel
// by stopping, is fair to always-ready channels' neighbours, notices polled
// readable()/writable() changes, and lets ExitNow escape. Also closeAll().
import { getEventListeners } from 'node:events';
import t from 'tap';
import {
  AF_INET, Channel, ChannelMap, Dispatcher, ExitNow, Loop, channelPair, closeAll, loop, socketMap,
} from '../src/index.js';
import type { Address, ChannelMap as Map_, LoopEvent } from '../src/index.js';
import { acceptOne, client, families, listener, testMap } from './helpers/net.js';
import { deadline } from './helpers/deadline.js';
import { isPending } from './helpers/events.js';
import {
  EchoHandler, Pinger, QuietDispatcher, Server, deadAddress, echoPair, echoServer, failOnUnhandled, settle,
} from './helpers/dispatchers.js';

failOnUnhandled(t);

const [ipv4] = families;
if (ipv4 === undefined) throw new Error('No families');

/** Runs a loop, stopped after a generous bound so that a hang fails instead of stalling the file. */
async function bounded(running: ReturnType<typeof loop>): Promise<void> {
  const bound = setTimeout(() => { running.stop(); }, 5000);
  try {
    await running;
  } finally {
    clearTimeout(bound);
  }
}

/** Resolves on the next macrotask. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

t.test('loop() over an empty map ends at once, in both styles', async (t) => {
  const map = new ChannelMap();
  await loop({ map });
  const seen: LoopEvent[] = [];
  for await (const ev of loop({ map, timeout: 5 })) seen.push(ev);
  t.same(seen, []);
});

for (const fam of families) {
  t.test(`await loop() runs dispatchers through an exchange and resolves once the map is empty over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Server(t, map, fam, (sock) => {
      new EchoHandler(sock, map);
      server.close();
    });
    await server.opened;
    const pinger = new Pinger(map, fam, server.addr as Address);
    const ended = loop({ map }).then();
    t.equal(await pinger.ping('hello'), 'hello');
    // The echo handler closes on the end of stream; then the map is empty.
    pinger.close();
    await ended;
    t.equal(map.size, 0);
  });

  t.test(`loop() picks up channels added to its map while it runs over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const c = client(t, map, fam, server);
    let accepted: Channel | null = null;
    const got: string[] = [];
    for await (const ev of loop({ map, timeout: 5 })) {
      if (ev.type === 'timeout') {
        t.fail('idle: the accepted channel was not served');
        break;
      }
      if (ev.channel === server && ev.type === 'accept') {
        const pair = server.accept();
        if (pair !== null) accepted = new Channel(pair[0], map);
      } else if (ev.channel === c && ev.type === 'connect') {
        c.send('hello');
      } else if (accepted !== null && ev.channel === accepted && ev.type === 'read') {
        got.push(accepted.recv(16)?.toString() ?? '');
        break;
      }
    }
    t.same(got, ['hello'], "the new channel's read came through the loop");
  });

  t.test(`loop() yields one connect event whatever the write interest over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const quiet = client(t, map, fam, server);
    const eager = client(t, map, fam, server);
    eager.writeInterest = true;
    const seen = new Map<Channel, string[]>([[quiet, []], [eager, []]]);
    const got = new Set<Channel>();
    for await (const ev of loop({ map, timeout: 5 })) {
      if (ev.type === 'timeout') {
        t.fail('idle');
        break;
      }
      if (ev.type === 'accept') {
        const pair = server.accept();
        if (pair !== null) new Channel(pair[0], map).send('x');
        continue;
      }
      const types = seen.get(ev.channel);
      if (types === undefined) continue;
      types.push(ev.type);
      if (ev.type === 'read' && ev.channel.recv(16)?.length === 1) got.add(ev.channel);
      if (got.size === 2 && types.filter((type) => type === 'write').length >= 20) break;
    }
    const quietTypes = seen.get(quiet) ?? [];
    const eagerTypes = seen.get(eager) ?? [];
    t.same(quietTypes, ['connect', 'read'], 'write interest off: connect, and no write');
    t.equal(eagerTypes[0], 'connect', 'write interest on: connect first');
    t.equal(eagerTypes.filter((type) => type === 'connect').length, 1, 'and only once');
    t.ok(eagerTypes.filter((type) => type === 'write').length >= 20, 'then writes');
  });
}

t.test('loop() ends once its map is empty', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const seen: string[] = [];
  for await (const ev of loop({ map, timeout: 5 })) {
    // The listener's accept events come and go; the client's connect ends it.
    if (ev.type !== 'accept') seen.push(ev.type);
    if (ev.type === 'connect' && ev.channel === c) closeAll(map);
  }
  t.same(seen, ['connect'], 'nothing after the last channel closed, not even a timeout');
  t.equal(map.size, 0);
});

t.test('loop() stops on its signal and leaves channels open, in both styles', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const iterating = new AbortController();
  const seen: string[] = [];
  for await (const ev of loop({ map, timeout: 5, signal: iterating.signal })) {
    if (ev.type !== 'accept') seen.push(ev.type);
    if (ev.type === 'connect') iterating.abort();
  }
  t.same(seen, ['connect']);
  t.equal(c.connected, true, 'the channel stays open');
  t.ok(map.has(c.id));

  const running = new AbortController();
  class Stopper extends QuietDispatcher {
    connects = 0;
    override writable(): boolean { return false; }
    override handleConnect(): void {
      this.connects++;
      running.abort();
    }
  }
  const d = new Stopper(null, map);
  d.createSocket(AF_INET);
  d.connect(server.addr as Address);
  await loop({ map, signal: running.signal });
  t.equal(d.connects, 1);
  t.equal(d.connected, true, 'the dispatcher stays open');
  t.ok(map.has(d.id));

  await loop({ map, signal: AbortSignal.abort() });
  const none: LoopEvent[] = [];
  for await (const ev of loop({ map, signal: AbortSignal.abort() })) none.push(ev);
  t.same(none, [], 'an aborted signal: nothing runs');
});

t.test('Loop.stop() ends its run and its iterations and leaves channels open', async (t) => {
  const map = testMap(t);
  const pinger = await echoPair(t, map, ipv4);
  const running = loop({ map, timeout: 5 });
  const ended = running.then();
  const iterated = (async (): Promise<number> => {
    let events = 0;
    for await (const ev of running) if (ev.type !== 'timeout') events++;
    return events;
  })();
  t.equal(await pinger.ping('before stop'), 'before stop');
  running.stop();
  await ended;
  t.ok(await iterated > 0, 'the iteration saw events, then ended');
  t.equal(pinger.connected, true);
  t.equal(map.size, 3, 'server, handler and client all still in the map');
});

t.test('loop() yields timeout when no event came within timeout seconds', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const start = performance.now();
  const seen: string[] = [];
  for await (const ev of loop({ map, timeout: 0.05, signal: AbortSignal.timeout(5000) })) {
    seen.push(ev.type);
    if (seen.length === 2) break;
  }
  const elapsed = performance.now() - start;
  t.same(seen, ['timeout', 'timeout']);
  t.ok(elapsed >= 90, `two timeouts of 50 ms took ${elapsed.toFixed(1)} ms`);
  t.ok(elapsed < 5000, 'within a generous bound');
  t.equal(server.accepting, true, 'the listener stays open');
});

t.test('loop({ timeout: Infinity }) never yields timeout', async (t) => {
  const map = testMap(t);
  await listener(t, map, ipv4);
  const running = loop({ map, timeout: Infinity });
  // Were Infinity taken as a timer delay, Node would fire it after 1 ms.
  const bound = setTimeout(() => { running.stop(); }, 100);
  const seen: string[] = [];
  for await (const ev of running) seen.push(ev.type);
  clearTimeout(bound);
  t.same(seen, [], 'no event in 100 ms, then the stop ends the iteration');
});

t.test('loop() iterator starts nothing until its first next(), and ends for good once returned', async (t) => {
  const map = testMap(t);
  await listener(t, map, ipv4);
  const stopper = new AbortController();
  const iterator = loop({ map, timeout: 0.01, signal: stopper.signal })[Symbol.asyncIterator]();
  t.equal(getEventListeners(stopper.signal, 'abort').length, 0, 'fetching the iterator binds nothing');
  t.same(await iterator.next(), { done: false, value: { type: 'timeout' } });
  t.equal(getEventListeners(stopper.signal, 'abort').length, 1, 'the first next() binds the signal');
  t.same(await iterator.return?.(), { done: true, value: undefined });
  t.equal(getEventListeners(stopper.signal, 'abort').length, 0, 'return() unbinds it');
  t.same(await iterator.next(), { done: true, value: undefined }, 'next() after return() is done');
  t.equal(getEventListeners(stopper.signal, 'abort').length, 0, 'and binds nothing again');
});

t.test('loop() yields timeout while idle dispatchers are polled', async (t) => {
  const map = testMap(t);
  const d = new QuietDispatcher(null, map);
  d.createSocket(AF_INET);
  d.bind(['127.0.0.1', 0]);
  d.listen(5);
  await d.opened;
  const start = performance.now();
  const seen: string[] = [];
  for await (const ev of loop({ map, timeout: 0.05, pollInterval: 0.005, signal: AbortSignal.timeout(5000) })) {
    seen.push(ev.type);
    if (seen.length === 2) break;
  }
  const elapsed = performance.now() - start;
  t.same(seen, ['timeout', 'timeout'], 'sweeps that find nothing are not events');
  t.ok(elapsed >= 90 && elapsed < 5000, `two timeouts of 50 ms took ${elapsed.toFixed(1)} ms`);
});

t.test('loop() iteration yields dispatchers\' events without calling their handlers', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const called: string[] = [];
  class Untouched extends QuietDispatcher {
    override handleConnect(): void { called.push('connect'); }
    override handleWrite(): void { called.push('write'); }
    override handleRead(): void { called.push('read'); }
  }
  const d = new Untouched(null, map);
  d.createSocket(AF_INET);
  d.connect(server.addr as Address);
  const seen: string[] = [];
  for await (const ev of loop({ map, timeout: 5 })) {
    if (ev.type === 'timeout') break;
    if (ev.type !== 'accept' && ev.channel === d) seen.push(ev.type);
    if (seen.length === 3) break;
  }
  t.same(seen, ['connect', 'write', 'write'], 'writable() is true by default');
  t.same(called, [], 'no handler called');
});

t.test('loop(timeout, usePoll, map, count) yields count timeouts over an idle map, then ends', async (t) => {
  const map = testMap(t);
  await listener(t, map, ipv4);
  const seen: string[] = [];
  for await (const ev of loop(0.05, true, map, 2)) seen.push(ev.type);
  t.same(seen, ['timeout', 'timeout']);
});

t.test('await loop(timeout, usePoll, map, count) ends after count idle passes, channels open', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  let start = performance.now();
  await bounded(loop(0.05, false, map, 1));
  let elapsed = performance.now() - start;
  t.ok(elapsed >= 40 && elapsed < 5000, `plain channels only: one idle pass of 50 ms took ${elapsed.toFixed(1)} ms`);
  const d = new QuietDispatcher(null, map);
  d.createSocket(AF_INET);
  d.bind(['127.0.0.1', 0]);
  d.listen(5);
  await d.opened;
  start = performance.now();
  await bounded(loop(0.05, false, map, 2));
  elapsed = performance.now() - start;
  t.ok(elapsed >= 90 && elapsed < 5000, `an idle dispatcher: two idle passes of 50 ms took ${elapsed.toFixed(1)} ms`);
  t.equal(server.accepting, true);
  t.equal(d.accepting, true);
});

t.test('loop(timeout, usePoll, map, count) ends after count passes with events, without waiting', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  await c.opened;
  c.writeInterest = true;
  const seen: string[] = [];
  const start = performance.now();
  for await (const ev of loop(30, false, map, 1)) seen.push(ev.type);
  t.ok(seen.length > 0, `the pass had events (${seen.join(', ')})`);
  t.notOk(seen.includes('timeout'), 'and ended without a timeout');
  t.ok(performance.now() - start < 5000, 'without waiting for one');
});

t.test('loop(timeout, usePoll, map, 1) called again and again runs handleConnect() and handleError() once', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const calls: string[] = [];
  class Once extends QuietDispatcher {
    override writable(): boolean { return false; }
    override handleConnect(): void { calls.push('connect'); }
    override handleError(): void { calls.push('error'); }
  }
  const connected = new Once(null, map);
  connected.createSocket(AF_INET);
  connected.connect(server.addr as Address);
  const refused = new Once(null, map);
  refused.createSocket(AF_INET);
  refused.connect(await deadAddress(t, ipv4));
  await Promise.allSettled([connected.opened, refused.opened]);
  for (let i = 0; i < 5; i++) await loop(0.01, false, map, 1);
  t.same(calls.sort(), ['connect', 'error'], 'each one-shot event handled once, not once per loop');
});

t.test('await loop(timeout, usePoll, map) runs the dispatchers of map', async (t) => {
  const map = testMap(t);
  const pinger = await echoPair(t, map, ipv4);
  const running = loop(30, false, map);
  const ended = running.then();
  t.equal(await pinger.ping('positional'), 'positional');
  running.stop();
  await ended;
});

t.test('loop() throws TypeError or RangeError for bad arguments', async (t) => {
  t.throws(() => loop('1' as unknown as number), TypeError);
  t.throws(() => loop(1, 'yes' as unknown as boolean), TypeError);
  t.throws(() => loop({ map: new Map() as unknown as Map_ }), TypeError);
  t.throws(() => loop({ timeout: -1 }), RangeError);
  // Node fires a timer longer than 2^31-1 ms after 1 ms: refused, not shortened.
  t.throws(() => loop({ timeout: 2_147_484 }), RangeError);
  t.throws(() => loop({ pollInterval: 2_147_484 }), RangeError);
  t.throws(() => loop({ pollInterval: Infinity }), RangeError);
  t.throws(() => loop({ timeout: Number.NaN }), TypeError);
  t.type(loop({ timeout: Infinity }), Loop, 'an infinite timeout means none');
  t.throws(() => loop({ count: -1 }), RangeError);
  t.throws(() => loop({ count: 1.5 }), TypeError);
  t.throws(() => loop(1, false, undefined, 1.5), TypeError);
});

t.test('loop() iteration left by break, return or throw leaves every channel open', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const s = await acceptOne(t, server, map);
  await c.write('ping');
  for await (const ev of loop({ map, timeout: 5 })) {
    if (ev.type === 'read' && ev.channel === s) break;
  }
  t.same([server.closing, c.closing, s.closing], [false, false, false], 'break: all open');
  t.equal(map.size, 3);

  const firstRead = async (): Promise<unknown> => {
    for await (const ev of loop({ map, timeout: 5 })) if (ev.type === 'read') return ev.channel;
    return null;
  };
  t.equal(await firstRead(), s, 'return: the unread bytes are reported again');
  t.same([server.closing, c.closing, s.closing], [false, false, false], 'return: all open');

  await t.rejects((async (): Promise<void> => {
    for await (const ev of loop({ map, timeout: 5 })) if (ev.type === 'read') throw new Error('left');
  })(), { message: 'left' });
  t.same([server.closing, c.closing, s.closing], [false, false, false], 'throw: all open');
  t.equal(s.recv(16)?.toString(), 'ping', 'and no byte was lost');
});

t.test('loop() iteration left right after a close event closes that channel', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const s = await acceptOne(t, server, map);
  s.close();
  for await (const ev of loop({ map, timeout: 5 })) {
    if (ev.type === 'timeout') break;
    if (ev.channel !== c) continue;
    if (ev.type === 'read') c.recv(16);
    if (ev.type === 'close') break;
  }
  t.equal(c.closing, true, 'the consumer was done with it');
  t.equal(server.closing, false, 'the others stay open');
});

t.test('Loop[Symbol.asyncDispose]() stops the loop and leaves channels open', async (t) => {
  const map = testMap(t);
  const pinger = await echoPair(t, map, ipv4);
  let ended: Promise<undefined> | null = null;
  {
    await using running = loop({ map });
    ended = running.then();
    t.equal(await pinger.ping('in scope'), 'in scope');
  }
  await ended;
  t.equal(pinger.connected, true);
  t.ok(map.has(pinger.id));
});

t.test('ChannelMap[Symbol.asyncDispose]() closes every channel in it', async (t) => {
  const channels: Channel[] = [];
  {
    await using map = new ChannelMap();
    const server = await listener(t, map, ipv4);
    const c = client(t, map, ipv4, server);
    channels.push(server, c, await acceptOne(t, server, map));
    await c.opened;
    t.equal(map.size, 3);
  }
  t.same(channels.map((ch) => ch.closing), [true, true, true]);
  await Promise.all(channels.map((ch) => ch.closed));
});

t.test('await loop() does not let an always-writable dispatcher starve other channels, timers or I/O', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, map, ipv4);
  const pinger = new Pinger(map, ipv4, server.addr as Address);
  const running = loop({ map });
  const spinning = settle();
  const spinLimit = 200_000;
  class Spinner extends QuietDispatcher {
    writes = 0;
    override handleConnect(): void { /* nothing to do */ }
    override handleWrite(): void {
      // writable() is always true and nothing is sent: always ready. Past
      // the limit the others were starved: stop, and fail below.
      this.writes++;
      if (this.writes === 10) spinning.resolve(undefined);
      if (this.writes === spinLimit) running.stop();
    }
  }
  const spinner = new Spinner(null, map);
  spinner.createSocket(AF_INET);
  spinner.connect(server.addr as Address);
  const ended = running.then();
  await spinning.promise;
  const before = spinner.writes;
  const served = (async (): Promise<string> => {
    await nextTurn();
    await new Promise((resolve) => setTimeout(resolve, 1));
    for (let i = 0; i < 10; i++) t.equal(await pinger.ping(`ping ${i}`), `ping ${i}`);
    const late = new Pinger(map, ipv4, server.addr as Address);
    t.equal(await late.ping('late'), 'late', 'a new connection was accepted and served');
    return 'served';
  })();
  const outcome = await Promise.race([served, ended.then(() => 'stopped: starved')]);
  t.equal(outcome, 'served', 'an immediate, a timer, I/O and other channels all ran');
  t.ok(spinner.writes > before, `the spinner was served all along (${spinner.writes - before} writes)`);
  running.stop();
  await ended;
});

t.test('loop() iteration does not let an always-ready channel starve timers, I/O or other channels', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const s = await acceptOne(t, server, map);
  await c.opened;
  s.writeInterest = true;
  const ran = { immediate: false, timer: false };
  setImmediate(() => { ran.immediate = true; });
  setTimeout(() => { ran.timer = true; }, 1);
  void c.write('hello');
  let events = 0;
  let got = '';
  for await (const ev of loop({ map, timeout: 5 })) {
    if (++events > 100_000) break;
    if (ev.type === 'read' && ev.channel === s) got += s.recv(16)?.toString() ?? '';
    if (ran.immediate && ran.timer && got === 'hello') break;
  }
  t.ok(ran.immediate, 'an immediate ran');
  t.ok(ran.timer, 'a timer ran');
  t.equal(got, 'hello', 'the other side of the always-ready channel read its bytes');
  t.ok(events <= 100_000, `within ${events} events`);
});

t.test('await loop() awaits a handler\'s promise before that channel\'s next event while the others go on', async (t) => {
  const map = testMap(t);
  const pinger = await echoPair(t, map, ipv4);
  const gate = settle();
  const entered = settle();
  const done = settle();
  class Slow extends QuietDispatcher {
    calls = 0;
    inFlight = 0;
    maxInFlight = 0;
    override writable(): boolean { return false; }
    override async handleRead(): Promise<void> {
      this.calls++;
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      this.recv(1);
      entered.resolve(undefined);
      if (this.calls === 1) await gate.promise;
      this.inFlight--;
      if (this.calls === 3) done.resolve(undefined);
    }
  }
  const slow = settle<Slow>();
  const server = new Server(t, map, ipv4, (sock) => { slow.resolve(new Slow(sock, map)); });
  await server.opened;
  const feeder = new Pinger(map, ipv4, server.addr as Address);
  void feeder.ping('abc');
  const running = loop({ map });
  const ended = running.then();
  await entered.promise;
  const handler = await slow.promise;
  for (let i = 0; i < 3; i++) t.equal(await pinger.ping(`meanwhile ${i}`), `meanwhile ${i}`);
  t.equal(handler.calls, 1, 'no event for the channel while its handler is pending');
  t.equal(handler.bufferedAmount, 2, 'though bytes wait');
  gate.resolve(undefined);
  await done.promise;
  t.equal(handler.calls, 3);
  t.equal(handler.maxInFlight, 1, 'never two handlers at once on one channel');
  running.stop();
  await ended;
});

for (const fam of families) {
  t.test(`Dispatcher.writable() changed by another channel's handler is noticed (a proxy) over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const target = await echoServer(t, map, fam);
    /** One side of a proxy: what it reads goes to its twin's buffer, with no call on the twin. */
    class ProxySide extends QuietDispatcher {
      readonly out: Buffer[] = [];
      twin: ProxySide | null = null;
      override writable(): boolean { return this.out.length > 0; }
      override handleConnect(): void { /* nothing to do */ }
      override handleRead(): void {
        const data = this.recv(65536);
        if (data === null) return;
        if (data.length === 0) {
          this.close();
          this.twin?.close();
        } else {
          this.twin?.out.push(data);
        }
      }
      override handleWrite(): void {
        const head = this.out[0] as Buffer;
        const sent = this.send(head);
        if (sent === head.length) this.out.shift();
        else this.out[0] = head.subarray(sent);
      }
    }
    const proxy = new Server(t, map, fam, (sock) => {
      const front = new ProxySide(sock, map);
      const back = new ProxySide(null, map);
      back.createSocket(fam.family);
      back.connect(target.addr as Address);
      front.twin = back;
      back.twin = front;
    });
    await proxy.opened;
    // The second message goes once every connection is made and idle, so
    // only the re-ask of readable()/writable() can move it along.
    const texts = ['through the proxy', 'and back again'];
    const reply = settle<string>();
    class Client extends QuietDispatcher {
      got = '';
      override writable(): boolean { return false; }
      override handleConnect(): void { this.send(texts[0] as string); }
      override handleRead(): void {
        this.got += this.recv(64)?.toString() ?? '';
        if (this.got === texts[0]) this.send(texts[1] as string);
        if (this.got === texts.join('')) reply.resolve(this.got);
      }
    }
    const c = new Client(null, map);
    c.createSocket(fam.family);
    c.connect(proxy.addr as Address);
    // Idle sweeps every 10 s: only the re-ask at each round's start can
    // notice a twin's new buffer in time.
    const running = loop({ map, pollInterval: 10, signal: AbortSignal.timeout(5000) });
    const ended = running.then();
    const outcome = await Promise.race([reply.promise, ended.then(() => 'the loop ended')]);
    t.equal(outcome, texts.join(''));
    running.stop();
    await ended;
  });
}

t.test('Dispatcher.readable() and writable() turned true outside any handler are noticed within a bounded delay', async (t) => {
  const map = testMap(t);
  // More idle dispatchers than one sweep re-asks, so the rotation is exercised.
  for (let i = 0; i < 200; i++) new QuietDispatcher(null, map).createSocket(AF_INET);
  const waiting = settle();
  const reads = settle<number>();
  const writes = settle<number>();
  class Gated extends QuietDispatcher {
    wantRead = false;
    wantWrite = false;
    override readable(): boolean {
      if (!this.wantRead && this.bufferedAmount > 0) waiting.resolve(undefined);
      return this.wantRead;
    }
    override writable(): boolean { return this.wantWrite; }
    override handleRead(): void {
      this.recv(16);
      reads.resolve(performance.now());
    }
    override handleWrite(): void {
      this.wantWrite = false;
      writes.resolve(performance.now());
    }
  }
  const gated = settle<Gated>();
  const server = new Server(t, map, ipv4, (sock) => { gated.resolve(new Gated(sock, map)); });
  await server.opened;
  const feeder = new Pinger(map, ipv4, server.addr as Address);
  void feeder.ping('x');
  const running = loop({ map, signal: AbortSignal.timeout(5000) });
  const ended = running.then();
  const endedFirst = ended.then(() => Number.NaN);
  const handler = await gated.promise;
  // The byte waits, unread, while readable() is false.
  await waiting.promise;
  t.equal(reads.settled, false);
  const readFrom = await Promise.resolve().then(() => {
    handler.wantRead = true;
    return performance.now();
  });
  const readDelay = await Promise.race([reads.promise, endedFirst]) - readFrom;
  const writeFrom = await new Promise<number>((resolve) => {
    setImmediate(() => {
      handler.wantWrite = true;
      resolve(performance.now());
    });
  });
  const writeDelay = await Promise.race([writes.promise, endedFirst]) - writeFrom;
  t.comment(`noticed after ${readDelay.toFixed(1)} ms (readable) and ${writeDelay.toFixed(1)} ms (writable) among 203 dispatchers`);
  t.ok(readDelay < 2000, 'readable() change noticed');
  t.ok(writeDelay < 2000, 'writable() change noticed');
  running.stop();
  await ended;
});

t.test('loop() notices a plain channel\'s readInterest turned on outside the loop body', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  const c = client(t, map, ipv4, server);
  const s = await acceptOne(t, server, map);
  s.readInterest = false;
  await c.write('x');
  let got = '';
  let turnedOn = false;
  for await (const ev of loop({ map, timeout: 5 })) {
    if (ev.type === 'timeout') {
      t.fail('the change was not noticed');
      break;
    }
    if (!turnedOn) {
      turnedOn = true;
      void Promise.resolve().then(() => { s.readInterest = true; });
    }
    if (ev.type === 'read' && ev.channel === s) {
      got = s.recv(16)?.toString() ?? '';
      break;
    }
  }
  t.equal(got, 'x');
});

for (const how of ['throws', 'rejects', 'is thrown by handleError()', 'is thrown by readable()'] as const) {
  t.test(`await loop() rejects with an ExitNow that ${how.startsWith('is') ? how : `a handler ${how}`}, leaving channels open`, async (t) => {
    const map = testMap(t);
    const server = await echoServer(t, map, ipv4);
    const exit = new ExitNow('done');
    class Quitter extends Pinger {
      override readable(): boolean {
        if (how === 'is thrown by readable()' && this.bufferedAmount > 0) throw exit;
        return true;
      }
      override handleRead(): void | Promise<void> {
        super.handleRead();
        if (how === 'throws') throw exit;
        if (how === 'rejects') return Promise.reject(exit);
        if (how === 'is thrown by handleError()') throw new Error('first');
      }
      override handleError(): void {
        throw exit;
      }
    }
    const quitter = new Quitter(map, ipv4, server.addr as Address);
    void quitter.ping('x');
    const caught = await loop({ map }).catch((error: unknown) => error);
    t.equal(caught, exit, 'the run rejects with it (seen through Loop.catch())');
    t.equal(quitter.closing, false, 'the channel stays open');
    t.ok(map.has(quitter.id));
  });
}

t.test('closeAll(map) closes every channel and empties the map', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, ipv4);
  for (let i = 0; i < 3; i++) client(t, map, ipv4, server);
  new Dispatcher(null, map).createSocket(AF_INET);
  const all = [...map.values()];
  t.equal(all.length, 5);
  closeAll(map);
  t.equal(map.size, 0);
  t.same(all.map((ch) => ch.closing), all.map(() => true));
  await Promise.all(all.map((ch) => ch.closed));
});

t.test('closeAll() defaults to socketMap', async (t) => {
  const c = new Channel();
  t.teardown(() => { c.close(); });
  c.createSocket(AF_INET);
  t.ok(socketMap.has(c.id));
  closeAll();
  t.equal(c.closing, true);
  t.equal(socketMap.size, 0);
});

t.test('closeAll(map) closes every channel even if one close() throws, then throws the first failure unless ignoreAll', async (t) => {
  class Faulty extends Channel {
    override close(): void {
      super.close();
      throw new Error('close failed');
    }
  }
  for (const ignoreAll of [false, true]) {
    const map = testMap(t);
    const channels = [new Channel(null, map), new Faulty(null, map), new Channel(null, map)];
    for (const ch of channels) ch.createSocket(AF_INET);
    if (ignoreAll) t.doesNotThrow(() => { closeAll(map, true); }, 'ignoreAll: no throw');
    else t.throws(() => { closeAll(map); }, { message: 'close failed' });
    t.same(channels.map((ch) => ch.closing), [true, true, true], 'every channel closed');
    t.equal(map.size, 0);
  }
});

t.test('closeAll(map) ignores a close() that fails with EBADF, as Python\'s close_all()', async (t) => {
  class GoneAlready extends Channel {
    override close(): void {
      super.close();
      throw Object.assign(new Error('close EBADF'), { code: 'EBADF' });
    }
  }
  const map = testMap(t);
  const channels = [new GoneAlready(null, map), new Channel(null, map)];
  for (const ch of channels) ch.createSocket(AF_INET);
  t.doesNotThrow(() => { closeAll(map); }, 'no throw without ignoreAll');
  t.same(channels.map((ch) => ch.closing), [true, true], 'every channel closed');
  t.equal(map.size, 0);
});

t.test('closeAll(map, true) closes every channel, then throws an ExitNow from close() even with ignoreAll', async (t) => {
  class Exiting extends Channel {
    override close(): void {
      super.close();
      throw new ExitNow('exit from close()');
    }
  }
  class Faulty extends Channel {
    override close(): void {
      super.close();
      throw new Error('close failed');
    }
  }
  const map = testMap(t);
  const channels = [new Faulty(null, map), new Exiting(null, map), new Channel(null, map)];
  for (const ch of channels) ch.createSocket(AF_INET);
  t.throws(() => { closeAll(map, true); }, ExitNow, 'ExitNow escapes ignoreAll; the other failure is ignored');
  t.same(channels.map((ch) => ch.closing), [true, true, true], 'every channel closed');
  t.equal(map.size, 0);
});

t.test('loop({ count: 0 }) and loop(timeout, usePoll, map, 0) end at once, as Python\'s loop(count=0)', async (t) => {
  const map = testMap(t);
  let calls = 0;
  class Busy extends Dispatcher {
    override handleWrite(): void { calls++; }
    override handleConnect(): void { calls++; }
  }
  const server = await listener(t, map, ipv4);
  const d = new Busy(null, map);
  d.createSocket(AF_INET);
  d.connect(server.addr as Address);
  await d.opened;
  await loop({ map, count: 0 });
  await loop(30, false, map, 0);
  const seen: string[] = [];
  for await (const ev of loop({ map, count: 0, timeout: 30 })) seen.push(ev.type);
  t.equal(calls, 0, 'no handler ran');
  t.same(seen, [], 'the iteration ended with no event, not even a timeout');
  t.equal(d.state, 'open');
});

t.test('loop() iterator: a next() called while one is pending (after Promise.race) queues behind it; each gets its own event', async (t) => {
  const map = testMap(t);
  const [a, b] = channelPair({ map });
  const it = loop({ map, timeout: Infinity })[Symbol.asyncIterator]();
  t.teardown(async () => { await it.return?.(); });
  const first = it.next();
  // As `Promise.race([it.next(), timer])` losing to its timer: the map is idle.
  t.ok(await isPending(first), 'the first next() waits: nothing is ready');
  const second = it.next();
  b.send('x');
  const one = await deadline(first, 'the first next()');
  t.match(one, { done: false, value: { type: 'read', channel: a } }, 'the first next() gets the read');
  const two = await deadline(second, 'the second next()');
  t.match(two, { done: false, value: { type: 'read', channel: a } }, 'the second gets the next event: the read still holds');
  t.equal(a.recv(10)?.toString(), 'x');
});

t.test('loop() iterator: return() settles every pending next() with done', async (t) => {
  const map = testMap(t);
  channelPair({ map });
  const it = loop({ map, timeout: Infinity })[Symbol.asyncIterator]();
  const first = it.next();
  t.ok(await isPending(first), 'the first next() waits');
  const second = it.next();
  t.same(await deadline(Promise.resolve(it.return?.()), 'return()'), { done: true, value: undefined });
  t.same(await deadline(first, 'the first next()'), { done: true, value: undefined });
  t.same(await deadline(second, 'the second next()'), { done: true, value: undefined });
  t.same(await it.next(), { done: true, value: undefined }, 'and later ones');
  t.equal(map.size, 2, 'the channels stay open');
});
