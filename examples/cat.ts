// cat: copies standard input to standard output through the loop, with two
// FileDispatchers, as Python's asyncore.file_dispatcher does for pipes:
//
//   producer | node build/examples/cat.js | consumer
//
// Standard input and output must be pipes or sockets (a shell's `|`, or a
// parent process's 'pipe' stdio). Node cannot watch a terminal or a regular
// file for readiness, so when either is a TTY or a file (`node cat.js`
// typed at a prompt, `< in.txt`, `> out.txt`) nothing is copied: the
// program says which descriptor it refused and why on standard error, and
// exits with status 2. The bytes pass unchanged, binary or not; memory is
// bounded: reading stops while 256 KiB wait to be written.
import { BadDescriptorError, FileDispatcher, SHUT_WR, loop } from 'asyncore';

const HIGH_WATER_MARK = 256 * 1024;

/** Messages go to standard error: standard output carries the data. */
class StdioDispatcher extends FileDispatcher {
  override logInfo(message: string, type = 'info'): void {
    if (!FileDispatcher.ignoreLogTypes.has(type)) process.stderr.write(`cat: ${type}: ${message}\n`);
  }
}

/** Standard output: writes what the input hands it, then the end of stream. */
class Output extends StdioDispatcher {
  #queue: Buffer[] = [];
  #queued = 0;
  #ending = false;
  onClose: () => void = () => undefined;

  get pending(): number { return this.#queued; }

  push(data: Buffer): void {
    this.#queue.push(data);
    this.#queued += data.length;
  }

  /** The input ended: end ours once everything is written. */
  finish(): void { this.#ending = true; }

  override writable(): boolean { return this.#queued > 0 || this.#ending; }

  override handleWrite(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as Buffer;
      const sent = this.send(head);
      this.#queued -= sent;
      if (sent < head.length) {
        this.#queue[0] = head.subarray(sent);
        return;
      }
      this.#queue.shift();
    }
    if (this.#ending) this.shutdown(SHUT_WR); // then `close` comes: handleClose()
  }

  override handleClose(): void {
    this.close();
    this.onClose();
  }
}

/** Standard input: hands every chunk to the output, while it has room. */
class Input extends StdioDispatcher {
  readonly #output: Output;
  constructor(output: Output) {
    super(0, null, { writable: false });
    this.#output = output;
  }

  override readable(): boolean { return this.#output.pending < HIGH_WATER_MARK; }

  override handleRead(): void {
    const data = this.recv(65536);
    if (data === null) return;
    if (data.length === 0) this.#output.finish();
    else this.#output.push(data);
  }

  override handleClose(): void { this.close(); }
}

function open(): Input | null {
  let output: Output | null = null;
  try {
    output = new Output(1, null, { readable: false });
    const input = new Input(output);
    // The output failing (a reader that left) stops the input too.
    output.onClose = () => { input.close(); };
    return input;
  } catch (error) {
    output?.close();
    if (!(error instanceof BadDescriptorError)) throw error;
    const which = error.fd === 0 ? 'standard input' : 'standard output';
    process.stderr.write(`cat: cannot use ${which}: ${error.message}; use a pipe\n`);
    process.exitCode = 2;
    return null;
  }
}

if (open() !== null) await loop();
