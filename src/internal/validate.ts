// Argument checks shared by the public API. Each throws TypeError/RangeError
// and changes nothing, so a bad call leaves the channel as it was.
import { AF_INET, AF_INET6, AF_UNIX, SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_DGRAM, SOCK_STREAM } from '../constants.js';
import type { Family, ShutdownHow, SocketType } from '../constants.js';

/** Longest a received value is shown in a message, in characters, before `…`. */
const SHOWN_LENGTH = 80;

/**
 * Shows a received value in an error message: strings quoted as JSON, numbers
 * plain, arrays and plain objects as JSON (`[Circular]` for a cycle, `1n` for a
 * BigInt), anything else by its kind (`a Map`, `a function`). What is longer
 * than {@link SHOWN_LENGTH} characters is cut, the cut marked with `…`.
 * Never throws, and reads no more of an array's or object's values than it shows.
 */
export function showValue(value: unknown): string {
  try {
    if (typeof value === 'string') return quote(value);
    const text = { value: '' };
    write(text, value, []);
    return clip(text.value);
  } catch {
    // A proxy's trap or a getter threw: say what it is, not what it holds.
    return typeof value === 'object' ? 'an object' : typeof value;
  }
}

function write(text: { value: string }, value: unknown, seen: object[]): void {
  if (typeof value !== 'object' || value === null || !isJsonLike(value)) {
    text.value += scalar(value);
    return;
  }
  if (seen.includes(value)) {
    text.value += '[Circular]';
    return;
  }
  seen.push(value);
  const array = Array.isArray(value);
  const keys = array ? null : Object.keys(value);
  const length = keys === null ? (value as unknown[]).length : keys.length;
  text.value += array ? '[' : '{';
  for (let i = 0; i < length && text.value.length <= SHOWN_LENGTH; i++) {
    if (i > 0) text.value += ',';
    const key = keys === null ? i : keys[i] as string;
    if (keys !== null) text.value += `${JSON.stringify(key)}:`;
    write(text, (value as Record<string | number, unknown>)[key], seen);
  }
  text.value += array ? ']' : '}';
  seen.pop();
}

/** Arrays and objects whose prototype is `Object.prototype` or null. */
function isJsonLike(value: object): boolean {
  if (Array.isArray(value)) return true;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function scalar(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return value.name === '' ? 'a function' : `a function (${value.name})`;
    case 'object': {
      if (value === null) return 'null';
      const name: unknown = (Object.getPrototypeOf(value) as { constructor?: { name?: unknown } }).constructor?.name;
      if (typeof name !== 'string' || name === '') return 'an object';
      return `${/^[AEIO]/.test(name) ? 'an' : 'a'} ${name}`;
    }
    default:
      return String(value);
  }
}

/** A string as JSON, its first {@link SHOWN_LENGTH} characters only, `…` inside the quotes where cut. */
function quote(value: string): string {
  if (value.length <= SHOWN_LENGTH) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, cutAt(value))).slice(0, -1)}…"`;
}

/** Cuts text longer than {@link SHOWN_LENGTH}, marking the cut with `…`. */
function clip(text: string): string {
  return text.length <= SHOWN_LENGTH ? text : `${text.slice(0, cutAt(text))}…`;
}

/** Where to cut text to {@link SHOWN_LENGTH} characters without splitting a surrogate pair. */
function cutAt(text: string): number {
  const last = text.charCodeAt(SHOWN_LENGTH - 1);
  return last >= 0xd800 && last <= 0xdbff ? SHOWN_LENGTH - 1 : SHOWN_LENGTH;
}

export function checkFamily(family: unknown): Family {
  if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) {
    throw new TypeError(`Invalid address family: expected AF_INET, AF_INET6 or AF_UNIX, got ${showValue(family)}`);
  }
  return family;
}

export function checkShutdownHow(how: unknown): ShutdownHow {
  if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) {
    throw new TypeError(`Invalid how: expected SHUT_RD, SHUT_WR or SHUT_RDWR, got ${showValue(how)}`);
  }
  return how;
}

export function checkSocketType(type: unknown): SocketType {
  if (type !== SOCK_STREAM && type !== SOCK_DGRAM) {
    throw new TypeError(`Invalid socket type: expected SOCK_STREAM or SOCK_DGRAM, got ${showValue(type)}`);
  }
  return type;
}

/**
 * Most bytes of a Unix socket path, in UTF-8: the size of `sun_path`, which
 * libuv fills without a terminating NUL (the kernel accepts that) and past
 * which it silently cuts the path. Windows has named pipes instead: no limit.
 */
export const UNIX_PATH_LIMIT: number = process.platform === 'win32' ? Infinity
  : ['darwin', 'freebsd', 'openbsd', 'netbsd'].includes(process.platform) ? 104
    : 108;

function checkUnixPath(address: unknown): string {
  if (typeof address !== 'string' || address.length === 0) {
    throw new TypeError(`Invalid Unix address: expected a non-empty path string, got ${showValue(address)}`);
  }
  // A NUL would end the path early; a leading one is Linux's abstract namespace.
  const abstract = process.platform === 'linux' && address.startsWith('\0');
  if (address.includes('\0', abstract ? 1 : 0)) {
    const allowed = process.platform === 'linux' ? ' after the first byte (a leading one means the abstract namespace)' : '';
    throw new TypeError(`Invalid Unix address: ${showValue(address)} has a NUL byte${allowed}`);
  }
  const bytes = Buffer.byteLength(address, 'utf8');
  if (bytes > UNIX_PATH_LIMIT) {
    throw new RangeError(
      `Invalid Unix address: ${showValue(address)} is ${bytes} bytes in UTF-8, over the ${UNIX_PATH_LIMIT}-byte limit on ${process.platform}`);
  }
  return address;
}

export interface IpAddress { readonly host: string; readonly port: number }

/** Checks an address against a family; returns the Unix path or the IP pair. */
export function checkAddress(family: Family, address: unknown): IpAddress | string {
  if (family === AF_UNIX) return checkUnixPath(address);
  if (!Array.isArray(address) || address.length !== 2) {
    throw new TypeError(`Invalid address: expected a [host, port] pair, got ${showValue(address)}`);
  }
  const [host, port] = address as unknown[];
  if (typeof host !== 'string') {
    throw new TypeError(`Invalid host: expected a string, got ${showValue(host)}`);
  }
  // Brackets belong around an IPv6 address in a URL, not in a host name.
  if (host.length > 1 && host.startsWith('[') && host.endsWith(']')) {
    throw new TypeError(`Invalid host: ${showValue(host)} has brackets; write it without them: ${showValue(host.slice(1, -1))}`);
  }
  if (typeof port !== 'number' || !Number.isInteger(port)) {
    throw new TypeError(`Invalid port: expected an integer, got ${showValue(port)}`);
  }
  if (port < 0 || port > 65535) {
    throw new RangeError(`Invalid port: expected 0 to 65535, got ${port}`);
  }
  return { host, port };
}

export function checkPositiveInteger(name: string, value: unknown): number {
  if (checkInteger(name, value) <= 0) throw new RangeError(`Invalid ${name}: expected a positive integer, got ${showValue(value)}`);
  return value as number;
}

export function checkNonNegativeInteger(name: string, value: unknown): number {
  if (checkInteger(name, value) < 0) throw new RangeError(`Invalid ${name}: expected a non-negative integer, got ${showValue(value)}`);
  return value as number;
}

function checkInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Invalid ${name}: expected an integer, got ${showValue(value)}`);
  }
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
    throw new TypeError(`Invalid ${name}: expected a number of seconds, got ${showValue(value)}`);
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
  throw new TypeError(`Invalid data: expected a Buffer, Uint8Array or string, got ${showValue(data)}`);
}
