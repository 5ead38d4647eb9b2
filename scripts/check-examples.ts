// Type-checks every ```ts block under an `@example` tag in the TSDoc of src/.
//
// Each example becomes its own module in build/doc-examples/ (named after its
// file and line), preceded by one import of the package's public names (from
// 'asyncore', mapped to src/index.ts) and one of the free variables that
// examples may take as given (doc-examples-prelude.ts). A name the example
// declares itself is left out of both imports, so a complete example, imports
// and all, compiles as written. All examples are checked in one compiler
// program, and each error is reported at the line of src/ it comes from.
//
// Written in TypeScript and compiled by tsconfig.scripts.json to
// build/scripts/, so that it is type-checked and linted with the rest of the
// project and the tests can import it from source; plain Node 20 runs the output.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** An `@example` tag of a doc comment and its ```ts block, null when it has none. */
export interface ExampleTag {
  /** Source file, relative to the project root. */
  file: string;
  /** 1-based line of the `@example` tag. */
  line: number;
  /** 1-based line of the block's first line of code (the tag's line when there is no block). */
  codeLine: number;
  code: string | null;
}

/** An `@example` with its ```ts block. */
export interface Example extends ExampleTag {
  code: string;
}

/** A compiler error in an example, or an `@example` with no ```ts block. */
export interface Failure {
  file: string;
  /** 1-based line in `file` the error points at. */
  line: number;
  /** 1-based line of the example's `@example` tag. */
  exampleLine: number;
  message: string;
}

export interface CheckOptions {
  /** Project root: holds tsconfig.json, the prelude and src/index.ts. */
  root: string;
  /** Source files to scan, relative to root. */
  files: readonly string[];
  /** Folder to write the example modules to; emptied first. */
  outDir: string;
}

export interface CheckResult {
  examples: readonly Example[];
  failures: readonly Failure[];
}

const PRELUDE = 'doc-examples-prelude.ts';
const FENCE_OPEN = /^```(ts|typescript)\s*$/;
const FENCE_CLOSE = /^```\s*$/;
const TAG = /^@\w+/;

/** The text of a doc-comment line without its leading `*` and one space. */
function commentText(line: string): string {
  return line.replace(/^\s*\*(?!\/) ?/, '');
}

/**
 * Finds the ```ts block of every `@example` tag in the doc comments of one file.
 * An `@example` with no such block is returned with `code` null.
 */
export function extractExamples(file: string, text: string): ExampleTag[] {
  const lines = text.split('\n');
  const found: ExampleTag[] = [];
  let inDoc = false;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (!inDoc) {
      if (raw.trimStart().startsWith('/**') && !raw.includes('*/', raw.indexOf('/**') + 3)) inDoc = true;
      continue;
    }
    if (raw.includes('*/')) { inDoc = false; continue; }
    if (!/^@example\b/.test(commentText(raw).trimStart())) continue;

    // The block may follow a title; it must come before the next tag or the comment's end.
    const tagLine = i + 1;
    let block: { codeLine: number; code: string } | null = null;
    for (let j = i + 1; j < lines.length; j++) {
      const inner = lines[j] ?? '';
      const body = commentText(inner).trim();
      if (inner.includes('*/') || TAG.test(body)) break;
      if (!FENCE_OPEN.test(body)) continue;
      const code: string[] = [];
      let k = j + 1;
      for (; k < lines.length; k++) {
        const codeRaw = lines[k] ?? '';
        if (FENCE_CLOSE.test(commentText(codeRaw).trim())) break;
        // A block left open ends with its comment, which the outer loop must still see close.
        if (codeRaw.includes('*/')) { k--; break; }
        code.push(commentText(codeRaw));
      }
      block = { codeLine: j + 2, code: code.join('\n') };
      i = k;
      break;
    }
    found.push(block === null ? { file, line: tagLine, codeLine: tagLine, code: null } : { file, line: tagLine, ...block });
  }
  return found;
}

/** Names a module's top-level statements declare or import. */
function declaredNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addBinding = (name: ts.BindingName): void => {
    if (ts.isIdentifier(name)) { names.add(name.text); return; }
    for (const element of name.elements) if (!ts.isOmittedExpression(element)) addBinding(element.name);
  };
  for (const statement of source.statements) {
    if (ts.isVariableStatement(statement)) {
      for (const declaration of statement.declarationList.declarations) addBinding(declaration.name);
    } else if (
      (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement)
        || ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement) || ts.isModuleDeclaration(statement))
      && statement.name !== undefined && ts.isIdentifier(statement.name)
    ) {
      names.add(statement.name.text);
    } else if (ts.isImportDeclaration(statement) && statement.importClause !== undefined) {
      const clause = statement.importClause;
      if (clause.name !== undefined) names.add(clause.name.text);
      const bindings = clause.namedBindings;
      if (bindings !== undefined) {
        if (ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
        else for (const element of bindings.elements) names.add(element.name.text);
      }
    } else if (ts.isImportEqualsDeclaration(statement)) {
      names.add(statement.name.text);
    }
  }
  return names;
}

/** Names a module exports, read from its syntax: `export { a, type B }`, `export const c`, ... */
export function exportedNames(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement)) {
      const clause = statement.exportClause;
      if (clause === undefined || !ts.isNamedExports(clause)) {
        throw new Error(`Cannot list the names ${file} exports: \`export *\` hides them, name each export instead`);
      }
      for (const element of clause.elements) names.push(element.name.text);
    } else if (ts.canHaveModifiers(statement) && ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) === true) {
      if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          if (ts.isIdentifier(declaration.name)) names.push(declaration.name.text);
        }
      } else if (
        (ts.isFunctionDeclaration(statement) || ts.isClassDeclaration(statement) || ts.isInterfaceDeclaration(statement)
          || ts.isTypeAliasDeclaration(statement) || ts.isEnumDeclaration(statement))
        && statement.name !== undefined
      ) {
        names.push(statement.name.text);
      }
    }
  }
  return names;
}

/** The module file name of an example: `src/internal/engine.ts` line 12 gives `internal-engine-12.ts`. */
function moduleName(example: Example): string {
  return `${example.file.replace(/^src\//, '').replace(/\.ts$/, '').replace(/[/\\]/g, '-')}-${example.line}.ts`;
}

/** Extracts, writes and type-checks the examples of `options.files`. */
export function checkExamples(options: CheckOptions): CheckResult {
  const { root, outDir } = options;
  const publicNames = exportedNames('src/index.ts', readFileSync(path.join(root, 'src', 'index.ts'), 'utf8'));
  const prelude = path.join(root, 'scripts', PRELUDE);
  const preludeNames = exportedNames(PRELUDE, readFileSync(prelude, 'utf8'));
  const preludeImport = path.relative(outDir, prelude).split(path.sep).join('/').replace(/\.ts$/, '.js');

  const examples: Example[] = [];
  const failures: Failure[] = [];
  for (const file of options.files) {
    for (const tag of extractExamples(file, readFileSync(path.join(root, file), 'utf8'))) {
      if (tag.code === null) {
        failures.push({ file, line: tag.line, exampleLine: tag.line, message: '@example has no ```ts block' });
      } else {
        examples.push({ ...tag, code: tag.code });
      }
    }
  }

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const toRoot = path.relative(outDir, root).split(path.sep).join('/') || '.';
  writeFileSync(path.join(outDir, 'tsconfig.json'), `${JSON.stringify({
    extends: `${toRoot}/tsconfig.json`,
    compilerOptions: { rootDir: toRoot, noEmit: true, paths: { asyncore: [`${toRoot}/src/index.ts`] } },
    include: ['*.ts'],
  }, null, 2)}\n`);

  // Module file name → example, and how many lines its header adds.
  const written = new Map<string, { example: Example; header: number }>();
  for (const example of examples) {
    const own = declaredNames(ts.createSourceFile('example.ts', example.code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS));
    const fromPackage = publicNames.filter((name) => !own.has(name));
    const fromPrelude = preludeNames.filter((name) => !own.has(name));
    const header = [
      `import { ${fromPackage.join(', ')} } from 'asyncore';`,
      `import { ${fromPrelude.join(', ')} } from '${preludeImport}';`,
    ];
    const fileName = path.join(outDir, moduleName(example));
    // A trailing `export {}` keeps an example without imports a module.
    writeFileSync(fileName, `${header.join('\n')}\n${example.code}\nexport {};\n`);
    written.set(path.resolve(fileName), { example, header: header.length });
  }

  const config = ts.getParsedCommandLineOfConfigFile(path.join(outDir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(`Cannot read the examples' tsconfig.json: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`);
    },
  });
  if (config === undefined) throw new Error("Cannot read the examples' tsconfig.json");
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  // Only the examples and the prelude: src itself is the typecheck script's business.
  // As tsc does, an example that does not parse reports only its syntax errors, not what follows from them.
  const diagnostics = [...config.errors, ...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  const checked = new Set([...written.keys(), path.resolve(prelude)]);
  for (const source of program.getSourceFiles()) {
    if (!checked.has(path.resolve(source.fileName))) continue;
    const syntactic = program.getSyntacticDiagnostics(source);
    diagnostics.push(...(syntactic.length > 0 ? syntactic : program.getSemanticDiagnostics(source)));
  }

  const seen = new Set<string>();
  for (const diagnostic of diagnostics) {
    if (diagnostic.category !== ts.DiagnosticCategory.Error) continue;
    const message = `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    const source = diagnostic.file;
    const entry = source === undefined ? undefined : written.get(path.resolve(source.fileName));
    if (source === undefined || entry === undefined || diagnostic.start === undefined) {
      // An error outside the examples (in the prelude, or in the options): report it where it is.
      const where = source === undefined || diagnostic.start === undefined
        ? { file: source === undefined ? '(program)' : path.relative(root, source.fileName), line: 0 }
        : { file: path.relative(root, source.fileName), line: source.getLineAndCharacterOfPosition(diagnostic.start).line + 1 };
      failures.push({ ...where, exampleLine: 0, message });
      continue;
    }
    const { line } = source.getLineAndCharacterOfPosition(diagnostic.start);
    const inCode = Math.min(Math.max(line - entry.header, 0), entry.example.code.split('\n').length - 1);
    const failure = { file: entry.example.file, line: entry.example.codeLine + inCode, exampleLine: entry.example.line, message };
    // One report per distinct message and line: `pending` used four times on a line is one error.
    const key = `${failure.file}:${failure.line}:${message}`;
    if (!seen.has(key)) { seen.add(key); failures.push(failure); }
  }
  failures.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
  return { examples, failures };
}

/** Every .ts file under a folder, relative to root, sorted. */
function sourceFiles(root: string, folder: string): string[] {
  const entries = readdirSync(path.join(root, folder), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}

function main(): void {
  const root = process.cwd();
  const started = performance.now();
  const { examples, failures } = checkExamples({ root, files: sourceFiles(root, 'src'), outDir: path.join(root, 'build', 'doc-examples') });
  for (const failure of failures) {
    const from = failure.exampleLine > 0 && failure.exampleLine !== failure.line ? ` (@example at line ${failure.exampleLine})` : '';
    console.log(`${failure.file}:${failure.line}${from}: ${failure.message}`);
  }
  const failing = new Set(failures.filter((f) => f.exampleLine > 0).map((f) => `${f.file}:${f.exampleLine}`)).size;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${examples.length} examples checked, ${failing} failing (${failures.length} errors) in ${seconds} s`);
  if (failures.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
