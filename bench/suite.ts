// The whole benchmark suite, one part after another, merged into one file:
// bench/results/latest.json (described in docs/performance.md, "Running the
// suite"). By default every part runs short (one or two rounds, one-second
// runs, the echo workloads that matter most): under five minutes in all.
// --full runs each part as it runs alone, with its own defaults (three rounds
// and every workload: 10-15 minutes), and also leaves each part's own file in
// bench/results/ as the part alone would.
//
//   npm run bench                          the short suite
//   npm run bench -- --full                every part at its own defaults
//   npm run bench -- --parts tls,udp       only these parts (latest.json holds them only)
//   npm run bench -- --rounds 2            this many rounds in every part that has rounds
//
// Every line a part prints is shown prefixed with the part's name; each part
// prints a line per run (`round i/N ...` or `case i/N ...`).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { root, saveResults, taskset, track } from './proc.js';

interface Part {
  /** The key in latest.json's `parts`, and the prefix of its lines. */
  readonly name: string;
  /** The compiled script in build/bench/. */
  readonly script: string;
  /** Its file in bench/results/ when it runs alone (null: it keeps none). */
  readonly own: string | null;
  /** Its arguments in the short suite; --full passes none of them. */
  readonly short: readonly string[];
  /** Whether it takes --rounds. */
  readonly rounds: boolean;
}

// The short suite's choices: one or two rounds each, and the workloads that
// say most per second spent (the scaling-* runs and the remaining rounds are
// what --full adds).
const PARTS: readonly Part[] = [
  { name: 'loop-scaling', script: 'loop-scaling.js', own: null, short: ['0.5'], rounds: false },
  { name: 'poll-delay', script: 'poll-delay.js', own: null, short: ['--trials', '10'], rounds: false },
  { name: 'run', script: 'run.js', own: 'run', short: ['--rounds', '1', '--only', 'rr-100,rr-1,stream-8,churn,idle-10k'], rounds: true },
  { name: 'client-stream', script: 'client-stream.js', own: null, short: ['--rounds', '1'], rounds: true },
  // One round: two took 107 of the suite's 329 s on the slower machine of 2026-12-03.
  { name: 'tls', script: 'tls.js', own: 'tls', short: ['--rounds', '1'], rounds: true },
  { name: 'udp', script: 'udp.js', own: 'udp', short: ['--rounds', '1', '--seconds', '1'], rounds: true },
  { name: 'framing', script: 'framing.js', own: 'framing', short: ['--rounds', '2'], rounds: true },
  { name: 'http', script: 'http.js', own: 'http', short: ['--rounds', '1'], rounds: true },
  { name: 'resp', script: 'resp.js', own: 'resp', short: ['--rounds', '1', '--requests', '20000'], rounds: true },
];
/** The short suite's environment: one-second runs, idle-10k idle for 1 s, twenty measured TLS passes. */
const SHORT_ENV = { BENCH_SECONDS: '1', BENCH_IDLE_SECONDS: '1', BENCH_TLS_REPEAT: '20' };

const argv = process.argv.slice(2);
const full = argv.includes('--full');
const value = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const roundsOption = value('--rounds');
if (roundsOption !== undefined && !(Number(roundsOption) >= 1)) throw new RangeError(`Cannot run the suite: --rounds must be a positive integer, received ${roundsOption}`);
const picked = value('--parts')?.split(',');
const unknown = picked?.filter((name) => !PARTS.some((p) => p.name === name)) ?? [];
if (unknown.length > 0) throw new RangeError(`Cannot run the suite: no part named ${unknown.join(', ')} (parts: ${PARTS.map((p) => p.name).join(', ')})`);
const parts = PARTS.filter((p) => picked === undefined || picked.includes(p.name));

/** A part's arguments: the short ones or none, --rounds replaced if given, and where its JSON goes. */
function partArgs(part: Part, json: string): string[] {
  const args = full ? [] : [...part.short];
  if (roundsOption !== undefined && part.rounds) {
    const at = args.indexOf('--rounds');
    if (at >= 0) args.splice(at, 2);
    args.push('--rounds', roundsOption);
  }
  return [...args, '--json', json];
}

/** Copies each line of `input` to `output` with the part's name in front. */
async function relay(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, prefix: string): Promise<void> {
  for await (const line of createInterface({ input, crlfDelay: Infinity })) output.write(`${prefix} ${line}\n`);
}

interface Outcome { status: 'ok' | 'skipped' | 'failed'; seconds: number; command: string; results: unknown; note?: string }

async function runPart(part: Part, index: number, scratch: string): Promise<Outcome> {
  // --full leaves each part's own file where the part alone writes it.
  const json = full && part.own !== null ? path.join(root, 'bench/results', `${part.own}.json`) : path.join(scratch, `${part.name}.json`);
  rmSync(json, { force: true });
  const args = partArgs(part, json);
  // The command as one would type it alone: without --json, it writes its own file or none.
  const command = `node build/bench/${part.script} ${args.slice(0, -2).join(' ')}`.trim();
  const prefix = `[${part.name}]`;
  process.stderr.write(`${prefix} part ${index + 1}/${parts.length}: ${command}\n`);
  const started = performance.now();
  const child = track(spawn(process.execPath, [path.join(root, 'build/bench', part.script), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: full ? process.env : { ...process.env, ...SHORT_ENV },
  }));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  await Promise.all([relay(child.stdout, process.stdout, prefix), relay(child.stderr, process.stderr, prefix)]);
  const [code, signal] = await exited;
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const done = `${prefix} part ${index + 1}/${parts.length} done in ${seconds} s`;
  if (code !== 0) {
    const note = signal === null ? `exited with code ${String(code)}` : `killed by ${signal}`;
    process.stderr.write(`${done}: failed, ${note}\n`);
    return { status: 'failed', seconds, command, results: null, note };
  }
  if (!existsSync(json)) {
    // A part that finds its tools missing (resp without redis-server) says so and writes nothing.
    process.stderr.write(`${done}: skipped, it wrote no results\n`);
    return { status: 'skipped', seconds, command, results: null, note: 'exited without results (see its output)' };
  }
  process.stderr.write(`${done}\n`);
  return { status: 'ok', seconds, command, results: JSON.parse(readFileSync(json, 'utf8')) as unknown };
}

const started = performance.now();
const loadBefore = os.loadavg()[0] ?? NaN;
const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-suite-'));
const outcomes: Record<string, Outcome> = {};
try {
  for (const [index, part] of parts.entries()) outcomes[part.name] = await runPart(part, index, scratch);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
const seconds = Math.round((performance.now() - started) / 1000);
const environment = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  taskset,
  mode: full ? 'full' : 'short',
  command: `node build/bench/suite.js ${argv.join(' ')}`.trim(),
  seconds,
  // On a shared machine the other processes' load is part of the result.
  loadAverage: { before: loadBefore, after: os.loadavg()[0] ?? NaN },
};
const latest = path.join(root, 'bench/results/latest.json');
saveResults(latest, { environment, parts: outcomes });
const failed = Object.entries(outcomes).filter(([, o]) => o.status === 'failed').map(([name]) => name);
process.stderr.write(`[suite] ${parts.length} part${parts.length === 1 ? '' : 's'} in ${Math.floor(seconds / 60)} min ${seconds % 60} s`
  + `${failed.length > 0 ? `, failed: ${failed.join(', ')}` : ''}; wrote ${path.relative(root, latest)}\n`);
if (failed.length > 0) process.exitCode = 1;
