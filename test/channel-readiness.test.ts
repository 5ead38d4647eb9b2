// Items 1-3 and 9 of the spec for a plain Channel: level-triggered read and
// write readiness, recv()'s three answers, partial sends, and read
// backpressure — over IPv4, IPv6 and Unix sockets.
import net from 'node:net';
import t from 'tap';
import { filter, map as mapEvents, take, takeUntil } from 'ix/asynciterable/operators';
import { families, listener, client, acceptOne, testMap } from './helpers/net.js';
import { acceptWith, fill, isPending, macrotask, nextEvent, pattern, typeOf, untilEvent } from './helpers/events.js';

for (const fam of families) {
  t.test(`Channel read events over ${fam.name}`, async (t) => {
    t.test('Channel[Symbol.asyncIterator]() reports read again while bytes wait', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('abc');
      const it = s[Symbol.asyncIterator]();
      t.equal((await nextEvent(it)).type, 'read');
      // Not acted on: reported again, and again.
      t.equal((await nextEvent(it)).type, 'read');
      t.equal((await nextEvent(it)).type, 'read');
      // Bytes may come in several chunks: take until all three are in.
      let got = '';
      while (got.length < 3) {
        got += s.recv(3 - got.length)?.toString() ?? '';
        if (got.length < 3) await untilEvent(it, (ev) => ev.type === 'read');
      }
      t.equal(got, 'abc');
      t.equal(s.bufferedAmount, 0);
      // Taken: no read holds any more.
      const next = it.next();
      t.ok(await isPending(next), 'no read event once every byte is taken');
      await c.write('d');
      const ev = await next;
      t.equal(typeOf(ev), 'read');
      t.equal(s.recv(10)?.toString(), 'd');
      await it.return?.();
    });

    t.test('Channel.recv() returns null when nothing waits and the peer is open', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.opened;
      t.equal(s.recv(1024), null);
      t.equal(c.recv(1024), null);
      t.equal(s.state, 'open');
    });

    t.test('Channel.recv() returns at most bufferSize bytes, in order', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      const it = s[Symbol.asyncIterator]();
      // Two separate arrivals, so recv() has to cut and join received chunks.
      await c.write('hello ');
      while (s.bufferedAmount < 6) await untilEvent(it, (ev) => ev.type === 'read');
      await c.write('world');
      while (s.bufferedAmount < 11) await untilEvent(it, (ev) => ev.type === 'read');
      await it.return?.();
      t.equal(s.recv(3)?.toString(), 'hel');
      t.equal(s.bufferedAmount, 8);
      t.equal(s.recv(5)?.toString(), 'lo wo', 'one recv() spans two arrivals');
      t.equal(s.recv(1)?.toString(), 'r');
      t.equal(s.recv(100)?.toString(), 'ld');
      t.equal(s.bufferedAmount, 0);
      t.equal(s.recv(100), null);
    });

    t.test('Channel.recv() returns an empty buffer at end of stream, reported as read', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('bye');
      c.close();
      const it = s[Symbol.asyncIterator]();
      let got = '';
      let eof = false;
      while (!eof) {
        t.equal((await nextEvent(it)).type, 'read');
        const data = s.recv(100);
        t.not(data, null, 'a read event means recv() has an answer');
        if (data?.length === 0) eof = true;
        else got += data?.toString() ?? '';
      }
      t.equal(got, 'bye');
      // The end of stream stays taken: recv() keeps answering an empty buffer.
      t.equal(s.recv(100)?.length, 0);
      t.equal((await nextEvent(it)).type, 'close');
      t.same(await it.next(), { done: true, value: undefined });
      t.equal(s.state, 'closed');
    });

    t.test('Channel.readInterest false silences read events until turned back on', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      s.readInterest = false;
      const it = s[Symbol.asyncIterator]();
      const next = it.next();
      await c.write('x');
      // The byte arrives (buffered) but is not reported.
      while (s.bufferedAmount === 0) await macrotask();
      t.ok(await isPending(next), 'no read event without read interest');
      s.readInterest = true;
      t.equal(typeOf(await next), 'read');
      t.equal(s.recv(10)?.toString(), 'x');
      await it.return?.();
    });
  });

  t.test(`Channel write events and send() over ${fam.name}`, async (t) => {
    t.test('Channel.writeInterest is off by default: connect, then no write event', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      t.equal(c.writeInterest, false);
      const it = c[Symbol.asyncIterator]();
      t.equal((await nextEvent(it)).type, 'connect');
      t.ok(await isPending(it.next()), 'an idle connected channel without write interest reports nothing');
      c.close();
    });

    t.test('Channel.writeInterest reports write again while send() would accept bytes', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      c.writeInterest = true;
      const it = c[Symbol.asyncIterator]();
      t.equal((await nextEvent(it)).type, 'connect');
      t.equal((await nextEvent(it)).type, 'write');
      t.equal((await nextEvent(it)).type, 'write');
      t.ok(c.send('x') === 1, 'send() accepts on a write event');
      c.writeInterest = false;
      t.ok(await isPending(it.next()), 'write interest off: no more write events');
      c.close();
    });

    t.test('Channel read and write events alternate when both hold', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('data');
      const it = s[Symbol.asyncIterator]();
      await untilEvent(it, (ev) => ev.type === 'read');
      s.writeInterest = true;
      const types: string[] = [];
      for (let i = 0; i < 6; i++) types.push((await nextEvent(it)).type);
      t.same(types.slice(1), types[0] === 'read'
        ? ['write', 'read', 'write', 'read', 'write']
        : ['read', 'write', 'read', 'write', 'read']);
      await it.return?.();
    });

    t.test('Channel.send() accepts only what fits under writeHighWaterMark', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 1024 });
      await acceptOne(t, server, map);
      await c.opened;
      t.equal(c.send(Buffer.alloc(4096, 1)), 1024, 'a partial send returns the count accepted');
      t.ok(c.pendingWrite <= 1024);
      const accepted = fill(c, 4096);
      t.ok(accepted.length > 0);
      t.ok(c.pendingWrite <= 1024, `pendingWrite ${c.pendingWrite} stays under the mark`);
      t.equal(c.send('more'), 0, 'send() accepts nothing once the mark is reached');
    });

    t.test('Channel.send() partial sends carry a large payload intact (buffer = buffer.subarray(sent))', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const hwm = 8192;
      const c = client(t, map, fam, server, { writeHighWaterMark: hwm });
      const s = await acceptOne(t, server, map);
      const payload = pattern(1 << 20);
      let rest = payload;
      let partial = 0;
      let maxPending = 0;
      const sender = (async () => {
        c.writeInterest = true;
        for await (const ev of c) {
          if (ev.type !== 'write') continue;
          const sent = c.send(rest);
          if (sent < rest.length) partial++;
          maxPending = Math.max(maxPending, c.pendingWrite);
          rest = rest.subarray(sent);
          if (rest.length === 0) break;
        }
        c.writeInterest = false;
      })();
      const parts: Buffer[] = [];
      let total = 0;
      for await (const chunk of s.chunks()) {
        parts.push(chunk);
        total += chunk.length;
        if (total >= payload.length) break;
      }
      await sender;
      t.ok(partial > 0, 'some sends were partial');
      t.ok(maxPending <= hwm, `pendingWrite peaked at ${maxPending}, at most ${hwm}`);
      t.ok(Buffer.concat(parts).equals(payload), 'every byte arrived, in order');
      t.equal(c.state, 'open', 'breaking out of the iteration left the channel open');
    });

    t.test('Channel write event comes back once a full socket drains', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 4096 });
      const s = await acceptOne(t, server, map);
      await c.opened;
      let accepted = fill(c);
      // The peer's channel reads on until it holds its readHighWaterMark (64 KiB by
      // default), and every read frees room in the kernel behind our fill, so the
      // socket could drain by itself. Once the peer has stopped reading, nothing
      // does: fill again what its reads freed, and the socket stays full.
      const peer = s[Symbol.asyncIterator]();
      while (s.bufferedAmount < 65536) await untilEvent(peer, (ev) => ev.type === 'read');
      await peer.return?.();
      accepted = Buffer.concat([accepted, fill(c)]);
      c.writeInterest = true;
      const it = c[Symbol.asyncIterator]();
      await untilEvent(it, (ev) => ev.type === 'connect');
      const next = it.next();
      t.ok(await isPending(next), 'no write event while send() would accept nothing');
      const received = s.chunks();
      let total = 0;
      for await (const chunk of received) {
        total += chunk.length;
        if (total >= accepted.length) break;
      }
      t.equal(total, accepted.length);
      t.equal(typeOf(await next), 'write');
      t.ok(c.send('x') > 0, 'send() accepts again');
      await it.return?.();
    });

    t.test('Channel.write() resolves once every byte is accepted, honouring backpressure', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server, { writeHighWaterMark: 4096 });
      const s = await acceptOne(t, server, map);
      await c.opened;
      const payload = pattern(3 << 20);
      let resolved = false;
      const done = c.write(payload).then(() => { resolved = true; });
      const order = c.write('!');
      // write()s queue in order: send() yields to them.
      t.equal(c.send('?'), 0, 'send() accepts nothing while write()s wait');
      t.equal(resolved, false);
      t.ok(c.pendingWrite <= 4096);
      const parts: Buffer[] = [];
      let total = 0;
      // Checked at every chunk, asserted once: the number of chunks varies from run to run.
      let mostPending = c.pendingWrite;
      for await (const chunk of s.chunks()) {
        parts.push(chunk);
        total += chunk.length;
        mostPending = Math.max(mostPending, c.pendingWrite);
        if (total >= payload.length + 1) break;
      }
      t.ok(mostPending <= 4096, `pendingWrite stayed within the mark (at most ${mostPending})`);
      await done;
      await order;
      const all = Buffer.concat(parts);
      t.ok(all.subarray(0, payload.length).equals(payload));
      t.equal(all.subarray(payload.length).toString(), '!');
    });
  });

  t.test(`Channel read backpressure over ${fam.name}`, async (t) => {
    t.test('Channel.recv() not called: bufferedAmount stays bounded by readHighWaterMark', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const hwm = 16384;
      const s = await acceptWith(t, server, map, { readHighWaterMark: hwm });
      // Node reads at most 64 KiB per chunk, so one chunk may overshoot the mark.
      const bound = hwm + 65536;
      const payload = pattern(8 << 20);
      let written = false;
      const done = c.write(payload).then(() => { written = true; });
      const it = s[Symbol.asyncIterator]();
      while (s.bufferedAmount < hwm) await untilEvent(it, (ev) => ev.type === 'read');
      await it.return?.();
      const sock = s.socket as net.Socket;
      t.ok(sock.isPaused(), 'Node stops reading at the mark');
      // Give I/O many turns: nothing more is read while nobody calls recv().
      const before = s.bufferedAmount;
      for (let i = 0; i < 50; i++) await macrotask();
      t.equal(s.bufferedAmount, before, 'no byte read while paused');
      t.ok(s.bufferedAmount <= bound, `bufferedAmount ${s.bufferedAmount} <= ${bound}`);
      t.equal(written, false, 'the writer is held back');
      // Taking bytes resumes reading; the whole payload arrives.
      const parts: Buffer[] = [];
      let total = 0;
      let peak = 0;
      for await (const chunk of s.chunks(4096)) {
        parts.push(chunk);
        total += chunk.length;
        peak = Math.max(peak, s.bufferedAmount);
        if (total >= payload.length) break;
      }
      await done;
      t.ok(peak <= bound, `bufferedAmount peaked at ${peak}`);
      t.ok(Buffer.concat(parts).equals(payload));
    });
  });

  t.test(`Channel.events() with ix operators over ${fam.name}`, async (t) => {
    t.test('Channel.events() composes with filter, map and take, and take leaves the channel open', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('one');
      const seen: string[] = [];
      for await (const text of s.events().pipe(
        filter((ev) => ev.type === 'read'),
        mapEvents(() => s.recv(100)?.toString() ?? ''),
        take(2),
      )) {
        seen.push(text);
        if (seen.length === 1) await c.write('two');
      }
      t.equal(seen.join(''), 'onetwo');
      t.equal(s.state, 'open');
      t.ok(map.has(s.id));
      // The channel still works after the pipeline ended.
      await c.write('three');
      const it = s[Symbol.asyncIterator]();
      await untilEvent(it, (ev) => ev.type === 'read');
      t.equal(s.recv(100)?.toString(), 'three');
      await it.return?.();
    });

    t.test('Channel.events() ends under takeUntil when the other promise settles', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await acceptOne(t, server, map);
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => { stop = resolve; });
      const types: string[] = [];
      for await (const ev of c.events().pipe(takeUntil(() => stopped))) {
        types.push(ev.type);
        if (ev.type === 'connect') stop();
      }
      t.same(types, ['connect']);
      t.equal(c.state, 'open');
    });
  });
}
