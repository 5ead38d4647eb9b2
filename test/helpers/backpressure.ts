// Backpressure, measured (items 2 and 5 of the reliability issue). A fast
// producer against a consumer that reads slowly, in each direction and each
// style, with the far end in another process (a plain node:net peer), so the
// memory measured is the library side's alone. The cases are the stress
// suite's (stress/backpressure.ts), each run here in a fresh child process
// from source, at 32 MiB instead of 256 and with a tighter RSS allowance:
//
// - send: the child produces (connects and sends as fast as the library lets
//   it), the peer reads slowly (it stops reading for 4 ms every 128 KiB);
// - receive: the peer produces as fast as its socket takes bytes, the child
//   accepts and reads slowly (it stops for 4 ms every 256 KiB).
//
// Styles: a Channel in for-await style with recv()/send(); Dispatcher and
// DispatcherWithSend under an awaited loop(); the promise helpers write(),
// chunks() and connections(). Each case checks the high-water marks directly
// (pendingWrite, bufferedAmount, pendingOutput), that the consumer was slower
// (backpressure really applied), that every byte arrived in order, and that
// the child's memory stayed under a bound stated in terms of the marks: live
// memory (heapUsed + arrayBuffers, after a full gc) and RSS, sampled every
// 4 MiB of progress, and the kernel's peak RSS:
//   live <= 2 x (what the marks let the style hold) + 2 MiB
//   RSS  <= 2 x (what the marks let the style hold) + 16 MiB
// Two control cases show that the meter sees unbounded buffering. (RSS barely
// moves in these children: V8's young generation and malloc's arenas reached
// their working size while the loader compiled the sources.)
// The cases of one direction are registered by backpressureCases(), one test
// file per direction (backpressure-send, backpressure-receive), so that tap
// runs the two directions side by side.
import type { Test } from 'tap';
import { STYLES, STYLE_NAMES, runChild } from '../../stress/backpressure.js';
import type { CaseFigures, Direction, Style, Tuning } from '../../stress/backpressure.js';
import { transpiledStress } from './from-source.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bytes per case; the stress run (npm run stress) moves 256 MiB. */
const TOTAL = 32 * MiB;
/** The library's defaults (docs/guide.md, Bounds and defaults). */
const HWM = 64 * KiB;
/**
 * The readers stop for 4 ms after every 256 KiB (this side) or 128 KiB (the
 * peer): at most 64 and 32 MB/s, slower than either producer. Memory is
 * sampled every 4 MiB. The RSS allowance covers V8's young generation growing
 * under allocation pressure and malloc arenas, which churned 64 KiB buffers
 * leave at their peak size.
 */
const TUNING: Tuning = { stallEvery: 256 * KiB, sinkStallEvery: 128 * KiB, sampleEvery: 4 * MiB, rssAllowance: 16 * MiB };
/** No case may take longer than this. */
export const CASE_DEADLINE_MS = 30_000;
const mib = (bytes: number): string => (bytes / MiB).toFixed(2);

/**
 * Registers the bounded cases of `direction` in every style, and its control.
 * @param root - the file's tap root
 */
export function backpressureCases(root: Test, direction: Direction): void {
  /**
   * The file moves 5 x 32 MiB through slow consumers in child processes:
   * about 30 s with the cores to itself, twice that with both busy. tap's
   * default of 60 s per file would make the file's outcome depend on the
   * machine's load; this bound still stops a hang (each case is also killed
   * after CASE_DEADLINE_MS).
   */
  root.setTimeout(180_000);
  /** The cases run from source, transpiled once for all (the TypeScript loader would cost each child seconds). */
  const script = transpiledStress(root, 'backpressure');
  const run = (style: Style, tuning = TUNING): Promise<CaseFigures> =>
    runChild(direction, style, TOTAL, HWM, CASE_DEADLINE_MS, { tuning, script });

  for (const style of STYLES) {
    root.test(`backpressure, ${direction}: ${STYLE_NAMES[style]}: a fast producer and a slow consumer in another process stay bounded`, async (t) => {
      const figures = await run(style);
      t.same(figures.failures, [], 'every check of the case held (bytes, marks, memory)');
      t.equal(figures.bytes, TOTAL, 'every byte arrived, in order');
      t.ok(figures.heldBack > 0, `the consumer held the producer back (${figures.heldBack} times): backpressure applied`);
      t.ok(figures.samples >= TOTAL / TUNING.sampleEvery / 2, `memory sampled ${figures.samples} times over the transfer`);
      t.ok(figures.peakLive <= figures.boundLive,
        `live memory grew at most ${mib(figures.peakLive)} MiB (heap ${mib(figures.peakHeap)}, buffers ${mib(figures.peakBuffers)}), bound ${mib(figures.boundLive)} MiB: ${figures.formula}`);
      t.ok(figures.peakRss <= figures.boundRss && figures.maxRssGrowth <= figures.boundRss,
        `RSS grew at most ${mib(figures.peakRss)} MiB (peak ${mib(figures.maxRssGrowth)}), bound ${mib(figures.boundRss)} MiB`);
      t.comment(`${direction} ${STYLE_NAMES[style]}: ${(figures.bytes / MiB).toFixed(0)} MiB in ${figures.seconds.toFixed(2)} s, `
        + `${figures.mbPerSecond.toFixed(0)} MB/s, peak queued ${figures.peakQueued} B`);
    });
  }

  // ---- controls: the meter sees unbounded buffering -------------------------

  if (direction === 'send') {
    root.test('backpressure control, send: the meter sees a producer that ignores backpressure (DispatcherWithSend.send() of everything at once)', async (t) => {
      const figures = await run('dump');
      t.equal(figures.bytes, TOTAL, 'the sink received every byte, in order');
      t.ok(figures.peakLive > figures.boundLive, `live memory grew ${mib(figures.peakLive)} MiB, over the bound of ${mib(figures.boundLive)} MiB`);
      t.ok(figures.failures.some((failure) => failure.startsWith('live memory grew')), 'the case fails on memory');
      t.notOk(figures.failures.some((failure) => /byte|received|sent/.test(failure)), `no byte was lost: ${figures.failures.join('; ')}`);
    });
  } else {
    root.test('backpressure control, receive: the meter sees a reader whose readHighWaterMark is above the transfer', async (t) => {
      const figures = await run('channel', { ...TUNING, readMark: 2 * TOTAL });
      t.equal(figures.bytes, TOTAL, 'every byte arrived, in order');
      t.ok(figures.peakQueued > figures.boundLive, `bufferedAmount reached ${figures.peakQueued}`);
      t.ok(figures.peakLive > figures.boundLive, `live memory grew ${mib(figures.peakLive)} MiB, over the bound of ${mib(figures.boundLive)} MiB`);
      t.ok(figures.failures.some((failure) => failure.startsWith('live memory grew')), 'the case fails on memory');
    });
  }
}
