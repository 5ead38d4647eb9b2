// channelPair(): two channels joined in memory behave as a socket pair does.
import t from 'tap';
import type { Test } from 'tap';
import { ChannelMap, closeAll, channelPair, loop, Dispatcher } from '../src/index.js';
import type { Channel } from '../src/index.js';
import { deadline } from './helpers/deadline.js';

function pairMap(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return map;
}

async function readAll(channel: Channel): Promise<string> {
  let text = '';
  for await (const chunk of channel.chunks()) text += chunk.toString();
  return text;
}

t.test('channelPair() gives two open channels in the map: what one writes the other reads, then the end of stream', async (t) => {
  const map = pairMap(t);
  const [a, b] = channelPair({ map });
  t.equal(a.state, 'open');
  t.equal(b.connected, true);
  t.equal(map.size, 2);
  await a.opened;
  await a.write('hello ');
  await a.write('world');
  a.close();
  t.equal(await deadline(readAll(b), 'b reads to the end'), 'hello world');
  t.equal(b.recv(10)?.length, 0, 'recv() gives the end of stream');
});

t.test('channelPair({ chunkSizes }) delivers the bytes in those sizes, in turn', async (t) => {
  const map = pairMap(t);
  const [a, b] = channelPair({ map, chunkSizes: [1, 2] });
  await a.write('abcdef');
  a.close();
  const sizes: number[] = [];
  for await (const chunk of b.chunks()) sizes.push(chunk.length);
  t.same(sizes, [1, 2, 1, 2]);
});

t.test('channelPair() has backpressure: a stalled reader fills the window, then send() takes nothing until it reads', async (t) => {
  const map = pairMap(t);
  const pair = channelPair({ map, window: 1000, writeHighWaterMark: 500 });
  const [a, b] = pair;
  pair.stall(b);
  let sent = 0;
  const writing = a.write(Buffer.alloc(5000, 1)).then(() => { sent = 5000; });
  // Turns of the event loop pass; the writer stops at window + its own bound.
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.equal(sent, 0, 'write() waits');
  t.equal(b.bufferedAmount, 0, 'nothing reached the stalled reader');
  t.equal(a.send('x'), 0, 'send() takes nothing while the window is full');
  t.ok(a.pendingWrite <= 500, `the writer holds at most its own bound (${a.pendingWrite})`);
  pair.unstall(b);
  let received = 0;
  for await (const chunk of b.chunks()) {
    received += chunk.length;
    if (received === 5000) break;
  }
  await deadline(writing, 'the write completes once the reader takes');
  t.equal(received, 5000);
});

t.test('channelPair() reader backpressure: bytes stop at readHighWaterMark until recv() takes them', async (t) => {
  const map = pairMap(t);
  const [a, b] = channelPair({ map, window: 100, readHighWaterMark: 100, writeHighWaterMark: 100 });
  const writing = a.write(Buffer.alloc(10_000));
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  t.ok(b.bufferedAmount >= 100 && b.bufferedAmount < 300, `the reader holds about its bound (${b.bufferedAmount})`);
  let taken = 0;
  for await (const chunk of b.chunks()) {
    taken += chunk.length;
    if (taken === 10_000) break;
  }
  await deadline(writing, 'write() completes');
  t.equal(taken, 10_000);
});

t.test('ChannelPair.reset(channel) makes it report ECONNRESET after the bytes it holds, then close', async (t) => {
  const map = pairMap(t);
  const pair = channelPair({ map });
  const [a, b] = pair;
  await a.write('last words');
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  pair.reset(b);
  const seen: string[] = [];
  for await (const ev of b) {
    if (ev.type === 'read') seen.push(`read:${b.recv(100)?.toString() ?? 'null'}`);
    else if (ev.type === 'error') seen.push(`error:${ev.error.code ?? ''}:${ev.operation}`);
    else seen.push(ev.type);
  }
  t.same(seen, ['read:last words', 'error:ECONNRESET:read', 'close'], 'the bytes first, then the reset, then close');
  await deadline(a.released, 'the other end is released');
});

t.test('Channel.abort() on one end of a pair resets the other', async (t) => {
  const map = pairMap(t);
  const [a, b] = channelPair({ map });
  a.abort();
  const chunks = b.chunks();
  await t.rejects(deadline(chunks.next(), 'chunks() of the reset end'), { code: 'ECONNRESET' });
});

t.test('channelPair() under await loop(): classic dispatchers exchange bytes', async (t) => {
  const map = pairMap(t);
  const [a, b] = channelPair({ map });
  // Dispatchers are not made by channelPair(): wrap plain channels' traffic in a loop's events.
  const got: string[] = [];
  a.writeInterest = true;
  let sent = false;
  for await (const ev of loop({ map, timeout: 5 })) {
    if (ev.type === 'write' && ev.channel === a && !sent) {
      a.send('ping');
      a.writeInterest = false;
      sent = true;
    } else if (ev.type === 'read' && ev.channel === b) {
      got.push(b.recv(100)?.toString() ?? '');
      break;
    }
  }
  t.same(got, ['ping']);
  t.notOk(new Dispatcher().connected, 'a fresh dispatcher is not connected');
});

t.test('channelPair() checks its options', async (t) => {
  t.throws(() => channelPair({ window: 0 }), RangeError);
  t.throws(() => channelPair({ chunkSizes: [0] }), RangeError);
  t.throws(() => channelPair({ chunkSizes: 3 as unknown as number[] }), TypeError);
  t.throws(() => channelPair({ writeHighWaterMark: -1 }), RangeError);
  t.throws(() => channelPair(null as unknown as object), TypeError);
  const map = pairMap(t);
  const pair = channelPair({ map });
  const other = channelPair({ map });
  t.throws(() => { pair.stall(other.a); }, TypeError);
});

t.test('ChannelPair.reset(channel) ends the other channel: its waiting writes reject with EPIPE, reported as an error, then close', async (t) => {
  const map = pairMap(t);
  const pair = channelPair({ map, window: 16, writeHighWaterMark: 16 });
  const [a, b] = pair;
  pair.stall(b);
  const waiting = a.write(Buffer.alloc(1024));
  pair.reset(b);
  await t.rejects(deadline(waiting, 'the waiting write'), { code: 'EPIPE' });
  const seen: string[] = [];
  for await (const ev of a) seen.push(ev.type === 'error' ? `error:${ev.error.code ?? ''}:${ev.operation}` : ev.type);
  t.same(seen, ['error:EPIPE:write', 'close'], 'a reports the broken write, then close');
});
