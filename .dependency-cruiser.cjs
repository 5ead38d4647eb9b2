// Import layering and cycle check for src/ (`npm run depcheck`).
//
// Why dependency-cruiser (17.4.x, pinned exactly): it reads TypeScript through the project's own
// compiler (typescript 6.0 is inside its supported range, `depcruise --info`), and with
// `tsPreCompilationDeps: true` it sees `import type` edges that the compiler later erases, so a
// cycle made only of type imports is still a cycle. eslint-plugin-import's `import/no-cycle` skips
// type-only imports by design, which would miss today's channel <-> events / channel-map cycles.
// The 18.x line needs Node 22; 17.4 supports Node ^20.12.
//
// Layers, lowest first (a layer may import those below it, never those above):
//   constants, errors,         leaves: nothing from src but each other
//   tls-errors
//   internal/                  small shared helpers
//   core/                      the transport-agnostic readiness core
//   roles/                     stream, listener, datagram roles
//   transports/                bindings over net, tls, dgram, in-memory
//   front (src/*.ts)           channel, loop, connect, pair, close-all, events, ...
//   framing/                   the framing layer: the scanner and frames(); beside classic,
//                              over the front (its public types), never classic
//   classic/                   the dispatcher family; anything in src but index.ts
//   index.ts                   the public surface
// and no cycle anywhere in src, type-only imports included.

/** Paths of one layer, as regular expressions over the path relative to the project root. */
const LEAVES = '^src/(constants|errors|tls-errors)\\.ts$';
const INTERNAL = '^src/internal/';
const CORE = '^src/core/';
const ROLES = '^src/roles/';
const TRANSPORTS = '^src/transports/';
const CLASSIC = '^src/classic/';
const FRAMING = '^src/framing/';
const INDEX = '^src/index\\.ts$';
const FRONT = '^src/(?!(constants|errors|tls-errors|index)\\.ts$)[^/]+$';
const LAYERED = '^src/([^/]+$|(internal|core|roles|transports|framing|classic)/)';

/** A forbidden edge: every rule here is an error. */
function forbid(name, comment, from, to) {
  return { name, comment, severity: 'error', from, to };
}

/** Files matching `from` may import, inside src, only files matching one of `allowed`. */
function onlyImports(name, comment, from, allowed) {
  return forbid(name, comment, { path: from }, { path: '^src/', pathNot: allowed });
}

const UNLAYERED = 'Every folder in src is one of the layers above; a new folder needs its own rule first';

module.exports = {
  forbidden: [
    forbid(
      'no-unresolvable',
      'Every import resolves: an edge the tool cannot follow is one no other rule can check',
      { path: '^src/' },
      { couldNotResolve: true },
    ),
    forbid('no-circular', 'Modules in src form no cycle, counting type-only imports', { path: '^src/' }, { circular: true }),
    onlyImports('leaves-import-only-leaves', 'constants.ts, errors.ts and tls-errors.ts import nothing from src but each other', LEAVES, [LEAVES]),
    onlyImports(
      'internal-imports-only-internal-and-leaves',
      'src/internal/ holds small shared helpers: it imports only internal, constants and errors',
      INTERNAL,
      [INTERNAL, LEAVES],
    ),
    onlyImports(
      'core-imports-only-core-internal-and-leaves',
      'src/core/ is transport-agnostic: it imports only core, internal, constants and errors',
      CORE,
      [CORE, INTERNAL, LEAVES],
    ),
    onlyImports(
      'roles-import-only-core-internal-and-leaves',
      'src/roles/ imports roles, core, internal, constants and errors; never transports, front files or classic',
      ROLES,
      [ROLES, CORE, INTERNAL, LEAVES],
    ),
    onlyImports(
      'transports-import-only-roles-core-internal-and-leaves',
      'src/transports/ imports transports, roles, core, internal, constants and errors; never front files or classic',
      TRANSPORTS,
      [TRANSPORTS, ROLES, CORE, INTERNAL, LEAVES],
    ),
    forbid(
      'loop-does-not-import-classic',
      "src/loop.ts is the loop's iterable face: the classic dispatcher builds on it, not the reverse",
      { path: '^src/loop\\.ts$' },
      { path: CLASSIC },
    ),
    onlyImports(
      'front-does-not-import-classic-or-index',
      'Front files (src/*.ts) import any layer below them but not src/classic/ or index.ts',
      FRONT,
      [FRONT, TRANSPORTS, ROLES, CORE, INTERNAL, LEAVES],
    ),
    onlyImports(
      'framing-imports-only-framing-front-internal-and-leaves',
      'src/framing/ builds on the front (channels, their options) beside classic: it never imports classic, core, roles or transports',
      FRAMING,
      [FRAMING, FRONT, INTERNAL, LEAVES],
    ),
    forbid(
      'front-does-not-import-framing',
      'The front knows nothing of framing: the framing layer sits above it',
      { path: FRONT },
      { path: FRAMING },
    ),
    forbid(
      'nothing-imports-index',
      'src/index.ts is the public surface: modules inside src import what they need directly',
      { path: '^src/' },
      { path: INDEX },
    ),
    forbid('no-unlayered-folder', UNLAYERED, { path: '^src/' }, { path: '^src/', pathNot: LAYERED }),
    forbid('no-unlayered-folder', UNLAYERED, { path: '^src/', pathNot: LAYERED }, { path: '^src/' }),
  ],
  options: {
    // Packages and Node's own modules are dependencies, not followed; no includeOnly filter, which
    // would also drop the imports that do not resolve.
    doNotFollow: { path: 'node_modules' },
    // Count `import type` edges: they are erased from the emitted JavaScript but still bind modules.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
