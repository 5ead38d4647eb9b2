// The descriptor binding of the stream role: a pipe's end or a stream socket
// given as a number, or a child process's stdio stream. Both become a
// `net.Socket`, so the net binding's listeners serve them as they are; what
// this file adds is the check of what the descriptor is (Node streams only
// pipes and sockets), the direction, and the abrupt close: a pipe has no
// reset, so it is released.
import { fstatSync } from 'node:fs';
import net from 'node:net';
import { isatty } from 'node:tty';
import { BadDescriptorError } from '../errors.js';
import type { DescriptorKind } from '../errors.js';
import type { StreamRole, StreamTransport } from '../roles/stream.js';
import { startAccepted } from './net-stream.js';

/** Which ways bytes go through a descriptor: at least one is true. */
export interface Ways {
  readonly readable: boolean;
  readonly writable: boolean;
}

/** A pipe or a descriptor-backed socket has no reset: the peer sees an end. */
export const descriptorTransport: StreamTransport = {
  reset(binding): void {
    binding.destroy();
  },
};

/** What `fd` is, by fstat(2); throws BadDescriptorError when it is not open. */
function kindOf(fd: number): DescriptorKind | 'pipe' | 'socket' {
  let stats;
  try {
    stats = fstatSync(fd);
  } catch (error) {
    throw new BadDescriptorError(fd, 'closed', { cause: error });
  }
  if (stats.isFIFO()) return 'pipe';
  if (stats.isSocket()) return 'socket';
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isCharacterDevice()) return isatty(fd) ? 'tty' : 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return 'unknown';
}

/**
 * Wraps `fd` in a socket, after checking that it is a pipe or a socket
 * (nothing is opened otherwise). The socket owns the descriptor from then:
 * destroying it closes `fd`.
 * @throws BadDescriptorError for a descriptor that is not open or not a pipe or stream socket
 */
export function openFd(fd: number, ways: Ways): net.Socket {
  const kind = kindOf(fd);
  if (kind !== 'pipe' && kind !== 'socket') throw new BadDescriptorError(fd, kind);
  try {
    return new net.Socket({ fd, readable: ways.readable, writable: ways.writable, allowHalfOpen: true });
  } catch (error) {
    // fstat(2) cannot tell a datagram socket from a stream socket; Node can.
    if ((error as { code?: unknown }).code === 'ERR_INVALID_FD_TYPE') {
      throw new BadDescriptorError(fd, 'unsupported socket', { cause: error });
    }
    throw error;
  }
}

/**
 * Starts the stream of a descriptor's socket: one-way as `ways` says, and
 * open at once (a pipe is connected from birth).
 */
export function startDescriptor(sock: net.Socket, stream: StreamRole, ways: Ways, idleTimeout: number): void {
  if (!ways.writable) stream.oneWay('read');
  else if (!ways.readable) stream.oneWay('write');
  // Our side ends only when the channel says so, as for every other socket.
  sock.allowHalfOpen = true;
  startAccepted(sock, stream, idleTimeout, undefined);
}
