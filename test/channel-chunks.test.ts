// Channel.chunks() as an iterator: calls made while one waits run in order,
// return() and throw() end it with the channel left open, and a connection
// that broke before the call rejects at once with its error.
import t from 'tap';
import { families, listener, client, acceptOne, testMap } from './helpers/net.js';
import { isPending, untilEvent } from './helpers/events.js';

const fam = families[0] as (typeof families)[number];

t.test('Channel.chunks() next() calls made while one waits are answered in order', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  const it = s.chunks(1);
  const first = it.next();
  const second = it.next();
  t.ok(await isPending(first), 'both wait while nothing was received');
  await c.write('ab');
  t.same((await first).value?.toString(), 'a');
  t.same((await second).value?.toString(), 'b');
  c.close();
  t.same(await it.next(), { done: true, value: undefined }, 'ends at end of stream');
});

t.test('Channel.chunks() return(), throw() and asyncDispose end the iteration, not the channel', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  const a = s.chunks();
  const waiting = a.next();
  t.same(await a.return(), { done: true, value: undefined });
  t.same(await waiting, { done: true, value: undefined }, 'a waiting call ends too');
  t.same(await a.next(), { done: true, value: undefined });
  const b = s.chunks();
  const boom = new Error('stop');
  await t.rejects(b.throw(boom), boom, 'throw() rejects with its argument');
  t.same(await b.next(), { done: true, value: undefined }, 'and ends the iteration');
  {
    await using d = s.chunks();
    t.equal(d[Symbol.asyncIterator](), d);
  }
  t.equal(s.state, 'open', 'the channel stays open');
  await c.write('still here');
  let got = '';
  for await (const chunk of s.chunks()) {
    got += chunk.toString();
    if (got.length >= 10) break;
  }
  t.equal(got, 'still here');
});

t.test('Channel.chunks() rejects at once when the connection broke before the call', async (t) => {
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  await c.opened;
  c.abort();
  const it = s[Symbol.asyncIterator]();
  await untilEvent(it, (ev) => ev.type === 'error' || ev.type === 'close');
  await it.return?.();
  await t.rejects(s.chunks().next(), { code: 'ECONNRESET' });
});
