// The basic echo server of Python's asyncore documentation, ported line by
// line: an EchoServer dispatcher that listens and hands each connection to
// an EchoHandler, a DispatcherWithSend that sends back what it receives.
// The comments give the Python each line comes from.
//
//   node build/examples/echo-server.js [--host 127.0.0.1] [--port 0]
//
// --port 0 (the default) takes any free port. Prints exactly one line,
// `listening HOST:PORT` (`[HOST]:PORT` for IPv6), once ready; connections
// are logged on standard error. On SIGTERM or SIGINT it stops accepting,
// gives open connections a short grace to finish, closes what is left, and
// exits 0.
import { isIP } from 'node:net';
import type net from 'node:net';
import { parseArgs } from 'node:util';
import { AF_INET, AF_INET6, Dispatcher, DispatcherWithSend, closeAll, formatAddress, loop, socketMap } from 'asyncore';
import type { Address } from 'asyncore';

// How long open connections may go on after a stop signal before they are closed.
const GRACE_MS = 1000;
// The most a closed connection may linger flushing its echoes to a peer that
// does not read them (the default is 30 s), so that a stopping server exits soon.
const CLOSE_TIMEOUT_S = 2;

// Python's log_info() prints on standard output; here that carries only the
// listening line, so the dispatchers below log on standard error.
function logToStderr(message: string, type: string): void {
  if (!Dispatcher.ignoreLogTypes.has(type)) process.stderr.write(`${type}: ${message}\n`);
}

// class EchoHandler(asyncore.dispatcher_with_send):
class EchoHandler extends DispatcherWithSend {
  override logInfo(message: string, type = 'info'): void { logToStderr(message, type); }

  // def handle_read(self):
  override handleRead(): void {
    // data = self.recv(8192)
    const data = this.recv(8192);
    // if data:
    if (data !== null && data.length > 0) {
      // self.send(data)
      this.send(data);
    }
  }
}

// class EchoServer(asyncore.dispatcher):
class EchoServer extends Dispatcher {
  override logInfo(message: string, type = 'info'): void { logToStderr(message, type); }

  // def __init__(self, host, port):
  constructor(host: string, port: number) {
    // asyncore.dispatcher.__init__(self)
    super();
    // self.create_socket()  (AF_INET, SOCK_STREAM by default; AF_INET6 for an IPv6 literal)
    this.createSocket(isIP(host) === 6 ? AF_INET6 : AF_INET);
    // self.set_reuse_addr()
    this.setReuseAddr();
    // self.bind((host, port))
    this.bind([host, port]);
    // self.listen(5)
    this.listen(5);
  }

  // def handle_accepted(self, sock, addr):
  override handleAccepted(sock: net.Socket, addr: Address): void {
    // print('Incoming connection from %s' % repr(addr))  (on standard error:
    // standard output carries only the listening line)
    console.error(`Incoming connection from ${formatAddress(addr)}`);
    // handler = EchoHandler(sock)
    new EchoHandler(sock, socketMap, { closeTimeout: CLOSE_TIMEOUT_S });
  }
}

const { values } = parseArgs({
  options: { host: { type: 'string', default: '127.0.0.1' }, port: { type: 'string', default: '0' } },
});
const host = values.host;
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`echo-server: invalid --port ${values.port}: expected 0 to 65535`);
  process.exit(2);
}

// server = EchoServer('localhost', 8080)
const server = new EchoServer(host, port);

// A stop signal: stop accepting, let open connections go on for GRACE_MS,
// then close every one left. The loop ends once the map is empty.
let grace: NodeJS.Timeout | undefined;
function stop(): void {
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  server.close();
  grace = setTimeout(() => { closeAll(); }, GRACE_MS);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

// asyncore.loop()  (resolves once the map is empty)
const running = (async () => { await loop(); })();
try {
  await server.opened;
  console.log(`listening ${formatAddress(server.addr)}`);
} catch (error) {
  console.error(`echo-server: cannot listen on ${formatAddress([host, port])}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
  closeAll();
}
await running;
clearTimeout(grace);
process.off('SIGTERM', stop);
process.off('SIGINT', stop);
