// Datagram channels against real peers, over IPv4 and IPv6 loopback: a
// Python socket (echo server and client) and socat (client), with our side
// in both styles (for await over datagrams(), and a Dispatcher). Each
// exchange is a request and its reply, re-sent until the reply comes, so
// that a lost datagram could only slow a test, never fail it.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import t from 'tap';
import type { Test } from 'tap';
import { AF_INET, AF_INET6, Channel, SOCK_DGRAM, loop } from '../src/index.js';
import type { Address, ChannelMap, Family } from '../src/index.js';
import { PYTHON, SOCAT, clientPresent } from './helpers/clients.js';
import { deadline } from './helpers/deadline.js';
import { UdpEcho } from './helpers/dispatchers.js';
import { testMap } from './helpers/net.js';

const cases = [
  { name: 'IPv4', family: AF_INET, host: '127.0.0.1', py: 'AF_INET', socat: (port: number) => `UDP4:127.0.0.1:${port}` },
  { name: 'IPv6', family: AF_INET6, host: '::1', py: 'AF_INET6', socat: (port: number) => `UDP6:[::1]:${port}` },
] as const;

// Echoes each datagram upper-cased; a 'big' request gets 100 bytes back, 'quit' ends it.
const PY_SERVER = `
import socket, sys
s = socket.socket(getattr(socket, sys.argv[1]), socket.SOCK_DGRAM)
s.bind((sys.argv[2], 0))
print(s.getsockname()[1], flush=True)
while True:
    data, addr = s.recvfrom(65535)
    if data == b'quit':
        break
    s.sendto(b'x' * 100 if data == b'big' else data.upper(), addr)
`;

// Sends each argument as a datagram (re-sent until answered) and prints each reply in hex.
const PY_CLIENT = `
import socket, sys
family, host, port = getattr(socket, sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(0.5)
for word in sys.argv[4:]:
    data = bytes.fromhex(word)
    for attempt in range(20):
        s.sendto(data, (host, port))
        try:
            reply, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        print(reply.hex() or '-', flush=True)
        break
`;

/** Starts a child process torn down with the test; resolves with it and its first line. */
async function start(t: Test, command: string, args: readonly string[]): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  const firstLine = await deadline(new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
    child.once('error', reject);
  }), `${command} to start`);
  return { child, firstLine };
}

/** Runs a command to its end; resolves with its stdout and exit code. */
function run(t: Test, command: string, args: readonly string[], input = ''): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stdin.end(input);
  return deadline(new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => { resolve({ code, stdout }); });
  }), `${command} to finish`);
}

/** A datagram channel bound to loopback, once bound. */
async function boundChannel(t: Test, map: ChannelMap, family: Family, host: string): Promise<Channel> {
  const udp = new Channel(null, map);
  t.teardown(() => { udp.close(); });
  udp.createSocket(family, SOCK_DGRAM);
  udp.bind([host, 0]);
  await deadline(udp.opened, 'the bind');
  return udp;
}

/** Sends `request` to `to` until a datagram comes back; resolves with it. */
async function ask(udp: Channel, request: Buffer, to: Address, size = 65536): Promise<[Buffer, Address]> {
  const received = udp.datagrams(size);
  udp.sendTo(request, to);
  const resend = setInterval(() => { udp.sendTo(request, to); }, 1000);
  try {
    const { value } = await deadline(received.next(), 'the reply');
    if (value === undefined) throw new Error('the channel closed before the reply');
    return value;
  } finally {
    clearInterval(resend);
    await received.return();
  }
}

/** A for-await echo server over datagrams(); ends when the channel closes. */
async function forAwaitEcho(udp: Channel): Promise<void> {
  for await (const [data, from] of udp.datagrams()) udp.sendTo(data, from);
}

/** A Dispatcher echo server run by the classic loop over its own map. */
async function dispatcherEcho(t: Test, family: Family, host: string): Promise<{ server: UdpEcho; running: Promise<void> }> {
  const map = testMap(t);
  const server = new UdpEcho(null, map);
  t.teardown(() => { server.close(); });
  server.createSocket(family, SOCK_DGRAM);
  server.bind([host, 0]);
  const running = (async () => { await loop({ map }); })();
  await deadline(server.opened, 'the bind');
  return { server, running };
}

for (const c of cases) {
  t.test(`${c.name}: a datagram channel talks to a Python UDP socket (sendTo, recvFrom, empty and cut datagrams)`, { skip: PYTHON.skip }, async (t) => {
    if (!clientPresent(t, PYTHON)) return;
    const { child, firstLine } = await start(t, 'python3', ['-c', PY_SERVER, c.py, c.host]);
    const to: Address = [c.host, Number(firstLine)];
    const udp = await boundChannel(t, testMap(t), c.family, c.host);
    const [reply, from] = await ask(udp, Buffer.from('hello'), to);
    t.equal(reply.toString(), 'HELLO');
    t.same(from, to, 'from the Python socket');
    const [empty] = await ask(udp, Buffer.alloc(0), to);
    t.equal(empty.length, 0, 'a zero-length datagram both ways');
    const [cut] = await ask(udp, Buffer.from('big'), to, 10);
    t.same(cut, Buffer.alloc(10, 'x'), 'a 100-byte datagram cut to 10');
    t.equal(udp.recvFrom(100), null, 'the rest of it was discarded, not queued');
    udp.sendTo('quit', to);
    await deadline(new Promise((resolve) => child.once('exit', resolve)), 'python to exit');
  });

  t.test(`${c.name}: a Python UDP client talks to a for-await echo server and a Dispatcher echo server`, { skip: PYTHON.skip }, async (t) => {
    if (!clientPresent(t, PYTHON)) return;
    const words = [Buffer.from('ping'), Buffer.alloc(0), Buffer.alloc(1200, 7)].map((b) => b.toString('hex'));
    const expected = words.map((w) => w || '-').join('\n') + '\n';

    const udp = await boundChannel(t, testMap(t), c.family, c.host);
    const serving = forAwaitEcho(udp);
    const first = await run(t, 'python3', ['-c', PY_CLIENT, c.py, c.host, String(udp.port), ...words]);
    t.same(first, { code: 0, stdout: expected }, 'for await');
    udp.close();
    await deadline(serving, 'the for-await server to end');

    const { server, running } = await dispatcherEcho(t, c.family, c.host);
    const second = await run(t, 'python3', ['-c', PY_CLIENT, c.py, c.host, String(server.port), ...words]);
    t.same(second, { code: 0, stdout: expected }, 'Dispatcher');
    server.close();
    await deadline(running, 'the loop to end');
  });

  t.test(`${c.name}: socat exchanges datagrams with a for-await echo server and a Dispatcher echo server`, { skip: SOCAT.skip }, async (t) => {
    if (!clientPresent(t, SOCAT)) return;
    const udp = await boundChannel(t, testMap(t), c.family, c.host);
    const serving = forAwaitEcho(udp);
    // socat sends its input as one datagram, prints what comes back, and
    // stops half a second after its input ends.
    const first = await run(t, 'socat', ['-t', '0.5', '-', c.socat(udp.port as number)], 'hello from socat\n');
    t.same(first, { code: 0, stdout: 'hello from socat\n' }, 'for await');
    udp.close();
    await deadline(serving, 'the for-await server to end');

    const { server, running } = await dispatcherEcho(t, c.family, c.host);
    const second = await run(t, 'socat', ['-t', '0.5', '-', c.socat(server.port as number)], 'hello, dispatcher\n');
    t.same(second, { code: 0, stdout: 'hello, dispatcher\n' }, 'Dispatcher');
    server.close();
    await deadline(running, 'the loop to end');
  });
}
