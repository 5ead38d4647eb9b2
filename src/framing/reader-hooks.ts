// What frames() uses of a FrameReader beyond its public reads: symbol-named
// methods (so they stay off the public surface) and the taker a waiting step
// settles with.

/** Why a read stopped without a frame: the iterable's return() cancelled it. */
export const CANCELLED: unique symbol = Symbol('cancelled');
/** Hands bytes back to the front of the reader (internal to the framing layer). */
export const UNREAD: unique symbol = Symbol('unread');
/** Cancels the waiting read, which rejects with CANCELLED (internal to the framing layer). */
export const CANCEL: unique symbol = Symbol('cancel');
/** A read for frames(): the frame at once when held, else a promise of the taker's result (internal). */
export const STEP: unique symbol = Symbol('step');

/**
 * What a waiting read settles with, for frames() (internal to the framing
 * layer): the iterator's result made from the frame, or from the error (it
 * may throw), so no promise is chained behind the read's.
 */
export interface FrameTaker<R> {
  deliver(frame: Buffer | null): R;
  failed(error: unknown): R;
}
