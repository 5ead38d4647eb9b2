// The datagram role alone, over a fake binding: the bounded receive queue
// (drops counted), truncation, the send bound (whole datagrams or none), the
// sends held while a connect resolves, and a close that waits for accepted
// datagrams. No socket: every case is exact.
import t from 'tap';
import { newCursor } from '../../src/core/cursor.js';
import { Core } from '../../src/core/readiness.js';
import type { CoreEvent } from '../../src/core/events.js';
import { DatagramRole } from '../../src/roles/datagram.js';
import type { DatagramBinding, DatagramBounds, SentCallback } from '../../src/roles/datagram.js';
import { FakeFront } from '../helpers/fake-core.js';

/** A binding that records each send and lets the test finish it. */
class FakeBinding implements DatagramBinding {
  readonly sent: { data: Buffer; port?: number; address?: string; done: SentCallback }[] = [];
  send(msg: Buffer, callback: SentCallback): void;
  send(msg: Buffer, port: number, address: string, callback: SentCallback): void;
  send(msg: Buffer, a: number | SentCallback, address?: string, callback?: SentCallback): void {
    if (typeof a === 'function') this.sent.push({ data: msg, done: a });
    else this.sent.push({ data: msg, port: a, address, done: callback as SentCallback });
  }
  /** Finishes the oldest unfinished send. */
  finish(error: Error | null = null): void {
    const next = this.sent.shift();
    if (next === undefined) throw new Error('no send to finish');
    next.done(error, error === null ? next.data.length : undefined);
  }
}

const FROM = { address: '127.0.0.1', port: 4000 };

function setup(bounds: Partial<DatagramBounds> = {}): { role: DatagramRole; core: Core<FakeFront>; front: FakeFront; binding: FakeBinding } {
  const front = new FakeFront();
  const core = new Core(front, false);
  const binding = new FakeBinding();
  const role = new DatagramRole(core, binding, {
    datagramLimit: 4, readHighWaterMark: 1000, writeHighWaterMark: 1000, ...bounds,
  });
  core.levels = role;
  return { role, core, front, binding };
}

t.test('DatagramRole.offer() queues up to datagramLimit datagrams, then drops and counts', async (t) => {
  const { role } = setup({ datagramLimit: 3 });
  for (let i = 0; i < 5; i++) role.offer(Buffer.from([i]), FROM);
  t.equal(role.queued, 3);
  t.equal(role.dropped, 2);
  t.same(role.take(10)?.[0], Buffer.from([0]), 'the oldest first');
  role.offer(Buffer.from([9]), FROM);
  t.equal(role.queued, 3, 'room again after a take');
  t.same([role.take(10)?.[0][0], role.take(10)?.[0][0], role.take(10)?.[0][0]], [1, 2, 9]);
  t.equal(role.take(10), null, 'nothing waits');
});

t.test('DatagramRole.offer() drops once readHighWaterMark bytes wait, whatever the count', async (t) => {
  const { role } = setup({ datagramLimit: 100, readHighWaterMark: 100 });
  role.offer(Buffer.alloc(60), FROM);
  role.offer(Buffer.alloc(60), FROM); // queued: 60 < 100 before it
  role.offer(Buffer.alloc(1), FROM); // 120 >= 100: dropped
  t.equal(role.queued, 2);
  t.equal(role.queuedBytes, 120);
  t.equal(role.dropped, 1);
});

t.test('DatagramRole.take() cuts a long datagram to size and discards the rest', async (t) => {
  const { role } = setup();
  role.offer(Buffer.from('abcdef'), FROM);
  role.offer(Buffer.from('gh'), FROM);
  const first = role.take(3);
  t.same(first?.[0], Buffer.from('abc'));
  t.same(role.take(3)?.[0], Buffer.from('gh'), 'the next datagram, not the rest of the first');
  t.equal(role.queuedBytes, 0);
});

t.test('DatagramRole.take() gives a zero-length datagram as an empty buffer, distinct from none', async (t) => {
  const { role } = setup();
  role.offer(Buffer.alloc(0), FROM);
  t.ok(role.readReady(), 'an empty datagram is input');
  const taken = role.take(10);
  t.not(taken, null);
  t.equal(taken?.[0].length, 0);
  t.same(taken?.[1], FROM);
  t.equal(role.take(10), null);
  t.notOk(role.readReady());
});

t.test('DatagramRole.send() accepts whole datagrams under the bound and refuses past it', async (t) => {
  const { role, front, binding } = setup({ writeHighWaterMark: 100, datagramLimit: 10 });
  front.writeInterest = true;
  t.ok(role.send(Buffer.alloc(80), { address: '127.0.0.1', port: 9 }));
  t.ok(role.writeReady(front), '80 < 100: room');
  t.ok(role.send(Buffer.alloc(80), { address: '127.0.0.1', port: 9 }), 'accepted whole while under the bound');
  t.equal(role.sendingBytes, 160);
  t.notOk(role.writeReady(front));
  t.notOk(role.send(Buffer.alloc(1), { address: '127.0.0.1', port: 9 }), 'refused past the bound');
  t.equal(binding.sent.length, 2, 'the refused datagram never reached the socket');
  binding.finish();
  t.equal(role.sendingBytes, 80);
  t.ok(role.writeReady(front), 'room once the kernel took one');
});

t.test('DatagramRole.send() bounds the count too, so empty datagrams cannot pile up', async (t) => {
  const { role, binding } = setup({ datagramLimit: 3 });
  let accepted = 0;
  for (let i = 0; i < 10; i++) if (role.send(Buffer.alloc(0), { address: '::1', port: 9 })) accepted++;
  t.equal(accepted, 3);
  t.equal(binding.sent.length, 3);
});

t.test('DatagramRole signals a watcher when room comes back, and reports a send failure as a write error', async (t) => {
  const { role, core, front, binding } = setup({ writeHighWaterMark: 10 });
  front.writeInterest = true;
  role.send(Buffer.alloc(10), { address: '127.0.0.1', port: 9 });
  let changes = 0;
  core.watch({ changed: () => { changes++; } });
  const failure = Object.assign(new Error('no route'), { code: 'EHOSTUNREACH' });
  binding.finish(failure);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(changes > 0, 'told of the room');
  const cursor = newCursor();
  const event = core.pull(cursor) as CoreEvent<FakeFront>;
  t.match(event, { type: 'error', operation: 'write', error: { code: 'EHOSTUNREACH' } });
  t.equal(core.life, 'active', 'a send failure leaves the channel open');
  t.match(core.pull(cursor), { type: 'write' });
});

t.test('DatagramRole holds sends to the peer until connected(), then sends them in order', async (t) => {
  const { role, binding } = setup();
  role.connecting();
  t.ok(role.send(Buffer.from('a'), null));
  t.ok(role.send(Buffer.from('b'), null));
  t.equal(binding.sent.length, 0, 'nothing sent while the peer resolves');
  t.equal(role.sendingBytes, 2, 'held datagrams count against the bound');
  role.connected();
  t.same(binding.sent.map((s) => s.data.toString()), ['a', 'b']);
  t.equal(binding.sent[0]?.port, undefined, 'sent to the connected peer');
});

t.test('DatagramRole.onError() before binding breaks the channel and forgets held sends', async (t) => {
  const { role, core } = setup();
  role.connecting();
  role.send(Buffer.from('a'), null);
  role.onError(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), 'connect', true);
  t.equal(core.life, 'broken');
  t.equal(role.sendingBytes, 0);
  t.ok(role.finished(false), 'close comes next');
});

t.test('DatagramRole.close() releases at once when nothing is in flight, else after the last send', async (t) => {
  const idle = setup();
  let released = 0;
  idle.role.close(() => { released++; });
  t.equal(released, 1);

  const busy = setup();
  busy.role.send(Buffer.from('x'), { address: '127.0.0.1', port: 9 });
  busy.role.send(Buffer.from('y'), { address: '127.0.0.1', port: 9 });
  let busyReleased = 0;
  busy.core.shutDown(() => new Error('closed'));
  busy.role.close(() => { busyReleased++; });
  t.equal(busyReleased, 0, 'accepted datagrams go out first');
  busy.binding.finish();
  t.equal(busyReleased, 0);
  busy.binding.finish();
  t.equal(busyReleased, 1);
  t.notOk(busy.role.send(Buffer.from('z'), { address: '127.0.0.1', port: 9 }), 'nothing accepted once closed');
});

t.test('DatagramRole ignores datagrams after close and empties its queue', async (t) => {
  const { role, core } = setup();
  role.offer(Buffer.from('a'), FROM);
  core.shutDown(() => new Error('closed'));
  t.equal(role.queued, 0, 'the queue was released');
  role.offer(Buffer.from('b'), FROM);
  t.equal(role.queued, 0);
  t.equal(role.dropped, 0, 'not counted as a drop: nobody could read it');
});
