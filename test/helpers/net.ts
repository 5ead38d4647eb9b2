// Shared test fixtures: loopback listeners on port 0, Unix paths in a temp
// dir, and teardown registered the moment a resource exists.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import { AF_INET, AF_INET6, AF_UNIX, Channel, ChannelMap, closeAll } from '../../src/index.js';
import type { Address, Family } from '../../src/index.js';

export interface FamilyCase {
  readonly name: string;
  readonly family: Family;
  /** An address to listen on: port 0, or a fresh Unix path. */
  listenAddress(t: Test): Address;
}

export const families: readonly FamilyCase[] = [
  { name: 'IPv4', family: AF_INET, listenAddress: () => ['127.0.0.1', 0] },
  { name: 'IPv6', family: AF_INET6, listenAddress: () => ['::1', 0] },
  { name: 'Unix', family: AF_UNIX, listenAddress: (t) => path.join(tempDir(t), 's.sock') },
];

export function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'asyncore-test-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  return dir;
}

/** A map whose channels are all closed when the test ends. */
export function testMap(t: Test): ChannelMap {
  const map = new ChannelMap();
  t.teardown(() => { closeAll(map, true); });
  return map;
}

/** A listening plain channel; resolves once it is listening. */
export async function listener(t: Test, map: ChannelMap, fam: FamilyCase, options = {}): Promise<Channel> {
  const server = new Channel(null, map, options);
  t.teardown(() => { server.close(); });
  server.createSocket(fam.family);
  server.bind(fam.listenAddress(t));
  server.listen(64);
  await server.opened;
  return server;
}

/** A client channel connecting to `server`. */
export function client(t: Test, map: ChannelMap, fam: FamilyCase, server: Channel, options = {}): Channel {
  const channel = new Channel(null, map, options);
  t.teardown(() => { channel.close(); });
  channel.createSocket(fam.family);
  channel.connect(server.addr as Address);
  return channel;
}

/** Waits until `accept()` returns a connection, then wraps it. */
export async function acceptOne(t: Test, server: Channel, map: ChannelMap): Promise<Channel> {
  for await (const ev of server) {
    if (ev.type !== 'accept') continue;
    const pair = server.accept();
    if (pair === null) continue;
    const channel = new Channel(pair[0], map);
    t.teardown(() => { channel.close(); });
    return channel;
  }
  throw new Error('Listener ended before accepting');
}

/** Reads from a channel's chunks until `length` bytes came. */
export async function readExactly(channel: Channel, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of channel.chunks()) {
    parts.push(chunk);
    total += chunk.length;
    if (total >= length) break;
  }
  return Buffer.concat(parts, total);
}

/** A raw `node:net` peer on IPv4 loopback: its port, and the first socket it accepts. */
export async function rawPeer(t: Test): Promise<{ port: number; accepted: Promise<net.Socket> }> {
  let accept!: (sock: net.Socket) => void;
  const accepted = new Promise<net.Socket>((resolve) => { accept = resolve; });
  const raw = net.createServer((sock) => {
    sock.on('error', () => undefined);
    t.teardown(() => { sock.destroy(); });
    accept(sock);
  });
  t.teardown(() => { raw.close(); });
  await new Promise<void>((resolve) => raw.listen({ host: '127.0.0.1', port: 0 }, resolve));
  return { port: (raw.address() as net.AddressInfo).port, accepted };
}
