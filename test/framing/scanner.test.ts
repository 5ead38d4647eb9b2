// The framing scanner alone: what it hands its sink for each way a stream can
// be cut, with no socket.
import t from 'tap';
import { FrameScanner } from '../../src/framing/scanner.js';
import type { FrameSink, ScanTerminator } from '../../src/framing/scanner.js';

/** A sink that records what it is told: pieces as strings, `|` for an end, `!n` for a frame too long. */
class Recorder implements FrameSink {
  readonly log: string[] = [];
  stopAfter = Infinity;
  onFound: (() => void) | null = null;
  collect(data: Buffer): void { this.log.push(data.toString('latin1')); }
  found(): boolean {
    this.log.push('|');
    this.onFound?.();
    return --this.stopAfter <= 0;
  }
  tooLong(length: number, limit: number): void { this.log.push(`!${length}>${limit}`); }
}

function scanAll(term: ScanTerminator, chunks: readonly string[], max = Infinity): string[] {
  const scanner = new FrameScanner(max);
  scanner.terminator = term;
  const sink = new Recorder();
  for (const chunk of chunks) scanner.scan(Buffer.from(chunk, 'latin1'), sink);
  return sink.log;
}

/** Frames out of a record: the pieces between ends, joined. */
function frames(log: readonly string[]): string[] {
  const out: string[] = [];
  let current = '';
  for (const entry of log) {
    if (entry === '|') {
      out.push(current);
      current = '';
    } else {
      current += entry;
    }
  }
  return out;
}

t.test('FrameScanner.scan() finds a delimiter inside one chunk, and several in a row', async (t) => {
  t.same(scanAll(Buffer.from('\r\n'), ['hello\r\nworld\r\n']), ['hello', '|', 'world', '|']);
});

t.test('FrameScanner.scan() finds a delimiter split across chunks, holding back only its possible start', async (t) => {
  const log = scanAll(Buffer.from('\r\n'), ['hel', 'lo\r', '\nwor', 'ld\r', '\n']);
  t.same(log, ['hel', 'lo', '|', 'wor', 'ld', '|'], 'the \\r is held until the \\n decides');
  t.same(frames(scanAll(Buffer.from('abcde'), ['xxab', 'cdeyyabc', 'd', 'e'])), ['xx', 'yy']);
});

t.test('FrameScanner.scan() gives an empty frame as an end without a piece', async (t) => {
  t.same(scanAll(Buffer.from('\n'), ['a\n\nb\n']), ['a', '|', '|', 'b', '|']);
});

t.test('FrameScanner.scan() with a byte count: counted down across chunks, then 0 collects everything', async (t) => {
  const scanner = new FrameScanner(Infinity);
  scanner.terminator = 5;
  const sink = new Recorder();
  scanner.scan(Buffer.from('abc'), sink);
  t.equal(scanner.terminator, 2, 'what remains of the count');
  scanner.scan(Buffer.from('defgh'), sink);
  t.same(sink.log, ['abc', 'de', '|', 'fgh'], 'as Python: a count of 0 collects the rest');
  t.equal(scanner.terminator, 0);
});

t.test('FrameScanner.scan() with null, 0 or an empty delimiter collects everything and never ends a frame', async (t) => {
  for (const term of [null, 0, Buffer.alloc(0)]) t.same(scanAll(term, ['ab\n', 'c']), ['ab\n', 'c'], String(term));
});

t.test('FrameScanner.scan() applies a terminator changed in found() to the rest of the same chunk', async (t) => {
  const scanner = new FrameScanner(Infinity);
  scanner.terminator = Buffer.from('\n');
  const sink = new Recorder();
  sink.onFound = () => { scanner.terminator = typeof scanner.terminator === 'number' ? Buffer.from('\n') : 3; };
  scanner.scan(Buffer.from('len\nabcrest\n'), sink);
  t.same(sink.log, ['len', '|', 'abc', '|', 'rest', '|']);
});

t.test('FrameScanner.scan() with several delimiters ends at the earliest, the longest at one position', async (t) => {
  const term = [Buffer.from('\n'), Buffer.from('\r\n')];
  t.same(frames(scanAll(term, ['a\r\nb\nc\r', '\nd\n'])), ['a', 'b', 'c', 'd']);
  t.same(frames(scanAll([Buffer.from('\n'), Buffer.from('\n\n')], ['a\n\nb\n'])), ['a', 'b'], 'the longer of two matches at one place');
});

t.test('FrameScanner.scan() reports a frame past the limit at once, skips the rest of it, and goes on', async (t) => {
  const log = scanAll(Buffer.from('\n'), ['ok\n12345', '678', '9\nnext\n'], 6);
  t.same(log, ['ok', '|', '12345', '!8>6', 'next', '|'], 'bytes under the limit are collected; the frame is reported once it passes the limit, before its terminator, and gets no end');
  t.same(scanAll(Buffer.from('\n'), ['123456\n']), ['123456', '|'], 'a frame at the limit is fine');
  t.same(scanAll(Buffer.from('\n'), ['123456\n'], 6), ['123456', '|'], 'the limit counts the frame, not its terminator');
  t.same(scanAll(4, ['abcdefgh'], 2), ['!4>2', 'efgh'], 'a count over the limit: skipped whole (then a count of 0 collects the rest)');
  t.same(scanAll(null, ['abcdefgh'], 2), ['abcdefgh'], 'no frames, no limit');
});

t.test('FrameScanner.scan() over a terminator that never comes keeps memory bounded', async (t) => {
  const scanner = new FrameScanner(1024);
  scanner.terminator = Buffer.from('\r\n');
  let collected = 0;
  let tooLong = 0;
  const sink: FrameSink = {
    collect: (data) => { collected += data.length; },
    found: () => undefined,
    tooLong: () => { tooLong++; },
  };
  const chunk = Buffer.alloc(64 * 1024, 'x');
  for (let i = 0; i < 1024; i++) scanner.scan(chunk, sink); // 64 MiB
  t.equal(tooLong, 1, 'reported once');
  t.equal(collected, 0, 'nothing of it collected: the first chunk already passed the limit');
  t.equal(scanner.pendingLength, 0, 'nothing held');
});

t.test('FrameScanner.scan() stops when found() says so, and goes on from the bytes it left', async (t) => {
  const scanner = new FrameScanner(Infinity);
  scanner.terminator = Buffer.from('\n');
  const sink = new Recorder();
  sink.stopAfter = 1;
  t.equal(scanner.scan(Buffer.from('a\nb\nc'), sink), true, 'stopped');
  t.same(sink.log, ['a', '|']);
  t.equal(scanner.pendingLength, 3, 'b\\nc left');
  scanner.terminator = 1;
  sink.stopAfter = 1;
  scanner.scan(Buffer.alloc(0), sink);
  t.same(sink.log, ['a', '|', 'b', '|'], 'the new terminator applies to what was left');
  t.equal(scanner.takePending().toString(), '\nc');
});

t.test('FrameScanner.scan() cuts a stream the same whatever its chunking (every split of a sample)', async (t) => {
  const text = 'GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n';
  const whole = frames(scanAll(Buffer.from('\r\n'), [text]));
  for (let a = 0; a <= text.length; a++) {
    for (let b = a; b <= text.length; b++) {
      const split = frames(scanAll(Buffer.from('\r\n'), [text.slice(0, a), text.slice(a, b), text.slice(b)]));
      if (split.join('\0') !== whole.join('\0')) t.fail(`split at ${a}, ${b}: ${JSON.stringify(split)}`);
    }
  }
  t.same(whole, ['GET / HTTP/1.1', 'Host: x', '', 'body']);
});

t.test('FrameScanner.quick() cuts a count or a line from the bytes held, by offset, and declines what scan() must do', async (t) => {
  const scanner = new FrameScanner(8);
  scanner.terminator = Buffer.from('\n');
  t.equal(scanner.quick(Buffer.from('ab\r\ncdefg\nxyz'), false, true)?.toString(), 'ab', 'a line without its \\r');
  t.equal(scanner.pendingLength, 9, 'the rest held');
  scanner.terminator = 3;
  t.equal(scanner.quick(Buffer.alloc(0), false)?.toString(), 'cde', 'a count from the bytes held');
  t.equal(scanner.terminator, 0, 'the count is used up');
  scanner.terminator = 9;
  t.equal(scanner.quick(Buffer.alloc(0), false), undefined, 'a count over maxFrameLength is left to scan()');
  scanner.terminator = 7;
  t.equal(scanner.quick(Buffer.alloc(0), false), undefined, 'a count past the bytes held is left to scan()');
  t.equal(scanner.pendingLength, 6, 'and nothing taken');
  scanner.terminator = Buffer.from('\n');
  t.equal(scanner.quick(Buffer.alloc(0), true, true)?.toString(), 'fg\n', 'keep wins over line');
  scanner.terminator = 3;
  t.equal(scanner.quick(Buffer.alloc(0), false)?.toString(), 'xyz', 'a count to the last byte');
  t.equal(scanner.pendingLength, 0);
});
