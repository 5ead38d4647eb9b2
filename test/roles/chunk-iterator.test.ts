// The chunk iterator behind Channel.chunks(), over a real socket: every byte
// arrives whatever the read mode, and calls that cannot read throw at once.
import t from 'tap';
import { ChannelStateError, connect, listen } from '../../src/index.js';
import { testMap } from '../helpers/net.js';
import { deadline } from '../helpers/deadline.js';
import { pattern } from '../helpers/events.js';

t.test('Channel.chunks() with readBufferSize receives every byte of 1 MiB', async (t) => {
  const map = testMap(t);
  const server = await listen(['127.0.0.1', 0], { map });
  const client = await connect(['127.0.0.1', server.port as number], { map, readBufferSize: 65536 });
  const { value: conn } = await deadline(server.connections().next(), 'the accepted connection');
  if (conn === undefined) throw new Error('no connection');
  const payload = pattern(1 << 20);
  const sending = conn.write(payload).then(() => { conn.close(); });
  const parts: Buffer[] = [];
  const reading = (async () => {
    // chunks() takes the bytes while Node is still inside its read callback.
    for await (const chunk of client.chunks()) parts.push(chunk);
  })();
  await deadline(Promise.all([sending, reading]), 'every byte is read');
  const received = Buffer.concat(parts);
  t.equal(received.length, payload.length, 'every byte arrived');
  t.ok(received.equals(payload), 'in order');
  client.close();
});

t.test('Channel.chunks() on a listening channel throws ChannelStateError at the call', async (t) => {
  const map = testMap(t);
  const server = await listen(['127.0.0.1', 0], { map });
  t.throws(() => server.chunks(), { name: 'ChannelStateError', code: 'ERR_CHANNEL_STATE' }, 'as recv() does');
  t.throws(() => server.recv(1), ChannelStateError);
  server.close();
  t.same(await server.chunks().next(), { done: true, value: undefined }, 'a closed listener: done');
});
