// openDescriptor(): a channel over a descriptor that is already open (a
// pipe's end, a socket inherited from a parent) or over a child process's
// stdio pipe, with the events of a socket: `read` while bytes or the end
// wait, `write` while send() would accept bytes, `close` after the end.
import { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Channel } from './channel.js';
import { ChannelBase } from './channel-base.js';
import type { ChannelOptions } from './channel-options.js';
import type { ChannelMap } from './core/channel-map.js';
import { ChannelStateError } from './errors.js';
import { checkObject } from './internal/options.js';
import { checkNonNegativeInteger, showValue } from './internal/validate.js';
import { descriptorTransport, openFd, startDescriptor } from './transports/descriptor.js';
import type { Ways } from './transports/descriptor.js';

/**
 * What {@link openDescriptor} and {@link FileDispatcher} take: a descriptor
 * of this process (a non-negative integer), or `[child, index]`, the pipe to
 * a child process's descriptor `index` (`child.stdio[index]`, spawned with
 * `'pipe'` there).
 * @example
 * ```ts
 * import { spawn } from 'node:child_process';
 * const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
 * const toCat: DescriptorSource = [child, 0];
 * const fromCat: DescriptorSource = [child, 1];
 * const stdin: DescriptorSource = 0;
 * ```
 */
export type DescriptorSource = number | readonly [child: ChildProcess, index: number];

/**
 * The ways a descriptor channel goes: `false` turns one off (see {@link openDescriptor}).
 * @example
 * ```ts
 * const readOnly: DescriptorWays = { writable: false };
 * ```
 */
export interface DescriptorWays {
  /**
   * `false` makes the channel write-only: no `read` events, and `recv()`
   * throws a {@link ChannelStateError}. Default: what the descriptor allows.
   */
  readable?: boolean | undefined;
  /**
   * `false` makes the channel read-only: no `write` events, and `send()`
   * throws (`write()` rejects with) a {@link ChannelStateError}. Default:
   * what the descriptor allows.
   */
  writable?: boolean | undefined;
}

/**
 * Options of {@link openDescriptor}: the channel's options, its map, and
 * the ways bytes go.
 * @example
 * ```ts
 * const out = openDescriptor(1, { readable: false, writeHighWaterMark: 1 << 20 });
 * ```
 */
export interface DescriptorOptions extends ChannelOptions, DescriptorWays {
  /** The map the channel joins; default `socketMap`. */
  map?: ChannelMap;
}

/** The ways a descriptor was opened for: its access mode where Linux tells it, else both. */
function accessWays(fd: number): Ways {
  let info: string;
  try {
    info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return { readable: true, writable: true };
  }
  const flags = /^flags:\s*([0-7]+)$/m.exec(info)?.[1];
  const mode = flags === undefined ? 2 : Number.parseInt(flags, 8) & 3; // O_ACCMODE
  return { readable: mode !== 1, writable: mode !== 0 };
}

function checkWay(name: string, value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'boolean') throw new TypeError(`Invalid ${name}: expected a boolean, got ${showValue(value)}`);
  return value;
}

/** The socket of a child's stdio pipe, and the ways it goes as seen from here. */
function childPipe(source: readonly unknown[]): { sock: net.Socket; ways: Ways } {
  const [child, index] = source;
  if (source.length !== 2 || !(child instanceof ChildProcess)) {
    throw new TypeError('Invalid source: expected a descriptor or [child, index] with a ChildProcess');
  }
  checkNonNegativeInteger('stdio index', index);
  const sock = child.stdio[index as number];
  if (!(sock instanceof net.Socket)) {
    throw new TypeError(`Invalid source: the child's stdio[${String(index)}] is not a pipe (spawn it with 'pipe' there)`);
  }
  if (sock.destroyed) throw new ChannelStateError(`Cannot open stdio[${String(index)}]: its pipe is already closed`);
  if (sock.readableFlowing === true) throw new ChannelStateError(`Cannot open stdio[${String(index)}]: it is already being read`);
  // We write to the child's stdin and read its stdout and stderr; the
  // others are socket pairs that go both ways.
  return { sock, ways: { readable: index !== 0, writable: index === 0 || (index as number) > 2 } };
}

/**
 * Puts `channel` over `source`: checks every argument before anything is
 * opened, then wraps the descriptor (or takes over the child's pipe).
 * @internal For openDescriptor() and FileDispatcher.
 */
export function attachDescriptor(channel: ChannelBase, source: DescriptorSource, ways: DescriptorWays): void {
  const readable = checkWay('readable', ways.readable);
  const writable = checkWay('writable', ways.writable);
  let pipe: { sock: net.Socket | null; ways: Ways };
  if (Array.isArray(source)) {
    pipe = childPipe(source);
  } else {
    const fd = checkNonNegativeInteger('fd', source);
    pipe = { sock: null, ways: accessWays(fd) };
  }
  const use = { readable: readable && pipe.ways.readable, writable: writable && pipe.ways.writable };
  if (!use.readable && !use.writable) {
    throw new RangeError('Invalid options: a descriptor channel must be readable, writable or both');
  }
  const settings = ChannelBase.settingsOf(channel);
  if (settings.readBufferSize > 0) {
    throw new TypeError('Invalid option readBufferSize: it applies to channels that connect(), not to descriptors');
  }
  if (channel.state !== 'idle' || channel.family !== null) {
    throw new ChannelStateError(`Cannot open descriptor: the channel is ${channel.closing ? 'closed' : 'already in use'}`);
  }
  const sock = pipe.sock ?? openFd(source as number, use);
  const stream = ChannelBase.attach(channel, sock, descriptorTransport, '');
  startDescriptor(sock, stream, use, settings.idleTimeout);
}

/**
 * Makes a channel over a descriptor that is already open: a pipe's end or a
 * stream socket of this process (a number), or the pipe to a child
 * process's stdio (`[child, index]`). It is open at once and reports what a
 * socket reports: `read` while bytes or the end of stream wait for
 * `recv()`, `write` while `send()` would accept bytes (with write interest),
 * and `close` after the end of stream was taken.
 *
 * The ways it goes: for a number, what the descriptor was opened for (its
 * access mode, which Linux reports; elsewhere both ways); for a child, we
 * write to its stdin (index 0), read its stdout and stderr (1, 2), and use
 * higher indexes both ways (Node makes them socket pairs). `readable: false`
 * or `writable: false` narrows that. On a read-only channel `send()` throws
 * and `write()` rejects with a {@link ChannelStateError}; on a write-only
 * channel `recv()` throws one; neither ever reports readiness that way. A
 * write-only channel learns that its reader left only when it writes: an
 * `error` event (`EPIPE`, operation `write`), then `close`. After
 * `shutdown(SHUT_WR)` a write-only channel has nothing left to do: `close`
 * follows.
 *
 * The channel owns the descriptor: closing the channel closes it (Python's
 * `file_dispatcher` works on a duplicate instead; Node offers no `dup()`).
 * A pipe has no reset: `abort()` closes it at once, and its peer sees an end.
 *
 * Node can watch only pipes and sockets for readiness: a regular file, a
 * terminal, a directory or a device is refused with a
 * {@link BadDescriptorError} (`kind` says which), as is a descriptor that is
 * not open, before anything is opened.
 * @param source - a descriptor of this process, or `[child, index]`
 * @param options - channel options, `map`, `readable`, `writable`
 * @returns the open channel, in `options.map`
 * @throws TypeError/RangeError for a bad source or option (`readBufferSize`
 *   is not supported here); BadDescriptorError for a descriptor that is not
 *   open or not a pipe or stream socket; ChannelStateError for a child's
 *   pipe that is closed or already being read
 * @example
 * ```ts
 * import { spawn } from 'node:child_process';
 * const child = spawn('cat', [], { stdio: ['pipe', 'pipe', 'inherit'] });
 * const toCat = openDescriptor([child, 0]);
 * const fromCat = openDescriptor([child, 1]);
 * await toCat.write('hello\n');
 * toCat.shutdown(SHUT_WR); // cat sees the end, answers, and exits
 * for await (const chunk of fromCat.chunks()) process.stdout.write(chunk);
 * toCat.close(); fromCat.close();
 * ```
 */
export function openDescriptor(source: DescriptorSource, options: DescriptorOptions = {}): Channel {
  const { map, readable, writable, ...channelOptions } = checkObject(options);
  const channel = new Channel(null, map ?? null, channelOptions);
  attachDescriptor(channel, source, { readable, writable });
  return channel;
}
