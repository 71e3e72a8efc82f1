// What crossing a split point in each wire dtype costs and changes: bytes per offload at every split k, and the
// last exit's accuracy when the activation after layer k went through the codec instead of staying f32. The
// reference is the full f32 forward pass (1..k then k+1..L equals 1..L exactly, so f32 transport must agree with it
// on every sample: the report counts that too). Core module: no Node imports.
import type { ExitResult, ModelInput, Tensor } from '../engine/types.js';
import { DTYPES, decode, encode, type Dtype } from '../transport/codec.js';
import { frameBytes } from '../transport/frame.js';
import type { StreamSample } from './runner.js';

export interface TransportModel {
  readonly name: string;
  readonly numLayers: number;
  run(input: ModelInput, opts: { from?: number; to?: number }): Promise<Tensor>;
  exit(k: number, activation: Tensor): Promise<ExitResult>;
  finish(k: number, activation: Tensor): Promise<ExitResult>;
}

export interface SplitTransportRow {
  /** Split layer: the activation after layer k crosses. */
  k: number;
  /** Shape of that activation (the first sample's; token models: [T, D] varies with T). */
  shape: number[];
  /** Per dtype: frame bytes, mean / min / max over the samples (equal for fixed shapes). */
  bytes: Record<Dtype, { mean: number; min: number; max: number }>;
  /** Per dtype: accuracy of the last exit when the activation crossed in that dtype. */
  accuracy: Record<Dtype, number>;
  /** Per dtype: fraction of samples whose last-exit prediction equals the f32 reference's. */
  agreement: Record<Dtype, number>;
}

export interface TransportReport {
  model: string;
  n: number;
  L: number;
  dtypes: Dtype[];
  /** Accuracy of the last exit without any transport (the reference). */
  referenceAccuracy: number;
  splits: SplitTransportRow[];
}

export interface TransportReportOptions<R> {
  model: TransportModel;
  samples: Iterable<StreamSample<R> & { label: number }>;
  encode?: (raw: R) => ModelInput;
  dtypes?: readonly Dtype[];
  onProgress?: (done: number) => void;
}

export async function transportReport<R>(opts: TransportReportOptions<R>): Promise<TransportReport> {
  const { model } = opts;
  const L = model.numLayers;
  const dtypes = [...(opts.dtypes ?? DTYPES)];
  const encodeInput = opts.encode ?? ((raw: R) => raw as unknown as ModelInput);
  const splits = L - 1;
  const zero = () => Object.fromEntries(dtypes.map((d) => [d, 0])) as Record<Dtype, number>;
  const correct = Array.from({ length: splits }, zero);
  const agree = Array.from({ length: splits }, zero);
  const bytesSum = Array.from({ length: splits }, zero);
  const bytesMin = Array.from({ length: splits }, () => Object.fromEntries(dtypes.map((d) => [d, Infinity])) as Record<Dtype, number>);
  const bytesMax = Array.from({ length: splits }, zero);
  const shapes: number[][] = [];
  let n = 0, refCorrect = 0;

  for (const s of opts.samples) {
    // Activation after every layer, then the reference answer from the untouched f32 path.
    const acts: Tensor[] = [];
    let x: ModelInput = encodeInput(s.input);
    for (let j = 1; j <= L; j++) {
      const out = await model.run(x, { from: j, to: j });
      acts.push(out);
      x = out;
    }
    const ref = await model.exit(L, acts[L - 1]);
    if (ref.label === s.label) refCorrect++;
    for (let k = 1; k < L; k++) {
      const a = acts[k - 1];
      if (shapes.length < k) shapes.push(a.shape.slice());
      for (const dt of dtypes) {
        const b = frameBytes(dt, a.shape);
        bytesSum[k - 1][dt] += b;
        bytesMin[k - 1][dt] = Math.min(bytesMin[k - 1][dt], b);
        bytesMax[k - 1][dt] = Math.max(bytesMax[k - 1][dt], b);
        const data = decode(encode(a.data, a.shape, dt));
        const out = await model.finish(k, { shape: a.shape.slice(), data });
        if (out.label === s.label) correct[k - 1][dt]++;
        if (out.label === ref.label) agree[k - 1][dt]++;
      }
    }
    n++;
    opts.onProgress?.(n);
  }
  const per = (src: Record<Dtype, number>[], k: number, f: (v: number) => number) =>
    Object.fromEntries(dtypes.map((d) => [d, f(src[k][d])])) as Record<Dtype, number>;
  return {
    model: model.name, n, L, dtypes,
    referenceAccuracy: n ? refCorrect / n : 0,
    splits: Array.from({ length: splits }, (_, i) => ({
      k: i + 1,
      shape: shapes[i] ?? [],
      bytes: Object.fromEntries(dtypes.map((d) => [d, { mean: n ? bytesSum[i][d] / n : 0, min: bytesMin[i][d], max: bytesMax[i][d] }])) as SplitTransportRow['bytes'],
      accuracy: per(correct, i, (v) => (n ? v / n : 0)),
      agreement: per(agree, i, (v) => (n ? v / n : 0)),
    })),
  };
}
