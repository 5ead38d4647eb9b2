import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { renderCharts } from '../scripts/bench-charts.js';
import type { Latest } from '../scripts/bench-charts.js';
import { root } from './helpers/root.js';

const fixture = JSON.parse(readFileSync(path.join(root, 'test/fixtures/bench-latest.json'), 'utf8')) as Latest;

t.test('renderCharts() turns a latest.json into one SVG file per chart it has figures for', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-charts-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const { written, missing } = await renderCharts(fixture, dir);
  t.same(written.map((file) => path.basename(file)), ['ratio-to-raw.svg', 'loop-cost.svg', 'parts-ratios.svg']);
  t.same(missing, []);
  for (const file of written) {
    const svg = readFileSync(file, 'utf8');
    t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[\s\S]*<\/svg>\n$/, `${path.basename(file)} is one svg element`);
    t.match(svg, /<text[^>]*font-family="sans-serif"/, `${path.basename(file)} has its text in sans-serif`);
  }
  const ratios = readFileSync(path.join(dir, 'ratio-to-raw.svg'), 'utf8');
  t.match(ratios, 'Channel for await', 'the servers are named in the legend');
  t.match(ratios, 'Cut at 2: Python asyncore, idle-10k: 9.45', 'a bar beyond the axis is named with its figure');
  t.match(readFileSync(path.join(dir, 'parts-ratios.svg'), 'utf8'), 'resp: ping, resp-server', 'the other parts have a bar each');
});

t.test('renderCharts() leaves out a chart whose part is missing', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-charts-'));
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); });
  const { written, missing } = await renderCharts({ ...fixture, parts: { 'loop-scaling': fixture.parts['loop-scaling'] } }, dir);
  t.same(written.map((file) => path.basename(file)), ['loop-cost.svg']);
  t.equal(missing.length, 2);
});
