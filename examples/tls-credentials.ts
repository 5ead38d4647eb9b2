// Not an example of its own: the TLS credentials the TLS example servers
// share. `--cert FILE --key FILE` are read; without them a self-signed
// certificate for localhost, 127.0.0.1 and ::1 is made with `openssl` into a
// temporary directory, removed at once.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for localhost, 127.0.0.1 and ::1, made with openssl. */
function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'asyncore-example-'));
  try {
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'], { encoding: 'utf8', timeout: 20_000 });
    if (made.status !== 0) throw new Error(`Cannot make a self-signed certificate: openssl failed: ${made.stderr || String(made.error)}`);
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The key and certificate of `--cert`/`--key`, or a self-signed pair.
 * @throws TypeError when only one of the two files is given
 */
export function tlsCredentials(certFile: string | undefined, keyFile: string | undefined): { key: Buffer; cert: Buffer } {
  if ((certFile === undefined) !== (keyFile === undefined)) throw new TypeError('Give both --cert and --key, or neither');
  return certFile !== undefined && keyFile !== undefined
    ? { key: readFileSync(keyFile), cert: readFileSync(certFile) }
    : selfSigned();
}
