// Small checks on options objects shared by the front.
import { showValue } from './validate.js';

/** An options object with nothing set: the shared defaults serve. */
export function isEmpty(options: unknown): boolean {
  if (typeof options !== 'object' || options === null) return false;
  for (const key in options) if ((options as Record<string, unknown>)[key] !== undefined) return false;
  return true;
}

/** Throws a TypeError unless `value` is an object. */
export function checkObject<T extends object>(value: T): T {
  if (typeof value !== 'object' || (value as unknown) === null) {
    throw new TypeError(`Invalid options: expected an object, got ${showValue(value)}`);
  }
  return value;
}
