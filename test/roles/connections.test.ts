// Channel.connections() used as a hostile but fair caller would: return()
// while a next() waits settles both at once and accepts nobody, and a
// connected channel refuses to hand out connections at the call.
import net from 'node:net';
import t from 'tap';
import { ChannelStateError, connect, listen } from '../../src/index.js';
import { testMap } from '../helpers/net.js';
import { deadline } from '../helpers/deadline.js';
import { isPending } from '../helpers/events.js';

const DONE = { done: true, value: undefined };

t.test('Channel.connections() return() while a next() waits settles both at once and accepts nobody', async (t) => {
  const map = testMap(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const conns = server.connections();
  const waiting = conns.next();
  t.ok(await isPending(waiting), 'no client yet: next() waits');
  const returned = conns.return();
  t.notOk(await isPending(returned), 'return() settles at once');
  t.same(await returned, DONE);
  t.same(await deadline(waiting, 'the waiting next() ends'), DONE, 'the waiting next() ends done');
  t.same(await conns.next(), DONE);
  // A client that comes now is not taken by the stopped iteration.
  const peer = net.connect({ host: '127.0.0.1', port: server.port as number });
  t.teardown(() => { peer.destroy(); });
  await new Promise((resolve) => peer.once('connect', resolve));
  const sizeBefore = map.size;
  const it = server[Symbol.asyncIterator]();
  const ev = await deadline(it.next(), 'the accept event');
  await it.return?.();
  t.equal(ev.done !== true && ev.value.type, 'accept', 'the connection still waits on the listener');
  t.equal(map.size, sizeBefore, 'no channel was made for it');
  const pair = server.accept();
  t.ok(pair !== null, 'and accept() takes it');
  pair?.[0].destroy();
  server.close();
});

t.test('Channel.connections() on a connected channel throws ChannelStateError at the call', async (t) => {
  const map = testMap(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const client = await connect(['127.0.0.1', server.port as number], { map });
  t.throws(() => client.connections(), { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' }, 'as accept() does');
  t.throws(() => client.accept(), ChannelStateError);
  client.close();
  server.close();
  t.same(await client.connections().next(), DONE, 'a closed channel: done');
});
