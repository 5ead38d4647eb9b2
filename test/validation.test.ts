// Items 12 and 13 of the spec: bad input throws a clear error (TypeError,
// RangeError, or a typed error with a stable code) and changes nothing;
// SOCK_DGRAM is refused as not supported yet.
import net from 'node:net';
import t from 'tap';
import {
  AF_INET, AF_INET6, AF_UNIX, Channel, ChannelClosedError, ChannelStateError, SOCK_DGRAM, SOCK_STREAM,
  UnsupportedError,
} from '../src/index.js';
import type { Address } from '../src/index.js';
import { families, listener, client, acceptOne, testMap } from './helpers/net.js';
import { untilEvent } from './helpers/events.js';

/** Calls through `unknown`, as JavaScript callers can. */
const loose = (value: unknown): never => value as never;

/** A snapshot of everything observable on a channel, to show a failed call changed nothing. */
function snapshot(channel: Channel): Record<string, unknown> {
  return {
    state: channel.state,
    addr: channel.addr,
    family: channel.family,
    socket: channel.socket,
    connected: channel.connected,
    connecting: channel.connecting,
    accepting: channel.accepting,
    closing: channel.closing,
    inMap: channel.map.has(channel.id),
    bufferedAmount: channel.bufferedAmount,
    pendingWrite: channel.pendingWrite,
  };
}

t.test('Channel.createSocket() refuses AF_UNIX with SOCK_DGRAM with UnsupportedError (ERR_NOT_SUPPORTED)', async (t) => {
  const map = testMap(t);
  for (const family of [AF_UNIX] as const) {
    const channel = new Channel(null, map);
    const before = snapshot(channel);
    t.throws(() => { channel.createSocket(family, SOCK_DGRAM); }, UnsupportedError);
    t.throws(() => { channel.createSocket(family, SOCK_DGRAM); }, {
      name: 'UnsupportedError', code: 'ERR_NOT_SUPPORTED', message: /SOCK_DGRAM/,
    });
    t.same(snapshot(channel), before, `${family}: nothing changed`);
    t.equal(map.size, 0, 'the channel did not join its map');
    // A stream socket still works afterwards.
    channel.createSocket(family, SOCK_STREAM);
    t.equal(channel.family, family);
    t.ok(map.has(channel.id));
    channel.close();
  }
});

t.test('Channel.createSocket() throws TypeError for an unknown family or type, changing nothing', async (t) => {
  const map = testMap(t);
  const channel = new Channel(null, map);
  const before = snapshot(channel);
  t.throws(() => { channel.createSocket(loose('AF_PACKET')); }, TypeError);
  t.throws(() => { channel.createSocket(loose(2)); }, TypeError);
  t.throws(() => { channel.createSocket(AF_INET, loose('SOCK_RAW')); }, TypeError);
  t.same(snapshot(channel), before);
  channel.createSocket();
  t.equal(channel.family, AF_INET, 'the default family is AF_INET');
  t.throws(() => { channel.createSocket(); }, { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' },
    'a second createSocket() is refused');
  t.equal(channel.family, AF_INET);
});

t.test('Channel constructor throws for a bad socket or bad options, joining no map', async (t) => {
  const map = testMap(t);
  t.throws(() => new Channel(loose({}), map), TypeError);
  t.throws(() => new Channel(null, map, { readHighWaterMark: 0 }), RangeError);
  t.throws(() => new Channel(null, map, { writeHighWaterMark: -1 }), RangeError);
  t.throws(() => new Channel(null, map, { writeHighWaterMark: 1.5 }), TypeError);
  t.throws(() => new Channel(null, map, { acceptQueueLimit: loose('10') }), TypeError);
  t.throws(() => new Channel(null, map, { closeTimeout: -1 }), RangeError);
  t.throws(() => new Channel(null, map, { closeTimeout: Number.NaN }), TypeError);
  // Node fires a timer longer than 2^31-1 ms after 1 ms: refused, not shortened.
  t.throws(() => new Channel(null, map, { closeTimeout: 2_147_484 }), RangeError);
  t.throws(() => new Channel(null, map, { closeTimeout: Infinity }), RangeError);
  t.throws(() => new Channel(null, map, null as unknown as object), TypeError);
  t.equal(map.size, 0);
});

t.test('Channel address and argument errors show the received value as JSON', async (t) => {
  const map = testMap(t);
  const ip = new Channel(null, map);
  ip.createSocket(AF_INET6);
  t.throws(() => { ip.connect(loose(['::1', '80'])); }, { message: 'Invalid port: expected an integer, got "80"' });
  t.throws(() => { ip.bind(loose(['[::1]', 0])); }, {
    name: 'TypeError', message: 'Invalid host: "[::1]" has brackets; write it without them: "::1"',
  });
  t.throws(() => { ip.listen(loose('5')); }, { message: 'Invalid backlog: expected an integer, got "5"' });
  t.throws(() => new Channel(null, map, { closeTimeout: loose({ seconds: 1 }) }), {
    message: 'Invalid closeTimeout: expected a number of seconds, got {"seconds":1}',
  });
  const unix = new Channel(null, map);
  unix.createSocket(AF_UNIX);
  t.throws(() => { unix.connect(`/tmp/${'x'.repeat(200)}.sock`); }, {
    name: 'RangeError', message: /^Invalid Unix address: "\/tmp\/x+…" is 210 bytes in UTF-8, over the \d+-byte limit on \w+$/,
  });
  t.equal(unix.state, 'idle');
});

for (const fam of families) {
  const goodAddress = fam.family === AF_UNIX ? '/tmp/never-used.sock' : fam.family === AF_INET6 ? ['::1', 0] : ['127.0.0.1', 0];
  const badAddresses: readonly [string, unknown, typeof TypeError | typeof RangeError][] = fam.family === AF_UNIX
    ? [
        ['a number', 42, TypeError],
        ['an empty path', '', TypeError],
        ['a [host, port] pair', ['127.0.0.1', 0], TypeError],
        ['a path with a NUL byte', '/tmp/a\0b.sock', TypeError],
        ['a path longer than sun_path', `/tmp/${'x'.repeat(200)}.sock`, RangeError],
      ]
    : [
        ['a port above 65535', ['127.0.0.1', 65536], RangeError],
        ['a negative port', ['127.0.0.1', -1], RangeError],
        ['a fractional port', ['127.0.0.1', 80.5], TypeError],
        ['a string port', ['127.0.0.1', '80'], TypeError],
        ['a non-string host', [127, 80], TypeError],
        ['a null host', [null, 80], TypeError],
        ['a host in brackets', ['[::1]', 80], TypeError],
        ['a path', '/tmp/x.sock', TypeError],
        ['a three-element array', ['127.0.0.1', 80, 0], TypeError],
      ];

  t.test(`Channel address checks over ${fam.name}`, async (t) => {
    t.test('Channel.bind() throws for a bad address and changes nothing', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      channel.createSocket(fam.family);
      const before = snapshot(channel);
      for (const [what, address, type] of badAddresses) {
        t.throws(() => { channel.bind(loose(address)); }, type, `${what}: ${type.name}`);
        t.same(snapshot(channel), before, `${what}: nothing changed`);
      }
      channel.bind(loose(goodAddress));
      t.same(channel.addr, goodAddress, 'a good address still binds');
    });

    t.test('Channel.connect() throws for a bad address and changes nothing', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      channel.createSocket(fam.family);
      const before = snapshot(channel);
      for (const [what, address, type] of badAddresses) {
        t.throws(() => { channel.connect(loose(address)); }, type, `${what}: ${type.name}`);
        t.same(snapshot(channel), before, `${what}: nothing changed`);
      }
      t.equal(channel.socket, null, 'no socket was made');
      t.equal(channel.state, 'idle');
    });

    t.test('Channel.bind(), connect() and listen() without createSocket() throw ChannelStateError', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      const before = snapshot(channel);
      t.throws(() => { channel.bind(loose(goodAddress)); }, { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      t.throws(() => { channel.connect(loose(goodAddress)); }, ChannelStateError);
      t.throws(() => { channel.listen(5); }, { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      t.same(snapshot(channel), before);
      t.equal(channel.state, 'idle');
    });
  });

  t.test(`Channel state checks over ${fam.name}`, async (t) => {
    t.test('Channel.listen() throws for a bad backlog, and on a channel that is not idle', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      channel.createSocket(fam.family);
      channel.bind(fam.listenAddress(t));
      const before = snapshot(channel);
      t.throws(() => { channel.listen(-1); }, RangeError);
      t.throws(() => { channel.listen(1.5); }, TypeError);
      t.throws(() => { channel.listen(loose('5')); }, TypeError);
      t.same(snapshot(channel), before, 'still idle, no server made');
      channel.listen(5);
      t.teardown(() => { channel.close(); });
      await channel.opened;
      const listening = snapshot(channel);
      t.throws(() => { channel.listen(5); }, { code: 'ERR_CHANNEL_STATE' }, 'a second listen()');
      t.throws(() => { channel.connect(loose(goodAddress)); }, { code: 'ERR_CHANNEL_STATE' }, 'connect() on a listener');
      t.throws(() => { channel.bind(fam.listenAddress(t)); }, { code: 'ERR_CHANNEL_STATE' }, 'bind() on a listener');
      t.throws(() => { channel.send('x'); }, { code: 'ERR_CHANNEL_STATE' }, 'send() on a listener');
      t.throws(() => { channel.recv(1); }, { code: 'ERR_CHANNEL_STATE' }, 'recv() on a listener');
      t.same(snapshot(channel), listening);
    });

    t.test('Channel.accept() throws on a channel that is not listening', async (t) => {
      const map = testMap(t);
      const idle = new Channel(null, map);
      t.throws(() => idle.accept(), { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      idle.createSocket(fam.family);
      t.throws(() => idle.accept(), ChannelStateError);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      const before = snapshot(c);
      t.throws(() => c.accept(), ChannelStateError, 'a connected channel');
      t.same(snapshot(c), before);
      server.close();
      t.throws(() => server.accept(), { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' }, 'a closed listener');
    });

    t.test('Channel.setSocket() throws on a channel that already has a socket, keeping it', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      const sock = s.socket;
      const other = new net.Socket();
      t.throws(() => { s.setSocket(other); }, { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      t.throws(() => { server.setSocket(other); }, ChannelStateError, 'a listener has one too');
      t.throws(() => { s.setSocket(loose('socket')); }, TypeError);
      t.equal(s.socket, sock);
      t.equal(s.connected, true);
      s.setReuseAddr();
      await c.write('ok');
      const chunks = s.chunks();
      t.equal((await chunks.next()).value?.toString(), 'ok', 'the channel still works');
      await chunks.return();
    });

    t.test('Channel.bind() twice throws ChannelStateError and keeps the first address', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      channel.createSocket(fam.family);
      const first = fam.listenAddress(t);
      channel.bind(first);
      t.throws(() => { channel.bind(fam.listenAddress(t)); }, ChannelStateError);
      t.same(channel.addr, first);
    });

    t.test('Channel.connect() twice throws ChannelStateError', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      t.throws(() => { c.connect(server.addr as Address); }, { code: 'ERR_CHANNEL_STATE' });
      await c.opened;
      t.equal(c.connected, true, 'the first connection is unharmed');
    });
  });

  t.test(`Channel send() and recv() checks over ${fam.name}`, async (t) => {
    t.test('Channel.recv() throws for a size that is not a positive integer, taking nothing', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.write('kept');
      const it = s[Symbol.asyncIterator]();
      while (s.bufferedAmount < 4) await untilEvent(it, (ev) => ev.type === 'read');
      await it.return?.();
      for (const [size, type] of [[0, RangeError], [-5, RangeError], [1.5, TypeError], ['4', TypeError],
        [Number.NaN, TypeError], [Infinity, TypeError], [undefined, TypeError]] as const) {
        t.throws(() => s.recv(loose(size)), type, `recv(${String(size)}): ${type.name}`);
      }
      t.equal(s.bufferedAmount, 4, 'no byte was taken');
      t.equal(s.recv(4)?.toString(), 'kept');
    });

    t.test('Channel.send() and write() throw TypeError for data that is not a buffer or string, sending nothing', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      const s = await acceptOne(t, server, map);
      await c.opened;
      for (const data of [42, null, undefined, { length: 3 }, [1, 2, 3], new ArrayBuffer(3)]) {
        t.throws(() => c.send(loose(data)), TypeError, `send(${Object.prototype.toString.call(data)})`);
        t.throws(() => c.write(loose(data)), TypeError, `write(${Object.prototype.toString.call(data)})`);
      }
      t.equal(c.pendingWrite, 0);
      // A Uint8Array and a string are fine; only they arrive.
      t.equal(c.send(new Uint8Array([0x61, 0x62])), 2);
      t.equal(c.send('c'), 1);
      const chunks = s.chunks();
      let got = '';
      while (got.length < 3) got += (await chunks.next()).value?.toString() ?? '';
      await chunks.return();
      t.equal(got, 'abc');
    });

    t.test('Channel.send() and recv() on a closed channel throw ChannelClosedError', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      c.close();
      const before = snapshot(c);
      t.throws(() => c.send('x'), ChannelClosedError);
      t.throws(() => c.send('x'), { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' });
      t.throws(() => c.recv(10), { name: 'ChannelClosedError', code: 'ERR_CHANNEL_CLOSED' });
      t.throws(() => { c.connect(server.addr as Address); }, ChannelClosedError);
      t.throws(() => { c.listen(5); }, ChannelClosedError);
      t.throws(() => { c.createSocket(fam.family); }, ChannelClosedError);
      t.throws(() => { c.setReuseAddr(); }, ChannelClosedError);
      t.same(snapshot(c), before);
      // Argument errors still come first: they are about the call, not the channel.
      t.throws(() => c.recv(0), RangeError);
    });

    t.test('Channel.send() and recv() before a connection throw ChannelStateError', async (t) => {
      const map = testMap(t);
      const channel = new Channel(null, map);
      channel.createSocket(fam.family);
      t.throws(() => channel.send('x'), { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      t.throws(() => channel.recv(10), { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' });
      await t.rejects(channel.write('x'), { code: 'ERR_CHANNEL_STATE' }, 'write() rejects the same way');
      t.equal(channel.state, 'idle');
    });

    t.test('Channel.chunks() throws at the call for a size that is not a positive integer', async (t) => {
      const map = testMap(t);
      const server = await listener(t, map, fam);
      const c = client(t, map, fam, server);
      await c.opened;
      t.throws(() => c.chunks(0), RangeError, 'at the call, before iterating');
      t.throws(() => c.chunks(2.5), TypeError);
      t.equal(c.state, 'open');
    });
  });
}
