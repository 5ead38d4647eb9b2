// A server example as a child process: started from its transpiled copy
// (see from-source.ts), read up to its one `listening HOST:PORT` line, and
// stopped with a signal at the end, its exit checked. Every example server
// follows that contract (`--port`, `--host`, one listening line, exit 0 on
// SIGTERM or SIGINT); this is where the tests hold them to it.
import { spawn } from 'node:child_process';
import type { Test } from 'tap';
import { deadline } from './deadline.js';
import { transpiledExample } from './from-source.js';

/** A running example server. */
export interface ExampleServer {
  /** The host and port of its listening line. */
  readonly host: string;
  readonly port: number;
  /** The listening line itself, without its newline. */
  readonly line: string;
  /** Everything it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves once what it printed on `stream` matches `pattern`, bounded in time. */
  printed(stream: 'stdout' | 'stderr', pattern: RegExp, what: string): Promise<void>;
  /** Sends `signal` (default SIGTERM) and resolves with its exit, bounded in time. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts `examples/<name>.ts` with `args` (plus `--port 0` unless `args`
 * names a port) and resolves once it printed its listening line. Killed at
 * teardown if still running.
 * @param t - the test that owns the process
 * @param name - the example's file name without extension
 * @param args - its arguments
 */
export async function startExample(t: Test, name: string, args: readonly string[] = []): Promise<ExampleServer> {
  const file = transpiledExample(t, name);
  const argv = args.includes('--port') ? [...args] : [...args, '--port', '0'];
  const child = spawn(process.execPath, [file, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    for (const watch of watchers) watch();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }); });
  });
  const line = await deadline(new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      for (const watch of watchers) watch();
      const end = stdout.indexOf('\n');
      if (end !== -1) resolve(stdout.slice(0, end));
    });
    void exited.then(({ code, signal }) => {
      reject(new Error(`examples/${name}.ts exited (${code ?? signal}) before listening:\n${stdout}${stderr}`));
    });
  }), `examples/${name}.ts to listen`, 20_000);
  const match = /^listening (\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(line);
  if (match === null) throw new Error(`examples/${name}.ts printed ${JSON.stringify(line)}, not "listening HOST:PORT"`);
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '');
  return {
    host,
    port: Number(match[2]),
    line,
    stdout: () => stdout,
    stderr: () => stderr,
    printed: (stream, pattern, what) => deadline(new Promise<void>((resolve) => {
      const watch = (): void => {
        if (!pattern.test(stream === 'stdout' ? stdout : stderr)) return;
        watchers.delete(watch);
        resolve();
      };
      watchers.add(watch);
      watch();
    }), what),
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return deadline(exited, `examples/${name}.ts to exit on ${signal}`, 20_000);
    },
  };
}
