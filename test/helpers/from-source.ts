// Children that run a stress file "from source" start from one transpiled
// copy instead of each loading it through the TypeScript loader: the loader
// costs about two seconds a process, which the stress cases paid twice per
// case (the case and its peer), and far more on a busy machine. When the
// tests themselves run compiled (npm test: tsconfig.test.json compiles the
// whole tree into build/t/), the copy is the one compiled beside them; run
// from source, a test transpiles its own copy.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Test } from 'tap';
import type TypeScript from 'typescript';
import { fromSource, root } from './root.js';

/** Where tsconfig.test.json compiles the tree; the tests run from there under npm test. */
const compiledTree = path.join(root, 'build', 't');

/**
 * The path of `stress/<name>.ts` as JavaScript: the compiled copy in build/t/
 * when the tests run from there; otherwise every `stress/*.ts` transpiled
 * (types stripped, nothing checked: `npm run typecheck` does that) into a
 * fresh folder under build/, removed at teardown. Either folder lies inside the
 * package, so `import ... from 'asyncore'` resolves to dist/ as it does from
 * stress/, and the files' imports of one another resolve among the copies.
 */
export function transpiledStress(t: Test, name: string): string {
  return transpiled(t, 'stress', name);
}

/** As {@link transpiledStress}, for the programs in `examples/`. */
export function transpiledExample(t: Test, name: string): string {
  return transpiled(t, 'examples', name);
}

function transpiled(t: Test, folder: string, name: string): string {
  if (!fromSource) return path.join(compiledTree, folder, `${name}.js`);
  // Loaded only here: the compiler costs about a second of CPU to load.
  const ts = createRequire(import.meta.url)('typescript') as typeof TypeScript;
  mkdirSync(path.join(root, 'build'), { recursive: true });
  const dir = mkdtempSync(path.join(root, 'build', `test-${folder}-`));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  for (const file of readdirSync(path.join(root, folder)).filter((f) => f.endsWith('.ts'))) {
    const { outputText } = ts.transpileModule(readFileSync(path.join(root, folder, file), 'utf8'), {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
      fileName: file,
    });
    writeFileSync(path.join(dir, file.replace(/\.ts$/, '.js')), outputText);
  }
  return path.join(dir, `${name}.js`);
}
