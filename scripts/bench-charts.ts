// Charts of the benchmark suite's figures: reads bench/results/latest.json
// (written by `npm run bench`) and writes SVG files, drawn with Vega-Lite and
// rendered by Vega's headless view: no browser and no canvas (text widths are
// estimated), so the SVG's text is plain <text> in a sans-serif font.
//
//   npm run bench:charts                               latest.json → docs/charts/*.svg
//   node build/scripts/bench-charts.js --in FILE --out DIR
//
// Each chart is drawn from the parts latest.json holds; a chart whose part is
// missing (a suite run with --parts) is left out and said so.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as vega from 'vega';
import { compile } from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

/** What the charts read of bench/results/latest.json (docs/performance.md, "Running the suite"). */
export interface Latest {
  environment: { date: string; mode: string; cpus: string; loadAverage?: { before: number; after: number } };
  parts: Record<string, { status: string; results: unknown } | undefined>;
}

interface RunResults { rows: { workload: string; server: string; ratio: number | null }[] }
interface LoopResults { rows: { sources: number; loopUs: number; mergeUs: number }[] }
interface ClientStreamResults { rows: { direction: string; client: string; cpuRatio: number }[] }
interface TlsResults { results: { workload: string; ratio: number }[] }
interface UdpResults { rows: { load: string; server: string; ratioToRaw: number }[] }
interface FramingResults { rows: { server: string; ratioToRaw: number | null }[] }
interface HttpResults { rows: { server: string; ratioToNodeHttp: number | null }[] }
interface RespResults { rows: { load: string; cpuRatioToRedis: { median: number } }[] }

/** One chart: its file name and its Vega-Lite specification. */
export interface Chart { file: string; spec: TopLevelSpec }

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
// Text widths are estimated without a canvas, generously: labels get room to spare.
const CONFIG = { font: 'sans-serif', background: 'white', title: { anchor: 'start' as const }, legend: { labelLimit: 1000 }, axis: { labelLimit: 1000 } };
/** Bars above this are cut, and their figures given in the subtitle. */
const CAP = 2;

/** A part's results if it ran; read as the shape the caller names (the parts' JSON is not checked). */
function part(latest: Latest, name: string): unknown {
  const entry = latest.parts[name];
  return entry?.status === 'ok' ? entry.results : null;
}

function caption(latest: Latest): string {
  const env = latest.environment;
  const load = env.loadAverage === undefined ? '' : `, load average ${env.loadAverage.before.toFixed(1)} before, ${env.loadAverage.after.toFixed(1)} after`;
  return `npm run bench (${env.mode}), ${env.date.slice(0, 10)}, ${env.cpus}${load}`;
}

/** The axis's top (at most CAP) and a line naming the bars it cuts. */
function capped<R extends { ratio: number }>(rows: readonly R[], name: (row: R) => string): { top: number; cut: string[] } {
  const highest = Math.max(1.2, ...rows.map((r) => r.ratio));
  const cut = rows.filter((r) => r.ratio > CAP).map((r) => `${name(r)}: ${r.ratio.toFixed(2)}`);
  return { top: Math.min(CAP, Math.ceil(highest * 10) / 10), cut: cut.map((line) => `Cut at ${CAP}: ${line}`) };
}

/** The powers of ten from below the smallest value to above the largest: a log axis's ticks. */
function decades(values: readonly number[]): number[] {
  const low = Math.floor(Math.log10(Math.min(...values)));
  const high = Math.ceil(Math.log10(Math.max(...values)));
  return Array.from({ length: high - low + 1 }, (_, i) => 10 ** (low + i));
}

/** (a) Each echo server's ratio to raw node:net, grouped by workload, a rule at 1. */
export function ratioChart(latest: Latest): Chart | null {
  const run = part(latest, 'run') as RunResults | null;
  if (run === null) return null;
  const rows = run.rows
    .filter((r) => r.server !== 'raw node:net' && r.ratio !== null && Number.isFinite(r.ratio))
    .map((r) => ({ workload: r.workload, server: r.server, ratio: r.ratio as number }));
  if (rows.length === 0) return null;
  const workloads = [...new Set(rows.map((r) => r.workload))];
  const servers = [...new Set(rows.map((r) => r.server))];
  const { top, cut } = capped(rows, (r) => `${r.server}, ${r.workload}`);
  return {
    file: 'ratio-to-raw.svg',
    spec: {
      $schema: SCHEMA,
      title: {
        text: 'Echo servers against raw node:net (above 1: better)',
        subtitle: [
          'Each round against raw node:net in the same round, median of the rounds;',
          'idle-10k: raw\'s memory per connection over the server\'s',
          ...cut,
          caption(latest),
        ],
      },
      config: CONFIG,
      width: 120 * workloads.length,
      height: 260,
      data: { values: rows },
      layer: [
        {
          mark: { type: 'bar', clip: true },
          encoding: {
            x: { field: 'workload', type: 'nominal', sort: workloads, title: null, axis: { labelAngle: 0 } },
            xOffset: { field: 'server', type: 'nominal', sort: servers },
            y: { field: 'ratio', type: 'quantitative', title: 'ratio to raw node:net', scale: { domain: [0, top] } },
            color: { field: 'server', type: 'nominal', sort: servers, title: null, legend: { orient: 'bottom', columns: 3 } },
          },
        },
        { mark: { type: 'rule', color: 'black', strokeDash: [4, 3] }, encoding: { y: { datum: 1 } } },
      ],
    },
  };
}

/** (b) The loop's cost per event, and ix merge's, against the number of channels in the map. */
export function loopChart(latest: Latest): Chart | null {
  const loop = part(latest, 'loop-scaling') as LoopResults | null;
  if (loop === null || loop.rows.length === 0) return null;
  const rows = loop.rows.flatMap((r) => [
    { sources: r.sources, consumer: 'loop()', us: r.loopUs },
    { sources: r.sources, consumer: 'ix merge', us: r.mergeUs },
  ]);
  return {
    file: 'loop-cost.svg',
    spec: {
      $schema: SCHEMA,
      title: {
        text: 'Cost per event against channels in the map',
        subtitle: ['Ten channels always ready, the rest idle (bench/loop-scaling.ts); both axes logarithmic', caption(latest)],
      },
      config: CONFIG,
      width: 420,
      height: 260,
      data: { values: rows },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'sources', type: 'quantitative', title: 'channels in the map', scale: { type: 'log' }, axis: { values: loop.rows.map((r) => r.sources), format: ',' } },
        y: { field: 'us', type: 'quantitative', title: 'µs per event', scale: { type: 'log' }, axis: { values: decades(rows.map((r) => r.us)), format: ',' } },
        color: { field: 'consumer', type: 'nominal', title: null, legend: { orient: 'bottom' } },
      },
    },
  };
}

/** (c) The other parts' ratios, each to its own reference, in work per CPU-second. */
export function partsChart(latest: Latest): Chart | null {
  const rows: { part: string; label: string; ratio: number }[] = [];
  const add = (name: string, reference: string, label: string, ratio: number | null): void => {
    if (ratio !== null && Number.isFinite(ratio)) rows.push({ part: `${name} / ${reference}`, label: `${name}: ${label}`, ratio });
  };
  for (const r of (part(latest, 'client-stream') as ClientStreamResults | null)?.rows ?? []) {
    if (r.client !== 'raw node:net') add('client-stream', 'raw node:net', `${r.direction}, ${r.client}`, r.cpuRatio);
  }
  for (const r of (part(latest, 'tls') as TlsResults | null)?.results ?? []) add('tls', 'raw node:tls', `${r.workload}, listen({ tls })`, r.ratio);
  for (const r of (part(latest, 'udp') as UdpResults | null)?.rows ?? []) {
    if (r.server !== 'raw node:dgram') add('udp', 'raw node:dgram', `${r.load}, ${r.server}`, r.ratioToRaw);
  }
  for (const r of (part(latest, 'framing') as FramingResults | null)?.rows ?? []) {
    if (!r.server.startsWith('raw node:net')) add('framing', 'raw node:net, lines split by hand', r.server, r.ratioToRaw);
  }
  for (const r of (part(latest, 'http') as HttpResults | null)?.rows ?? []) {
    if (r.server !== 'node:http') add('http', 'node:http', r.server, r.ratioToNodeHttp);
  }
  // resp.json keeps ours / Redis in CPU per request: turned over, above 1 is better here too.
  for (const r of (part(latest, 'resp') as RespResults | null)?.rows ?? []) add('resp', 'redis-server', `${r.load}, resp-server`, 1 / r.cpuRatioToRedis.median);
  if (rows.length === 0) return null;
  const parts = [...new Set(rows.map((r) => r.part))];
  const { top, cut } = capped(rows, (r) => r.label);
  return {
    file: 'parts-ratios.svg',
    spec: {
      $schema: SCHEMA,
      title: {
        text: 'Each part against its reference: work per CPU-second (above 1: cheaper)',
        subtitle: ['Each round against the reference in the same round, median of the rounds', ...cut, caption(latest)],
      },
      config: CONFIG,
      width: 360,
      height: { step: 18 },
      data: { values: rows },
      layer: [
        {
          mark: { type: 'bar', clip: true },
          encoding: {
            y: { field: 'label', type: 'nominal', sort: null, title: null },
            x: { field: 'ratio', type: 'quantitative', title: 'ratio to the reference', scale: { domain: [0, top] } },
            color: { field: 'part', type: 'nominal', sort: parts, title: 'part / its reference', legend: { orient: 'bottom', columns: 2 } },
          },
        },
        { mark: { type: 'rule', color: 'black', strokeDash: [4, 3] }, encoding: { x: { datum: 1 } } },
      ],
    },
  };
}

/** Renders a Vega-Lite specification to SVG text, headless. */
export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Writes every chart latest.json has the figures for into `outDir`.
 *
 * @returns The files written, and the charts left out for want of figures.
 */
export async function renderCharts(latest: Latest, outDir: string): Promise<{ written: string[]; missing: string[] }> {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const missing: string[] = [];
  const makers = { 'ratio-to-raw (part run)': ratioChart, 'loop-cost (part loop-scaling)': loopChart, 'parts-ratios (parts tls, udp, ...)': partsChart };
  for (const [name, make] of Object.entries(makers)) {
    const chart = make(latest);
    if (chart === null) {
      missing.push(name);
      continue;
    }
    const file = path.join(outDir, chart.file);
    writeFileSync(file, `${await toSvg(chart.spec)}\n`);
    written.push(file);
  }
  return { written, missing };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const option = (name: string, fallback: string): string => (argv.includes(name) ? argv[argv.indexOf(name) + 1] ?? fallback : fallback);
  const input = path.resolve(option('--in', 'bench/results/latest.json'));
  const outDir = path.resolve(option('--out', 'docs/charts'));
  const latest = JSON.parse(readFileSync(input, 'utf8')) as Latest;
  const { written, missing } = await renderCharts(latest, outDir);
  for (const file of written) console.log(`wrote ${path.relative(process.cwd(), file)}`);
  for (const name of missing) console.log(`left out ${name}: ${path.relative(process.cwd(), input)} has no figures for it`);
}
