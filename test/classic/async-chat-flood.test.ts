// The guard Python's asynchat never had: a peer (a child process) that sends
// as fast as it can and never a terminator. By default the chat closes at
// the first pass of maxFrameLength, so the peer is cut off long before its
// gigabyte; a chat whose frameTooLong() keeps it open skips the long frame
// to its terminator and reads on. Either way memory stays bounded.
import { spawn } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import t from 'tap';
import type { Test } from 'tap';
import { loop } from '../../src/index.js';
import type { FrameTooLongError } from '../../src/index.js';
import { QuietChat, serveOnce } from '../helpers/async-chat.js';
import { deadline } from '../helpers/deadline.js';
import { failOnUnhandled } from '../helpers/dispatchers.js';
import { testMap } from '../helpers/net.js';

failOnUnhandled(t);

const GiB = 1 << 30;
const MiB = 1 << 20;
/**
 * Growth of heapUsed + arrayBuffers, measured after a full collection, allowed
 * at any time while megabytes or gigabytes go by; and for the median of the
 * measures. A measure may count what the test runner allocates meanwhile
 * (up to 33 MiB once under tap with coverage, against 0.3 MiB for the file run
 * alone; a median of 9 MiB once under a full parallel run), hence the two,
 * each well under the 128 MiB flood: what the chat kept would show in both,
 * growing with the bytes sent.
 */
const MEMORY_BOUND = 64 * MiB;
const MEDIAN_BOUND = 32 * MiB;

// A full collection before each measure, so that what is measured is what is
// kept, not garbage not yet collected.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** A child process that connects to `port`, writes `total` bytes of 'x' as fast as the socket takes them, then `tail`, and ends. */
function flooder(t: Test, port: number, total: number, tail: string): Promise<{ sent: number; error: string | null }> {
  const script = `
    const net = require('node:net');
    const [port, total, tail] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
    const chunk = Buffer.alloc(1 << 20, 'x');
    let sent = 0, done = false;
    const report = (error) => { if (!done) { done = true; console.log(JSON.stringify({ sent, error })); process.exit(0); } };
    const sock = net.connect(port, '127.0.0.1');
    const pump = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!sock.write(chunk)) { sock.once('drain', pump); return; }
      }
      sock.end(tail);
    };
    sock.on('connect', pump);
    sock.on('error', (error) => report(error.code ?? String(error)));
    sock.on('close', () => report(null));
  `;
  const child = spawn(process.execPath, ['-e', script, String(port), String(total), tail], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { out += text; });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', () => {
      try {
        resolve(JSON.parse(out) as { sent: number; error: string | null });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}

/** A line reader that records its frames, its frame errors, and the largest memory growth seen. */
class Lines extends QuietChat {
  lines: string[] = [];
  tooLong: FrameTooLongError[] = [];
  reads = 0;
  maxGrowth = 0;
  growths: number[] = [];
  readonly #base = memory();
  override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
  override foundTerminator(): void { this.lines.push(this.getData().toString()); }
  override frameTooLong(error: FrameTooLongError): void {
    this.tooLong.push(error);
    this.measure();
    void super.frameTooLong(error);
  }
  override handleRead(): void {
    void super.handleRead();
    if (++this.reads % 256 === 0) this.measure();
  }
  measure(): void {
    const growth = memory() - this.#base;
    this.growths.push(growth);
    this.maxGrowth = Math.max(this.maxGrowth, growth);
  }
}

function memory(): number {
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

t.test('AsyncChat closes at the first pass of maxFrameLength by a peer sending a gigabyte without a terminator; memory stays bounded', async (t) => {
  const map = testMap(t);
  const { port, made: accepted } = await serveOnce(map, (sock) => {
    const chat = new Lines(sock, map);
    chat.setTerminator('\n');
    return chat;
  });
  const peer = flooder(t, port, GiB, '\n');
  const running = (async () => { await loop({ map }); })();
  const chat = await deadline(accepted, 'the connection');
  await deadline(running, 'the chat closes and the loop ends');
  const result = await deadline(peer, 'the peer is cut off');
  t.equal(chat.state, 'closed');
  t.equal(chat.tooLong.length, 1, 'frameTooLong() once');
  const [error] = chat.tooLong;
  t.equal(error?.limit, 65536);
  t.ok(error !== undefined && error.length > 65536 && error.length <= 65536 + chat.acInBufferSize, `reported at the read that passed the limit (${error?.length} bytes)`);
  t.match(chat.logs, [/^error: uncaptured error, closing channel .*FrameTooLongError/], 'the default handleError() logged it');
  t.same(chat.lines, []);
  t.ok(result.error !== null && result.sent < GiB, `the peer was cut off (${result.error}) after writing ${(result.sent / MiB).toFixed(0)} MiB of its 1024`);
  t.ok(chat.maxGrowth < MEMORY_BOUND, `memory growth ${(chat.maxGrowth / MiB).toFixed(1)} MiB`);
});

t.test('AsyncChat whose frameTooLong() keeps the channel open skips 128 MiB without a terminator in bounded memory and reads the next line', async (t) => {
  const map = testMap(t);
  class Tolerant extends Lines {
    override frameTooLong(error: FrameTooLongError): void {
      this.tooLong.push(error);
      this.measure();
    }
    override handleClose(): void { this.close(); }
  }
  const { port, made: accepted } = await serveOnce(map, (sock) => {
    const chat = new Tolerant(sock, map);
    chat.setTerminator('\n');
    return chat;
  });
  const total = 128 * MiB;
  const peer = flooder(t, port, total, '\nafter\n');
  const running = (async () => { await loop({ map }); })();
  const chat = await deadline(accepted, 'the connection');
  await deadline(running, 'the peer ends and the chat closes', 30_000);
  const result = await deadline(peer, 'the peer exits');
  t.same(result, { sent: total, error: null }, 'the peer sent everything');
  t.equal(chat.tooLong.length, 1, 'one long frame, reported once');
  t.same(chat.lines, ['after'], 'the line after the long frame, intact');
  t.ok(chat.reads > total / chat.acInBufferSize, `every byte was read (${chat.reads} reads)`);
  t.ok(chat.maxGrowth < MEMORY_BOUND, `memory growth at most ${(chat.maxGrowth / MiB).toFixed(1)} MiB while ${total / MiB} MiB went by`);
  const median = [...chat.growths].sort((a, b) => a - b)[chat.growths.length >> 1] ?? 0;
  t.ok(median < MEDIAN_BOUND, `median memory growth ${(median / MiB).toFixed(1)} MiB over ${chat.growths.length} measures`);
});
