// An HTTP/1.1 server on the framing layer: a FrameReader over each connection
// reads the request line and headers with tryReadLine() (readLine() when a line
// is not held yet) and a Content-Length body with tryReadExactly()/readExactly();
// serve() runs each connection as a task of its own.
// Keep-alive and pipelining (requests answered in order), with the bounds a
// server needs. Optionally several worker processes (node:cluster).
//
//   node build/examples/http-server.js [--port N] [--host H] [--workers N] [--idle-timeout S]
//
// Routes: GET (or HEAD) / answers "hello\n"; POST /echo answers its body;
// another path 404, another method 405. HTTP/1.0 closes after the response
// unless the request asks for keep-alive; `Connection: close` is honoured.
// Refused, and the connection closed: a malformed request (400), a request
// line over 8 KiB (414), request line and headers over 8 KiB in all (431), a
// body over 1 MiB (413), a chunked body (411: send Content-Length) or another
// transfer coding (501). A connection idle for --idle-timeout seconds
// (default 5) is dropped.
//
// Like every example server: --port 0 (the default) takes any free port,
// --host defaults to 127.0.0.1; it prints exactly one line `listening
// HOST:PORT` once ready (with --workers N, once every worker listens);
// SIGTERM or SIGINT stops accepting, lets each connection finish the request
// it is on, and exits 0. With --workers N > 1 the primary forks N workers
// that each serve() the same address; cluster's primary holds the one
// listening socket and hands connections round-robin. Try it:
//   curl -v http://127.0.0.1:PORT/ http://127.0.0.1:PORT/   (one connection, reused)
//   curl --data-binary @some-file http://127.0.0.1:PORT/echo
//   printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n' | nc 127.0.0.1 PORT
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';
import {
  FrameReader, FrameTooLongError, IdleTimeoutError, IncompleteFrameError, ServerClosingError, serve,
} from 'asyncore';
import type { Channel, ServeContext, Server } from 'asyncore';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    workers: { type: 'string', default: '1' },
    'idle-timeout': { type: 'string', default: '5' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Invalid --port: ${values.port}`);
const workers = Number(values.workers);
if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`Invalid --workers: ${values.workers}`);
const idleTimeout = Number(values['idle-timeout']);
if (!(idleTimeout > 0)) throw new RangeError(`Invalid --idle-timeout: ${values['idle-timeout']}`);

const MAX_HEAD = 8192; // request line and headers, in bytes
const MAX_BODY = 1024 * 1024;
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/(\d)\.(\d)$/;
const FIELD = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 411: 'Length Required',
  413: 'Content Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large',
  501: 'Not Implemented', 505: 'HTTP Version Not Supported',
};
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');

/** A request refused with `status`: answered, then the connection closed. */
class Refusal extends Error {
  constructor(readonly status: number, message = REASONS[status] ?? 'Error') { super(message); }
}

interface Request {
  method: string;
  path: string;
  keepAlive: boolean;
  body: Buffer;
}

/** A line of the head, counted against what is left of its bound (`budget.left`). */
async function headLine(reader: FrameReader, budget: { left: number }, tooLong: number, signal?: AbortSignal): Promise<Buffer | null> {
  let line: Buffer | null;
  try {
    // A line already held is taken at once; only a line still to come is awaited.
    line = reader.tryReadLine() ?? await reader.readLine({ signal });
  } catch (error) {
    if (error instanceof FrameTooLongError) throw new Refusal(tooLong);
    throw error;
  }
  budget.left -= (line?.length ?? 0) + 2;
  if (budget.left < 0) throw new Refusal(431);
  return line;
}

/**
 * The next request, body included; null once the client is done. Only the
 * wait for a request's first line heeds the shutdown: a request begun is
 * read and answered (the drain and the idle timeout bound it).
 */
async function readRequest(reader: FrameReader, conn: Channel, signal: AbortSignal): Promise<Request | null> {
  const budget = { left: MAX_HEAD };
  let line = await headLine(reader, budget, 414, signal);
  // Empty lines before a request line are ignored (RFC 9112, 2.2).
  while (line !== null && line.length === 0) line = await headLine(reader, budget, 414);
  if (line === null) return null;
  const start = REQUEST_LINE.exec(line.toString('latin1'));
  if (start === null) throw new Refusal(400, 'Malformed request line');
  const [, method = '', target = '', major, minor] = start;
  if (major !== '1') throw new Refusal(505);
  const headers = new Map<string, string>();
  for (;;) {
    const field = await headLine(reader, budget, 431);
    if (field === null) return null; // the client left in the middle: nobody to answer
    if (field.length === 0) break;
    const match = FIELD.exec(field.toString('latin1'));
    if (match === null) throw new Refusal(400, 'Malformed header field');
    const name = (match[1] ?? '').toLowerCase();
    const before = headers.get(name);
    headers.set(name, before === undefined ? match[2] ?? '' : `${before}, ${match[2] ?? ''}`);
  }
  if (minor === '1' && !headers.has('host')) throw new Refusal(400, 'Missing Host header');
  const coding = headers.get('transfer-encoding');
  if (coding !== undefined) throw new Refusal(/\bchunked\b/i.test(coding) ? 411 : 501);
  const declared = headers.get('content-length') ?? '0';
  if (!/^\d+$/.test(declared)) throw new Refusal(400, 'Invalid Content-Length');
  const length = Number(declared);
  if (length > MAX_BODY) throw new Refusal(413);
  if (length > 0 && minor === '1' && headers.get('expect')?.toLowerCase() === '100-continue') await conn.write(CONTINUE);
  const body = reader.tryReadExactly(length) ?? await reader.readExactly(length);
  if (body === null) return null;
  const options = (headers.get('connection') ?? '').toLowerCase().split(/\s*,\s*/);
  const keepAlive = minor === '1' ? !options.includes('close') : options.includes('keep-alive');
  return { method, path: target.split('?', 1)[0] ?? '', keepAlive, body };
}

// The Date header, made once a second.
let dateSecond = 0;
let dateText = '';
function httpDate(): string {
  const now = Date.now();
  if (Math.floor(now / 1000) !== dateSecond) {
    dateSecond = Math.floor(now / 1000);
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** A whole response, head and body, in one buffer (`withBody` false for HEAD). */
function response(status: number, body: Buffer | string, keepAlive: boolean, options: { type?: string; extra?: string; withBody?: boolean } = {}): Buffer {
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? ''}\r\nDate: ${httpDate()}\r\n`
    + `Content-Type: ${options.type ?? 'text/plain'}\r\nContent-Length: ${length}\r\n${options.extra ?? ''}`
    + `Connection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
  if (options.withBody === false) return Buffer.from(head, 'latin1');
  // A text body goes out with its head as one string, encoded once.
  if (typeof body === 'string') return Buffer.from(head + body);
  return Buffer.concat([Buffer.from(head, 'latin1'), body], head.length + body.length);
}

/** The routes: the response to a request. */
function answer(request: Request, keepAlive: boolean): Buffer {
  const { method, path, body } = request;
  if (path === '/') {
    if (method === 'GET' || method === 'HEAD') return response(200, 'hello\n', keepAlive, { withBody: method === 'GET' });
    return response(405, 'Method Not Allowed\n', keepAlive, { extra: 'Allow: GET, HEAD\r\n' });
  }
  if (path === '/echo') {
    if (method === 'POST') return response(200, body, keepAlive, { type: 'application/octet-stream' });
    return response(405, 'Method Not Allowed\n', keepAlive, { extra: 'Allow: POST\r\n' });
  }
  return response(404, 'Not Found\n', keepAlive);
}

/** Serves one connection: requests in order, each answered before the next is read. */
async function serveHttp(conn: Channel, { signal }: ServeContext): Promise<void> {
  // maxLength bounds each line; headLine() bounds the head as a whole.
  const reader = new FrameReader(conn, { maxLength: MAX_HEAD });
  for (;;) {
    let request: Request | null;
    try {
      request = await readRequest(reader, conn, signal);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      await conn.write(response(error.status, `${error.message}\n`, false));
      return; // serve() closes the connection: a lingering close, our bytes flushed first
    }
    if (request === null) return;
    const keepAlive = request.keepAlive && !signal.aborted;
    const reply = answer(request, keepAlive);
    // send() takes what fits now; write() waits for room only for the rest (a client not reading).
    const sent = conn.send(reply);
    if (sent < reply.length) await conn.write(reply.subarray(sent));
    if (!keepAlive) return;
  }
}

/** Failures that are the client's doing (it left, reset, went idle), not the server's. */
function clientGone(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof IdleTimeoutError || error instanceof IncompleteFrameError || error instanceof ServerClosingError
    || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_CHANNEL_CLOSED';
}

/** One server: serve() until `stop` aborts, then a graceful shutdown. */
function start(stop: AbortSignal): Promise<Server> {
  return serve([values.host, port], serveHttp, {
    idleTimeout,
    drainTimeout: 5,
    signal: stop,
    onError: (error, conn) => {
      if (!clientGone(error)) console.error(`http-server: ${conn === null ? 'listener' : `connection from ${conn.address}`} failed:`, error);
    },
  });
}

/** Aborts on SIGTERM or SIGINT (and, in a worker, on the primary's 'shutdown'). */
function stopSignal(): AbortSignal {
  const stop = new AbortController();
  const onStop = (): void => { stop.abort(); };
  process.once('SIGTERM', onStop);
  process.once('SIGINT', onStop);
  if (cluster.isWorker) process.on('message', (message) => { if (message === 'shutdown') onStop(); });
  return stop.signal;
}

/** A server in this process: the single one, or a worker's (which reports to the primary). */
async function runServer(): Promise<never> {
  const stop = stopSignal();
  const server = await start(stop).catch((error: unknown) => {
    if (stop.aborted) process.exit(0); // stopped before it listened
    throw error;
  });
  if (cluster.isWorker) process.send?.({ listening: server.address });
  else console.log(`listening ${server.address}`);
  await server.closed;
  process.exit(0);
}

/**
 * The primary: forks the workers, prints the listening line once each one
 * listens, and on SIGTERM or SIGINT tells them to shut down and waits.
 * Every worker asks for the same address; cluster's primary binds it once
 * (with port 0, once for all: they share the port it got) and deals the
 * connections out round-robin.
 */
function runPrimary(): void {
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const addresses = new Set<string>();
  let listening = 0;
  let alive = workers;
  let stopping = false;
  let failed = false;
  const stopAll = (): void => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send('shutdown');
  };
  process.once('SIGTERM', stopAll);
  process.once('SIGINT', stopAll);
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork();
    worker.on('message', (message: { listening?: string }) => {
      if (message.listening === undefined) return;
      addresses.add(message.listening);
      if (++listening < workers) return;
      if (addresses.size === 1) {
        console.log(`listening ${message.listening}`);
        return;
      }
      console.error(`http-server: the workers listen on different addresses: ${[...addresses].join(', ')}`);
      failed = true;
      stopAll();
    });
    worker.on('exit', (code, signal) => {
      if (code !== 0) failed = true;
      if (!stopping) {
        console.error(`http-server: worker ${worker.process.pid} exited (code ${String(code)}, signal ${signal}): stopping`);
        stopAll();
      }
      if (--alive === 0) process.exit(failed ? 1 : 0);
    });
  }
}

if (workers > 1 && cluster.isPrimary) runPrimary();
else await runServer();
