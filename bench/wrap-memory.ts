// Heap bytes that wrapping one idle accepted connection costs (a Channel, or
// a Dispatcher subclass), measured with forced garbage collection: precise to
// a few bytes where the RSS figure of idle-10k moves by hundreds. Compares
// builds: pass each build's dist/ folder.
//
//   node --expose-gc build/bench/wrap-memory.js dist ../before/dist
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Api {
  Channel: new (sock?: net.Socket | null, map?: unknown) => { addr: unknown; abort(): void; close(): void };
  Dispatcher: new (sock?: net.Socket | null, map?: unknown) => { abort(): void };
  ChannelMap: new () => unknown;
}
interface Listener { addr: unknown; opened: Promise<unknown>; accept(): [net.Socket, unknown] | null; createSocket(f: string): void; bind(a: unknown): void; listen(n: number): void; close(): void }

const N = 3000;
const maybeGc = (globalThis as { gc?: () => void }).gc;
if (maybeGc === undefined) throw new Error('Run with node --expose-gc');
const gc: () => void = maybeGc;

async function measure(dist: string, kind: 'channel' | 'dispatcher'): Promise<number> {
  const api = await import(pathToFileURL(path.resolve(dist, 'index.js')).href) as Api;
  class Quiet extends api.Dispatcher {}
  const map = new api.ChannelMap();
  const server = new api.Channel(null, map) as unknown as Listener;
  server.createSocket('AF_INET');
  server.bind(['127.0.0.1', 0]);
  server.listen(4096);
  await server.opened;
  const port = (server.addr as [string, number])[1];
  const clients = Array.from({ length: N }, () => net.connect(port, '127.0.0.1').on('error', () => undefined));
  await Promise.all(clients.map((c) => new Promise((resolve) => c.once('connect', resolve))));
  const sockets: net.Socket[] = [];
  while (sockets.length < N) {
    const pair = server.accept();
    if (pair === null) await new Promise((resolve) => setImmediate(resolve));
    else sockets.push(pair[0]);
  }
  gc(); gc();
  const before = process.memoryUsage().heapUsed;
  const wrap = (s: net.Socket): { abort(): void } => {
    if (kind === 'channel') return new api.Channel(s, map);
    return new Quiet(s, map);
  };
  const wrapped = sockets.map(wrap);
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc(); gc();
  const bytes = (process.memoryUsage().heapUsed - before) / N;
  for (const w of wrapped) w.abort();
  for (const c of clients) c.destroy();
  server.close();
  return bytes;
}

const dists = process.argv.slice(2);
if (dists.length === 0) dists.push('dist');
for (const kind of ['channel', 'dispatcher'] as const) {
  for (const dist of dists) {
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) runs.push(await measure(dist, kind));
    runs.sort((a, b) => a - b);
    console.log(`${kind} ${dist}: ${Math.round(runs[1] ?? 0)} bytes per wrapped connection (median of 3: ${runs.map(Math.round).join(', ')})`);
  }
}
