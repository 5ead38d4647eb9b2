// Test-only certificates, made with `openssl` at test time into a temporary
// directory (removed at exit): a certificate authority and a leaf it signs
// for localhost, 127.0.0.1 and ::1; a second, unrelated authority (the
// "unknown issuer" case) with its own localhost leaf; and a self-signed leaf.
// Made once per test process; a test that needs them skips visibly when
// openssl is missing (see clients.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certs {
  readonly dir: string;
  /** The trusted authority (PEM) and the paths of its files. */
  readonly ca: string;
  readonly caPath: string;
  /** A leaf for localhost, 127.0.0.1 and ::1 signed by `ca`. */
  readonly key: string;
  readonly cert: string;
  readonly keyPath: string;
  readonly certPath: string;
  /** A localhost leaf signed by an authority nobody trusts. */
  readonly otherKey: string;
  readonly otherCert: string;
  /** The other authority (PEM). */
  readonly otherCa: string;
  /** A localhost leaf signed by `ca` that expired a day ago (with `key`). */
  readonly expiredCert: string;
  /** `key` encrypted with the passphrase 'secret'. */
  readonly encryptedKey: string;
}

function openssl(dir: string, args: string[]): void {
  const ran = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  if (ran.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${ran.stderr}`);
}

function authority(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=asyncore test ${name}`]);
}

function leaf(dir: string, name: string, issuer: string, days = '2'): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost']);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`,
    '-CAcreateserial', '-out', `${name}.pem`, '-days', days, '-extfile', 'san.ext']);
}

let made: Certs | null = null;

/** The test certificates, made on first use. */
export function certs(): Certs {
  if (made !== null) return made;
  const dir = mkdtempSync(join(tmpdir(), 'asyncore-tls-'));
  process.on('exit', () => { rmSync(dir, { recursive: true, force: true }); });
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
  authority(dir, 'ca');
  authority(dir, 'other-ca');
  leaf(dir, 'leaf', 'ca');
  leaf(dir, 'other', 'other-ca');
  // -days -1: valid from now, expired since yesterday.
  openssl(dir, ['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', 'expired.pem', '-days', '-1', '-extfile', 'san.ext']);
  openssl(dir, ['pkey', '-in', 'leaf.key', '-out', 'leaf-enc.key', '-aes256', '-passout', 'pass:secret']);
  const read = (file: string): string => readFileSync(join(dir, file), 'utf8');
  made = {
    dir,
    ca: read('ca.pem'),
    caPath: join(dir, 'ca.pem'),
    key: read('leaf.key'),
    cert: read('leaf.pem'),
    keyPath: join(dir, 'leaf.key'),
    certPath: join(dir, 'leaf.pem'),
    otherKey: read('other.key'),
    otherCert: read('other.pem'),
    otherCa: read('other-ca.pem'),
    encryptedKey: read('leaf-enc.key'),
    expiredCert: read('expired.pem'),
  };
  return made;
}
