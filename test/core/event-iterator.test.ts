// One consumer's iteration over a core with fake levels: it yields to the
// macrotask queue during a streak of ready events, rejects with an abort
// signal's reason, and closes a channel it leaves right after close.
import { getEventListeners } from 'node:events';
import t from 'tap';
import { EventIterator } from '../../src/core/event-iterator.js';
import type { CoreEvent } from '../../src/core/events.js';
import { fakeCore, turns, watcherSpy } from '../helpers/fake-core.js';

const typeOf = (result: IteratorResult<CoreEvent<unknown>>): string => (result.done === true ? 'done' : result.value.type);

t.test('EventIterator.next() lets a queued macrotask run within 33 events of an always-ready channel', async (t) => {
  const { core, levels } = fakeCore();
  levels.read = true;
  const it = new EventIterator(core);
  t.teardown(() => { void it.return(); });
  let eventsBefore = -1;
  let events = 0;
  setImmediate(() => { eventsBefore = events; });
  while (eventsBefore < 0 && events < 1000) {
    const result = await it.next();
    t.equal(typeOf(result), 'read');
    events++;
  }
  t.ok(eventsBefore > 0 && eventsBefore <= 32, `the macrotask ran after ${eventsBefore} events`);
});

t.test('EventIterator.next() waiting when the signal aborts rejects with its reason, then reports done', async (t) => {
  const { core } = fakeCore();
  const spy = watcherSpy(core);
  const controller = new AbortController();
  const it = new EventIterator(core, controller.signal);
  const waiting = it.next();
  t.equal(spy.live, 1, 'the waiting iterator watches the core');
  const reason = new Error('enough');
  controller.abort(reason);
  await t.rejects(waiting, reason);
  t.same(await it.next(), { done: true, value: undefined });
  t.equal(spy.live, 0, 'no watcher left');
  t.equal(getEventListeners(controller.signal, 'abort').length, 0, 'no abort listener left');
});

t.test('EventIterator.next() after an abort between two next() calls rejects once with the reason', async (t) => {
  const { core, levels } = fakeCore();
  levels.read = true;
  const controller = new AbortController();
  const it = new EventIterator(core, controller.signal);
  t.equal(typeOf(await it.next()), 'read');
  controller.abort('stop now');
  t.equal(await it.next().then(() => 'resolved', (error: unknown) => error), 'stop now', 'rejects with the reason as given');
  t.same(await it.next(), { done: true, value: undefined });
});

t.test('EventIterator over an already aborted signal rejects its first next() with the reason, then is done', async (t) => {
  const { core, levels } = fakeCore();
  levels.read = true;
  const reason = new Error('aborted before');
  const it = new EventIterator(core, AbortSignal.abort(reason));
  let caught: unknown = null;
  try {
    await it.next();
  } catch (error) {
    caught = error;
  }
  t.equal(caught, reason, 'the very reason object');
  t.same(await it.next(), { done: true, value: undefined }, 'no event though read holds');
});

t.test('EventIterator.next() waiting resolves with the event a change brings', async (t) => {
  const { core, levels } = fakeCore();
  const it = new EventIterator(core);
  t.teardown(() => { void it.return(); });
  const waiting = it.next();
  await turns();
  levels.read = true;
  t.equal((await Promise.race([waiting, turns().then(() => 'pending')])), 'pending', 'no signal yet: still waiting');
  core.signal();
  t.equal(typeOf(await waiting), 'read');
});

t.test('EventIterator.return() right after a close event closes the channel', async (t) => {
  const { core, front, levels } = fakeCore();
  levels.done = true;
  const it = new EventIterator(core);
  t.equal(typeOf(await it.next()), 'close');
  t.equal(front.closes, 0);
  t.same(await it.return(), { done: true, value: undefined });
  t.equal(front.closes, 1, 'the consumer handed close is done with the channel');
});

t.test('EventIterator.return() before any close leaves the channel open and stops watching', async (t) => {
  const { core, front, levels } = fakeCore();
  const spy = watcherSpy(core);
  const it = new EventIterator(core);
  const waiting = it.next();
  t.equal(spy.live, 1);
  await it.return();
  t.same(await waiting, { done: true, value: undefined }, 'the waiting next() ends');
  t.equal(spy.live, 0);
  levels.done = true;
  t.same(await it.next(), { done: true, value: undefined }, 'done for good');
  t.equal(front.closes, 0);
});
