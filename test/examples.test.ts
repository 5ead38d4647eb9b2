// The README's examples and the demo are real programs: build the package and
// the examples once, then run each compiled example over loopback and check
// that it exits 0 having printed what the README says it prints. The README's
// snippets are checked to be excerpts of those files, so the two cannot drift.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

/** Runs a command in the project root, bounded in time; never rejects. */
function run(command: string, args: readonly string[], timeoutMs: number, env = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const failure = error as (Error & { code?: number | string; signal?: string | null }) | null;
      resolve({
        code: failure === null ? 0 : typeof failure.code === 'number' ? failure.code : null,
        signal: failure?.signal ?? null,
        stdout,
        stderr,
      });
    });
  });
}

t.before(async () => {
  // The examples import the package by name, which resolves to dist/.
  const steps: readonly [string, string[]][] = [
    ['npm', ['run', 'build']],
    ['npx', ['tsc', '-p', 'tsconfig.examples.json']],
  ];
  for (const [command, args] of steps) {
    // Coverage off: tap would otherwise trace the compiler.
    const result = await run(command, args, 50_000, { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' });
    if (result.code !== 0) throw new Error(`Cannot build: ${command} ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  }
});

const examples: readonly { file: string; expect: readonly RegExp[] }[] = [
  {
    file: 'readme-for-await',
    expect: [/^client: connected$/m, /^client: received "hello\\n"$/m],
  },
  {
    file: 'readme-classic',
    expect: [
      /^server: connection from 127\.0\.0\.1:\d+$/m,
      /^client: connected$/m,
      /^client: received "hello, dispatcher\\n"$/m,
      /^server: client left$/m,
      /^loop: map is empty$/m,
    ],
  },
  {
    file: 'readme-connect',
    expect: [
      /^server: listening on 127\.0\.0\.1:\d+$/m,
      /^client: connected to 127\.0\.0\.1:\d+$/m,
      /^client: received "hello, connect\(\)\\n"$/m,
      /^client: released$/m,
    ],
  },
  {
    file: 'readme-ix',
    expect: [/^server: hello from ada$/m, /^server: hello from bob$/m, /^server: hello from cy$/m],
  },
  {
    file: 'chat-echo',
    expect: [
      /^client: connected$/m,
      /^client: received "echo: hello"\nclient: received "echo: a line from a producer"\nclient: received "bye"$/m,
      /^client: the server closed$/m,
      /^loop: map is empty$/m,
    ],
  },
  {
    file: 'demo',
    expect: [/^client: got "hello"$/m, /^client: got "goodbye"$/m, /^server: client closed$/m, /^demo: done$/m],
  },
];

for (const { file, expect } of examples) {
  t.test(`examples/${file}.ts runs to completion and prints its events`, async (t) => {
    const result = await run(process.execPath, [path.join('build', 'examples', `${file}.js`)], 15_000);
    t.equal(result.signal, null, 'not killed by the time bound');
    t.equal(result.code, 0, `exit code 0${result.stderr === '' ? '' : `; stderr:\n${result.stderr}`}`);
    for (const pattern of expect) t.match(result.stdout, pattern);
  });
}

t.test('README.md code examples are excerpts of the example files they name', (t) => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/<!-- example: (\S+) -->\n```ts\n([\s\S]*?)\n```/g)];
  // Every README example is one of the programs run above, and every readme-* program is in the README.
  const embedded = blocks.map(([, file = '']) => file).sort();
  const ran = examples.filter(({ file }) => file.startsWith('readme-')).map(({ file }) => `examples/${file}.ts`).sort();
  t.same(embedded, ran, 'the README embeds exactly the readme-* examples that are run');
  for (const [, file = '', snippet = ''] of blocks) {
    const source = readFileSync(path.join(root, file), 'utf8').split('\n');
    // Every snippet line appears in the file, in order.
    let at = 0;
    const missing: string[] = [];
    for (const line of snippet.split('\n')) {
      const found = source.indexOf(line, at);
      if (found === -1) missing.push(line);
      else at = found + 1;
    }
    t.same(missing, [], `${file} holds every line of its README snippet, in order`);
  }
  t.end();
});
