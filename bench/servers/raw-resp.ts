// The RESP benchmark's floor for Node: raw node:net and a synchronous hand
// parser, only what redis-benchmark -t ping,set,get sends (no checks, no
// protocol errors). Every command a chunk completes is answered in one write;
// an incomplete one waits, copied, for the next chunk.
import net from 'node:net';
import { HOST, announce } from './common.js';

const store = new Map<string, Buffer>();

/** The arguments of the RESP array at `at`, and where the next command starts; null if incomplete. */
function parse(buf: Buffer, at: number): [Buffer[], number] | null {
  let end = buf.indexOf(0x0a, at);
  if (end < 0) return null;
  if (buf[at] !== 0x2a) return [[Buffer.from('PING')], end + 1]; // an inline PING
  const count = Number(buf.toString('latin1', at + 1, end - 1));
  const args: Buffer[] = [];
  let pos = end + 1;
  for (let i = 0; i < count; i++) {
    end = buf.indexOf(0x0a, pos);
    if (end < 0) return null;
    const length = Number(buf.toString('latin1', pos + 1, end - 1));
    pos = end + 1;
    if (pos + length + 2 > buf.length) return null;
    args.push(buf.subarray(pos, pos + length));
    pos += length + 2;
  }
  return [args, pos];
}

const server = net.createServer((socket) => {
  let tail: Buffer | null = null;
  socket.on('data', (data: Buffer) => {
    const buf = tail === null ? data : Buffer.concat([tail, data]);
    const out: Buffer[] = [];
    let text = '';
    let at = 0;
    for (let command = parse(buf, 0); command !== null; command = parse(buf, at)) {
      const [[name, key, value], next] = command;
      at = next;
      switch (name?.toString('latin1').toLowerCase()) {
        case 'set':
          store.set(key?.toString('latin1') ?? '', Buffer.from(value ?? ''));
          text += '+OK\r\n';
          break;
        case 'get': {
          const found = store.get(key?.toString('latin1') ?? '');
          if (found === undefined) text += '$-1\r\n';
          else {
            out.push(Buffer.from(`${text}$${found.length}\r\n`, 'latin1'), found);
            text = '\r\n';
          }
          break;
        }
        case 'config': text += '*2\r\n$0\r\n\r\n$0\r\n\r\n'; break; // redis-benchmark asks for two settings
        default: text += '+PONG\r\n';
      }
    }
    tail = at < buf.length ? Buffer.from(buf.subarray(at)) : null;
    if (text !== '') out.push(Buffer.from(text, 'latin1'));
    if (out.length > 0) socket.write(out.length === 1 ? out[0] as Buffer : Buffer.concat(out));
  });
  socket.on('error', () => socket.destroy());
});
server.listen({ host: HOST, port: 0, backlog: 4096 }, () => {
  announce((server.address() as net.AddressInfo).port);
});
