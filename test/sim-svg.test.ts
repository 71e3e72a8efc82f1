// svgLinePlot: well-formed output, every point inside the plot area, decimation, gaps, escaping, degenerate input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { svgLinePlot, niceStep, escapeXml } from '../src/sim/index.js';
import { rng } from './util.js';

function paths(svg: string): string[] {
  return [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]);
}
function points(d: string): { cmd: string; x: number; y: number }[] {
  return [...d.matchAll(/([ML])(-?[\d.]+) (-?[\d.]+)/g)].map((m) => ({ cmd: m[1], x: Number(m[2]), y: Number(m[3]) }));
}
/** Every opened element is closed (or self-closed), in order. */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) { if (stack.pop() !== m[2]) return false; } else stack.push(m[2]);
  }
  return stack.length === 0;
}

test('two series: one path each, all points inside the plot box, legend, axes labels', () => {
  const r = rng(1);
  const a = Array.from({ length: 300 }, (_, i) => Math.sqrt(i) + r.uniform(-0.5, 0.5));
  const b = Array.from({ length: 300 }, (_, i) => -0.01 * i);
  const svg = svgLinePlot([{ label: 'splitee', y: a }, { label: 'final', y: b, dashed: true }], { width: 500, height: 300, title: 'Regret', xLabel: 'sample', yLabel: 'regret' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="500" height="300"'));
  assert.ok(svg.endsWith('</svg>'));
  assert.ok(balanced(svg), 'balanced tags');
  assert.not.match(svg, /NaN|Infinity|undefined/);
  for (const s of ['Regret', 'sample', 'regret', '>splitee<', '>final<']) assert.ok(svg.includes(s), s);
  const ps = paths(svg);
  assert.is(ps.length, 2);
  const box = /<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" fill="none" stroke="#333"\/>/.exec(svg)!;
  const [x0, y0, w, h] = box.slice(1).map(Number);
  for (const d of ps) {
    const pts = points(d);
    assert.is(pts.length, 300);
    for (const p of pts) assert.ok(p.x >= x0 - 0.01 && p.x <= x0 + w + 0.01 && p.y >= y0 - 0.01 && p.y <= y0 + h + 0.01, `${p.x},${p.y} outside`);
    // x increases with the index: the first point on the left edge, the last one on or before the right edge.
    assert.ok(Math.abs(pts[0].x - x0) < 0.01);
  }
  // The zero line is drawn when the y range spans 0.
  assert.match(svg, /stroke-dasharray="4 3"/);
});

test('long series are decimated but keep their extremes', () => {
  const y = Array.from({ length: 100000 }, (_, i) => Math.sin(i / 5000));
  y[54321] = 5; // a spike must survive
  const svg = svgLinePlot([{ label: 'long', y }], { maxPoints: 400 });
  const pts = points(paths(svg)[0]);
  assert.ok(pts.length <= 402 && pts.length > 100, `${pts.length} points`);
  const top = Math.min(...pts.map((p) => p.y));
  const box = /<rect x="(\d+)" y="(\d+)"[^>]*fill="none" stroke="#333"/.exec(svg)!;
  assert.ok(Math.abs(top - Number(box[2])) < 0.01, 'spike reaches the top of the plot (y max = 5)');
});

test('non-finite values break the line; explicit x; escaping; degenerate inputs', () => {
  const svg = svgLinePlot([{ label: 'a<b & "c"', x: [0, 10, 20, 30, 40], y: [1, 2, NaN, 3, 4] }]);
  const d = paths(svg)[0];
  assert.is((d.match(/M/g) ?? []).length, 2, 'gap → a second M');
  assert.ok(svg.includes('a&lt;b &amp; &quot;c&quot;'));
  assert.ok(balanced(svg));
  for (const s of [svgLinePlot([]), svgLinePlot([{ label: 'flat', y: [2, 2, 2] }]), svgLinePlot([{ label: 'one', y: [7] }]), svgLinePlot([{ label: 'nan', y: [NaN, NaN] }])]) {
    assert.ok(balanced(s)); assert.not.match(s, /NaN|Infinity|undefined/);
  }
  assert.is(escapeXml(`<&>"'`), '&lt;&amp;&gt;&quot;&#39;');
  const ids = [svgLinePlot([{ label: 'a', y: [1, 2] }]), svgLinePlot([{ label: 'a', y: [1, 2] }])].map((s) => /clipPath id="([^"]+)"/.exec(s)![1]);
  assert.not.equal(ids[0], ids[1], 'two plots on one page never share an id');
});

test('niceStep picks 1-2-5 steps', () => {
  assert.is(niceStep(10), 2);
  assert.is(niceStep(100), 20);
  assert.ok(Math.abs(niceStep(0.37) - 0.05) < 1e-15);
  assert.is(niceStep(7), 1);
  assert.is(niceStep(30), 5);
  assert.is(niceStep(0), 1);
});

test.run();
