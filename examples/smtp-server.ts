// An SMTP receiver in the classic asynchat style, as Python's smtpd was: a
// Dispatcher that listens, and an AsyncChat subclass per session.
//
//   node build/examples/smtp-server.js [--port N] [--host H] [--cert FILE --key FILE]
//     [--maildir DIR] [--max-size BYTES] [--max-line BYTES] [--idle-timeout S] [--grace S]
//
// Speaks EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT and STARTTLS (RFC 5321,
// RFC 3207), and advertises 8BITMIME, SIZE, PIPELINING and STARTTLS. With
// --maildir each message is written to DIR as one file, `<time>.<pid>.<n>.eml`:
// a first line `X-Envelope: MAIL FROM:<a> RCPT TO:<b>,<c>`, then the message
// as received (dots unstuffed); without it the last 10 are kept in memory.
// Nothing is printed per message. Bounds: a line of --max-line bytes (998,
// CRLF excluded) gets 500; a message over --max-size (10 MiB) gets 552, and
// past twice that the session is closed; a session silent for --idle-timeout
// seconds (300) is dropped.
//
// The contract of the example servers: --port 0 (the default) takes any free
// port; prints exactly one line, `listening HOST:PORT`, once ready. SIGTERM or
// SIGINT stops accepting, gives open sessions --grace seconds (5) to QUIT,
// then answers what is left with 421 and closes it (closeAll), and exits 0.
// Without --cert/--key a self-signed certificate for localhost is made at
// start with `openssl`. Try it with
//   swaks --server 127.0.0.1:PORT --from a@example.org --to b@example.org --tls
//   python3 -c 'import smtplib; s = smtplib.SMTP("127.0.0.1", PORT); s.starttls(); s.ehlo()
//     s.sendmail("a@example.org", ["b@example.org"], "Subject: hi\r\n\r\nhello\r\n"); s.quit()'
// (the second fails on the self-signed certificate unless you pass starttls() an unverified context).
import { rename, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AF_INET, AF_INET6, AsyncChat, ChannelMap, Dispatcher, closeAll, loop } from 'asyncore';
import type { FrameTooLongError, HandlerResult } from 'asyncore';
import { tlsCredentials } from './tls-credentials.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    cert: { type: 'string' },
    key: { type: 'string' },
    maildir: { type: 'string' },
    'max-size': { type: 'string', default: String(10 << 20) },
    'max-line': { type: 'string', default: '998' },
    'idle-timeout': { type: 'string', default: '300' },
    grace: { type: 'string', default: '5' },
  },
});

function numberOption(name: keyof typeof values, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < min || value > max) throw new RangeError(`Invalid --${name}: ${String(values[name])}`);
  return value;
}
const port = numberOption('port', 0, 65535);
const maxSize = numberOption('max-size', 1);
const maxLine = numberOption('max-line', 1);
const idleTimeout = numberOption('idle-timeout', 0.001);
const grace = numberOption('grace', 0);
if (!Number.isInteger(port) || !Number.isInteger(maxSize) || !Number.isInteger(maxLine)) throw new RangeError('Invalid --port, --max-size or --max-line: not an integer');

const credentials = tlsCredentials(values.cert, values.key);
const HOSTNAME = hostname();
const MAX_RECIPIENTS = 100; // RFC 5321 4.5.3.1.8: at least 100 must be accepted
const kept: Buffer[] = []; // without --maildir: the last 10 messages
let delivered = 0;

/** Stores a message; resolves with the reply to its final dot. */
async function deliver(message: Buffer): Promise<string> {
  if (values.maildir === undefined) {
    if (kept.push(message) > 10) kept.shift();
    return '250 2.0.0 OK\r\n';
  }
  const name = `${Date.now()}.${process.pid}.${++delivered}`;
  try {
    // Written under a temporary name, then renamed: a reader never sees half a message.
    await writeFile(join(values.maildir, `.${name}.tmp`), message, { flag: 'wx' });
    await rename(join(values.maildir, `.${name}.tmp`), join(values.maildir, `${name}.eml`));
    return `250 2.0.0 OK: queued as ${name}\r\n`;
  } catch (error) {
    console.error(`cannot store a message: ${String(error)}`);
    return '451 4.3.0 Cannot store the message\r\n';
  }
}

// quiet: input is dropped and not read (during the STARTTLS upgrade, and once closing).
type Phase = 'command' | 'data' | 'quiet';

class SmtpSession extends AsyncChat {
  #phase: Phase = 'command';
  #greeted = false;
  #from: string | null = null;
  #to: string[] = [];
  #message: Buffer[] = [];
  #size = 0;
  #failure: string | null = null; // the reply to the final dot instead of delivering

  constructor(sock: net.Socket, readonly server: SmtpServer) {
    super(sock, server.map, { maxFrameLength: maxLine, idleTimeout });
    this.setTerminator('\r\n');
    this.push(`220 ${HOSTNAME} ESMTP asyncore\r\n`);
  }

  override collectIncomingData(data: Buffer): void {
    // After STARTTLS, the plaintext a client sent behind it is dropped (RFC 3207 section 4.2).
    if (this.#phase !== 'quiet') this.incoming.push(data);
  }

  override foundTerminator(): void {
    const line = this.getData();
    if (this.#phase === 'quiet') return;
    if (this.#phase === 'data') this.#dataLine(line);
    else this.push(this.#command(line.toString()));
  }

  override frameTooLong(error: FrameTooLongError): void {
    if (this.#phase === 'data') this.#failure ??= '500 5.5.2 Line too long\r\n';
    else this.push(`500 5.5.2 Line too long (over ${error.limit} bytes)\r\n`);
  }

  // Not read during the upgrade: bytes that come wait, as the start of the TLS stream.
  override readable(): boolean { return this.#phase !== 'quiet' && super.readable(); }

  override handleError(error: unknown): void {
    console.error(`session ${this.address}: ${error instanceof Error ? error.message : String(error)}`);
    this.close();
  }

  override close(): void {
    super.close();
    this.server.sessions.delete(this);
  }

  #reset(): void {
    this.#from = null;
    this.#to = [];
  }

  #command(line: string): string {
    const [, verb = '', arg = ''] = /^(\S*) ?(.*)$/s.exec(line) ?? [];
    switch (verb.toUpperCase()) {
      case 'EHLO': case 'HELO': {
        if (arg.trim() === '') return `501 5.5.4 Syntax: ${verb.toUpperCase()} hostname\r\n`;
        this.#greeted = true;
        this.#reset();
        if (verb.toUpperCase() === 'HELO') return `250 ${HOSTNAME}\r\n`;
        const lines = [HOSTNAME, '8BITMIME', `SIZE ${maxSize}`, 'PIPELINING', ...this.tls === null ? ['STARTTLS'] : []];
        return lines.map((text, i) => `250${i === lines.length - 1 ? ' ' : '-'}${text}\r\n`).join('');
      }
      case 'MAIL': {
        if (!this.#greeted) return '503 5.5.1 Error: send HELO first\r\n';
        if (this.#from !== null) return '503 5.5.1 Error: nested MAIL command\r\n';
        const match = /^FROM: ?<([^<>\s]*)>((?: +\S+)*) *$/i.exec(arg);
        if (match === null) return '501 5.5.4 Syntax: MAIL FROM:<address>\r\n';
        for (const param of (match[2] ?? '').trim().split(/ +/).filter((p) => p !== '')) {
          const [name = '', value = ''] = param.split('=');
          if (name.toUpperCase() === 'SIZE') {
            if (!/^\d{1,20}$/.test(value)) return '501 5.5.4 Syntax: SIZE=number\r\n';
            if (Number(value) > maxSize) return '552 5.3.4 Message size exceeds fixed maximum message size\r\n';
          } else if (name.toUpperCase() !== 'BODY' || !/^(7BIT|8BITMIME)$/i.test(value)) {
            return `555 5.5.4 Parameter not recognized: ${param}\r\n`;
          }
        }
        this.#from = match[1] ?? '';
        return '250 2.1.0 OK\r\n';
      }
      case 'RCPT': {
        if (this.#from === null) return '503 5.5.1 Error: need MAIL command\r\n';
        const match = /^TO: ?<([^<>\s]+)> *$/i.exec(arg);
        if (match === null) return '501 5.5.4 Syntax: RCPT TO:<address>\r\n';
        if (this.#to.length >= MAX_RECIPIENTS) return '452 4.5.3 Too many recipients\r\n';
        this.#to.push(match[1] ?? '');
        return '250 2.1.5 OK\r\n';
      }
      case 'DATA':
        if (arg !== '') return '501 5.5.4 Syntax: DATA\r\n';
        if (this.#from === null) return '503 5.5.1 Error: need MAIL command\r\n';
        if (this.#to.length === 0) return '503 5.5.1 Error: need RCPT command\r\n';
        this.#phase = 'data';
        this.#message = [];
        this.#size = 0;
        this.#failure = null;
        return '354 End data with <CR><LF>.<CR><LF>\r\n';
      case 'RSET':
        if (arg !== '') return '501 5.5.4 Syntax: RSET\r\n';
        this.#reset();
        return '250 2.0.0 OK\r\n';
      case 'NOOP':
        return '250 2.0.0 OK\r\n';
      case 'QUIT':
        this.push('221 2.0.0 Bye\r\n');
        this.closeWhenDone(); // once the 221 is sent
        this.#phase = 'quiet';
        return '';
      case 'STARTTLS':
        if (arg !== '') return '501 5.5.4 Syntax: STARTTLS\r\n';
        if (this.tls !== null) return '503 5.5.1 Error: TLS already active\r\n';
        this.#startTls();
        return '';
      default:
        return `500 5.5.2 Error: command not recognized\r\n`;
    }
  }

  #startTls(): void {
    this.#phase = 'quiet';
    this.setTerminator(null); // the rest of this read goes to collectIncomingData(), which drops it
    // An async producer: startTls() is called after this read was scanned
    // (called from foundTerminator(), it would hand the rest of the read to
    // TLS instead), and once the 220 and every reply before it were sent.
    this.pushWithProducer(this.#upgrade());
  }

  // Async for when it runs (after the read), not to await anything.
  // eslint-disable-next-line @typescript-eslint/require-await
  async *#upgrade(): AsyncGenerator<string> {
    yield '220 2.0.0 Ready to start TLS\r\n';
    this.startTls(credentials).then(() => {
      // RFC 3207 section 4.2: forget everything the client said before.
      this.#greeted = false;
      this.#reset();
      this.#phase = 'command';
      this.setTerminator('\r\n');
    }, () => { /* the channel breaks: handleError() reports it */ });
  }

  async *#stored(message: Buffer, failure: string | null): AsyncGenerator<string> {
    yield failure ?? await deliver(message);
  }

  #dataLine(line: Buffer): void {
    if (line.length === 1 && line[0] === 0x2e) {
      this.#phase = 'command';
      const failure = this.#failure;
      const envelope = `X-Envelope: MAIL FROM:<${this.#from ?? ''}> RCPT TO:${this.#to.map((to) => `<${to}>`).join(',')}\r\n`;
      const message = Buffer.concat([Buffer.from(envelope), ...this.#message]);
      this.#reset();
      this.#message = [];
      // An async source: the replies queued after it wait for it, so pipelined commands keep their order.
      this.pushWithProducer(this.#stored(message, failure));
      return;
    }
    const text = line[0] === 0x2e ? line.subarray(1) : line; // RFC 5321 4.5.2: a leading dot was doubled
    this.#size += text.length + 2;
    if (this.#size > 2 * maxSize) {
      this.push('552 5.3.4 Message size exceeds fixed maximum message size: closing\r\n');
      this.closeWhenDone();
      this.#phase = 'quiet';
    } else if (this.#size > maxSize) {
      this.#failure ??= '552 5.3.4 Message size exceeds fixed maximum message size\r\n';
      this.#message = [];
    } else if (this.#failure === null) {
      this.#message.push(Buffer.from(text), Buffer.from('\r\n')); // a copy: `line` is a view of the read
    }
  }
}

class SmtpServer extends Dispatcher {
  /** The open sessions: shutdown waits for them. */
  readonly sessions = new Set<SmtpSession>();

  constructor(map: ChannelMap) {
    super(null, map);
    this.createSocket(values.host.includes(':') ? AF_INET6 : AF_INET);
    this.setReuseAddr();
    this.bind([values.host, port]);
    this.listen(128);
  }

  override handleAccepted(sock: net.Socket): void {
    this.sessions.add(new SmtpSession(sock, this));
  }

  override handleError(error: unknown): HandlerResult {
    console.error(`listener: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const map = new ChannelMap();
const server = new SmtpServer(map);
await server.opened;

let graceTimer: NodeJS.Timeout | undefined;
function shutdown(): void {
  server.close(); // no new sessions; the loop ends once the last one closes
  console.error(`shutting down: ${server.sessions.size} sessions open, ${grace} s to finish`);
  graceTimer = setTimeout(() => {
    for (const session of server.sessions) session.send('421 4.3.2 Service shutting down\r\n');
    closeAll(map, true);
  }, grace * 1000);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);

console.log(`listening ${server.address}`);
await loop({ map }); // resolves once every channel in the map is closed
clearTimeout(graceTimer);
process.exit(0);
