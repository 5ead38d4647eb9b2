// What the benchmarks that run servers as child processes share: a process's
// CPU time from /proc, pinning to a core with taskset, a child's output read
// line by line, medians, where a part's JSON goes, and children that end with
// the bench however it ends.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file runs from build/bench/). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
export const TICKS_PER_SECOND = 100;

/** Whether taskset works here; without it nothing is pinned. */
export const taskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** The fields of /proc/PID/stat after the command's name (the state first). */
export function statFields(pid: number | 'self'): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU ticks (user + system, every thread) a process has used so far. */
export function ticks(pid: number): number {
  const fields = statFields(pid);
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * A process's CPU time so far: one clock per thread, in nanoseconds (the first
 * field of /proc/PID/task/TID/schedstat: time on a CPU, user and system), and
 * its ticks as the fallback where the kernel keeps no schedstat. The clocks
 * are finer than /proc's 10 ms ticks, which count a run of 0.2 s of CPU to ±5%.
 */
export interface CpuSnapshot { readonly clocks: Map<string, number> | null; readonly ticks: number }

/** Takes `pid`'s CPU snapshot. */
export function cpuSnapshot(pid: number): CpuSnapshot {
  return { clocks: threadClocks(pid), ticks: ticks(pid) };
}

/** `pid`'s per-thread CPU clocks, or `null` without schedstat. */
function threadClocks(pid: number): Map<string, number> | null {
  const clocks = new Map<string, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        clocks.set(tid, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]));
      } catch { /* the thread exited meanwhile */ }
    }
  } catch {
    return null;
  }
  return clocks.size > 0 ? clocks : null;
}

/**
 * CPU seconds `pid` used since `before`, every thread (a thread that exited in
 * between is missed, one that started is counted from its start).
 */
export function cpuSecondsSince(pid: number, before: CpuSnapshot): number {
  const now = before.clocks === null ? null : threadClocks(pid);
  if (before.clocks === null || now === null) return (ticks(pid) - before.ticks) / TICKS_PER_SECOND;
  let nanos = 0;
  for (const [tid, clock] of now) nanos += clock - (before.clocks.get(tid) ?? 0);
  return nanos / 1e9;
}

/**
 * Waits for a child whose output is not wanted (an unmeasured warm-up load)
 * to exit, its output read and dropped so that a full pipe cannot stall it.
 */
export async function runOut(child: ChildProcess): Promise<void> {
  child.stdout?.resume();
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

/** `command` run on `core` only (taskset execs it: the pid is the command's). */
export function pin(core: number, command: string[]): [string, ...string[]] {
  return (taskset ? ['taskset', '-c', String(core), ...command] : command) as [string, ...string[]];
}

/** Lines a child prints on its standard output, one at a time. */
export function outputLines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
}

/** The next line; throws if the child exited first. */
export async function nextLine(lines: AsyncIterator<string>, what: string): Promise<string> {
  const next = await lines.next();
  if (next.done === true) throw new Error(`${what} exited early`);
  return next.value;
}

/** The median of the finite values; NaN if there are none. */
export function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * Where a part writes its JSON: the file after `--json` (the suite passes one
 * per part), else `bench/results/<own>.json` unless `--no-save` is given, or
 * nowhere for a part without a file of its own (`own` null).
 */
export function resultsPath(argv: readonly string[], own: string | null): string | null {
  const at = argv.indexOf('--json');
  if (at >= 0) {
    const file = argv[at + 1];
    if (file === undefined || file.startsWith('--')) throw new Error('--json needs a file name');
    return path.resolve(file);
  }
  return own === null || argv.includes('--no-save') ? null : path.join(root, 'bench/results', `${own}.json`);
}

/** Writes `data` as indented JSON to `file` (if any), making its folder. */
export function saveResults(file: string | null, data: unknown): void {
  if (file === null) return;
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}

const children = new Set<ChildProcess>();
let guarded = false;

/**
 * Ends `child` with this process, however it ends (an interrupt, a closed
 * output pipe, a throw): a server left running would hold its port and a
 * core, and skew the next run. It gets SIGTERM, so that a part run by the
 * suite ends its own children in turn.
 */
export function track<T extends ChildProcess>(child: T): T {
  if (!guarded) {
    guarded = true;
    process.on('exit', () => { for (const each of children) each.kill('SIGTERM'); });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, () => { process.exit(1); });
    process.stdout.on('error', () => { process.exit(1); }); // EPIPE: the reader left
  }
  children.add(child);
  child.once('exit', () => { children.delete(child); });
  return child;
}
