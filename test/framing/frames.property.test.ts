// Property: random frames, random delimiters (or length prefixes), random
// cuts of the byte stream: the frames out equal the frames in, for the
// scanner alone, over channelPair() with random chunk sizes, and over
// loopback TCP (fewer runs: each is a real connection); and the reader's
// try-reads mixed with its async reads, in one mode or switching modes (RESP).
//
// Delimited frames are drawn so that the frames in are well defined: with
// one delimiter, no frame holds it and no frame's end starts it early; with
// several, no delimiter holds another and frames use bytes no delimiter uses.
// Small alphabets make near-matches (a delimiter's start, cut by a chunk
// boundary) common. Replay: FC_SEED=... FC_PATH=... npx tap <this file, compiled: build/t/...js>.
import net from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { AF_INET, Channel, ChannelMap, FrameReader, channelPair, closeAll, encodeFrame, frames } from '../../src/index.js';
import type { FramesOptions } from '../../src/index.js';
import { FrameScanner } from '../../src/framing/scanner.js';
import { deadline } from '../helpers/deadline.js';
import { checkRuns, propertyParams } from '../helpers/property.js';

/** A stream to cut: the frames in, the options that read them, the bytes on the wire. */
interface Case {
  frames: Buffer[];
  options: FramesOptions;
  wire: Buffer;
  /** Sizes to cut the wire into, used in turn. */
  cuts: number[];
}

const bytesOf = (alphabet: number[], min: number, max: number): fc.Arbitrary<Buffer> =>
  fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((b) => Buffer.from(b));

const cutsArb = fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 });

/** One delimiter over a 3-letter alphabet; frames over the same letters that never match early. */
const oneDelimiter: fc.Arbitrary<Case> = bytesOf([0x61, 0x62, 0x0a], 1, 4).chain((delim) =>
  fc.record({
    frames: fc.array(
      bytesOf([0x61, 0x62, 0x0a], 0, 12).filter((f) => Buffer.concat([f, delim]).indexOf(delim) === f.length),
      { maxLength: 12 },
    ),
    keep: fc.boolean(),
    cuts: cutsArb,
  }).map(({ frames: list, keep, cuts }) => ({
    frames: keep ? list.map((f) => Buffer.concat([f, delim])) : list,
    options: { delimiter: delim, keepDelimiter: keep },
    wire: Buffer.concat(list.flatMap((f) => [f, delim])),
    cuts,
  })));

/** Several delimiters (none holding another) over high bytes; frames over low bytes. */
const severalDelimiters: fc.Arbitrary<Case> = fc.uniqueArray(bytesOf([0x80, 0x81, 0x82], 1, 3), {
  minLength: 2, maxLength: 3, comparator: (x, y) => x.includes(y) || y.includes(x),
}).chain((delims) => fc.record({
  items: fc.array(fc.tuple(bytesOf([0x30, 0x31], 1, 8), fc.nat(delims.length - 1)), { maxLength: 12 }),
  keep: fc.boolean(),
  cuts: cutsArb,
}).map(({ items, keep, cuts }) => {
  const framed = items.map(([f, d]) => Buffer.concat([f, delims[d] as Buffer]));
  return {
    frames: keep ? framed : items.map(([f]) => f),
    options: { delimiters: delims, keepDelimiter: keep },
    wire: Buffer.concat(framed),
    cuts,
  };
}));

/** Length-prefixed frames of any bytes. */
const prefixed: fc.Arbitrary<Case> = fc.record({
  lengthBytes: fc.constantFrom(1 as const, 2 as const, 4 as const),
  endian: fc.constantFrom('big' as const, 'little' as const),
  frames: fc.array(fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)), { maxLength: 10 }),
  cuts: cutsArb,
}).map(({ lengthBytes, endian, frames: list, cuts }) => ({
  frames: list,
  options: { lengthBytes, endian },
  wire: Buffer.concat(list.map((f) => encodeFrame(f, { lengthBytes, endian }))),
  cuts,
}));

const anyCase = fc.oneof(oneDelimiter, severalDelimiters, prefixed);
const delimited = fc.oneof(oneDelimiter, severalDelimiters);

/** The wire cut by `cuts`, used in turn. */
function cut(wire: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < wire.length; i++) {
    const size = cuts[i % cuts.length] as number;
    chunks.push(wire.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

const hex = (list: readonly Buffer[]): string[] => list.map((b) => b.toString('hex'));

t.test('FrameScanner.scan() alone: the frames out equal the frames in, however the stream is cut', async (t) => {
  let runs = 0;
  await fc.assert(fc.asyncProperty(delimited, async (c) => {
    runs++;
    const scanner = new FrameScanner(Infinity);
    const delim = c.options.delimiter ?? c.options.delimiters;
    scanner.terminator = Buffer.isBuffer(delim) ? delim : (delim as Buffer[]);
    const out: Buffer[] = [];
    let parts: Buffer[] = [];
    const sink = {
      collect: (d: Buffer) => { parts.push(d); },
      found: () => {
        if (c.options.keepDelimiter === true && scanner.matched !== null) parts.push(scanner.matched);
        out.push(Buffer.concat(parts));
        parts = [];
        return false;
      },
      tooLong: () => { throw new Error('no limit was set'); },
    };
    for (const chunk of cut(c.wire, c.cuts)) scanner.scan(chunk, sink);
    return JSON.stringify(hex(out)) === JSON.stringify(hex(c.frames)) && parts.length === 0;
  }), propertyParams(300, 8000));
  checkRuns(t, runs, 300);
});

t.test('frames() over channelPair({ chunkSizes }): the frames out equal the frames in', async (t) => {
  let runs = 0;
  await fc.assert(fc.asyncProperty(anyCase, async (c) => {
    runs++;
    const map = new ChannelMap();
    try {
      const [a, b] = channelPair({ map, chunkSizes: c.cuts });
      void a.write(c.wire).then(() => { a.close(); }, () => undefined);
      const out: Buffer[] = [];
      for await (const frame of frames(b, { ...c.options, readSize: 1 + (c.cuts[0] as number) })) out.push(frame);
      return JSON.stringify(hex(out)) === JSON.stringify(hex(c.frames));
    } finally {
      closeAll(map, true);
    }
  }), propertyParams(150, 8000));
  checkRuns(t, runs, 150);
});

/** Reads one frame the way `options` says: the try-read first when `sync`, the async form when it gives null. */
async function readOne(reader: FrameReader, options: FramesOptions, sync: boolean): Promise<Buffer | null> {
  const keepDelimiter = options.keepDelimiter === true;
  if (options.lengthBytes !== undefined) {
    const prefix = { lengthBytes: options.lengthBytes, endian: options.endian };
    return (sync ? reader.tryReadPrefixed(prefix) : null) ?? await reader.readPrefixed(prefix);
  }
  const delim = (options.delimiter ?? options.delimiters) as Buffer | Buffer[];
  return (sync ? reader.tryReadUntil(delim, { keepDelimiter }) : null) ?? await reader.readUntil(delim, { keepDelimiter });
}

t.test('FrameReader\'s try-reads mixed with its async reads, however the stream is cut: the frames out equal the frames in', async (t) => {
  let runs = 0;
  await fc.assert(fc.asyncProperty(anyCase, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (c, syncs) => {
    runs++;
    const map = new ChannelMap();
    try {
      const [a, b] = channelPair({ map, chunkSizes: c.cuts });
      void a.write(c.wire).then(() => { a.close(); }, () => undefined);
      const reader = new FrameReader(b, { readSize: 1 + (c.cuts[0] as number) });
      const out: Buffer[] = [];
      for (let i = 0; ; i++) {
        const frame = await readOne(reader, c.options, syncs[i % syncs.length] as boolean);
        if (frame === null) break;
        out.push(frame);
      }
      return JSON.stringify(hex(out)) === JSON.stringify(hex(c.frames));
    } finally {
      closeAll(map, true);
    }
  }), propertyParams(150, 8000));
  checkRuns(t, runs, 150);
});

t.test('RESP bulk strings read line then count, try-reads mixed with async ones, however cut: the same strings', async (t) => {
  let runs = 0;
  const bulks = fc.array(fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)), { maxLength: 10 });
  await fc.assert(fc.asyncProperty(bulks, cutsArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), async (list, cuts, syncs) => {
    runs++;
    const map = new ChannelMap();
    try {
      const [a, b] = channelPair({ map, chunkSizes: cuts });
      const wire = Buffer.concat(list.flatMap((data) => [Buffer.from(`$${data.length}\r\n`), data, Buffer.from('\r\n')]));
      void a.write(wire).then(() => { a.close(); }, () => undefined);
      const reader = new FrameReader(b, { readSize: 1 + (cuts[0] as number) });
      const sync = (i: number): boolean => syncs[i % syncs.length] as boolean;
      const out: Buffer[] = [];
      for (let i = 0; ; i += 2) {
        const header = (sync(i) ? reader.tryReadLine() : null) ?? await reader.readLine();
        if (header === null) break;
        const size = Number(header.toString('latin1').slice(1)) + 2;
        const data = (sync(i + 1) ? reader.tryReadExactly(size) : null) ?? await reader.readExactly(size);
        out.push((data as Buffer).subarray(0, -2));
      }
      return JSON.stringify(hex(out)) === JSON.stringify(hex(list));
    } finally {
      closeAll(map, true);
    }
  }), propertyParams(150, 8000));
  checkRuns(t, runs, 150);
});

t.test('frames() over loopback TCP, the peer writing each cut apart: the frames out equal the frames in', async (t) => {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  const server = new Channel(null, map);
  server.createSocket(AF_INET);
  server.bind(['127.0.0.1', 0]);
  server.listen(16);
  await server.opened;
  const port = server.port as number;
  const accepted = server.connections();
  t.teardown(() => { void accepted.return(); });
  const sockets = new Set<net.Socket>();
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  let runs = 0;
  await fc.assert(fc.asyncProperty(anyCase, async (c) => {
    runs++;
    const sock = net.connect({ host: '127.0.0.1', port, noDelay: true });
    sockets.add(sock);
    sock.on('error', () => undefined);
    const next = await deadline(accepted.next(), 'the connection');
    const conn = next.value as Channel;
    try {
      // Each cut its own write, each after the last was handed to the kernel.
      const writing = (async () => {
        for (const chunk of cut(c.wire, c.cuts)) await new Promise<void>((resolve) => { sock.write(chunk, () => { resolve(); }); });
        sock.end();
      })();
      const out: Buffer[] = [];
      for await (const frame of frames(conn, c.options)) out.push(frame);
      await writing;
      return JSON.stringify(hex(out)) === JSON.stringify(hex(c.frames));
    } finally {
      conn.close();
      sock.destroy();
      sockets.delete(sock);
    }
  }), propertyParams(60, 8000));
  checkRuns(t, runs, 60);
});
