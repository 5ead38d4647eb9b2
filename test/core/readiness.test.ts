// The readiness core on its own, over a fake front and fake levels: the
// one-shot log each cursor walks, its bound, the order of a pull, failure,
// shut-down and the side-effect-free look of wouldReport().
import t from 'tap';
import { newCursor } from '../../src/core/cursor.js';
import type { CodedError } from '../../src/core/events.js';
import { CORE, coreOf } from '../../src/core/readiness.js';
import { fakeCore, watcherSpy } from '../helpers/fake-core.js';

const coded = (code: string): CodedError => Object.assign(new Error(code), { code });

t.test('Core.logEvent() delivers every one-shot event to each cursor, each once', async (t) => {
  const { core, levels } = fakeCore();
  const first = newCursor();
  const second = newCursor();
  const error = coded('EMFILE');
  core.logEvent({ type: 'connect', channel: core.owner });
  core.report(error, 'accept');
  for (const cursor of [first, second]) {
    t.same(core.pull(cursor), { type: 'connect', channel: core.owner });
    t.same(core.pull(cursor), { type: 'error', channel: core.owner, error, operation: 'accept' });
    t.equal(core.pull(cursor), null, 'nothing more: the log is walked once');
  }
  t.same(levels.gone.map((ev) => ev.type), ['connect', 'error', 'connect', 'error'], 'eventGone() per delivery');
});

t.test('Core.logEvent() keeps the latest 64 events: a lagging cursor skips the oldest, each told to eventGone()', async (t) => {
  const { core, levels } = fakeCore();
  const cursor = newCursor();
  const errors = Array.from({ length: 70 }, (_, i) => coded(`E${i}`));
  for (const error of errors) core.report(error, 'accept');
  t.same(levels.gone.map((ev) => ev.type === 'error' && ev.error), errors.slice(0, 6), 'the 6 oldest dropped unseen');
  const seen = [];
  for (let ev = core.pull(cursor); ev !== null && ev !== undefined; ev = core.pull(cursor)) {
    if (ev.type === 'error') seen.push(ev.error);
  }
  t.same(seen, errors.slice(6), 'the latest 64, in order');
});

t.test('Core.pull() hands out one-shots first, then alternates read and write', async (t) => {
  const { core, front, levels } = fakeCore();
  const cursor = newCursor();
  levels.read = true;
  levels.write = true;
  front.writeInterest = true;
  core.logEvent({ type: 'connect', channel: front });
  const types = Array.from({ length: 5 }, () => core.pull(cursor)?.type);
  t.same(types, ['connect', 'read', 'write', 'read', 'write']);
  front.readInterest = false;
  t.same([core.pull(cursor)?.type, core.pull(cursor)?.type], ['write', 'write'], 'no read interest: writes only');
  front.readInterest = true;
  front.writeInterest = false;
  t.same([core.pull(cursor)?.type, core.pull(cursor)?.type], ['read', 'read'], 'no write interest: reads only');
});

t.test('Core.pull() with writeOnly set reports a write or nothing, once', async (t) => {
  const { core, front, levels } = fakeCore();
  const cursor = newCursor();
  levels.read = true;
  cursor.writeOnly = true;
  t.equal(core.pull(cursor), null, 'the second look finds no write: nothing, though read holds');
  t.equal(cursor.writeOnly, false, 'the second look is spent');
  t.equal(core.pull(cursor)?.type, 'read');
  levels.write = true;
  front.writeInterest = true;
  cursor.writeOnly = true;
  cursor.preferWrite = true;
  t.equal(core.pull(cursor)?.type, 'write');
  t.equal(cursor.preferWrite, false, 'the write was had: read goes first next');
});

t.test('Core.pull() hands out close once, then undefined, closing the owner on the pull after close', async (t) => {
  const { core, front, levels } = fakeCore();
  const cursor = newCursor();
  const other = newCursor();
  levels.done = true;
  t.equal(core.pull(cursor)?.type, 'close');
  t.equal(front.closes, 0, 'handing out close does not close');
  t.equal(core.pull(other)?.type, 'close', 'each cursor gets its own close');
  t.equal(core.pull(cursor), undefined);
  t.equal(front.closes, 1, 'the consumer came back after close: the owner is closed');
  t.equal(core.pull(cursor), undefined);
  core.shutDown(() => new Error('not opened'));
  t.equal(core.pull(newCursor()), undefined, 'a closed core reports nothing, not even close');
});

t.test('Core.fail() reports once, rejects opened, settles closed and calls ended(error) once', async (t) => {
  const { core, levels } = fakeCore();
  const cursor = newCursor();
  const error = coded('ECONNRESET');
  let signals = 0;
  core.watch({ changed: () => { signals++; } });
  core.fail(error, 'read');
  core.fail(coded('EPIPE'), 'write');
  t.equal(core.life, 'broken');
  t.equal(core.broken, error, 'the first failure is kept');
  t.same(levels.endedWith, [error], 'ended(error) called once');
  t.ok(signals > 0, 'watchers told');
  await t.rejects(core.opened, error);
  await t.resolves(core.closed, 'closed settles on failure');
  t.same(core.pull(cursor), { type: 'error', channel: core.owner, error, operation: 'read' });
  t.equal(core.pull(cursor), null, 'one error event only');
  core.shutDown(() => new Error('not opened'));
  core.fail(coded('EPIPE'), 'write');
  t.same(levels.endedWith, [error, null], 'no failure after the close');
});

t.test('Core.shutDown() closes once, settles the latches and drops every watcher', async (t) => {
  const { core, levels } = fakeCore();
  const spy = watcherSpy(core);
  const calls = [0, 0];
  core.watch({ changed: () => { calls[0]!++; } });
  core.watch({ changed: () => { calls[1]!++; } });
  t.equal(spy.live, 2);
  const notOpened = new Error('closed before it opened');
  t.equal(core.shutDown(() => notOpened), true);
  t.same(calls, [1, 1], 'each watcher told of the close');
  t.equal(core.shutDown(() => new Error('again')), false, 'idempotent');
  core.signal();
  t.same(calls, [1, 1], 'no watcher left to tell');
  t.same(levels.endedWith, [null], 'ended(null) once');
  t.equal(core.isClosed, true);
  await t.rejects(core.opened, notOpened);
  await t.resolves(core.closed);
});

t.test('Core.shutDown() empties the one-shot log', async (t) => {
  const { core } = fakeCore();
  core.logEvent({ type: 'connect', channel: core.owner });
  core.shutDown(() => new Error('not opened'));
  t.equal(core.pull(newCursor()), undefined);
});

t.test('Core.wouldReport() answers as pull() would, changing nothing', async (t) => {
  const { core, front, levels } = fakeCore();
  const cursor = newCursor();
  t.equal(core.wouldReport(cursor), false, 'nothing holds');
  front.readInterest = false;
  levels.read = true;
  t.equal(core.wouldReport(cursor), false, 'input waits but is not wanted');
  front.readInterest = true;
  t.equal(core.wouldReport(cursor), true);
  levels.read = false;
  core.logEvent({ type: 'connect', channel: front });
  const before = { ...cursor };
  t.equal(core.wouldReport(cursor), true, 'a one-shot waits');
  t.same(cursor, before, 'the cursor did not move');
  t.same(levels.gone, [], 'no event taken');
  t.equal(core.pull(cursor)?.type, 'connect', 'the event is still there');
  levels.done = true;
  t.equal(core.wouldReport(cursor), true, 'close waits');
  t.equal(cursor.closeSeen, false);
  t.equal(front.closes, 0);
  t.equal(core.pull(cursor)?.type, 'close');
});

t.test('coreOf() returns the core a front holds, and throws TypeError for any other object', async (t) => {
  const { core } = fakeCore();
  t.equal(coreOf({ [CORE]: core }), core);
  t.throws(() => coreOf({}), TypeError);
});
