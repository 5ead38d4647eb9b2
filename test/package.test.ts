// The package as a user gets it. A copy of the working tree without dist/ or
// node_modules/ (what a clone holds) is packed with `npm pack`, whose `prepare`
// script builds it, as an install from a git URL does. The tarball is then
// installed into an empty project with npm itself, offline and with a private
// cache: the package's dependency closure (read from package-lock.json) is
// linked in from this repository's node_modules/, so nothing is fetched and
// no cache has to be warm. That project compiles a TypeScript consumer with
// the tsconfig the README documents (skipLibCheck false) and runs it: a TCP
// echo over loopback through the public API and an ix operator. Nothing here
// writes into this repository: the build happens in the copy.
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { root } from './helpers/root.js';


const execFileAsync = promisify(execFile);

t.setTimeout(240_000); // the whole file, generous for a busy machine; each command has its own bound too

const tmp = mkdtempSync(path.join(os.tmpdir(), 'asyncore-package-'));
t.teardown(() => { rmSync(tmp, { recursive: true, force: true }); });
const clone = path.join(tmp, 'clone');
const consumer = path.join(tmp, 'consumer');

// A child sees neither the npm run that may have started tap nor tap's own
// hooks: a user's shell has neither. Its npm cache is a fresh one of its own.
const env: NodeJS.ProcessEnv = { npm_config_cache: path.join(tmp, 'npm-cache'), npm_config_update_notifier: 'false' };
for (const [key, value] of Object.entries(process.env)) {
  if (!/^npm_/i.test(key) && key !== 'NODE_OPTIONS') env[key] = value;
}

/** Runs a command to completion within `timeoutMs`; rejects with its output if it fails. */
async function sh(cwd: string, command: string, args: readonly string[], timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd, env, timeout: timeoutMs, killSignal: 'SIGKILL' });
    return stdout;
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`Cannot run ${command} ${args.join(' ')}: ${failed.message}\n${failed.stdout ?? ''}${failed.stderr ?? ''}`);
  }
}

/** Reads a JSON file. */
function readJson(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

interface Manifest { name: string; version: string; dependencies?: Record<string, string> }
interface Lock { packages: Record<string, { dependencies?: Record<string, string> } | undefined> }

/**
 * The packages a production install of `manifest` needs, as `file:` links
 * into this repository's node_modules/, found by walking package-lock.json.
 */
function linkedDependencies(manifest: Manifest): Record<string, string> {
  const lock = readJson(path.join(root, 'package-lock.json')) as Lock;
  const links: Record<string, string> = {};
  const pending = Object.keys(manifest.dependencies ?? {});
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    if (name in links) continue;
    const entry = lock.packages[`node_modules/${name}`];
    if (entry === undefined) throw new Error(`Cannot link ${name}: package-lock.json has no node_modules/${name}`);
    links[name] = `file:${path.join(root, 'node_modules', name)}`;
    pending.push(...Object.keys(entry.dependencies ?? {}));
  }
  return links;
}

/** The consumer's tsconfig: the one the README's install section shows, which has skipLibCheck false. */
function consumerTsconfig(): { compilerOptions: Record<string, unknown> } {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const block = /<!-- consumer tsconfig: [^\n]*-->\n```json\n([\s\S]*?)\n```/.exec(readme);
  if (block?.[1] === undefined) throw new Error('Cannot read the consumer tsconfig: README.md has no block marked for it');
  return JSON.parse(block[1]) as { compilerOptions: Record<string, unknown> };
}

// A complete consumer program: one echo round trip, then everything closes
// and the process exits by itself.
const echoTs = `import { AF_INET, Channel, SOCK_STREAM } from 'asyncore';
import type { Address, ChannelEvent } from 'asyncore';
import { filter, map } from 'ix/asynciterable/operators';

const server = new Channel();
server.createSocket(AF_INET, SOCK_STREAM);
server.bind(['127.0.0.1', 0]);
server.listen(5);
await server.opened;

const serving = (async () => {
  for await (const conn of server.connections()) {
    server.close(); // one client: ends connections()
    for await (const chunk of conn.chunks()) await conn.write(chunk);
    conn.close();
  }
})();

const client = new Channel();
client.createSocket(AF_INET, SOCK_STREAM);
client.connect(server.addr as Address);
await client.opened;
await client.write('ping\\n');
const replies = client.events().pipe(
  filter((ev: ChannelEvent) => ev.type === 'read'),
  map(() => client.recv(4096)?.toString() ?? ''),
);
let reply = '';
for await (const text of replies) {
  reply += text;
  if (reply.endsWith('\\n')) break;
}
client.close();
await Promise.all([serving, client.closed]);
console.log(JSON.stringify({ reply }));
`;

// CommonJS: require() is refused by the package's exports; import() works.
const requireCjs = `let requireCode = null;
try { require('asyncore'); } catch (error) { requireCode = error.code; }
import('asyncore').then((api) => { console.log(JSON.stringify({ requireCode, Channel: typeof api.Channel })); });
`;

/** Compiles the consumer with this repository's tsc; resolves with its diagnostics, if any. */
async function tsc(): Promise<string> {
  const bin = path.join(root, 'node_modules', '.bin', 'tsc');
  return sh(consumer, bin, ['-p', 'tsconfig.json'], 90_000).catch((error: unknown) => (error as Error).message);
}

let packed: { filename: string; files: { path: string }[] };
let compiled: string;

t.before(async () => {
  const skip = new Set(['.git', 'node_modules', 'dist', 'build', 'coverage', '.tap']);
  cpSync(root, clone, { recursive: true, filter: (src) => !skip.has(path.relative(root, src)) });
  symlinkSync(path.join(root, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
  const out = await sh(clone, 'npm', ['pack', '--json', '--pack-destination', tmp], 90_000);
  [packed] = JSON.parse(out.slice(out.indexOf('['))) as [typeof packed];

  const manifest = readJson(path.join(clone, 'package.json')) as Manifest;
  mkdirSync(consumer);
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({
    name: 'consumer',
    private: true,
    type: 'module',
    dependencies: { [manifest.name]: `file:${path.join(tmp, packed.filename)}`, ...linkedDependencies(manifest) },
  }));
  await sh(consumer, 'npm', [
    'install', '--offline', '--install-links=false', '--ignore-scripts', '--no-package-lock', '--no-audit', '--no-fund',
  ], 60_000);
  writeFileSync(path.join(consumer, 'echo.ts'), echoTs);
  writeFileSync(path.join(consumer, 'require.cjs'), requireCjs);
  const { compilerOptions } = consumerTsconfig();
  writeFileSync(path.join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { ...compilerOptions, rootDir: '.', outDir: 'out' },
    files: ['echo.ts'],
  }));
  compiled = await tsc(); // emits out/echo.js, run below
});

t.test('npm pack ships the build, its declarations and the sources its maps name', async (t) => {
  const files = new Set(packed.files.map((f) => f.path));
  for (const file of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/index.d.ts.map']) {
    t.ok(files.has(file), `${file} is packed`);
  }
  t.same([...files].filter((f) => f.startsWith('test/') || f.startsWith('node_modules/')), [], 'no tests, no node_modules');
  const maps = [...files].filter((f) => f.endsWith('.map'));
  const unresolved = maps.flatMap((map) => {
    const { sources } = readJson(path.join(consumer, 'node_modules', 'asyncore', map)) as { sources: string[] };
    return sources.map((source) => path.posix.join(path.posix.dirname(map), source)).filter((source) => !files.has(source));
  });
  t.ok(maps.length > 0, 'source maps are packed');
  t.same(unresolved, [], 'every source a map names is packed');
});

t.test('tsc compiles a consumer with the README\'s tsconfig, skipLibCheck false', async (t) => {
  t.equal(consumerTsconfig().compilerOptions.skipLibCheck, false, 'the README\'s tsconfig checks every declaration file');
  t.equal(compiled, '', 'no diagnostics');
});

t.test('import() of the installed package echoes over TCP through the public API and ix', async (t) => {
  const stdout = await sh(consumer, process.execPath, [path.join('out', 'echo.js')], 30_000);
  t.same(JSON.parse(stdout), { reply: 'ping\n' });
});

t.test('require() of the package fails with ERR_PACKAGE_PATH_NOT_EXPORTED; import() from CommonJS works', async (t) => {
  const stdout = await sh(consumer, process.execPath, ['require.cjs'], 30_000);
  t.same(JSON.parse(stdout), { requireCode: 'ERR_PACKAGE_PATH_NOT_EXPORTED', Channel: 'function' });
});
