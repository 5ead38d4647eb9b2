// AsyncChat, the classic face of the framing layer: Python's
// `asynchat.async_chat`. Input goes through a FrameScanner (the terminator
// search, split terminators, counts, and the frame limit Python never had)
// to `collectIncomingData()` and `foundTerminator()`; output is a queue of
// data, producers and the close mark of `closeWhenDone()`, sent as the
// socket accepts it.
import type net from 'node:net';
import { checkStartTls, upgradableStream } from '../channel.js';
import type { ChannelMap } from '../core/channel-map.js';
import { CORE } from '../core/readiness.js';
import { ChannelClosedError, ChannelStateError } from '../errors.js';
import { STREAM_ROLE } from '../roles/chunk-iterator.js';
import type { StartTlsOptions } from '../tls-options.js';
import { startTlsStream } from '../transports/tls-stream.js';
import type { TlsSetup } from '../transports/tls-stream.js';
import { deferred } from '../internal/deferred.js';
import type { FrameTooLongError } from '../framing/errors.js';
import { FrameScanner } from '../framing/scanner.js';
import { ChatSink, DEFAULT_MAX_FRAME_LENGTH, checkMaxFrameLength, checkTerminator, isPromise } from './chat-input.js';
import type { AsyncChatOptions, Terminator } from './chat-input.js';
import { reportFailure } from './dispatch.js';
import type { HandlerResult } from './dispatch.js';
import { Dispatcher } from './dispatcher.js';
import { isChunk, toChunk } from './producers.js';
import type { Chunk, ProducerLike } from './producers.js';
import { SendQueue, toPullable } from './send-queue.js';
import type { PullableOwner } from './send-queue.js';

const EMPTY = Buffer.alloc(0);

export type { AsyncChatOptions, Terminator } from './chat-input.js';

/**
 * Python's `async_chat`: a {@link Dispatcher} for command/response
 * protocols. Set a terminator; the bytes of each frame go to
 * `collectIncomingData()` as they arrive, and `foundTerminator()` is called at
 * its end. Send with `push()` and `pushWithProducer()`; `closeWhenDone()`
 * closes once everything queued before it is sent.
 *
 * Unlike Python's, a frame is limited: once it passes
 * {@link AsyncChat.maxFrameLength} bytes (64 KiB by default) without its
 * terminator, {@link AsyncChat.frameTooLong} is called with a
 * {@link FrameTooLongError}, and by default the channel is closed, so a peer
 * cannot make it buffer without limit.
 *
 * @example
 * ```ts
 * class LineEcho extends AsyncChat {
 *   constructor(sock: net.Socket) { super(sock); this.setTerminator('\n'); }
 *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
 *   override foundTerminator(): void { this.push(Buffer.concat([this.getData(), Buffer.from('\n')])); }
 * }
 * ```
 */
export class AsyncChat extends Dispatcher {
  /**
   * The most bytes read per `handleRead()` (Python's `ac_in_buffer_size`). Default 65536.
   * @example
   * ```ts
   * class Small extends AsyncChat { override acInBufferSize = 4096; }
   * ```
   */
  acInBufferSize = 65536;

  /**
   * `push()` queues data in pieces of at most this many bytes, and
   * `readable()` is false while more than this many pushed bytes wait
   * (Python's `ac_out_buffer_size`). Default 65536.
   * @example
   * ```ts
   * class Small extends AsyncChat { override acOutBufferSize = 4096; }
   * ```
   */
  acOutBufferSize = 65536;

  /**
   * A list for a subclass to collect a frame's bytes in (Python's
   * `incoming`): push to it in `collectIncomingData()`, take it with `getData()`.
   * @example
   * ```ts
   * class Lines extends AsyncChat {
   *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
   *   override foundTerminator(): void { console.log(this.getData().toString()); }
   * }
   * ```
   */
  readonly incoming: Buffer[] = [];

  readonly #scanner: FrameScanner;
  readonly #sink = new ChatSink(this);
  readonly #queue = new SendQueue();
  #owner: PullableOwner | null = null;
  #upgrading = false;
  #scanning = false;

  /**
   * Wraps an accepted socket, or makes an idle chat to `createSocket()` and `connect()`.
   * @param sock - a socket returned by `accept()`, or nothing
   * @param map - the map to join; default `socketMap`
   * @param options - a channel's options, and `maxFrameLength`
   * @throws TypeError/RangeError for a bad option
   * @example
   * ```ts
   * class Handler extends AsyncChat {
   *   constructor(sock: net.Socket, map: ChannelMap) { super(sock, map, { maxFrameLength: 4096 }); this.setTerminator('\r\n'); }
   * }
   * ```
   */
  constructor(sock?: net.Socket | null, map?: ChannelMap | null, options: AsyncChatOptions = {}) {
    const maxFrameLength = options.maxFrameLength === undefined
      ? DEFAULT_MAX_FRAME_LENGTH : checkMaxFrameLength(options.maxFrameLength);
    super(sock, map, options);
    this.#scanner = new FrameScanner(maxFrameLength);
  }

  /**
   * The longest frame in bytes, terminator excluded (a count terminator
   * counts too); default 65536. `Infinity` gives Python's behaviour: no limit.
   * @example
   * ```ts
   * class Uploads extends AsyncChat {
   *   constructor(sock: net.Socket) { super(sock); this.maxFrameLength = 16 << 20; }
   * }
   * ```
   */
  get maxFrameLength(): number { return this.#scanner.maxFrameLength; }

  /**
   * Sets the limit; it applies to the frame being read too.
   * @param value - a positive integer or `Infinity`
   * @throws TypeError/RangeError for anything else
   * @example
   * ```ts
   * class Unlimited extends AsyncChat {
   *   constructor(sock: net.Socket) { super(sock); this.maxFrameLength = Infinity; }
   * }
   * ```
   */
  set maxFrameLength(value: number) {
    this.#scanner.maxFrameLength = checkMaxFrameLength(value);
  }

  // ---- input ---------------------------------------------------------------

  /**
   * Sets what ends a frame; inside `foundTerminator()`, it applies to the
   * rest of the bytes already received. An empty terminator or 0 collects
   * every byte, as `null` does.
   * @param term - bytes (a string is encoded as UTF-8), a count of bytes
   *   (counted down across reads), or `null` (no frames: every byte goes to
   *   `collectIncomingData()` and `foundTerminator()` is never called)
   * @throws RangeError for a negative count (Python's ValueError); TypeError
   *   for a number that is not an integer, and for any other type
   * @example
   * ```ts
   * class Smtp extends AsyncChat {
   *   override foundTerminator(): void { this.setTerminator(this.getData().toString() === 'DATA' ? '\r\n.\r\n' : '\r\n'); }
   * }
   * ```
   */
  setTerminator(term: Terminator): void {
    this.#scanner.terminator = checkTerminator(term);
  }

  /**
   * The terminator: bytes (a string set is returned encoded), what remains of
   * a count, or `null` (the default).
   * @returns the current terminator
   * @example
   * ```ts
   * class Block extends AsyncChat {
   *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); console.log(`${String(this.getTerminator())} bytes to go`); }
   * }
   * ```
   */
  getTerminator(): Buffer | number | null {
    return this.#scanner.terminator as Buffer | number | null;
  }

  /**
   * Called with the bytes of the current frame as they arrive (never an
   * empty buffer). Override it; the default throws, as Python's raises
   * `NotImplementedError`, and the error goes to `handleError()`.
   * @param data - bytes of the frame (terminator excluded)
   * @returns nothing, or a promise the loop awaits before the channel's next event
   * @throws Error unless overridden
   * @example
   * ```ts
   * class Lines extends AsyncChat {
   *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
   * }
   * ```
   */
  collectIncomingData(data: Buffer): HandlerResult {
    throw new Error(`Cannot collect ${data.length} bytes of input: ${this.constructor.name} must override collectIncomingData()`);
  }

  /**
   * Called at the end of each frame, once its terminator was read (or its
   * count reached); an empty frame between two terminators gives this call
   * alone. Override it; the default throws, as Python's raises
   * `NotImplementedError`, and the error goes to `handleError()`.
   * @returns nothing, or a promise the loop awaits before the channel's next event
   * @throws Error unless overridden
   * @example
   * ```ts
   * class Lines extends AsyncChat {
   *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
   *   override foundTerminator(): void { this.push(`got ${this.getData().length} bytes\r\n`); }
   * }
   * ```
   */
  foundTerminator(): HandlerResult {
    throw new Error(`Cannot end a frame: ${this.constructor.name} must override foundTerminator()`);
  }

  /**
   * Takes the bytes collected in {@link AsyncChat.incoming}, joined, and
   * empties it (Python's `_get_data`).
   * @returns the collected bytes
   * @example
   * ```ts
   * class Lines extends AsyncChat {
   *   override collectIncomingData(data: Buffer): void { this.incoming.push(data); }
   *   override foundTerminator(): void { console.log(this.getData().toString()); }
   * }
   * ```
   */
  getData(): Buffer {
    const data = this.incoming.length === 1 ? this.incoming[0] as Buffer : Buffer.concat(this.incoming);
    while (this.incoming.length > 0) this.incoming.pop(); // inlined; `length = 0` runs a setter (profiled)
    return data;
  }

  /**
   * A frame passed {@link AsyncChat.maxFrameLength} (Twisted's
   * `lineLengthExceeded`). Nothing more of it is collected, and `incoming` is
   * emptied (a subclass that collects elsewhere drops what it has here); if
   * the channel stays open, the frame's remaining bytes are discarded up to
   * its terminator and the next frame is read as usual. Default:
   * `handleError(error)`, whose default logs it and closes the channel.
   * @param error - the frame's length so far and the limit
   * @returns what `handleError()` returned
   * @example
   * ```ts
   * class Tolerant extends AsyncChat {
   *   override frameTooLong(error: FrameTooLongError): void { this.push(`500 line over ${error.limit} bytes\r\n`); } // and go on
   * }
   * ```
   */
  frameTooLong(error: FrameTooLongError): HandlerResult {
    return this.handleError(error);
  }

  /**
   * Reads at most `acInBufferSize` bytes and scans them for terminators.
   * @returns the promises of handlers that returned one
   * @example
   * ```ts
   * class Traced extends AsyncChat {
   *   override handleRead(): HandlerResult { console.log('input'); return super.handleRead(); }
   * }
   * ```
   */
  override handleRead(): HandlerResult {
    if (this.#upgrading) return; // during STARTTLS the bytes that come are the TLS layer's
    const data = this.recv(this.acInBufferSize);
    // null: nothing waits (Python's BlockingIOError); empty: the end, handleClose() follows.
    if (data === null || data.length === 0) return;
    this.#scanning = true;
    try {
      this.#scanner.scan(data, this.#sink);
    } finally {
      this.#scanning = false;
    }
    // A handler asked for TLS: the scan stopped behind its frame, and the rest is the peer's first TLS bytes.
    if (this.upgrading) this.#giveBack();
    const later = this.#sink.later;
    if (later.length === 0) return;
    this.#sink.later = [];
    return Promise.all(later).then(() => undefined);
  }

  // ---- output --------------------------------------------------------------

  /**
   * Queues data and starts sending; data longer than `acOutBufferSize` is
   * queued in pieces of that size. The bytes are not copied: do not modify a
   * buffer after pushing it. Ignored once the channel is closed.
   * @param data - a Buffer, Uint8Array or string (UTF-8; Python's `push()` takes bytes only)
   * @throws TypeError for anything else
   * @example
   * ```ts
   * class Greeter extends AsyncChat {
   *   override handleConnect(): void { this.push('HELO example.org\r\n'); }
   * }
   * ```
   */
  push(data: Chunk): void {
    const buf = toChunk(data, 'Cannot push data');
    if (buf.length === 0 || this.closing) return;
    this.#queue.pushData(buf, this.acOutBufferSize);
    this.initiateSend();
  }

  /**
   * Queues a producer and starts sending: a {@link Producer} (`more()` is
   * called when the socket can take more), a {@link SimpleProducer}, a chunk
   * (queued as `push()` does), or any iterable or async iterable of chunks.
   * An async iterable is never awaited by a handler: its next chunk is asked
   * for when it reaches the head of the queue, and at most one chunk is read
   * ahead of what was sent. Its failure goes to `handleError()`; the queue
   * then goes on after it. Ignored once the channel is closed.
   * @param producer - what to send
   * @throws TypeError for anything else
   * @example
   * ```ts
   * import { createReadStream } from 'node:fs';
   * class FileServer extends AsyncChat {
   *   override foundTerminator(): void {
   *     this.pushWithProducer(createReadStream(this.getData().toString()) as AsyncIterable<Buffer>);
   *     this.closeWhenDone();
   *   }
   * }
   * ```
   */
  pushWithProducer(producer: ProducerLike): void {
    if (isChunk(producer)) {
      this.push(producer);
      return;
    }
    const pullable = toPullable(producer, this.#pullableOwner());
    if (this.closing) {
      pullable.release();
      return;
    }
    this.#queue.pushSource(pullable);
    this.initiateSend();
  }

  /**
   * Closes the channel once everything queued before this call was handed to
   * the socket: then `handleClose()` is called (its default, `close()`,
   * flushes those bytes before ending the connection).
   * @example
   * ```ts
   * class Quit extends AsyncChat {
   *   override foundTerminator(): void { this.push('221 bye\r\n'); this.closeWhenDone(); }
   * }
   * ```
   */
  closeWhenDone(): void {
    if (!this.closing) this.#queue.pushClose();
  }

  /**
   * Sends from the head of the queue while the socket accepts bytes: data,
   * then each producer's chunks until it is exhausted; at the close mark of
   * `closeWhenDone()`, calls `handleClose()`. An async producer with no chunk
   * ready stops it until its chunk comes (Python's `initiate_send`).
   * @example
   * ```ts
   * class Eager extends AsyncChat {
   *   override handleConnect(): void { this.initiateSend(); } // what was pushed before the connection
   * }
   * ```
   */
  initiateSend(): void {
    if (!this.#queue.flush(this)) return;
    const result = this.handleClose();
    if (isPromise(result)) result.then(undefined, (error: unknown) => reportFailure(this, error));
  }

  /**
   * Sends (`initiateSend()`).
   * @example
   * ```ts
   * class Traced extends AsyncChat {
   *   override handleWrite(): void { super.handleWrite(); console.log(`${this.pendingWrite} bytes in the socket`); }
   * }
   * ```
   */
  override handleWrite(): void {
    this.initiateSend();
  }

  /**
   * True before the connection is made, and while the queue holds something
   * to send (not while an async producer's next chunk is awaited).
   * @example
   * ```ts
   * class Chat extends AsyncChat {
   *   greeting = true;
   *   override writable(): boolean { return this.greeting || super.writable(); }
   * }
   * ```
   */
  override writable(): boolean {
    return !this.connected || this.#queue.ready;
  }

  /**
   * False while more than `acOutBufferSize` pushed bytes wait to be sent, so a
   * peer that does not read stops being read from (Python's is always true).
   * @example
   * ```ts
   * class Pausable extends AsyncChat {
   *   paused = false;
   *   override readable(): boolean { return !this.paused && super.readable(); }
   * }
   * ```
   */
  override readable(): boolean {
    return this.#queue.bytes <= this.acOutBufferSize;
  }

  /**
   * `readable()`, but false during a {@link AsyncChat.startTls} upgrade, whatever
   * `readable()` says: the bytes that wait are the TLS layer's.
   * @example
   * ```ts
   * class Quiet extends AsyncChat { override handleWrite(): void { if (!this.readInterest) console.log('not reading now'); } }
   * ```
   */
  override get readInterest(): boolean {
    return !this.#upgrading && this.readable();
  }

  /**
   * Not settable, as on every dispatcher: override `readable()` instead.
   * @param on - ignored: it throws TypeError
   * @example
   * ```ts
   * class Reader extends AsyncChat { override readable(): boolean { return this.incoming.length < 100; } }
   * ```
   */
  override set readInterest(on: boolean) {
    super.readInterest = on;
  }

  /**
   * The peer closed or the connection broke: close, quietly (Python's `handle_close`).
   * @example
   * ```ts
   * class Chat extends AsyncChat {
   *   override handleClose(): void { console.log('bye'); super.handleClose(); }
   * }
   * ```
   */
  override handleClose(): HandlerResult {
    this.close();
  }

  /**
   * Discards the input held (a partial frame, `incoming`) and the send queue,
   * releasing its producers (Python's "emergencies only" `discard_buffers`).
   * Bytes the socket already accepted are still sent.
   * @example
   * ```ts
   * class Reset extends AsyncChat {
   *   override foundTerminator(): void { if (this.getData().toString() === 'RSET') this.discardBuffers(); }
   * }
   * ```
   */
  discardBuffers(): void {
    this.#scanner.reset();
    this.incoming.length = 0;
    this.#queue.clear();
  }

  /**
   * Closes, as `Dispatcher.close()`, and discards the send queue (as Python,
   * whose socket is gone): bytes the socket accepted are flushed, what is
   * still queued is not. Use `closeWhenDone()` to send everything first.
   * @example
   * ```ts
   * class Quit extends AsyncChat {
   *   override foundTerminator(): void { this.close(); } // at once
   * }
   * ```
   */
  override close(): void {
    this.#queue.clear();
    super.close();
  }

  /**
   * Discards the send queue and resets the connection.
   * @example
   * ```ts
   * class Strict extends AsyncChat {
   *   override frameTooLong(): void { this.abort(); }
   * }
   * ```
   */
  override abort(): void {
    this.#queue.clear();
    super.abort();
  }

  /**
   * Whether a {@link AsyncChat.startTls} upgrade is under way: from the call
   * until its handshake settles. No `handleRead()` is called meanwhile.
   * @example
   * ```ts
   * class Watch extends AsyncChat { override writable(): boolean { return !this.upgrading && super.writable(); } }
   * ```
   */
  get upgrading(): boolean { return this.#upgrading; }

  /**
   * STARTTLS for a chat: as {@link Channel.startTls}, with the chat's own
   * buffers kept in order. What was pushed before the call goes out first, in
   * plaintext (the handshake waits for the queue); input stops at the frame
   * whose handler made the call, and every byte after it (a ClientHello in the
   * same read) goes to TLS, not to `collectIncomingData()`.
   * @param options - the TLS options of this side ({@link StartTlsOptions})
   * @returns a promise that resolves once the handshake is done; it rejects
   *   as {@link Channel.startTls}'s does
   * @throws as {@link Channel.startTls}; ChannelStateError while an upgrade is under way
   * @example
   * ```ts
   * import { readFileSync } from 'node:fs';
   * const tls = { key: readFileSync('key.pem'), cert: readFileSync('cert.pem') };
   * class Smtp extends AsyncChat {
   *   override foundTerminator(): void {
   *     if (this.getData().toString() !== 'STARTTLS') return;
   *     this.push('220 Ready to start TLS\r\n');
   *     this.startTls(tls).catch(() => { this.close(); });
   *   }
   * }
   * ```
   */
  override startTls(options: StartTlsOptions): Promise<undefined> {
    if (this.#upgrading && this.state !== 'closed') throw new ChannelStateError('Cannot start TLS: an upgrade is under way');
    // With bytes queued: checked now, started with that setup once they are sent.
    const started = this.#queue.empty ? super.startTls(options) : this.#queueUpgrade(checkStartTls(this, options)[1]);
    this.#upgrading = true;
    if (!this.#scanning) this.#giveBack();
    const settled = (): void => {
      this.#upgrading = false;
      this[CORE].signal(); // readable again
    };
    started.then(settled, settled);
    return started;
  }

  /** The upgrade as an entry of the send queue: started when the queue reaches it, refused when the queue is dropped first. */
  #queueUpgrade(setup: TlsSetup): Promise<undefined> {
    const done = deferred<undefined>();
    let begun = false; // the queue reached it, or dropped it
    this.#queue.pushSource({
      waiting: false,
      pull: (): Buffer => {
        if (begun) return EMPTY;
        begun = true;
        try {
          // Only the state can have changed since the checks at the call.
          startTlsStream(upgradableStream(this), setup).then(() => { done.resolve(undefined); }, (error: unknown) => { done.reject(error); });
        } catch (error) {
          done.reject(error);
        }
        return EMPTY;
      },
      release: (): void => {
        if (begun) return;
        begun = true;
        done.reject(this.closing
          ? new ChannelClosedError('Cannot start TLS: the chat closed before its queue was sent')
          : new ChannelStateError('Cannot start TLS: the send queue was discarded'));
      },
    });
    return done.promise;
  }

  /** Hands the bytes the scanner holds back to the stream, in front of those unread. */
  #giveBack(): void {
    const rest = this.#scanner.takePending();
    if (rest.length > 0) this[STREAM_ROLE]()?.unread(rest);
  }

  /** What async producers tell: a chunk is ready (send it), or they failed. */
  #pullableOwner(): PullableOwner {
    this.#owner ??= {
      ready: (): void => {
        if (this.closing) return;
        try {
          this.initiateSend();
        } catch (error) {
          void reportFailure(this, error);
        }
        this[CORE].signal(); // writable() changed
      },
      failed: (error: unknown): void => {
        if (!this.closing) void reportFailure(this, error);
      },
    };
    return this.#owner;
  }
}
