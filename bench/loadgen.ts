// The load generator: raw node:net, as lean as it can be, checking every
// echoed byte. Run by bench/run.ts in its own process (pinned to the other
// core where taskset exists); prints one JSON line of results.
//
//   node build/bench/loadgen.js '{"mode":"rr","port":1234,"connections":100,"seconds":2}'
import net from 'node:net';
import { performance } from 'node:perf_hooks';

interface Job {
  mode: 'rr' | 'stream' | 'churn' | 'idle' | 'scaling';
  port: number;
  seconds: number;
  connections?: number;
  /** Idle connections held open beside the busy one (scaling), or alone (idle). */
  idle?: number;
  /** rr messages are lines: 1 (each ends in its only \n). */
  lines?: number;
}

interface Result {
  requests: number;
  bytes: number;
  seconds: number;
  latenciesUs?: { p50: number; p99: number };
  loadCpuSeconds: number;
  errors: number;
}

const HOST = '127.0.0.1';
const MESSAGE = 64;
const STREAM_CHUNK = 64 * 1024;
const job = JSON.parse(process.argv[2] ?? '{}') as Job;
let errors = 0;

/** A message whose bytes name its connection and sequence number. */
function stamp(buf: Buffer, conn: number, seq: number): void {
  buf.fill(97 + (seq % 26));
  buf.writeUInt32LE(conn, 0);
  buf.writeUInt32LE(seq, 4);
  if (job.lines !== 1) return;
  for (let i = 0; i < 8; i++) if (buf[i] === 0x0a) buf[i] = 0x0b;
  buf[MESSAGE - 1] = 0x0a;
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port: job.port, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => { errors++; });
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Opens `count` connections, `batch` at a time, so the server's accept queue never overflows. */
async function openMany(count: number, batch = 200): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i += batch) {
    const opened = await Promise.all(Array.from({ length: Math.min(batch, count - i) }, connect));
    sockets.push(...opened);
  }
  return sockets;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** Ping-pong of 64-byte messages on each connection until the deadline. */
async function requestResponse(sockets: net.Socket[], seconds: number): Promise<Result> {
  const latencies: number[] = [];
  let requests = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(sockets.map((socket, conn) => new Promise<void>((resolve) => {
    const sent = Buffer.alloc(MESSAGE);
    const received = Buffer.alloc(MESSAGE);
    let seq = 0;
    let have = 0;
    let sentAt = 0;
    const send = (): void => {
      stamp(sent, conn, seq);
      sentAt = performance.now();
      socket.write(Buffer.from(sent));
    };
    const onData = (data: Buffer): void => {
      let offset = 0;
      while (offset < data.length) {
        const take = Math.min(MESSAGE - have, data.length - offset);
        data.copy(received, have, offset, offset + take);
        have += take;
        offset += take;
        if (have < MESSAGE) return;
        have = 0;
        if (!received.equals(sent)) errors++;
        const now = performance.now();
        latencies.push(now - sentAt);
        requests++;
        seq++;
        if (now >= deadline) {
          socket.off('data', onData);
          resolve();
          return;
        }
        send();
      }
    };
    socket.on('data', onData);
    send();
  })));
  const elapsed = (performance.now() - started) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests,
    bytes: requests * MESSAGE,
    seconds: elapsed,
    latenciesUs: { p50: percentile(sorted, 0.5) * 1000, p99: percentile(sorted, 0.99) * 1000 },
    loadCpuSeconds: 0,
    errors,
  };
}

/** Writes 64 KiB chunks as fast as each connection takes them, checking the echo. */
async function stream(sockets: net.Socket[], seconds: number): Promise<Result> {
  // A pattern longer than a chunk, so each byte's expected value depends on its offset.
  const pattern = Buffer.alloc(STREAM_CHUNK + 251);
  for (let i = 0; i < pattern.length; i++) pattern[i] = i % 251;
  let bytes = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
    let written = 0;
    let read = 0;
    let stopping = false;
    const pump = (): void => {
      while (!stopping) {
        const offset = written % 251;
        const more = socket.write(pattern.subarray(offset, offset + STREAM_CHUNK));
        written += STREAM_CHUNK;
        if (performance.now() >= deadline) stopping = true;
        if (!more) return;
      }
    };
    socket.on('drain', pump);
    socket.on('data', (data: Buffer) => {
      const offset = read % 251;
      if (!data.equals(pattern.subarray(offset, offset + data.length))) {
        // Chunks longer than the pattern window are checked piecewise.
        for (let i = 0; i < data.length; i += STREAM_CHUNK) {
          const part = data.subarray(i, i + STREAM_CHUNK);
          const at = (read + i) % 251;
          if (!part.equals(pattern.subarray(at, at + part.length))) errors++;
        }
      }
      read += data.length;
      bytes += data.length;
      if (stopping && read === written) resolve();
    });
    pump();
  })));
  return { requests: 0, bytes, seconds: (performance.now() - started) / 1000, loadCpuSeconds: 0, errors };
}

/** Connect, exchange one message, close; `connections` of these at a time. */
async function churn(concurrency: number, seconds: number): Promise<Result> {
  let requests = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const message = Buffer.alloc(MESSAGE, 120);
  const once = async (): Promise<void> => {
    const socket = await connect();
    await new Promise<void>((resolve) => {
      let have = 0;
      socket.on('data', (data: Buffer) => {
        if (!data.equals(message.subarray(have, have + data.length))) errors++;
        have += data.length;
        if (have >= MESSAGE) {
          socket.end();
          socket.once('close', () => { resolve(); });
        }
      });
      socket.write(message);
    });
    requests++;
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) await once();
  }));
  return { requests, bytes: requests * MESSAGE, seconds: (performance.now() - started) / 1000, loadCpuSeconds: 0, errors };
}

function closeAllSockets(sockets: net.Socket[]): Promise<void> {
  return Promise.all(sockets.map((socket) => new Promise<void>((resolve) => {
    if (socket.destroyed) {
      resolve();
      return;
    }
    socket.once('close', () => { resolve(); });
    socket.end();
  }))).then(() => undefined);
}

/** Waits for a line on standard input (the orchestrator's go-ahead). */
function waitForLine(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once('data', () => { resolve(); });
  });
}

/** Tells the orchestrator the timed phase starts (connections are open). */
function started(): NodeJS.CpuUsage {
  process.stdout.write('started\n');
  return process.cpuUsage();
}

function report(result: Result): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  if (job.mode === 'rr' || job.mode === 'stream' || job.mode === 'scaling') {
    const idle = job.mode === 'scaling' ? await openMany(job.idle ?? 0) : [];
    const busy = await openMany(job.mode === 'scaling' ? 1 : job.connections ?? (job.mode === 'rr' ? 100 : 8));
    const cpu = started();
    const result = job.mode === 'stream' ? await stream(busy, job.seconds) : await requestResponse(busy, job.seconds);
    result.loadCpuSeconds = cpuSeconds(process.cpuUsage(cpu));
    report(result);
    await closeAllSockets([...idle, ...busy]);
  } else if (job.mode === 'churn') {
    const cpu = started();
    const result = await churn(job.connections ?? 16, job.seconds);
    result.loadCpuSeconds = cpuSeconds(process.cpuUsage(cpu));
    report(result);
  } else {
    const sockets = await openMany(job.idle ?? 10_000);
    process.stdout.write('ready\n');
    await waitForLine();
    report({ requests: 0, bytes: 0, seconds: 0, loadCpuSeconds: 0, errors });
    await closeAllSockets(sockets);
  }
  process.exit(0);
}

function cpuSeconds(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}

void main();
