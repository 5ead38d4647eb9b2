// The benchmark suite: every server under test against the same load, servers
// interleaved round by round, each figure also as a ratio to raw node:net from
// the same round. Server CPU is read from /proc (user + system, all threads).
//
//   node build/bench/run.js            3 rounds, every workload (about 10 minutes)
//   node build/bench/run.js --rounds 5
//   node build/bench/run.js --only rr-100 --servers await,helpers --no-save
//     (a subset: --only names workloads, --servers picks servers by a part of
//     their name, raw node:net always runs; --no-save keeps bench/results as is)
// BENCH_SECONDS sets each run's length (default 1.5 s), BENCH_IDLE_SECONDS
// idle-10k's idle window (default 3 s), BENCH_SETTLE_SECONDS the longest wait
// for idle-10k's server to finish accepting before that window (default 5 s;
// a server still busy then gets no figures), BENCH_WARMUP_SECONDS the
// unmeasured load before each run (default 0.5 s).
// Results go to bench/results/run.json and run.md (--json FILE: there, and the .md beside it);
// npm run bench (bench/suite.ts) runs this as one part of the suite.
//   node build/bench/run.js --only rr-100 --experiments --servers await,floor --rounds 7 --no-save
//     (adds the minimal experiment servers of bench/servers/experiments)
//   node build/bench/run.js --baseline ../other/build/bench --no-save
//     (adds each library server of another checkout's build, named "... (baseline)",
//     interleaved in the same rounds: a before/after comparison on one machine state)
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { median, resultsPath, runOut, saveResults, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const rounds = Number(args[args.indexOf('--rounds') + 1] ?? 3) || 3;
const only = args.includes('--only') ? (args[args.indexOf('--only') + 1] ?? '').split(',') : null;
const pick = args.includes('--servers') ? (args[args.indexOf('--servers') + 1] ?? '').toLowerCase().split(',') : null;
const resultsFile = resultsPath(args, 'run');
const seconds = Number(process.env.BENCH_SECONDS ?? '1.5');
// idle-10k's window for the server's idle CPU (read in 10 ms ticks).
const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? '3');
// Seconds of unmeasured load before each measured run (0: none).
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? '0.5');
// idle-10k: the longest wait, after the last connect, for the server to finish
// accepting (its CPU quiet) before the idle window; a server still busy then
// is reported as such, with no figures.
const settleSeconds = Number(process.env.BENCH_SETTLE_SECONDS ?? '5');
const CLK_TCK = 100;
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const python = spawnSync('python3', ['-c', 'import asyncore'], { stdio: 'ignore' }).status === 0;

// The load generator: the C one (bench/loadgen.c, compiled here when gcc exists)
// costs less CPU per request than the Node one, so the servers saturate first.
const loadgenC = path.join(here, 'loadgen-c');
const gcc = spawnSync('gcc', ['-O2', '-Wall', '-Wextra', '-std=c11', '-D_GNU_SOURCE', '-o', loadgenC, path.join(root, 'bench/loadgen.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
const compiled = gcc.error === undefined && gcc.status === 0;
const whyNot = gcc.error !== undefined ? 'gcc not found' : `gcc failed (status ${String(gcc.status)})`;
const requested = args.includes('--loadgen') ? args[args.indexOf('--loadgen') + 1] : undefined;
if (requested !== undefined && requested !== 'c' && requested !== 'node') {
  throw new Error(`--loadgen must be c or node, not ${requested}`);
}
if (requested === 'c' && !compiled) throw new Error(`--loadgen c: ${whyNot}`);
const loadgen: 'c' | 'node' = requested ?? (compiled ? 'c' : 'node');
process.stderr.write(`load generator: ${loadgen} (${requested !== undefined ? '--loadgen' : compiled ? 'compiled bench/loadgen.c' : whyNot})\n`);

interface Server { name: string; command: string[] }
const servers: Server[] = [
  { name: 'raw node:net', command: ['node', path.join(here, 'servers/raw.js')] },
  { name: 'Channel for await', command: ['node', path.join(here, 'servers/channel-await.js')] },
  { name: 'Channel helpers', command: ['node', path.join(here, 'servers/channel-helpers.js')] },
  { name: 'serve()', command: ['node', path.join(here, 'servers/serve.js')] },
  { name: 'Dispatcher', command: ['node', path.join(here, 'servers/dispatcher.js')] },
  { name: 'DispatcherWithSend', command: ['node', path.join(here, 'servers/dispatcher-with-send.js')] },
];
if (python) {
  servers.push({ name: 'Python asyncore', command: ['python3', path.join(root, 'bench/servers/python_asyncore.py')] });
}

// Experiments (--experiments): not servers under test, but the minimal servers
// that located the cost of waking a for-await consumer (docs/performance.md,
// "Batched readiness"); pick them with --servers.
if (args.includes('--experiments')) {
  for (const [name, file] of [['raw promise reply', 'raw-promise'], ['floor for await', 'floor'], ['floor for await, batched', 'floor-batched']]) {
    servers.push({ name: `experiment: ${name}`, command: ['node', path.join(here, `servers/experiments/${file}.js`)] });
  }
}

// Another build's library servers (--baseline DIR: that checkout's build/bench),
// run in the same rounds as this build's, so a before/after comparison shares
// the machine's state round by round.
if (args.includes('--baseline')) {
  const dir = path.resolve(args[args.indexOf('--baseline') + 1] ?? '');
  if (!existsSync(path.join(dir, 'servers/raw.js'))) throw new Error(`--baseline ${dir}: no servers/raw.js there (build it with tsc -p tsconfig.bench.json)`);
  for (const [name, file] of [['Channel for await', 'channel-await'], ['Channel helpers', 'channel-helpers'], ['serve()', 'serve'], ['Dispatcher', 'dispatcher'], ['DispatcherWithSend', 'dispatcher-with-send']]) {
    if (!existsSync(path.join(dir, `servers/${file}.js`))) continue; // an older build without it
    servers.push({ name: `${name} (baseline)`, command: ['node', path.join(dir, `servers/${file}.js`)] });
  }
}

// The reference always runs: every ratio is taken against it.
const chosen = servers.filter((s, i) => i === 0 || pick === null || pick.some((p) => s.name.toLowerCase().includes(p)));

interface Workload {
  name: string;
  job: Record<string, unknown>;
  /** The figure compared across servers. */
  unit: 'req/s' | 'MB/s' | 'conn/s' | 'KiB/conn';
}
const allWorkloads: Workload[] = [
  { name: 'rr-100', job: { mode: 'rr', connections: 100 }, unit: 'req/s' },
  { name: 'rr-1', job: { mode: 'rr', connections: 1 }, unit: 'req/s' },
  { name: 'stream-8', job: { mode: 'stream', connections: 8 }, unit: 'MB/s' },
  { name: 'churn', job: { mode: 'churn', connections: 16 }, unit: 'conn/s' },
  { name: 'idle-10k', job: { mode: 'idle', idle: 10_000 }, unit: 'KiB/conn' },
  { name: 'scaling-0', job: { mode: 'scaling', idle: 0 }, unit: 'req/s' },
  { name: 'scaling-1k', job: { mode: 'scaling', idle: 1_000 }, unit: 'req/s' },
  { name: 'scaling-10k', job: { mode: 'scaling', idle: 10_000 }, unit: 'req/s' },
];
const workloads = allWorkloads.filter((w) => only === null || only.includes(w.name));

interface Sample {
  value: number;
  serverCpuPerM: number | null;
  /** The user-space share of serverCpuPerM (the rest is system time). */
  serverUserPerM?: number;
  p50Us?: number;
  p99Us?: number;
  idleCpuPercent?: number;
  /** idle-10k: the server was still busy (accepting) when the idle window was due. */
  unsettled?: boolean;
  loadSaturated: boolean;
  errors: number;
}

function pinned(core: number, command: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', String(core), ...command] : command;
}

/** A process's CPU time so far in clock ticks: user and system (kernel). */
function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]), system: Number(fields[12]) };
}

function cpuTicks(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

async function startServer(server: Server): Promise<{ child: ChildProcess; port: number; pid: number }> {
  const [cmd, ...rest] = pinned(0, server.command) as [string, ...string[]];
  const child = track(spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  const { port, pid } = JSON.parse(await firstLine(child)) as { port: number; pid: number };
  return { child, port, pid };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

interface LoadResult { requests: number; bytes: number; seconds: number; latenciesUs?: { p50: number; p99: number }; loadCpuSeconds: number; errors: number }

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits at least 500 ms, then until the server's CPU has been quiet (at most
 * one clock tick, 10 ms, over the last 300 ms), for at most `boundMs`.
 * Returns false if it never went quiet: a server that accepts one connection
 * per poll() over all its descriptors (Python's asyncore) takes about a
 * minute to accept 10,000, and its "idle" figures would measure the accepting.
 */
async function settle(pid: number, boundMs: number): Promise<boolean> {
  await sleep(500);
  const deadline = Date.now() + Math.max(0, boundMs - 500);
  const recent: number[] = [];
  let last = cpuTicks(pid);
  for (;;) {
    await sleep(100);
    const now = cpuTicks(pid);
    recent.push(now - last);
    last = now;
    if (recent.length > 3) recent.shift();
    if (recent.length === 3 && recent.reduce((a, b) => a + b, 0) <= 1) return true;
    if (Date.now() >= deadline) return false;
  }
}

/** The load generator's result line; throws if it exited without one. */
async function resultLine(lines: AsyncIterator<string>): Promise<string> {
  const next = await lines.next();
  if (next.done === true) throw new Error('the load generator exited without a result');
  return next.value;
}

/** The load generator, pinned, for `job`. */
function generate(job: Record<string, unknown>): ChildProcessByStdio<Writable, Readable, null> {
  const command = loadgen === 'c' ? [loadgenC, JSON.stringify(job)] : ['node', path.join(here, 'loadgen.js'), JSON.stringify(job)];
  const [cmd, ...rest] = pinned(1, command) as [string, ...string[]];
  return track(spawn(cmd, rest, { stdio: ['pipe', 'pipe', 'inherit'] }));
}

async function measure(server: Server, workload: Workload): Promise<Sample> {
  const { child, port, pid } = await startServer(server);
  if (warmupSeconds > 0 && workload.job.mode !== 'idle') {
    // Unmeasured, the same load first: V8 compiles a server's code while it
    // runs (ours more than raw's; Python's not at all), a one-time cost that
    // is not the server's steady state.
    await runOut(generate({ ...workload.job, port, seconds: warmupSeconds }));
  }
  const load = generate({ ...workload.job, port, seconds });
  const loadExit = once(load, 'exit');
  try {
    if (workload.job.mode === 'idle') {
      const rssBefore = rssKiB(pid);
      const lines = createInterface({ input: load.stdout });
      const next = lines[Symbol.asyncIterator]();
      await next.next(); // 'ready': every connection is open
      if (!await settle(pid, settleSeconds * 1000)) {
        load.stdin.write('go\n');
        const result = JSON.parse(await resultLine(next)) as LoadResult;
        lines.close();
        return { value: NaN, serverCpuPerM: null, idleCpuPercent: NaN, unsettled: true, loadSaturated: false, errors: result.errors };
      }
      const rssAfter = rssKiB(pid);
      const t0 = cpuTicks(pid);
      const idleMs = idleSeconds * 1000;
      await sleep(idleMs);
      const ticks = cpuTicks(pid) - t0;
      load.stdin.write('go\n');
      const result = JSON.parse(await resultLine(next)) as LoadResult;
      lines.close();
      return {
        value: (rssAfter - rssBefore) / 10_000,
        serverCpuPerM: null,
        idleCpuPercent: (ticks / CLK_TCK / (idleMs / 1000)) * 100,
        loadSaturated: false,
        errors: result.errors,
      };
    }
    const lines = createInterface({ input: load.stdout });
    const next = lines[Symbol.asyncIterator]();
    await next.next(); // 'started': connections are open, the timed phase begins
    const t0 = cpuSplit(pid);
    const started = process.hrtime.bigint();
    const line = await resultLine(next);
    const t1 = cpuSplit(pid);
    lines.close();
    const result = JSON.parse(line) as LoadResult;
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    const user = (t1.user - t0.user) / CLK_TCK;
    const cpu = user + (t1.system - t0.system) / CLK_TCK;
    const count = workload.unit === 'MB/s' ? result.bytes / 1e9 : result.requests / 1e6;
    const value = workload.unit === 'MB/s' ? result.bytes / 1e6 / result.seconds : result.requests / result.seconds;
    return {
      value,
      serverCpuPerM: count > 0 ? cpu / count : null,
      ...(count > 0 ? { serverUserPerM: user / count } : {}),
      ...(result.latenciesUs === undefined ? {} : { p50Us: result.latenciesUs.p50, p99Us: result.latenciesUs.p99 }),
      loadSaturated: result.loadCpuSeconds / Math.max(result.seconds, wall) > 0.9,
      errors: result.errors,
    };
  } finally {
    // The load generator closes its connections and exits; then the server goes.
    const timer = setTimeout(() => load.kill('SIGKILL'), 30_000);
    await loadExit;
    clearTimeout(timer);
    await stop(child);
  }
}


const samples = new Map<string, Sample[]>(); // `${workload}|${server}` → per round
const key = (w: string, s: string): string => `${w}|${s}`;
for (let round = 1; round <= rounds; round++) {
  for (const workload of workloads) {
    // Rotate the order each round so no server always runs first.
    const order = chosen.map((_, i) => chosen[(i + round - 1) % chosen.length] as Server);
    for (const server of order) {
      process.stderr.write(`round ${round}/${rounds} ${workload.name} ${server.name} ... `);
      // A failed run is recorded as such (no figure, one error), not fatal to the suite.
      const sample = await measure(server, workload).catch((error: unknown): Sample => {
        process.stderr.write(`failed: ${error instanceof Error ? error.message : String(error)}\n`);
        return { value: NaN, serverCpuPerM: null, loadSaturated: false, errors: 1 };
      });
      process.stderr.write(sample.unsettled === true
        ? `not measured: still accepting ${settleSeconds} s after the last connect\n`
        : `${sample.value.toFixed(1)} ${workload.unit}\n`);
      const list = samples.get(key(workload.name, server.name)) ?? [];
      list.push(sample);
      samples.set(key(workload.name, server.name), list);
    }
  }
}

interface Row {
  workload: string; unit: string; server: string;
  median: number; min: number; max: number; ratio: number;
  cpuPerUnit: number | null; userPerUnit: number | null; cpuRatio: number | null;
  p50Us?: number; p99Us?: number; idleCpuPercent?: number;
  /** idle-10k: rounds in which the server was still accepting when the window was due (no figures). */
  unsettledRounds?: number;
  saturatedRounds: number; errors: number;
}
const rows: Row[] = [];
for (const workload of workloads) {
  const raw = samples.get(key(workload.name, 'raw node:net')) ?? [];
  for (const server of chosen) {
    const list = samples.get(key(workload.name, server.name)) ?? [];
    // An unsettled idle-10k round has no value (NaN): it counts in no figure.
    const values = list.map((s) => s.value).filter(Number.isFinite);
    // Ratios are taken per round against raw from the same round, then the median.
    const lowerIsBetter = workload.unit === 'KiB/conn';
    const ratios = list.map((s, i) => {
      const r = raw[i]?.value ?? NaN;
      return lowerIsBetter ? r / s.value : s.value / r;
    });
    const cpuRatios = list.map((s, i) => {
      const reference = raw[i]?.serverCpuPerM ?? null;
      return s.serverCpuPerM === null || reference === null ? NaN : reference / s.serverCpuPerM;
    });
    const cpu = list.map((s) => s.serverCpuPerM ?? NaN);
    const user = median(list.map((s) => s.serverUserPerM ?? NaN));
    const row: Row = {
      workload: workload.name,
      unit: workload.unit,
      server: server.name,
      median: median(values),
      min: Math.min(...values),
      max: Math.max(...values),
      ratio: median(ratios),
      cpuPerUnit: Number.isFinite(median(cpu)) ? median(cpu) : null,
      userPerUnit: Number.isFinite(user) ? user : null,
      cpuRatio: Number.isFinite(median(cpuRatios)) ? median(cpuRatios) : null,
      saturatedRounds: list.filter((s) => s.loadSaturated).length,
      errors: list.reduce((sum, s) => sum + s.errors, 0),
    };
    if (list[0]?.p50Us !== undefined) {
      row.p50Us = median(list.map((s) => s.p50Us ?? NaN));
      row.p99Us = median(list.map((s) => s.p99Us ?? NaN));
    }
    if (list[0]?.idleCpuPercent !== undefined) row.idleCpuPercent = median(list.map((s) => s.idleCpuPercent ?? NaN));
    const unsettled = list.filter((s) => s.unsettled === true).length;
    if (unsettled > 0) row.unsettledRounds = unsettled;
    rows.push(row);
  }
}

const fmt = (n: number | null | undefined, digits = 2): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const header = '| workload | server | median (min–max) | ratio to raw | server CPU s per M req (per GB) | of which user | CPU ratio | p50 / p99 µs | load saturated | errors |';
const table = [header, '|---|---|---|---|---|---|---|---|---|---|'];
for (const r of rows) {
  const unsettled = r.unsettledRounds === undefined ? ''
    : `still accepting ${settleSeconds} s after the last connect in ${r.unsettledRounds}/${rounds} rounds`;
  const extra = r.idleCpuPercent === undefined ? ''
    : `, idle CPU ${fmt(r.idleCpuPercent)}%${unsettled === '' ? '' : `; ${unsettled} (no figure from those)`}`;
  const value = Number.isFinite(r.median)
    ? `${fmt(r.median, 1)} ${r.unit} (${fmt(r.min, 1)}–${fmt(r.max, 1)})${extra}`
    : `not measured: ${unsettled === '' ? 'no round gave a figure' : unsettled}`;
  table.push(`| ${r.workload} | ${r.server} | ${value} | ${fmt(r.ratio)} | ${fmt(r.cpuPerUnit)} | ${fmt(r.userPerUnit)} | ${fmt(r.cpuRatio)} | ${r.p50Us === undefined ? '–' : `${fmt(r.p50Us, 0)} / ${fmt(r.p99Us, 0)}`} | ${r.saturatedRounds}/${rounds} | ${r.errors} |`);
}
console.log(table.join('\n'));

// Map scaling: each server's busy connection with N idle ones against itself
// with none, taken per round (the same round's scaling-0), then the median.
interface ScalingRow { server: string; idle: string; median: number; min: number; max: number }
const scaling: ScalingRow[] = [];
for (const server of chosen) {
  const none = samples.get(key('scaling-0', server.name));
  if (none === undefined) continue;
  for (const idle of ['scaling-1k', 'scaling-10k']) {
    const list = samples.get(key(idle, server.name));
    if (list === undefined) continue;
    const ratios = list.map((s, i) => s.value / (none[i]?.value ?? NaN)).filter((r) => Number.isFinite(r));
    scaling.push({ server: server.name, idle, median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) });
  }
}
const scalingTable = ['| server | idle in the map | busy connection req/s vs none, per round: median (min–max) |', '|---|---|---|'];
for (const r of scaling) scalingTable.push(`| ${r.server} | ${r.idle.replace('scaling-', '')} | ${fmt(r.median)} (${fmt(r.min)}–${fmt(r.max)}) |`);
if (scaling.length > 0) console.log(`\n${scalingTable.join('\n')}`);
if (!python) console.log('\nPython asyncore skipped: python3 with asyncore not found.');

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  taskset: hasTaskset,
  loadgen,
  rounds,
  secondsPerRun: seconds,
  idleSeconds,
  command: `node build/bench/run.js ${args.join(' ')}`.trim(),
};
saveResults(resultsFile, { environment, rows, scaling });
if (resultsFile !== null) {
  writeFileSync(resultsFile.replace(/\.json$/, '.md'), `${table.join('\n')}\n\n${scaling.length > 0 ? `${scalingTable.join('\n')}\n\n` : ''}Environment: ${JSON.stringify(environment)}\n`);
}
