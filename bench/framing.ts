// The framing benchmark: a line protocol (each request one 64-byte line,
// each reply the same line) over 100 connections, served by our lines(), by
// raw node:net splitting lines by hand (the reference), by Python 3.11's
// asynchat, and by our AsyncChat (bench/servers/asynchat.ts); and,
// for context, the chunks() echo of bench/servers/channel-helpers.ts (the
// channel layer without framing).
// The figure is server CPU seconds per million requests (user + system, read
// from /proc), and its ratio to the reference's from the same round (above
// 1: cheaper than it); servers interleave round by round, medians of the
// rounds. Then the scanner alone: MB/s over 1 KiB lines fed in 1-byte and in
// 64 KiB chunks.
//
//   npm run bench                                     (the whole suite, this one part of it)
//   node build/bench/framing.js --rounds 5 --no-save   (after tsc -p tsconfig.bench.json)
//   node build/bench/framing.js --servers lines,chunks --no-save   (a subset; raw always runs)
// BENCH_SECONDS sets each run's length (default 1.5 s), BENCH_WARMUP_SECONDS the
// unmeasured load before each run (default 0.5 s): about 50 s in all by default.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, nextLine, outputLines, pin, resultsPath, runOut, saveResults, taskset, ticks, TICKS_PER_SECOND, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const argv = process.argv.slice(2);
const rounds = Math.max(1, Number(argv[argv.indexOf('--rounds') + 1] ?? 3) || 3);
const resultsFile = resultsPath(argv, 'framing');
const seconds = Number(process.env.BENCH_SECONDS ?? '1.5');
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? '0.5');
// The scanner is not public: taken from the build of src (npm run build).
type ScannerModule = typeof import('../dist/framing/scanner.js');
const { FrameScanner } = await import(pathToFileURL(path.join(root, 'dist/framing/scanner.js')).href) as ScannerModule;
const withAsynchat = spawnSync('python3', ['-c', 'import warnings; warnings.simplefilter("ignore"); import asynchat'], { stdio: 'ignore' }).status === 0;

// The C load generator (compiled again: its line mode must be there), else the Node one.
const loadgenC = path.join(here, 'loadgen-c');
const gcc = spawnSync('gcc', ['-O2', '-std=c11', '-D_GNU_SOURCE', '-o', loadgenC, path.join(root, 'bench/loadgen.c')], { stdio: 'inherit' });
const loadgen = gcc.status === 0 ? [loadgenC] : ['node', path.join(here, 'loadgen.js')];

interface Server { name: string; command: string[] }
const REFERENCE = 'raw node:net, lines split by hand';
const PYTHON = 'Python asynchat';
const servers: Server[] = [
  { name: REFERENCE, command: ['node', path.join(here, 'servers/raw-lines.js')] },
  { name: 'lines()', command: ['node', path.join(here, 'servers/lines.js')] },
  // Context, not a line server: the same channel layer echoing chunks, no framing (one line per
  // request makes it a correct echo here), so the two rows above it split the cost.
  { name: 'chunks() echo, no framing', command: ['node', path.join(here, 'servers/channel-helpers.js')] },
];
if (withAsynchat) servers.push({ name: PYTHON, command: ['python3', path.join(root, 'bench/servers/python_asynchat.py')] });
// The AsyncChat line echo (bench/servers/asynchat.ts).
if (existsSync(path.join(here, 'servers/asynchat.js'))) {
  servers.push({ name: 'AsyncChat', command: ['node', path.join(here, 'servers/asynchat.js')] });
}
// --servers a,b: only the servers whose name holds one of these (the reference always runs).
const picked = argv.includes('--servers') ? (argv[argv.indexOf('--servers') + 1] ?? '').toLowerCase().split(',') : null;
if (picked !== null) servers.splice(1, Infinity, ...servers.slice(1).filter((s) => picked.some((p) => s.name.toLowerCase().includes(p))));

interface Run { requestsPerSecond: number; cpuPerMillion: number; errors: number }

/** One server under the line load for `seconds`: its throughput and CPU per request. */
async function measure(server: Server): Promise<Run> {
  const [command, ...rest] = pin(0, server.command);
  const child = track(spawn(command, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  try {
    const { port, pid } = JSON.parse(await nextLine(outputLines(child), server.name)) as { port: number; pid: number };
    const generate = (time: number): ChildProcessByStdio<null, Readable, null> => {
      const [lcmd, ...lrest] = pin(1, [...loadgen, JSON.stringify({ mode: 'rr', connections: 100, seconds: time, port, lines: 1 })]);
      return track(spawn(lcmd, lrest, { stdio: ['ignore', 'pipe', 'inherit'] }));
    };
    if (warmupSeconds > 0) {
      // Unmeasured, the same load first: V8 compiles the Node servers' code
      // while they run (Python's is not compiled), a one-time cost.
      await runOut(generate(warmupSeconds));
    }
    const load = generate(seconds);
    const exited = once(load, 'exit');
    const lines = outputLines(load);
    await nextLine(lines, 'the load generator'); // 'started'
    const before = ticks(pid);
    const result = JSON.parse(await nextLine(lines, 'the load generator')) as { requests: number; seconds: number; errors: number };
    const cpu = (ticks(pid) - before) / TICKS_PER_SECOND;
    await exited;
    return {
      requestsPerSecond: result.requests / result.seconds,
      cpuPerMillion: result.requests > 0 ? cpu / (result.requests / 1e6) : NaN,
      errors: result.errors,
    };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}

/** The scanner alone over 1 KiB lines in chunks of `size`: MB/s over about half a second. */
function scannerRate(size: number): number {
  const line = Buffer.alloc(1024, 0x78);
  line[1023] = 0x0a;
  const stream = Buffer.concat(Array.from({ length: size === 1 ? 256 : 4096 }, () => line));
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
  let frames = 0;
  let bytes = 0;
  const sink = { collect: (data: Buffer) => { bytes += data.length; }, found: () => { frames++; return false; }, tooLong: () => undefined };
  const scanner = new FrameScanner(65536);
  scanner.terminator = Buffer.from('\n');
  for (const chunk of chunks) scanner.scan(chunk, sink); // warm-up, untimed
  frames = bytes = 0;
  let fed = 0;
  const started = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < 0.5) {
    for (const chunk of chunks) scanner.scan(chunk, sink);
    fed += stream.length;
    elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  }
  if (frames !== fed / 1024 || bytes !== fed - frames) throw new Error('the scanner lost bytes');
  return fed / 1e6 / elapsed;
}

const loadBefore = os.loadavg()[0] ?? NaN;
const runs = new Map<string, Run[]>(servers.map((s) => [s.name, []]));
const scans: Record<string, number[]> = { '1-byte chunks': [], '64 KiB chunks': [] };
for (let round = 1; round <= rounds; round++) {
  // Each round starts with another server.
  const order = servers.map((_, i) => servers[(i + round - 1) % servers.length] as Server);
  for (const server of order) {
    process.stderr.write(`round ${round}/${rounds} ${server.name} ... `);
    const run = await measure(server).catch((error: unknown): Run => {
      process.stderr.write(`failed: ${error instanceof Error ? error.message : String(error)} `);
      return { requestsPerSecond: NaN, cpuPerMillion: NaN, errors: 1 };
    });
    process.stderr.write(`${run.requestsPerSecond.toFixed(0)} req/s, ${run.cpuPerMillion.toFixed(2)} CPU s per M\n`);
    runs.get(server.name)?.push(run);
  }
  scans['1-byte chunks']?.push(scannerRate(1));
  scans['64 KiB chunks']?.push(scannerRate(65536));
}

/** Per round, how many times cheaper than `other` the server was; then the median. */
function ratioTo(name: string, other: string): number | null {
  const mine = runs.get(name) ?? [];
  const theirs = runs.get(other);
  if (theirs === undefined) return null;
  const ratio = median(mine.map((run, i) => (theirs[i]?.cpuPerMillion ?? NaN) / run.cpuPerMillion));
  return Number.isFinite(ratio) ? ratio : null;
}

const rows = servers.map((server) => {
  const list = runs.get(server.name) ?? [];
  return {
    server: server.name,
    requestsPerSecond: median(list.map((r) => r.requestsPerSecond)),
    cpuSecondsPerMillion: median(list.map((r) => r.cpuPerMillion)),
    cpuRange: [Math.min(...list.map((r) => r.cpuPerMillion)), Math.max(...list.map((r) => r.cpuPerMillion))],
    ratioToRaw: ratioTo(server.name, REFERENCE),
    ratioToPythonAsynchat: ratioTo(server.name, PYTHON),
    errors: list.reduce((sum, r) => sum + r.errors, 0),
  };
});
const scanner = Object.entries(scans).map(([feed, list]) => ({ feed, megabytesPerSecond: median(list) }));

const fmt = (n: number | null, digits = 2): string => (n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const table = [
  '| server (line echo, 100 connections) | req/s | server CPU s per M req (min–max) | ratio to raw (CPU) | ratio to Python asynchat (CPU) | errors |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.server} | ${fmt(r.requestsPerSecond, 0)} | ${fmt(r.cpuSecondsPerMillion)} (${fmt(r.cpuRange[0] ?? null)}–${fmt(r.cpuRange[1] ?? null)}) | ${fmt(r.ratioToRaw)} | ${fmt(r.ratioToPythonAsynchat)} | ${r.errors} |`),
  '',
  '| FrameScanner, 1 KiB lines | MB/s |',
  '|---|---|',
  ...scanner.map((s) => `| ${s.feed} | ${fmt(s.megabytesPerSecond, 1)} |`),
];
console.log(table.join('\n'));
if (!withAsynchat) console.log('\nPython asynchat skipped: python3 with asynchat (Python 3.11 or older) not found.');

const environment = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  taskset,
  loadgen: loadgen.length === 1 ? 'c' : 'node',
  rounds,
  secondsPerRun: seconds,
  // On a shared machine the other processes' load is part of the result.
  loadAverage: { before: loadBefore, after: os.loadavg()[0] ?? NaN },
  command: `node build/bench/framing.js ${argv.join(' ')}`.trim(),
};
saveResults(resultsFile, { environment, rows, scanner });
