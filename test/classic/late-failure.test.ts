// No handler runs once a loop stopped (docs/reliability.md): a handler's
// promise that rejects after its loop ended does not reach handleError(),
// whose default would close the channel, and an ExitNow that comes too late
// to end its loop is not swallowed silently: both are process warnings.
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, ExitNow, loop } from '../../src/index.js';
import type { ChannelMap } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, failOnUnhandled, settle } from '../helpers/dispatchers.js';
import { rawPeer, testMap } from '../helpers/net.js';

failOnUnhandled(t);

/** A client whose handleRead() waits for `gate`, then throws `failure`. */
async function slowClient(t: Test, failure: Error): Promise<{
  map: ChannelMap; client: QuietDispatcher & { errors: unknown[] }; started: Promise<undefined>; release: () => void;
}> {
  const map = testMap(t);
  const started = settle();
  const gate = settle();
  class Slow extends QuietDispatcher {
    readonly errors: unknown[] = [];
    override handleConnect(): void { /* nothing to do */ }
    override writable(): boolean { return false; }
    override async handleRead(): Promise<void> {
      this.recv(100);
      started.resolve(undefined);
      await gate.promise;
      throw failure;
    }
    override handleError(error: unknown): void { this.errors.push(error); this.close(); }
  }
  const { port, accepted } = await rawPeer(t);
  const client = new Slow(null, map);
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  const peer = await deadline(accepted, 'the accepted socket');
  peer.write('x');
  return { map, client, started: started.promise, release: () => { gate.resolve(undefined); } };
}

/** The next process warning with the late-failure code. */
function lateWarning(): Promise<Error> {
  return new Promise((resolve) => {
    const onWarning = (warning: Error & { code?: string }): void => {
      if (warning.code !== 'ASYNCORE_LATE_HANDLER_FAILURE') return;
      process.off('warning', onWarning);
      resolve(warning);
    };
    process.on('warning', onWarning);
  });
}

for (const [what, failure] of [['an Error', new Error('too late')], ['an ExitNow', new ExitNow('too late to exit')]] as const) {
  t.test(`await loop() stopped: a handler's promise that rejects later with ${what} calls no handler, closes nothing and is reported as a process warning`, async (t) => {
    const { map, client, started, release } = await slowClient(t, failure);
    const running = loop({ map });
    const ended = running.then();
    await deadline(started, 'handleRead()');
    running.stop();
    await deadline(ended, 'the stopped loop'); // resolves: stopping does not wait for the handler
    const warned = lateWarning();
    release();
    const warning = await deadline(warned, 'the warning');
    t.match(warning.message, /too late/, 'the warning carries the failure');
    t.equal(warning.name, 'AsyncoreWarning');
    t.same(client.errors, [], 'handleError() was not called');
    t.equal(client.state, 'open', 'the channel stays open');
  });
}

t.test('await loop() still sends a handler\'s rejection to handleError() while it runs', async (t) => {
  const failure = new Error('in time');
  const { map, client, started, release } = await slowClient(t, failure);
  const running = loop({ map }).then();
  await deadline(started, 'handleRead()');
  release();
  await deadline(running, 'the loop, ended by handleError() closing the only channel');
  t.same(client.errors, [failure]);
  t.equal(client.state, 'closed');
});
