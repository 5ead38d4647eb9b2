// The argument checks' messages: received values shown as JSON, bounded and
// never throwing; Unix paths checked against the kernel's limit and for NUL
// bytes; bracketed hosts refused with the fix.
import { existsSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { AF_INET, AF_INET6, AF_UNIX } from '../../src/index.js';
import {
  UNIX_PATH_LIMIT, checkAddress, checkFamily, checkPositiveInteger, checkSeconds, checkSocketType, showValue, toBuffer,
} from '../../src/internal/validate.js';
import { tempDir } from '../helpers/net.js';

t.test('showValue() quotes strings as JSON and shows numbers plain', async (t) => {
  class Thing { readonly kind = 'thing'; }
  const cases: readonly [unknown, string][] = [
    ['80', '"80"'],
    ['say "hi"\n', '"say \\"hi\\"\\n"'],
    ['', '""'],
    [80, '80'],
    [80.5, '80.5'],
    [-0, '-0'],
    [Number.NaN, 'NaN'],
    [-Infinity, '-Infinity'],
    [true, 'true'],
    [null, 'null'],
    [undefined, 'undefined'],
    [10n, '10n'],
    [Symbol('tag'), 'Symbol(tag)'],
    [['127.0.0.1', 80], '["127.0.0.1",80]'],
    [{ length: 3 }, '{"length":3}'],
    [Object.assign(Object.create(null) as object, { a: [1, { b: null }] }), '{"a":[1,{"b":null}]}'],
    [{ n: 1n, u: undefined, s: Symbol.iterator }, '{"n":1n,"u":undefined,"s":Symbol(Symbol.iterator)}'],
    [new Map(), 'a Map'],
    [Buffer.from('x'), 'a Buffer'],
    [new Uint8Array(1), 'a Uint8Array'],
    [new ArrayBuffer(3), 'an ArrayBuffer'],
    [new Thing(), 'a Thing'],
    [[new Date(0)], '[a Date]'],
    [function named() { /* empty */ }, 'a function (named)'],
    [[() => 0], '[a function]'],
  ];
  for (const [value, shown] of cases) t.equal(showValue(value), shown, shown);
});

t.test('showValue() never throws: cycles, throwing getters, proxies', async (t) => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  t.equal(showValue(cycle), '{"a":1,"self":[Circular]}');
  const list: unknown[] = [1];
  list.push(list);
  t.equal(showValue([list, list]), '[[1,[Circular]],[1,[Circular]]]', 'a repeat that is not a cycle is shown again');
  const getter = { get bad(): never { throw new Error('boom'); } };
  t.equal(showValue(getter), 'an object');
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  t.equal(showValue(proxy), 'an object');
  t.equal(showValue(new Proxy({}, { getPrototypeOf() { throw new Error('trap'); } })), 'an object');
  t.equal(showValue(Object.create({ constructor: { get name(): never { throw new Error('name'); } } }) as object), 'an object');
  t.equal(showValue(Object.create({ constructor: null }) as object), 'an object');
});

t.test('showValue() bounds its text and what it reads', async (t) => {
  const long = showValue('x'.repeat(1_000_000));
  t.equal(long, `"${'x'.repeat(80)}…"`, 'a long string is cut, the cut marked inside the quotes');
  t.equal(showValue(['y'.repeat(200)]), `["${'y'.repeat(78)}…`, 'inside an array too');
  t.ok(showValue(Array.from({ length: 100_000 }, (_, i) => i)).length <= 81, 'a long array');
  let deep: unknown = [];
  for (let i = 0; i < 100_000; i++) deep = [deep];
  t.ok(showValue(deep).endsWith('…'), 'deep nesting is cut, not a stack overflow');
  let reads = 0;
  const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
  const counted = new Proxy(many, { get(target, key) { reads++; return target[key as string]; } });
  t.ok(showValue(counted).length <= 81);
  t.ok(reads < 50, `read ${reads} of 1000 values`);
  t.equal(showValue(Symbol('s'.repeat(200))).length, 81, 'a long symbol description');
  t.equal(showValue(`${'a'.repeat(79)}😀`), `"${'a'.repeat(79)}…"`, 'no half of a surrogate pair');
  t.equal(showValue('a'.repeat(80)), `"${'a'.repeat(80)}"`, 'a string that fits is whole');
});

t.test('checkAddress() shows the received host and port as JSON', async (t) => {
  for (const family of [AF_INET, AF_INET6] as const) {
    t.throws(() => checkAddress(family, ['127.0.0.1', '80']), { name: 'TypeError', message: 'Invalid port: expected an integer, got "80"' });
    t.throws(() => checkAddress(family, ['127.0.0.1', 80.5]), { message: 'Invalid port: expected an integer, got 80.5' });
    t.throws(() => checkAddress(family, ['127.0.0.1', 65536]), { name: 'RangeError', message: 'Invalid port: expected 0 to 65535, got 65536' });
    t.throws(() => checkAddress(family, [127, 80]), { name: 'TypeError', message: 'Invalid host: expected a string, got 127' });
    t.throws(() => checkAddress(family, [null, 80]), { message: 'Invalid host: expected a string, got null' });
    t.throws(() => checkAddress(family, '/tmp/x.sock'), {
      name: 'TypeError', message: 'Invalid address: expected a [host, port] pair, got "/tmp/x.sock"',
    });
    t.throws(() => checkAddress(family, ['::1', 80, 0]), { message: 'Invalid address: expected a [host, port] pair, got ["::1",80,0]' });
  }
});

t.test('checkAddress() refuses a host in brackets, saying how to write it', async (t) => {
  for (const family of [AF_INET, AF_INET6] as const) {
    t.throws(() => checkAddress(family, ['[::1]', 80]), {
      name: 'TypeError', message: 'Invalid host: "[::1]" has brackets; write it without them: "::1"',
    });
    t.throws(() => checkAddress(family, ['[127.0.0.1]', 0]), { message: /write it without them: "127\.0\.0\.1"$/ });
  }
  t.same(checkAddress(AF_INET6, ['::1', 80]), { host: '::1', port: 80 });
  t.same(checkAddress(AF_INET6, ['[', 80]), { host: '[', port: 80 }, 'a lone bracket is left to the resolver');
});

t.test('checkAddress() for AF_UNIX shows a non-path as JSON and refuses NUL bytes', async (t) => {
  t.throws(() => checkAddress(AF_UNIX, 42), { name: 'TypeError', message: 'Invalid Unix address: expected a non-empty path string, got 42' });
  t.throws(() => checkAddress(AF_UNIX, ''), { message: 'Invalid Unix address: expected a non-empty path string, got ""' });
  t.throws(() => checkAddress(AF_UNIX, ['127.0.0.1', 0]), { message: /got \["127\.0\.0\.1",0\]$/ });
  t.throws(() => checkAddress(AF_UNIX, '/tmp/a\0b.sock'), {
    name: 'TypeError', message: /^Invalid Unix address: "\/tmp\/a\\u0000b\.sock" has a NUL byte/,
  });
  if (process.platform === 'linux') {
    t.equal(checkAddress(AF_UNIX, '\0asyncore'), '\0asyncore', "a leading NUL is Linux's abstract namespace");
    t.throws(() => checkAddress(AF_UNIX, '\0a\0b'), TypeError, 'but not a second NUL');
  } else {
    t.throws(() => checkAddress(AF_UNIX, '\0asyncore'), TypeError, 'no abstract namespace here');
  }
});

t.test('checkAddress() for AF_UNIX counts the path in UTF-8 bytes against the limit', { skip: process.platform === 'win32' && 'named pipes' }, async (t) => {
  const dir = '/tmp/';
  const wide = dir + 'é'.repeat(UNIX_PATH_LIMIT); // under the limit in characters, twice it in bytes
  const bytes = Buffer.byteLength(wide);
  t.throws(() => checkAddress(AF_UNIX, wide), {
    name: 'RangeError',
    message: `Invalid Unix address: ${showValue(wide)} is ${bytes} bytes in UTF-8, over the ${UNIX_PATH_LIMIT}-byte limit on ${process.platform}`,
  });
  const rest = UNIX_PATH_LIMIT - dir.length;
  const full = dir + 'x'.repeat(rest % 2) + 'é'.repeat(Math.floor(rest / 2));
  t.equal(Buffer.byteLength(full), UNIX_PATH_LIMIT);
  t.equal(checkAddress(AF_UNIX, full), full, 'exactly the limit in bytes is fine');
  t.throws(() => checkAddress(AF_UNIX, `${full}x`), RangeError, 'one byte more is not');
});

t.test('checkAddress() for AF_UNIX allows exactly the longest path the kernel binds', { skip: process.platform === 'win32' && 'named pipes' }, async (t) => {
  const dir = tempDir(t);
  /** A path in `dir` of exactly `bytes` bytes. */
  const pathOf = (bytes: number, fill: string): string => path.join(dir, fill.repeat(bytes - Buffer.byteLength(dir) - 1));
  const longest = pathOf(UNIX_PATH_LIMIT, 'a');
  const over = pathOf(UNIX_PATH_LIMIT + 1, 'b');
  t.equal(checkAddress(AF_UNIX, longest), longest);
  t.throws(() => checkAddress(AF_UNIX, over), RangeError);
  t.comment(`Unix path limit on ${process.platform}: ${UNIX_PATH_LIMIT} bytes`);

  // The kernel takes the longest path as it is: a socket there, and a client connects.
  const server = net.createServer((sock) => { sock.destroy(); });
  t.teardown(() => { server.close(); });
  await new Promise<void>((resolve, reject) => { server.once('error', reject).listen(longest, resolve); });
  t.ok(statSync(longest).isSocket(), 'a socket at exactly the path');
  const client = net.connect(longest);
  t.teardown(() => { client.destroy(); });
  await new Promise<void>((resolve, reject) => { client.once('error', reject).once('connect', resolve); });

  // One byte more cannot be honoured: Node either refuses it or binds a shorter path.
  const cut = net.createServer();
  t.teardown(() => { cut.close(); });
  const outcome = await new Promise<string>((resolve) => {
    cut.once('error', (error: NodeJS.ErrnoException) => { resolve(`refused (${error.code ?? error.message})`); });
    cut.listen(over, () => { resolve(existsSync(over) ? 'bound as asked' : 'bound elsewhere'); });
  });
  t.not(outcome, 'bound as asked', `one byte over the limit: ${outcome}`);
});

t.test('the other checks show the received value as JSON', async (t) => {
  t.throws(() => checkFamily('AF_PACKET'), { name: 'TypeError', message: 'Invalid address family: expected AF_INET, AF_INET6 or AF_UNIX, got "AF_PACKET"' });
  t.throws(() => checkFamily({}), { message: /, got \{\}$/ });
  t.throws(() => checkSocketType('SOCK_RAW'), { message: 'Invalid socket type: expected SOCK_STREAM or SOCK_DGRAM, got "SOCK_RAW"' });
  t.throws(() => checkPositiveInteger('size', '4'), { name: 'TypeError', message: 'Invalid size: expected an integer, got "4"' });
  t.throws(() => checkPositiveInteger('size', 0), { name: 'RangeError', message: 'Invalid size: expected a positive integer, got 0' });
  t.throws(() => checkPositiveInteger('size', 1n), { message: 'Invalid size: expected an integer, got 1n' });
  t.throws(() => checkSeconds('closeTimeout', '5'), { name: 'TypeError', message: 'Invalid closeTimeout: expected a number of seconds, got "5"' });
  t.throws(() => checkSeconds('closeTimeout', { seconds: 5 }), { message: /, got \{"seconds":5\}$/ });
  t.throws(() => checkSeconds('closeTimeout', Number.NaN), { message: /, got NaN$/ });
  t.throws(() => toBuffer({ length: 3 }), { name: 'TypeError', message: 'Invalid data: expected a Buffer, Uint8Array or string, got {"length":3}' });
  t.throws(() => toBuffer([1, 2, 3]), { message: /, got \[1,2,3\]$/ });
  t.throws(() => toBuffer(new ArrayBuffer(3)), { message: /, got an ArrayBuffer$/ });
  t.throws(() => toBuffer(Symbol('x')), { message: /, got Symbol\(x\)$/ });
});
