import type { ChannelMap } from '../core/channel-map.js';
import { attachDescriptor } from '../descriptor.js';
import type { DescriptorOptions, DescriptorSource, DescriptorWays } from '../descriptor.js';
import { checkObject } from '../internal/options.js';
import { Dispatcher } from './dispatcher.js';

/**
 * A {@link Dispatcher} over a pipe or a descriptor, as Python's
 * `asyncore.file_dispatcher`: it is connected at once, `handleRead()` runs
 * while bytes (or the end of stream) wait for `recv()`, `handleWrite()`
 * while `writable()` and `send()` would accept bytes, and `handleClose()`
 * after the end of stream was taken. The descriptor is checked and its ways
 * chosen as {@link openDescriptor} does: a regular file or a terminal is
 * refused with a {@link BadDescriptorError}, and the dispatcher owns the
 * descriptor (closing it closes the descriptor; Python closes a duplicate).
 * On a read-only dispatcher (a pipe's read end, a child's stdout)
 * `writable()` is never asked and `send()` throws a
 * {@link ChannelStateError}; on a write-only one `readable()` is never
 * asked and `recv()` throws one.
 *
 * @example
 * ```ts
 * class Printer extends FileDispatcher {
 *   override writable(): boolean { return false; }
 *   override handleRead(): void {
 *     const data = this.recv(8192);
 *     if (data !== null && data.length > 0) console.log(`${data.length} bytes`);
 *   }
 *   override handleClose(): void { this.close(); }
 * }
 * new Printer(0, null, { writable: false }); // standard input, when it is a pipe
 * await loop();
 * ```
 */
export class FileDispatcher extends Dispatcher {
  #fd: number | null = null;

  /**
   * Wraps `source` (Python's `file_dispatcher(fd, map)`).
   * @param source - a descriptor of this process, or `[child, index]` for a child's stdio pipe
   * @param map - the map to join; default `socketMap`
   * @param options - channel options, `readable`, `writable` (see {@link DescriptorOptions})
   * @throws as {@link openDescriptor}
   * @example
   * ```ts
   * import { spawn } from 'node:child_process';
   * const child = spawn('ls', [], { stdio: ['ignore', 'pipe', 'inherit'] });
   * class Listing extends FileDispatcher {
   *   override writable(): boolean { return false; }
   *   override handleRead(): void { const data = this.recv(4096); if (data?.length) process.stdout.write(data); }
   *   override handleClose(): void { this.close(); }
   * }
   * new Listing([child, 1]);
   * await loop();
   * ```
   */
  constructor(source: DescriptorSource, map?: ChannelMap | null, options: Omit<DescriptorOptions, 'map'> = {}) {
    const { readable, writable, ...channelOptions } = options;
    super(null, map, channelOptions);
    this.setFile(source, { readable, writable });
  }

  /**
   * Puts the dispatcher over `source` (Python's `set_file()`); the
   * constructor calls it.
   * @param source - a descriptor of this process, or `[child, index]`
   * @param ways - `readable: false` or `writable: false` to narrow the ways it goes
   * @throws as {@link openDescriptor}; ChannelStateError when the dispatcher
   *   already has a descriptor or socket
   * @example
   * ```ts
   * class StdinReader extends FileDispatcher {
   *   constructor() { super(0, null, { writable: false }); } // calls setFile(0, { writable: false })
   * }
   * ```
   */
  setFile(source: DescriptorSource, ways: DescriptorWays = {}): void {
    attachDescriptor(this, source, checkObject(ways));
    this.#fd = typeof source === 'number' ? source : null;
  }

  /**
   * The descriptor given, as Python's `fileno()`; `null` for a child's stdio
   * pipe (Node does not say its number), and -1 once closed.
   * @returns the descriptor number, -1 or `null`
   * @example
   * ```ts
   * class Stdin extends FileDispatcher {
   *   override handleRead(): void { console.log(`readable: fd ${String(this.fileno())}`); this.recv(4096); }
   * }
   * ```
   */
  fileno(): number | null {
    return this.closing ? -1 : this.#fd;
  }
}
