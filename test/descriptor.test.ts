// openDescriptor(): channels over pipes and descriptors, with a child process
// (cat, Python) and a named pipe as peers: readiness as on sockets, the end
// of stream as `close` after the `read` that gives it, one-way channels, who
// owns the descriptor, and the descriptors Node cannot watch.
import { closeSync, openSync, readSync, readlinkSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { BadDescriptorError, ChannelStateError, SHUT_WR, openDescriptor } from '../src/index.js';
import type { ChannelMap, DescriptorSource } from '../src/index.js';
import { PYTHON, clientPresent } from './helpers/clients.js';
import { deadline } from './helpers/deadline.js';
import { consume } from './helpers/events.js';
import { tempDir, testMap } from './helpers/net.js';
import { cat, child, fifo, payload } from './helpers/pipes.js';

t.test('openDescriptor([child, 0]) and ([child, 1]) copy 300 KiB through cat, with the end of stream both ways', async (t) => {
  const map = testMap(t);
  const { proc, exited } = cat(t);
  if (process.platform === 'linux' && proc.pid !== undefined) {
    // Node's stdio pipes are socket pairs on Linux: the channel works over either kind.
    t.match(readlinkSync(`/proc/${proc.pid}/fd/0`), /^socket:/, 'the child\'s stdin is a socket pair');
  }
  const toCat = openDescriptor([proc, 0], { map });
  const fromCat = openDescriptor([proc, 1], { map });
  t.equal(toCat.state, 'open');
  t.equal(fromCat.connected, true);
  t.equal(map.size, 2);
  const bytes = payload(300 * 1024);
  const reading = consume(fromCat);
  await toCat.write(bytes);
  toCat.shutdown(SHUT_WR);
  const { types: events, data } = await deadline(reading, 'cat echoes everything, then ends');
  t.ok(data.equals(bytes), 'every byte came back, in order');
  t.same(events.slice(-2), ['read', 'close'], 'the end is a read, then close');
  t.notOk(events.includes('write'), 'a read-only channel reports no write');
  t.equal(await deadline(exited, 'cat exits'), 0, 'cat saw our end of stream and exited');
  t.equal(fromCat.state, 'closed', 'the consumer that was handed close closed it');
  toCat.writeInterest = true;
  t.same((await consume(toCat)).types, ['close'], 'the write-only channel, shut for writing, has only close left');
});

t.test('openDescriptor() over a named pipe by number: ways from the access mode, bytes both ways, the end as close', async (t) => {
  const map = testMap(t);
  const ends = fifo(t);
  const reader = openDescriptor(ends.give(ends.reader), { map });
  const writer = openDescriptor(ends.give(ends.writer), { map });
  t.throws(() => reader.send('x'), { name: 'ChannelStateError', message: 'Cannot send: the channel is read-only' });
  await t.rejects(reader.write('x'), { name: 'ChannelStateError', message: 'Cannot write: the channel is read-only' });
  t.throws(() => writer.recv(10), { name: 'ChannelStateError', message: 'Cannot recv: the channel is write-only' });
  await t.rejects(writer.chunks().next(), ChannelStateError, 'chunks() of a write-only channel rejects too');
  const bytes = payload(200 * 1024);
  const reading = consume(reader);
  await writer.write(bytes);
  writer.shutdown(SHUT_WR);
  const { types: events, data } = await deadline(reading, 'the reader reads to the end');
  t.ok(data.equals(bytes), 'every byte crossed the pipe');
  t.same(events.slice(-2), ['read', 'close']);
  writer.close();
  await deadline(writer.released, 'the writer lets go once flushed');
});

t.test('openDescriptor(): the channel owns the descriptor: close() closes it, abort() too', async (t) => {
  const map = testMap(t);
  const ends = fifo(t);
  const reader = openDescriptor(ends.give(ends.reader), { map });
  writeSync(ends.writer, 'abc');
  const { value } = await deadline(reader.chunks().next(), 'the bytes arrive');
  t.equal(String(value), 'abc');
  reader.close();
  await reader.released;
  // The pipe's only read end was ours: writing now finds no reader.
  t.throws(() => writeSync(ends.writer, 'x'), { code: 'EPIPE' }, 'the read end is closed');

  const { proc, exited } = cat(t);
  const toCat = openDescriptor([proc, 0], { map });
  await toCat.write('unread');
  toCat.abort();
  t.equal(toCat.state, 'closed');
  t.equal(await deadline(exited, 'cat exits'), 0, 'a pipe has no reset: abort() closes it and cat sees an end');
});

t.test('openDescriptor(): a write-only channel whose reader exited reports EPIPE, then close', async (t) => {
  const map = testMap(t);
  const { proc, exited } = child(t, 'true', [], ['pipe', 'ignore', 'ignore']);
  const out = openDescriptor([proc, 0], { map });
  await deadline(exited, 'the child exits without reading');
  await t.rejects(out.write('nobody reads this'), { code: 'EPIPE' });
  const events: string[] = [];
  for await (const ev of out) {
    events.push(ev.type);
    if (ev.type === 'error') t.equal(ev.operation, 'write');
  }
  t.same(events, ['error', 'close']);

  // The same by number over a named pipe whose only reader closes.
  const ends = fifo(t);
  const writer = openDescriptor(ends.give(ends.writer), { map });
  closeSync(ends.give(ends.reader));
  writer.writeInterest = true;
  const seen: string[] = [];
  for await (const ev of writer) {
    seen.push(ev.type);
    if (ev.type === 'write') {
      writer.send('nobody reads this either');
      writer.writeInterest = false;
    }
    if (ev.type === 'error') t.match(ev.error, { code: 'EPIPE' });
  }
  t.same(seen, ['write', 'error', 'close'], 'the write is accepted, then fails');
});

t.test('openDescriptor([child, 3]) over a socket pair: a Python peer reads to our end and replies', { skip: PYTHON.skip }, async (t) => {
  if (!clientPresent(t, PYTHON)) return;
  const map = testMap(t);
  const script = [
    'import os, socket, stat',
    'assert stat.S_ISSOCK(os.fstat(3).st_mode), "fd 3 is not a socket"',
    's = socket.socket(fileno=3)',
    'n = 0',
    'while True:',
    '    data = s.recv(65536)',
    '    if not data: break',
    '    n += len(data)',
    's.sendall(b"python read %d bytes" % n)',
    's.close()',
  ].join('\n');
  const { proc, exited } = child(t, 'python3', ['-c', script], ['ignore', 'ignore', 'inherit', 'pipe']);
  const pair = openDescriptor([proc, 3], { map });
  await pair.write(payload(100 * 1024));
  pair.shutdown(SHUT_WR);
  const { types: events, data } = await deadline(consume(pair), 'Python replies and closes');
  t.equal(data.toString(), `python read ${100 * 1024} bytes`);
  t.same(events.slice(-2), ['read', 'close']);
  t.equal(await deadline(exited, 'Python exits'), 0);
});

t.test('openDescriptor() refuses what Node cannot watch, before opening anything', async (t) => {
  const map = testMap(t);
  const dir = tempDir(t);
  const file = path.join(dir, 'plain.txt');
  writeFileSync(file, 'plain');
  const opened: number[] = [];
  t.teardown(() => { for (const fd of opened) closeSync(fd); });
  const open = (where: string, flags = 'r'): number => {
    const fd = openSync(where, flags);
    opened.push(fd);
    return fd;
  };
  const refuses = (source: DescriptorSource, kind: string, message: RegExp): void => {
    let caught: unknown = null;
    try {
      openDescriptor(source, { map });
    } catch (error) {
      caught = error;
    }
    t.ok(caught instanceof BadDescriptorError, `${kind}: a BadDescriptorError`);
    t.match(caught, { code: 'ERR_BAD_DESCRIPTOR', kind, message, fd: source }, `${kind}: ${String(message)}`);
  };
  const regular = open(file);
  refuses(regular, 'file', /^Cannot open descriptor \d+: it is a regular file, not a pipe or a stream socket$/);
  refuses(open(dir), 'directory', /a directory/);
  refuses(open('/dev/null'), 'character device', /a character device/);
  let tty: number | null = null;
  try {
    tty = open('/dev/ptmx', 'r+'); // a pseudo-terminal's master side: a TTY
  } catch {
    t.comment('no /dev/ptmx here: the TTY case is not checked');
  }
  if (tty !== null) refuses(tty, 'tty', /a terminal \(TTY\)/);
  const closed = openSync(file, 'r');
  closeSync(closed);
  refuses(closed, 'closed', /^Cannot open descriptor \d+: it is not open$/);
  t.throws(() => openDescriptor(-1), new RangeError('Invalid fd: expected a non-negative integer, got -1'));
  t.throws(() => openDescriptor(1.5), new TypeError('Invalid fd: expected an integer, got 1.5'));
  t.throws(() => openDescriptor('0' as unknown as number), TypeError);
  // Nothing was opened or closed: the refused descriptor still reads, and the map is empty.
  t.equal(map.size, 0);
  const buf = Buffer.alloc(5);
  t.equal(readSync(regular, buf, 0, 5, 0), 5, 'the regular file is still open and ours');
});

t.test('openDescriptor() checks its options and the child\'s pipes', async (t) => {
  const map: ChannelMap = testMap(t);
  const { proc } = cat(t);
  t.throws(() => openDescriptor([proc, 0], { map, writable: false }),
    new RangeError('Invalid options: a descriptor channel must be readable, writable or both'), 'stdin made read-only has no way left');
  t.throws(() => openDescriptor([proc, 1], { map, readable: 'yes' as unknown as boolean }),
    new TypeError('Invalid readable: expected a boolean, got "yes"'));
  t.throws(() => openDescriptor([proc, 1], { map, readBufferSize: 4096 }),
    new TypeError('Invalid option readBufferSize: it applies to channels that connect(), not to descriptors'));
  t.throws(() => openDescriptor([proc, 2], { map }), { name: 'TypeError', message: /stdio\[2\] is not a pipe/ }, 'an inherited stderr');
  t.throws(() => openDescriptor([proc, 9], { map }), TypeError, 'no such stdio');
  t.throws(() => openDescriptor([{}, 1] as unknown as DescriptorSource, { map }), /expected a descriptor or \[child, index\]/);
  t.throws(() => openDescriptor([proc, 1], null as unknown as object), TypeError);
  t.equal(map.size, 0, 'nothing joined the map');
  const fromCat = openDescriptor([proc, 1], { map });
  fromCat.close();
  t.throws(() => openDescriptor([proc, 1], { map }), { name: 'ChannelStateError', message: /already closed/ });
});

t.test('openDescriptor(): a descriptor channel cannot bind, listen, connect or accept', async (t) => {
  const map = testMap(t);
  const { proc } = cat(t);
  const channel = openDescriptor([proc, 1], { map });
  const open = { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' };
  t.throws(() => { channel.listen(); }, { ...open, message: 'Cannot listen: the channel is open' });
  t.throws(() => { channel.connect(['127.0.0.1', 1]); }, { ...open, message: 'Cannot connect: the channel is open' });
  t.throws(() => { channel.bind(['127.0.0.1', 0]); }, { ...open, message: 'Cannot bind: the channel is open' });
  t.throws(() => channel.accept(), { ...open, message: 'Cannot accept: the channel is not listening' });
  t.throws(() => { channel.createSocket(); }, { ...open, message: 'Cannot create socket: the channel already has one' });
  t.throws(() => channel.connections(), open);
  t.equal(String(channel), `<Channel open #${channel.id}>`, 'no address: none shown');
});
