// AsyncChat's input side, fed by hand (exact splits, no socket):
// terminators of each kind and their checks, changes inside
// foundTerminator(), empty frames, the default handlers, getData(), and the
// frame limit: maxFrameLength and frameTooLong().
import t from 'tap';
import { dispatchEvent } from '../../src/classic/dispatch.js';
import { AsyncChat, FrameTooLongError } from '../../src/index.js';
import { FedChat, QuietChat } from '../helpers/async-chat.js';
import { testMap } from '../helpers/net.js';

t.test('AsyncChat.setTerminator() takes bytes, strings (UTF-8), counts and null; getTerminator() returns bytes or the count left', async (t) => {
  const c = new FedChat(null, testMap(t));
  t.equal(c.getTerminator(), null, 'null by default');
  c.setTerminator('→');
  t.same(c.getTerminator(), Buffer.from('→', 'utf8'));
  const bytes = Buffer.from('\r\n');
  c.setTerminator(bytes);
  bytes.write('XY');
  t.same(c.getTerminator(), Buffer.from('\r\n'), 'a copy: the caller may reuse its buffer');
  c.setTerminator(new Uint8Array([0]));
  t.same(c.getTerminator(), Buffer.from([0]));
  c.setTerminator(7);
  t.equal(c.getTerminator(), 7);
  c.setTerminator(null);
  t.equal(c.getTerminator(), null);
});

t.test('AsyncChat.setTerminator() rejects negative counts with RangeError and other values with TypeError', async (t) => {
  const c = new FedChat('\n', testMap(t));
  t.throws(() => { c.setTerminator(-5); }, RangeError);
  for (const bad of [1.5, NaN, Infinity, undefined, {}, [Buffer.from('\n')], true, 10n]) {
    t.throws(() => { c.setTerminator(bad as unknown as null); }, TypeError, `TypeError for ${typeof bad}`);
  }
  t.same(c.getTerminator(), Buffer.from('\n'), 'unchanged by bad values');
});

t.test('AsyncChat finds a 3-byte terminator split at every point between two reads', async (t) => {
  const input = "ab qqqI'm not dead yet!qqq";
  for (let cut = 0; cut <= input.length; cut++) {
    const c = new FedChat('qqq', testMap(t));
    c.give(input.slice(0, cut), input.slice(cut));
    t.same(c.texts, ['ab ', "I'm not dead yet!"], `cut at ${cut}`);
    t.equal(c.buffer.length, 0);
  }
});

t.test('AsyncChat counts a count terminator down across reads, then collects the rest with a count of 0', async (t) => {
  const c = new FedChat(5, testMap(t));
  c.give('ab');
  t.equal(c.getTerminator(), 3, 'three to go');
  c.give('cd', 'efg');
  t.same(c.texts, ['abcde']);
  t.equal(c.getTerminator(), 0);
  t.equal(c.buffer.toString(), 'fg', 'a count of 0 collects everything, as null does');
});

t.test('AsyncChat with a null terminator collects every byte and never calls foundTerminator()', async (t) => {
  const c = new FedChat(null, testMap(t));
  c.give('a\nb', '\r\n', 'qqq');
  t.same(c.contents, []);
  t.equal(c.buffer.toString(), 'a\nb\r\nqqq');
});

t.test('AsyncChat applies a terminator changed inside foundTerminator() to the rest of the same read', async (t) => {
  class Lengths extends FedChat {
    override foundTerminator(): void {
      super.foundTerminator();
      const last = this.texts.at(-1) ?? '';
      this.setTerminator(last.startsWith('LEN ') ? Number(last.slice(4)) : '\n');
    }
  }
  const c = new Lengths('\n', testMap(t));
  c.give('LEN 5\nhelloLEN 3\nabcLEN 0\nplain\n');
  t.same(c.texts, ['LEN 5', 'hello', 'LEN 3', 'abc', 'LEN 0']);
  t.equal(c.buffer.toString(), 'plain\n', 'a count of 0 collects the rest');
});

t.test('AsyncChat calls foundTerminator() alone for an empty frame between two terminators', async (t) => {
  const calls: string[] = [];
  class Recorder extends FedChat {
    override collectIncomingData(data: Buffer): void { calls.push(`collect ${data.toString()}`); }
    override foundTerminator(): void { calls.push('found'); }
  }
  const c = new Recorder('\r\n', testMap(t));
  c.give('a\r\n\r\nb\r', '\n');
  t.same(calls, ['collect a', 'found', 'found', 'collect b', 'found']);
});

t.test('AsyncChat default collectIncomingData() and foundTerminator() throw errors that go to handleError()', async (t) => {
  class Bare extends AsyncChat {
    feed: Buffer[] = [];
    errors: unknown[] = [];
    override recv(): Buffer | null { return this.feed.shift() ?? null; }
    override handleError(error: unknown): void { this.errors.push(error); }
  }
  const c = new Bare(null, testMap(t));
  c.setTerminator('\n');
  c.feed.push(Buffer.from('data'));
  t.throws(() => c.handleRead(), { message: 'Cannot collect 4 bytes of input: Bare must override collectIncomingData()' });
  c.collectIncomingData = (): void => { /* collected */ };
  c.feed.push(Buffer.from('\n'));
  t.throws(() => c.handleRead(), { message: 'Cannot end a frame: Bare must override foundTerminator()' });
  // Through the classic dispatch, as the loop calls it:
  c.feed.push(Buffer.from('\n'));
  dispatchEvent(c, { type: 'read', channel: c } as never);
  t.match(c.errors, [{ message: /must override foundTerminator\(\)/ }], 'the loop hands the error to handleError()');
});

t.test('AsyncChat empties incoming when a frame passes the limit', async (t) => {
  class Lines extends FedChat {
    lines: string[] = [];
    override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
    override foundTerminator(): void { this.lines.push(this.getData().toString()); }
    override frameTooLong(): void { this.lines.push('too long'); }
  }
  const c = new Lines('\n', testMap(t));
  c.maxFrameLength = 4;
  c.give('abc', 'defgh\nok\n');
  t.same(c.lines, ['too long', 'ok']);
});

t.test('AsyncChat.getData() joins and empties incoming', async (t) => {
  class Lines extends FedChat {
    lines: string[] = [];
    override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
    override foundTerminator(): void { this.lines.push(this.getData().toString()); }
  }
  const c = new Lines('\n', testMap(t));
  c.give('he', 'll', 'o\n\nworld\n');
  t.same(c.lines, ['hello', '', 'world']);
  t.same(c.incoming, []);
  t.equal(c.getData().length, 0);
});

t.test('AsyncChat.maxFrameLength defaults to 65536 and takes positive integers or Infinity, as an option or a property', async (t) => {
  const map = testMap(t);
  const c = new FedChat('\n', map);
  t.equal(c.maxFrameLength, 65536);
  c.maxFrameLength = Infinity;
  t.equal(c.maxFrameLength, Infinity);
  for (const bad of [0, -1]) t.throws(() => { c.maxFrameLength = bad; }, RangeError);
  for (const bad of [1.5, NaN, '10']) t.throws(() => { c.maxFrameLength = bad as number; }, TypeError);
  t.equal(c.maxFrameLength, Infinity, 'unchanged by bad values');
  t.equal(new QuietChat(null, map, { maxFrameLength: 10 }).maxFrameLength, 10);
  t.throws(() => new QuietChat(null, map, { maxFrameLength: 0 }), { name: 'RangeError', message: /^Invalid maxFrameLength/ });
});

t.test('AsyncChat calls frameTooLong() as soon as a frame passes maxFrameLength; its default hands the FrameTooLongError to handleError()', async (t) => {
  class Limited extends FedChat {
    tooLong: FrameTooLongError[] = [];
    override frameTooLong(error: FrameTooLongError): void {
      this.tooLong.push(error);
      this.buffer = Buffer.alloc(0); // what was collected of the long frame
      void super.frameTooLong(error);
    }
  }
  const c = new Limited('\n', testMap(t));
  c.maxFrameLength = 8;
  c.give('12345678\n');
  t.same(c.texts, ['12345678'], 'a frame of exactly the limit passes');
  c.give('1234', '56789');
  t.equal(c.tooLong.length, 1, 'reported at the read that passed the limit, before any terminator');
  const [error] = c.tooLong;
  t.ok(error instanceof FrameTooLongError);
  t.equal(error?.code, 'ERR_FRAME_TOO_LONG');
  t.equal(error?.length, 9);
  t.equal(error?.limit, 8);
  t.equal(c.errors[0], error, 'the default frameTooLong() calls handleError()');
  c.give('more of it', '\nnext\n');
  t.equal(c.tooLong.length, 1, 'once per frame');
  t.same(c.texts, ['12345678', 'next'], 'a channel left open skips the long frame to its terminator and reads on');
});

t.test('AsyncChat default frameTooLong() and handleError() log the error and close the channel', async (t) => {
  class Lines extends QuietChat {
    feed: Buffer[] = [];
    frames = 0;
    override recv(): Buffer | null { return this.feed.shift() ?? null; }
    override collectIncomingData(): void { /* dropped */ }
    override foundTerminator(): void { this.frames++; }
  }
  const c = new Lines(null, testMap(t), { maxFrameLength: 4 });
  c.setTerminator('\n');
  c.feed.push(Buffer.from('12345\nab\n'));
  c.handleRead();
  t.equal(c.state, 'closed');
  t.equal(c.frames, 0, 'no frame after the close, even from the same read');
  t.match(c.logs, [/^error: uncaptured error, closing channel .*FrameTooLongError.*over the limit of 4/]);
});

t.test('AsyncChat counts a count terminator against maxFrameLength; Infinity lifts the limit', async (t) => {
  const c = new FedChat(100, testMap(t));
  c.maxFrameLength = 50;
  c.give(Buffer.alloc(60));
  t.match(c.errors, [{ code: 'ERR_FRAME_TOO_LONG', length: 60, limit: 50 }]);
  const big = new FedChat('\n', testMap(t));
  big.maxFrameLength = Infinity;
  big.give(Buffer.alloc(1 << 20, 'x'), '\n');
  t.equal(big.contents[0]?.length, 1 << 20, 'a 1 MiB line, as Python would take it');
  t.same(big.errors, []);
});

t.test('AsyncChat stops scanning once a handler closed the channel', async (t) => {
  class Quitter extends FedChat {
    override foundTerminator(): void {
      super.foundTerminator();
      if (this.texts.at(-1) === 'QUIT') this.close();
    }
  }
  const c = new Quitter('\n', testMap(t));
  c.give('a\nQUIT\nb\nc\n');
  t.same(c.texts, ['a', 'QUIT']);
  t.equal(c.state, 'closed');
});
