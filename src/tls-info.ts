// What a TLS channel tells about its session: `channel.tls`.
import tls from 'node:tls';

/**
 * A TLS channel's session, as {@link Channel.tls} shows it once the
 * handshake is done.
 * @example
 * ```ts
 * const info = client.tls;
 * if (info !== null) console.log(info.protocol, info.alpnProtocol, info.authorized);
 * ```
 */
export interface TlsInfo {
  /** Whether the peer's certificate was verified (a server that asks none: false). */
  readonly authorized: boolean;
  /** Why it was not (OpenSSL's code, e.g. `'DEPTH_ZERO_SELF_SIGNED_CERT'`), or `null`. */
  readonly authorizationError: string | null;
  /** The protocol version, e.g. `'TLSv1.3'`. */
  readonly protocol: string | null;
  /** The cipher suite: OpenSSL's name, the standard name and the version. */
  readonly cipher: tls.CipherNameAndProtocol | null;
  /** The protocol chosen by ALPN, or `null` when none was. */
  readonly alpnProtocol: string | null;
  /** The server name the client asked for (SNI), or `null`. */
  readonly servername: string | null;
  /** The peer's certificate, or `null` when it sent none. */
  readonly peerCertificate: tls.PeerCertificate | null;
}

/** The session of `sock`, or `null` when it is not a TLS socket. */
export function tlsInfoOf(sock: unknown): TlsInfo | null {
  if (!(sock instanceof tls.TLSSocket)) return null;
  const error = sock.authorizationError as Error | string | null | undefined;
  const peer = sock.getPeerCertificate();
  const servername = (sock as tls.TLSSocket & { servername?: string | false | null }).servername;
  return {
    authorized: sock.authorized,
    authorizationError: error === null || error === undefined ? null : String(error),
    protocol: sock.getProtocol(),
    cipher: sock.getCipher(),
    alpnProtocol: typeof sock.alpnProtocol === 'string' ? sock.alpnProtocol : null,
    servername: typeof servername === 'string' ? servername : null,
    peerCertificate: Object.keys(peer).length === 0 ? null : peer,
  };
}
