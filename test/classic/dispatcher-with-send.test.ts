// DispatcherWithSend: send() buffers every byte, handleWrite() flushes them,
// writable() is true while bytes wait (or before the connection is made),
// readable() turns false above outputHighWaterMark so an echo server whose
// peer does not read stops reading, and close() flushes what is buffered.
import t from 'tap';
import { Channel, loop } from '../../src/index.js';
import type { Address } from '../../src/index.js';
import { acceptOne, families, listener, readExactly, testMap } from '../helpers/net.js';
import { QuietDispatcher, QuietDispatcherWithSend, Server, failOnUnhandled, settle } from '../helpers/dispatchers.js';

failOnUnhandled(t);

/** Bytes whose value depends on their offset in the stream, so loss, reordering and duplication show. */
const PERIOD = 251;
const PATTERN = Buffer.alloc((1 << 20) + PERIOD);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PERIOD;
function patternAt(offset: number, length: number): Buffer {
  return PATTERN.subarray(offset % PERIOD, (offset % PERIOD) + length);
}
function matchesPattern(data: Buffer, offset: number): boolean {
  for (let i = 0; i < data.length; i++) if (data[i] !== (offset + i) % PERIOD) return false;
  return true;
}

t.test('DispatcherWithSend.send() rejects bad data, and returns 0 and buffers nothing after close()', async (t) => {
  const d = new QuietDispatcherWithSend(null, testMap(t));
  d.createSocket();
  t.throws(() => d.send(42 as unknown as string), TypeError);
  t.equal(d.pendingOutput, 0, 'a bad call buffers nothing');
  d.close();
  t.equal(d.send('late'), 0, 'as Python: nothing taken, no exception');
  t.equal(d.pendingOutput, 0);
});

t.test('DispatcherWithSend.outputHighWaterMark defaults to 65536 and takes only positive integers', async (t) => {
  const d = new QuietDispatcherWithSend(null, testMap(t));
  t.equal(d.outputHighWaterMark, 65536);
  t.throws(() => { d.outputHighWaterMark = 0; }, RangeError);
  t.throws(() => { d.outputHighWaterMark = 1.5; }, TypeError);
  t.equal(d.outputHighWaterMark, 65536, 'unchanged by a bad value');
  d.outputHighWaterMark = 1024;
  t.equal(d.outputHighWaterMark, 1024);
});

for (const fam of families) {
  t.test(`DispatcherWithSend.send() buffers every byte until connected and handleWrite() flushes them over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const data = "Suppose there isn't a 16-ton weight?";
    class NoRead extends QuietDispatcherWithSend {
      override readable(): boolean { return false; }
      override handleConnect(): void { /* nothing to do */ }
    }
    const client = new NoRead(null, map);
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    t.equal(client.writable(), true, 'writable before the connection is made');
    t.equal(client.send(data), data.length, 'send() takes every byte');
    t.equal(client.send(Buffer.from(data)), data.length);
    t.equal(client.send(new Uint8Array([10])), 1);
    t.equal(client.pendingOutput, data.length * 2 + 1, 'all buffered while connecting');
    const running = loop({ map });
    const ended = running.then();
    const peer = await acceptOne(t, server, map);
    const got = await readExactly(peer, data.length * 2 + 1);
    t.equal(got.toString(), `${data}${data}\n`);
    t.equal(client.pendingOutput, 0, 'flushed');
    t.equal(client.writable(), false, 'not writable once connected with nothing pending');
    t.same(client.logs, []);
    running.stop();
    await ended;
  });

  t.test(`DispatcherWithSend.send() hands what fits to the socket at once and the rest on write events over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = await listener(t, map, fam);
    const client = new QuietDispatcherWithSend(null, map);
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    client.handleRead = (): void => { client.recv(16); };
    const peer = await acceptOne(t, server, map);
    await client.opened;
    t.equal(client.send(patternAt(0, 1)), 1);
    t.equal(client.pendingOutput, 0, 'a small send goes to the socket at once');
    const size = 1 << 20;
    t.equal(client.send(patternAt(1, size)), size);
    t.ok(client.pendingOutput > 0 && client.pendingOutput < size, `only the overflow is buffered (${client.pendingOutput})`);
    t.equal(client.writable(), true, 'writable while bytes wait');
    const ended = loop({ map }).then();
    const got = await readExactly(peer, size + 1);
    t.equal(got.length, size + 1);
    t.ok(matchesPattern(got, 0), 'every byte, in order');
    t.equal(client.pendingOutput, 0);
    client.close();
    peer.close();
    server.close();
    await ended;
  });

  t.test(`DispatcherWithSend.readable() is false above outputHighWaterMark, so an echo server whose peer does not read stops reading, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const outputLimit = 16 * 1024;
    const readLimit = 16 * 1024;
    const recvSize = 4096;
    const floodLimit = 64 << 20;
    const stalled = settle();
    class Echo extends QuietDispatcherWithSend {
      readsAbove = 0;
      maxPending = 0;
      override readable(): boolean {
        const answer = super.readable();
        // Unread bytes up to the read bound while readable() is false: the
        // server stopped reading, and Node stopped reading from the kernel.
        if (!answer && this.bufferedAmount >= readLimit) stalled.resolve(undefined);
        return answer;
      }
      override handleRead(): void {
        if (this.pendingOutput > this.outputHighWaterMark) this.readsAbove++;
        const data = this.recv(recvSize);
        if (data === null) return;
        if (data.length === 0) {
          this.close();
          return;
        }
        this.send(data);
        this.maxPending = Math.max(this.maxPending, this.pendingOutput);
      }
    }
    let echo: Echo | null = null;
    const server = new Server(t, map, fam, (sock) => {
      echo = new Echo(sock, map, { readHighWaterMark: readLimit });
      echo.outputHighWaterMark = outputLimit;
    });
    await server.opened;
    const done = settle();
    class Flooder extends QuietDispatcher {
      flooding = true;
      sent = 0;
      received = 0;
      intact = true;
      override readable(): boolean { return !this.flooding; }
      override writable(): boolean { return this.flooding; }
      override handleConnect(): void { /* nothing to do */ }
      override handleWrite(): void {
        this.sent += this.send(patternAt(this.sent, 65536));
        // Without backpressure the server would take all of this: fail fast.
        if (this.sent > floodLimit) stalled.resolve(undefined);
      }
      override handleRead(): void {
        const data = this.recv(65536);
        if (data === null || data.length === 0) return;
        this.intact &&= matchesPattern(data, this.received);
        this.received += data.length;
        if (this.received === this.sent) done.resolve(undefined);
      }
    }
    const flooder = new Flooder(null, map);
    flooder.createSocket(fam.family);
    flooder.connect(server.addr as Address);
    const running = loop({ map });
    const ended = running.then();
    await stalled.promise;
    const stalledEcho = echo as unknown as Echo;
    t.ok(stalledEcho.pendingOutput > outputLimit, 'stalled with more than the mark pending');
    t.ok(flooder.sent < floodLimit, `the flood stalled (${flooder.sent} bytes sent)`);
    t.ok(flooder.sent - flooder.received > stalledEcho.pendingOutput, 'the peer had not read');
    // Now the peer reads (a change made outside any handler) and everything flows again.
    flooder.flooding = false;
    await done.promise;
    t.equal(stalledEcho.readsAbove, 0, 'handleRead() never called while above the mark');
    t.ok(stalledEcho.maxPending <= outputLimit + recvSize, `pending output stayed bounded (${stalledEcho.maxPending})`);
    t.ok(flooder.intact, 'every byte echoed, in order');
    t.equal(stalledEcho.pendingOutput, 0);
    running.stop();
    await ended;
  });

  t.test(`DispatcherWithSend.close() flushes buffered output before ending over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const size = 1 << 20;
    const pendingAtClose = settle<number>();
    const server = new Server(t, map, fam, (sock) => {
      const sender = new QuietDispatcherWithSend(sock, map);
      sender.send(patternAt(0, size));
      pendingAtClose.resolve(sender.pendingOutput);
      sender.close();
      t.equal(sender.pendingOutput, 0, 'nothing left buffered');
      server.close();
    });
    await server.opened;
    const client = new Channel(null, map);
    t.teardown(() => { client.close(); });
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    const ended = loop({ map }).then();
    const parts: Buffer[] = [];
    for await (const chunk of client.chunks()) parts.push(chunk);
    const got = Buffer.concat(parts);
    t.ok(await pendingAtClose.promise > 0, 'bytes were still buffered at close()');
    t.equal(got.length, size, 'every byte arrived before the end of stream');
    t.ok(matchesPattern(got, 0), 'in order');
    client.close();
    await ended;
  });

  t.test(`DispatcherWithSend.abort() discards buffered output over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const size = 1 << 20;
    const server = new Server(t, map, fam, (sock) => {
      const sender = new QuietDispatcherWithSend(sock, map);
      sender.send(patternAt(0, size));
      sender.abort();
      t.equal(sender.pendingOutput, 0, 'the buffer is dropped');
      server.close();
    });
    await server.opened;
    const client = new Channel(null, map);
    t.teardown(() => { client.close(); });
    client.createSocket(fam.family);
    client.connect(server.addr as Address);
    const ended = loop({ map }).then();
    let received = 0;
    try {
      for await (const chunk of client.chunks()) received += chunk.length;
    } catch (error) {
      t.equal((error as NodeJS.ErrnoException).code, 'ECONNRESET', 'TCP: the connection was reset');
    }
    t.ok(received < size, `the buffered bytes never came (${received} of ${size})`);
    client.close();
    await ended;
  });
}
