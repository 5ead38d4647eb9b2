// The listener role over a fake server binding: a bounded accept queue,
// refusals beyond it with one aggregated report, server failures before and
// after listening, and the refusal of what is queued at close.
import t from 'tap';
import { newCursor } from '../../src/core/cursor.js';
import type { CodedError } from '../../src/core/events.js';
import { Core } from '../../src/core/readiness.js';
import { AcceptQueueFullError } from '../../src/errors.js';
import { ListenerRole } from '../../src/roles/listener.js';
import type { ListenerBinding } from '../../src/roles/listener.js';
import { FakeFront } from '../helpers/fake-core.js';

class FakeServer implements ListenerBinding<string> {
  closes = 0;
  readonly refused: string[] = [];
  close(): void { this.closes++; }
  refuse(handle: string): void { this.refused.push(handle); }
}

function listenerOf(limit: number): { role: ListenerRole<string>; core: Core; server: FakeServer } {
  const core = new Core(new FakeFront(), false);
  const server = new FakeServer();
  const role = new ListenerRole(core, server, limit);
  core.levels = role;
  return { role, core, server };
}

const coded = (code: string): CodedError => Object.assign(new Error(code), { code });

t.test('ListenerRole.offer() queues up to the limit and refuses beyond it', async (t) => {
  const { role, server } = listenerOf(2);
  for (const handle of ['c1', 'c2', 'c3', 'c4']) role.offer(handle);
  t.equal(role.queued, 2);
  t.same(server.refused, ['c3', 'c4']);
  t.equal(role.dropped, 2);
  t.same([role.take(), role.take(), role.take()], ['c1', 'c2', null], 'oldest first');
});

t.test('ListenerRole.offer() beyond the limit makes one AcceptQueueFullError whose count grows until taken', async (t) => {
  const { role, core } = listenerOf(1);
  const cursor = newCursor();
  role.offer('kept');
  for (const handle of ['d1', 'd2', 'd3']) role.offer(handle);
  const ev = core.pull(cursor);
  if (ev?.type !== 'error' || !(ev.error instanceof AcceptQueueFullError)) {
    t.fail('expected an accept-queue report');
    return;
  }
  t.equal(ev.operation, 'accept');
  t.equal(ev.error.dropped, 3, 'one report for three drops');
  t.equal(core.pull(cursor)?.type, 'accept', 'then the waiting connection, not another report');
  t.equal(core.pull(cursor)?.type, 'accept', 'a level: again while it waits');
});

t.test('ListenerRole.offer() after the report was taken makes a new report', async (t) => {
  const { role, core } = listenerOf(1);
  const cursor = newCursor();
  role.offer('kept');
  role.offer('d1');
  const first = core.pull(cursor);
  role.offer('d2');
  role.offer('d3');
  const second = core.pull(cursor);
  const reports = [first, second].map((ev) => (ev?.type === 'error' ? ev.error : null));
  const [one, two] = reports;
  if (!(one instanceof AcceptQueueFullError) || !(two instanceof AcceptQueueFullError)) {
    t.fail('expected two accept-queue reports');
    return;
  }
  t.not(two, one, 'a new report');
  t.equal(one.dropped, 1, 'the taken report is final');
  t.equal(two.dropped, 2);
  t.equal(role.dropped, 3);
});

t.test('ListenerRole.offer() after its report fell out of the one-shot log unseen makes a new report', async (t) => {
  const { role, core } = listenerOf(1);
  role.offer('kept');
  role.offer('d1');
  for (let i = 0; i < 64; i++) core.report(coded('EMFILE'), 'accept');
  role.offer('d2');
  const reports: AcceptQueueFullError[] = [];
  const cursor = newCursor();
  for (let ev = core.pull(cursor); ev?.type === 'error'; ev = core.pull(cursor)) {
    if (ev.error instanceof AcceptQueueFullError) reports.push(ev.error);
  }
  t.equal(reports.length, 1, 'only the new report is still in the log');
  t.equal(reports[0]?.dropped, 1, 'd2 alone: not added to the report nobody saw');
});

t.test('ListenerRole.onError() before listening closes the server and fails the core with operation listen', async (t) => {
  const { role, core, server } = listenerOf(4);
  const cursor = newCursor();
  const error = coded('EADDRINUSE');
  role.onError(error);
  t.equal(server.closes, 1);
  t.equal(core.life, 'broken');
  t.equal(core.broken, error);
  t.same(core.pull(cursor), { type: 'error', channel: core.owner, error, operation: 'listen' });
  t.equal(core.pull(cursor)?.type, 'close');
  await t.rejects(core.opened, error);
});

t.test('ListenerRole.onError() while listening reports an accept error and stays open', async (t) => {
  const { role, core, server } = listenerOf(4);
  const cursor = newCursor();
  role.listening = true;
  const error = coded('EMFILE');
  role.onError(error);
  t.equal(server.closes, 0);
  t.equal(core.life, 'active');
  t.equal(core.broken, null);
  t.same(core.pull(cursor), { type: 'error', channel: core.owner, error, operation: 'accept' });
  t.equal(core.pull(cursor), null, 'no close: the listener goes on');
  role.offer('c1');
  t.equal(core.pull(cursor)?.type, 'accept');
  role.close();
});

t.test('ListenerRole.close() stops the server and refuses every queued connection', async (t) => {
  const { role, core, server } = listenerOf(4);
  role.offer('c1');
  role.offer('c2');
  core.shutDown(() => new Error('not opened'));
  role.close();
  t.equal(server.closes, 1);
  t.same(server.refused, ['c1', 'c2']);
  t.equal(role.queued, 0);
  role.offer('late');
  t.same(server.refused, ['c1', 'c2', 'late'], 'a connection after the close is refused at once');
  t.equal(role.dropped, 0, 'refusals at close are not drops');
});
