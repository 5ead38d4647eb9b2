// AsyncChat's output side over a loopback connection to a node:net peer:
// push() in pieces, producers of every kind (more(), iterables, async
// iterables that never block the loop and are read ahead by one chunk at
// most), closeWhenDone() after producers, readable() under backpressure, and
// producers released by discardBuffers() and close().
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, SimpleProducer, loop } from '../../src/index.js';
import type { ChannelMap, Loop } from '../../src/index.js';
import { QuietChat } from '../helpers/async-chat.js';
import { deadline, until } from '../helpers/deadline.js';
import { failOnUnhandled, settle } from '../helpers/dispatchers.js';
import { testMap } from '../helpers/net.js';

failOnUnhandled(t);

/** A chat connected to a node:net peer; `received` resolves with all the peer read, at its end. */
interface Connected<C> {
  chat: C;
  peer: net.Socket;
  received: Promise<Buffer>;
  running: Loop;
  ended: Promise<void>;
}

class Chat extends QuietChat {
  lines: string[] = [];
  errors: unknown[] = [];
  sent: number[] = [];
  override handleConnect(): void { /* nothing to do */ }
  override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
  override foundTerminator(): void { this.lines.push(this.getData().toString()); }
  override send(data: Buffer | Uint8Array | string): number {
    const n = super.send(data);
    this.sent.push(n);
    return n;
  }
  override handleError(error: unknown): void { this.errors.push(error); }
}

async function connected<C extends Chat>(t: Test, make: (map: ChannelMap) => C, opts: { paused?: boolean } = {}): Promise<Connected<C>> {
  const map = testMap(t);
  const server = net.createServer();
  t.teardown(() => { server.close(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const chat = make(map);
  chat.setTerminator('\n');
  chat.createSocket(AF_INET);
  chat.connect(['127.0.0.1', (server.address() as net.AddressInfo).port]);
  const running = loop({ map });
  const ended = (async () => { await running; })();
  t.teardown(async () => { running.stop(); await ended; });
  const peer = await deadline(accepted, 'the connection');
  t.teardown(() => { peer.destroy(); });
  server.close();
  if (opts.paused === true) peer.pause();
  const parts: Buffer[] = [];
  const received = new Promise<Buffer>((resolve, reject) => {
    peer.on('data', (data: Buffer) => { parts.push(data); });
    peer.once('end', () => { resolve(Buffer.concat(parts)); });
    peer.once('error', reject);
  });
  return { chat, peer, received, running, ended };
}

/**
 * Pushes until the chat itself holds more than acOutBufferSize bytes (bounded):
 * how much the kernel takes before a paused peer reads depends on its buffer
 * autotuning, 4 MiB and more on loopback.
 */
function fill(chat: Chat): void {
  for (let pushed = 0; chat.readable() && pushed < 256 << 20; pushed += 1 << 20) chat.push(Buffer.alloc(1 << 20));
}

function pattern(length: number, seed = 0): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = (i * 7 + seed) % 251;
  return buf;
}

t.test('AsyncChat.push() queues data longer than acOutBufferSize in pieces of that size; every byte arrives in order', async (t) => {
  const { chat, received } = await connected(t, (map) => {
    const c = new Chat(null, map);
    c.acOutBufferSize = 1000;
    return c;
  });
  await chat.opened;
  const data = pattern(10_500);
  chat.push(data);
  chat.closeWhenDone();
  t.ok((await deadline(received, 'all bytes')).equals(data), 'every byte, in order');
  t.ok(chat.sent.every((n) => n <= 1000), 'no send() of more than acOutBufferSize');
  t.equal(chat.sent.reduce((a, b) => a + b, 0), data.length);
});

t.test('AsyncChat.pushWithProducer() sends a Producer, an array, a generator, a SimpleProducer and strings, in order', async (t) => {
  const { chat, received } = await connected(t, (map) => new Chat(null, map));
  let mores = 0;
  const producer = {
    n: 3,
    more(): string {
      mores++;
      return this.n > 0 ? `more ${this.n--}\n` : '';
    },
  };
  function* lines(): Generator<Buffer | string | Uint8Array> {
    yield 'gen 1\n';
    yield Buffer.alloc(0); // skipped
    yield new Uint8Array(Buffer.from('gen 2\n'));
  }
  chat.pushWithProducer(producer);
  t.equal(mores, 0, 'more() is not called before the connection can take bytes');
  chat.pushWithProducer(['array 1\n', Buffer.from('array 2\n')]);
  chat.pushWithProducer(lines());
  chat.pushWithProducer(new SimpleProducer('simple producer\n', 4));
  chat.pushWithProducer('string\n');
  chat.push('push\n');
  chat.closeWhenDone();
  const got = (await deadline(received, 'all bytes')).toString();
  t.equal(got, 'more 3\nmore 2\nmore 1\narray 1\narray 2\ngen 1\ngen 2\nsimple producer\nstring\npush\n');
  t.equal(mores, 4, 'more() called until it returned an empty chunk');
  t.equal(chat.state, 'closed', 'closed once everything was sent');
});

t.test('AsyncChat.pushWithProducer() rejects what is not a producer, and a producer chunk that is not bytes goes to handleError()', async (t) => {
  const { chat, received } = await connected(t, (map) => new Chat(null, map));
  await chat.opened;
  for (const bad of [42, {}, null, true]) {
    t.throws(() => { chat.pushWithProducer(bad as never); }, { name: 'TypeError', message: /^Cannot push producer: expected an object with more\(\)/ });
  }
  t.throws(() => { chat.pushWithProducer({ more: () => 42 } as never); }, { name: 'TypeError', message: /^Cannot send what a producer returned/ }, 'a sync producer throws where Python would');
  async function* bad(): AsyncGenerator { yield 'ok\n'; yield 42; }
  chat.pushWithProducer(bad() as AsyncIterable<string>);
  chat.push('after\n');
  chat.closeWhenDone();
  t.equal((await deadline(received, 'all bytes')).toString(), 'ok\nafter\n', 'the queue goes on after the failed producer');
  t.match(chat.errors, [{ name: 'TypeError', message: /^Cannot send what a producer returned/ }]);
});

t.test('AsyncChat async producer: its failure goes to handleError() and the queue goes on', async (t) => {
  const { chat, received } = await connected(t, (map) => new Chat(null, map));
  async function* failing(): AsyncGenerator<string> {
    yield 'first\n';
    await Promise.resolve();
    throw new Error('the source broke');
  }
  chat.pushWithProducer(failing());
  chat.push('next\n');
  chat.closeWhenDone();
  t.equal((await deadline(received, 'all bytes')).toString(), 'first\nnext\n');
  t.match(chat.errors, [{ message: 'the source broke' }]);
});

t.test('AsyncChat async producer does not block the loop: input is handled while it waits for its next chunk', async (t) => {
  const gate = settle();
  const lineSeen = settle();
  class Waiting extends Chat {
    override foundTerminator(): void {
      super.foundTerminator();
      lineSeen.resolve(undefined);
    }
  }
  const { chat, peer, received } = await connected(t, (map) => new Waiting(null, map));
  async function* slow(): AsyncGenerator<string> {
    yield 'before\n';
    await gate.promise;
    yield 'after\n';
  }
  chat.pushWithProducer(slow());
  chat.closeWhenDone();
  peer.write('ping\n');
  await deadline(lineSeen.promise, 'the line read while the producer waits');
  t.same(chat.lines, ['ping']);
  t.equal(chat.writable(), false, 'not writable while the chunk is awaited: no busy write events');
  t.equal(chat.state, 'open');
  gate.resolve(undefined);
  t.equal((await deadline(received, 'all bytes')).toString(), 'before\nafter\n');
  t.equal(chat.state, 'closed');
});

t.test('AsyncChat async producer is read ahead by one chunk at most, whatever the peer takes', async (t) => {
  const CHUNK = 16 * 1024;
  const COUNT = 2048; // 32 MiB: more than the kernel's socket buffers hold
  let pulled = 0;
  let maxAhead = 0;
  class Counting extends Chat {
    accepted = 0;
    override send(data: Buffer | Uint8Array | string): number {
      const n = super.send(data);
      this.accepted += n;
      return n;
    }
  }
  const { chat, peer, received } = await connected(t, (map) => new Counting(null, map), { paused: true });
  async function* source(): AsyncGenerator<Buffer> {
    for (let i = 0; i < COUNT; i++) {
      await Promise.resolve();
      pulled++;
      maxAhead = Math.max(maxAhead, pulled * CHUNK - chat.accepted);
      yield pattern(CHUNK, i);
    }
  }
  chat.pushWithProducer(source());
  chat.closeWhenDone();
  // The peer reads nothing until the kernel's buffers and the chat's write window are full.
  await until(() => chat.pendingWrite >= 32 * 1024, 'the write window fills');
  t.ok(pulled < COUNT, `the source is not drained into memory while the peer does not read (${pulled} of ${COUNT} pulled)`);
  peer.resume();
  const got = await deadline(received, 'all bytes');
  t.equal(got.length, CHUNK * COUNT);
  let same = true;
  for (let i = 0; i < COUNT && same; i++) same = got.subarray(i * CHUNK, (i + 1) * CHUNK).equals(pattern(CHUNK, i));
  t.ok(same, 'every byte, in order');
  t.ok(maxAhead <= 2 * CHUNK, `pulled but not accepted by the socket: at most the chunk being sent and one ahead (${maxAhead} bytes)`);
});

t.test('AsyncChat.readable() is false while more than acOutBufferSize pushed bytes wait', async (t) => {
  const { chat, peer } = await connected(t, (map) => new Chat(null, map), { paused: true });
  await chat.opened;
  t.equal(chat.readable(), true);
  fill(chat);
  t.equal(chat.readable(), false, 'the peer does not read: stop reading from it');
  peer.resume();
  await deadline(new Promise<void>((resolve) => {
    const check = (): void => { if (chat.readable()) resolve(); else setImmediate(check); };
    check();
  }), 'readable() again once the queue drained');
  t.pass('readable again');
});

t.test('AsyncChat.discardBuffers() and close() release the producers queued: their iterators are returned', async (t) => {
  const { chat, peer, received } = await connected(t, (map) => new Chat(null, map), { paused: true });
  await chat.opened;
  const released: string[] = [];
  const syncSource = (name: string): Iterable<string> => ({
    [Symbol.iterator]: () => ({
      next: () => ({ done: false, value: 'x' }),
      return: () => { released.push(name); return { done: true, value: undefined }; },
    }),
  });
  const asyncSource = (name: string): AsyncIterable<string> => ({
    [Symbol.asyncIterator]: () => ({
      next: async () => ({ done: false, value: 'x' }),
      return: async () => { released.push(name); return { done: true, value: undefined }; },
    }),
  });
  fill(chat); // the chat holds bytes of its own: the producers stay queued
  chat.pushWithProducer(syncSource('sync'));
  chat.pushWithProducer(asyncSource('async'));
  chat.discardBuffers();
  t.same(released, ['sync', 'async'], 'discardBuffers() returns both');
  fill(chat);
  chat.pushWithProducer(asyncSource('at close'));
  chat.close();
  t.same(released, ['sync', 'async', 'at close'], 'close() too');
  t.equal(chat.state, 'closed');
  chat.push('ignored once closed');
  chat.pushWithProducer(asyncSource('after close'));
  t.same(released, ['sync', 'async', 'at close', 'after close'], 'a producer pushed after close() is released at once');
  peer.resume();
  const got = await deadline(received, 'the end');
  t.ok(got.length < 8 << 20, `what the socket accepted is flushed; what was queued is not (${got.length} bytes)`);
});

t.test('AsyncChat.close() returns() an async generator that was being pulled', async (t) => {
  const { chat } = await connected(t, (map) => new Chat(null, map));
  await chat.opened;
  const finished = settle();
  const waiting = settle();
  async function* source(): AsyncGenerator<string> {
    try {
      yield 'one\n';
      waiting.resolve(undefined);
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
      yield 'two\n';
      yield 'three\n';
    } finally {
      finished.resolve(undefined);
    }
  }
  chat.pushWithProducer(source());
  await deadline(waiting.promise, 'the generator waits for its second chunk');
  chat.close();
  await deadline(finished.promise, 'the generator is returned once its pending next() settles');
  t.pass('released');
});
