// The seed's direct interface between the loop and a dispatcher:
// handleReadEvent(), handleWriteEvent(), handleConnectEvent() and
// handleExptEvent(). The loop routes every read, accept, write and connect
// through them, so an override sees each; called directly, with no loop,
// they call the implied handlers as Python's do.
import type net from 'node:net';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, loop } from '../../src/index.js';
import type { Address, ChannelMap, HandlerResult } from '../../src/index.js';
import { deadline } from '../helpers/deadline.js';
import { QuietDispatcher, Server, failOnUnhandled } from '../helpers/dispatchers.js';
import { families, rawPeer, testMap } from '../helpers/net.js';
import type { FamilyCase } from '../helpers/net.js';

failOnUnhandled(t);

const ipv4 = families[0] as FamilyCase;

/** Records every handler and direct-interface call, in order. */
class Recorder extends QuietDispatcher {
  readonly calls: string[] = [];
  override handleReadEvent(): HandlerResult { this.calls.push('readEvent'); return super.handleReadEvent(); }
  override handleWriteEvent(): HandlerResult { this.calls.push('writeEvent'); return super.handleWriteEvent(); }
  override handleConnectEvent(): HandlerResult { this.calls.push('connectEvent'); return super.handleConnectEvent(); }
  override handleExptEvent(): HandlerResult { this.calls.push('exptEvent'); return super.handleExptEvent(); }
  override handleConnect(): HandlerResult { this.calls.push('connect'); }
  override handleRead(): void { this.calls.push('read'); this.recv(65536); }
  override handleWrite(): void { this.calls.push('write'); }
  override handleAccept(): void { this.calls.push('accept'); this.accept()?.[0].destroy(); }
  override handleExpt(): void { this.calls.push('expt'); }
  override handleClose(): void { this.calls.push('close'); this.close(); }
}

/** A Recorder client connected (Node-side) to a raw peer; no loop has run. */
async function connectedClient(
  t: Test, Kind: new (sock: null, map: ChannelMap) => Recorder = Recorder,
): Promise<{ map: ChannelMap; client: Recorder; peer: net.Socket }> {
  const map = testMap(t);
  const { port, accepted } = await rawPeer(t);
  const client = new Kind(null, map);
  client.createSocket(AF_INET);
  client.connect(['127.0.0.1', port]);
  await deadline(client.opened, 'the connection');
  return { map, client, peer: await deadline(accepted, 'the accepted socket') };
}

t.test('Dispatcher.handleWriteEvent() called directly on a client whose connect is pending calls handleConnect() then handleWrite(); a loop does not call handleConnect() again', async (t) => {
  const { map, client } = await connectedClient(t);
  await client.handleWriteEvent();
  t.same(client.calls, ['writeEvent', 'connectEvent', 'connect', 'write']);
  client.calls.length = 0;
  await client.handleWriteEvent();
  t.same(client.calls, ['writeEvent', 'write'], 'connected now: handleWrite() only');
  client.calls.length = 0;
  await loop({ map, timeout: 1, count: 1 });
  t.notOk(client.calls.includes('connect'), `no second handleConnect(): ${client.calls.join(',')}`);
  t.ok(client.calls.includes('write'), 'the pass went to handleWrite()');
});

t.test('Dispatcher.handleReadEvent() called directly on a client whose connect is pending calls handleConnect() then handleRead()', async (t) => {
  const { client } = await connectedClient(t);
  await client.handleReadEvent();
  t.same(client.calls, ['readEvent', 'connectEvent', 'connect', 'read']);
  client.calls.length = 0;
  await client.handleReadEvent();
  t.same(client.calls, ['readEvent', 'read']);
});

t.test('Dispatcher.handleReadEvent() on a listener calls handleAccept(); handleWriteEvent() on a listener calls nothing', async (t) => {
  const map = testMap(t);
  const server = new Recorder(null, map);
  t.teardown(() => { server.close(); });
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(5);
  await server.opened;
  await server.handleWriteEvent();
  t.same(server.calls, ['writeEvent'], 'Python: return');
  server.calls.length = 0;
  await server.handleReadEvent();
  t.same(server.calls, ['readEvent', 'accept'], 'Python: handle_accept()');
});

t.test('Dispatcher.handleConnectEvent() awaits an async handleConnect() before handleWriteEvent() calls handleWrite()', async (t) => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => { release = resolve; });
  class Slow extends Recorder {
    override async handleConnect(): Promise<void> {
      this.calls.push('connect');
      await gate;
      this.calls.push('connected');
    }
  }
  const { client } = await connectedClient(t, Slow);
  const done = client.handleWriteEvent();
  t.same(client.calls, ['writeEvent', 'connectEvent', 'connect'], 'handleWrite() waits');
  release();
  await done;
  t.same(client.calls, ['writeEvent', 'connectEvent', 'connect', 'connected', 'write']);
});

t.test('Dispatcher.handleExptEvent() calls handleExpt(), or handleClose() once the connection broke', async (t) => {
  const { client, peer } = await connectedClient(t);
  await client.handleExptEvent();
  t.same(client.calls, ['exptEvent', 'expt']);
  client.calls.length = 0;
  peer.resetAndDestroy();
  await deadline(client.closed, 'the reset');
  await client.handleExptEvent();
  t.same(client.calls, ['exptEvent', 'close'], 'Python: SO_ERROR set, handle_close()');
});

t.test('await loop() routes every connect, read, accept and write through the direct interface', async (t) => {
  const map = testMap(t);
  const accepted: Recorder[] = [];
  class Listening extends Server {
    readonly seen: string[] = [];
    override handleReadEvent(): HandlerResult { this.seen.push('readEvent'); return super.handleReadEvent(); }
  }
  const server: Listening = new Listening(t, map, ipv4, (sock: net.Socket) => {
    accepted.push(new Recorder(sock, map));
    server.close();
  });
  await server.opened;
  class Client extends Recorder {
    sent = false;
    override writable(): boolean { return !this.sent; }
    override handleWrite(): void { super.handleWrite(); this.sent = true; this.send('hello'); }
    override handleRead(): void { super.handleRead(); this.close(); }
  }
  const client = new Client(null, map);
  client.createSocket(AF_INET);
  client.connect(server.addr as Address);
  // The accepted side echoes once, then closes.
  const running = loop({ map, timeout: 5 }).then();
  await deadline((async () => {
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
  })(), 'the accept');
  const peer = accepted[0] as Recorder;
  peer.handleRead = function (this: Recorder): void {
    this.calls.push('read');
    const data = this.recv(65536);
    if (data !== null && data.length > 0) this.send(data);
    else this.close();
  };
  peer.writable = (): boolean => false;
  await deadline(running, 'the loop');
  t.same(server.seen, ['readEvent'], 'the accept went through handleReadEvent()');
  t.same(client.calls.slice(0, 4), ['connectEvent', 'connect', 'writeEvent', 'write'], 'connect, then write');
  t.ok(client.calls.includes('readEvent'), `then the echo through handleReadEvent(): ${client.calls.join(',')}`);
  t.equal(client.calls.filter((c) => c === 'connect').length, 1, 'handleConnect() once');
  t.ok(peer.calls.every((c, i) => c !== 'read' || peer.calls[i - 1] === 'readEvent'), `each read of the accepted side went through handleReadEvent(): ${peer.calls.join(',')}`);
});
