// The iterator of the experiment servers: 'data' events as `read` readiness,
// one promise per wait and nothing else (no bounds, no close handling beyond
// ending at the socket's end).
import type net from 'node:net';

type Result = IteratorResult<{ type: 'read' }>;
const READ: Result = Object.freeze({ done: false, value: Object.freeze({ type: 'read' as const }) });
const DONE: Result = Object.freeze({ done: true, value: undefined });

export class MinimalReads implements AsyncIterableIterator<{ type: 'read' }> {
  readonly chunks: Buffer[] = [];
  #ended = false;
  #pending: ((result: Result) => void) | null = null;
  readonly #wait = (resolve: (result: Result) => void): void => { this.#pending = resolve; };

  /** Serves one socket: echoes every chunk, `arrived` deciding when the iterator wakes. */
  static async echo(socket: net.Socket, arrived: (reads: MinimalReads) => void): Promise<void> {
    const reads = new MinimalReads();
    socket.on('data', (chunk: Buffer) => {
      reads.chunks.push(chunk);
      if (reads.#pending !== null) arrived(reads);
    });
    socket.on('close', () => {
      reads.#ended = true;
      reads.wake();
    });
    // Every event is a read, and a chunk waits for it.
    for await (const _read of reads) socket.write(reads.chunks.shift() as Buffer);
  }

  /** Settles a waiting next() if there is something to report. */
  wake(): void {
    const pending = this.#pending;
    if (pending === null) return;
    if (this.chunks.length > 0) {
      this.#pending = null;
      pending(READ);
    } else if (this.#ended) {
      this.#pending = null;
      pending(DONE);
    }
  }

  next(): Promise<Result> {
    if (this.chunks.length > 0) return Promise.resolve(READ);
    if (this.#ended) return Promise.resolve(DONE);
    return new Promise(this.#wait);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
