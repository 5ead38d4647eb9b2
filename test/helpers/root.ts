// The repository's root, for tests that read its files or run its scripts.
// The tests run compiled, from build/t/test/ (tsconfig.test.json), or from
// source with a TypeScript loader, from test/: the root is the nearest folder
// above this file that holds the package's package.json and src/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'src', 'index.ts'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('test/helpers/root.ts: no package root above this file');
    dir = parent;
  }
}

/** The repository's root folder (absolute). */
export const root = findRoot();

/**
 * Whether the tests run from source (through a TypeScript loader) rather than
 * compiled into build/t/; this file runs the way the test importing it does.
 */
export const fromSource = import.meta.url.endsWith('.ts');

/**
 * Node arguments for a child that runs a TypeScript file of the tree the way
 * the tests run: none when compiled (the child runs the compiled copy), tap's
 * TypeScript loader when from source.
 */
export const childLoader: readonly string[] = fromSource ? ['--import', import.meta.resolve('@tapjs/typescript/import')] : [];
