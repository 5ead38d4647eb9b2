// The in-memory binding on its own: two endpoints of memoryLink() with
// recording fake roles in place of the stream role. Delivery on a later turn,
// the window of bytes in flight, chunk sizes, stalls, the end and release of
// both ends, and resets.
import t from 'tap';
import type { Test } from 'tap';
import type { StreamRole } from '../../src/roles/stream.js';
import { memoryLink, memoryTransport } from '../../src/transports/memory.js';
import type { MemoryEndpoint, MemoryLinkOptions } from '../../src/transports/memory.js';
import { turns } from '../helpers/fake-core.js';

/** What an endpoint told its role. */
class Recorder {
  readonly data: string[] = [];
  ends = 0;
  drains = 0;
  releases = 0;
  readonly errors: (Error & { code?: string })[] = [];
  onData(chunk: Buffer): void { this.data.push(chunk.toString()); }
  onEnd(): void { this.ends++; }
  onDrain(): void { this.drains++; }
  onError(error: Error): void { this.errors.push(error); }
  onRelease(): void { this.releases++; }
  get received(): string { return this.data.join(''); }
}

function link(t: Test, options: Partial<MemoryLinkOptions> = {}): {
  a: MemoryEndpoint; b: MemoryEndpoint; ra: Recorder; rb: Recorder;
} {
  const [a, b] = memoryLink({ window: 1024, chunkSizes: [], ...options });
  const ra = new Recorder();
  const rb = new Recorder();
  a.role = ra as unknown as StreamRole;
  b.role = rb as unknown as StreamRole;
  t.teardown(() => { a.destroy(); b.destroy(); });
  return { a, b, ra, rb };
}

t.test('MemoryEndpoint.write() delivers on a later turn, never inside write()', async (t) => {
  const { a, rb } = link(t);
  a.write(Buffer.from('hello'));
  t.same(rb.data, [], 'nothing during write()');
  await turns();
  t.same(rb.data, ['hello']);
});

t.test('MemoryEndpoint keeps at most window bytes in flight while the reader is paused', async (t) => {
  const { a, b, ra, rb } = link(t, { window: 4 });
  b.pause();
  t.equal(a.write(Buffer.from('0123456789')), false, 'past the window: write() says wait');
  await turns(3);
  t.same(rb.data, [], 'a paused reader gets nothing');
  t.equal(a.writableLength, 6, 'four bytes in flight, six still queued at the writer');
  t.equal(ra.drains, 0);
  b.resume();
  await turns(6);
  t.equal(rb.received, '0123456789', 'every byte, in order');
  t.equal(a.writableLength, 0);
  t.ok(ra.drains > 0, 'the writer hears its queue drained');
});

t.test('MemoryEndpoint delivers in the chunk sizes given, one chunk a turn', async (t) => {
  const { a, rb } = link(t, { chunkSizes: [1, 3] });
  a.write(Buffer.from('abcdefgh'));
  await turns();
  t.same(rb.data, ['a'], 'one chunk on the first turn');
  await turns(4);
  t.same(rb.data, ['a', 'bcd', 'e', 'fgh']);
});

t.test('MemoryEndpoint.stall() holds delivery toward that end until stall(false)', async (t) => {
  const { a, b, rb } = link(t, { window: 4 });
  b.stall(true);
  a.write(Buffer.from('0123456789'));
  await turns(3);
  t.same(rb.data, []);
  t.equal(a.writableLength, 6, 'the bytes back up into the writer');
  b.stall(false);
  await turns(6);
  t.equal(rb.received, '0123456789');
});

t.test('MemoryEndpoint.end() reaches the peer after the bytes; both ends release once both ended', async (t) => {
  const { a, b, ra, rb } = link(t);
  let flushed = false;
  a.write(Buffer.from('last words'));
  a.end(() => { flushed = true; });
  t.equal(a.write(Buffer.from('more')), false, 'nothing written after end()');
  await turns(3);
  t.equal(rb.received, 'last words', 'the bytes before the end');
  t.equal(rb.ends, 1, 'then the end');
  t.equal(flushed, true);
  t.same([ra.releases, rb.releases], [0, 0], 'half closed: nobody released');
  b.end();
  await turns(3);
  t.equal(ra.ends, 1);
  t.same([ra.releases, rb.releases], [1, 1], 'both ended: both released, once');
  t.same([a.destroyed, b.destroyed], [true, true]);
});

t.test('MemoryEndpoint.destroy() releases that end; the peer sees an end, keeping what it received', async (t) => {
  const { a, b, ra, rb } = link(t);
  a.write(Buffer.from('sent'));
  await turns();
  a.destroy();
  t.equal(a.destroyed, true);
  await turns(2);
  t.equal(ra.releases, 1);
  t.equal(rb.received, 'sent');
  t.equal(rb.ends, 1);
  t.same(rb.errors, [], 'no error for the peer');
  t.equal(b.destroyed, false);
});

t.test('MemoryEndpoint.reset() reports ECONNRESET at that end and releases both', async (t) => {
  const { a, b, ra, rb } = link(t);
  a.reset();
  t.same([a.destroyed, b.destroyed], [true, true], 'both gone at once');
  t.same(ra.errors, [], 'reported on a later turn');
  await turns(2);
  t.same(ra.errors.map((e) => e.code), ['ECONNRESET']);
  t.same(rb.errors, [], 'the peer is released without an error');
  t.same([ra.releases, rb.releases], [1, 1]);
});

t.test('memoryTransport.reset() aborts one end: the peer reports ECONNRESET', async (t) => {
  const { a, b, ra, rb } = link(t);
  memoryTransport.reset(a);
  await turns(2);
  t.same(rb.errors.map((e) => e.code), ['ECONNRESET']);
  t.same(ra.errors, [], 'the aborting end hears no error');
  t.same([ra.releases, rb.releases], [1, 1]);
  t.same([a.destroyed, b.destroyed], [true, true]);
});
