// What the benchmarks that run servers as child processes share: a process's
// CPU time from /proc, pinning to a core with taskset, a child's output read
// line by line, and medians.
import { spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Clock ticks per second of /proc's CPU times (USER_HZ). */
export const TICKS_PER_SECOND = 100;

/** Whether taskset works here; without it nothing is pinned. */
export const taskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** CPU ticks (user + system, every thread) a process has used so far. */
export function ticks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
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
