// examples/smtp-server.ts against real clients (Python's smtplib, swaks) and
// a raw socket: delivery through --maildir byte for byte (dots unstuffed),
// STARTTLS, commands out of sequence and garbage, the bounds (line, size,
// idle), and the graceful shutdown of the example servers' contract.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import type { Test } from 'tap';
import { PYTHON, SWAKS, SWAKS_TLS, clientPresent } from '../helpers/clients.js';
import { deadline } from '../helpers/deadline.js';
import { startExample } from '../helpers/example-server.js';
import { tempDir } from '../helpers/net.js';

/** A raw SMTP client: sends bytes, reads whole replies (multi-line ones joined). */
class Peer {
  readonly closed: Promise<void>;
  readonly #sock: net.Socket;
  #input = '';
  readonly #replies: string[] = [];
  #waiter: ((reply: string) => void) | null = null;
  #ended = false;

  constructor(t: Test, to: number | net.Socket) {
    this.#sock = typeof to === 'number' ? net.connect(to, '127.0.0.1') : to;
    t.teardown(() => { this.#sock.destroy(); });
    this.#sock.on('error', () => { /* a reset shows as the close below */ });
    this.#sock.on('data', this.#read);
    this.closed = new Promise((resolve) => {
      this.#sock.once('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      });
    });
  }

  send(data: string | Buffer): void { this.#sock.write(data); }

  /** Runs TLS over the connection (after a 220 to STARTTLS); resolves with a peer over it. */
  async upgrade(t: Test): Promise<Peer> {
    this.#sock.off('data', this.#read);
    const secure = tls.connect({ socket: this.#sock, rejectUnauthorized: false });
    await deadline(new Promise((resolve, reject) => { secure.once('secureConnect', resolve); secure.once('error', reject); }), 'the TLS handshake');
    return new Peer(t, secure);
  }

  readonly #read = (chunk: Buffer): void => {
    this.#input += chunk.toString('latin1');
    for (let m = REPLY.exec(this.#input); m !== null; m = REPLY.exec(this.#input)) {
      this.#input = this.#input.slice(m[0].length);
      this.#replies.push(m[0]);
    }
    this.#wake();
  };

  /** The next reply; `(closed)` once the server closed with none left. */
  reply(what: string): Promise<string> {
    return deadline(new Promise<string>((resolve) => {
      this.#waiter = resolve;
      this.#wake();
    }), what);
  }

  async command(line: string): Promise<string> {
    this.send(`${line}\r\n`);
    return this.reply(`the reply to ${JSON.stringify(line.slice(0, 40))}`);
  }

  #wake(): void {
    const waiter = this.#waiter;
    if (waiter === null || (this.#replies.length === 0 && !this.#ended)) return;
    this.#waiter = null;
    waiter(this.#replies.shift() ?? '(closed)');
  }
}
const REPLY = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/;

/** A peer that read the greeting and said EHLO. */
async function session(t: Test, port: number): Promise<Peer> {
  const peer = new Peer(t, port);
  t.match(await peer.reply('the greeting'), /^220 /, 'greeted with 220');
  t.match(await peer.command('EHLO client.test'), /^250-.*\r\n250-8BITMIME\r\n250-SIZE 2048\r\n250-PIPELINING\r\n250 STARTTLS\r\n$/, 'EHLO advertises the extensions, STARTTLS among them');
  return peer;
}

/** MAIL, RCPT and DATA, each accepted: the peer is then sending a message. */
async function begin(t: Test, peer: Peer, from: string): Promise<void> {
  t.match(await peer.command(`MAIL FROM:<${from}>`), /^250 /);
  t.match(await peer.command('RCPT TO:<a@b>'), /^250 /);
  t.match(await peer.command('DATA'), /^354 /);
}

/** Runs a client to its exit with `input` on its stdin; killed if it outlives the deadline. */
async function run(command: string, args: readonly string[], input: Buffer | string = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  child.stdin.end(input);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  try {
    const code = await deadline(exited, `${command} to exit`);
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

const maildir = tempDir(t);
/** The messages delivered with this envelope sender, in order. */
function delivered(from: string): Buffer[] {
  return readdirSync(maildir).filter((name) => name.endsWith('.eml')).sort()
    .map((name) => readFileSync(path.join(maildir, name)))
    .filter((message) => message.toString('latin1').startsWith(`X-Envelope: MAIL FROM:<${from}> `));
}

// One server for most tests; the idle bound and the forced shutdown get their own below.
const server = await startExample(t, 'smtp-server', ['--maildir', maildir, '--max-line', '200', '--max-size', '2048']);

// Lines starting with dots, one that is a lone dot, 8-bit bytes: every client stuffs them, the server must unstuff.
const BODY = Buffer.from('Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n. space\r\nlast line \u00e9\r\n');

const SMTPLIB = `
import json, smtplib, ssl, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=10)
before = s.ehlo()[1].decode()
s.starttls(context=ssl._create_unverified_context())
after = s.ehlo()[1].decode()
again = s.docmd('STARTTLS')[0]
s.sendmail('smtplib@test', ['a@b', 'c@d'], sys.stdin.buffer.read())
s.quit()
print(json.dumps({'before': before, 'after': after, 'again': again}))
`;

t.test('smtp-server: smtplib upgrades with STARTTLS and delivers a message byte for byte', { skip: PYTHON.skip }, async (t) => {
  if (!clientPresent(t, PYTHON)) return;
  const result = await run('python3', ['-c', SMTPLIB, String(server.port)], BODY);
  t.equal(result.code, 0, `smtplib succeeded${result.stderr === '' ? '' : `; stderr:\n${result.stderr}`}`);
  const seen = JSON.parse(result.stdout) as { before: string; after: string; again: number };
  t.match(seen.before, /\nSTARTTLS$/, 'STARTTLS advertised before TLS');
  t.notMatch(seen.after, /STARTTLS/, 'and not once TLS runs');
  t.match(seen.after, /\n8BITMIME\nSIZE 2048\nPIPELINING$/);
  t.equal(seen.again, 503, 'a second STARTTLS is refused with 503');
  t.same(delivered('smtplib@test'), [Buffer.concat([Buffer.from('X-Envelope: MAIL FROM:<smtplib@test> RCPT TO:<a@b>,<c@d>\r\n'), BODY])]);
});

for (const tls of [false, true]) {
  const check = tls ? (SWAKS.skip === false ? SWAKS_TLS : SWAKS) : SWAKS;
  t.test(`smtp-server: swaks delivers a message ${tls ? 'over STARTTLS' : 'in plaintext'}`, { skip: check.skip }, async (t) => {
    if (!clientPresent(t, SWAKS) || !clientPresent(t, check)) return;
    const from = `swaks-${tls ? 'tls' : 'plain'}@test`;
    const args = ['--server', `127.0.0.1:${server.port}`, '--from', from, '--to', 'a@b', '--data', '-', ...tls ? ['--tls'] : []];
    // swaks ends the data with CRLF.CRLF of its own: given without its last CRLF, the body arrives whole.
    const result = await run('swaks', args, BODY.subarray(0, -2));
    t.equal(result.code, 0, `swaks succeeded${result.code === 0 ? '' : `:\n${result.stdout}${result.stderr}`}`);
    if (tls) t.match(result.stdout, /TLS started/);
    t.same(delivered(from), [Buffer.concat([Buffer.from(`X-Envelope: MAIL FROM:<${from}> RCPT TO:<a@b>\r\n`), BODY])]);
  });
}

t.test('smtp-server: commands out of sequence get 503, bad syntax 501, garbage 500', async (t) => {
  const peer = new Peer(t, server.port);
  t.match(await peer.reply('the greeting'), /^220 /);
  const dialogue: readonly (readonly [string, RegExp, string])[] = [
    ['MAIL FROM:<a@b>', /^503 /, 'MAIL before HELO'],
    ['HELO', /^501 /, 'HELO without a name'],
    ['HELO client.test', /^250 /, 'HELO client.test'],
    ['RCPT TO:<a@b>', /^503 /, 'RCPT before MAIL'],
    ['DATA', /^503 /, 'DATA before MAIL'],
    ['MAIL FROM:a@b', /^501 /, 'an address without brackets'],
    ['MAIL FROM:<a@b> SIZE=9999', /^552 /, 'a declared size over the bound'],
    ['MAIL FROM:<a@b> FOO=1', /^555 /, 'an unknown parameter'],
    ['MAIL FROM:<seq@test> SIZE=100', /^250 /, 'MAIL FROM:<seq@test> SIZE=100'],
    ['MAIL FROM:<a@b>', /^503 /, 'a nested MAIL'],
    ['DATA', /^503 /, 'DATA before RCPT'],
    ['RCPT TO:<>', /^501 /, 'an empty recipient'],
    ['FOO bar', /^500 /, 'an unknown command'],
    ['\u00ff\u0000\u0001 binary', /^500 /, 'binary garbage'],
    ['', /^500 /, 'an empty line'],
    ['RSET now', /^501 /, 'RSET with an argument'],
    ['RSET', /^250 /, 'RSET'],
    ['RCPT TO:<a@b>', /^503 /, 'RSET ended the transaction'],
    ['NOOP', /^250 /, 'NOOP'],
    ['QUIT', /^221 /, 'QUIT'],
  ];
  for (const [line, reply, what] of dialogue) t.match(await peer.command(line), reply, what);
  await deadline(peer.closed, 'the server to close after QUIT');
  t.same(delivered('seq@test'), []);
});

t.test('smtp-server: STARTTLS drops the plaintext sent behind it and resets the session', async (t) => {
  const peer = await session(t, server.port);
  t.match(await peer.command('MAIL FROM:<before-tls@test>'), /^250 /);
  peer.send('STARTTLS\r\nRCPT TO:<injected@test>\r\n'); // no client may send the second line before the 220
  t.match(await peer.reply('STARTTLS'), /^220 /);
  const secure = await peer.upgrade(t);
  t.match(await secure.command('NOOP'), /^250 /, 'the first reply over TLS is to the first command over TLS');
  t.match(await secure.command('MAIL FROM:<a@b>'), /^503 /, 'the EHLO before TLS is forgotten');
  t.match(await secure.command('EHLO client.test'), /^250-.*\r\n250 PIPELINING\r\n$/s, 'EHLO no longer offers STARTTLS');
  t.match(await secure.command('RCPT TO:<a@b>'), /^503 /, 'the transaction begun before TLS is gone');
  t.match(await secure.command('STARTTLS'), /^503 /, 'STARTTLS again');
  t.match(await secure.command('QUIT'), /^221 /);
  await deadline(secure.closed, 'the server to close after QUIT');
});

t.test('smtp-server: pipelined commands are answered in order, the delivery before what follows it', async (t) => {
  const peer = await session(t, server.port);
  peer.send('MAIL FROM:<pipe@test>\r\nRCPT TO:<a@b>\r\nDATA\r\n');
  t.same([await peer.reply('MAIL'), await peer.reply('RCPT'), await peer.reply('DATA')].map((r) => r.slice(0, 4)), ['250 ', '250 ', '354 ']);
  peer.send('hello\r\n..world\r\n.\r\nNOOP\r\nQUIT\r\n');
  t.match(await peer.reply('the end of data'), /^250 2\.0\.0 OK: queued as /);
  t.same(delivered('pipe@test'), [Buffer.from('X-Envelope: MAIL FROM:<pipe@test> RCPT TO:<a@b>\r\nhello\r\n.world\r\n')], 'on disk once 250 came');
  t.match(await peer.reply('NOOP'), /^250 /);
  t.match(await peer.reply('QUIT'), /^221 /);
  await deadline(peer.closed, 'the server to close after QUIT');
});

t.test('smtp-server: a line over --max-line gets 500 and the session goes on', async (t) => {
  const peer = await session(t, server.port);
  t.match(await peer.command(`NOOP ${'x'.repeat(300)}`), /^500 5\.5\.2 Line too long/, 'a command line');
  t.match(await peer.command('NOOP'), /^250 /, 'the next line is read as usual');
  await begin(t, peer, 'long@test');
  peer.send(`short\r\n${'y'.repeat(300)}\r\n`);
  t.match(await peer.command('.'), /^500 5\.5\.2 Line too long/, 'a message line: refused at its final dot');
  t.match(await peer.command('NOOP'), /^250 /);
  t.same(delivered('long@test'), []);
});

t.test('smtp-server: a message over --max-size gets 552 at its dot; a client that never sends the dot is cut off', async (t) => {
  const peer = await session(t, server.port);
  await begin(t, peer, 'big@test');
  peer.send(`${'z'.repeat(98)}\r\n`.repeat(30)); // 3000 bytes: over 2048, under twice that
  t.match(await peer.command('.'), /^552 /);
  t.match(await peer.command('NOOP'), /^250 /, 'the session goes on');
  t.same(delivered('big@test'), []);

  await begin(t, peer, 'flood@test');
  peer.send(`${'z'.repeat(98)}\r\n`.repeat(50)); // 5000 bytes and no dot
  t.match(await peer.reply('the size bound'), /^552 .*closing/);
  await deadline(peer.closed, 'the server to close the flood');
  t.same(delivered('flood@test'), []);

  const next = await session(t, server.port);
  t.match(await next.command('QUIT'), /^221 /, 'the next client is served');
});

t.test('smtp-server: SIGTERM stops accepting and lets an open session finish', async (t) => {
  const peer = await session(t, server.port);
  const exit = server.stop('SIGTERM');
  await server.printed('stderr', /shutting down: \d+ sessions open/, 'the server to start its shutdown');
  t.match(await peer.command('NOOP'), /^250 /, 'the open session is still served');
  const refused = await deadline(new Promise<boolean>((resolve) => {
    const sock = net.connect(server.port, '127.0.0.1');
    sock.once('connect', () => { sock.destroy(); resolve(false); });
    sock.once('error', () => { resolve(true); });
  }), 'a new connection to fail');
  t.ok(refused, 'a new connection is refused');
  t.match(await peer.command('QUIT'), /^221 /);
  t.same(await exit, { code: 0, signal: null }, 'exits 0 once the session ended, within the grace period');
  t.equal(server.stdout(), `${server.line}\n`, 'printed only its listening line on stdout');
});

t.test('smtp-server: an idle client is dropped; a session left at shutdown gets 421 after the grace period', async (t) => {
  const quick = await startExample(t, 'smtp-server', ['--max-size', '2048', '--idle-timeout', '1', '--grace', '0']);
  const idle = await session(t, quick.port);
  await begin(t, idle, 'idle@test');
  idle.send('a line, and then no final dot\r\n');
  await deadline(idle.closed, 'the idle timeout to close the session');
  await quick.printed('stderr', /No byte sent or received for 1 s/, 'the drop to be logged on stderr');

  const left = await session(t, quick.port);
  await begin(t, left, 'memory@test');
  t.equal(await left.command('kept in memory\r\n.'), '250 2.0.0 OK\r\n', 'without --maildir a message is kept in memory');
  const exit = quick.stop('SIGINT');
  t.match(await left.reply('the shutdown'), /^421 /);
  await deadline(left.closed, 'the session to be closed');
  t.same(await exit, { code: 0, signal: null });
  t.equal(quick.stdout(), `${quick.line}\n`);
});
