// HTTP/1.1 under wrk (keep-alive, 50 connections, one thread, GET /):
// examples/http-server.ts (the framing layer under serve()) against node:http
// serving the same routes (bench/servers/http-node.ts); then our server with
// one process against --workers 2.
// Part 1, server against server: the server pinned to core 0 and wrk to core
// 1 (taskset); requests/s, and the server's CPU (user + system from /proc)
// per million requests; each round's ratio ours / node:http in requests per
// CPU-second (above 1: ours is cheaper), the median over the rounds.
// Part 2, 1 worker against 2: nothing pinned (2 workers need both cores), so
// the load generator's CPU is part of the account: requests/s, and the CPU
// of the server's processes (primary and workers) plus wrk's, per million
// requests. Configurations interleave round by round, each round starting
// with another; each run follows an unmeasured one-second warm-up.
//
//   npm run bench                                  (the whole suite, this one part of it)
//   node build/bench/http.js --rounds 3 --no-save   (after tsc -p tsconfig.bench.json)
// BENCH_SECONDS sets each run's length (default 3 s): about 80 s in all by default.
// Results go to bench/results/http.json.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median, pin, resultsPath, root, saveResults, statFields, taskset, ticks, TICKS_PER_SECOND, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const rounds = Math.max(1, Number(argv[argv.indexOf('--rounds') + 1] ?? 3) || 3);
const resultsFile = resultsPath(argv, 'http');
const seconds = Number(process.env.BENCH_SECONDS ?? '3');
const CONNECTIONS = 50;
if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status !== 0) {
  throw new Error('Cannot run the HTTP benchmark: wrk is missing (apt-get install -y wrk)');
}
// Our server is the example itself, built as `npm run examples` builds it.
const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.examples.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) throw new Error('Cannot build examples/http-server.ts: tsc -p tsconfig.examples.json failed');
const example = path.join(root, 'build/examples/http-server.js');

interface Config { name: string; command: string[]; pinned: boolean }
const OURS = 'http-server (FrameReader + serve())';
const NODE = 'node:http';
const ONE = 'http-server, 1 process';
const TWO = 'http-server --workers 2';
const part1: Config[] = [
  { name: OURS, command: ['node', example], pinned: true },
  { name: NODE, command: ['node', path.join(here, 'servers/http-node.js')], pinned: true },
];
const part2: Config[] = [
  { name: ONE, command: ['node', example], pinned: false },
  { name: TWO, command: ['node', example, '--workers', '2'], pinned: false },
];

/** CPU ticks (user + system) of a process and its descendants so far. */
function treeTicks(pid: number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(statFields(Number(entry))[1]));
    } catch { /* gone meanwhile */ }
  }
  let total = 0;
  const visit = (at: number): void => {
    try {
      total += ticks(at);
    } catch { return; }
    for (const [child, parent] of parents) if (parent === at) visit(child);
  };
  visit(pid);
  return total;
}

/** CPU ticks of this process's children that exited and were reaped (wrk, once it is done). */
function reapedTicks(): number {
  const fields = statFields('self');
  return Number(fields[13]) + Number(fields[14]);
}

/** `command` on `core` when the configuration is pinned. */
function pinIf(pinned: boolean, core: number, command: string[]): [string, ...string[]] {
  return pinned ? pin(core, command) : command as [string, ...string[]];
}

/** Starts a server; its port from its first line (`listening HOST:PORT`, or the bench servers' JSON). */
async function startServer(config: Config): Promise<{ child: ChildProcess; port: number }> {
  const [command, ...rest] = pinIf(config.pinned, 0, config.command);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done === true) throw new Error(`${config.name} exited before listening`);
  const line = first.value;
  const port = line.startsWith('{') ? (JSON.parse(line) as { port: number }).port : Number(line.slice(line.lastIndexOf(':') + 1));
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => { child.kill('SIGKILL'); }, 10_000);
  await exited;
  clearTimeout(timer);
}

interface Load { requests: number; seconds: number; errors: number; cpu: number }

/** wrk against `port` for `duration` seconds: what it did, and its own CPU seconds. */
async function wrk(port: number, duration: number, pinned: boolean): Promise<Load> {
  const [command, ...rest] = pinIf(pinned, 1, ['wrk', '-t1', `-c${CONNECTIONS}`, `-d${duration}s`, `http://127.0.0.1:${port}/`]);
  const before = reapedTicks();
  const load = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'] }));
  let out = '';
  load.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
  const [code] = await once(load, 'exit') as [number | null];
  const cpu = (reapedTicks() - before) / TICKS_PER_SECOND;
  const done = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  if (code !== 0 || done === null) throw new Error(`wrk failed (${code}):\n${out}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)?.slice(1).map(Number) ?? [];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests: Number(done[1]),
    seconds: Number(done[2]) / (done[3] === 'ms' ? 1000 : 1),
    errors: socketErrors.reduce((sum, n) => sum + n, 0) + non2xx,
    cpu,
  };
}

interface Run { requestsPerSecond: number; serverCpuPerMillion: number; totalCpuPerMillion: number; errors: number }

/** One configuration under wrk for `seconds`, after a warm-up. */
async function measure(config: Config): Promise<Run> {
  const { child, port } = await startServer(config);
  try {
    await wrk(port, 1, config.pinned); // warm-up: the JIT, the connections' buffers
    const pid = child.pid as number;
    const before = treeTicks(pid);
    const load = await wrk(port, seconds, config.pinned);
    const serverCpu = (treeTicks(pid) - before) / TICKS_PER_SECOND;
    const millions = load.requests / 1e6;
    return {
      requestsPerSecond: load.requests / load.seconds,
      serverCpuPerMillion: load.requests > 0 ? serverCpu / millions : NaN,
      totalCpuPerMillion: load.requests > 0 ? (serverCpu + load.cpu) / millions : NaN,
      errors: load.errors,
    };
  } finally {
    await stopServer(child);
  }
}

const loadBefore = os.loadavg()[0] ?? NaN;
const configs = [...part1, ...part2];
const runs = new Map<string, Run[]>(configs.map((c) => [c.name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const part of [part1, part2]) {
    // Each round starts with another configuration.
    const order = part.map((_, i) => part[(i + round - 1) % part.length] as Config);
    for (const config of order) {
      process.stderr.write(`round ${round}/${rounds} ${config.name} ... `);
      const run = await measure(config).catch((error: unknown): Run => {
        process.stderr.write(`failed: ${error instanceof Error ? error.message : String(error)} `);
        return { requestsPerSecond: NaN, serverCpuPerMillion: NaN, totalCpuPerMillion: NaN, errors: 1 };
      });
      process.stderr.write(`${run.requestsPerSecond.toFixed(0)} req/s, server ${run.serverCpuPerMillion.toFixed(2)}, `
        + `with wrk ${run.totalCpuPerMillion.toFixed(2)} CPU s per M\n`);
      runs.get(config.name)?.push(run);
    }
  }
}

/** Per round, `name`'s requests per CPU-second over `other`'s (by `cpu`); then the median. */
function ratio(name: string, other: string, cpu: 'serverCpuPerMillion' | 'totalCpuPerMillion'): number | null {
  const theirs = runs.get(other) ?? [];
  const value = median((runs.get(name) ?? []).map((run, i) => (theirs[i]?.[cpu] ?? NaN) / run[cpu]));
  return Number.isFinite(value) ? value : null;
}

const rows = configs.map((config) => {
  const list = runs.get(config.name) ?? [];
  return {
    server: config.name,
    pinned: config.pinned && taskset,
    requestsPerSecond: median(list.map((r) => r.requestsPerSecond)),
    serverCpuSecondsPerMillion: median(list.map((r) => r.serverCpuPerMillion)),
    totalCpuSecondsPerMillion: median(list.map((r) => r.totalCpuPerMillion)),
    ratioToNodeHttp: part1.includes(config) ? ratio(config.name, NODE, 'serverCpuPerMillion') : null,
    ratioToOneProcess: part2.includes(config) ? ratio(config.name, ONE, 'totalCpuPerMillion') : null,
    errors: list.reduce((sum, r) => sum + r.errors, 0),
  };
});

const fmt = (n: number | null, digits = 2): string => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const [ours, node, one, two] = rows;
const table = [
  `| server pinned, wrk pinned (GET /, ${CONNECTIONS} keep-alive connections) | req/s | server CPU s per M req | ratio to node:http (req per CPU-s) | errors |`,
  '|---|---|---|---|---|',
  ...[ours, node].map((r) => r && `| ${r.server} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.serverCpuSecondsPerMillion)} | ${fmt(r.ratioToNodeHttp)} | ${r.errors} |`),
  '',
  '| nothing pinned | req/s | server CPU s per M req | server + wrk CPU s per M req | ratio to 1 process (req per CPU-s, wrk included) | errors |',
  '|---|---|---|---|---|---|',
  ...[one, two].map((r) => r && `| ${r.server} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.serverCpuSecondsPerMillion)} | ${fmt(r.totalCpuSecondsPerMillion)} | ${fmt(r.ratioToOneProcess)} | ${r.errors} |`),
];
console.log(table.join('\n'));

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  wrk: spawnSync('wrk', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '?',
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  taskset,
  connections: CONNECTIONS,
  rounds,
  secondsPerRun: seconds,
  // On a shared machine the other processes' load is part of the result.
  loadAverage: { before: loadBefore, after: os.loadavg()[0] ?? NaN },
  command: `node build/bench/http.js ${argv.join(' ')}`.trim(),
};
saveResults(resultsFile, { environment, rows });
