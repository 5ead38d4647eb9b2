// TLS echo: our TLS listener (for await, chunks() in, write() out) against a
// raw node:tls echo server, under the same load, servers interleaved round by
// round. Figures are per server CPU-second (every thread, user + system, from
// the per-thread clocks in /proc/PID/task/*/schedstat), and
// each round's ratio is ours / raw; the median over the rounds is reported.
//
//   npm run bench                      (the whole suite, this one part of it)
//   node build/bench/tls.js            3 rounds, about 1 to 2 minutes
//   node build/bench/tls.js --rounds 5 --no-save
//   node build/bench/tls.js --workload stream-8   (one workload only)
//   node build/bench/tls.js --curve 300            (CPU per pass as each server warms up)
//   node build/bench/tls.js --experiments          (adds raw-bounded and floor, below)
// BENCH_TLS_REPEAT sets the measured passes per run (default 30), and
// BENCH_TLS_WARMUP the unmeasured passes before them (default 20): a server's
// CPU per pass falls for its first 100 or so passes while V8 compiles the code
// that runs once per connection (ours more than raw's), so one warm-up pass
// measured the compiler as much as the server, and a short measured window
// hit or missed V8's recompilations by chance (docs/performance.md, "TLS").
//
// Workloads: rr-100 (100 ping-pongs of 64 bytes per connection, many
// connections at once) and stream-8 (8 writes of 64 KiB per connection, echoed
// back); stream-64 (64 writes of 64 KiB on each of 4 connections) only when
// named. Every connection starts with its own full handshake, on every server.
// Results go to bench/results/tls.json.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { listen } from 'asyncore';
import type { Channel } from 'asyncore';
import { cpuSecondsSince, cpuSnapshot, median, resultsPath, saveResults, track } from './proc.js';

const HOST = '127.0.0.1';
const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

// ---- experiments (`--experiments`): what a bound costs raw node:tls ---------------
// Ours never holds more than 64 KiB of unsent bytes per connection; the raw
// server above holds whatever the peer sends. These two keep ours's bound, so
// that the gap between raw and ours splits into the bound's cost and the
// library's: `raw-bounded` stops reading while 64 KiB wait to be sent, and
// `floor` adds the least a `for await` server does, one promise per wake.
// Both write a chunk whole and then check, so they may hold one chunk (a TLS
// record, 16 KiB) past the bound, which ours never does.
const BOUND = 64 * 1024;

function boundedEcho(sock: tls.TLSSocket): void {
  sock.on('data', (data: Buffer) => {
    sock.write(data);
    if (sock.writableLength >= BOUND) sock.pause();
  });
  sock.on('drain', () => sock.resume());
}

async function floorEcho(sock: tls.TLSSocket): Promise<void> {
  const chunks: Buffer[] = [];
  // A field, not a local: the listeners set it while the loop awaits.
  const peer = { ended: false };
  let arrived: (() => void) | null = null;
  let drained: (() => void) | null = null;
  const take = (waiter: (() => void) | null): null => {
    waiter?.();
    return null;
  };
  sock.on('data', (data: Buffer) => {
    chunks.push(data);
    arrived = take(arrived);
  });
  sock.on('close', () => {
    peer.ended = true;
    arrived = take(arrived);
    drained = take(drained);
  });
  // Node's 'drain' comes once every byte is flushed (the write that passed its mark returned false).
  sock.on('drain', () => { drained = take(drained); });
  for (;;) {
    const chunk = chunks.shift();
    if (chunk === undefined) {
      if (peer.ended) return;
      await new Promise<void>((resolve) => { arrived = resolve; });
      continue;
    }
    sock.write(chunk);
    if (sock.writableLength >= BOUND && !peer.ended) {
      sock.pause();
      await new Promise<void>((resolve) => { drained = resolve; });
      sock.resume();
    }
  }
}

// ---- the servers (run as children: `tls.js --serve raw|ours|raw-bounded|floor --dir DIR`)

async function serve(kind: string, dir: string): Promise<void> {
  const key = readFileSync(path.join(dir, 'key.pem'));
  const cert = readFileSync(path.join(dir, 'cert.pem'));
  process.once('SIGTERM', () => process.exit(0));
  const echoes: Record<string, ((sock: tls.TLSSocket) => void) | undefined> = {
    raw: (sock) => sock.on('data', (data: Buffer) => sock.write(data)),
    'raw-bounded': boundedEcho,
    floor: (sock) => { void floorEcho(sock); },
  };
  const rawEcho = echoes[kind];
  if (rawEcho !== undefined) {
    const server = tls.createServer({ key, cert }, (sock) => {
      sock.on('error', () => sock.destroy());
      rawEcho(sock);
    });
    server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
      process.stdout.write(`${String((server.address() as { port: number }).port)}\n`);
    });
    return;
  }
  const server = await listen([HOST, 0], { backlog: 4096, tls: { key, cert, maxHandshakes: 1024 } });
  process.stdout.write(`${String(server.port)}\n`);
  const echo = async (conn: Channel): Promise<void> => {
    try {
      for await (const chunk of conn.chunks()) await conn.write(chunk);
    } catch { /* a peer that resets ends its own connection only */ }
    conn.close();
  };
  for await (const conn of server.connections()) void echo(conn);
}

// ---- the load ---------------------------------------------------------------------

interface Workload { name: string; connections: number; messages: number; size: number; unit: string; named?: true }
const WORKLOADS: Workload[] = [
  { name: 'rr-100', connections: 64, messages: 100, size: 64, unit: 'requests' },
  { name: 'stream-8', connections: 16, messages: 8, size: 64 * 1024, unit: 'MiB' },
  // Run only when named (--workload stream-64): long streams on few
  // connections, where handshakes no longer hide what streaming costs.
  { name: 'stream-64', connections: 4, messages: 64, size: 64 * 1024, unit: 'MiB', named: true },
];

/** One connection: `messages` writes, each waiting for its echo (rr) or all at once (stream). */
async function client(port: number, ca: Buffer, w: Workload): Promise<void> {
  const sock = tls.connect({ host: HOST, port, ca, servername: 'localhost' });
  await once(sock, 'secureConnect');
  const payload = Buffer.alloc(w.size, 'x');
  let received = 0;
  let waiting: (() => void) | null = null;
  sock.on('data', (chunk: Buffer) => {
    received += chunk.length;
    waiting?.();
  });
  const until = (bytes: number): Promise<void> => new Promise((resolve) => {
    waiting = () => { if (received >= bytes) resolve(); };
    waiting();
  });
  if (w.unit === 'requests') {
    for (let i = 1; i <= w.messages; i++) {
      sock.write(payload);
      await until(i * w.size);
    }
  } else {
    for (let i = 0; i < w.messages; i++) sock.write(payload);
    await until(w.messages * w.size);
  }
  sock.end();
  sock.destroy();
}

async function start(kind: string, dir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = track(spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', kind, '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const [line] = await once(child.stdout as NodeJS.ReadableStream, 'data') as [Buffer];
  return { child, port: Number(line.toString().trim()) };
}

/** One pass of a workload: every connection at once, each with its own handshake. */
async function pass(port: number, ca: Buffer, w: Workload): Promise<void> {
  await Promise.all(Array.from({ length: w.connections }, () => client(port, ca, w)));
}

/** Runs a workload `repeat` times against a fresh server; returns units per server CPU-second. */
async function measure(kind: string, dir: string, ca: Buffer, w: Workload, repeat: number, warmup: number): Promise<number> {
  const { child, port } = await start(kind, dir);
  try {
    const pid = child.pid ?? 0;
    // Unmeasured passes first: the steady state is measured, not the
    // compilation of each server's code on first use (more JS in ours).
    for (let r = 0; r < warmup; r++) await pass(port, ca, w);
    const before = cpuSnapshot(pid);
    for (let r = 0; r < repeat; r++) await pass(port, ca, w);
    const seconds = cpuSecondsSince(pid, before);
    const total = repeat * w.connections * w.messages * (w.unit === 'MiB' ? w.size / (1024 * 1024) : 1);
    return total / Math.max(seconds, 0.001);
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

/**
 * `--curve N`: each server alone, N passes, the server CPU per pass averaged
 * over each tenth of them: how long each takes to reach its steady state.
 */
async function curve(dir: string, ca: Buffer, w: Workload, passes: number): Promise<void> {
  const group = Math.max(1, Math.floor(passes / 10));
  for (const kind of ['raw', 'ours']) {
    const { child, port } = await start(kind, dir);
    try {
      const perPass: string[] = [];
      let before = cpuSnapshot(child.pid ?? 0);
      for (let p = 1; p <= passes; p++) {
        await pass(port, ca, w);
        if (p % group !== 0) continue;
        perPass.push((cpuSecondsSince(child.pid ?? 0, before) * 1000 / group).toFixed(1));
        before = cpuSnapshot(child.pid ?? 0);
      }
      console.log(`${w.name} ${kind}: server CPU ms per pass, by ${group} passes: ${perPass.join(' ')}`);
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  }
}

async function main(): Promise<void> {
  const rounds = Math.max(1, Number(option('--rounds') ?? 3) || 3);
  const repeat = Number(process.env.BENCH_TLS_REPEAT ?? '30');
  const warmup = Number(process.env.BENCH_TLS_WARMUP ?? '20');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tls-'));
  try {
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`Cannot make the certificate: openssl failed: ${made.stderr}`);
    const ca = readFileSync(path.join(dir, 'cert.pem'));
    const results: Record<string, unknown>[] = [];
    const only = option('--workload');
    const workloads = WORKLOADS.filter((each) => (only === undefined ? each.named !== true : each.name === only));
    if (workloads.length === 0) throw new RangeError(`--workload ${String(only)}: expected one of ${WORKLOADS.map((w) => w.name).join(', ')}`);
    const passes = option('--curve');
    if (passes !== undefined) {
      const count = Number(passes);
      if (!Number.isInteger(count) || count < 1) throw new RangeError(`--curve ${passes}: expected a positive integer`);
      for (const w of workloads) await curve(dir, ca, w, count);
      return;
    }
    const kinds = ['raw', 'ours', ...(args.includes('--experiments') ? ['raw-bounded', 'floor'] : [])];
    for (const w of workloads) {
      const perKind = new Map<string, number[]>(kinds.map((kind) => [kind, []]));
      const ratiosOf = new Map<string, number[]>(kinds.map((kind) => [kind, []]));
      for (let round = 1; round <= rounds; round++) {
        // Interleaved, the order alternating, so drift in the machine's state hits both.
        const order = round % 2 === 1 ? kinds : [...kinds].reverse();
        const got: Record<string, number> = {};
        for (const kind of order) got[kind] = await measure(kind, dir, ca, w, repeat, warmup);
        for (const kind of kinds) {
          perKind.get(kind)?.push(got[kind] ?? NaN);
          ratiosOf.get(kind)?.push((got[kind] ?? NaN) / (got.raw ?? NaN));
        }
        const line = kinds.map((kind) => `${kind} ${(got[kind] ?? 0).toFixed(0)}`).join(', ');
        process.stderr.write(`round ${round}/${rounds} ${w.name}: ${line} ${w.unit}/CPU-s\n`);
      }
      const ratios = ratiosOf.get('ours') ?? [];
      const result: Record<string, unknown> = {
        workload: w.name, unit: `${w.unit} per server CPU-second`,
        raw: median(perKind.get('raw') ?? []), ours: median(perKind.get('ours') ?? []), ratio: median(ratios), ratios,
      };
      console.log(`${w.name}: raw node:tls ${(result.raw as number).toFixed(1)}, asyncore ${(result.ours as number).toFixed(1)} ${w.unit}/CPU-s; ratio ${(result.ratio as number).toFixed(3)} (median of ${rounds})`);
      for (const kind of kinds.slice(2)) {
        const rate = median(perKind.get(kind) ?? []);
        const ratio = median(ratiosOf.get(kind) ?? []);
        result[kind] = { rate, ratio };
        console.log(`${w.name}: experiment ${kind} ${rate.toFixed(1)} ${w.unit}/CPU-s; ratio to raw ${ratio.toFixed(3)}`);
      }
      results.push(result);
    }
    saveResults(resultsPath(args, 'tls'), { date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, rounds, repeat, results });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (args.includes('--serve')) await serve(option('--serve') ?? 'raw', option('--dir') ?? '.');
else await main();
