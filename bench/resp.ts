// The RESP benchmark: examples/resp-server.ts (serve() and a FrameReader per
// connection) against redis-server itself, one thread, no persistence, and,
// for the floor of Node itself, raw node:net with a synchronous hand parser
// (bench/servers/raw-resp.ts); all pinned to core 0, under redis-benchmark
// pinned to core 1: PING (inline and multibulk), SET and GET from 50
// connections, one request at a time and 16 pipelined. The figure is server
// CPU per request (user + system of every thread, from /proc) and its ratio
// ours / Redis's from the same round (the goal: at most 1.5), and ours / raw.
// Each round starts the servers, warms them up, then runs every load against
// each in turn (the order rotating by round); medians of the rounds.
//
//   npm run bench                                    (the whole suite, this one part of it)
//   node build/bench/resp.js --rounds 5 --no-save    (after npm run build and tsc -p tsconfig.bench.json)
//   node build/bench/resp.js --requests 50000        (requests per run without -P; 10× that with -P 16)
// Without redis-server (Debian redis-server) or redis-benchmark (redis-tools) it says so and skips.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, nextLine, outputLines, pin, resultsPath, saveResults, ticks, TICKS_PER_SECOND, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const argv = process.argv.slice(2);
if (argv.includes('--help')) {
  console.log('usage: node build/bench/resp.js [--rounds N] [--requests N] [--no-save] [--json FILE]');
  process.exit(0);
}
const option = (name: string, fallback: number): number => Math.max(1, Number(argv[argv.indexOf(name) + 1] ?? fallback) || fallback);
const rounds = argv.includes('--rounds') ? option('--rounds', 3) : 3;
const requests = argv.includes('--requests') ? option('--requests', 100_000) : 100_000;
const resultsFile = resultsPath(argv, 'resp');

const missing = ['redis-server', 'redis-benchmark'].filter((command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status !== 0);
if (missing.length > 0) {
  console.log(`RESP benchmark skipped: ${missing.join(' and ')} not found (apt-get install redis-server redis-tools)`);
  process.exit(0);
}
// The example, compiled from examples/ (it imports the package's dist/, built by npm run build).
const compiled = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.examples.json'], { cwd: root, stdio: 'inherit' });
if (compiled.status !== 0) throw new Error('Cannot compile the examples: tsc -p tsconfig.examples.json failed');

interface Server { readonly name: string; readonly port: number; readonly pid: number; readonly child: ChildProcess }
const OURS = 'resp-server (serve + FrameReader)';
const RAW = 'raw node:net, hand parser';
const REDIS = 'redis-server, 1 thread';

/** A port free at the moment (redis-server cannot take port 0). */
async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

async function startOurs(): Promise<Server> {
  const [command, ...rest] = pin(0, ['node', path.join(root, 'build/examples/resp-server.js'), '--port', '0']);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  const line = await nextLine(outputLines(child), OURS);
  const port = Number(/:(\d+)$/.exec(line)?.[1]);
  return { name: OURS, port, pid: child.pid as number, child };
}

async function startRaw(): Promise<Server> {
  const [command, ...rest] = pin(0, ['node', path.join(here, 'servers/raw-resp.js')]);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  const { port, pid } = JSON.parse(await nextLine(outputLines(child), RAW)) as { port: number; pid: number };
  return { name: RAW, port, pid, child };
}

async function startRedis(): Promise<Server> {
  const port = await freePort();
  const [command, ...rest] = pin(0, ['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--io-threads', '1', '--daemonize', 'no']);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] }));
  const lines = outputLines(child);
  while (!(await nextLine(lines, REDIS)).includes('Ready to accept connections'));
  return { name: REDIS, port, pid: child.pid as number, child };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  server.child.kill('SIGKILL');
  await once(server.child, 'exit');
}

interface Load { readonly test: string; readonly pipeline: number }
const loads: Load[] = [1, 16].flatMap((pipeline) => ['ping', 'set', 'get'].map((test) => ({ test, pipeline })));
const label = (load: Load): string => `${load.test}${load.pipeline > 1 ? ` -P ${load.pipeline}` : ''}`;

interface Run { requestsPerSecond: number; cpuMicrosPerRequest: number }

/** Runs redis-benchmark (core 1); returns its CSV rows as [test, requests per second]. */
async function benchmark(server: Server, load: Load, count: number): Promise<[string, number][]> {
  const [command, ...rest] = pin(1, ['redis-benchmark', '-h', '127.0.0.1', '-p', String(server.port), '-c', '50',
    '-n', String(count), '-P', String(load.pipeline), '-t', load.test, '--csv']);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const [code] = await once(child, 'exit') as [number | null];
  if (code !== 0) throw new Error(`redis-benchmark exited with ${code}`);
  // "PING_INLINE","97087.38",...: the header line has no number.
  return out.split('\n').map((line) => line.split(',').map((field) => field.replace(/"/g, '')))
    .filter(([, rps]) => Number.isFinite(Number(rps)) && rps !== undefined && rps !== '')
    .map(([test, rps]) => [test ?? '', Number(rps)]);
}

/** One load against one server: requests per second and server CPU per request. */
async function measure(server: Server, load: Load): Promise<Run> {
  const count = load.pipeline > 1 ? requests * 10 : requests;
  const before = ticks(server.pid);
  const rows = await benchmark(server, load, count);
  const cpu = (ticks(server.pid) - before) / TICKS_PER_SECOND;
  const total = count * rows.length; // `-t ping` runs PING_INLINE and PING_MBULK
  const seconds = rows.reduce((sum, [, rps]) => sum + count / rps, 0);
  return { requestsPerSecond: total / seconds, cpuMicrosPerRequest: (cpu / total) * 1e6 };
}

const loadBefore = os.loadavg()[0] ?? NaN;
const runs = new Map<string, Run[]>();
const key = (server: string, load: Load): string => `${server}|${label(load)}`;
for (let round = 1; round <= rounds; round++) {
  const started = [await startOurs(), await startRaw(), await startRedis()];
  // Each round starts with another server.
  const servers = started.map((_, i) => started[(i + round - 1) % started.length] as Server);
  try {
    // Warm-up, not measured: JIT compilation, the first connections.
    for (const server of servers) await benchmark(server, { test: 'ping,set,get', pipeline: 16 }, 20_000);
    for (const load of loads) {
      for (const server of servers) {
        process.stderr.write(`round ${round}/${rounds} ${server.name}, ${label(load)} ... `);
        const run = await measure(server, load).catch((error: unknown): Run => {
          process.stderr.write(`failed: ${error instanceof Error ? error.message : String(error)} `);
          return { requestsPerSecond: NaN, cpuMicrosPerRequest: NaN };
        });
        process.stderr.write(`${run.requestsPerSecond.toFixed(0)} req/s, ${run.cpuMicrosPerRequest.toFixed(2)} µs CPU per request\n`);
        const list = runs.get(key(server.name, load)) ?? [];
        list.push(run);
        runs.set(key(server.name, load), list);
      }
    }
  } finally {
    for (const server of servers) await stop(server);
  }
}

/** Per round, ours / theirs CPU per request (both ran under the same machine state); the median and range. */
function ratios(load: Load, other: string): { median: number; min: number; max: number } {
  const ours = runs.get(key(OURS, load)) ?? [];
  const theirs = runs.get(key(other, load)) ?? [];
  const list = ours.map((r, i) => r.cpuMicrosPerRequest / (theirs[i]?.cpuMicrosPerRequest ?? NaN)).filter(Number.isFinite);
  return { median: median(list), min: Math.min(...list), max: Math.max(...list) };
}

const rows = loads.map((load) => {
  const figures = (name: string, field: keyof Run): number => median((runs.get(key(name, load)) ?? []).map((r) => r[field]));
  return {
    load: label(load),
    requestsPerSecond: { ours: figures(OURS, 'requestsPerSecond'), raw: figures(RAW, 'requestsPerSecond'), redis: figures(REDIS, 'requestsPerSecond') },
    cpuMicrosPerRequest: { ours: figures(OURS, 'cpuMicrosPerRequest'), raw: figures(RAW, 'cpuMicrosPerRequest'), redis: figures(REDIS, 'cpuMicrosPerRequest') },
    cpuRatioToRedis: ratios(load, REDIS),
    cpuRatioToRaw: ratios(load, RAW),
  };
});

const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
const range = (r: { median: number; min: number; max: number }): string => `${fmt(r.median)} (${fmt(r.min)}–${fmt(r.max)})`;
console.log([
  '| redis-benchmark -c 50 | req/s: ours / raw / Redis | CPU µs per request: ours / raw / Redis | CPU ratio ours/Redis (min–max) | CPU ratio ours/raw (min–max) |',
  '|---|---|---|---|---|',
  ...rows.map((r) => {
    const rps = r.requestsPerSecond;
    const cpu = r.cpuMicrosPerRequest;
    return `| ${r.load} | ${fmt(rps.ours, 0)} / ${fmt(rps.raw, 0)} / ${fmt(rps.redis, 0)} | ${fmt(cpu.ours)} / ${fmt(cpu.raw)} / ${fmt(cpu.redis)} | ${range(r.cpuRatioToRedis)} | ${range(r.cpuRatioToRaw)} |`;
  }),
].join('\n'));

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  redis: spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.trim(),
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  rounds,
  requestsPerRun: { plain: requests, pipelined: requests * 10 },
  // On a shared machine the other processes' load is part of the result.
  loadAverage: { before: loadBefore, after: os.loadavg()[0] ?? NaN },
  command: `node build/bench/resp.js ${argv.join(' ')}`.trim(),
};
saveResults(resultsFile, { environment, rows });
