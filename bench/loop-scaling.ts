// Micro-benchmark: the loop's cost per event against ix's `merge`, with 10,
// 1,000 and 10,000 channels in the map. Ten connected channels with write
// interest on are always ready (a level event per pull); the rest sit idle in
// the map. Both consumers read the same kind of channels, for a fixed time.
//
//   npm run build && node build/bench/loop-scaling.js [seconds-per-case] [--json FILE]
import net from 'node:net';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { merge } from 'ix/asynciterable';
import { AF_INET, Channel, ChannelMap, closeAll, loop } from 'asyncore';
import type { ChannelEvent, LoopEvent } from 'asyncore';
import { resultsPath, saveResults } from './proc.js';

const BUSY = 10;
const SIZES = [10, 1_000, 10_000];
const argv = process.argv.slice(2);
const seconds = Number(argv.find((arg, i) => !arg.startsWith('--') && argv[i - 1] !== '--json') ?? '1');

interface Fixture { map: ChannelMap; channels: Channel[]; cleanup(): Promise<void> }

async function fixture(total: number): Promise<Fixture> {
  const map = new ChannelMap();
  const server = net.createServer((sock) => { sock.resume(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const channels: Channel[] = [];
  for (let i = 0; i < BUSY; i++) {
    const channel = new Channel(null, map);
    channel.createSocket(AF_INET);
    channel.connect(['127.0.0.1', port]);
    await channel.opened;
    channel.writeInterest = true;
    channels.push(channel);
  }
  for (let i = BUSY; i < total; i++) {
    const idle = new Channel(null, map);
    idle.createSocket(AF_INET);
    channels.push(idle);
  }
  return {
    map,
    channels,
    cleanup: async () => {
      closeAll(map);
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function drain(events: AsyncIterable<ChannelEvent | LoopEvent>): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  for await (const ev of events) {
    if (ev.type !== 'write') continue;
    if (++count % 256 === 0 && performance.now() > deadline) break;
  }
  return count;
}

async function measure(kind: 'loop' | 'merge', total: number): Promise<number> {
  const fx = await fixture(total);
  const started = performance.now();
  const events = kind === 'loop'
    ? loop({ map: fx.map, timeout: 60 })
    : merge(...(fx.channels as [Channel, ...Channel[]]));
  const count = await drain(events);
  const elapsed = performance.now() - started;
  await fx.cleanup();
  return (elapsed * 1000) / count; // microseconds per event
}

const rows: { sources: number; loopUs: number; mergeUs: number }[] = [];
for (const [i, total] of SIZES.entries()) {
  const loopUs = await measure('loop', total);
  process.stderr.write(`case ${2 * i + 1}/${2 * SIZES.length} loop() over ${total} sources: ${loopUs.toFixed(2)} µs/event\n`);
  const mergeUs = await measure('merge', total);
  process.stderr.write(`case ${2 * i + 2}/${2 * SIZES.length} ix merge over ${total} sources: ${mergeUs.toFixed(2)} µs/event\n`);
  rows.push({ sources: total, loopUs, mergeUs });
}
console.log('sources | loop() µs/event | ix merge µs/event');
for (const row of rows) {
  console.log(`${String(row.sources).padStart(7)} | ${row.loopUs.toFixed(2).padStart(15)} | ${row.mergeUs.toFixed(2).padStart(17)}`);
}

const environment = { date: new Date().toISOString(), node: process.version, cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`, busy: BUSY, secondsPerCase: seconds };
saveResults(resultsPath(argv, null), { environment, unit: 'µs per event', rows });
