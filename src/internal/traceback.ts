// A one-line summary of an error, like Python's asyncore.compact_traceback:
// the error, then the innermost frames as [function file:line].
const FRAME = /^\s*at (?:(.+?) \()?(.+?):(\d+):\d+\)?$/;
const MAX_FRAMES = 4;

export function compactTraceback(error: unknown): string {
  if (!(error instanceof Error)) return `${typeof error}: ${String(error)}`;
  const frames: string[] = [];
  for (const line of (error.stack ?? '').split('\n').slice(1)) {
    const match = FRAME.exec(line);
    if (match === null) continue;
    const file = (match[2] ?? '').replace(/^file:\/\//, '').split('/').pop() ?? '';
    frames.push(`[${match[1] ?? '<anonymous>'} ${file}:${match[3] ?? '?'}]`);
    if (frames.length === MAX_FRAMES) break;
  }
  const code = (error as NodeJS.ErrnoException).code;
  const head = `${error.name}${code === undefined ? '' : ` ${code}`}: ${error.message}`;
  return frames.length === 0 ? head : `${head} ${frames.join(' ')}`;
}
