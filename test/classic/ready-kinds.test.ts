// Every ready kind of a channel goes out before any kind of it repeats, in
// both styles (Python's loop dispatches read, then write, then expt, once per
// pass): a channel whose read stays ready because nobody takes it must still
// get its write events.
import net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { Channel, loop } from '../../src/index.js';
import { families, testMap } from '../helpers/net.js';
import { QuietDispatcher, Server } from '../helpers/dispatchers.js';
import type { Address } from '../../src/index.js';

/** A peer that sends one byte and its end of stream to `addr`; destroyed at teardown. */
function sendOneByteAndEnd(t: Test, addr: Address | null): void {
  if (addr === null) throw new Error('the server has no address');
  const peer = net.connect(typeof addr === 'string' ? { path: addr } : { host: addr[0], port: addr[1] });
  t.teardown(() => { peer.destroy(); });
  peer.on('error', () => { /* the server may reset it */ });
  peer.end('x');
}

for (const fam of families) {
  t.test(`Dispatcher with an end of stream left unread and writable() true gets handleWrite() as often as handleRead(), over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const calls: string[] = [];
    class Stubborn extends QuietDispatcher {
      // handleRead() as the default: it takes nothing, so the end of stream stays ready.
      override handleRead(): void { calls.push('read'); this.#maybeDone(); }
      override handleWrite(): void { calls.push('write'); this.#maybeDone(); }
      #maybeDone(): void { if (calls.length >= 20) this.close(); }
    }
    const server = new Server(t, map, fam, (sock) => {
      new Stubborn(sock, map);
      server.close();
    });
    await server.opened;
    sendOneByteAndEnd(t, server.addr);
    await loop({ map, timeout: 5 });
    const reads = calls.filter((c) => c === 'read').length;
    const writes = calls.filter((c) => c === 'write').length;
    t.equal(calls.length, 20, 'the dispatcher closed itself after 20 calls');
    t.ok(writes >= 9 && reads >= 9, `both kinds alternate (read ${reads}, write ${writes}): ${calls.join(',')}`);
  });

  t.test(`loop({ count: 1 }) called again and again runs handleRead() then handleWrite() on each pass for a dispatcher whose end of stream stays unread, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const calls: string[] = [];
    class Stubborn extends QuietDispatcher {
      override handleRead(): void { calls.push('read'); }
      override handleWrite(): void { calls.push('write'); }
    }
    const accepted: Stubborn[] = [];
    const server = new Server(t, map, fam, (sock) => {
      accepted.push(new Stubborn(sock, map));
      server.close();
    });
    await server.opened;
    sendOneByteAndEnd(t, server.addr);
    // Until the accepted dispatcher has its byte and end of stream.
    while (accepted[0] === undefined || accepted[0].bufferedAmount === 0) await loop({ map, timeout: 1, count: 1 });
    calls.length = 0;
    for (let i = 0; i < 20; i++) await loop({ map, timeout: 1, count: 1 });
    // As Python's loop: each pass dispatches every ready kind, read then write.
    t.same(calls, Array.from({ length: 20 }, () => ['read', 'write']).flat(), 'handleRead() then handleWrite() on every pass');
  });

  t.test(`handleClose() runs in the same pass as the handleRead() whose recv() took the end of stream, as Python's recv() calls handle_close(), over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const calls: [number, string][] = [];
    let pass = 0;
    class Reader extends QuietDispatcher {
      override writable(): boolean { return false; }
      override handleRead(): void {
        const data = this.recv(8192);
        calls.push([pass, data === null ? 'read:none' : `read:${data.length}`]);
      }
      override handleClose(): void {
        calls.push([pass, 'close']);
        this.close();
      }
    }
    const server = new Server(t, map, fam, (sock) => {
      new Reader(sock, map);
      server.close();
    });
    await server.opened;
    sendOneByteAndEnd(t, server.addr);
    // Passes until the close (bounded: each pass waits at most a second).
    while (!calls.some(([, what]) => what === 'close') && pass < 50) {
      pass++;
      await loop({ map, timeout: 1, count: 1 });
    }
    const end = calls.find(([, what]) => what === 'read:0');
    const close = calls.find(([, what]) => what === 'close');
    t.ok(end !== undefined && close !== undefined, `the end of stream was read and the dispatcher closed: ${JSON.stringify(calls)}`);
    t.equal(close?.[0], end?.[0], 'handleClose() came in the pass whose read took the end of stream');
    t.equal(calls.at(-1)?.[1], 'close', 'and nothing after it');
  });

  t.test(`Channel iteration with read left unread and write interest on yields write as often as read, over ${fam.name}`, async (t) => {
    const map = testMap(t);
    const server = new Channel(null, map);
    server.createSocket(fam.family);
    server.bind(fam.listenAddress(t));
    server.listen(5);
    await server.opened;
    sendOneByteAndEnd(t, server.addr);
    const { value: conn } = await server.connections().next();
    if (conn === undefined) throw new Error('no connection');
    t.teardown(() => { conn.close(); });
    // The byte and the end of stream are in before write interest goes on.
    for await (const ev of conn) if (ev.type === 'read') break;
    conn.writeInterest = true;
    const seen: string[] = [];
    for await (const ev of conn) {
      if (ev.type === 'read' || ev.type === 'write') seen.push(ev.type);
      if (seen.length >= 20) break;
    }
    const reads = seen.filter((c) => c === 'read').length;
    t.ok(reads >= 9 && seen.length - reads >= 9, `both kinds alternate: ${seen.join(',')}`);
  });
}
