// send() and recv() on a closed Dispatcher behave as Python's: 0 and an empty
// buffer, not an exception, so relay code does not fail because the other
// side closed. A plain Channel still throws ChannelClosedError.
import t from 'tap';
import { AF_INET, Channel, ChannelClosedError, loop } from '../../src/index.js';
import type { Test } from 'tap';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, QuietDispatcherWithSend, failOnUnhandled } from '../helpers/dispatchers.js';
import { rawPeer, testMap } from '../helpers/net.js';

failOnUnhandled(t);

/** A dispatcher connected to a raw loopback peer; resolves with both ends. */
async function connectedTo<D extends Channel>(t: Test, make: () => D) {
  const { port, accepted } = await rawPeer(t);
  const d = make();
  d.createSocket(AF_INET);
  d.connect(['127.0.0.1', port]);
  await deadline(d.opened, 'the connection');
  return { d, peer: await deadline(accepted, 'the accepted socket') };
}

t.test('Dispatcher.send() on a closed dispatcher returns 0', async (t) => {
  const map = testMap(t);
  const { d } = await connectedTo(t, () => new QuietDispatcher(null, map));
  d.close();
  t.equal(d.send('late'), 0);
  t.equal(d.send(Buffer.alloc(10)), 0);
  t.throws(() => d.send(42 as unknown as string), TypeError, 'a bad argument still throws');
});

t.test('Dispatcher.recv() on a closed dispatcher returns an empty Buffer', async (t) => {
  const map = testMap(t);
  const { d } = await connectedTo(t, () => new QuietDispatcher(null, map));
  d.close();
  const data = d.recv(10);
  t.ok(Buffer.isBuffer(data) && data.length === 0, 'b\'\'');
  t.throws(() => d.recv(0), RangeError, 'a bad size still throws');
});

t.test('DispatcherWithSend.send() on a closed dispatcher returns 0', async (t) => {
  const map = testMap(t);
  const { d } = await connectedTo(t, () => new QuietDispatcherWithSend(null, map));
  d.close();
  t.equal(d.send('late'), 0);
  t.equal(d.pendingOutput, 0);
});

t.test('Channel.send() and recv() on a closed channel still throw ChannelClosedError', async (t) => {
  const map = testMap(t);
  const { d } = await connectedTo(t, () => new Channel(null, map));
  d.close();
  t.throws(() => d.send('late'), ChannelClosedError);
  t.throws(() => d.recv(10), ChannelClosedError);
});

t.test('Dispatcher.send() to a closed dispatcher from a relay\'s handleRead() does not reach handleError()', async (t) => {
  const map = testMap(t);
  const { d: b } = await connectedTo(t, () => new QuietDispatcher(null, map));
  class Relay extends QuietDispatcher {
    relayed = -1;
    errors: unknown[] = [];
    override handleConnect(): void { /* nothing to do */ }
    override writable(): boolean { return false; }
    override handleRead(): void {
      const data = this.recv(8192);
      if (data !== null && data.length > 0) this.relayed = b.send(data);
    }
    override handleError(error: unknown): void { this.errors.push(error); this.close(); }
  }
  const { d: a, peer } = await connectedTo(t, () => new Relay(null, map));
  b.close();
  peer.write('hello');
  await deadline((async () => {
    while (a.relayed < 0) await loop({ map, timeout: 1, count: 1 });
  })(), 'the relayed read');
  t.equal(a.relayed, 0, 'nothing taken by the closed side');
  t.same(a.errors, [], 'handleError() not called');
  t.equal(a.state, 'open', 'the relay stays open');
});
