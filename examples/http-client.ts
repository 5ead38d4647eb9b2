// The basic HTTP client of Python's asyncore documentation, ported line by
// line: a Dispatcher that connects, sends one HTTP/1.0 request from
// handleWrite() while writable() says bytes wait, and prints what
// handleRead() receives until the server closes. The comments give the
// Python each line comes from.
//
//   node build/examples/http-client.js [--host www.python.org] [--port 80] [--path /]
//
// Writes the response (status line, headers and body, as received) to
// standard output and exits 0 once the map is empty; a failed connection
// is reported on standard error, with exit status 1.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { AF_INET, AF_INET6, Dispatcher, formatAddress, loop } from 'asyncore';

// class HTTPClient(asyncore.dispatcher):
class HTTPClient extends Dispatcher {
  buffer: Buffer;

  // def __init__(self, host, path):
  constructor(host: string, port: number, path: string) {
    // asyncore.dispatcher.__init__(self)
    super();
    // self.create_socket()  (AF_INET, SOCK_STREAM by default; AF_INET6 for an IPv6 literal)
    this.createSocket(isIP(host) === 6 ? AF_INET6 : AF_INET);
    // self.connect( (host, 80) )
    this.connect([host, port]);
    // self.buffer = bytes('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' % (path, host), 'ascii')
    // (the Host header names the port when it is not 80, as HTTP asks)
    this.buffer = Buffer.from(`GET ${path} HTTP/1.0\r\nHost: ${hostHeader(host, port)}\r\n\r\n`, 'ascii');
  }

  // def handle_connect(self):
  override handleConnect(): void {
    // pass
  }

  // def handle_close(self):
  override handleClose(): void {
    // self.close()
    this.close();
  }

  // def handle_read(self):
  override handleRead(): void {
    // print(self.recv(8192))  (Python prints each chunk's repr; the bytes
    // themselves, unchanged, are what a reader of the response wants)
    const data = this.recv(8192);
    if (data !== null) process.stdout.write(data);
  }

  // def writable(self):
  override writable(): boolean {
    // return (len(self.buffer) > 0)
    return this.buffer.length > 0;
  }

  // def handle_write(self):
  override handleWrite(): void {
    // sent = self.send(self.buffer)
    const sent = this.send(this.buffer);
    // self.buffer = self.buffer[sent:]
    this.buffer = this.buffer.subarray(sent);
  }

  // Not in Python's example, whose default handle_error() prints a
  // traceback and closes: the error goes to standard error, not into the
  // response on standard output, and the exit status says it failed.
  override handleError(error: unknown): void {
    console.error(`http-client: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
    this.close();
  }
}

/** The Host header's value: the host, with the port unless it is HTTP's 80. */
function hostHeader(host: string, port: number): string {
  if (port !== 80) return formatAddress([host, port]);
  return isIP(host) === 6 ? `[${host}]` : host;
}

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: 'www.python.org' },
    port: { type: 'string', default: '80' },
    path: { type: 'string', default: '/' },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`http-client: invalid --port ${values.port}: expected 1 to 65535`);
  process.exit(2);
}
if (!/^\/[\x21-\x7e]*$/.test(values.path)) {
  console.error(`http-client: invalid --path ${JSON.stringify(values.path)}: expected a path that starts with "/", in printable ASCII without spaces`);
  process.exit(2);
}

// client = HTTPClient('www.python.org', '/')
new HTTPClient(values.host, port, values.path);
// asyncore.loop()  (resolves once the map is empty)
await loop();
