// The frame reader's synchronous reads over channelPair(): frames from the
// bytes held, null when more input is needed, never a pull from the channel;
// the limit and the end of the stream as the async forms have them; and
// interleaved with async reads and frames(), no byte lost or reordered.
import t from 'tap';
import type { Test } from 'tap';
import {
  ChannelMap, ChannelStateError, FrameReader, FrameTooLongError, IncompleteFrameError, channelPair, closeAll, encodeFrame,
  lines,
} from '../../src/index.js';
import type { Channel, FrameReaderOptions } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';

/** Two channels in a map closed when the test ends. */
function pair(t: Test): [Channel, Channel] {
  const m = new ChannelMap();
  t.teardown(() => { closeAll(m, true); });
  const [a, b] = channelPair({ map: m });
  return [a, b];
}

/** A reader over `b` holding `data` after its first line (`go\n`), taken by an async read. */
async function holding(t: Test, data: string | Buffer, options: FrameReaderOptions = {}): Promise<[Channel, FrameReader]> {
  const [a, b] = pair(t);
  const reader = new FrameReader(b, options);
  await a.write(Buffer.concat([Buffer.from('go\n'), Buffer.from(data)]));
  t.equal((await deadline(reader.readLine(), 'the first line'))?.toString(), 'go');
  return [a, reader];
}

const text = (frame: Buffer | null): string | null => frame === null ? null : frame.toString('latin1');

t.test('tryReadLine() gives the lines held, then null, and never reads from the channel', async (t) => {
  const [a, b] = pair(t);
  const reader = new FrameReader(b);
  await a.write('one\r\n');
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => { setImmediate(resolve); });
  t.equal(reader.tryReadLine(), null, 'nothing is held before a read pulls');
  t.equal(reader.bufferedLength, 0, 'and nothing was pulled');
  t.equal(text(await deadline(reader.readLine(), 'the line')), 'one');

  const [, held] = await holding(t, 'two\r\nthree\n\nfour\r');
  t.equal(text(held.tryReadLine()), 'two');
  t.equal(text(held.tryReadLine({ keepDelimiter: true })), 'three\n');
  t.equal(text(held.tryReadLine()), '');
  t.equal(held.tryReadLine(), null, 'a line not held whole');
  t.equal(held.tryReadLine(), null, 'and again');
  t.equal(held.bufferedLength, 5, 'its bytes stay held');
});

t.test('tryReadUntil() takes one delimiter or several, keeping the one that matched', async (t) => {
  const [, reader] = await holding(t, 'a;b||c|d');
  t.equal(text(reader.tryReadUntil(';')), 'a');
  t.equal(text(reader.tryReadUntil(['|', '||'], { keepDelimiter: true })), 'b||');
  t.equal(text(reader.tryReadUntil(Buffer.from('|'))), 'c');
  t.equal(reader.tryReadUntil('|'), null);
  t.throws(() => reader.tryReadUntil(''), RangeError);
  t.throws(() => reader.tryReadUntil(5 as unknown as string), TypeError);
  t.equal(reader.bufferedLength, 1, 'a bad delimiter takes nothing');
});

t.test('tryReadExactly() gives a count of bytes held, else null with nothing taken', async (t) => {
  const [a, reader] = await holding(t, 'abcdef');
  t.equal(text(reader.tryReadExactly(2)), 'ab');
  t.equal(reader.tryReadExactly(0)?.length, 0);
  t.equal(reader.tryReadExactly(5), null);
  t.equal(text(reader.tryReadExactly(4)), 'cdef');
  t.throws(() => reader.tryReadExactly(-1), RangeError);
  t.throws(() => reader.tryReadExactly(1.5), TypeError);
  await a.write('gh');
  t.equal(text(await deadline(reader.readExactly(2), 'the async form')), 'gh');
});

t.test('tryReadPrefixed() gives a whole frame held, else null with nothing taken', async (t) => {
  const held = [encodeFrame('hi', { lengthBytes: 2 }), encodeFrame('', { lengthBytes: 2 }), encodeFrame('there', { lengthBytes: 2 }).subarray(0, 4)];
  const [a, reader] = await holding(t, Buffer.concat(held), { maxLength: 8 });
  t.equal(text(reader.tryReadPrefixed({ lengthBytes: 2 })), 'hi');
  t.equal(reader.tryReadPrefixed({ lengthBytes: 2 })?.length, 0);
  t.equal(reader.tryReadPrefixed({ lengthBytes: 2 }), null, 'a frame cut short');
  t.equal(reader.bufferedLength, 4, 'its prefix stays held');
  t.throws(() => reader.tryReadPrefixed({ lengthBytes: 3 as 2 }), RangeError);
  await a.write('ere');
  t.equal(text(await deadline(reader.readPrefixed({ lengthBytes: 2 }), 'the async form')), 'there');
});

t.test('tryReadPrefixed() refuses a prefix over maxLength before its payload comes, and every read after it', async (t) => {
  const [, reader] = await holding(t, Buffer.from([0, 9, 1]), { maxLength: 8 });
  t.throws(() => reader.tryReadPrefixed({ lengthBytes: 2 }), FrameTooLongError);
  t.throws(() => reader.tryReadExactly(1), FrameTooLongError, 'the stream is out of step');
  await t.rejects(reader.readLine(), FrameTooLongError);
});

t.test('maxLength: tryReadLine() fails as soon as the bytes held pass it, and every read after it', async (t) => {
  const [, reader] = await holding(t, 'abcdefghij\n', { maxLength: 8 });
  const error = (() => { try { return reader.tryReadLine(); } catch (e) { return e; } })();
  t.ok(error instanceof FrameTooLongError);
  t.equal((error as FrameTooLongError).limit, 8);
  t.throws(() => reader.tryReadLine(), FrameTooLongError);
  await t.rejects(reader.readExactly(1), FrameTooLongError);

  const [a, within] = await holding(t, 'abcdef', { maxLength: 8 });
  t.equal(within.tryReadLine(), null, 'a partial line within the limit');
  const waiting = within.readLine();
  await a.write('ghij');
  await t.rejects(deadline(waiting, 'the limit'), FrameTooLongError, 'the async form goes on from it, and fails at the limit');
});

t.test('the end of the stream: the try-reads give what is held, then null; the async form tells the end', async (t) => {
  const [a, reader] = await holding(t, 'last\nhal');
  a.close();
  t.equal(text(await deadline(reader.readLine(), 'the line')), 'last');
  t.equal(reader.tryReadLine(), null);
  t.equal(reader.tryReadExactly(4), null);
  const error = await deadline(reader.readLine().catch((e: unknown) => e), 'the end');
  t.ok(error instanceof IncompleteFrameError);
  t.equal((error as IncompleteFrameError).partial.toString(), 'hal');
  t.equal(reader.tryReadLine(), null);
  t.equal(await reader.readLine(), null);

  const [c, emit] = await holding(t, 'hal', { partial: 'emit' });
  c.close();
  t.equal(emit.tryReadLine(), null);
  t.equal(text(await deadline(emit.readLine(), 'the partial line')), 'hal');
  t.equal(await emit.readLine(), null);
});

t.test('a try-read while an async read waits is refused; after it, the bytes come in order', async (t) => {
  const [a, b] = pair(t);
  const reader = new FrameReader(b);
  const waiting = reader.readLine();
  t.throws(() => reader.tryReadLine(), ChannelStateError);
  t.throws(() => reader.tryReadExactly(1), ChannelStateError);
  t.throws(() => reader.tryReadPrefixed({ lengthBytes: 1 }), ChannelStateError);
  await a.write('one\ntwo\nthr');
  t.equal(text(await deadline(waiting, 'the line')), 'one');
  t.equal(text(reader.tryReadLine()), 'two');
  t.equal(reader.tryReadLine(), null);
  const next = reader.readLine();
  await a.write('ee\n');
  t.equal(text(await deadline(next, 'the line begun')), 'three');
});

t.test('a try-read between readPrefixed()\'s two reads is refused', async (t) => {
  const [a, b] = pair(t);
  const reader = new FrameReader(b);
  const frame = reader.readPrefixed({ lengthBytes: 1 });
  await a.write(Buffer.from([3, 0x61]));
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => { setImmediate(resolve); });
  t.throws(() => reader.tryReadExactly(1), ChannelStateError);
  await a.write('bc');
  t.equal(text(await deadline(frame, 'the frame')), 'abc');
});

t.test('after a break out of lines(), its reader\'s try-reads go on where it stopped', async (t) => {
  const [a, b] = pair(t);
  void a.write('a\nb\nc\n12345');
  const incoming = lines(b, { encoding: 'latin1' });
  for await (const line of incoming) if (line === 'a') break;
  t.equal(text(incoming.reader.tryReadLine()), 'b');
  t.equal(text(incoming.reader.tryReadLine()), 'c');
  t.equal(text(incoming.reader.tryReadExactly(5)), '12345');
});
