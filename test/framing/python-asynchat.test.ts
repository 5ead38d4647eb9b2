// Interop: Python 3.11's asynchat echo server (bench/servers/python_asynchat.py)
// sends its replies 1, 2 or 3 bytes per send(); our lines() and frames()
// read them back, every byte checked. Skipped visibly without a python3 that
// has asynchat (removed in Python 3.12); a failure under CI=true.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import type { Test } from 'tap';
import { ChannelMap, closeAll, connect, frames, lines } from '../../src/index.js';
import type { Channel } from '../../src/index.js';
import { client, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { root } from '../helpers/root.js';

const ASYNCHAT = client(['python3', '-c', 'import warnings; warnings.simplefilter("ignore"); import asynchat'], 'python3.11');
const SCRIPT = path.join(root, 'bench/servers/python_asynchat.py');

/** Starts the Python server; resolves with its port. */
async function pythonServer(t: Test, chunk: number, terminator: Buffer): Promise<number> {
  const child = spawn('python3', [SCRIPT, '--chunk', String(chunk), '--terminator', terminator.toString('hex')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => { child.kill('SIGKILL'); });
  const input = createInterface({ input: child.stdout });
  const [line] = (await deadline(once(input, 'line'), 'the Python server starts')) as [string];
  input.close();
  return (JSON.parse(line) as { port: number }).port;
}

/** Payloads of every byte but `avoid` (each value at least once), of lengths 0 to 200. */
function payloads(avoid: readonly number[]): Buffer[] {
  const usable = Array.from({ length: 256 }, (_, i) => i).filter((b) => !avoid.includes(b));
  return Array.from({ length: 16 }, (_, n) => {
    const length = (n * 37) % 201;
    return Buffer.from(Array.from({ length }, (_, i) => usable[(i * 7 + n) % usable.length] as number));
  });
}

async function connected(t: Test, port: number): Promise<Channel> {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return deadline(connect(['127.0.0.1', port], { map }), 'the connection');
}

for (const chunk of [1, 2, 3]) {
  t.test(`lines() reads Python asynchat's line echo sent ${chunk} byte(s) per send(), every byte`, { skip: ASYNCHAT.skip }, async (t) => {
    if (!clientPresent(t, ASYNCHAT)) return;
    const conn = await connected(t, await pythonServer(t, chunk, Buffer.from('\n')));
    const sent = payloads([0x0a, 0x0d]);
    // Half the lines end in \r\n: asynchat's terminator is \n, so it echoes the \r back.
    void conn.write(Buffer.concat(sent.map((p, i) => Buffer.concat([p, Buffer.from(i % 2 === 0 ? '\n' : '\r\n')]))));
    const received: Buffer[] = [];
    for await (const line of lines(conn)) {
      received.push(line);
      if (received.length === sent.length) break;
    }
    t.same(received.map((b) => b.toString('hex')), sent.map((b) => b.toString('hex')));
  });

  t.test(`frames() reads Python asynchat's echo of a 3-byte terminator sent ${chunk} byte(s) per send()`, { skip: ASYNCHAT.skip }, async (t) => {
    if (!clientPresent(t, ASYNCHAT)) return;
    const delimiter = Buffer.from([0x00, 0xff, 0x00]);
    const conn = await connected(t, await pythonServer(t, chunk, delimiter));
    const sent = payloads([0x00]);
    void conn.write(Buffer.concat(sent.flatMap((p) => [p, delimiter])));
    const received: Buffer[] = [];
    for await (const frame of frames(conn, { delimiter, keepDelimiter: true })) {
      received.push(frame);
      if (received.length === sent.length) break;
    }
    t.same(received.map((b) => b.toString('hex')), sent.map((b) => Buffer.concat([b, delimiter]).toString('hex')));
  });
}
