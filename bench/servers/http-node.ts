// The reference for bench/http.ts: node:http serving the two routes of
// examples/http-server.ts (GET / answers "hello\n", POST /echo its body).
import http from 'node:http';
import { HOST, announce } from './common.js';

const server = http.createServer((req, res) => {
  const route = (req.url ?? '/').split('?', 1)[0];
  if (route === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 6 });
    res.end(req.method === 'GET' ? 'hello\n' : undefined);
  } else if (route === '/echo' && req.method === 'POST') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => { chunks.push(chunk); });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
      res.end(body);
    });
  } else {
    const known = route === '/' || route === '/echo';
    res.writeHead(known ? 405 : 404, { 'Content-Type': 'text/plain' });
    res.end(known ? 'Method Not Allowed\n' : 'Not Found\n');
  }
});
server.keepAliveTimeout = 5000;
server.listen(0, HOST, () => { announce((server.address() as { port: number }).port); });
