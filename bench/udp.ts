// The UDP benchmark: an echo of 64-byte datagrams, our datagram servers
// (readiness events for await, datagrams(), Dispatcher) against a raw
// node:dgram echo, servers interleaved round by round. Two loads: a fixed
// offered rate, and saturation (a fixed number of datagrams in flight).
// The figure is datagrams echoed per second of server CPU (every thread, user
// + system, from the per-thread clocks in /proc/PID/task/*/schedstat), and its
// ratio to the raw server's in the same round; loss is
// counted for each server (sent and never echoed). Median of the rounds.
//
//   npm run bench                       (the whole suite, this one part of it)
//   node build/bench/udp.js             3 rounds, about 75 s (--warmup 1: unmeasured seconds first)
//   node build/bench/udp.js --rounds 5 --seconds 3 --rate 40000 --no-save
//   node build/bench/udp.js --servers udp-await,experiments/udp-raw-callback --no-save
//     (the raw reference always runs; other files of bench/servers/ by name)
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSecondsSince, cpuSnapshot, median, resultsPath, runOut, saveResults, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  const value = at < 0 ? fallback : Number(args[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const rounds = option('--rounds', 3);
const seconds = option('--seconds', 2);
// Unmeasured seconds of the same load first: V8 compiles a server's code
// while it runs, ours more than raw's, and the fixed rate's 40,000 datagrams
// were too few to make that one-time cost vanish.
const warmup = option('--warmup', 1);
const rate = option('--rate', 20_000);
const window = option('--window', 128);
const resultsFile = resultsPath(args, 'udp');
const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

interface Server { name: string; file: string }
const allServers: Server[] = [
  { name: 'raw node:dgram', file: 'udp-raw' },
  { name: 'Channel for await', file: 'udp-await' },
  { name: 'Channel datagrams()', file: 'udp-datagrams' },
  { name: 'Dispatcher', file: 'udp-dispatcher' },
];
const only = args.includes('--servers') ? String(args[args.indexOf('--servers') + 1]).split(',') : null;
const servers: Server[] = only === null ? allServers : [allServers[0] as Server, ...only.map((file) => (
  allServers.find((s) => s.file === file) ?? { name: file.replace(/^experiments\//, ''), file }))];
interface Load { name: string; job: Record<string, unknown> }
const loads: Load[] = [
  { name: `rate-${rate}`, job: { mode: 'rate', rate } },
  { name: `saturation-${window}`, job: { mode: 'window', window } },
];

interface Sample { sent: number; echoed: number; lost: number; perSecond: number; perCpuSecond: number; cpuSeconds: number }

function pinned(core: number, command: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', String(core), ...command] : command;
}

async function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  lines.close();
  return line;
}

async function measure(server: Server, load: Load): Promise<Sample> {
  const [cmd, ...rest] = pinned(0, ['node', path.join(here, 'servers', `${server.file}.js`)]) as [string, ...string[]];
  const child = track(spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root }));
  try {
    const { port, pid } = JSON.parse(await firstLine(child)) as { port: number; pid: number };
    const generate = (time: number): ChildProcess => {
      const job = JSON.stringify({ ...load.job, port, seconds: time });
      const [lcmd, ...lrest] = pinned(1, ['node', path.join(here, 'udp-load.js'), job]) as [string, ...string[]];
      return track(spawn(lcmd, lrest, { stdio: ['ignore', 'pipe', 'inherit'] }));
    };
    await runOut(generate(warmup));
    const gen = generate(seconds);
    const lines = createInterface({ input: gen.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
    await lines.next(); // 'started'
    const before = cpuSnapshot(pid);
    const result = await lines.next();
    const cpuSeconds = cpuSecondsSince(pid, before);
    if (result.done === true) throw new Error('the load generator exited without a result');
    const { sent, echoed, seconds: took } = JSON.parse(result.value) as { sent: number; echoed: number; seconds: number };
    return {
      sent, echoed, lost: sent - echoed, cpuSeconds,
      perSecond: echoed / took,
      perCpuSecond: cpuSeconds > 0 ? echoed / cpuSeconds : Infinity,
    };
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
}


function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

const samples = new Map<string, Sample[]>(); // `${load}|${server}`
const ratios = new Map<string, number[]>();
const started = Date.now();
const loadBefore = os.loadavg();
for (let round = 1; round <= rounds; round++) {
  for (const load of loads) {
    // Interleaved: each round runs every server once, the raw reference first.
    const order = round % 2 === 1 ? servers : [servers[0] as Server, ...servers.slice(1).reverse()];
    let raw: Sample | null = null;
    for (const server of order) {
      const sample = await measure(server, load);
      raw ??= sample;
      const key = `${load.name}|${server.name}`;
      append(samples, key, sample);
      append(ratios, key, sample.perCpuSecond / raw.perCpuSecond);
      process.stderr.write(`round ${round}/${rounds} ${load.name.padEnd(16)} ${server.name.padEnd(20)} ${Math.round(sample.perSecond)}/s echoed, `
        + `${Math.round(sample.perCpuSecond)} per CPU-s, lost ${sample.lost} of ${sample.sent}\n`);
    }
  }
}

interface Row { load: string; server: string; echoedPerSecond: number; echoedPerCpuSecond: number; ratioToRaw: number; lost: number[]; sent: number[] }
const rows: Row[] = [];
for (const load of loads) {
  for (const server of servers) {
    const key = `${load.name}|${server.name}`;
    const list = samples.get(key) ?? [];
    rows.push({
      load: load.name,
      server: server.name,
      echoedPerSecond: Math.round(median(list.map((s) => s.perSecond))),
      echoedPerCpuSecond: Math.round(median(list.map((s) => s.perCpuSecond))),
      ratioToRaw: Math.round(median(ratios.get(key) ?? []) * 1000) / 1000,
      lost: list.map((s) => s.lost),
      sent: list.map((s) => s.sent),
    });
  }
}

console.log(`UDP echo, 64-byte datagrams, ${rounds} rounds of ${seconds} s, median (${Math.round((Date.now() - started) / 1000)} s in all)`);
console.log('load              server                echoed/s   per CPU-s  ratio  lost per round');
for (const row of rows) {
  console.log(`${row.load.padEnd(17)} ${row.server.padEnd(20)} ${String(row.echoedPerSecond).padStart(9)} ${String(row.echoedPerCpuSecond).padStart(11)}  `
    + `${row.ratioToRaw.toFixed(2)}   ${row.lost.join(', ')}`);
}

if (resultsFile !== null) {
  const machine = {
    cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', node: process.version, taskset: hasTaskset,
    // Other work on the machine makes the figures noisy: the load average says how much there was.
    loadAverageBefore: loadBefore, loadAverageAfter: os.loadavg(),
  };
  const out = { date: new Date().toISOString(), machine, rounds, seconds, rate, window, payloadBytes: 64, rows };
  saveResults(resultsFile, out);
  console.log(`saved ${path.relative(root, resultsFile)}`);
}
