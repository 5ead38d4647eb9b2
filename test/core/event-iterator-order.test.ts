// A channel's event iterator used as a hostile but fair caller would: next()
// calls made while one waits are answered in order, and return() ends them all.
import t from 'tap';
import { channelPair } from '../../src/index.js';
import type { ChannelEvent } from '../../src/index.js';
import { testMap } from '../helpers/net.js';
import { deadline } from '../helpers/deadline.js';
import { isPending, macrotask } from '../helpers/events.js';

const DONE = { done: true, value: undefined };

/** `promise`, or 'timeout' once a macrotask passed without it settling. */
function raceTurn<T>(promise: Promise<T>): Promise<T | 'timeout'> {
  return Promise.race([promise, macrotask().then(() => 'timeout' as const)]);
}

/** The type of an iterator result's event, or 'done'. */
function typeOf(result: IteratorResult<ChannelEvent>): string {
  return result.done === true ? 'done' : result.value.type;
}

t.test('Channel[Symbol.asyncIterator]() next() calls made while one waits are answered in order', async (t) => {
  const [a, b] = channelPair({ map: testMap(t) });
  const it = b[Symbol.asyncIterator]();
  const first = it.next();
  t.equal(await raceTurn(first), 'timeout', 'nothing holds: the first call waits');
  const second = it.next();
  await a.write('x');
  t.equal(typeOf(await deadline(first, 'the first call settles')), 'read', 'the first call gets the event');
  t.equal(typeOf(await deadline(second, 'the second call settles')), 'read', 'the second one too: read is a level');
  t.same(b.recv(10)?.toString(), 'x');
  a.close();
  const third = it.next();
  const fourth = it.next();
  t.equal(typeOf(await deadline(third, 'the third call settles')), 'read', 'the end of stream');
  t.equal(typeOf(await deadline(fourth, 'the fourth call settles')), 'read', 'still there: not taken yet');
  t.same(b.recv(10)?.length, 0);
  t.equal(typeOf(await it.next()), 'close');
  t.same(await it.next(), DONE);
});

t.test('Channel[Symbol.asyncIterator]() return() ends every waiting next() with done', async (t) => {
  const [a, b] = channelPair({ map: testMap(t) });
  const it = b[Symbol.asyncIterator]();
  const first = it.next();
  t.equal(await raceTurn(first), 'timeout');
  const second = it.next();
  t.same(await it.return?.(), DONE);
  t.same(await deadline(first, 'the first call ends'), DONE);
  t.same(await deadline(second, 'the second call ends'), DONE);
  t.same(await it.next(), DONE);
  t.equal(b.state, 'open', 'the channel stays open');
  a.close();
  b.close();
});

t.test('Channel[Symbol.asyncIterator]() an abort rejects the waiting next() and ends the ones after it', async (t) => {
  const [, b] = channelPair({ map: testMap(t) });
  const controller = new AbortController();
  const it = b[Symbol.asyncIterator](controller.signal);
  const first = it.next();
  const second = it.next();
  t.ok(await isPending(first));
  const reason = new Error('stop');
  controller.abort(reason);
  await t.rejects(deadline(first, 'the first call rejects'), reason);
  t.same(await deadline(second, 'the second call ends'), DONE);
});

t.test('Channel[Symbol.asyncIterator]() next() calls keep their order across the pause after a streak', async (t) => {
  const [a, b] = channelPair({ map: testMap(t) });
  const it = b[Symbol.asyncIterator]();
  await a.write('x');
  t.equal(typeOf(await deadline(it.next(), 'the first read')), 'read');
  // Unread bytes keep `read` ready: after a streak of events handed out at
  // once, the iterator lets a macrotask pass; calls made meanwhile wait behind
  // it. Three calls at a time, until well past the streak's length.
  const order: number[] = [];
  const types = new Set<string>();
  for (let round = 0; round < 40; round++) {
    const calls = [0, 1, 2].map((n) => it.next().then((result) => { order.push(round * 3 + n); return result; }));
    for (const result of await deadline(Promise.all(calls), 'the calls settle')) types.add(typeOf(result));
  }
  t.same([...types], ['read'], 'every call got the read');
  t.same(order, Array.from({ length: 120 }, (_, i) => i), 'settled in call order');
  await it.return?.();
  a.close();
  b.close();
});
