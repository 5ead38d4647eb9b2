// The stream role over a fake binding that records what the role asks of
// the handle: the write window, writes queued while connecting, pause and
// resume around the read bound, the end of stream, and the two closes.
import t from 'tap';
import { newCursor } from '../../src/core/cursor.js';
import type { CodedError } from '../../src/core/events.js';
import { Core } from '../../src/core/readiness.js';
import { StreamRole } from '../../src/roles/stream.js';
import type { StreamBinding, StreamPhase, StreamSettings, StreamTransport } from '../../src/roles/stream.js';
import { FakeFront, turns } from '../helpers/fake-core.js';

class FakeBinding implements StreamBinding {
  writableLength = 0;
  connecting = false;
  destroyed = false;
  readonly writes: { data: string; flushed: boolean }[] = [];
  pauses = 0;
  resumes = 0;
  ends = 0;
  destroys = 0;
  write(data: Buffer, flushed?: (error?: Error | null) => void): boolean {
    this.writes.push({ data: data.toString(), flushed: flushed !== undefined });
    return true;
  }
  pause(): void { this.pauses++; }
  resume(): void { this.resumes++; }
  end(): void { this.ends++; }
  destroy(): void {
    this.destroys++;
    this.destroyed = true;
  }
  once(): void { /* the role never listens here */ }
}

const SETTINGS: StreamSettings = { readHighWaterMark: 8, writeHighWaterMark: 10, closeTimeout: 30, lingerTimeout: 30 };

function streamOf(phase: StreamPhase = 'open'): {
  role: StreamRole; core: Core<FakeFront>; binding: FakeBinding; resets: StreamBinding[];
} {
  const front = new FakeFront();
  const core = new Core(front, false);
  const binding = new FakeBinding();
  const resets: StreamBinding[] = [];
  const transport: StreamTransport = { reset: (b) => { resets.push(b); } };
  const role = new StreamRole(core, binding, transport, SETTINGS, phase);
  core.levels = role;
  return { role, core, binding, resets };
}

const isPending = async (promise: Promise<unknown>): Promise<boolean> =>
  Promise.race([promise.then(() => false, () => false), turns().then(() => true)]);

t.test('StreamRole.send() takes only up to writeHighWaterMark minus writableLength', async (t) => {
  const { role, binding } = streamOf();
  binding.writableLength = 4;
  t.equal(role.send(Buffer.from('0123456789')), 6, 'a partial send');
  t.same(binding.writes, [{ data: '012345', flushed: true }], 'the write that fills the window asks to hear of its flush');
  binding.writableLength = 10;
  t.equal(role.send(Buffer.from('abc')), 0, 'a full window takes nothing');
  binding.writableLength = 0;
  t.equal(role.send(Buffer.from('abc')), 3);
  t.same(binding.writes.at(-1), { data: 'abc', flushed: false });
  t.equal(binding.writes.length, 2);
});

t.test('StreamRole.write() while connecting queues its bytes and resolves only after onConnect()', async (t) => {
  const { role, core, binding } = streamOf('connecting');
  const written = role.write(Buffer.from('hello'));
  t.equal(await isPending(written), true, 'pending while connecting');
  t.same(binding.writes, [], 'nothing handed to the handle');
  t.equal(role.send(Buffer.from('x')), 0, 'send() takes nothing behind a queued write');
  role.onConnect();
  await t.resolves(written);
  t.same(binding.writes.map((w) => w.data), ['hello']);
  t.equal(core.pull(newCursor())?.type, 'connect');
});

t.test('StreamRole.write() past the window resolves once onDrain() made room for the rest', async (t) => {
  const { role, binding } = streamOf();
  const written = role.write(Buffer.from('0123456789abcde'));
  t.same(binding.writes.map((w) => w.data), ['0123456789']);
  binding.writableLength = 10;
  t.equal(await isPending(written), true);
  binding.writableLength = 0;
  role.onDrain();
  await t.resolves(written);
  t.same(binding.writes.map((w) => w.data), ['0123456789', 'abcde']);
});

t.test('StreamRole.write() waiting rejects with the error of onError()', async (t) => {
  const { role, core } = streamOf('connecting');
  const written = role.write(Buffer.from('hello'));
  const error: CodedError = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  role.onError(error);
  await t.rejects(written, error);
  await t.rejects(role.write(Buffer.from('again')), error, 'a later write rejects at once with the same error');
  const ev = core.pull(newCursor());
  t.equal(ev?.type === 'error' && ev.operation, 'connect', 'an error while connecting is a connect error');
});

t.test('StreamRole.onData() pauses the handle at readHighWaterMark; recv() resumes it below', async (t) => {
  const { role, binding } = streamOf();
  t.equal(role.recv(4), null, 'nothing buffered: null');
  role.onData(Buffer.from('abcd'));
  role.onData(Buffer.from('efg'));
  t.equal(binding.pauses, 0, '7 bytes: below the bound');
  role.onData(Buffer.from('h'));
  t.equal(binding.pauses, 1, 'paused at the bound, 8');
  role.onData(Buffer.from('ij'));
  t.equal(binding.pauses, 1, 'paused once');
  t.equal(role.recv(2)?.toString(), 'ab');
  t.equal(binding.resumes, 0, '8 left: still at the bound');
  t.equal(role.recv(5)?.toString(), 'cdefg', 'across chunks');
  t.equal(binding.resumes, 1, 'resumed below the bound');
  t.equal(role.bufferedAmount, 3);
});

t.test('StreamRole.recv() returns an empty buffer at the end once every byte was taken', async (t) => {
  const { role, core } = streamOf();
  const cursor = newCursor();
  let signals = 0;
  core.watch({ changed: () => { signals++; } });
  role.onData(Buffer.from('abc'));
  role.onEnd();
  t.equal(role.readSide, 'ended');
  t.equal(core.pull(cursor)?.type, 'read');
  t.equal(role.recv(10)?.toString(), 'abc', 'the bytes before the end first');
  t.equal(role.readSide, 'ended');
  const before = signals;
  const end = role.recv(10);
  t.equal(end?.length, 0, 'the end: an empty buffer');
  t.equal(role.readSide, 'taken');
  t.equal(signals, before + 1, 'consumers told that close is next');
  t.equal(core.pull(cursor)?.type, 'close');
  t.equal(role.recv(10)?.length, 0, 'still empty after');
  t.equal(signals, before + 1, 'told once');
});

t.test('StreamRole.close() without a byte sent destroys the handle at once', async (t) => {
  const { role, binding, core } = streamOf();
  role.onData(Buffer.from('unread'));
  core.shutDown(() => new Error('not opened'));
  role.close();
  t.equal(binding.destroys, 1);
  t.equal(binding.ends, 0);
  t.equal(role.closeSide, 'none', 'no linger');
  await t.resolves(role.released);
});

t.test('StreamRole.close() after sending ends the handle and lingers until onRelease()', async (t) => {
  const { role, binding, core } = streamOf();
  role.send(Buffer.from('bye'));
  role.onData(Buffer.from('0123456789'));
  t.equal(binding.pauses, 1);
  core.shutDown(() => new Error('not opened'));
  role.close();
  t.teardown(() => { role.onRelease(); });
  t.equal(binding.ends, 1, 'our side ends after the bytes sent');
  t.equal(binding.destroys, 0);
  t.equal(binding.resumes, 1, 'reading again, to discard until the peer ends');
  t.equal(role.closeSide, 'lingering');
  const released = role.released;
  t.equal(await isPending(released), true);
  role.onRelease();
  t.equal(role.closeSide, 'released');
  await t.resolves(released);
});

t.test('StreamRole.abort() resets through the transport, once the handle is gone not at all', async (t) => {
  const { role, binding, core, resets } = streamOf();
  role.send(Buffer.from('bye'));
  core.shutDown(() => new Error('not opened'));
  role.abort();
  t.same(resets, [binding]);
  t.equal(binding.ends, 0, 'no graceful end');
  binding.destroyed = true;
  role.abort();
  t.equal(resets.length, 1);
});
