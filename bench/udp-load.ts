// The UDP load generator: 64-byte datagrams to an echo server from one
// connected socket, either at a fixed offered rate or with a fixed number in
// flight (saturation: each echo sends the next; a window that went silent for
// 20 ms was lost and is sent again). Prints `started`, then one JSON result:
// datagrams sent and echoed, and the seconds the sending lasted.
//
//   node build/bench/udp-load.js '{"port":4000,"seconds":2,"mode":"rate","rate":20000}'
import dgram from 'node:dgram';

interface Job { port: number; seconds: number; mode: 'rate' | 'window'; rate?: number; window?: number }
const job = JSON.parse(process.argv[2] ?? '{}') as Job;
const payload = Buffer.alloc(64, 0x61);
const sock = dgram.createSocket('udp4');
let sent = 0;
let echoed = 0;
let running = true;
const send = (): void => { sent++; sock.send(payload); };

sock.on('error', () => { /* ECONNREFUSED between runs: counted as loss */ });
sock.connect(job.port, '127.0.0.1', () => {
  process.stdout.write('started\n');
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let timer: NodeJS.Timeout;
  if (job.mode === 'rate') {
    const rate = job.rate ?? 20_000;
    timer = setInterval(() => {
      const now = Math.min(performance.now(), end);
      const owed = Math.floor(((now - start) / 1000) * rate) - sent;
      for (let i = 0; i < owed; i++) send();
    }, 1);
    sock.on('message', () => { echoed++; });
  } else {
    const window = job.window ?? 128;
    let lastEchoed = 0;
    sock.on('message', () => {
      echoed++;
      if (running) send();
    });
    for (let i = 0; i < window; i++) send();
    timer = setInterval(() => {
      if (echoed === lastEchoed && running) for (let i = 0; i < window; i++) send();
      lastEchoed = echoed;
    }, 20);
  }
  setTimeout(() => {
    running = false;
    clearInterval(timer);
    const seconds = (performance.now() - start) / 1000;
    // Stragglers still in the server's queues count as echoed if they come back soon.
    setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ sent, echoed, seconds })}\n`);
      sock.close();
    }, 100);
  }, job.seconds * 1000);
});
