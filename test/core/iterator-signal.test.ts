// The guide's way to give up waiting for a channel's event after a time: the
// channel's own iterator takes the signal (as ix passes one), so a quiet
// channel still gives up. ix's `timeout()` operator cannot do that behind a
// `filter()`, which waits for the pending `next()`.
import { first } from 'ix/asynciterable';
import { filter } from 'ix/asynciterable/operators';
import t from 'tap';
import { AF_INET, Channel } from '../../src/index.js';
import { DEADLINE_MS, deadline } from '../helpers/deadline.js';
import { client, families, listener, testMap } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';

t.test('Channel[Symbol.asyncIterator](AbortSignal.timeout(ms)) gives up on a quiet channel, through ix first() and filter()', async (t) => {
  const map = testMap(t);
  const quiet = new Channel(null, map);
  quiet.createSocket(AF_INET); // never connects: no event will come
  const signal = AbortSignal.timeout(50);
  const outcome = first(quiet.events().pipe(
    filter((ev) => ev.type === 'connect' || ev.type === 'error'),
  ), { signal });
  await t.rejects(deadline(outcome, 'the timeout'), { name: 'TimeoutError' }, 'rejects with signal.reason');
  t.equal(quiet.state, 'idle', 'the channel is left as it was');
});

t.test('Channel[Symbol.asyncIterator](signal) called directly rejects a waiting next() on a quiet channel with signal.reason', async (t) => {
  const map = testMap(t);
  const quiet = new Channel(null, map);
  quiet.createSocket(AF_INET);
  const it = quiet[Symbol.asyncIterator](AbortSignal.timeout(50));
  await t.rejects(deadline(it.next(), 'the timeout'), { name: 'TimeoutError' });
  t.same(await it.next(), { done: true, value: undefined }, 'then the iteration ends');
});

t.test('first(channel.events().pipe(filter(...)), { signal }) resolves with the event when it comes in time', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, families[0] as FamilyCase);
  const c = client(t, map, families[0] as FamilyCase, server);
  const outcome = await deadline(first(c.events().pipe(
    filter((ev) => ev.type === 'connect' || ev.type === 'error'),
  ), { signal: AbortSignal.timeout(DEADLINE_MS) }), 'the connect');
  t.equal(outcome?.type, 'connect');
});
