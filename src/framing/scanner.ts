// The framing scanner: cuts a byte stream into frames by a terminator, with
// no I/O of its own. Both faces of the framing layer run on it: AsyncChat
// (the classic `collectIncomingData()`/`foundTerminator()` pair) and the
// frame reader behind `frames()`, `lines()` and `readUntil()`. It keeps only
// what it must: a possible start of the terminator at the end of a chunk
// (Python's `find_prefix_at_end`), or, when its sink asks it to stop after a
// frame, the bytes it has not scanned yet. The frame's own bytes go to the
// sink as they arrive, so the sink decides what to buffer; the scanner counts
// them against `maxFrameLength` and reports a frame as soon as it passes it.

/**
 * What ends a frame: bytes (one delimiter), several delimiters (the earliest
 * match ends the frame; at one position the longest wins), a count of bytes
 * (counted down across chunks), or `null` (no frames: every byte is
 * collected). A count of 0 and an empty delimiter mean `null`, as in Python's
 * asynchat.
 */
export type ScanTerminator = Buffer | readonly Buffer[] | number | null;

/** Where the scanner sends a frame's bytes and its end. */
export interface FrameSink {
  /** Bytes of the current frame, in order; never empty. */
  collect(data: Buffer): void;
  /**
   * The current frame ended (the terminator was found, or the count reached).
   * The terminator may be changed here: it applies to the bytes that follow.
   * @returns true to stop scanning: the bytes after the frame wait for the next `scan()`
   */
  found(): boolean | undefined;
  /**
   * The current frame passed the limit: `length` bytes were seen. Nothing
   * more of it is collected; its remaining bytes, up to its terminator, are
   * discarded, and scanning goes on with the next frame.
   */
  tooLong(length: number, limit: number): void;
}

const EMPTY = Buffer.alloc(0);

/** The longest start of `term` that `buf` ends with after `from` (shorter than `term`), or 0. */
function prefixAtEnd(buf: Buffer, term: Buffer, from: number): number {
  for (let size = Math.min(term.length - 1, buf.length - from); size > 0; size--) {
    if (buf.compare(term, 0, size, buf.length - size) === 0) return size;
  }
  return 0;
}

/**
 * Cuts a byte stream into frames; see the file's head. Feed it chunks with
 * {@link FrameScanner.scan}; it calls its sink.
 */
export class FrameScanner {
  /** The longest frame, in bytes (terminator excluded), before `tooLong()`; Infinity: no limit. */
  maxFrameLength: number;
  #terminator: ScanTerminator = null;
  /** Bytes not scanned yet: a possible start of the terminator, or what a stop left (from #start on). */
  #pending: Buffer = EMPTY;
  /** Where the bytes held start in #pending: quick() moves it instead of making a view per frame. */
  #start = 0;
  /** Bytes of the current frame collected so far. */
  #frameLength = 0;
  /** Discarding a frame that passed the limit, until its end. */
  #skipping = false;
  /** The delimiter that ended the last frame (for a reader that keeps it). */
  #matched: Buffer | null = null;

  constructor(maxFrameLength: number) {
    this.maxFrameLength = maxFrameLength;
  }

  /** The terminator; a count is what remains of it. */
  get terminator(): ScanTerminator { return this.#terminator; }

  /** Sets the terminator (checked by the caller); it applies from the next byte scanned. */
  set terminator(term: ScanTerminator) {
    this.#terminator = term;
  }

  /** Bytes held: a possible start of the terminator, or bytes a stop left unscanned. */
  get pendingLength(): number { return this.#pending.length - this.#start; }

  /** Bytes of the current frame collected so far. */
  get frameLength(): number { return this.#frameLength; }

  /** The delimiter that ended the last frame; `null` when a count ended it. Read it in `found()`. */
  get matched(): Buffer | null { return this.#matched; }

  /** Takes the bytes held (at the end of the stream: the tail of a partial frame). */
  takePending(): Buffer {
    const pending = this.#start === 0 ? this.#pending : this.#pending.subarray(this.#start);
    this.#hold(EMPTY);
    return pending;
  }

  #hold(buf: Buffer): void {
    this.#pending = buf;
    this.#start = 0;
  }

  /** Forgets the bytes held and the current frame. */
  reset(): void {
    this.#hold(EMPTY);
    this.#frameLength = 0;
    this.#skipping = false;
  }

  /**
   * Scans `chunk` after the bytes held, calling `sink` for each piece of a
   * frame and each end, until every byte is scanned or the sink stops it.
   * @returns true when the sink stopped it (bytes may be left: scan an empty chunk to go on)
   */
  scan(chunk: Buffer, sink: FrameSink): boolean {
    const held = this.takePending();
    const buf = held.length === 0 ? chunk : chunk.length === 0 ? held : Buffer.concat([held, chunk]);
    // Where the bytes not scanned yet start: an offset, not a view of the
    // rest per frame (a chunk of many short frames made one view each).
    let at = 0;
    while (at < buf.length) {
      // Read on every pass: found() may change it.
      const term = this.#terminator;
      if (term === null || term === 0 || (Buffer.isBuffer(term) && term.length === 0)) {
        this.#emit(at === 0 ? buf : buf.subarray(at), sink, false);
        return false;
      }
      let end: number; // where the frame's bytes end in buf
      let next: number; // where the bytes after its terminator start
      if (typeof term === 'number') {
        const left = buf.length - at;
        if (left < term) {
          this.#terminator = term - left;
          this.#emit(at === 0 ? buf : buf.subarray(at), sink, true);
          return false;
        }
        this.#terminator = 0;
        end = next = at + term;
        this.#matched = null;
      } else {
        const single = Buffer.isBuffer(term);
        // A one-byte delimiter is searched as a number: Node's byte search
        // (memchr) instead of its general one, which prepares a pattern per call.
        end = single ? (term.length === 1 ? buf.indexOf(term[0] as number, at) : buf.indexOf(term, at)) : this.#earliest(buf, term, at);
        if (end < 0) {
          this.#tail(buf, at, single ? prefixAtEnd(buf, term, at) : FrameScanner.#longestPrefix(buf, term, at), sink);
          return false;
        }
        if (single) this.#matched = term;
        next = end + (this.#matched as Buffer).length;
      }
      if (end > at) this.#emit(buf.subarray(at, end), sink, true);
      at = next;
      this.#frameLength = 0;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      if (sink.found() === true) {
        if (at < buf.length) {
          this.#pending = buf;
          this.#start = at;
        } else {
          this.#hold(EMPTY);
        }
        return true;
      }
    }
    return false;
  }

  /** No terminator after `at`: the bytes go to the frame, but for the last `keep`, a possible start of one. */
  #tail(buf: Buffer, at: number, keep: number, sink: FrameSink): void {
    const stop = buf.length - keep;
    if (stop > at) this.#emit(at === 0 && keep === 0 ? buf : buf.subarray(at, stop), sink, true);
    // A copy: a few bytes must not keep a whole chunk alive.
    if (keep > 0) this.#hold(Buffer.from(buf.subarray(stop)));
  }

  /**
   * The common case without the sink: a frame ended by one delimiter, or a
   * count of bytes, lies whole in the bytes held, or (when none are held) in
   * `chunk`, within the limit. Gives it as one view, with its delimiter when
   * `keep` (without it, and without a `\r` before it when `line`), and holds
   * the bytes after it by an offset (no view made for them). Otherwise
   * changes nothing and gives `undefined`: call scan() with the same chunk.
   */
  quick(chunk: Buffer, keep: boolean, line = false): Buffer | undefined {
    const term = this.#terminator;
    if (this.#frameLength !== 0 || this.#skipping || term === null) return undefined;
    const counted = typeof term === 'number';
    if (counted ? term <= 0 || term > this.maxFrameLength : !Buffer.isBuffer(term) || term.length === 0) return undefined;
    let buf = this.#pending;
    let start = this.#start;
    if (chunk.length > 0) {
      if (start < buf.length) return undefined;
      buf = chunk;
      start = 0;
    }
    let end: number;
    let next: number;
    if (counted) {
      end = next = start + term;
      if (next > buf.length) return undefined;
      this.#terminator = 0;
      this.#matched = null;
    } else {
      const delimiter = term as Buffer;
      const at = delimiter.length === 1 ? buf.indexOf(delimiter[0] as number, start) : buf.indexOf(delimiter, start);
      if (at < 0 || at - start > this.maxFrameLength) return undefined;
      next = at + delimiter.length;
      end = keep ? next : line && at > start && buf[at - 1] === 0x0d ? at - 1 : at;
      this.#matched = delimiter;
    }
    if (next >= buf.length) this.#hold(EMPTY);
    else {
      this.#pending = buf;
      this.#start = next;
    }
    return buf.subarray(start, end);
  }

  /** Hands bytes of the current frame to the sink, unless the frame passed the limit. */
  #emit(data: Buffer, sink: FrameSink, counted: boolean): void {
    if (this.#skipping) return;
    if (counted) {
      const length = this.#frameLength + data.length;
      if (length > this.maxFrameLength) {
        this.#skipping = true;
        this.#frameLength = 0;
        sink.tooLong(length, this.maxFrameLength);
        return;
      }
      this.#frameLength = length;
    }
    sink.collect(data);
  }

  /** The earliest match of any delimiter at or after `from`, or -1; notes which one matched. */
  #earliest(buf: Buffer, terms: readonly Buffer[], from: number): number {
    let best = -1;
    let size = 0;
    for (const term of terms) {
      if (term.length === 0) continue;
      const at = buf.indexOf(term, from);
      if (at >= 0 && (best < 0 || at < best || (at === best && term.length > size))) {
        best = at;
        size = term.length;
        this.#matched = term;
      }
    }
    return best;
  }

  static #longestPrefix(buf: Buffer, terms: readonly Buffer[], from: number): number {
    let longest = 0;
    for (const term of terms) longest = Math.max(longest, prefixAtEnd(buf, term, from));
    return longest;
  }
}
