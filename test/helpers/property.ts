// The fast-check settings every property test shares: a fixed seed (FC_SEED,
// default 42), a replay path (FC_PATH), a run scale (FC_RUNS), and a time
// budget per property that fails instead of hanging, shrinking included.
import fc from 'fast-check';
import type { Test } from 'tap';

export const SEED = Number(process.env.FC_SEED ?? 42);
export const PATH = process.env.FC_PATH;
const RUN_SCALE = Number(process.env.FC_RUNS ?? 1);

/** How many runs a property asked for `numRuns` makes under FC_RUNS. */
function scaled(numRuns: number): number {
  return Math.max(1, Math.round(numRuns * RUN_SCALE));
}

/** The parameters of a property of `numRuns` runs and a budget of `limitMs` (both scaled by FC_RUNS). */
export function propertyParams(numRuns: number, limitMs: number): fc.Parameters<unknown> {
  return {
    seed: SEED,
    numRuns: scaled(numRuns),
    ...(PATH !== undefined ? { path: PATH } : {}),
    plugins: [fc.interruptAfterTimeLimit(limitMs * Math.max(1, RUN_SCALE), { failOnInterrupt: true })],
  };
}

/** The property really ran its runs (a replay of FC_PATH runs fewer). */
export function checkRuns(t: Test, runs: number, numRuns: number, detail = ''): void {
  if (PATH === undefined) t.ok(runs >= scaled(numRuns), `the property ran ${runs} runs${detail} (seed ${SEED})`);
  else t.ok(runs > 0, `replayed path ${PATH} (seed ${SEED})`);
}
