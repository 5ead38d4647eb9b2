// Real clients (openssl, socat, python3, curl ...) as test peers. A test that
// needs one is skipped visibly, with the command that installs it, when the
// client is missing; under CI (CI=true) it fails instead, so a missing client
// can never pass for a green run.
import { spawnSync } from 'node:child_process';
import type { Test } from 'tap';

/** Whether a test needing a client runs: tap's `skip` option, and the failure to report under CI. */
export interface ClientCheck {
  /** Pass as `{ skip }`: the reason (with the install command), or false. */
  readonly skip: string | false;
  /** Why the client cannot run, or false; under CI the test runs and must fail with it. */
  readonly missing: string | false;
}

/** What a skipped test says of a missing command: the command that installs it. */
export function missingCommand(command: string, pkg: string): string {
  return `${command} is missing: install it (apt-get install -y --no-install-recommends ${pkg}) to run this test`;
}

/**
 * Checks for a client by running `probe` (which must exit 0).
 * @param probe - the command and its arguments, e.g. `['socat', '-V']`
 * @param pkg - the Debian package that provides it
 * @param why - what to say when the probe fails, if not that the probe's command is missing
 */
export function client(probe: readonly [string, ...string[]], pkg: string, why?: string): ClientCheck {
  const [command, ...args] = probe;
  const ran = spawnSync(command, args, { stdio: 'ignore', timeout: 10_000 });
  const missing = ran.error === undefined && ran.status === 0
    ? false
    : why ?? missingCommand(command, pkg);
  return { skip: process.env.CI === 'true' ? false : missing, missing };
}

/**
 * Fails the test when the client is missing (only reached under CI, where
 * the test is not skipped); returns whether the test may go on.
 */
export function clientPresent(t: Test, check: ClientCheck): boolean {
  if (check.missing === false) return true;
  t.fail(check.missing);
  return false;
}

export const OPENSSL = client(['openssl', 'version'], 'openssl');
export const SOCAT = client(['socat', '-V'], 'socat');
export const PYTHON = client(['python3', '-c', 'import socket, ssl'], 'python3');
/** Python with asyncore and asynchat: 3.11 or older (3.12 removed them). */
export const PYTHON_ASYNCHAT = client(
  ['python3', '-c', 'import warnings; warnings.simplefilter("ignore"); import asyncore, asynchat'],
  'python3',
  'python3 with asynchat is missing: install Python 3.11 or older (3.12 removed asynchat), e.g. apt-get install -y python3.11, to run this test',
);
export const SWAKS = client(['swaks', '--version'], 'swaks');
/** swaks's --tls needs Perl's TLS modules, which its package only recommends. */
export const SWAKS_TLS = client(
  ['perl', '-MNet::SSLeay', '-MIO::Socket::SSL', '-e', '1'],
  'swaks libnet-ssleay-perl libio-socket-ssl-perl',
  'swaks cannot run TLS: install its Perl modules (apt-get install -y --no-install-recommends libnet-ssleay-perl libio-socket-ssl-perl) to run this test',
);
export const CURL = client(['curl', '--version'], 'curl');
export const AB = client(['ab', '-V'], 'apache2-utils');
// `wrk --version` exits 1: the probe asks the shell whether the command
// exists, so the message must name wrk, not the shell.
export const WRK = client(['sh', '-c', 'command -v wrk'], 'wrk', missingCommand('wrk', 'wrk'));
export const REDIS_CLI = client(['redis-cli', '--version'], 'redis-tools');
export const REDIS_BENCHMARK = client(['redis-benchmark', '--version'], 'redis-tools');
