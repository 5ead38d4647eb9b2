// Client-side streaming: one TCP connection over loopback, a fixed peer
// process on one core, the client under test on the other. Download: the peer
// writes a pattern as fast as the client takes it and the client checks every
// byte. Upload: the client writes 64 KiB chunks (or batches of four) and the
// peer discards them. Clients: raw node:net (the reference), a Channel read
// with recv(), a Channel with a reused 256 KiB read buffer (readBufferSize,
// Node's onread) and recvInto(), and Python's asyncio streams when present.
// Clients are interleaved round by round; ratios are to raw node:net from the
// same round; client CPU seconds per GB is read from /proc.
//
//   node build/bench/client-stream.js [--rounds 3] [--json FILE]
//   node build/bench/client-stream.js --client <name> --port <p> --direction <d> --seconds <s>
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AF_INET, Channel } from 'asyncore';
import { median, resultsPath, saveResults, track } from './proc.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] ?? fallback : fallback;
};
const HOST = '127.0.0.1';
const CHUNK = 64 * 1024;
const BIG = 256 * 1024;
// Byte k of the stream is k % 251: a prime period, so a lost or repeated chunk shows.
const PATTERN = Buffer.from(Array.from({ length: 4 << 20 }, (_, i) => i % 251));

interface ClientResult { bytes: number; seconds: number; errors: number }

/** Checks `data` against the pattern at stream offset `at`; a memcmp per chunk. */
function matches(data: Buffer, at: number): boolean {
  const offset = at % 251;
  for (let i = 0; i < data.length; i += PATTERN.length - 251) {
    const part = data.subarray(i, i + PATTERN.length - 251);
    const from = (offset + i) % 251;
    if (!part.equals(PATTERN.subarray(from, from + part.length))) return false;
  }
  return true;
}

// ---- the fixed peer ---------------------------------------------------------

function peer(): void {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (first: Buffer) => {
      if (first[0] === 0x44 /* D */) {
        let sent = 0;
        const pump = (): void => {
          for (;;) {
            const offset = sent % 251;
            sent += 1 << 20;
            if (!socket.write(PATTERN.subarray(offset, offset + (1 << 20)))) return;
          }
        };
        socket.on('drain', pump);
        pump();
      }
      socket.on('data', () => undefined); // upload: discard
      socket.on('end', () => socket.end());
    });
  });
  server.listen({ host: HOST, port: 0 }, () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
  });
}

// ---- clients ----------------------------------------------------------------

type Direction = 'download' | 'upload';

function rawClient(port: number, direction: Direction, seconds: number): Promise<ClientResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port, noDelay: true });
    let bytes = 0;
    let errors = 0;
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const finish = (): void => {
      socket.destroy();
      resolve({ bytes, seconds: (performance.now() - started) / 1000, errors });
    };
    socket.on('error', () => { errors++; });
    if (direction === 'download') {
      socket.write('D');
      socket.on('data', (data: Buffer) => {
        if (!matches(data, bytes)) errors++;
        bytes += data.length;
        if (performance.now() >= deadline) finish();
      });
    } else {
      socket.write('U');
      const pump = (): void => {
        for (;;) {
          if (performance.now() >= deadline) { finish(); return; }
          const offset = bytes % 251;
          bytes += CHUNK;
          if (!socket.write(PATTERN.subarray(offset, offset + CHUNK))) return;
        }
      };
      socket.on('drain', pump);
      pump();
    }
  });
}

async function channelClient(port: number, direction: Direction, seconds: number, reuse: boolean): Promise<ClientResult> {
  const channel = new Channel(null, null, reuse ? { readBufferSize: BIG } : {});
  channel.createSocket(AF_INET);
  channel.connect([HOST, port]);
  await channel.opened;
  let bytes = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  if (direction === 'download') {
    channel.send('D');
    const scratch = Buffer.allocUnsafe(BIG);
    for await (const ev of channel) {
      if (ev.type !== 'read') continue;
      if (reuse) {
        const n = channel.recvInto(scratch);
        if (n === null || n === 0) continue;
        if (!matches(scratch.subarray(0, n), bytes)) errors++;
        bytes += n;
      } else {
        const data = channel.recv(BIG);
        if (data === null || data.length === 0) continue;
        if (!matches(data, bytes)) errors++;
        bytes += data.length;
      }
      if (performance.now() >= deadline) break;
    }
  } else {
    channel.send('U');
    // A batch is four 64 KiB chunks offered in one send(): one system call where room allows.
    const size = reuse ? 4 * CHUNK : CHUNK;
    channel.writeInterest = true;
    for await (const ev of channel) {
      if (ev.type !== 'write') continue;
      for (;;) {
        const offset = bytes % 251;
        const sent = channel.send(PATTERN.subarray(offset, offset + size));
        bytes += sent;
        if (sent < size) break;
      }
      if (performance.now() >= deadline) break;
    }
  }
  const elapsed = (performance.now() - started) / 1000;
  channel.abort();
  return { bytes, seconds: elapsed, errors };
}

// ---- the orchestrator ---------------------------------------------------------

interface Client { name: string; command: (port: number, direction: Direction, seconds: number) => string[]; directions: Direction[] }

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const python = spawnSync('python3', ['-c', 'import asyncio'], { stdio: 'ignore' }).status === 0;
const self = fileURLToPath(import.meta.url);
const nodeClient = (name: string) => (port: number, direction: Direction, seconds: number): string[] =>
  ['node', self, '--client', name, '--port', String(port), '--direction', direction, '--seconds', String(seconds)];
const clients: Client[] = [
  { name: 'raw node:net', command: nodeClient('raw'), directions: ['download', 'upload'] },
  { name: 'Channel recv()/send(64 KiB)', command: nodeClient('channel'), directions: ['download', 'upload'] },
  { name: 'Channel 256 KiB reused buffer, recvInto() / send(256 KiB)', command: nodeClient('channel-reuse'), directions: ['download', 'upload'] },
];
if (python) {
  clients.push({
    name: 'Python asyncio streams (256 KiB reads)',
    command: (port, direction, seconds) => ['python3', path.join(root, 'bench/clients/asyncio_stream.py'), String(port), direction, String(seconds)],
    directions: ['download', 'upload'],
  });
}

function pinned(core: number, command: string[]): string[] {
  return hasTaskset ? ['taskset', '-c', String(core), ...command] : command;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function runClient(client: Client, port: number, direction: Direction, seconds: number): Promise<{ mbps: number; cpuPerGB: number; errors: number }> {
  const [cmd, ...rest] = pinned(1, client.command(port, direction, seconds)) as [string, ...string[]];
  const child = track(spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'] }));
  const pid = child.pid as number;
  const lines = createInterface({ input: child.stdout });
  const exited = once(child, 'exit');
  let cpu = 0;
  let result: ClientResult | null = null;
  for await (const line of lines) {
    if (line === 'started') cpu = cpuSeconds(pid);
    else {
      result = JSON.parse(line) as ClientResult;
      cpu = cpuSeconds(pid) - cpu;
    }
  }
  await exited;
  if (result === null) throw new Error(`${client.name} reported nothing`);
  return { mbps: result.bytes / 1e6 / result.seconds, cpuPerGB: cpu / (result.bytes / 1e9), errors: result.errors };
}


async function orchestrate(): Promise<void> {
  const rounds = Number(option('rounds', '3')) || 3;
  const seconds = Number(process.env.BENCH_SECONDS ?? '1.5');
  const [cmd, ...rest] = pinned(0, ['node', self, '--peer']) as [string, ...string[]];
  const server = track(spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'inherit'] }));
  const first = createInterface({ input: server.stdout });
  const [line] = (await once(first, 'line')) as [string];
  first.close();
  const { port } = JSON.parse(line) as { port: number };
  const samples = new Map<string, { mbps: number; cpuPerGB: number; ratio: number; cpuRatio: number; errors: number }[]>();
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const direction of ['download', 'upload'] as const) {
        const order = clients.map((_, i) => clients[(i + round - 1) % clients.length] as Client);
        const results = new Map<string, { mbps: number; cpuPerGB: number; errors: number }>();
        for (const client of order) {
          if (!client.directions.includes(direction)) continue;
          process.stderr.write(`round ${round}/${rounds} ${direction} ${client.name} ... `);
          const r = await runClient(client, port, direction, seconds);
          process.stderr.write(`${r.mbps.toFixed(0)} MB/s\n`);
          results.set(client.name, r);
        }
        const raw = results.get('raw node:net') as { mbps: number; cpuPerGB: number };
        for (const [name, r] of results) {
          const key = `${direction}|${name}`;
          const list = samples.get(key) ?? [];
          list.push({ ...r, ratio: r.mbps / raw.mbps, cpuRatio: raw.cpuPerGB / r.cpuPerGB });
          samples.set(key, list);
        }
      }
    }
  } finally {
    server.kill('SIGKILL');
  }
  const rows = [...samples].map(([key, list]) => {
    const [direction, client] = key.split('|') as [string, string];
    const mbps = list.map((s) => s.mbps);
    return {
      direction, client,
      megabytesPerSecond: median(mbps), min: Math.min(...mbps), max: Math.max(...mbps),
      ratio: median(list.map((s) => s.ratio)),
      cpuSecondsPerGB: median(list.map((s) => s.cpuPerGB)),
      cpuRatio: median(list.map((s) => s.cpuRatio)),
      errors: list.reduce((n, s) => n + s.errors, 0),
    };
  });
  const table = ['| direction | client | MB/s median (min–max) | ratio to raw | client CPU s per GB | CPU ratio | errors |', '|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    table.push(`| ${r.direction} | ${r.client} | ${r.megabytesPerSecond.toFixed(0)} (${r.min.toFixed(0)}–${r.max.toFixed(0)}) | ${r.ratio.toFixed(2)} | ${r.cpuSecondsPerGB.toFixed(2)} | ${r.cpuRatio.toFixed(2)} | ${r.errors} |`);
  }
  console.log(table.join('\n'));
  console.log(`\n${rounds} rounds of ${seconds} s, taskset ${hasTaskset ? 'on' : 'off'}, ${process.version}`);
  const environment = { date: new Date().toISOString(), node: process.version, cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`, taskset: hasTaskset, rounds, secondsPerRun: seconds };
  saveResults(resultsPath(args, null), { environment, rows });
}

if (args.includes('--peer')) {
  peer();
} else if (args.includes('--client')) {
  const name = option('client', 'raw');
  const port = Number(option('port', '0'));
  const direction = option('direction', 'download') as Direction;
  const seconds = Number(option('seconds', '1.5'));
  process.stdout.write('started\n');
  const result = name === 'raw'
    ? await rawClient(port, direction, seconds)
    : await channelClient(port, direction, seconds, name === 'channel-reuse');
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
} else {
  await orchestrate();
}
