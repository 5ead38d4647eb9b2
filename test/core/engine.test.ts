// The loop's scheduler over fake channels whose levels the test sets: events
// in rounds, the second look for a write after a read, passes counted, the
// waits (timeout, end, stop), busy channels, and the release of every watcher.
import t from 'tap';
import type { Test } from 'tap';
import { ChannelMap } from '../../src/core/channel-map.js';
import { Engine, ROUND_END } from '../../src/core/engine.js';
import type { EngineOptions } from '../../src/core/engine.js';
import { FakeMember, watcherSpy } from '../helpers/fake-core.js';

function engineFor(t: Test, map: ChannelMap, options: Partial<EngineOptions> = {}): Engine {
  const engine = new Engine({
    map,
    accepts: () => true,
    onPullError: (_channel, error) => { throw error; },
    timeoutMs: null,
    pollMs: 1000,
    count: null,
    ...options,
  });
  t.teardown(() => { engine.dispose(); });
  return engine;
}

function mapFor(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { for (const member of [...map.values()]) member.close(); });
  return map;
}

/** One round: the events up to ROUND_END (or null), as `<id>:<type>`; then the consumer yields. */
function round(engine: Engine, onEvent: (member: FakeMember, type: string) => void = () => undefined): string[] {
  const seen: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const event = engine.next();
    if (event === ROUND_END || event === null) break;
    const member = event.channel;
    if (!(member instanceof FakeMember)) throw new TypeError('Unexpected channel: expected a FakeMember');
    seen.push(`${member.id}:${event.type}`);
    onEvent(member, event.type);
  }
  engine.yielded();
  return seen;
}

function alwaysReady(map: ChannelMap): FakeMember {
  const member = new FakeMember(map);
  member.levels.read = true;
  member.levels.write = true;
  return member;
}

/** Channels with input waiting and nothing to write. */
function readReady(map: ChannelMap, count: number): FakeMember[] {
  return Array.from({ length: count }, () => {
    const member = new FakeMember(map);
    member.levels.read = true;
    return member;
  });
}

t.test('Engine.next() hands out rounds in which an always-ready channel cannot starve another', async (t) => {
  const map = mapFor(t);
  const a = alwaysReady(map);
  const b = alwaysReady(map);
  const engine = engineFor(t, map);
  const expected = [`${a.id}:read`, `${a.id}:write`, `${b.id}:read`, `${b.id}:write`];
  for (let i = 0; i < 3; i++) t.same(round(engine), expected, `round ${i + 1}: each ready kind of each channel once`);
});

t.test('Engine.next() returns ROUND_END until the consumer has yielded', async (t) => {
  const map = mapFor(t);
  alwaysReady(map);
  const engine = engineFor(t, map);
  engine.next();
  engine.next();
  t.equal(engine.next(), ROUND_END);
  t.equal(engine.next(), ROUND_END, 'still: no yield yet');
  engine.yielded();
  const next = engine.next();
  t.equal(next !== null && next !== ROUND_END && next.type, 'read', 'the next round starts');
});

t.test('Engine.next() follows a read with the same channel\'s write in the same round', async (t) => {
  const map = mapFor(t);
  const [a, b] = readReady(map, 2) as [FakeMember, FakeMember];
  const engine = engineFor(t, map);
  // The read handler makes the write ready: it goes out before b's read.
  const first = round(engine, (member, type) => { if (member === a && type === 'read') a.levels.write = true; });
  t.same(first, [`${a.id}:read`, `${a.id}:write`, `${b.id}:read`]);
  a.levels.write = false;
  t.same(round(engine), [`${a.id}:read`, `${b.id}:read`], 'no write: the read level is asked again next round');
});

t.test('Engine with count stops after count passes; a round that finds nothing is not one', async (t) => {
  const map = mapFor(t);
  const a = new FakeMember(map);
  const engine = engineFor(t, map, { count: 2 });
  t.same(round(engine), [], 'the first look finds nothing');
  t.equal(engine.stopped, false, 'no pass yet');
  a.levels.read = true;
  a.core.signal();
  t.equal(await engine.wait(), 'woke');
  t.same(round(engine), [`${a.id}:read`], 'pass 1');
  t.same(round(engine), [`${a.id}:read`], 'pass 2');
  t.equal(engine.next(), null, 'no third pass');
  t.equal(engine.stopped, true);
  t.equal(await engine.wait(), 'stop');
});

t.test('Engine.wait() resolves timeout after timeoutMs without events', async (t) => {
  const map = mapFor(t);
  new FakeMember(map);
  const engine = engineFor(t, map, { timeoutMs: 5 });
  t.equal(engine.next(), null);
  const started = performance.now();
  t.equal(await engine.wait(), 'timeout');
  t.ok(performance.now() - started >= 4, 'not before the timeout');
});

t.test('Engine.wait() with count ends with stop after count timeouts', async (t) => {
  const map = mapFor(t);
  new FakeMember(map);
  const engine = engineFor(t, map, { timeoutMs: 1, count: 1 });
  t.equal(engine.next(), null);
  t.equal(await engine.wait(), 'timeout');
  t.equal(engine.stopped, true, 'the timeout was the last pass');
  t.equal(await engine.wait(), 'stop');
});

t.test('Engine.wait() resolves end once the map empties', async (t) => {
  const map = mapFor(t);
  const a = new FakeMember(map);
  t.teardown(() => { a.close(); });
  const engine = engineFor(t, map);
  t.equal(engine.next(), null);
  const waiting = engine.wait();
  map.delete(a.id);
  t.equal(await waiting, 'end');
  t.equal(await engine.wait(), 'end', 'and at once on an empty map');
});

t.test('Engine.wait() wakes for a channel closed, then resolves end with the map empty', async (t) => {
  const map = mapFor(t);
  const a = new FakeMember(map);
  const engine = engineFor(t, map);
  t.equal(engine.next(), null);
  const waiting = engine.wait();
  a.close();
  t.equal(await waiting, 'woke', 'the close is a change of the channel');
  t.equal(engine.next(), null, 'a closed channel reports nothing');
  t.equal(await engine.wait(), 'end');
});

t.test('Engine.next() hands out a leaving channel\'s close, then drops it', async (t) => {
  const map = mapFor(t);
  const a = new FakeMember(map);
  const b = new FakeMember(map);
  const engine = engineFor(t, map);
  a.levels.done = true;
  t.same(round(engine), [`${a.id}:close`]);
  t.equal(a.closes, 0, 'handing out close does not close');
  t.same(round(engine), [], 'the pull after close closes the channel and drops it');
  t.equal(a.closes, 1);
  t.equal(map.has(a.id), false);
  b.levels.read = true;
  b.core.signal();
  t.same(round(engine), [`${b.id}:read`], 'the others go on');
});

t.test('Engine.stop() ends a pending wait and every later one with stop', async (t) => {
  const map = mapFor(t);
  new FakeMember(map);
  const engine = engineFor(t, map);
  t.equal(engine.next(), null);
  const waiting = engine.wait();
  engine.stop();
  t.equal(await waiting, 'stop');
  t.equal(engine.stopped, true);
  t.equal(await engine.wait(), 'stop');
});

t.test('Engine.dispose() releases every watcher and closes only the channels handed close', async (t) => {
  const map = mapFor(t);
  const a = new FakeMember(map);
  const b = new FakeMember(map);
  const spies = [watcherSpy(a.core), watcherSpy(b.core)];
  const engine = engineFor(t, map);
  t.same(spies.map((spy) => spy.live), [1, 1], 'one watcher per channel');
  a.levels.done = true;
  t.same(round(engine), [`${a.id}:close`]);
  engine.dispose();
  t.equal(await engine.wait(), 'stop');
  t.same(spies.map((spy) => spy.live), [0, 0], 'no watcher left');
  t.equal(a.closes, 1, 'the channel handed close is closed');
  t.equal(b.closes, 0, 'the other stays open');
  const c = new FakeMember(map);
  const spy = watcherSpy(c.core);
  c.levels.read = true;
  c.core.signal();
  t.equal(spy.live, 0, 'a channel added later is not watched');
});

t.test('Engine.next() skips a busy channel until release()', async (t) => {
  const map = mapFor(t);
  const [a, b] = readReady(map, 2) as [FakeMember, FakeMember];
  const engine = engineFor(t, map);
  let entry: Engine['last'] = null;
  const first = round(engine, (member) => {
    if (member !== a) return;
    // As the classic loop does while a handler's promise is pending.
    entry = engine.last;
    entry!.busy = true;
  });
  t.same(first, [`${a.id}:read`, `${b.id}:read`], 'no second look at a busy channel');
  t.same(round(engine), [`${b.id}:read`], 'busy: left out');
  a.core.signal();
  t.same(round(engine), [`${b.id}:read`], 'a change does not queue a busy channel');
  engine.release(entry!);
  t.same(round(engine), [`${b.id}:read`, `${a.id}:read`], 'released: its read is handed out in the very next round');
});
