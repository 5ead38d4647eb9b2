// readable() is asked while a dispatcher is idle, as Python asks it on every
// pass: the loop's sweeps call it for every dispatcher in turn, whether input
// waits or not, so an idle check written there runs and one that throws is
// noticed without waiting for data.
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, loop } from '../../src/index.js';
import type { ChannelMap, HandlerResult } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, failOnUnhandled, settle } from '../helpers/dispatchers.js';
import { rawPeer, testMap } from '../helpers/net.js';

failOnUnhandled(t);

/** A client connected to a raw peer that sends nothing; its connect handled. */
async function idleClient<D extends QuietDispatcher>(t: Test, map: ChannelMap, make: () => D): Promise<D> {
  const { port } = await rawPeer(t);
  const client = make();
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  await deadline(client.opened, 'the connection');
  return client;
}
t.test('Dispatcher.readable() is called by the loop while the dispatcher is idle', async (t) => {
  const map = testMap(t);
  const asked = settle();
  let watching = false;
  class Idle extends QuietDispatcher {
    override handleConnect(): void { /* nothing to do */ }
    override writable(): boolean { return false; }
    override readable(): boolean {
      if (watching) asked.resolve(undefined);
      return true;
    }
  }
  const client = await idleClient(t, map, () => new Idle(null, map));
  await loop({ map, timeout: 0.05, count: 1 }); // the connect
  watching = true;
  const running = loop({ map, pollInterval: 0.01 });
  const done = running.then(() => undefined);
  await deadline(asked.promise, 'readable() while idle');
  running.stop();
  await done;
  t.equal(client.bufferedAmount, 0, 'no input waited');
  t.equal(client.state, 'open');
});

t.test('Dispatcher.readable() that throws while the dispatcher is idle goes to handleError()', async (t) => {
  const map = testMap(t);
  const failure = new Error('readable() failed');
  let failing = false;
  const errors: unknown[] = [];
  class Failing extends QuietDispatcher {
    override handleConnect(): void { /* nothing to do */ }
    override writable(): boolean { return false; }
    override readable(): boolean {
      if (failing) throw failure;
      return true;
    }
    override handleError(error: unknown): HandlerResult {
      errors.push(error);
      this.close();
    }
  }
  const client = await idleClient(t, map, () => new Failing(null, map));
  await loop({ map, timeout: 0.05, count: 1 }); // the connect
  failing = true;
  // The map empties once handleError() closed the client: the loop ends.
  await deadline(loop({ map, pollInterval: 0.01 }).then(() => undefined), 'the loop to end');
  t.same(errors, [failure], 'handleError() got the error, once');
  t.equal(client.state, 'closed');
});
