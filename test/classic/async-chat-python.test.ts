// AsyncChat against Python 3.11's own asynchat, both ways: a Python echo
// server with our client, and our echo server with a Python client, for each
// kind of terminator (bytes, count, null), the Python side writing in pieces
// of 1, 2 and 3 bytes. Every byte is checked. The peer is
// test/fixtures/asynchat_peer.py; the protocol is described there.
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import type net from 'node:net';
import path from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, AsyncChat, loop } from '../../src/index.js';
import type { ChannelMap, Terminator } from '../../src/index.js';
import { serveOnce } from '../helpers/async-chat.js';
import { PYTHON_ASYNCHAT, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { failOnUnhandled } from '../helpers/dispatchers.js';
import { testMap } from '../helpers/net.js';
import { root } from '../helpers/root.js';

failOnUnhandled(t);

const PEER = path.join(root, 'test/fixtures/asynchat_peer.py');
const COUNT = 7;
type Kind = 'bytes' | 'count' | 'null';
const TERMINATORS: Record<Kind, Terminator> = { bytes: '\r\n', count: COUNT, null: null };

/** Lines of every byte value but \n (so never \r\n inside), of lengths 0 to 40, a lone \r at the end of some. */
function linesPayload(): Buffer[] {
  const lines: Buffer[] = [];
  let value = 0;
  for (let length = 0; length <= 40; length += 3) {
    const line = Buffer.alloc(length);
    for (let i = 0; i < length; i++) {
      line[i] = value === 10 ? 11 : value;
      value = (value + 37) % 256;
    }
    if (length % 2 === 1) line[length - 1] = 13;
    lines.push(line);
  }
  return lines;
}

/** Every byte value, in an order that is not a run. */
function blockPayload(length: number): Buffer {
  const buf = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buf[i] = (i * 73 + 5) % 256;
  return buf;
}

/** What the client sends, and the frames it must get back. */
function exchange(kind: Kind): { payload: Buffer; frames: Buffer[] } {
  if (kind === 'bytes') {
    const lines = linesPayload();
    return { payload: Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\r\n')])), frames: [...lines, Buffer.from('BYE')] };
  }
  const payload = blockPayload(COUNT * 40);
  if (kind === 'null') return { payload, frames: [payload] };
  const frames: Buffer[] = [];
  for (let at = 0; at < payload.length; at += COUNT) frames.push(payload.subarray(at, at + COUNT));
  return { payload, frames };
}

/** Our side of the protocol (the same as the Python peer's). */
class Peer extends AsyncChat {
  frames: Buffer[] = [];
  errors: unknown[] = [];
  constructor(readonly kind: Kind, sock: net.Socket | null, map: ChannelMap) {
    super(sock, map);
    this.setTerminator(TERMINATORS[kind]);
  }
  override collectIncomingData(data: Buffer): void {
    if (this.kind === 'null') this.onFrame(Buffer.from(data));
    else this.incoming.push(data);
  }
  override foundTerminator(): void {
    if (this.kind === 'count') this.setTerminator(COUNT);
    this.onFrame(this.getData());
  }
  onFrame(_data: Buffer): void { /* a role's */ }
  override handleError(error: unknown): void {
    this.errors.push(error);
    this.close();
  }
  override logInfo(): void { /* quiet */ }
}

class EchoHandler extends Peer {
  override onFrame(data: Buffer): void {
    if (this.kind !== 'bytes') this.push(data);
    else if (data.toString() === 'QUIT') {
      this.push('BYE\r\n');
      this.closeWhenDone();
    } else this.push(Buffer.concat([data, Buffer.from('\r\n')]));
  }
}

class Client extends Peer {
  received = 0;
  constructor(kind: Kind, port: number, payload: Buffer, readonly expected: number, map: ChannelMap) {
    super(kind, null, map);
    this.createSocket(AF_INET);
    this.connect(['127.0.0.1', port]);
    this.push(kind === 'bytes' ? Buffer.concat([payload, Buffer.from('QUIT\r\n')]) : payload);
  }
  override handleConnect(): void { /* nothing to do */ }
  override onFrame(data: Buffer): void {
    this.frames.push(data);
    this.received += data.length;
    if (this.kind !== 'bytes' && this.received >= this.expected) this.close();
  }
}

/** Runs the Python peer; resolves with its standard output at its exit (rejects on a failure). */
function python(t: Test, args: string[], onLine?: (line: string) => void): { child: ChildProcessByStdio<null, Readable, Readable>; output: Promise<string> } {
  const child = spawn('python3', [PEER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    out += text;
    if (onLine !== undefined && out.includes('\n')) {
      onLine(out.slice(0, out.indexOf('\n')));
      onLine = undefined;
    }
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => { err += text; });
  const output = new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0 && err === '') resolve(out);
      else reject(new Error(`python3 ${args.slice(0, 3).join(' ')} exited with ${String(code)}: ${err}`));
    });
  });
  output.catch(() => undefined); // reported where it is awaited
  return { child, output };
}

/** The frames as hex, the pieces of a null terminator joined (how the bytes were cut is not part of the protocol). */
function hexFrames(kind: Kind, frames: readonly Buffer[]): string[] {
  return (kind === 'null' ? [Buffer.concat(frames)] : frames).map((f) => f.toString('hex'));
}

for (const kind of ['bytes', 'count', 'null'] as const) {
  t.test(`AsyncChat client against Python's asynchat echo server, terminator ${kind}, the server writing 1, 2 and 3 bytes at a time`, { skip: PYTHON_ASYNCHAT.skip }, async (t) => {
    if (!clientPresent(t, PYTHON_ASYNCHAT)) return;
    const { payload, frames } = exchange(kind);
    for (const chunk of [1, 2, 3]) {
      const map = testMap(t);
      let gotPort!: (port: number) => void;
      const port = new Promise<number>((resolve) => { gotPort = resolve; });
      const server = python(t, ['server', kind, String(chunk)], (line) => { gotPort(Number(line)); });
      const client = new Client(kind, await deadline(port, 'the Python server listens'), payload, payload.length, map);
      await deadline((async () => { await loop({ map }); })(), `the exchange in pieces of ${chunk}`);
      await deadline(server.output, 'the Python server exits cleanly');
      t.same(client.errors, [], `no error, pieces of ${chunk}`);
      t.same(hexFrames(kind, client.frames), hexFrames(kind, frames), `every byte back, pieces of ${chunk}`);
    }
  });

  t.test(`AsyncChat echo server against Python's asynchat client, terminator ${kind}, the client writing 1, 2 and 3 bytes at a time`, { skip: PYTHON_ASYNCHAT.skip }, async (t) => {
    if (!clientPresent(t, PYTHON_ASYNCHAT)) return;
    const { payload, frames } = exchange(kind);
    for (const chunk of [1, 2, 3]) {
      const map = testMap(t);
      const { port, made } = await serveOnce(map, (sock) => new EchoHandler(kind, sock, map));
      const peer = python(t, ['client', kind, String(chunk), String(port), payload.toString('hex')]);
      await deadline((async () => { await loop({ map }); })(), `the exchange in pieces of ${chunk}`);
      const output = await deadline(peer.output, 'the Python client exits cleanly');
      t.same((await made).errors, [], `no error, pieces of ${chunk}`);
      const got = (JSON.parse(output) as string[]).map((hex) => Buffer.from(hex, 'hex'));
      t.same(hexFrames(kind, got), hexFrames(kind, frames), `every byte back, pieces of ${chunk}`);
    }
  });
}
