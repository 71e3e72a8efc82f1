// The demo's self-contained HTML report: one file, inline SVG plots, no scripts, no external assets.
import { escapeXml, svgLinePlot, type PlotSeries } from '../sim/svg.js';

export interface ReportRow {
  name: string;
  accuracy: number;
  /** Mean cost per sample, in the units of the cost model (the whole network costs λ·L). */
  cost: number;
  offloadRate?: number;
  note?: string;
}

export interface DemoReportData {
  title: string;
  model: string;
  dataset: string;
  n: number;
  /** Free-form configuration lines (α, λ, o, policy, backend, transport dtype, cloud URL …). */
  config: Record<string, string | number>;
  rows: ReportRow[];
  /** Per-sample series, all of length n. */
  perSample: {
    arm: ArrayLike<number>;
    correct: ArrayLike<number>; // 1/0
    cost: ArrayLike<number>;
    bytes: ArrayLike<number>;
    /** Per-sample cost of the baselines, for the cumulative-cost plot. */
    baselineCost: Record<string, ArrayLike<number>>;
    baselineCorrect: Record<string, ArrayLike<number>>;
  };
  numLayers: number;
  generated: string;
}

const cumulative = (a: ArrayLike<number>) => {
  const out = new Float64Array(a.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) { s += a[i]; out[i] = s; }
  return out;
};
const runningMean = (a: ArrayLike<number>) => {
  const c = cumulative(a);
  return c.map((v, i) => v / (i + 1));
};
const pct = (v: number) => `${(v * 100).toFixed(2)}%`;

export function renderDemoReport(d: DemoReportData): string {
  const ps = d.perSample;
  const costSeries: PlotSeries[] = [{ label: 'splitee (live)', y: cumulative(ps.cost) }];
  const accSeries: PlotSeries[] = [{ label: 'splitee (live)', y: runningMean(ps.correct) }];
  for (const [name, c] of Object.entries(ps.baselineCost)) costSeries.push({ label: name, y: cumulative(c), dashed: true });
  for (const [name, c] of Object.entries(ps.baselineCorrect)) accSeries.push({ label: name, y: runningMean(c), dashed: true });
  const plots = [
    svgLinePlot(costSeries, { title: 'Cumulative cost', xLabel: 'sample', yLabel: 'cost', id: 'cost' }),
    svgLinePlot(accSeries, { title: 'Accuracy so far', xLabel: 'sample', yLabel: 'accuracy', id: 'acc', yMin: 0, yMax: 1 }),
    svgLinePlot([{ label: 'split layer k', y: ps.arm }], { title: 'Arm chosen for each sample', xLabel: 'sample', yLabel: 'k', id: 'arms', yMin: 1, yMax: d.numLayers, legend: false }),
    svgLinePlot([{ label: 'bytes offloaded', y: cumulative(ps.bytes) }], { title: 'Cumulative offload bytes', xLabel: 'sample', yLabel: 'bytes', id: 'bytes', legend: false }),
  ];
  const final = d.rows.find((r) => r.name === 'final');
  const rows = d.rows.map((r) => {
    const red = final && final.cost > 0 ? pct(1 - r.cost / final.cost) : '';
    const drop = final ? `${((final.accuracy - r.accuracy) * 100).toFixed(2)} pts` : '';
    return `<tr><td>${escapeXml(r.name)}</td><td>${pct(r.accuracy)}</td><td>${r.cost.toFixed(4)}</td><td>${red}</td><td>${drop}</td>` +
      `<td>${r.offloadRate === undefined ? '' : pct(r.offloadRate)}</td><td>${escapeXml(r.note ?? '')}</td></tr>`;
  }).join('\n');
  const config = Object.entries(d.config).map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(String(v))}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(d.title)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f5f5f5;text-align:left}td:first-child{text-align:left}.plots{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.plots svg{width:100%;height:auto;border:1px solid #eee}small{color:#666}
</style></head><body>
<h1>${escapeXml(d.title)}</h1>
<p><b>${escapeXml(d.model)}</b> on <b>${escapeXml(d.dataset)}</b>, ${d.n} samples. <small>Generated ${escapeXml(d.generated)}.</small></p>
<h2>Summary</h2>
<table><tr><th>policy</th><th>accuracy</th><th>cost / sample</th><th>cost reduction vs final</th><th>accuracy drop vs final</th><th>offload rate</th><th>note</th></tr>
${rows}
</table>
<h2>Plots</h2>
<div class="plots">${plots.join('\n')}</div>
<h2>Configuration</h2>
<table>${config}</table>
</body></html>
`;
}
