// The demo's self-contained HTML report: one file, inline SVG plots and PNG thumbnails as data: URLs, no scripts, no
// external assets. Written for a reader who did not run the demo: what the numbers mean (the cost model and the
// settings), how the run compares with the baselines, how the policy's choice evolved, and what it got wrong.
import { cumulative, runningMean } from '../sim/metrics.js';
import { escapeXml, niceStep } from '../sim/svg.js';
import {
  byteTicks, describeLambda, describeOffloadCost, formatBytes, formatMs, formatNumber, formatPercent, formatPoints,
} from './format.js';
import { linePlot, stackedColumns, type Band, type LineSeries } from './plots.js';
import { imageDataUrl } from './png.js';
import type { ReportSample } from './samples.js';

export type { ReportSample } from './samples.js';
export { pickReportSamples } from './samples.js';

export interface ReportRow {
  name: string;
  accuracy: number;
  /** Mean cost per sample, in the units of the cost model (the whole network costs λ·L). */
  cost: number;
  offloadRate?: number;
  note?: string;
}

/** One phase of a run under changing network conditions. */
export interface ReportPhase {
  /** When the phase starts, as the schedule says it ("20s", or a sample number). */
  from: number | string;
  /** Run position (0-based sample count) where the phase starts, to mark it on the plots. */
  startSample?: number;
  /** What changed ("rtt=120ms, bw=1mbit"). */
  label?: string;
  meanSplit: number;
  offloadRate: number;
  p50Ms: number;
  p95Ms: number;
  accuracy: number;
}

export interface DemoReportData {
  title: string;
  model: string;
  dataset: string;
  n: number;
  /** Configuration (α, λ, o, policy, backend, transport, cloud …); known keys are described, numbers formatted. */
  config: Record<string, string | number>;
  rows: ReportRow[];
  /** Per-sample series, all of length n. */
  perSample: {
    arm: ArrayLike<number>;
    correct: ArrayLike<number>; // 1/0
    cost: ArrayLike<number>;
    bytes: ArrayLike<number>;
    /** Per-sample cost of the baselines, for the cost plot. */
    baselineCost: Record<string, ArrayLike<number>>;
    baselineCorrect: Record<string, ArrayLike<number>>;
    /** 1 when the sample was answered on the device (no offload). */
    exited?: ArrayLike<number>;
    /** End-to-end latency per sample, ms. */
    latencyMs?: ArrayLike<number>;
  };
  numLayers: number;
  generated: string;
  /** The cost model; when absent it is read from config (alpha, lambda, 'offload cost'). */
  costs?: { alpha: number; lambda: number; offloadCost: number };
  /** Misclassified and early-exited samples to show (pickReportSamples). */
  samples?: ReportSample[];
  /** Phases of a run across changing network conditions. */
  phases?: ReportPhase[];
  /** Where the samples came from ("the full test set", "the embedded 1,000-image sample"). */
  dataSource?: string;
  /** Costs measured on the device and link (a run with measured costs): shown per layer and per split. */
  measured?: ReportMeasuredCosts;
}

/** What a run with measured costs ended with (the runner's MeasuredCostsReport). */
export interface ReportMeasuredCosts {
  /** Device time of each layer 1..L, ms. */
  layerMs: ArrayLike<number>;
  /** Fitted round trip without the payload, ms (null: no offload observed). */
  rttMs: number | null;
  /** Fitted bandwidth towards the cloud, Mbit/s (null: no offload; Infinity: the frames' sizes could not tell). */
  bandwidthMbit: number | null;
  /** Reward per ms. */
  mu: number;
  /** λ_k (reward units) for k = 1..L. */
  lambda: ArrayLike<number>;
  /** o_k (reward units) for a split at k = 1..L − 1. */
  offload: ArrayLike<number>;
}

function measuredSection(m: ReportMeasuredCosts, L: number): string {
  const link = m.rttMs === null ? 'no offload was observed'
    : `round trip ${formatMs(m.rttMs)} plus the frame over ${m.bandwidthMbit === null || !Number.isFinite(m.bandwidthMbit) ? 'an unresolved bandwidth (frames of one size cannot separate it from the round trip)' : `${formatNumber(m.bandwidthMbit)} Mbit/s`}`;
  const rows: string[] = [];
  let cum = 0;
  for (let k = 1; k <= L; k++) {
    cum += m.layerMs[k - 1];
    const o = k < L ? m.offload[k - 1] : undefined;
    rows.push(`<tr><td>${k}</td><td>${formatMs(m.layerMs[k - 1])}</td><td>${formatMs(cum)}</td><td>${formatNumber(m.lambda[k - 1])}</td>`
      + `<td>${o === undefined ? '—' : formatNumber(o)}</td><td>${o === undefined ? '—' : formatMs(o / m.mu)}</td></tr>`);
  }
  return `<h2>Measured costs</h2>
<p class="why">Costs in milliseconds, measured on this device and link as the run went (the values at its end): each layer's device time,
and for an offload the ${esc(link)}. They become rewards with μ = ${formatNumber(m.mu)} per ms: λ<sub>k</sub> = μ · (device time of layer k),
o<sub>k</sub> = μ · (offload time of a split at k).</p>
<table class="measured"><tr><th>layer k</th><th>device time</th><th>layers 1..k</th><th>λ<sub>k</sub></th><th>o<sub>k</sub></th><th>offload time</th></tr>
${rows.join('\n')}
</table>`;
}

const esc = (v: unknown) => escapeXml(String(v));


/** Centered moving average over `w` samples (shorter at the ends). */
function movingMean(a: ArrayLike<number>, w: number): Float64Array {
  const n = a.length, c = cumulative(a), out = new Float64Array(n), h = Math.floor(w / 2);
  for (let i = 0; i < n; i++) {
    const lo = Math.max(0, i - h), hi = Math.min(n - 1, i + h);
    out[i] = (c[hi] - (lo > 0 ? c[lo - 1] : 0)) / (hi - lo + 1);
  }
  return out;
}

/** Moving median over `w` samples: latency has outliers a mean would chase. */
function movingMedian(a: ArrayLike<number>, w: number): Float64Array {
  const n = a.length, out = new Float64Array(n), h = Math.floor(w / 2);
  for (let i = 0; i < n; i++) {
    const win = Array.from({ length: Math.min(n - 1, i + h) - Math.max(0, i - h) + 1 }, (_, j) => a[Math.max(0, i - h) + j]).filter(Number.isFinite).sort((x, y) => x - y);
    out[i] = win.length ? win[Math.floor(win.length / 2)] : NaN;
  }
  return out;
}

function numberFrom(config: Record<string, string | number>, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = Number(config[k]);
    if (k in config && Number.isFinite(v)) return v;
  }
  return undefined;
}

/** Colours for split layers 1..L: an ordered ramp (dark blue → yellow), since layers are ordered. */
function layerColors(L: number): string[] {
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  return Array.from({ length: L }, (_, i) => {
    const t = L === 1 ? 0.5 : i / (L - 1), p = t * (stops.length - 1), j = Math.min(stops.length - 2, Math.floor(p)), f = p - j;
    const c = stops[j].map((v, q) => Math.round(v + (stops[j + 1][q] - v) * f));
    return `rgb(${c.join(',')})`;
  });
}

/** "12345 bytes" in free-form notes → "12.3 KB". */
const prettyNote = (s: string) => s.replace(/(\d[\d,]*) bytes\b/g, (_, d: string) => formatBytes(Number(d.replace(/,/g, ''))));

function describeConfig(key: string, v: string | number, L: number, lambda: number | undefined): string {
  const n = typeof v === 'number' ? v : Number.NaN;
  if (key === 'lambda' && Number.isFinite(n)) return describeLambda(n, L);
  if ((key === 'offload cost' || key === 'offloadCost' || key === 'o') && Number.isFinite(n) && lambda !== undefined) return describeOffloadCost(n, lambda, L);
  if (key === 'alpha' && Number.isFinite(n)) return `${formatNumber(n)}: an exit answers when its top class has probability ≥ ${formatNumber(n)}`;
  return typeof v === 'number' ? formatNumber(v) : v;
}

function sampleCard(s: ReportSample, L: number): string {
  let body: string;
  if (s.image) {
    const { channels, height, width, data } = s.image;
    const url = imageDataUrl(data, channels, height, width);
    body = `<img class="sample-image" src="${url}" width="${width * 3}" height="${height * 3}" alt="sample ${s.index}: ${esc(s.trueLabel)}">`;
  } else {
    const text = s.text ?? '';
    body = `<blockquote class="sample-text">${esc(text.length > 400 ? `${text.slice(0, 400)}…` : text)}</blockquote>`;
  }
  const where = s.exited ? `exit ${s.answerLayer} of ${L}, on the device` : s.offloaded ? `split at layer ${s.arm}, answered by the cloud (exit ${s.answerLayer})` : `exit ${s.answerLayer} of ${L}`;
  return `<figure class="sample ${s.correct ? 'right' : 'wrong'}">${body}<figcaption>` +
    `<b>${s.correct ? esc(s.predicted) : `${esc(s.predicted)}</b> <span class="was">(is ${esc(s.trueLabel)})</span><b>`}</b><br>` +
    `${where}<br>confidence ${s.confidence.toFixed(3)} · sample #${s.position}</figcaption></figure>`;
}

export function renderDemoReport(d: DemoReportData): string {
  const ps = d.perSample;
  const L = d.numLayers;
  const n = ps.arm.length;
  const alpha = d.costs?.alpha ?? numberFrom(d.config, 'alpha');
  const lambda = d.costs?.lambda ?? numberFrom(d.config, 'lambda');
  const offloadCost = d.costs?.offloadCost ?? numberFrom(d.config, 'offload cost', 'offloadCost', 'o');
  const whole = lambda !== undefined ? lambda * L : undefined;
  const final = d.rows.find((r) => r.name === 'final');
  const live = d.rows[0];
  const totalBytes = Array.from(ps.bytes).reduce((a, b) => a + b, 0);
  const liveName = live?.name ?? 'splitee';

  // Summary table.
  const rows = d.rows.map((r) => {
    const saved = final && final.cost > 0 ? formatPercent(1 - r.cost / final.cost) : '';
    const drop = final ? formatPoints(r.accuracy - final.accuracy) : '';
    return `<tr${r === live ? ' class="live"' : ''}><td>${esc(r.name)}</td><td>${formatPercent(r.accuracy, 2)}</td>` +
      `<td>${whole ? formatPercent(r.cost / whole) : formatNumber(r.cost)}</td><td>${saved}</td><td>${drop}</td>` +
      `<td>${r.offloadRate === undefined ? '' : formatPercent(r.offloadRate)}</td><td class="note">${esc(prettyNote(r.note ?? ''))}</td></tr>`;
  }).join('\n');

  // Headline.
  const liveSaved = final && live && final.cost > 0 ? 1 - live.cost / final.cost : undefined;
  const headline = live ? `<p class="headline"><b>${esc(liveName)}</b> answered ${n.toLocaleString('en-US')} samples with accuracy ` +
    `<b>${formatPercent(live.accuracy, 2)}</b>${final ? ` (final layer on every sample: ${formatPercent(final.accuracy, 2)}, ${formatPoints(live.accuracy - final.accuracy)})` : ''} ` +
    `at <b>${whole ? formatPercent(live.cost / whole) : formatNumber(live.cost)}</b> of the cost of running the whole network on the device` +
    `${liveSaved !== undefined ? ` (${formatPercent(liveSaved)} saved)` : ''}. ` +
    `${live.offloadRate !== undefined ? `${formatPercent(live.offloadRate)} of the samples were offloaded, ` : ''}sending ${formatBytes(totalBytes)} in total.</p>` : '';

  // How to read this.
  const howTo = `<section class="howto"><h2>How to read this</h2><ul>
<li><b>Cost model</b> (as in the SplitEE paper): a sample split at layer k costs λ·k for the k layers the device runs, plus the
offload cost o if exit k was not confident enough and the activation went to the cloud. The cloud's own compute (layers k+1..L) is
<b>not counted</b>, so offloading early is cheap by design: a run that offloads most samples after one or two layers can save most of
the cost without losing accuracy.</li>
${d.measured ? `<li><b>This run measured its costs</b> instead of using constants: λ<sub>k</sub> and o<sub>k</sub> are milliseconds on this device and
link times μ (see "Measured costs" below), so a cost of 1 is 1/μ ms${d.measured.mu > 0 ? ` = ${esc(formatMs(1 / d.measured.mu))}` : ''}; the baselines are priced with the values at the end of the run.</li>\n` : ''}<li><b>Settings</b>: ${L} layers; λ = ${lambda !== undefined ? esc(describeLambda(lambda, L)) : 'see the configuration'}${whole !== undefined && Math.abs(whole - 1) < 1e-9 ? ', so the whole network costs 1' : ''};
o = ${offloadCost !== undefined && lambda !== undefined ? esc(describeOffloadCost(offloadCost, lambda, L)) : 'see the configuration'};
α = ${alpha !== undefined ? `${formatNumber(alpha)} (an exit answers when its top class has probability ≥ α)` : 'see the configuration'}.</li>
<li><b>Cost saved</b> is 1 − cost / cost of the <i>final</i> baseline (every sample through all ${L} layers on the device).
<b>Accuracy change</b> is against the same baseline, in percentage points. <i>early-exit</i> runs the layers in order and stops at the
first confident exit, never offloading; <i>oracle</i> is the best fixed split layer in hindsight.</li>
<li>Samples are numbered in the order they were streamed; the policy learns the split layer online, without labels.</li>
</ul></section>`;

  // Plots.
  const start = Math.min(n, Math.max(20, Math.round(n / 20)));
  const plots: string[] = [];
  {
    const series: LineSeries[] = [{ label: liveName, y: runningMean(ps.cost).map((v) => (whole ? v / whole : v)) }];
    for (const [name, c] of Object.entries(ps.baselineCost)) series.push({ label: name, y: runningMean(c).map((v) => (whole ? v / whole : v)), dashed: true });
    // Headroom above the highest curve: the final baseline sits at exactly 100 % and would vanish into the frame.
    let top = 0;
    for (const s of series) for (let i = 0; i < s.y.length; i++) if (Number.isFinite(s.y[i])) top = Math.max(top, s.y[i]);
    plots.push(linePlot(series, {
      id: 'cost', title: 'Mean cost per sample so far',
      x: { label: 'samples streamed', integer: true },
      y: whole ? { label: 'share of the whole network', min: 0, max: Math.ceil(top * 1.08 * 10) / 10, format: (v) => `${Math.round(v * 100)} %` } : { label: 'cost', min: 0 },
    }));
  }
  {
    const acc: LineSeries[] = [{ label: liveName, y: runningMean(ps.correct) }];
    for (const [name, c] of Object.entries(ps.baselineCorrect)) acc.push({ label: name, y: runningMean(c), dashed: true });
    // The first samples swing between 0 and 1 and would set the scale: leave them out and zoom on the rest.
    for (const s of acc) s.y = Float64Array.from(s.y, (v, i) => (i + 1 < start ? NaN : v));
    let lo = 1, hi = 0;
    for (const s of acc) for (let i = 0; i < s.y.length; i++) if (Number.isFinite(s.y[i])) { lo = Math.min(lo, s.y[i]); hi = Math.max(hi, s.y[i]); }
    const pad = Math.max(0.005, (hi - lo) * 0.15);
    plots.push(linePlot(acc, {
      id: 'acc', title: `Accuracy so far (from sample ${start})`,
      x: { label: 'samples streamed', integer: true, min: 0 },
      y: { label: 'accuracy', min: Math.max(0, Math.floor((lo - pad) * 100) / 100), max: Math.min(1, Math.ceil((hi + pad) * 100) / 100), format: (v) => `${(v * 100).toFixed(hi - lo < 0.03 ? 1 : 0)} %` },
    }));
  }
  {
    const windows = Math.max(1, Math.min(40, Math.ceil(n / 25)));
    const size = Math.ceil(n / windows);
    const columns = [];
    for (let s = 0; s < n; s += size) {
      const e = Math.min(n, s + size);
      const shares = new Array(L).fill(0);
      for (let i = s; i < e; i++) { const k = ps.arm[i]; if (k >= 1 && k <= L) shares[k - 1] += 1 / (e - s); }
      columns.push({ from: s, to: e, shares });
    }
    const colors = layerColors(L);
    plots.push(stackedColumns(columns, colors.map((color, i) => ({ label: `k = ${i + 1}`, color })), {
      id: 'arms', title: `Split layer chosen (share per ${size} samples)`,
      x: { label: 'samples streamed', integer: true }, y: { label: 'share of samples', format: (v) => `${Math.round(v * 100)} %` },
    }));
  }
  plots.push(linePlot([{ label: 'activations sent to the cloud', y: cumulative(ps.bytes) }], {
    id: 'bytes', title: `Data offloaded so far (${formatBytes(totalBytes)} in total)`,
    x: { label: 'samples streamed', integer: true }, y: { label: 'sent', min: 0, format: byteTicks(totalBytes) },
  }));

  // Changing conditions: split layer and latency over time, phases marked.
  const phases = d.phases ?? [];
  const bands: Band[] = [];
  phases.forEach((p, i) => {
    if (p.startSample === undefined) return;
    const next = phases.slice(i + 1).find((q) => q.startSample !== undefined);
    bands.push({ from: p.startSample, to: next?.startSample ?? n, label: p.label ?? `phase ${i + 1}` });
  });
  const timePlots: string[] = [];
  if (phases.length || ps.latencyMs) {
    const w = Math.max(5, Math.round(n / 40));
    timePlots.push(linePlot([
      { label: 'split layer of each sample', y: ps.arm, dots: true, color: '#9bbcd9' },
      { label: `moving mean over ${w} samples`, y: movingMean(ps.arm, w), color: '#1f4e79' },
    ], { id: 'split-time', title: 'Split layer over time', x: { label: 'samples streamed', integer: true, min: 0 }, y: { label: 'split layer k', min: 0.5, max: L + 0.5, integer: true }, bands }));
    if (ps.latencyMs) {
      // A few slow samples (a GC pause, the first request's connection) would flatten everything else: cut the axis
      // well above the 99th percentile and say how many samples lie above it.
      const sorted = Array.from(ps.latencyMs).filter(Number.isFinite).sort((a, b) => a - b);
      const p99 = sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))] : 0;
      const step = niceStep(2 * p99);
      const cut = sorted.length && sorted[sorted.length - 1] > 3 * p99 && p99 > 0 ? Math.ceil((2 * p99) / step) * step : undefined;
      const above = cut === undefined ? 0 : sorted.filter((v) => v > cut).length;
      timePlots.push(linePlot([
        { label: 'latency of each sample', y: ps.latencyMs, dots: true, color: '#f2a7a7' },
        { label: `moving median over ${w} samples`, y: movingMedian(ps.latencyMs, w), color: '#a01818' },
      ], {
        id: 'latency-time', title: `Latency per sample${above ? ` (${above} above ${formatNumber(cut!)} ms not shown)` : ', end to end'}`,
        x: { label: 'samples streamed', integer: true, min: 0 }, y: { label: 'ms', min: 0, max: cut }, bands,
      }));
    }
  }
  const phaseTable = phases.length ? `<table class="phases"><tr><th>phase</th><th>from</th><th>conditions</th><th>mean split layer</th><th>offload rate</th><th>p50 latency</th><th>p95 latency</th><th>accuracy</th></tr>
${phases.map((p, i) => `<tr><td>${i + 1}</td><td>${esc(p.from)}</td><td>${esc(p.label ?? '')}</td><td>${p.meanSplit.toFixed(2)}</td><td>${formatPercent(p.offloadRate)}</td><td>${formatMs(p.p50Ms)}</td><td>${formatMs(p.p95Ms)}</td><td>${formatPercent(p.accuracy, 2)}</td></tr>`).join('\n')}
</table>` : '';

  // Samples.
  const samples = d.samples ?? [];
  const wrong = samples.filter((s) => !s.correct), early = samples.filter((s) => s.correct && s.exited && s.answerLayer < L);
  const gallery = (title: string, why: string, list: ReportSample[], cls: string) => (list.length
    ? `<h3>${esc(title)}</h3><p class="why">${esc(why)}</p><div class="gallery ${cls}${list.some((s) => s.text !== undefined) ? ' text' : ''}">${list.map((s) => sampleCard(s, L)).join('\n')}</div>` : '');
  const samplesSection = samples.length ? `<h2>Samples</h2>
${gallery('Misclassified', 'The answer given (in bold) and the true class; where it was answered and how confident that exit was.', wrong, 'wrong')}
${gallery('Answered early on the device', `Correct answers from an exit before layer ${L}: these samples never left the device.`, early, 'early')}` : '';

  const configRows = Object.entries(d.config).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(describeConfig(k, v, L, lambda))}</td></tr>`).join('\n');

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(d.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:1180px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}h3{margin-bottom:.2rem}
.sub{color:#555;margin-top:0}.headline{font-size:1.05rem;background:#f4f8fc;border-left:4px solid #1f77b4;padding:.6rem 1rem}
.howto ul{padding-left:1.2rem}.howto li{margin:.3rem 0}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f5f5f5;text-align:left}td:first-child{text-align:left}td.note{text-align:left;color:#555}tr.live td{font-weight:600}
.plots{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:1rem}
.plots svg{width:100%;height:auto;border:1px solid #eee;display:block}
.gallery{display:flex;flex-wrap:wrap;gap:.8rem}.why{color:#555;margin-top:0}
.sample{margin:0;padding:.5rem;border:1px solid #ddd;border-radius:4px;width:164px;font-size:.85rem}
.sample.wrong{border-color:#e0a0a0}.sample .was{color:#a01818}
.sample-image{display:block;margin:0 auto .4rem;image-rendering:pixelated;border:1px solid #ccc}
.sample-text{margin:0 0 .4rem;font-style:italic}.gallery.text .sample{width:250px}
.config th{width:10rem}.config td{text-align:left}
</style></head><body>
<h1>${esc(d.title)}</h1>
<p class="sub"><b>${esc(d.model)}</b> (${L} layers) on <b>${esc(d.dataset)}</b>${d.dataSource ? ` (${esc(d.dataSource)})` : ''}, ${n.toLocaleString('en-US')} samples. Generated ${esc(d.generated)}.</p>
${headline}
${howTo}
<h2>Summary</h2>
<table class="summary"><tr><th>policy</th><th>accuracy</th><th>${whole ? 'cost per sample, share of the whole network' : 'cost per sample'}</th><th>cost saved vs final</th><th>accuracy vs final</th><th>offloaded</th><th>note</th></tr>
${rows}
</table>
<h2>Plots</h2>
<div class="plots">${plots.join('\n')}</div>
${d.measured ? measuredSection(d.measured, L) : ''}
${timePlots.length || phaseTable ? `<h2>${phases.length ? 'Changing network conditions' : 'Split layer and latency over time'}</h2>${phaseTable}<div class="plots">${timePlots.join('\n')}</div>` : ''}
${samplesSection}
<h2>Configuration</h2>
<table class="config">${configRows}</table>
</body></html>
`;
}
