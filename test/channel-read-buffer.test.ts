// A connecting channel's reused read buffer (readBufferSize, Node's onread)
// and recvInto(): every byte arrives once and in order, the bytes waiting
// never exceed the buffer, recv() hands out copies that later reads do not
// overwrite, and bad arguments throw.
import net from 'node:net';
import t from 'tap';
import { Channel, ChannelClosedError } from '../src/index.js';
import { families, listener, client, acceptOne, testMap } from './helpers/net.js';
import { isPending, macrotask, pattern, typeOf, untilEvent } from './helpers/events.js';

const BUFFER = 32 * 1024;

for (const fam of families) {
  t.test(`Channel readBufferSize over ${fam.name}`, async (t) => {
    t.test('Channel.recvInto() and recv() take every byte once, in order, at most readBufferSize waiting', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { readBufferSize: BUFFER });
      const s = await acceptOne(t, server, map);
      const payload = pattern(4 << 20);
      const sending = s.write(payload).then(() => { s.close(); });
      const received = Buffer.alloc(payload.length + 1);
      const scratch = Buffer.alloc(5000);
      const copies: { at: number; data: Buffer }[] = [];
      let total = 0;
      let peak = 0;
      let turn = 0;
      const it = c[Symbol.asyncIterator]();
      for (;;) {
        await untilEvent(it, (ev) => ev.type === 'read' || ev.type === 'close');
        peak = Math.max(peak, c.bufferedAmount);
        // Alternate recvInto() with odd-sized targets and recv(): both must agree.
        const n = turn++ % 2 === 0 ? c.recvInto(scratch.subarray(0, 1 + (turn * 997) % scratch.length)) : null;
        if (n !== null) {
          if (n === 0) break;
          scratch.copy(received, total, 0, n);
          total += n;
          continue;
        }
        const data = c.recv(7777);
        if (data === null) continue;
        if (data.length === 0) break;
        if (copies.length < 50) copies.push({ at: total, data });
        data.copy(received, total);
        total += data.length;
      }
      await it.return?.();
      await sending;
      t.equal(total, payload.length, 'every byte arrived');
      t.ok(received.subarray(0, total).equals(payload), 'in order, none twice');
      t.ok(peak <= BUFFER, `at most readBufferSize waited (peak ${peak})`);
      // recv() returned copies: later reads into the reused buffer left them intact.
      t.ok(copies.length > 0);
      t.ok(copies.every(({ at, data }) => data.equals(payload.subarray(at, at + data.length))), 'recv() results are copies');
    });

    t.test('Channel readBufferSize: Node reads nothing more while bytes wait in the buffer', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { readBufferSize: BUFFER });
      const s = await acceptOne(t, server, map);
      let written = false;
      const done = s.write(pattern(8 << 20)).then(() => { written = true; });
      const it = c[Symbol.asyncIterator]();
      await untilEvent(it, (ev) => ev.type === 'read');
      await it.return?.();
      const before = c.bufferedAmount;
      t.ok(before > 0 && before <= BUFFER);
      for (let i = 0; i < 50; i++) await macrotask();
      t.equal(c.bufferedAmount, before, 'no byte read while the buffer holds untaken bytes');
      t.equal(written, false, 'the writer is held back');
      // Taking them lets Node read again.
      const first = Buffer.alloc(BUFFER);
      t.equal(c.recvInto(first), before);
      const it2 = c[Symbol.asyncIterator]();
      await untilEvent(it2, (ev) => ev.type === 'read');
      await it2.return?.();
      t.ok(c.bufferedAmount > 0, 'reading resumed once the buffer was emptied');
      s.abort();
      await done.catch(() => undefined);
    });
  });
}

t.test('Channel.recvInto() on an accepted channel', async (t) => {
  const fam = families[0] as (typeof families)[number];
  const map = testMap(t);
  const server = await listener(t, map, fam);
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  t.equal(s.recvInto(Buffer.alloc(10)), null, 'null while nothing waits and the peer is open');
  await c.write('hello ');
  const it = s[Symbol.asyncIterator]();
  while (s.bufferedAmount < 6) await untilEvent(it, (ev) => ev.type === 'read');
  await c.write('world');
  while (s.bufferedAmount < 11) await untilEvent(it, (ev) => ev.type === 'read');
  const target = Buffer.alloc(8, '.');
  t.equal(s.recvInto(target.subarray(0, 3)), 3);
  t.equal(target.toString(), 'hel.....');
  const view = new Uint8Array(20);
  t.equal(s.recvInto(view), 8, 'one call spans two arrivals');
  t.equal(Buffer.from(view.subarray(0, 8)).toString(), 'lo world');
  t.equal(s.bufferedAmount, 0);
  c.close();
  await untilEvent(it, (ev) => ev.type === 'read');
  t.equal(s.recvInto(target), 0, '0 at end of stream');
  t.equal(typeOf(await it.next()), 'close', 'close follows the taken end of stream');
  t.notOk(await isPending(it.next()));
});

t.test('Channel readBufferSize and recvInto() reject bad arguments', async (t) => {
  const fam = families[0] as (typeof families)[number];
  const map = testMap(t);
  t.throws(() => new Channel(null, map, { readBufferSize: 0 }), RangeError);
  t.throws(() => new Channel(null, map, { readBufferSize: 1.5 }), TypeError);
  t.throws(() => new Channel(null, map, { readBufferSize: '4096' as unknown as number }), TypeError);
  const server = await listener(t, map, fam);
  t.throws(() => server.connections({ readBufferSize: 4096 }), TypeError, 'accepted sockets cannot use it');
  const c = client(t, map, fam, server);
  const s = await acceptOne(t, server, map);
  const raw = new net.Socket();
  t.teardown(() => { raw.destroy(); });
  t.throws(() => new Channel(raw, map, { readBufferSize: 4096 }), TypeError);
  t.throws(() => s.recvInto('abc' as unknown as Uint8Array), TypeError);
  t.throws(() => s.recvInto(Buffer.alloc(0)), RangeError);
  const idle = new Channel(null, map);
  t.throws(() => idle.recvInto(Buffer.alloc(4)), { name: 'ChannelStateError' });
  c.close();
  t.throws(() => c.recvInto(Buffer.alloc(4)), ChannelClosedError);
  idle.close();
});
