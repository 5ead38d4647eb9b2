// `npm run check:examples` must be able to fail, and say where: feed the
// checker a file whose doc comments hold a good example, a complete one with
// its own imports, a bad one and a tag without a block, and check that exactly
// the bad one and the empty tag are reported, at their lines.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { checkExamples, extractExamples } from '../scripts/check-examples.js';
import { root } from './helpers/root.js';

const fixture = [
  '/**', //                                                      1
  ' * Uses the prelude and the package, as most examples do.', // 2
  ' * @example', //                                              3
  ' * ```ts', //                                                 4
  ' * const next = new Channel(undefined, map);', //             5
  ' * if (ev.type === \'read\') channel.send(next.id.toString());', // 6
  ' * ```', //                                                   7
  ' */', //                                                      8
  'export const a = 1;', //                                      9
  '/**', //                                                     10
  ' * @example A complete one: its own names win over the prelude\'s.', // 11
  ' * ```ts', //                                                12
  ' * import { Channel } from \'asyncore\';', //                 13
  ' * const map = new Map<number, Channel>();', //              14
  ' * map.set(1, new Channel());', //                           15
  ' * ```', //                                                  16
  ' * @example', //                                             17
  ' * ```ts', //                                                18
  ' * const port: number = channel.state;', //                  19
  ' * ```', //                                                  20
  ' * @example', //                                             21
  ' * channel.close()', //                                      22
  ' */', //                                                     23
  'export const b = 2;', //                                     24
].join('\n');

t.test('extractExamples() finds each ```ts block under @example, with its lines', async (t) => {
  t.same(extractExamples('f.ts', fixture).map(({ line, codeLine, code }) => ({ line, codeLine, code })), [
    { line: 3, codeLine: 5, code: "const next = new Channel(undefined, map);\nif (ev.type === 'read') channel.send(next.id.toString());" },
    { line: 11, codeLine: 13, code: "import { Channel } from 'asyncore';\nconst map = new Map<number, Channel>();\nmap.set(1, new Channel());" },
    { line: 17, codeLine: 19, code: 'const port: number = channel.state;' },
    { line: 21, codeLine: 21, code: null },
  ]);
});

t.test('checkExamples() reports the example that does not compile, at its line, and the tag without a block', async (t) => {
  // Under build/, so that the examples stay inside the project's rootDir.
  mkdirSync(path.join(root, 'build'), { recursive: true });
  const dir = mkdtempSync(path.join(root, 'build', 'doc-examples-test-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  writeFileSync(path.join(dir, 'fixture.ts'), fixture);
  const file = path.relative(root, path.join(dir, 'fixture.ts'));

  const { examples, failures } = checkExamples({ root, files: [file], outDir: path.join(dir, 'out') });

  t.equal(examples.length, 3);
  t.same(failures.map(({ line, exampleLine }) => ({ line, exampleLine })), [{ line: 19, exampleLine: 17 }, { line: 21, exampleLine: 21 }]);
  t.equal(failures[0]?.file, file);
  t.match(failures[0]?.message, /^TS2322: Type '.*' is not assignable to type 'number'/);
  t.match(failures[1]?.message, /no ```ts block/);
});
