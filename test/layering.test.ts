// `npm run depcheck` must be able to fail: run the project's dependency-cruiser
// configuration over a small tree with one type-only cycle, one forbidden
// import, one that does not resolve and a few allowed ones, and check that
// exactly those three faults are reported.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import t from 'tap';
import { root } from './helpers/root.js';


const depcruise = path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** The fixture tree: path relative to its root, then content. */
const tree: Readonly<Record<string, string>> = {
  'tsconfig.json': JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' }, include: ['src'] }),
  'src/constants.ts': 'export const LIMIT = 3;\n',
  'src/internal/clamp.ts': "import { LIMIT } from '../constants.js';\nexport const clamp = (n: number): number => Math.min(n, LIMIT);\n",
  // A cycle made only of type imports: erased from the JavaScript, still a cycle.
  'src/core/a.ts': "import type { B } from './b.js';\nexport interface A { b?: B }\n",
  'src/core/b.ts': "import type { A } from './a.js';\nexport interface B { a?: A }\n",
  // The core may use internal helpers but must not reach up into classic.
  'src/core/c.ts': "import { clamp } from '../internal/clamp.js';\nimport { Old } from '../classic/old.js';\nexport const c = clamp(new Old().n);\n",
  // An import the tool cannot resolve would escape every other rule.
  'src/core/d.ts': "import type { Gone } from './gone.js';\nexport type D = Gone;\n",
  'src/classic/old.ts': "import type { A } from '../core/a.js';\nexport class Old { n = 1; a?: A }\n",
  'src/channel.ts': "import type { A } from './core/a.js';\nexport type Channel = A;\n",
};

t.test('depcheck reports a type-only cycle, a core module importing classic and an unresolved import, and nothing else', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'asyncore-layering-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  for (const [file, text] of Object.entries(tree)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }

  const result = await new Promise<{ failed: boolean; output: string }>((resolve) => {
    execFile(
      process.execPath,
      [depcruise, 'src', '--config', path.join(root, '.dependency-cruiser.cjs')],
      // Coverage off: tap would otherwise trace the TypeScript compiler the tool loads.
      { cwd: dir, timeout: 20_000, env: { ...process.env, _TAPJS_PROCESSINFO_COVERAGE_: '0' } },
      (error, stdout, stderr) => { resolve({ failed: error !== null, output: stdout + stderr }); },
    );
  });

  t.ok(result.failed, 'exits non-zero');
  const violations = result.output.split('\n').filter((line) => /^\s*error /.test(line)).map((line) => line.trim());
  const rules = violations.map((line) => line.split(':')[0]);
  const expected = ['error core-imports-only-core-internal-and-leaves', 'error no-circular', 'error no-unresolvable'];
  if (!t.same([...rules].sort(), expected, 'reports the three faults and nothing else')) {
    t.comment(result.output);
  }
  t.match(result.output, /no-circular: src\/core\/(a|b)\.ts → \s*src\/core\/(b|a)\.ts →\s*src\/core\/(a|b)\.ts/);
  t.match(result.output, 'core-imports-only-core-internal-and-leaves: src/core/c.ts → src/classic/old.ts');
  t.match(result.output, 'no-unresolvable: src/core/d.ts → ./gone.js');
});
