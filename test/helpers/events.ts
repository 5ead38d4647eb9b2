// Helpers for tests that drive a channel's events by hand: take one event at
// a time, check that none is ready, accept with options, consume to the end.
import net from 'node:net';
import type { Test } from 'tap';
import { Channel } from '../../src/index.js';
import type { ChannelEvent, ChannelMap, ChannelOptions } from '../../src/index.js';

/** Resolves on the next macrotask, so pending I/O callbacks get one turn. */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The next event of an iterator; fails the test if the iteration ended. */
export async function nextEvent(it: AsyncIterator<ChannelEvent>): Promise<ChannelEvent> {
  const result = await it.next();
  if (result.done === true) throw new Error('Cannot take the next event: the iteration ended');
  return result.value;
}

/** Takes events until one matches; returns it. */
export async function untilEvent(
  it: AsyncIterator<ChannelEvent>,
  match: (ev: ChannelEvent) => boolean,
): Promise<ChannelEvent> {
  for (;;) {
    const ev = await nextEvent(it);
    if (match(ev)) return ev;
  }
}

/**
 * Whether a promise is still pending once every microtask and one macrotask
 * have run. An event that is ready resolves `next()` within microtasks, so a
 * still-pending `next()` means no event holds now.
 */
export async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => { settled = true; }, () => { settled = true; });
  await macrotask();
  return !settled;
}

/** Waits for the listener's next connection and wraps it with `options`. */
export async function acceptWith(
  t: Test,
  server: Channel,
  map: ChannelMap,
  options: ChannelOptions = {},
): Promise<Channel> {
  const it = server[Symbol.asyncIterator]();
  for (;;) {
    const ev = await nextEvent(it);
    if (ev.type !== 'accept') continue;
    const pair = server.accept();
    if (pair === null) continue;
    await it.return?.();
    const channel = new Channel(pair[0], map, options);
    t.teardown(() => { channel.close(); });
    return channel;
  }
}

/**
 * Iterates a channel to its end, taking every byte on `read`; returns the
 * event types seen and the bytes received.
 */
export async function consume(channel: Channel): Promise<{ types: string[]; data: Buffer }> {
  const types: string[] = [];
  const parts: Buffer[] = [];
  for await (const ev of channel) {
    types.push(ev.type);
    if (ev.type === 'read') {
      const data = channel.recv(65536);
      if (data !== null) parts.push(data);
    }
  }
  return { types, data: Buffer.concat(parts) };
}

/** A plain Node socket connected to `path` or `[host, port]`, destroyed at teardown. */
export async function rawClient(t: Test, address: string | readonly [string, number]): Promise<net.Socket> {
  const sock = typeof address === 'string'
    ? net.connect({ path: address, allowHalfOpen: true })
    : net.connect({ host: address[0], port: address[1], allowHalfOpen: true });
  t.teardown(() => { sock.destroy(); });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return sock;
}

/** Every byte a plain socket receives until its end of stream. */
export function readAll(sock: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    sock.on('data', (chunk: Buffer) => parts.push(chunk));
    sock.once('end', () => { resolve(Buffer.concat(parts)); });
    sock.once('error', reject);
  });
}

/** A payload whose bytes are not all alike, so a lost or reordered chunk shows. */
export function pattern(length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let filled = Math.min(length, PATTERN_BASE.length);
  PATTERN_BASE.copy(buf, 0, 0, filled);
  while (filled < length) filled += buf.copy(buf, filled, 0, Math.min(filled, length - filled));
  return buf;
}

// A prime length, so the tiled pattern does not line up with power-of-two chunks.
const PATTERN_BASE = Buffer.from(Array.from({ length: 65521 }, (_, i) => (i * 31 + (i >>> 8)) & 0xff));

/** Sends synchronously until `send()` accepts nothing more; returns what was accepted. */
export function fill(channel: Channel, chunkSize = 65536): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  for (;;) {
    const chunk = pattern(chunkSize + (offset % 7)).subarray(offset % 7);
    const sent = channel.send(chunk);
    if (sent === 0) break;
    parts.push(chunk.subarray(0, sent));
    offset += sent;
  }
  return Buffer.concat(parts);
}

/** The type of the event an iterator result carries, or `'done'`. */
export function typeOf(result: IteratorResult<ChannelEvent>): string {
  return result.done === true ? 'done' : result.value.type;
}
