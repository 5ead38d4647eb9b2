// FileDispatcher: Python's file_dispatcher under `await loop()`, with cat
// and a named pipe as peers: handleRead()/recv() and handleWrite()/send() as
// on sockets, handleClose() after the end, fileno(), and what it refuses.
import { closeSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BadDescriptorError, FileDispatcher, SHUT_WR, loop } from '../../src/index.js';
import type { ChannelMap, DescriptorOptions, DescriptorSource } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { failOnUnhandled } from '../helpers/dispatchers.js';
import { tempDir, testMap } from '../helpers/net.js';
import { cat, fifo, payload } from '../helpers/pipes.js';

failOnUnhandled(t);

/** Sends `data` as the pipe takes it, then shuts down for writing; records its handler calls. */
class Feeder extends FileDispatcher {
  readonly calls: string[] = [];
  #rest: Buffer;
  constructor(source: DescriptorSource, map: ChannelMap, data: Buffer, options?: DescriptorOptions) {
    super(source, map, options);
    this.#rest = data;
  }
  override writable(): boolean { return this.#rest.length > 0; }
  override handleWrite(): void {
    this.calls.push('write');
    this.#rest = this.#rest.subarray(this.send(this.#rest));
    if (this.#rest.length === 0) this.shutdown(SHUT_WR);
  }
  override handleClose(): void {
    this.calls.push('close');
    this.close();
  }
}

/** Reads to the end; records its handler calls. */
class Collector extends FileDispatcher {
  readonly calls: string[] = [];
  readonly #parts: Buffer[] = [];
  override handleRead(): void {
    const data = this.recv(65536);
    this.calls.push(data?.length === 0 ? 'end' : 'read');
    if (data !== null) this.#parts.push(data);
  }
  override handleClose(): void {
    this.calls.push('close');
    this.close();
  }
  get data(): Buffer { return Buffer.concat(this.#parts); }
}

t.test('FileDispatcher copies 300 KiB through cat under loop(): handleWrite()/send(), handleRead()/recv(), handleClose()', async (t) => {
  const map = testMap(t);
  const { proc, exited } = cat(t);
  const bytes = payload(300 * 1024);
  const feeder = new Feeder([proc, 0], map, bytes);
  const collector = new Collector([proc, 1], map);
  t.equal(feeder.connected, true, 'connected at once, as Python\'s');
  t.equal(feeder.fileno(), null, 'a child\'s pipe has no number here');
  await deadline(Promise.resolve(loop({ map })), 'the loop runs until both dispatchers closed');
  t.ok(collector.data.equals(bytes), 'every byte came back, in order');
  t.same(collector.calls.slice(-2), ['end', 'close'], 'the read giving the end, then handleClose()');
  t.ok(feeder.calls.includes('write'));
  t.same(feeder.calls.at(-1), 'close', 'the write-only dispatcher closes once shut for writing');
  t.equal(map.size, 0);
  t.equal(await deadline(exited, 'cat exits'), 0);
});

t.test('FileDispatcher over a named pipe by number: fileno(), the ways from the access mode, the descriptor owned', async (t) => {
  const map = testMap(t);
  const ends = fifo(t);
  const bytes = payload(64 * 1024 + 17);
  const reader = new Collector(ends.give(ends.reader), map);
  const writer = new Feeder(ends.give(ends.writer), map, bytes);
  t.equal(reader.fileno(), ends.reader);
  t.equal(writer.fileno(), ends.writer);
  t.throws(() => reader.send('x'), { name: 'ChannelStateError', message: 'Cannot send: the channel is read-only' });
  t.throws(() => writer.recv(1), { name: 'ChannelStateError', message: 'Cannot recv: the channel is write-only' });
  await deadline(Promise.resolve(loop({ map })), 'the loop runs until both dispatchers closed');
  t.ok(reader.data.equals(bytes));
  t.equal(reader.fileno(), -1, 'closed: -1');
  t.same(reader.recv(10), Buffer.alloc(0), 'a closed dispatcher reads the end, as in Python');
});

t.test('FileDispatcher refuses a regular file and a second descriptor; it never binds, listens or connects', async (t) => {
  const map = testMap(t);
  const file = path.join(tempDir(t), 'plain.txt');
  writeFileSync(file, 'plain');
  const fd = openSync(file, 'r');
  t.teardown(() => { closeSync(fd); });
  t.throws(() => new FileDispatcher(fd, map), BadDescriptorError);
  t.equal(map.size, 0, 'the refused dispatcher did not join the map');
  const { proc } = cat(t);
  const dispatcher = new FileDispatcher([proc, 1], map);
  t.throws(() => { dispatcher.setFile([proc, 0]); }, { name: 'ChannelStateError', message: 'Cannot open descriptor: the channel is already in use' });
  t.throws(() => { dispatcher.listen(5); }, { name: 'ChannelStateError', message: 'Cannot listen: the channel is open' });
  t.throws(() => { dispatcher.connect(['127.0.0.1', 1]); }, { name: 'ChannelStateError', message: 'Cannot connect: the channel is open' });
  t.throws(() => dispatcher.accept(), { name: 'ChannelStateError' });
  dispatcher.close();
});
