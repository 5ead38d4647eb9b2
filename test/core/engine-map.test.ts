// The engine behind loop(): which channels it serves as its map changes
// under it while it runs.
import t from 'tap';
import { channelPair, loop } from '../../src/index.js';
import type { LoopEvent } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { testMap } from '../helpers/net.js';

t.test('loop() keeps serving a channel deleted from its map and added back during an iteration', async (t) => {
  const map = testMap(t);
  const [a, b] = channelPair({ map });
  b.send('first');
  const it = loop({ map, timeout: 2 })[Symbol.asyncIterator]();
  t.teardown(async () => { await it.return?.(); });
  const next = async (): Promise<LoopEvent> => {
    const result = await deadline(it.next(), 'the next loop event');
    if (result.done === true) throw new Error('The loop ended');
    return result.value;
  };
  for (;;) {
    const ev = await next();
    if (ev.type === 'timeout') throw new Error('The first read did not come');
    if (ev.type !== 'read' || ev.channel !== a) continue;
    t.equal(a.recv(100)?.toString(), 'first');
    // Out and back in while the loop still holds a's entry.
    map.delete(a.id);
    map.set(a.id, a);
    break;
  }
  b.send('second');
  for (;;) {
    const ev = await next();
    if (ev.type === 'timeout') throw new Error('The channel added back was lost: only timeouts');
    if (ev.type !== 'read' || ev.channel !== a) continue;
    t.equal(a.recv(100)?.toString(), 'second', 'its next read comes');
    break;
  }
});
