// How long a silent change in a dispatcher's writable() takes to be noticed
// (item 9 of the design: readable()/writable() are polled in a bounded sweep).
// N connected dispatchers sit in one map; a flag that writable() returns is
// flipped (a) from a timer, outside any handler, and (b) from another
// channel's handleRead, as a proxy does. We time flag → handleWrite().
//
//   npm run build && node build/bench/poll-delay.js [--trials 20] [--json FILE]
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { AF_INET, ChannelMap, Dispatcher, closeAll, loop } from 'asyncore';
import { median, resultsPath, saveResults } from './proc.js';

const SIZES = [10, 1_000, 4_000];
const argv = process.argv.slice(2);
const TRIALS = argv.includes('--trials') ? Math.max(1, Number(argv[argv.indexOf('--trials') + 1]) || 20) : 20;

class Target extends Dispatcher {
  want = false;
  flippedAt = 0;
  onWrite: ((delayMs: number) => void) | null = null;
  override writable(): boolean { return this.want; }
  override readable(): boolean { return false; }
  override handleWrite(): void {
    this.want = false;
    this.onWrite?.(performance.now() - this.flippedAt);
  }
}

class Trigger extends Dispatcher {
  target: Target | null = null;
  override writable(): boolean { return false; }
  override handleRead(): void {
    this.recv(64);
    const target = this.target;
    if (target === null) return;
    target.flippedAt = performance.now();
    target.want = true;
  }
}


/** Connects this many at a time, each batch accepted before the next starts. */
const CONNECT_BATCH = 256;

async function run(size: number): Promise<{ outside: number[]; handler: number[] }> {
  const map = new ChannelMap();
  const peers: net.Socket[] = [];
  let accepted: (() => void) | null = null;
  let expected = 0;
  const server = net.createServer((sock) => {
    peers.push(sock);
    if (peers.length === expected) accepted?.();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', 1024, resolve));
  const { port } = server.address() as net.AddressInfo;
  // In batches: thousands of connects at once overflow the listen queue, and
  // a connection the kernel drops there is open on the client's side only, so
  // the server would wait for it forever (seen with 4,000 on a busy machine).
  const connectBatch = async <T extends Dispatcher>(make: () => T, count: number): Promise<T[]> => {
    const made = Array.from({ length: count }, () => {
      const dispatcher = make();
      dispatcher.createSocket(AF_INET);
      dispatcher.connect(['127.0.0.1', port]);
      return dispatcher;
    });
    expected += count;
    const all = new Promise<void>((resolve) => { accepted = resolve; });
    if (peers.length === expected) accepted = null;
    else await all;
    await Promise.all(made.map((d) => d.opened));
    return made;
  };
  const targets: Target[] = [];
  for (let done = 0; done < size; done += CONNECT_BATCH) {
    targets.push(...await connectBatch(() => new Target(null, map), Math.min(CONNECT_BATCH, size - done)));
  }
  const [trigger] = await connectBatch(() => new Trigger(null, map), 1) as [Trigger];
  const running = loop({ map });
  const done = running.then(() => undefined);
  const triggerPort = (trigger.socket as net.Socket).localPort;
  const triggerPeer = peers.find((peer) => peer.remotePort === triggerPort) as net.Socket;

  const outside: number[] = [];
  const handler: number[] = [];
  for (let i = 0; i < TRIALS; i++) {
    const target = targets[Math.floor(Math.random() * targets.length)] as Target;
    outside.push(await new Promise<number>((resolve) => {
      target.onWrite = resolve;
      setTimeout(() => { target.flippedAt = performance.now(); target.want = true; }, 1);
    }));
    handler.push(await new Promise<number>((resolve) => {
      target.onWrite = resolve;
      trigger.target = target;
      triggerPeer.write('x');
    }));
    trigger.target = null;
  }
  running.stop();
  await done;
  closeAll(map);
  for (const peer of peers) peer.destroy();
  await new Promise((resolve) => server.close(resolve));
  return { outside, handler };
}

const rows: { dispatchers: number; outsideMedianMs: number; outsideMaxMs: number; handlerMedianMs: number; handlerMaxMs: number }[] = [];
for (const [i, size] of SIZES.entries()) {
  const { outside, handler } = await run(size);
  rows.push({
    dispatchers: size,
    outsideMedianMs: median(outside), outsideMaxMs: Math.max(...outside),
    handlerMedianMs: median(handler), handlerMaxMs: Math.max(...handler),
  });
  process.stderr.write(`case ${i + 1}/${SIZES.length} ${size} dispatchers, ${TRIALS} trials: median ${median(outside).toFixed(2)} ms outside handlers, ${median(handler).toFixed(2)} ms from one\n`);
}
console.log('dispatchers | outside handlers: median / max ms | from a handler: median / max ms');
for (const r of rows) {
  console.log(`${String(r.dispatchers).padStart(11)} | ${r.outsideMedianMs.toFixed(2)} / ${r.outsideMaxMs.toFixed(2)} | ${r.handlerMedianMs.toFixed(2)} / ${r.handlerMaxMs.toFixed(2)}`);
}
const environment = { date: new Date().toISOString(), node: process.version, cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`, trials: TRIALS };
saveResults(resultsPath(argv, null), { environment, rows });
