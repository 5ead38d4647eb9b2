// The `tls` option: its public shape, its checks (the secure context is
// built at once, so a missing key, a wrong passphrase or a certificate that
// does not match its key fail before any socket opens) and what the
// transports get from it.
import tls from 'node:tls';
import { checkPositiveInteger, checkSeconds, showValue } from './internal/validate.js';
import type { TlsSetup } from './transports/tls-stream.js';
import type { TlsListenSetup } from './transports/tls-listener.js';

/**
 * TLS for a channel: given as the `tls` option of {@link connect},
 * {@link listen} or a channel made to `connect()` or `listen()`, or to
 * {@link Channel.startTls}. A client verifies the server's certificate
 * against `ca` (default: Node's bundled roots) and the host name; a listener
 * needs `key` and `cert` (or `pfx`, or an `SNICallback`). Fields not listed
 * are not passed to Node.
 * @example
 * ```ts
 * declare const caPem: string; // the certificate authority that signed the server's certificate
 * const conn = await connect(['127.0.0.1', port], { tls: { servername: 'localhost', ca: caPem } });
 * ```
 */
export interface TlsOptions {
  /** Client: the name sent (SNI) and checked against the certificate; default the host unless it is an IP address. */
  servername?: string;
  /** Trusted certificate authorities (PEM); default Node's bundled roots. */
  ca?: string | Buffer | (string | Buffer)[];
  /** Client: refuse a server whose certificate is not verified (default `true`). */
  rejectUnauthorized?: boolean;
  /** Client: replaces the host name check (Node's `checkServerIdentity`). */
  checkServerIdentity?: (hostname: string, cert: tls.PeerCertificate) => Error | undefined;
  /** Protocols offered (client) or accepted (server) by ALPN, most preferred first. */
  ALPNProtocols?: string[];
  /** The private key (PEM): the server's, or a client's own with `cert`. */
  key?: string | Buffer | (string | Buffer)[];
  /** The certificate chain (PEM) that goes with `key`. */
  cert?: string | Buffer | (string | Buffer)[];
  /** The passphrase of an encrypted `key` or `pfx`. */
  passphrase?: string;
  /** A PKCS#12 bundle instead of `key` and `cert`. */
  pfx?: string | Buffer | (string | Buffer)[];
  /** Server: picks the secure context for the name a client asks for. */
  SNICallback?: (servername: string, callback: (error: Error | null, context?: tls.SecureContext) => void) => void;
  /** The lowest and highest TLS versions; Node's defaults (TLSv1.2 to TLSv1.3). */
  minVersion?: tls.SecureVersion;
  /** See `minVersion`. */
  maxVersion?: tls.SecureVersion;
  /** The cipher suites (OpenSSL's list format); Node's default. */
  ciphers?: string;
  /**
   * Seconds a handshake may take before the connection is destroyed with a
   * {@link TlsHandshakeTimeoutError}: a peer that connects and never speaks TLS
   * holds a slot no longer. Greater than 0; default 10.
   */
  handshakeTimeout?: number;
  /**
   * Listener: handshakes running at once; a connection beyond it is reset at
   * once and counted in {@link Channel.failedHandshakes}. A positive
   * integer; default 128.
   */
  maxHandshakes?: number;
}

/**
 * Options of {@link Channel.startTls}: {@link TlsOptions}, the side, and a signal.
 * @example
 * ```ts
 * declare const keyPem: string, certPem: string; // the server's key and certificate
 * await channel.startTls({ key: keyPem, cert: certPem }); // the server side: a key is given
 * ```
 */
export interface StartTlsOptions extends TlsOptions {
  /** Which end of the handshake this channel is; default `'server'` when `key`, `pfx` or `SNICallback` is given, else `'client'`. */
  side?: 'client' | 'server';
}

/** Checked `tls` options: the secure context built, what each side needs. */
export interface TlsSettings {
  readonly client: TlsSetup;
  /** `null` when no key, pfx or SNICallback was given: such options cannot serve. */
  readonly server: TlsListenSetup | null;
}

const DEFAULT_HANDSHAKE_TIMEOUT = 10;
const DEFAULT_MAX_HANDSHAKES = 128;
const CONTEXT_FIELDS = ['ca', 'key', 'cert', 'passphrase', 'pfx', 'minVersion', 'maxVersion', 'ciphers'] as const;

function buildContext(options: TlsOptions): tls.SecureContext {
  if ((options.key === undefined) !== (options.cert === undefined)) {
    throw new TypeError(`Invalid option tls: ${options.key === undefined ? 'cert needs its key' : 'key needs its cert'}`);
  }
  const fields: tls.SecureContextOptions = {};
  for (const name of CONTEXT_FIELDS) if (options[name] !== undefined) Object.assign(fields, { [name]: options[name] });
  try {
    return tls.createSecureContext(fields);
  } catch (error) {
    // A wrong passphrase, a key that does not match the certificate, bad PEM ...
    throw new TypeError(`Invalid option tls: cannot build the secure context: ${(error as Error).message}`, { cause: error });
  }
}

function checkFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new TypeError(`Invalid option tls.${name}: expected a function, got ${showValue(value)}`);
  }
}

/** Checks the `tls` option and builds its secure context; throws TypeError/RangeError. */
export function checkTls(value: unknown): TlsSettings {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(`Invalid option tls: expected an object, got ${showValue(value)}`);
  }
  const options = value as TlsOptions;
  checkFunction('SNICallback', options.SNICallback);
  checkFunction('checkServerIdentity', options.checkServerIdentity);
  if (options.rejectUnauthorized !== undefined && typeof options.rejectUnauthorized !== 'boolean') {
    throw new TypeError(`Invalid option tls.rejectUnauthorized: expected a boolean, got ${showValue(options.rejectUnauthorized)}`);
  }
  if (options.servername !== undefined && typeof options.servername !== 'string') {
    throw new TypeError(`Invalid option tls.servername: expected a string, got ${showValue(options.servername)}`);
  }
  const handshakeTimeout = options.handshakeTimeout === undefined
    ? DEFAULT_HANDSHAKE_TIMEOUT : checkSeconds('tls.handshakeTimeout', options.handshakeTimeout);
  if (handshakeTimeout === 0) throw new RangeError('Invalid tls.handshakeTimeout: it must be more than 0');
  const maxHandshakes = options.maxHandshakes === undefined
    ? DEFAULT_MAX_HANDSHAKES : checkPositiveInteger('tls.maxHandshakes', options.maxHandshakes);
  const secureContext = buildContext(options);
  const { servername, rejectUnauthorized, checkServerIdentity, ALPNProtocols, SNICallback } = options;
  const client = Object.freeze({
    isServer: false,
    handshakeTimeout,
    options: strip({ secureContext, servername, rejectUnauthorized, checkServerIdentity, ALPNProtocols }),
  });
  const serves = options.key !== undefined || options.pfx !== undefined || SNICallback !== undefined;
  const server = serves
    ? Object.freeze({ isServer: true, handshakeTimeout, maxHandshakes, options: strip({ isServer: true, secureContext, SNICallback, ALPNProtocols }) })
    : null;
  return Object.freeze({ client, server });
}

/** Node's options without the fields left out (Node treats some `undefined`s as given). */
function strip<T extends object>(options: T): T {
  for (const key of Object.keys(options) as (keyof T)[]) if (options[key] === undefined) Reflect.deleteProperty(options, key);
  return options;
}

/** The client's setup for a connection to `host` (the default server name and the name checked). */
export function clientSetup(settings: TlsSettings, host: string): TlsSetup {
  return { ...settings.client, options: { ...settings.client.options, host } };
}

/** The listener's setup; throws TypeError when the options cannot serve. */
export function serverSetup(settings: TlsSettings): TlsListenSetup {
  if (settings.server === null) throw new TypeError('Invalid option tls: a listener needs key and cert, pfx or an SNICallback');
  return settings.server;
}

/** The setup of a STARTTLS on a connection to or from `host`. */
export function startTlsSetup(options: StartTlsOptions, host: string): TlsSetup {
  const { side, ...rest } = options;
  if (side !== undefined && !['client', 'server'].includes(side)) {
    throw new TypeError(`Invalid option side: expected 'client' or 'server', got ${showValue(side)}`);
  }
  const settings = checkTls(rest);
  const server = side === 'server' || (side === undefined && settings.server !== null);
  return server ? serverSetup(settings) : clientSetup(settings, host);
}
