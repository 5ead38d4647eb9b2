// The frame reader and its iterables over channelPair(): modes switched
// mid-stream, the end-of-stream rule, early exit, the limit, signals.
import { getEventListeners } from 'node:events';
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { filter, map, take } from 'ix/asynciterable/operators';
import {
  ChannelMap, ChannelStateError, listen, FrameReader, FrameTooLongError, IncompleteFrameError, channelPair, closeAll,
  encodeFrame, frames, lines,
} from '../../src/index.js';
import type { Channel, FrameIterator, PairOptions } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';

/** Two channels in a map closed when the test ends. */
function pair(t: Test, options: PairOptions = {}): [Channel, Channel] {
  const m = new ChannelMap();
  t.teardown(() => { closeAll(m, true); });
  const [a, b] = channelPair({ map: m, ...options });
  return [a, b];
}

/** Writes `data` from `a`, then ends its side. */
async function send(a: Channel, data: string | Buffer): Promise<void> {
  await a.write(data);
  a.close();
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

t.test('lines() gives lines ended by \\n or \\r\\n, one byte at a time, as strings with encoding', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [1] });
  void send(a, 'one\r\ntwo\n\r\nthree\rx\n');
  t.same(await deadline(collect(lines(b, { encoding: 'utf8' })), 'lines'), ['one', 'two', '', 'three\rx']);
});

t.test('lines({ keepDelimiter }) keeps each line\'s own ending', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [2] });
  void send(a, 'a\r\nb\n');
  t.same(await deadline(collect(lines(b, { encoding: 'latin1', keepDelimiter: true })), 'lines'), ['a\r\n', 'b\n']);
});

t.test('lines held whole in one chunk: CRLF endings and keepDelimiter as with small chunks; over maxLength it fails', async (t) => {
  const [a, b] = pair(t);
  void send(a, 'ab\r\n\ncd\nefghij\nxy\n');
  const error = await deadline(collect(lines(b, { encoding: 'latin1', maxLength: 4 })).catch((e: unknown) => e), 'lines');
  t.ok(error instanceof FrameTooLongError, 'the 6-byte line passes the limit of 4');
  const [c, d] = pair(t);
  void send(c, 'ab\r\n\ncd\nxy');
  const reader = new FrameReader(d, { partial: 'emit' });
  t.same((await deadline(collect(lines(reader, { encoding: 'latin1', keepDelimiter: true })), 'kept')), ['ab\r\n', '\n', 'cd\n', 'xy']);
});

t.test('frames() with several delimiters ends each frame at the earliest, keeping the one that matched', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [3] });
  void send(a, 'x;;y||z;;');
  const out = await deadline(collect(frames(b, { delimiters: [';;', '||'], keepDelimiter: true, encoding: 'utf8' })), 'frames');
  t.same(out, ['x;;', 'y||', 'z;;']);
});

t.test('FrameReader switches modes mid-stream: header lines, then a body of Content-Length bytes', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [5] });
  void send(a, 'POST /x HTTP/1.1\r\nContent-Length: 11\r\nHost: h\r\n\r\nhello\nworldNEXT\r\n');
  const reader = new FrameReader(b);
  const headers: string[] = [];
  for (;;) {
    const line = await deadline(reader.readLine(), 'a header line');
    if (line === null || line.length === 0) break;
    headers.push(line.toString());
  }
  t.same(headers, ['POST /x HTTP/1.1', 'Content-Length: 11', 'Host: h']);
  const length = Number(/Content-Length: (\d+)/.exec(headers.join('\n'))?.[1]);
  t.equal((await reader.readExactly(length))?.toString(), 'hello\nworld', 'the body, newline and all');
  t.equal((await reader.readLine())?.toString(), 'NEXT', 'then lines again');
  t.equal(await reader.readLine(), null, 'null at a clean end of stream');
});

/** Reads one RESP value: simple strings, integers, bulk strings (null too) and arrays. */
async function readResp(reader: FrameReader): Promise<unknown> {
  const line = (await reader.readUntil('\r\n'))?.toString('latin1');
  if (line === undefined) throw new Error('the stream ended');
  const rest = line.slice(1);
  switch (line[0]) {
    case '+': return rest;
    case ':': return Number(rest);
    case '$': {
      if (rest === '-1') return null;
      const body = await reader.readExactly(Number(rest) + 2); // the data and its \r\n
      return body?.subarray(0, -2).toString();
    }
    case '*': {
      const items: unknown[] = [];
      for (let i = 0; i < Number(rest); i++) items.push(await readResp(reader));
      return items;
    }
    default: throw new Error(`unknown RESP type in ${line}`);
  }
}

for (const [how, options] of [['cut into 1-, 4- and 2-byte chunks', { chunkSizes: [1, 4, 2] }], ['held whole in one chunk', {}]] as const) {
  t.test(`FrameReader reads RESP ${how}: bulk strings whose data holds \\r\\n, inside arrays`, async (t) => {
    const [a, b] = pair(t, options);
    void send(a, '*3\r\n$3\r\nfoo\r\n$7\r\nba\r\nr\0!\r\n$-1\r\n+OK\r\n:42\r\n$0\r\n\r\nrest\r\n\r\n');
    const reader = new FrameReader(b);
    t.same(await deadline(readResp(reader), 'an array'), ['foo', 'ba\r\nr\0!', null]);
    t.equal(await readResp(reader), 'OK');
    t.equal(await readResp(reader), 42);
    t.equal(await readResp(reader), '');
    t.equal((await reader.readExactly(4))?.toString(), 'rest');
    t.equal((await reader.readLine())?.toString(), '', 'a CRLF alone is an empty line');
    t.equal((await reader.readLine({ keepDelimiter: true }))?.toString(), '\r\n');
    t.equal(await reader.readLine(), null);
  });
}

t.test('a break out of lines() leaves the rest readable through its reader, and the iterable ends', async (t) => {
  const [a, b] = pair(t);
  void send(a, 'h1\nh2\n\nBODY-0123456789tail\n');
  const it = lines(b, { encoding: 'utf8' });
  const headers: string[] = [];
  for await (const line of it) {
    if (line === '') break;
    headers.push(line);
  }
  t.same(headers, ['h1', 'h2']);
  t.ok(it.reader.bufferedLength > 0, 'the rest came in the same chunk and stays in the reader');
  t.equal((await it.reader.readExactly(15))?.toString(), 'BODY-0123456789');
  t.same(await collect(lines(it.reader, { encoding: 'utf8' })), ['tail'], 'a new iterable over the same reader goes on');
  t.same(await it.next(), { done: true, value: undefined });
});

t.test('return() while a step waits ends it done; the partial frame stays in the reader', async (t) => {
  const [a, b] = pair(t);
  const it = frames(b, { delimiter: '\n' });
  await a.write('par');
  const waiting = it.next();
  await deadline(new Promise<void>((resolve) => { setImmediate(resolve); }), 'a turn');
  await it.return();
  t.same(await deadline(waiting, 'the waiting step'), { done: true, value: undefined });
  void send(a, 'tial\n');
  t.equal((await deadline(it.reader.readLine(), 'the line'))?.toString(), 'partial');
});

t.test('ix operators compose, and take() leaves the lines after it to the reader', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [7] });
  void send(a, '1\n2\n3\n4\n5\n6\n');
  const it = lines(b, { encoding: 'utf8' });
  const evens = await collect(it.pipe(map(Number), filter((n) => n % 2 === 0), take(2)));
  t.same(evens, [2, 4]);
  t.same(await collect(lines(it.reader, { encoding: 'utf8' })), ['5', '6']);
});

t.test('a partial frame at the end of the stream: IncompleteFrameError by default, the last frame with partial: emit', async (t) => {
  const [a, b] = pair(t);
  void send(a, 'whole\nhalf');
  const it = lines(b, { encoding: 'utf8' });
  t.same(await it.next(), { done: false, value: 'whole' });
  const error = await it.next().catch((e: unknown) => e);
  t.ok(error instanceof IncompleteFrameError);
  t.equal((error as IncompleteFrameError).partial.toString(), 'half');
  t.equal((error as IncompleteFrameError).expected, null);
  t.same(await it.next(), { done: true, value: undefined }, 'the iteration ended');

  const [c, d] = pair(t);
  void send(c, 'whole\nhalf\r');
  t.same(await collect(lines(d, { encoding: 'utf8', partial: 'emit' })), ['whole', 'half\r'], 'a partial line keeps its bytes as they came');
});

t.test('readExactly() at the end of the stream: expected is the size; null when nothing came', async (t) => {
  const [a, b] = pair(t);
  void send(a, 'abc');
  const reader = new FrameReader(b);
  const error = await reader.readExactly(5).catch((e: unknown) => e);
  t.ok(error instanceof IncompleteFrameError);
  t.equal((error as IncompleteFrameError).partial.toString(), 'abc');
  t.equal((error as IncompleteFrameError).expected, 5);
  t.equal(await reader.readExactly(5), null);
  t.equal((await reader.readExactly(0))?.length, 0);
});

t.test('frames({ lengthBytes }) reads what encodeFrame() writes, in both byte orders', async (t) => {
  for (const endian of ['big', 'little'] as const) {
    for (const lengthBytes of [1, 2, 4] as const) {
      const [a, b] = pair(t, { chunkSizes: [1, 3] });
      const payloads = ['', 'a', 'hello\nworld', 'x'.repeat(255)];
      void send(a, Buffer.concat(payloads.map((p) => encodeFrame(p, { lengthBytes, endian }))));
      const out = await deadline(collect(frames(b, { lengthBytes, endian, encoding: 'utf8' })), `${lengthBytes} ${endian}`);
      t.same(out, payloads, `${lengthBytes} bytes, ${endian}-endian`);
    }
  }
  t.same([...encodeFrame('hi', { lengthBytes: 2 })], [0, 2, 0x68, 0x69], 'big-endian by default');
  t.same([...encodeFrame('hi', { lengthBytes: 4, endian: 'little' })], [2, 0, 0, 0, 0x68, 0x69]);
  t.throws(() => encodeFrame(Buffer.alloc(256), { lengthBytes: 1 }), RangeError);
  t.throws(() => encodeFrame(Buffer.alloc(65536), { lengthBytes: 2 }), RangeError);
  t.throws(() => encodeFrame('x', { lengthBytes: 3 as 1 }), RangeError);
});

t.test('readPrefixed(): a prefix over maxLength fails at once; a cut frame carries its prefix and length', async (t) => {
  const [a, b] = pair(t);
  await a.write(Buffer.from([0, 0, 0x10, 0]));
  const reader = new FrameReader(b, { maxLength: 1024 });
  const error = await deadline(reader.readPrefixed({ lengthBytes: 4 }).catch((e: unknown) => e), 'the error');
  t.ok(error instanceof FrameTooLongError, 'before any payload came');
  t.equal((error as FrameTooLongError).length, 4096);
  t.equal(await reader.readExactly(1).catch((e: unknown) => e), error, 'the stream is out of step: every later read rejects with it');

  const [c, d] = pair(t);
  void send(c, Buffer.from([0, 5, 0x61, 0x62]));
  const cut = await new FrameReader(d).readPrefixed({ lengthBytes: 2 }).catch((e: unknown) => e);
  t.ok(cut instanceof IncompleteFrameError);
  t.same([...(cut as IncompleteFrameError).partial], [0, 5, 0x61, 0x62]);
  t.equal((cut as IncompleteFrameError).expected, 7);
});

t.test('a read\'s own maxLength replaces the reader\'s for that read only, in every kind of read', async (t) => {
  const [a, b] = pair(t);
  await a.write('HELO a\r\n' + 'x'.repeat(200) + '\r\n' + 'w'.repeat(100) + '\r\n');
  await a.write(Buffer.concat([encodeFrame('y'.repeat(300), { lengthBytes: 2 }), encodeFrame('z'.repeat(300), { lengthBytes: 2 })]));
  const reader = new FrameReader(b, { maxLength: 16 });
  t.equal((await reader.readLine())?.toString(), 'HELO a', 'the reader\'s limit holds a short line');
  t.equal((await reader.readLine({ maxLength: 1024 }))?.length, 200, 'a longer limit for one read');
  t.equal(reader.tryReadLine({ maxLength: 1024 })?.length, 100, 'and a try-read takes one too');
  t.equal((await reader.readPrefixed({ lengthBytes: 2, maxLength: 512 }))?.length, 300, 'a prefixed read under its own limit');
  t.equal(reader.tryReadPrefixed({ lengthBytes: 2, maxLength: Infinity })?.length, 300, 'Infinity: no limit');
  await a.write('a line longer than ten\n');
  const error = await reader.readUntil('\n', { maxLength: 10 }).catch((e: unknown) => e);
  t.ok(error instanceof FrameTooLongError, 'a shorter limit for one read fails that read');
  t.equal((error as FrameTooLongError).limit, 10);
  t.throws(() => reader.tryReadLine({ maxLength: 0 }), RangeError, 'a bad limit is refused at the call');
  t.throws(() => reader.tryReadLine({ maxLength: 1.5 }), TypeError);
  a.close();
  b.close();
});

t.test('maxLength: a peer sending MiBs without a delimiter fails the iteration early, with memory bounded', async (t) => {
  const [a, b] = pair(t);
  let accepted = 0;
  const blob = Buffer.alloc(64 * 1024, 0x61);
  const writer = (async () => {
    for (let i = 0; i < 128; i++) { // 8 MiB
      await a.write(blob);
      accepted += blob.length;
    }
  })().catch(() => undefined);
  const error = await deadline(collect(lines(b, { maxLength: 64 * 1024 })).catch((e: unknown) => e), 'the error');
  t.ok(error instanceof FrameTooLongError);
  t.equal((error as FrameTooLongError).limit, 64 * 1024);
  t.ok((error as FrameTooLongError).length <= 128 * 1024, `thrown at ${(error as FrameTooLongError).length} bytes, within one chunk of the limit`);
  t.ok(accepted <= 512 * 1024, `the peer got ${accepted} bytes in before the error: bounded by the windows, not the 8 MiB`);
  b.close();
  a.close();
  await writer;
});

t.test('maxLength over loopback TCP: a peer writing 16 MiB with no newline gets the error within a chunk of the limit', async (t) => {
  const m = new ChannelMap();
  t.teardown(() => { closeAll(m, true); });
  const server = await listen(['127.0.0.1', 0], { map: m });
  const peer = net.connect({ host: '127.0.0.1', port: server.port as number });
  t.teardown(() => { peer.destroy(); });
  peer.on('error', () => undefined);
  let flushed = false;
  peer.write(Buffer.alloc(16 * 1024 * 1024, 0x61), () => { flushed = true; });
  const conn = (await deadline(server.connections().next(), 'the connection')).value as Channel;
  const error = await deadline(lines(conn, { maxLength: 32 * 1024 }).next().catch((e: unknown) => e), 'the error');
  t.ok(error instanceof FrameTooLongError);
  t.ok((error as FrameTooLongError).length <= 32 * 1024 + 65536, `thrown at ${(error as FrameTooLongError).length} bytes`);
  await deadline(new Promise<void>((resolve) => { setImmediate(resolve); }), 'a turn');
  t.ok(conn.bufferedAmount <= 2 * 65536, `the channel holds ${conn.bufferedAmount} bytes: it stopped reading at its mark`);
  t.notOk(flushed, 'the peer\'s 16 MiB are not all taken');
});

t.test('the reader reads nothing ahead while nobody pulls: the peer\'s write waits', async (t) => {
  const [a, b] = pair(t, { window: 16 * 1024 });
  const reader = new FrameReader(b, { readSize: 4096 });
  const big = Buffer.alloc(1024 * 1024, 0x0a); // a million empty lines
  let done = false;
  void a.write(big).then(() => { done = true; }, () => undefined);
  t.equal((await deadline(reader.readLine(), 'one line'))?.length, 0);
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => { setImmediate(resolve); });
  t.ok(reader.bufferedLength < 4096, `the reader holds ${reader.bufferedLength} bytes: less than one read`);
  t.notOk(done, 'the peer still waits for room');
});

t.test('a signal rejects a waiting read with its reason; the partial line stays for the next read', async (t) => {
  const [a, b] = pair(t);
  const reader = new FrameReader(b);
  await a.write('hal');
  const controller = new AbortController();
  const waiting = reader.readLine({ signal: controller.signal });
  await new Promise<void>((resolve) => { setImmediate(resolve); });
  const reason = new Error('enough');
  controller.abort(reason);
  t.equal(await deadline(waiting.catch((e: unknown) => e), 'the rejection'), reason);
  await t.rejects(reader.readLine({ signal: controller.signal }), reason, 'an aborted signal rejects at once');
  void send(a, 'f\n');
  t.equal((await deadline(reader.readLine(), 'the line'))?.toString(), 'half');

  const [c, d] = pair(t);
  const stop = new AbortController();
  const it = lines(d, { signal: stop.signal });
  await c.write('x\n');
  t.equal((await it.next()).value?.toString(), 'x');
  const next = it.next();
  stop.abort(reason);
  t.equal(await deadline(next.catch((e: unknown) => e), 'the iterable rejects'), reason);
  t.equal(getEventListeners(controller.signal, 'abort').length, 0, 'no listener is left on the read\'s signal');
  t.equal(getEventListeners(stop.signal, 'abort').length, 0, 'nor on the iterable\'s');
});

t.test('FrameIterator.next() calls made while one waits run after it, in order', async (t) => {
  const [a, b] = pair(t, { chunkSizes: [1] });
  const it: FrameIterator<string> = lines(b, { encoding: 'utf8' });
  const steps = [it.next(), it.next(), it.next()];
  void send(a, 'first\nsecond\n');
  t.same(await deadline(Promise.all(steps), 'three steps'), [
    { done: false, value: 'first' }, { done: false, value: 'second' }, { done: true, value: undefined },
  ]);
});

t.test('FrameReader runs one read at a time and checks its arguments', async (t) => {
  const [, b] = pair(t);
  const reader = new FrameReader(b);
  const first = reader.readLine();
  await t.rejects(reader.readLine(), ChannelStateError);
  void first.catch(() => undefined);
  t.throws(() => new FrameReader(b, { maxLength: 0 }), RangeError);
  t.throws(() => new FrameReader(b, { partial: 'drop' as 'emit' }), TypeError);
  t.throws(() => frames(b, {}), TypeError);
  t.throws(() => frames(b, { delimiter: '\n', lengthBytes: 2 }), TypeError);
  t.throws(() => frames(b, { delimiter: '' }), RangeError);
  t.throws(() => frames(reader, { delimiter: '\n', maxLength: 5 }), TypeError);
  t.throws(() => reader.readExactly(-1), RangeError);
});

t.test('a connection that breaks mid-frame: the frames before it, then its error; the partial bytes stay in the reader', async (t) => {
  const m = new ChannelMap();
  t.teardown(() => { closeAll(m, true); });
  const link = channelPair({ map: m });
  await link.a.write('one\ntw');
  const it = lines(link.b, { encoding: 'utf8' });
  t.same(await deadline(it.next(), 'the first line'), { done: false, value: 'one' });
  link.reset(link.b);
  const error = await deadline(it.next().catch((e: unknown) => e), 'the error');
  t.equal((error as NodeJS.ErrnoException).code, 'ECONNRESET');
  t.equal(it.reader.takeBuffered().toString(), 'tw');
});

t.test('a return() between readPrefixed()\'s reads when the reader already holds the whole frame: the frame stays in order', async (t) => {
  const [a, b] = pair(t);
  await a.write(Buffer.concat([encodeFrame('one', { lengthBytes: 2 }), encodeFrame('two', { lengthBytes: 2 })]));
  const reader = new FrameReader(b);
  t.equal((await deadline(reader.readPrefixed({ lengthBytes: 2 }), 'one'))?.toString(), 'one');
  t.ok(reader.bufferedLength > 0, 'the second frame is held');
  const it = frames(reader, { lengthBytes: 2, encoding: 'utf8' });
  const step = it.next();
  await it.return(); // between the prefix (read at once) and the payload
  t.same(await deadline(step, 'the step'), { done: true, value: undefined });
  t.equal((await deadline(reader.readPrefixed({ lengthBytes: 2 }), 'two'))?.toString(), 'two', 'prefix before payload');
});

t.test('readPrefixed() holds the reader for both its reads; a return() between or during them keeps the whole frame', async (t) => {
  const [a, b] = pair(t);
  await a.write(encodeFrame('first', { lengthBytes: 2 }));
  const reader = new FrameReader(b);
  const reading = reader.readPrefixed({ lengthBytes: 2 });
  await t.rejects(reader.readLine(), ChannelStateError, 'no other read while it runs');
  t.equal((await deadline(reading, 'the frame'))?.toString(), 'first');

  await a.write(encodeFrame('second', { lengthBytes: 2 }));
  await deadline(new Promise<void>((resolve) => { setImmediate(resolve); }), 'the bytes arrive');
  const it = frames(reader, { lengthBytes: 2, encoding: 'utf8' });
  const step = it.next();
  await it.return(); // the prefix was read at once; the cancel waits for the payload's read
  t.same(await deadline(step, 'the step'), { done: true, value: undefined });
  t.equal((await reader.readPrefixed({ lengthBytes: 2 }))?.toString(), 'second', 'the frame is still there, prefix and all');

  const third = encodeFrame('third', { lengthBytes: 2 });
  await a.write(third.subarray(0, 4));
  const again = frames(reader, { lengthBytes: 2, encoding: 'utf8' });
  const waiting = again.next();
  await deadline(new Promise<void>((resolve) => { setImmediate(resolve); }), 'a turn');
  await again.return(); // the payload's read is waiting
  t.same(await deadline(waiting, 'the step'), { done: true, value: undefined });
  void send(a, third.subarray(4));
  t.equal((await deadline(reader.readPrefixed({ lengthBytes: 2 }), 'the frame'))?.toString(), 'third');
});
