// The web demo's run, shared by the page (web/demo.js imports the built copy from /dist/src/demo/) and by
// Node (the end-to-end test replays it there): the same settings, the same policy and the same runner, so one seed
// and one stream give the same numbers in both places. Core module: no Node imports.
import { createInputEncoder } from '../data/prepare.js';
import type { CloudClient } from '../device/cloud.js';
import { runStream, type DeviceModel, type MeasuredCostModel, type RunProgress, type RunResult, type SampleRecord } from '../device/runner.js';
import type { ModelInput } from '../engine/types.js';
import type { SpxHeader } from '../format/index.js';
import { createPolicy } from '../policy/registry.js';
import { resolveCosts, type CostModel, type ResolvedCosts } from '../policy/types.js';
import { buildMatrix, type MultiExitModel } from '../sim/confidence.js';
import type { ConfidenceMatrix } from '../sim/matrix.js';
import { cumulative, runningMean, summarize } from '../sim/metrics.js';
import { runPolicy } from '../sim/simulator.js';
import { svgLinePlot, type PlotSeries } from '../sim/svg.js';
import type { Dtype } from '../transport/codec.js';
import { sampleLatencyMs, slowDevice } from './network.js';

export class DemoError extends Error {
  readonly code: string;
  constructor(code: string, message: string) { super(message); this.name = 'DemoError'; this.code = code; }
}

/** What the server tells the page (GET /api/config) and what a Node replay takes. */
export interface DemoConfig {
  /** Model name; its bytes are at `modelUrl`. */
  model: string;
  modelUrl: string;
  dataset: string;
  limit: number;
  seed: number;
  policy: string;
  alpha: number;
  /** Device cost per layer; default 1/L (the whole network costs 1), as `splitee demo`. */
  lambda?: number;
  /** Offload cost o; default 0.25·λ·L, as `splitee demo`. */
  offloadCost?: number;
  /** UCB exploration weight; default the policy's (1). */
  c?: number;
  dtype: Dtype;
  /** Which backend the page asks for ('auto': WebGPU when the browser has an adapter, else WASM). */
  backend: 'auto' | 'wasm' | 'webgpu';
  /** 'measured': costs in ms measured on the page's device and link, × `mu` (docs/POLICIES.md); default constant. */
  costs?: 'constant' | 'measured';
  /** Reward per ms with measured costs (default 1 / the calibrated whole-network device time). */
  mu?: number;
  /** The emulated link the server starts with ("rtt=2ms,bw=100mbit"); set when the page may change it (/v1/emulate). */
  network?: string;
  /** Run the device half as a device this many ms slower on the whole network (default 0). */
  deviceMs?: number;
}

/** `splitee demo`'s defaults (src/cli/demo.ts): policy, α, seed, sample count, wire dtype. */
export const DEMO_DEFAULTS = { policy: 'splitee', alpha: 0.9, seed: 1, limit: 2000, dtype: 'int8' as Dtype, backend: 'auto' as const };

/** The stream `splitee demo` uses for each zoo model. */
export const DEFAULT_STREAMS: Readonly<Record<string, string>> = { 'fmnist-cnn': 'fmnist:test', 'sst2-transformer': 'sst2:dev' };

/** The cost model of `splitee demo`: λ = 1/L unless given, o = 0.25·λ·L unless given. */
export function demoCosts(cfg: Pick<DemoConfig, 'alpha' | 'lambda' | 'offloadCost'>, L: number): CostModel {
  const lambda = cfg.lambda ?? 1 / L;
  return { alpha: cfg.alpha, lambda, offloadCost: cfg.offloadCost ?? 0.25 * lambda * L };
}

// ---------------------------------------------------------------- samples on the wire (GET /api/samples)

/**
 * A stream's samples as JSON. Images travel as one base64 string of all their float32 pixels (exact, and a third of
 * the size of decimal text), sentences as strings, token ids (models without a tokenizer) as integer arrays.
 */
export interface SamplesPayload {
  dataset: string;
  kind: 'image' | 'text' | 'tokens';
  size: number;
  classes: string[];
  labels: number[];
  /** image: the shape of one sample, e.g. [1, 28, 28]. */
  shape?: number[];
  /** image: base64 of size × numel(shape) little-endian float32. */
  pixels?: string;
  texts?: string[];
  tokens?: number[][];
}

export interface DemoSample {
  index: number;
  label: number;
  input: Float32Array | Int32Array | string;
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  const CHUNK = 0x8000; // String.fromCharCode takes its arguments on the stack
  for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Samples → the JSON payload. Every sample of one payload has the same kind (and, for images, the same size). */
export function encodeSamples(dataset: string, classes: readonly string[], samples: readonly DemoSample[], shape?: number[]): SamplesPayload {
  if (!littleEndian) throw new DemoError('BIG_ENDIAN', 'the sample payload is little-endian float32; this host is big-endian');
  const first = samples[0]?.input;
  const kind = typeof first === 'string' ? 'text' : first instanceof Int32Array ? 'tokens' : 'image';
  const out: SamplesPayload = { dataset, kind, size: samples.length, classes: classes.slice(), labels: samples.map((s) => s.label) };
  if (kind === 'text') {
    out.texts = samples.map((s, i) => {
      if (typeof s.input !== 'string') throw new DemoError('MIXED_SAMPLES', `sample ${i} is not text`);
      return s.input;
    });
  } else if (kind === 'tokens') {
    out.tokens = samples.map((s, i) => {
      if (!(s.input instanceof Int32Array)) throw new DemoError('MIXED_SAMPLES', `sample ${i} is not token ids`);
      return Array.from(s.input);
    });
  } else {
    const per = (first as Float32Array | undefined)?.length ?? 0;
    const all = new Float32Array(per * samples.length);
    samples.forEach((s, i) => {
      if (!(s.input instanceof Float32Array) || s.input.length !== per) throw new DemoError('MIXED_SAMPLES', `sample ${i} is not ${per} float32 pixels`);
      all.set(s.input, i * per);
    });
    out.shape = shape ?? [per];
    out.pixels = toBase64(new Uint8Array(all.buffer));
  }
  return out;
}

/** The JSON payload → samples, checked (a truncated or mismatched payload is an error, not a short stream). */
export function decodeSamples(p: SamplesPayload): DemoSample[] {
  if (!p || typeof p !== 'object' || !Array.isArray(p.labels)) throw new DemoError('BAD_SAMPLES', 'not a samples payload');
  const n = p.labels.length;
  if (p.size !== n) throw new DemoError('BAD_SAMPLES', `payload says ${p.size} samples but has ${n} labels`);
  const label = (i: number) => {
    const l = p.labels[i];
    if (!Number.isInteger(l) || l < 0) throw new DemoError('BAD_SAMPLES', `label ${i} is ${l}`);
    return l;
  };
  if (p.kind === 'text') {
    if (!Array.isArray(p.texts) || p.texts.length !== n) throw new DemoError('BAD_SAMPLES', 'texts missing or of the wrong length');
    return p.texts.map((t, i) => ({ index: i, label: label(i), input: String(t) }));
  }
  if (p.kind === 'tokens') {
    if (!Array.isArray(p.tokens) || p.tokens.length !== n) throw new DemoError('BAD_SAMPLES', 'tokens missing or of the wrong length');
    return p.tokens.map((t, i) => ({ index: i, label: label(i), input: Int32Array.from(t) }));
  }
  if (p.kind !== 'image' || typeof p.pixels !== 'string' || !Array.isArray(p.shape)) throw new DemoError('BAD_SAMPLES', `unknown sample kind '${p.kind}'`);
  const per = p.shape.reduce((a, b) => a * b, 1);
  const bytes = fromBase64(p.pixels);
  if (bytes.length !== per * n * 4) throw new DemoError('BAD_SAMPLES', `pixels are ${bytes.length} bytes, expected ${per * n * 4}`);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, per * n);
  return Array.from({ length: n }, (_, i) => ({ index: i, label: label(i), input: all.subarray(i * per, (i + 1) * per) }));
}

/** Refuses a stream the model cannot take (images vs text, pixel count, class count), naming both. */
export function checkSamplesFit(header: SpxHeader, p: Pick<SamplesPayload, 'dataset' | 'kind' | 'classes' | 'shape'>): void {
  const input = header.input;
  if (input.kind === 'image') {
    if (p.kind !== 'image') throw new DemoError('STREAM_MISMATCH', `model ${header.name} takes images, stream ${p.dataset} is ${p.kind}`);
    const want = input.shape.reduce((a, b) => a * b, 1), got = (p.shape ?? []).reduce((a, b) => a * b, 1);
    if (want !== got) throw new DemoError('STREAM_MISMATCH', `model ${header.name} takes [${input.shape}] images, stream ${p.dataset} has [${p.shape}]`);
  } else if (p.kind === 'image') {
    throw new DemoError('STREAM_MISMATCH', `model ${header.name} takes text, stream ${p.dataset} is images`);
  }
  if (header.classes.length !== p.classes.length) {
    throw new DemoError('STREAM_MISMATCH', `model ${header.name} has ${header.classes.length} classes, stream ${p.dataset} has ${p.classes.length}`);
  }
}

/** Raw sample → model input: the model's own preprocess, except token ids, which already are the input. */
export function demoEncoder(header: SpxHeader): (raw: DemoSample['input']) => ModelInput {
  let encode: ((raw: Float32Array | string) => ModelInput) | undefined;
  return (raw) => {
    if (raw instanceof Int32Array) return raw;
    encode ??= createInputEncoder(header); // built once, on the first sample that needs it
    return encode(raw);
  };
}

// ---------------------------------------------------------------- the live run

/** What the demo's plots show, grown one record at a time (stream order). */
export class DemoSeries {
  readonly cost: number[] = [];
  readonly finalCost: number[] = [];
  readonly accuracy: number[] = [];
  readonly arm: number[] = [];
  readonly bytes: number[] = [];
  /** End-to-end latency of each sample (device + round trip), ms. */
  readonly latency: number[] = [];
  readonly armCounts: number[];
  private costSum = 0;
  private bytesSum = 0;
  private correct = 0;
  private labelled = 0;

  constructor(readonly L: number, private readonly costs: ResolvedCosts) {
    this.armCounts = new Array<number>(L).fill(0);
  }

  push(r: SampleRecord): void {
    const t = this.arm.length;
    this.costSum += r.cost;
    this.bytesSum += r.bytesSent;
    if (r.correct !== undefined) { this.labelled++; if (r.correct) this.correct++; }
    this.cost.push(this.costSum);
    this.finalCost.push((t + 1) * this.costs.cum[this.L]);
    this.accuracy.push(this.labelled ? this.correct / this.labelled : NaN);
    this.arm.push(r.arm);
    this.bytes.push(this.bytesSum);
    this.latency.push(sampleLatencyMs(r));
    this.armCounts[r.arm - 1]++;
  }

  get n(): number { return this.arm.length; }

  /** The four plots as SVG strings (cumulative cost, accuracy so far, arm per sample, offload bytes). */
  plots(opts: { width?: number; height?: number; baselines?: DemoBaselines } = {}): { cost: string; accuracy: string; arms: string; bytes: string; latency: string } {
    const size = { width: opts.width ?? 520, height: opts.height ?? 300 };
    const costSeries: PlotSeries[] = [
      { label: 'splitee (live)', y: this.cost },
      { label: 'final layer on device', y: this.finalCost, dashed: true },
    ];
    const accSeries: PlotSeries[] = [{ label: 'splitee (live)', y: this.accuracy }];
    const b = opts.baselines;
    if (b) {
      costSeries.push({ label: 'early exit', y: cumulative(b.perSample['early-exit'].cost), dashed: true });
      accSeries.push({ label: 'final layer', y: runningMean(b.perSample.final.correct), dashed: true });
      accSeries.push({ label: 'early exit', y: runningMean(b.perSample['early-exit'].correct), dashed: true });
    }
    return {
      cost: svgLinePlot(costSeries, { ...size, title: 'Cumulative cost', xLabel: 'sample', yLabel: 'cost', id: 'demo-cost', xMin: 0 }),
      accuracy: svgLinePlot(accSeries, { ...size, title: 'Accuracy so far', xLabel: 'sample', yLabel: 'accuracy', id: 'demo-acc', yMin: 0, yMax: 1, xMin: 0 }),
      arms: svgLinePlot([{ label: 'split layer k', y: this.arm }], { ...size, title: 'Arm chosen for each sample', xLabel: 'sample', yLabel: 'k', id: 'demo-arms', yMin: 1, yMax: this.L, legend: false, xMin: 0 }),
      bytes: svgLinePlot([{ label: 'bytes offloaded', y: this.bytes }], { ...size, title: 'Cumulative offload bytes', xLabel: 'sample', yLabel: 'bytes', id: 'demo-bytes', legend: false, xMin: 0 }),
      latency: svgLinePlot([{ label: 'latency per sample', y: this.latency }], { ...size, title: 'Latency per sample (device + round trip)', xLabel: 'sample', yLabel: 'ms', id: 'demo-latency', legend: false, xMin: 0, yMin: 0 }),
    };
  }
}


/** The numbers the page shows at the end and the end-to-end test compares with a Node run. */
export interface DemoNumbers {
  n: number;
  accuracy: number | null;
  /** Mean cost per sample. */
  cost: number;
  offloadRate: number;
  bytesSent: number;
  degraded: number;
  armCounts: number[];
}

export function demoNumbers(r: RunResult): DemoNumbers {
  const s = r.summary;
  return { n: s.n, accuracy: s.accuracy, cost: s.cost, offloadRate: s.offloadRate, bytesSent: s.bytesSent, degraded: s.degraded, armCounts: r.armCounts.slice() };
}

export interface DemoRunOptions {
  /** The engine's Model (device half). */
  model: DeviceModel & { header: SpxHeader };
  samples: readonly DemoSample[];
  config: Pick<DemoConfig, 'alpha' | 'lambda' | 'offloadCost' | 'policy' | 'seed' | 'c' | 'dtype' | 'costs' | 'mu' | 'deviceMs'>;
  cloud: CloudClient;
  /** After each sample, with the series so far (awaited: a page can yield to the renderer here). */
  onSample?: (rec: SampleRecord, progress: RunProgress, series: DemoSeries) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface DemoOutcome {
  result: RunResult;
  series: DemoSeries;
  numbers: DemoNumbers;
  costs: ResolvedCosts;
}

/** SplitEE over the samples exactly as `splitee demo` sets it up: the same costs, policy, seed and runner. */
export async function runDemo(opts: DemoRunOptions): Promise<DemoOutcome> {
  const { model, config } = opts;
  const L = model.numLayers;
  const costModel = demoCosts(config, L);
  const costs = resolveCosts(costModel, L);
  const policy = createPolicy(config.policy, { L, costs: costModel, seed: config.seed, c: config.c });
  const series = new DemoSeries(L, costs);
  // Measured: the policy starts from the constant costs and is handed each sample's measured ones.
  const runCosts: CostModel | MeasuredCostModel = config.costs === 'measured' ? { kind: 'measured', alpha: config.alpha, mu: config.mu } : costModel;
  const result = await runStream({
    model: config.deviceMs ? slowDevice(model, config.deviceMs) : model, samples: opts.samples, encode: demoEncoder(model.header), policy, costs: runCosts, cloud: opts.cloud,
    dtype: config.dtype, signal: opts.signal,
    onSample: (rec, progress) => {
      series.push(rec);
      return opts.onSample?.(rec, progress, series);
    },
  });
  return { result, series, numbers: demoNumbers(result), costs };
}

// ---------------------------------------------------------------- baselines on the same samples

export interface BaselineRow {
  name: string;
  accuracy: number;
  cost: number;
  offloadRate: number;
  note: string;
}

export interface DemoBaselines {
  rows: BaselineRow[];
  /** Per-sample cost and correctness (1/0) of the fixed rules, for the plots. */
  perSample: Record<'final' | 'early-exit', { cost: Float64Array; correct: Float64Array }>;
  matrix: ConfidenceMatrix;
}

/**
 * Every exit of every sample on the device (a what-if pass, as `splitee demo` does after its live run), then the
 * final-layer, early-exit and oracle baselines and the same policy simulated on that matrix.
 */
export async function demoBaselines(model: MultiExitModel & { header: SpxHeader; classes?: readonly string[] }, samples: readonly DemoSample[],
  config: Pick<DemoConfig, 'alpha' | 'lambda' | 'offloadCost' | 'policy' | 'seed'>, onProgress?: (done: number) => void | Promise<void>): Promise<DemoBaselines> {
  const L = model.numLayers;
  const costs = resolveCosts(demoCosts(config, L), L);
  const encode = demoEncoder(model.header);
  let done = 0;
  // buildMatrix's callback is synchronous; a page that wants to repaint awaits onProgress between samples instead.
  const paced = (async function* () {
    for (const s of samples) {
      yield s;
      done++;
      if (onProgress) await onProgress(done);
    }
  })();
  const matrix = await buildMatrix(model, paced, encode, { numClasses: model.classes?.length });
  const rows: BaselineRow[] = [];
  for (const name of ['final', 'early-exit', 'oracle', config.policy]) {
    const s = summarize(runPolicy(matrix, name, costs, { seed: config.seed }), matrix, costs);
    rows.push({
      name: name === config.policy ? `${name} (simulated)` : name, accuracy: s.accuracy, cost: s.cost, offloadRate: s.offloadRate,
      note: name === 'oracle' ? 'best fixed split in hindsight' : name === config.policy ? 'same policy on the confidence matrix' : '',
    });
  }
  const perSample = {} as DemoBaselines['perSample'];
  for (const rule of ['final', 'early-exit'] as const) {
    const cost = new Float64Array(matrix.n), correct = new Float64Array(matrix.n);
    for (let i = 0; i < matrix.n; i++) {
      let j = L;
      if (rule === 'early-exit') for (let k = 1; k < L; k++) if (matrix.conf[i * L + k - 1] >= costs.alpha) { j = k; break; }
      cost[i] = costs.cum[j];
      correct[i] = matrix.pred[i * L + j - 1] === matrix.label[i] ? 1 : 0;
    }
    perSample[rule] = { cost, correct };
  }
  return { rows, perSample, matrix };
}
