// Type-level checks, run by `npm run typecheck` (test/ is in tsconfig.json):
// each line below must compile, and each `@ts-expect-error` must be an error.
// The runtime assertions keep the file a real test as well.
import t from 'tap';
import { Dispatcher, channelPair, ChannelMap, closeAll, formatAddress } from '../src/index.js';
import type { Channel, ChannelEvent, CodedError, LoopEvent } from '../src/index.js';

class Greeter extends Dispatcher {
  greeted = 0;
  greet(): void { this.greeted++; }
}

t.test('events are generic in their channel: iterating a Dispatcher subclass gives that subclass', async (t) => {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  const greeter = new Greeter(null, map);
  greeter.createSocket();
  greeter.connect(['127.0.0.1', 1]); // refused: an error, then close
  for await (const ev of greeter) {
    const same: Greeter = ev.channel; // compiles only if ev.channel is typed Greeter
    same.greet();
  }
  t.equal(greeter.greeted, 2, 'both events reached the subclass method');
});

t.test('error events type their error with a code: ev.error.code needs no cast', async (t) => {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  const pair = channelPair({ map });
  pair.reset(pair[1]);
  const codes: (string | undefined)[] = [];
  for await (const ev of pair[1]) {
    if (ev.type === 'error') {
      const error: CodedError = ev.error;
      codes.push(error.code);
      // @ts-expect-error an error's code is read-only
      ev.error.code = 'X';
    }
  }
  t.same(codes, ['ECONNRESET']);
});

t.test('a channel pair destructures to two channels, and addresses format without casts', async (t) => {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  const [a, b]: readonly [Channel, Channel] = channelPair({ map });
  t.not(a, b);
  const port: number | null = a.port;
  t.equal(port, null, 'an in-memory channel has no port');
  t.equal(formatAddress(['::1', 80]), '[::1]:80');
  t.equal(formatAddress(['127.0.0.1', 80]), '127.0.0.1:80');
  const ev = null as LoopEvent | null;
  // @ts-expect-error a loop event may be a timeout, which has no channel
  t.equal(ev?.channel, undefined);
  const plain = null as ChannelEvent | null;
  t.equal(plain?.channel, undefined);
});
