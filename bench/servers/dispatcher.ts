// The classic adapter: handleRead() buffers, handleWrite() flushes, writable()
// says whether bytes wait, as an asyncore program would.
import { Dispatcher } from 'asyncore';
import { serveClassic } from './classic-server.js';

class EchoHandler extends Dispatcher {
  #buffer: Buffer | null = null;
  override readable(): boolean {
    return this.#buffer === null || this.#buffer.length < 65536;
  }
  override writable(): boolean {
    return this.#buffer !== null;
  }
  override handleRead(): void {
    const data = this.recv(65536);
    if (data === null || data.length === 0) return;
    this.#buffer = this.#buffer === null ? data : Buffer.concat([this.#buffer, data]);
  }
  override handleWrite(): void {
    if (this.#buffer === null) return;
    const sent = this.send(this.#buffer);
    this.#buffer = sent === this.#buffer.length ? null : this.#buffer.subarray(sent);
  }
  override handleClose(): void {
    this.close();
  }
}

await serveClassic((sock) => new EchoHandler(sock));
