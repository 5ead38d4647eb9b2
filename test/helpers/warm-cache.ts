// Run once before tap (`npm test` does): loads the sources and the test
// helpers through tsx, so that its transpile cache holds them before tap
// starts four test processes at once. On a cold cache (a fresh clone, as in
// CI) each of those processes would otherwise transpile all of src/ itself,
// which doubled the suite's time.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
await import('../../src/index.js');
for (const file of readdirSync(here)) {
  if (file.endsWith('.ts') && file !== 'warm-cache.ts') await import(pathToFileURL(path.join(here, file)).href);
}
