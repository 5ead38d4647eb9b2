// Churn in one process, for an A/B of two builds on a busy machine: 8 workers
// connect, send 5 bytes, read the echo and close, against a for-await echo server
// of the given build; prints the process CPU (client and server) per connection.
//   node bench/churn-ab.mjs ../before/dist 4000 && node bench/churn-ab.mjs dist 4000
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
const dist = process.argv[2];
const { Channel, ChannelMap, AF_INET } = await import(pathToFileURL(path.resolve(dist, 'index.js')).href);
const map = new ChannelMap();
const server = new Channel(null, map);
server.createSocket(AF_INET); server.bind(['127.0.0.1', 0]); server.listen(1024); await server.opened;
const port = server.addr[1];
(async () => {
  for await (const conn of server.connections()) {
    (async () => { for await (const chunk of conn.chunks()) await conn.write(chunk); conn.close(); })().catch(() => {});
  }
})();
async function one() {
  await new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('hello'));
    s.on('data', () => s.end());
    s.on('close', resolve); s.on('error', reject);
  });
}
const N = Number(process.argv[3] ?? 3000);
for (let i = 0; i < 300; i++) await one();
const t0 = process.cpuUsage(); const w0 = performance.now();
const workers = 8; let left = N;
await Promise.all(Array.from({ length: workers }, async () => { while (left-- > 0) await one(); }));
const cpu = process.cpuUsage(t0); const wall = performance.now() - w0;
console.log(dist, 'cpu µs/conn', ((cpu.user + cpu.system) / N).toFixed(1), 'wall µs/conn', (wall * 1000 / N).toFixed(1));
server.close(); process.exit(0);
