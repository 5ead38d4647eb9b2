// Python 3.11's test_asynchat.py, scenario by scenario, against our
// AsyncChat: its echo client over a real loopback connection to its echo
// server (rebuilt in test/helpers/async-chat.ts), which echoes what it got
// in pieces of 1, 2 or 3 bytes. Each test keeps the Python test's name.
import t from 'tap';
import type { Test } from 'tap';
import { SimpleProducer, loop } from '../../src/index.js';
import type { ChannelMap } from '../../src/index.js';
import { EchoClient, FedChat, SERVER_QUIT, echoServer } from '../helpers/async-chat.js';
import { deadline } from '../helpers/deadline.js';
import { failOnUnhandled, settle } from '../helpers/dispatchers.js';
import { testMap } from '../helpers/net.js';

failOnUnhandled(t);

/**
 * Python runs every test of TestAsynchat twice, the second time with
 * use_poll (TestAsynchat_WithPoll): so do these, with loop()'s usePoll
 * (accepted and ignored: Node chooses its poller).
 */
const variants = [{ suffix: '', usePoll: false }, { suffix: ' (WithPoll)', usePoll: true }] as const;
let usePollNow = false;

/** Registers a network scenario once per variant. */
function scenario(name: string, fn: (t: Test) => Promise<void>): void {
  for (const { suffix, usePoll } of variants) {
    t.test(name.replace(':', `${suffix}:`), async (t) => {
      usePollNow = usePoll;
      await fn(t);
    });
  }
}

/** Runs the classic loop until the map is empty (the client closed). */
async function run(map: ChannelMap, what: string): Promise<void> {
  await deadline((async () => { await loop(30, usePollNow, map); })(), what);
}

/** Python's line_terminator_check(). */
async function lineTerminatorCheck(t: Test, term: string, serverChunk: number): Promise<void> {
  const map = testMap(t);
  const server = await echoServer(t, serverChunk);
  const c = new EchoClient(Buffer.from(term), server.port, map);
  c.push(Buffer.from('hello '));
  c.push(Buffer.from(`world${term}`));
  c.push(Buffer.from(`I'm not dead yet!${term}`));
  c.push(SERVER_QUIT);
  await run(map, `the echo of ${serverChunk}-byte pieces`);
  await deadline(server.done, 'the server is done');
  t.same(c.contents.map(String), ['hello world', "I'm not dead yet!"], `pieces of ${serverChunk}`);
  t.same(c.logs, []);
}

for (const [name, term] of [['line_terminator1', '\n'], ['line_terminator2', '\r\n'], ['line_terminator3', 'qqq']] as const) {
  scenario(`AsyncChat ${name}: a ${term.length}-byte terminator is found in echoes of 1, 2 and 3 bytes at a time`, async (t) => {
    for (const size of [1, 2, 3]) await lineTerminatorCheck(t, term, size);
  });
}

/** Python's numeric_terminator_check(). */
async function numericTerminatorCheck(t: Test, termlen: number): Promise<void> {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient(termlen, server.port, map);
  const data = Buffer.from("hello world, I'm not dead yet!\n");
  c.push(data);
  c.push(SERVER_QUIT);
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents.map(String), [data.subarray(0, termlen).toString()]);
  t.equal(c.getTerminator(), 0, 'the count ran out');
}

scenario('AsyncChat numeric_terminator1: a count of 1 gives one frame of 1 byte', async (t) => {
  await numericTerminatorCheck(t, 1);
});

scenario('AsyncChat numeric_terminator2: a count of 6 gives one frame of 6 bytes, counted down across reads', async (t) => {
  await numericTerminatorCheck(t, 6);
});

scenario('AsyncChat none_terminator: with null every byte is collected and foundTerminator() never called', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient(null, server.port, map);
  const data = Buffer.from("hello world, I'm not dead yet!\n");
  c.push(data);
  c.push(SERVER_QUIT);
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents, []);
  t.equal(c.buffer.toString(), data.toString());
});

scenario('AsyncChat simple_producer: a SimpleProducer of 8-byte pieces is sent whole', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient('\n', server.port, map);
  const data = Buffer.from("hello world\nI'm not dead yet!\n");
  c.pushWithProducer(new SimpleProducer(Buffer.concat([data, SERVER_QUIT]), 8));
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents.map(String), ['hello world', "I'm not dead yet!"]);
});

scenario('AsyncChat string_producer: bytes given as a producer are sent as data', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient('\n', server.port, map);
  const data = Buffer.from("hello world\nI'm not dead yet!\n");
  c.pushWithProducer(Buffer.concat([data, SERVER_QUIT]));
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents.map(String), ['hello world', "I'm not dead yet!"]);
});

scenario('AsyncChat empty_line: an empty line is a frame of its own', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient('\n', server.port, map);
  c.push(Buffer.from("hello world\n\nI'm not dead yet!\n"));
  c.push(SERVER_QUIT);
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents.map(String), ['hello world', '', "I'm not dead yet!"]);
});

scenario('AsyncChat close_when_done: the channel closes once everything pushed before it was sent, and every byte arrives', async (t) => {
  const map = testMap(t);
  const resend = settle();
  const server = await echoServer(t, 1, resend.promise);
  const c = new EchoClient('\n', server.port, map);
  const data = Buffer.from("hello world\nI'm not dead yet!\n");
  c.push(data);
  c.push(SERVER_QUIT);
  c.closeWhenDone();
  c.push('never sent: pushed after closeWhenDone()\n');
  await run(map, 'the client closes');
  t.equal(c.state, 'closed');
  // Only now may the server echo: the client is gone, so nothing comes back.
  resend.resolve(undefined);
  const received = await deadline(server.done, 'the server is done');
  t.same(c.contents, []);
  // Python checks that the server got something; the graceful close delivers all of it.
  t.equal(received.toString(), data.toString(), 'every byte queued before closeWhenDone() arrived, nothing after');
});

scenario('AsyncChat push: Buffer, Uint8Array and a view are sent; other types are a TypeError (a string is accepted here)', async (t) => {
  const map = testMap(t);
  const server = await echoServer(t, 1);
  const c = new EchoClient('\n', server.port, map);
  const data = Buffer.from('bytes\n');
  c.push(data);
  c.push(new Uint8Array(data)); // bytearray
  const backing = Buffer.from(`xx${data.toString()}yy`);
  c.push(new Uint8Array(backing.buffer, backing.byteOffset + 2, data.length)); // memoryview
  t.throws(() => { c.push(10 as unknown as string); }, { name: 'TypeError', message: /^Cannot push data: expected a Buffer, Uint8Array or string, got 10/ });
  t.throws(() => { c.push({} as unknown as string); }, TypeError);
  c.push('bytes\n'); // Python raises TypeError for str; UTF-8 here
  c.push(SERVER_QUIT);
  await run(map, 'the echo');
  await server.done;
  t.same(c.contents.map(String), ['bytes', 'bytes', 'bytes', 'bytes']);
});

t.test('AsyncChat blockingioerror (TestAsynchatMocked): a read with nothing to take does nothing and calls no handleError()', async (t) => {
  const c = new FedChat('\n', testMap(t));
  c.feed.push(null); // recv() returns null: Python's BlockingIOError
  t.equal(c.handleRead(), undefined);
  t.same(c.errors, []);
  t.same(c.contents, []);
});

t.test('AsyncChat find_prefix_at_end (TestHelperFunctions): a terminator start at the end of a read is held, none is not', async (t) => {
  const c = new FedChat('\r\n', testMap(t));
  c.give('qwerty\r');
  t.equal(c.buffer.toString(), 'qwerty', 'find_prefix_at_end("qwerty\\r", "\\r\\n") == 1: one byte held');
  c.give('\nqwertydkjf');
  t.same(c.texts, ['qwerty'], 'the held byte completed the terminator');
  t.equal(c.buffer.toString(), 'qwertydkjf', 'find_prefix_at_end("qwertydkjf", "\\r\\n") == 0: nothing held');
});

t.test('AsyncChat disallow_negative_terminator (TestNotConnected): a negative count is a RangeError', async (t) => {
  const c = new FedChat('\n', testMap(t));
  t.throws(() => { c.setTerminator(-1); }, { name: 'RangeError', message: 'Cannot set terminator: a count must not be negative, got -1' });
  t.equal(c.getTerminator()?.toString(), '\n', 'unchanged');
});
