// DispatcherWithSend, as the seed's echo server: handleRead() sends what it reads.
import { DispatcherWithSend } from 'asyncore';
import { serveClassic } from './classic-server.js';

class EchoHandler extends DispatcherWithSend {
  override handleRead(): void {
    const data = this.recv(65536);
    if (data !== null && data.length > 0) this.send(data);
  }
  override handleClose(): void {
    this.close();
  }
}

await serveClassic((sock) => new EchoHandler(sock));
