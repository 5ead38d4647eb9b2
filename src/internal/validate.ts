// Argument checks shared by the public API. Each throws TypeError/RangeError
// and changes nothing, so a bad call leaves the channel as it was.
import { AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM, SOCK_STREAM } from '../constants.js';
import type { Family, SocketType } from '../constants.js';

export function checkFamily(family: unknown): Family {
  if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
    throw new TypeError(`Invalid address family: expected AF_INET, AF_INET6 or AF_UNIX, got ${String(family)}`);
  }
  return family;
}

export function checkSocketType(type: unknown): SocketType {
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) {
    throw new TypeError(`Invalid socket type: expected SOCK_STREAM or SOCK_DGRAM, got ${String(type)}`);
  }
  return type;
}

export interface IpAddress { readonly host: string; readonly port: number }

/** Checks an address against a family; returns the Unix path or the IP pair. */
export function checkAddress(family: Family, address: unknown): IpAddress | string {
  if (family === AF_UNIX) {
    if (typeof address !== 'string' || address.length === 0) {
      throw new TypeError(`Invalid Unix address: expected a non-empty path string, got ${typeof address}`);
    }
    return address;
  }
  if (!Array.isArray(address) || address.length !== 2) {
    throw new TypeError('Invalid address: expected a [host, port] pair');
  }
  const [host, port] = address as unknown[];
  if (typeof host !== 'string') {
    throw new TypeError(`Invalid host: expected a string, got ${typeof host}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw new TypeError(`Invalid port: expected an integer, got ${String(port)}`);
  }
  if (port < 0 || port > 65535) {
    throw new RangeError(`Invalid port: expected 0 to 65535, got ${port}`);
  }
  return { host, port };
}

export function checkPositiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Invalid ${name}: expected an integer, got ${String(value)}`);
  }
  if (value <= 0) throw new RangeError(`Invalid ${name}: expected a positive integer, got ${value}`);
  return value;
}

/** Longest delay Node's timers keep: longer ones fire after 1 ms instead. */
export const MAX_TIMER_SECONDS = 2_147_483.647;

/**
 * Checks a number of seconds for a timer: 0 up to {@link MAX_TIMER_SECONDS},
 * or `Infinity` (never) where `infinite` says it means something.
 */
export function checkSeconds(name: string, value: unknown, infinite = false): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`Invalid ${name}: expected a number of seconds, got ${String(value)}`);
  }
  if (value === Infinity && infinite) return value;
  if (value < 0 || value > MAX_TIMER_SECONDS) {
    const most = infinite ? `${MAX_TIMER_SECONDS} or Infinity` : `${MAX_TIMER_SECONDS}`;
    throw new RangeError(`Invalid ${name}: expected 0 to ${most} seconds, got ${value}`);
  }
  return value;
}

/** Converts what `send()` accepts to a Buffer without copying a Uint8Array. */
export function toBuffer(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError(`Invalid data: expected a Buffer, Uint8Array or string, got ${data === null ? 'null' : typeof data}`);
}
