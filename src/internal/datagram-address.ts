// Checks of datagram addresses that Node would only report later, or not at
// all: an IP literal of the other family, and datagram sizes.
import { isIP } from 'node:net';
import { AF_INET6 } from '../constants.js';
import type { Family } from '../constants.js';
import { showValue } from './validate.js';
import type { IpAddress } from './validate.js';

/**
 * Largest UDP payload: an IPv4 packet of 65535 bytes less its 20-byte header
 * and the 8-byte UDP header; IPv6's payload-length field leaves 65527.
 */
export const MAX_DATAGRAM = { AF_INET: 65507, AF_INET6: 65527 } as const;

/** Throws TypeError when `address` is an IP literal of the other family (names pass: Node resolves them). */
export function checkDatagramHost(family: Family, address: IpAddress | string): void {
  if (typeof address === 'string') return;
  // A server replies to the same few hosts again and again: skip the parse for the last good one.
  if (address.host === lastGood.host && family === lastGood.family) return;
  const version = isIP(address.host);
  const wanted = family === AF_INET6 ? 6 : 4;
  if (version !== 0 && version !== wanted) {
    throw new TypeError(`Invalid host: ${showValue(address.host)} is an IPv${version} address, the channel is ${family}`);
  }
  lastGood = { family, host: address.host };
}

let lastGood: { readonly family: Family | null; readonly host: string } = { family: null, host: '' };

/** Throws RangeError for a datagram larger than UDP carries over `family`. */
export function checkDatagramSize(family: Family, size: number): void {
  const most = family === AF_INET6 ? MAX_DATAGRAM.AF_INET6 : MAX_DATAGRAM.AF_INET;
  if (size > most) {
    throw new RangeError(`Invalid datagram: ${size} bytes is over the ${most}-byte limit of UDP over ${family === AF_INET6 ? 'IPv6' : 'IPv4'}`);
  }
}

/** As {@link checkDatagramHost}, and RangeError for port 0: only a bind may ask for any port. */
export function checkDatagramPeer(family: Family, address: IpAddress | string, action: string): IpAddress {
  checkDatagramHost(family, address);
  const peer = address as IpAddress;
  if (peer.port === 0) throw new RangeError(`Invalid port: cannot ${action} port 0 (only bind() takes 0, for any free port)`);
  return peer;
}
