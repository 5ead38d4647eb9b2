// Peers for the descriptor tests: child processes (killed in teardown) and
// named pipes whose two ends this process opens by number.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { tempDir } from './net.js';

/** Spawns `command`, kills it in teardown; `exited` resolves with its exit code. */
export function child(t: Test, command: string, args: readonly string[], stdio: StdioOptions):
{ proc: ChildProcess; exited: Promise<number | null> } {
  const proc = spawn(command, args, { stdio });
  t.teardown(() => { proc.kill('SIGKILL'); });
  const exited = new Promise<number | null>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (code) => { resolve(code); });
  });
  exited.catch(() => undefined);
  return { proc, exited };
}

/** `cat` with its stdin and stdout piped to us. */
export function cat(t: Test): { proc: ChildProcess; exited: Promise<number | null> } {
  return child(t, 'cat', [], ['pipe', 'pipe', 'inherit']);
}

/**
 * A named pipe in a temp dir, both ends opened here (non-blocking, so the
 * opens do not wait for each other). `give(fd)` marks an end as handed to a
 * channel, which then owns it; the others are closed in teardown.
 */
export function fifo(t: Test): { reader: number; writer: number; give(fd: number): number } {
  const file = path.join(tempDir(t), 'fifo');
  const made = spawnSync('mkfifo', [file]);
  if (made.status !== 0) throw new Error(`mkfifo failed: ${String(made.stderr)}`);
  const reader = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
  const ours = new Set([reader, writer]);
  t.teardown(() => { for (const fd of ours) closeSync(fd); });
  return { reader, writer, give(fd: number): number { ours.delete(fd); return fd; } };
}

/** A binary payload that no shift or truncation can reproduce. */
export function payload(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + (i >> 8) * 13) & 0xff;
  return out;
}
