// The soak: connect-exchange-close cycles over three styles (a Channel in
// for-await style, Dispatchers under an awaited loop(), the promise helpers),
// one at a time against long-lived listeners, each cycle waiting for the
// 'close' events of both its sockets. After a warm-up, heapUsed (after a full
// gc) is noted every 1,000 cycles; it must end within SOAK_BOUND of where it
// started, and the process must end with the descriptors and active resources
// it started with. Runs in a child process started with --expose-gc.
//
//   node build/stress/run.js                     (all stress parts)
//   node --expose-gc build/stress/soak.js --child [--cycles 10000]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import type dgram from 'node:dgram';
import net from 'node:net';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AF_INET, Channel, ChannelMap, Dispatcher, DispatcherWithSend, closeAll, loop } from 'asyncore';
import type { Address } from 'asyncore';
import { endWithParent } from './child.js';

export const SOAK_CYCLES = 10_000;
export const SOAK_WARMUP = 500;
const CHECKPOINT = 1_000;
/** Heap growth allowed over the whole soak: 2 MiB, about 200 bytes a cycle over 10,000. */
export const SOAK_BOUND = 2 * 1024 * 1024;

export interface SoakFigures {
  cycles: number;
  seconds: number;
  cyclesPerSecond: number;
  heapStart: number;
  heapEnd: number;
  heapGrowth: number;
  bytesPerCycle: number;
  /** heapUsed after gc at every checkpoint, relative to the start. */
  checkpoints: number[];
  bound: number;
  wrongReplies: number;
  fdsBefore: number;
  fdsAfter: number;
  resourcesBefore: string;
  resourcesAfter: string;
  rssGrowth: number;
  pass: boolean;
  failures: string[];
}

function closedOf(sock: net.Socket | net.Server | dgram.Socket | null): Promise<void> {
  if (sock === null) return Promise.reject(new Error('no socket'));
  if ('closed' in sock && sock.closed) return Promise.resolve();
  return new Promise((resolve) => sock.once('close', () => { resolve(); }));
}

/** One value handed from the server side to the cycle waiting for it. */
class Mailbox<T> {
  #items: T[] = [];
  #waiter: ((item: T) => void) | null = null;
  put(item: T): void {
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter(item);
    } else {
      this.#items.push(item);
    }
  }
  take(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => { this.#waiter = resolve; });
  }
}

class Echo extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(4096);
    if (data !== null && data.length > 0) this.send(data);
  }
  override handleClose(): void { this.close(); }
}

class Client extends Dispatcher {
  #out: Buffer;
  reply = '';
  constructor(map: ChannelMap, readonly text: string) {
    super(null, map);
    this.#out = Buffer.from(text);
  }
  override handleConnect(): void { /* writable() sends */ }
  override writable(): boolean { return this.#out.length > 0; }
  override handleWrite(): void { this.#out = this.#out.subarray(this.send(this.#out)); }
  override handleRead(): void {
    this.reply += this.recv(4096)?.toString() ?? '';
    if (this.reply.length >= this.text.length) this.close();
  }
  override handleClose(): void { this.close(); }
}

async function soakServers(): Promise<{ cycle(i: number): Promise<boolean>; stop(): Promise<void> }> {
  const serverMap = new ChannelMap();
  const accepted = new Mailbox<{ closed: Promise<void> }>();
  const listen = (channel: Channel): Channel => {
    channel.createSocket(AF_INET);
    channel.bind(['127.0.0.1', 0]);
    channel.listen(64);
    return channel;
  };
  // A Channel in for-await style.
  const plain = listen(new Channel(null, serverMap));
  const plainServing = (async () => {
    for await (const ev of plain) {
      if (ev.type !== 'accept') continue;
      const pair = plain.accept();
      if (pair === null) continue;
      const conn = new Channel(pair[0], serverMap);
      accepted.put({ closed: closedOf(conn.socket) });
      void (async () => {
        for await (const e of conn) {
          if (e.type !== 'read') continue;
          const data = conn.recv(4096);
          if (data !== null && data.length > 0) conn.send(data);
        }
      })();
    }
  })();
  // Dispatchers under an awaited loop().
  class EchoServer extends Dispatcher {
    override handleAccepted(sock: net.Socket): void {
      accepted.put({ closed: closedOf(sock) });
      new Echo(sock, serverMap);
    }
  }
  const classic = listen(new EchoServer(null, serverMap));
  const classicLoop = loop({ map: serverMap }).then();
  // The helpers.
  const helpers = listen(new Channel(null, serverMap));
  const helpersServing = (async () => {
    for await (const conn of helpers.connections()) {
      accepted.put({ closed: closedOf(conn.socket) });
      void (async () => {
        for await (const chunk of conn.chunks()) await conn.write(chunk);
        conn.close();
      })().catch(() => { conn.close(); });
    }
  })();
  await Promise.all([plain.opened, classic.opened, helpers.opened]);

  async function cycle(i: number): Promise<boolean> {
    const text = `ping ${i}`;
    const clientMap = new ChannelMap();
    let reply = '';
    let clientClosed: Promise<void>;
    switch (i % 3) {
      case 0: {
        const c = new Channel(null, clientMap);
        c.createSocket(AF_INET);
        c.connect(plain.addr as Address);
        clientClosed = closedOf(c.socket);
        for await (const ev of c) {
          if (ev.type === 'connect') c.send(text);
          if (ev.type !== 'read') continue;
          reply += c.recv(4096)?.toString() ?? '';
          if (reply.length >= text.length) break;
        }
        c.close();
        break;
      }
      case 1: {
        const c = new Client(clientMap, text);
        c.createSocket(AF_INET);
        c.connect(classic.addr as Address);
        clientClosed = closedOf(c.socket);
        await loop({ map: clientMap });
        reply = c.reply;
        break;
      }
      default: {
        const c = new Channel(null, clientMap);
        c.createSocket(AF_INET);
        c.connect(helpers.addr as Address);
        clientClosed = closedOf(c.socket);
        await c.write(text);
        for await (const chunk of c.chunks()) {
          reply += chunk.toString();
          if (reply.length >= text.length) break;
        }
        c.close();
      }
    }
    const serverSide = await accepted.take();
    await Promise.all([clientClosed, serverSide.closed]);
    return reply === text;
  }

  async function stop(): Promise<void> {
    const closed = [plain, classic, helpers].map((listener) => closedOf(listener.socket));
    closeAll(serverMap);
    await Promise.all([plainServing, classicLoop, helpersServing, ...closed]);
  }
  return { cycle, stop };
}

function fds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Active handles and timers; requests in flight (an fs CloseReq at start-up) come and go. */
function resources(): string {
  return JSON.stringify(process.getActiveResourcesInfo().filter((r) => !/Req|ConnectWrap|WriteWrap|ShutdownWrap/.test(r)).sort());
}

/** One full gc (twice: weak callbacks of the first free more). */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Runs the soak in this process (started with --expose-gc). */
export async function soakHere(cycles = SOAK_CYCLES, warmup = SOAK_WARMUP): Promise<SoakFigures> {
  const resourcesBefore = resources();
  // libuv opens a spare descriptor (/dev/null, for its EMFILE trick) at the
  // first listen() and keeps it: listen once first, so that it is in the baseline.
  const primer = net.createServer();
  await new Promise<void>((resolve) => primer.listen(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => primer.close(() => { resolve(); }));
  const fdsBefore = fds();
  const servers = await soakServers();
  let wrong = 0;
  for (let i = 0; i < warmup; i++) if (!await servers.cycle(i)) wrong++;
  const heapStart = heapAfterGc();
  const rssStart = process.memoryUsage().rss;
  const checkpoints: number[] = [];
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    if (!await servers.cycle(warmup + i)) wrong++;
    if ((i + 1) % CHECKPOINT === 0) checkpoints.push(heapAfterGc() - heapStart);
  }
  const seconds = (performance.now() - started) / 1000;
  const heapEnd = heapAfterGc();
  const rssGrowth = process.memoryUsage().rss - rssStart;
  await servers.stop();
  // A server emits 'close' before Node's close callback releases its handle
  // and descriptor: give the event loop turns (bounded) to run them.
  for (let turn = 0; turn < 50 && (fds() !== fdsBefore || resources() !== resourcesBefore); turn++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  const fdsAfter = fds();
  const resourcesAfter = resources();
  const heapGrowth = heapEnd - heapStart;
  const failures: string[] = [];
  if (wrong > 0) failures.push(`${wrong} exchanges had a wrong reply`);
  if (heapGrowth >= SOAK_BOUND) failures.push(`heap grew ${heapGrowth} bytes, bound ${SOAK_BOUND}`);
  if (fdsAfter !== fdsBefore) failures.push(`descriptors: ${fdsBefore} before, ${fdsAfter} after`);
  if (resourcesAfter !== resourcesBefore) failures.push(`active resources: ${resourcesBefore} before, ${resourcesAfter} after`);
  return {
    cycles, seconds, cyclesPerSecond: cycles / seconds,
    heapStart, heapEnd, heapGrowth, bytesPerCycle: heapGrowth / cycles,
    checkpoints, bound: SOAK_BOUND, wrongReplies: wrong,
    fdsBefore, fdsAfter, resourcesBefore, resourcesAfter, rssGrowth,
    pass: failures.length === 0, failures,
  };
}

/**
 * Runs the soak in a child process (node --expose-gc), killed after
 * `timeoutMs`; resolves with its figures. `nodeOptions` go before the script
 * (the tests pass a TypeScript loader to run this file from source).
 */
export async function runSoak(options: {
  cycles?: number; warmup?: number; timeoutMs: number; nodeOptions?: string[];
}): Promise<SoakFigures> {
  const args = [
    '--expose-gc', ...(options.nodeOptions ?? []), fileURLToPath(import.meta.url), '--child',
    '--cycles', String(options.cycles ?? SOAK_CYCLES), '--warmup', String(options.warmup ?? SOAK_WARMUP),
  ];
  // The IPC channel carries nothing: its end tells the child that this process is gone.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  child.channel?.unref();
  let out = '';
  const stdout = child.stdout as Readable; // piped: never null
  stdout.setEncoding('utf8');
  stdout.on('data', (text: string) => { out += text; });
  const timer = setTimeout(() => { child.kill('SIGKILL'); }, options.timeoutMs);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => {
    child.once('close', (c: number | null, s: string | null) => { resolve([c, s]); });
  });
  clearTimeout(timer);
  const last = out.trim().split('\n').pop() ?? '';
  if (signal !== null) throw new Error(`soak: killed by ${signal} (over ${options.timeoutMs} ms?)`);
  if (code !== 0 || last === '') throw new Error(`soak: child exited with code ${String(code)}`);
  return JSON.parse(last) as SoakFigures;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--child')) {
  const arg = (name: string, fallback: number): number => {
    const at = process.argv.indexOf(name);
    return at >= 0 ? Number(process.argv[at + 1]) : fallback;
  };
  endWithParent('soak');
  const figures = await soakHere(arg('--cycles', SOAK_CYCLES), arg('--warmup', SOAK_WARMUP));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
