// The typed errors of a TLS handshake: a client's connect(), a listener's
// gate (counted, never reported), and startTls().

/**
 * A TLS handshake failed for a reason other than the peer's certificate: the
 * peer closed or reset the connection, sent an alert, or spoke no TLS. Node's
 * error is the `cause`. A client channel reports it as an `error` event with
 * operation `'connect'` (and `connect()` rejects with it); a listener counts
 * it in {@link Channel.failedHandshakes}; `startTls()` rejects with it.
 *
 * @example
 * ```ts
 * await client.startTls({ servername: 'localhost' }).catch((err: unknown) => {
 *   if (err instanceof TlsHandshakeError) console.error('handshake failed:', err.cause);
 * });
 * ```
 */
export class TlsHandshakeError extends Error {
  /**
   * `'ERR_TLS_HANDSHAKE'`, or a subclass's own code: test it rather than the message.
   * @example
   * ```ts
   * if ((err as TlsHandshakeError).code === 'ERR_TLS_HANDSHAKE') console.error('handshake failed');
   * ```
   */
  readonly code: 'ERR_TLS_HANDSHAKE' | 'ERR_TLS_HANDSHAKE_TIMEOUT' | 'ERR_TLS_CERTIFICATE' | 'ERR_TLS_HOSTNAME' = 'ERR_TLS_HANDSHAKE';

  /**
   * `'TlsHandshakeError'`, or a subclass's name, as shown in stack traces.
   * @example
   * ```ts
   * String(err) // 'TlsHandshakeError: ...'
   * ```
   */
  override readonly name: string = 'TlsHandshakeError';
}

/**
 * No TLS handshake completed within the handshake timeout (the `tls`
 * option's `handshakeTimeout`): a peer that opens a connection and never
 * speaks TLS, or one too slow. The connection is destroyed.
 *
 * @example
 * ```ts
 * try { await connect(['127.0.0.1', port], { tls: { handshakeTimeout: 2 } }); }
 * catch (err) { if (err instanceof TlsHandshakeTimeoutError) console.error(err.code); } // 'ERR_TLS_HANDSHAKE_TIMEOUT'
 * ```
 */
export class TlsHandshakeTimeoutError extends TlsHandshakeError {
  /**
   * Always `'ERR_TLS_HANDSHAKE_TIMEOUT'`.
   * @example
   * ```ts
   * if ((err as TlsHandshakeTimeoutError).code === 'ERR_TLS_HANDSHAKE_TIMEOUT') console.error('peer too slow');
   * ```
   */
  override readonly code = 'ERR_TLS_HANDSHAKE_TIMEOUT';
  /**
   * Always `'TlsHandshakeTimeoutError'`.
   * @example
   * ```ts
   * String(err) // 'TlsHandshakeTimeoutError: ...'
   * ```
   */
  override readonly name = 'TlsHandshakeTimeoutError';

  /**
   * Made by the channel or listener whose handshake ran out of time.
   * @param seconds - the timeout, quoted in the message
   * @example
   * ```ts
   * new TlsHandshakeTimeoutError(10).message // 'TLS handshake not done within 10 s: connection destroyed'
   * ```
   */
  constructor(seconds: number) {
    super(`TLS handshake not done within ${seconds} s: connection destroyed`);
  }
}

/**
 * The peer's certificate was not trusted: an unknown issuer, a self-signed
 * certificate, an expired one ... `reason` holds OpenSSL's verification code
 * (`'UNABLE_TO_VERIFY_LEAF_SIGNATURE'`, `'CERT_HAS_EXPIRED'`,
 * `'DEPTH_ZERO_SELF_SIGNED_CERT'` ...), Node's error is the `cause`. Only with
 * `rejectUnauthorized` (the default); without it the connection is made and
 * {@link TlsInfo.authorizationError} says why it is not authorized.
 *
 * @example
 * ```ts
 * try { await connect(['127.0.0.1', port], { tls: { servername: 'localhost' } }); }
 * catch (err) { if (err instanceof TlsCertificateError) console.error('untrusted:', err.reason); }
 * ```
 */
export class TlsCertificateError extends TlsHandshakeError {
  /**
   * Always `'ERR_TLS_CERTIFICATE'`.
   * @example
   * ```ts
   * if ((err as TlsCertificateError).code === 'ERR_TLS_CERTIFICATE') console.error('untrusted peer');
   * ```
   */
  override readonly code = 'ERR_TLS_CERTIFICATE';
  /**
   * Always `'TlsCertificateError'`.
   * @example
   * ```ts
   * String(err) // 'TlsCertificateError: ...'
   * ```
   */
  override readonly name = 'TlsCertificateError';
  /**
   * OpenSSL's verification code, e.g. `'CERT_HAS_EXPIRED'`.
   * @example
   * ```ts
   * if ((err as TlsCertificateError).reason === 'CERT_HAS_EXPIRED') console.error('renew the certificate');
   * ```
   */
  readonly reason: string;

  /**
   * Made by the channel whose peer's certificate failed verification.
   * @param reason - OpenSSL's verification code
   * @param options - `cause`: Node's error
   * @example
   * ```ts
   * new TlsCertificateError('CERT_HAS_EXPIRED').message // 'TLS handshake failed: the peer certificate is not trusted: CERT_HAS_EXPIRED'
   * ```
   */
  constructor(reason: string, options?: ErrorOptions) {
    super(`TLS handshake failed: the peer certificate is not trusted: ${reason}`, options);
    this.reason = reason;
  }
}

/**
 * The peer's certificate is valid but not for the name connected to (the
 * `servername`, else the host): Node's `ERR_TLS_CERT_ALTNAME_INVALID` is the `cause`.
 *
 * @example
 * ```ts
 * try { await connect(['127.0.0.1', port], { tls: { servername: 'example.com' } }); }
 * catch (err) { if (err instanceof TlsHostnameError) console.error(err.code); } // 'ERR_TLS_HOSTNAME'
 * ```
 */
export class TlsHostnameError extends TlsHandshakeError {
  /**
   * Always `'ERR_TLS_HOSTNAME'`.
   * @example
   * ```ts
   * if ((err as TlsHostnameError).code === 'ERR_TLS_HOSTNAME') console.error('wrong host');
   * ```
   */
  override readonly code = 'ERR_TLS_HOSTNAME';
  /**
   * Always `'TlsHostnameError'`.
   * @example
   * ```ts
   * String(err) // 'TlsHostnameError: ...'
   * ```
   */
  override readonly name = 'TlsHostnameError';
}
