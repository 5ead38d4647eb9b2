// The input side of AsyncChat: its options, the terminators it accepts, and
// the sink that hands the scanner's calls to its handlers.
import type { ChannelOptions } from '../channel-options.js';
import { FrameTooLongError } from '../framing/errors.js';
import type { FrameSink } from '../framing/scanner.js';
import { showValue } from '../internal/validate.js';
import type { HandlerResult } from './dispatch.js';
import { toChunk } from './producers.js';

/**
 * What ends a frame for {@link AsyncChat.setTerminator}: bytes (a string is
 * encoded as UTF-8), a count of bytes, or `null` for no frames at all.
 * @example
 * ```ts
 * const terminators: Terminator[] = ['\r\n', Buffer.from('\r\n.\r\n'), 512, null];
 * ```
 */
export type Terminator = Buffer | Uint8Array | string | number | null;

/**
 * The options of an {@link AsyncChat}: a channel's, and the frame limit.
 * @example
 * ```ts
 * const options: AsyncChatOptions = { maxFrameLength: 1024, idleTimeout: 60 };
 * ```
 */
export interface AsyncChatOptions extends ChannelOptions {
  /**
   * The longest frame in bytes, terminator excluded; default 65536;
   * `Infinity` for none, as in Python. See {@link AsyncChat.maxFrameLength}.
   * @example
   * ```ts
   * class Uploads extends AsyncChat {
   *   constructor(sock: net.Socket) { super(sock, null, { maxFrameLength: 16 << 20 }); }
   * }
   * ```
   */
  maxFrameLength?: number;
}

/** The default of {@link AsyncChatOptions.maxFrameLength}: 64 KiB. */
export const DEFAULT_MAX_FRAME_LENGTH = 64 * 1024;

export function isPromise(value: unknown): value is Promise<void> {
  return typeof (value as Promise<void> | undefined)?.then === 'function';
}

export function checkMaxFrameLength(value: unknown): number {
  if (value === Infinity) return value;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`Invalid maxFrameLength: expected a positive integer or Infinity, got ${showValue(value)}`);
  }
  if (value <= 0) throw new RangeError(`Invalid maxFrameLength: expected a positive integer or Infinity, got ${value}`);
  return value;
}

/** Checks a terminator and converts it to the scanner's form (bytes are copied: the caller may reuse its buffer). */
export function checkTerminator(term: unknown): Buffer | number | null {
  if (term === null) return null;
  if (typeof term === 'number') {
    if (!Number.isInteger(term)) throw new TypeError(`Cannot set terminator: a count must be an integer, got ${showValue(term)}`);
    if (term < 0) throw new RangeError(`Cannot set terminator: a count must not be negative, got ${term}`);
    return term;
  }
  if (typeof term === 'string' || term instanceof Uint8Array) return Buffer.from(toChunk(term, 'Cannot set terminator'));
  throw new TypeError(`Cannot set terminator: expected bytes, a string, a count or null, got ${showValue(term)}`);
}

/** The handlers the sink calls: an AsyncChat, seen without its class. */
export interface ChatHandlers {
  readonly closing: boolean;
  /** A STARTTLS upgrade was asked for: the bytes after the current frame belong to TLS. */
  readonly upgrading: boolean;
  readonly incoming: Buffer[];
  collectIncomingData(data: Buffer): HandlerResult;
  foundTerminator(): HandlerResult;
  frameTooLong(error: FrameTooLongError): HandlerResult;
}

/**
 * Whether a handler stopped the scan: it closed the chat or asked for TLS. A
 * function, read after the handler ran: inline, the compiler would narrow
 * `closing` to the false it was checked to be before the call.
 */
function stops(chat: ChatHandlers): boolean {
  return chat.closing || chat.upgrading;
}

/**
 * Where the scanner's calls go: the chat's handlers, until the chat closes or
 * asks for TLS (then scanning stops). A handler's promise is kept for
 * `handleRead()` to return.
 */
export class ChatSink implements FrameSink {
  later: Promise<void>[] = [];
  constructor(readonly chat: ChatHandlers) {}
  #keep(result: HandlerResult): void {
    if (isPromise(result)) this.later.push(result);
  }
  collect(data: Buffer): void {
    if (!this.chat.closing) this.#keep(this.chat.collectIncomingData(data));
  }
  found(): boolean {
    if (this.chat.closing) return true;
    this.#keep(this.chat.foundTerminator());
    return stops(this.chat);
  }
  tooLong(length: number, limit: number): void {
    if (this.chat.closing) return;
    this.chat.incoming.length = 0; // what was collected of the long frame
    this.#keep(this.chat.frameTooLong(new FrameTooLongError(length, limit)));
  }
}
