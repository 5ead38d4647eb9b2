// A Redis-protocol (RESP2) server on serve() and the framing layer: one
// FrameReader per connection, one in-memory Map shared by all.
//
//   node build/examples/resp-server.js [--port N] [--host H]
//
// --port 0 (the default) takes any free port; --host defaults to 127.0.0.1.
// Prints exactly one line, `listening HOST:PORT`, once ready; SIGTERM or
// SIGINT closes the server (idle connections at once, busy ones once their
// replies are sent) and exits 0. Try it with
//   redis-cli -p PORT set greeting hello; redis-cli -p PORT get greeting
//   redis-benchmark -p PORT -t ping,set,get -n 100000 -P 16 -q
//
// Commands come as RESP arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`)
// or as inline lines (`GET k`, split on spaces). Known: PING [message], ECHO,
// SET key value [EX seconds | PX milliseconds], GET, DEL key..., EXISTS key...,
// INCR, QUIT, and CONFIG GET (only `save` and `appendonly`, which
// redis-benchmark asks for at start). A pipeline is answered in order, the
// replies to every command already received written at once, just before the
// server waits for more input: the parser reads with the reader's synchronous
// reads while the bytes held hold a whole command, and waits only when not. A malformed request (a bad `*` or `$` length,
// a line longer than 64 KiB, a bulk string over 64 MiB rather than Redis's
// 512 MB) is answered `-ERR Protocol error: ...` and the connection closed,
// as Redis does.
import { parseArgs } from 'node:util';
import { FrameReader, FrameTooLongError, IncompleteFrameError, serve } from 'asyncore';
import type { Channel, ServeContext } from 'asyncore';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Invalid --port: ${values.port}`);

/** The longest inline command or `*`/`$` header line (Redis's PROTO_INLINE_MAX_SIZE). */
const MAX_LINE = 64 * 1024;
/** The longest bulk string: Redis allows 512 MB; an example need not hold that much per connection. */
const MAX_BULK = 64 * 1024 * 1024;
/** The most arguments in one command (Redis's bound as well). */
const MAX_ARGS = 1024 * 1024;

/** A request the protocol cannot parse: answered, then the connection closes. */
class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** The replies to the commands read so far, in RESP, joined into one write. */
class Replies {
  #parts: Buffer[] = [];
  #text = '';
  simple(text: string): void { this.#text += `+${text}\r\n`; }
  error(text: string): void { this.#text += `-${text}\r\n`; }
  integer(n: number | bigint): void { this.#text += `:${n}\r\n`; }
  bulk(data: Buffer | null): void {
    if (data === null) {
      this.#text += '$-1\r\n';
      return;
    }
    this.#parts.push(Buffer.from(`${this.#text}$${data.length}\r\n`, 'latin1'), data);
    this.#text = '\r\n';
  }
  array(items: readonly Buffer[]): void {
    this.#text += `*${items.length}\r\n`;
    for (const item of items) this.bulk(item);
  }
  /** Everything held, in one Buffer, or null when there is nothing. */
  take(): Buffer | null {
    if (this.#parts.length === 0) {
      if (this.#text === '') return null;
      const data = Buffer.from(this.#text, 'latin1');
      this.#text = '';
      return data;
    }
    if (this.#text !== '') this.#parts.push(Buffer.from(this.#text, 'latin1'));
    const data = Buffer.concat(this.#parts);
    this.#parts = [];
    this.#text = '';
    return data;
  }
}

// The data: values by key (keys as latin1 strings: byte for byte), and the
// deadlines of those set with EX or PX, checked when the key is read.
const store = new Map<string, Buffer>();
const deadlines = new Map<string, number>();

function lookUp(key: string): Buffer | undefined {
  if (deadlines.size > 0) {
    const at = deadlines.get(key);
    if (at !== undefined && at <= Date.now()) {
      deadlines.delete(key);
      store.delete(key);
    }
  }
  return store.get(key);
}

function remove(key: string): boolean {
  deadlines.delete(key);
  return lookUp(key) !== undefined && store.delete(key);
}

const NOT_AN_INTEGER = 'ERR value is not an integer or out of range';
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A signed 64-bit integer written as Redis writes one (no sign '+', no leading zero), else null. */
function toInteger(data: Buffer): bigint | null {
  if (data.length > 20 || !/^(0|-?[1-9][0-9]*)$/.test(data.toString('latin1'))) return null;
  const n = BigInt(data.toString('latin1'));
  return n < INT64_MIN || n > INT64_MAX ? null : n;
}

/** SET's options: the time to live in ms (null: none), or the error to answer. */
function timeToLive(options: readonly Buffer[]): number | null | string {
  let ttl: number | null = null;
  for (let i = 0; i < options.length; i += 2) {
    const option = options[i]?.toString('latin1').toUpperCase();
    const amount = options[i + 1];
    if ((option !== 'EX' && option !== 'PX') || amount === undefined || ttl !== null) return 'ERR syntax error';
    const n = toInteger(amount);
    if (n === null) return NOT_AN_INTEGER;
    if (n <= 0n) return "ERR invalid expire time in 'set' command";
    ttl = Number(n) * (option === 'EX' ? 1000 : 1);
  }
  return ttl;
}

function set(args: readonly Buffer[], replies: Replies): void {
  const [, key, value] = args as [Buffer, Buffer, Buffer];
  const ttl = timeToLive(args.slice(3));
  if (typeof ttl === 'string') {
    replies.error(ttl);
    return;
  }
  const name = key.toString('latin1');
  store.set(name, Buffer.from(value)); // a copy: the argument is a view of a whole chunk read
  if (ttl === null) deadlines.delete(name);
  else deadlines.set(name, Date.now() + ttl);
  replies.simple('OK');
}

function incr(key: Buffer, replies: Replies): void {
  const name = key.toString('latin1');
  const old = lookUp(name);
  const n = old === undefined ? 0n : toInteger(old);
  if (n === null || n === INT64_MAX) {
    replies.error(n === null ? NOT_AN_INTEGER : 'ERR increment or decrement would overflow');
    return;
  }
  store.set(name, Buffer.from(String(n + 1n), 'latin1'));
  replies.integer(n + 1n);
}

/** What a command does; `quit` ends the connection once its reply is sent. */
type Command = (args: readonly Buffer[], replies: Replies) => 'quit' | undefined;

/** The commands: their arity as Redis counts it (the name included; negative: at least), and what they do. */
const commands = new Map<string, { arity: number; run: Command }>([
  ['ping', { arity: -1, run: (args, replies) => {
    if (args.length > 2) replies.error("ERR wrong number of arguments for 'ping' command");
    else if (args.length === 2) replies.bulk(args[1] as Buffer);
    else replies.simple('PONG');
  } }],
  ['echo', { arity: 2, run: (args, replies) => { replies.bulk(args[1] as Buffer); } }],
  ['set', { arity: -3, run: (args, replies) => { set(args, replies); } }],
  ['get', { arity: 2, run: (args, replies) => { replies.bulk(lookUp((args[1] as Buffer).toString('latin1')) ?? null); } }],
  ['del', { arity: -2, run: (args, replies) => {
    replies.integer(args.slice(1).filter((key) => remove(key.toString('latin1'))).length);
  } }],
  ['exists', { arity: -2, run: (args, replies) => {
    replies.integer(args.slice(1).filter((key) => lookUp(key.toString('latin1')) !== undefined).length);
  } }],
  ['incr', { arity: 2, run: (args, replies) => { incr(args[1] as Buffer, replies); } }],
  ['quit', { arity: -1, run: (_args, replies) => { replies.simple('OK'); return 'quit'; } }],
  ['config', { arity: -2, run: (args, replies) => {
    if (args[1]?.toString('latin1').toLowerCase() !== 'get' || args.length !== 3) {
      replies.error("ERR unknown subcommand or wrong number of arguments for 'config' command");
      return;
    }
    // What a server with no persistence answers; any other parameter: none.
    const known: Record<string, string> = { save: '', appendonly: 'no' };
    const name = (args[2] as Buffer).toString('latin1').toLowerCase();
    replies.array(name in known ? [Buffer.from(name), Buffer.from(known[name] ?? '')] : []);
  } }],
]);

function execute(args: readonly Buffer[], replies: Replies): 'quit' | undefined {
  const name = (args[0] as Buffer).toString('latin1');
  const command = commands.get(name.toLowerCase());
  if (command === undefined) {
    const given = args.slice(1, 21).map((arg) => `'${arg.toString('latin1')}' `).join('');
    replies.error(`ERR unknown command '${name}', with args beginning with: ${given}`);
    return undefined;
  }
  if (command.arity > 0 ? args.length !== command.arity : args.length < -command.arity) {
    replies.error(`ERR wrong number of arguments for '${name.toLowerCase()}' command`);
    return undefined;
  }
  return command.run(args, replies);
}

/** A non-negative decimal after the first byte of `line` (`*3`, `$5`), -1 for `*-1`/`$-1`, else NaN. */
function headerNumber(line: Buffer): number {
  if (line.length === 3 && line[1] === 0x2d && line[2] === 0x31) return -1;
  if (line.length < 2 || line.length > 11) return NaN;
  let n = 0;
  for (let i = 1; i < line.length; i++) {
    const digit = (line[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return NaN;
    n = n * 10 + digit;
  }
  return n;
}

/** An inline command's arguments, split on spaces; one word alone (PING) is the common case. */
function inline(line: Buffer): Buffer[] {
  if (line.length > 0 && !line.includes(0x20)) return [line];
  return line.toString('latin1').split(' ').filter((arg) => arg !== '').map((arg) => Buffer.from(arg, 'latin1'));
}

/**
 * Cuts commands from a reader with its synchronous reads, so a pipeline held
 * whole is parsed in one loop, no promise per read. A command cut by the end
 * of the bytes held stays begun here: wait() reads its next piece (with the
 * reader's async form, which waits for the socket), and next() goes on.
 */
class CommandParser {
  readonly #reader: FrameReader;
  /** The arguments of the command begun, and how many it has (-1: its first line is still to come). */
  #args: Buffer[] = [];
  #count = -1;
  /** The length of the bulk string begun (-1: its `$` line is still to come). */
  #length = -1;
  /** A frame read by wait(), taken before the reader's. */
  #waited: Buffer | null = null;

  constructor(reader: FrameReader) {
    this.#reader = reader;
  }

  /**
   * The next command's arguments ([] for an empty one, which Redis ignores)
   * when the bytes held finish it, else null. Throws a ProtocolError for a
   * malformed one.
   */
  next(): Buffer[] | null {
    if (this.#count < 0) {
      const line = this.#line();
      if (line === null) return null;
      if (line[0] !== 0x2a) return inline(line);
      const count = headerNumber(line);
      if (Number.isNaN(count) || count > MAX_ARGS) throw new ProtocolError('invalid multibulk length');
      if (count <= 0) return [];
      this.#count = count;
    }
    while (this.#args.length < this.#count) {
      if (this.#length < 0) {
        const header = this.#line();
        if (header === null) return null;
        if (header[0] !== 0x24) throw new ProtocolError(`expected '$', got '${header.subarray(0, 1).toString('latin1')}'`);
        const length = headerNumber(header);
        if (Number.isNaN(length) || length < 0 || length > MAX_BULK) throw new ProtocolError('invalid bulk length');
        this.#length = length;
      }
      const data = this.#take() ?? this.#reader.tryReadExactly(this.#length + 2);
      if (data === null) return null;
      if (data[this.#length] !== 0x0d || data[this.#length + 1] !== 0x0a) throw new ProtocolError("expected '\\r\\n' after a bulk string");
      this.#args.push(data.subarray(0, this.#length));
      this.#length = -1;
    }
    const args = this.#args;
    this.#args = [];
    this.#count = -1;
    return args;
  }

  /**
   * Waits for the piece next() lacks: false at the end of the stream (the
   * peer left, between commands or mid-command: nothing to answer).
   */
  async wait(signal: AbortSignal): Promise<boolean> {
    const reader = this.#reader;
    const bulk = this.#count >= 0 && this.#length >= 0;
    this.#waited = bulk ? await reader.readExactly(this.#length + 2, { signal }) : await reader.readLine({ signal });
    return this.#waited !== null;
  }

  #line(): Buffer | null { return this.#take() ?? this.#reader.tryReadLine(); }

  #take(): Buffer | null {
    const frame = this.#waited;
    this.#waited = null;
    return frame;
  }
}

/** Serves one connection: commands in, replies out, until the peer leaves, QUIT, or a protocol error. */
async function session(conn: Channel, { signal }: ServeContext): Promise<void> {
  const replies = new Replies();
  let sending = null as Promise<undefined> | null; // (not narrowed: flush() sets it)
  // What the socket takes at once costs no promise; the rest is written, in order, and awaited.
  const flush = (): void => {
    const data = replies.take();
    if (data === null) return;
    const sent = conn.send(data);
    if (sent < data.length) sending = conn.write(sent === 0 ? data : data.subarray(sent));
  };
  const parser = new CommandParser(new FrameReader(conn, { maxLength: MAX_LINE }));
  try {
    for (;;) {
      const args = parser.next();
      if (args === null) {
        // Every command held is answered: the replies go out before waiting for more.
        flush();
        const more = await parser.wait(signal);
        // Backpressure: the next batch waits until the last one's replies are accepted.
        if (sending !== null) {
          await sending;
          sending = null;
        }
        if (!more) break;
      } else if (args.length > 0 && execute(args, replies) === 'quit') break;
    }
  } catch (error) {
    if (error instanceof ProtocolError) replies.error(`ERR Protocol error: ${error.message}`);
    else if (error instanceof FrameTooLongError) replies.error('ERR Protocol error: too big inline request');
    // The peer left (mid-command, or broke the connection), or the server is closing: nothing to say.
    else if (!peerLeft(error) && !signal.aborted) throw error;
  }
  flush();
  // Returning closes the connection, after the replies written (a lingering close).
  await sending?.catch((error: unknown) => { if (!peerLeft(error)) throw error; });
}

/** Whether a failure only means that the peer is gone. */
function peerLeft(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof IncompleteFrameError || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_CHANNEL_CLOSED';
}

const server = await serve([values.host, port], session, { drainTimeout: 5 });
const stop = (): void => { void server.close(); };
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log(`listening ${server.address}`);
await server.closed;
