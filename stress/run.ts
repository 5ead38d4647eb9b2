// The long reliability runs, in sequence, each bounded in time, the whole run
// too: backpressure at volume (stress/backpressure.ts: 256 MiB per direction
// per style, at two high-water marks) and the soak (stress/soak.ts: 10,000
// connect-exchange-close cycles). Each part runs in child processes started
// with --expose-gc; the figures are printed as markdown tables and written to
// stress/results/latest.json. Exits non-zero if any bound was exceeded.
//
//   npm run stress
//   node build/stress/run.js [--bytes 268435456] [--cycles 10000] [--budget 240]
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { STYLE_NAMES, runBackpressure } from './backpressure.js';
import type { CaseFigures } from './backpressure.js';
import { SOAK_CYCLES, runSoak } from './soak.js';
import type { SoakFigures } from './soak.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? Number(args[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
};
const MiB = 1024 * 1024;
const bytes = option('bytes', 256 * MiB);
const cycles = option('cycles', SOAK_CYCLES);
/** Seconds for the whole run; parts not started in time are reported as failures. */
const budget = option('budget', 240);
const started = Date.now();
const deadline = started + budget * 1000;

const mib = (n: number): string => (n / MiB).toFixed(2);
const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;

function backpressureTable(rows: readonly CaseFigures[]): string {
  const lines = [
    '| direction | style | marks | MiB | s | MB/s | peak queued | held back | peak heap | peak buffers | peak live | live bound | peak RSS (maxRSS) | RSS bound | result |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.direction} | ${STYLE_NAMES[r.style]} | ${kib(r.hwm)} | ${(r.bytes / MiB).toFixed(0)} | ${r.seconds.toFixed(2)} | `
      + `${r.mbPerSecond.toFixed(0)} | ${kib(r.peakQueued)} | ${r.heldBack} | ${mib(r.peakHeap)} | ${mib(r.peakBuffers)} | `
      + `${mib(r.peakLive)} | ${mib(r.boundLive)} | ${mib(r.peakRss)} (${mib(r.maxRssGrowth)}) | ${mib(r.boundRss)} | `
      + `${r.pass ? 'pass' : `FAIL: ${r.failures.join('; ')}`} |`);
  }
  return lines.join('\n');
}

function soakTable(s: SoakFigures): string {
  return [
    '| cycles | s | cycles/s | heap after gc, start | end | growth | bytes/cycle | growth at each 1,000 (KiB) | bound | descriptors before/after | RSS growth | result |',
    '|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---|',
    `| ${s.cycles} | ${s.seconds.toFixed(2)} | ${s.cyclesPerSecond.toFixed(0)} | ${mib(s.heapStart)} MiB | ${mib(s.heapEnd)} MiB | `
    + `${(s.heapGrowth / 1024).toFixed(0)} KiB | ${s.bytesPerCycle.toFixed(1)} | ${s.checkpoints.map((c) => (c / 1024).toFixed(0)).join(', ')} | `
    + `${mib(s.bound)} MiB | ${s.fdsBefore}/${s.fdsAfter} | ${mib(s.rssGrowth)} MiB | ${s.pass ? 'pass' : `FAIL: ${s.failures.join('; ')}`} |`,
  ].join('\n');
}

process.stderr.write(`stress: ${(bytes / MiB).toFixed(0)} MiB per case, ${cycles} soak cycles, at most ${budget} s\n`);

const backpressure = await runBackpressure({
  bytes,
  hwms: [64 * 1024, MiB],
  caseTimeoutMs: 60_000,
  deadline: deadline - 30_000, // leave the soak its time
  onCase: (r) => {
    process.stderr.write(`  backpressure ${r.direction} ${r.style} ${kib(r.hwm)}: ${r.pass ? 'pass' : 'FAIL'} `
      + `(${r.seconds.toFixed(1)} s, live +${mib(r.peakLive)} MiB, RSS +${mib(r.maxRssGrowth)} MiB)\n`);
  },
});

let soak: SoakFigures | null = null;
let soakError: string | null = null;
const left = deadline - Date.now();
if (left < 5000) {
  soakError = 'skipped: out of time';
} else {
  try {
    soak = await runSoak({ cycles, timeoutMs: Math.min(120_000, left) });
    process.stderr.write(`  soak: ${soak.pass ? 'pass' : 'FAIL'} (${soak.seconds.toFixed(1)} s, heap +${(soak.heapGrowth / 1024).toFixed(0)} KiB)\n`);
  } catch (error) {
    soakError = error instanceof Error ? error.message : String(error);
  }
}

const seconds = (Date.now() - started) / 1000;
const pass = backpressure.every((r) => r.pass) && soak?.pass === true;
const command = `npm run stress (node build/stress/run.js --bytes ${bytes} --cycles ${cycles} --budget ${budget})`;
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;

console.log(`# Stress run, ${new Date(started).toISOString()}\n`);
console.log(`${command}; ${machine}; ${seconds.toFixed(0)} s in all.\n`);
console.log('## Backpressure: a fast producer and a slow consumer in another process\n');
console.log('Sizes of the library process, as growth over a baseline taken once connected: peak heap and peak buffers');
console.log('(heapUsed, arrayBuffers) after a full gc every 8 MiB; live = their sum; RSS sampled with them, and the kernel\'s');
console.log('peak (maxRSS) in brackets. Peak queued: pendingWrite (send), bufferedAmount (receive), pendingOutput + pendingWrite');
console.log('(DispatcherWithSend, send). Held back: partial sends, waits or reads that found the buffer at its mark.');
console.log('The consumer stops for 4 ms every 512 KiB, so MB/s is the slow consumer\'s pace.\n');
console.log(backpressureTable(backpressure));
console.log('\n## Soak: connect-exchange-close cycles (Channel for await, Dispatcher, helpers in turn)\n');
console.log(soak === null ? `FAIL: ${soakError ?? 'no figures'}` : soakTable(soak));
console.log(`\n${pass ? 'Every bound held.' : 'SOME BOUNDS FAILED.'}`);

const resultsDir = path.join(root, 'stress', 'results');
mkdirSync(resultsDir, { recursive: true });
writeFileSync(path.join(resultsDir, 'latest.json'), `${JSON.stringify({
  date: new Date(started).toISOString(), command, machine, seconds, pass,
  backpressure, soak, soakError,
}, null, 2)}\n`);
process.stderr.write(`stress: figures written to stress/results/latest.json\n`);
if (!pass) process.exitCode = 1;
