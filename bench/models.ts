// Part 1 of the bench: splitee against ONNX Runtime on the same model, the same input, the same computation.
//
// Whole model = every exit 1..L in one pass (what the ONNX export computes: one output per exit), splitee's
// `exits(input)`. Device segment k = layers 1..k + exit k, splitee's `device(input, k)` (nothing offloaded); for
// ONNX Runtime the export is cut down to the nodes exit k needs (bench/onnx-segment.ts), because ORT runs every node
// of a graph whatever outputs are fetched. Before anything is timed, every ORT output is compared with splitee's
// probabilities for the same input, so the two sides never time different computations.
//
// splitee's int8 path (`loadModel(bytes, { precision: 'int8' })`: int8 weights, activations quantized to int16 on the
// fly, int32 sums) runs as one more peer in the same interleaved rounds, held to splitee's f32 probabilities within
// INT8_PARITY_TOLERANCE on every exit of the whole model and of every segment.
import type { ExitResult, Model } from '../src/node.js';
import { measureInterleaved, type Clock, type TaskFn } from './measure.js';
import { onnxOutputs, segmentOnnx } from './onnx-segment.js';
import { createOrtRunner, ORT_KINDS, type OrtKind, type OrtRunner } from './ort.js';
import { createTfjsTasks } from './tfjs.js';
import { sampleInputs, type BenchModel, type SampleInput } from './zoo.js';

/** Largest |Δprob| accepted between splitee and ONNX Runtime (f32 both sides; only summation order differs). */
export const PARITY_TOLERANCE = 1e-3;

/**
 * Largest |Δprob| accepted between splitee's int8 path and its f32 path on the bench inputs. Quantization moves
 * probabilities: an f32 model's weights are rounded to 8 bits at load (fmnist-cnn: 0.016 at the bench input, up to
 * 0.065 over its 30,000 stream images), while the int8-weight sst2-transformer's f32 path widens the same int8
 * weights, so only the int16 activations differ (≤ 1e-4 over its streams). A wrong kernel or layout moves them by
 * tenths. The accuracy effect is measured on the full datasets by bench/int8-accuracy.ts (the model cards).
 */
export const INT8_PARITY_TOLERANCE = 0.1;

/** splitee int8 ÷ each peer (below 1: the int8 path is faster); null when a parity check failed or no peer ran. */
export interface Int8Ratios {
  int8VsOrtWeb: number | null;
  int8VsOrtNode: number | null;
  int8VsTfjsWasm: number | null;
  /** int8 ÷ splitee's f32 path. */
  int8VsF32: number | null;
}

export interface SegmentResult extends Int8Ratios {
  k: number;
  spliteeMs: number;
  ortWebMs: number | null;
  ortNodeMs: number | null;
  /** TensorFlow.js WASM backend (XNNPACK, SIMD, 1 thread) on the same segment (bench/tfjs.ts). */
  tfjsWasmMs: number | null;
  /** splitee / ORT: below 1 means splitee is faster. */
  vsOrtWeb: number | null;
  vsOrtNode: number | null;
  vsTfjsWasm: number | null;
  /** splitee's int8 path on the same segment (null: not run). */
  spliteeInt8Ms: number | null;
  /** ONNX nodes in ORT's segment graph (of the whole export's). */
  onnxNodes?: string;
}

export interface ModelResult extends Int8Ratios {
  name: string;
  input: string;
  layers: number;
  /** Whole model (all L exits), median ms. */
  spliteeMs: number;
  ortWebMs: number | null;
  ortNodeMs: number | null;
  tfjsWasmMs: number | null;
  vsOrtWeb: number | null;
  vsOrtNode: number | null;
  vsTfjsWasm: number | null;
  /** Max |Δprob| over every exit between splitee and each runtime (null: no ONNX export). */
  parity: { ortWeb: number; ortNode: number; ok: boolean } | null;
  /** Max |Δprob| between splitee and tfjs-wasm over every exit of the whole model and of every segment (≤ 1e-4 or no ratio). */
  tfjsParity: { maxAbsDiff: number; ok: boolean };
  /** splitee's int8 path (whole model, median ms; null: not run). */
  spliteeInt8Ms: number | null;
  /**
   * Max |Δprob| between the int8 and the f32 path over every exit of the whole model and of every segment, and
   * whether every exit's predicted class is the same; null when the int8 path was not run.
   */
  int8Parity: { maxAbsDiff: number; tolerance: number; samePredictions: boolean; ok: boolean } | null;
  /** How ORT's device segments were timed. */
  ortSegments: 'segment graphs' | 'whole graph (segmenting failed)' | 'none';
  segments: SegmentResult[];
}

export interface ModelBenchOptions {
  /** Time budget per task (one runtime on one segment), ms. */
  timeMs: number;
  rounds: number;
  clock: Clock;
  log?: (line: string) => void;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function engineInput(s: SampleInput): Float32Array | Int32Array {
  return s.image ?? s.ids!;
}

/** The ONNX output holding exit k: `exit<k>` when the export names them so, else the k-th output. */
function exitOutputName(outputs: string[], k: number): string {
  return outputs.includes(`exit${k}`) ? `exit${k}` : outputs[k - 1];
}

async function runners(onnx: Uint8Array, bm: BenchModel, s: SampleInput): Promise<Record<OrtKind, OrtRunner>> {
  const h = bm.model.header;
  const [web, node] = await Promise.all(ORT_KINDS.map((kind) => createOrtRunner(kind, onnx, h, { image: s.image, ids: s.ids })));
  return { 'ort-web': web, 'ort-node': node };
}

export async function benchModel(bm: BenchModel, opts: ModelBenchOptions): Promise<ModelResult[]> {
  const log = opts.log ?? (() => {});
  const model: Model = bm.model;
  const L = model.numLayers;
  const results: ModelResult[] = [];
  for (const sample of sampleInputs(model)) {
    const x = engineInput(sample);
    const ref = await model.exits(x);
    const label = `${bm.name} ${sample.label}`;
    let ortSegments: ModelResult['ortSegments'] = 'none';
    let parity: ModelResult['parity'] = null;
    let whole: Record<OrtKind, OrtRunner> | undefined;
    let outputs: string[] = [];
    if (bm.onnx) {
      outputs = onnxOutputs(bm.onnx);
      if (outputs.length !== L) throw new Error(`${bm.name}: the ONNX export has ${outputs.length} outputs, the model ${L} exits`);
      whole = await runners(bm.onnx, bm, sample);
      parity = { ortWeb: 0, ortNode: 0, ok: true };
      for (const kind of ORT_KINDS) {
        const got = await whole[kind].run();
        let d = 0;
        for (let k = 1; k <= L; k++) d = Math.max(d, maxAbsDiff(got[exitOutputName(outputs, k)], ref[k - 1].probs));
        if (kind === 'ort-web') parity.ortWeb = d; else parity.ortNode = d;
        if (!(d <= PARITY_TOLERANCE)) parity.ok = false;
      }
      log(`${label}: parity with ORT over ${L} exits: web ${parity.ortWeb.toExponential(2)}, node ${parity.ortNode.toExponential(2)}${parity.ok ? '' : '  MISMATCH: ratios withheld'}`);
    }

    // TensorFlow.js WASM, built from the same .spx; parity over the whole model and every segment checked here.
    const tfjs = await createTfjsTasks(model, sample);
    log(`${label}: parity with tfjs-wasm over every exit and segment: ${tfjs.parity.max.toExponential(2)}${tfjs.parity.ok ? '' : '  MISMATCH: ratios withheld'}`);
    const vsTfjs = (a: number, b: number | undefined) => (b && tfjs.parity.ok ? a / b : null);

    // splitee's int8 path against its f32 path, over the whole model and every segment, before anything is timed.
    const q8 = bm.int8;
    let int8Parity: ModelResult['int8Parity'] = null;
    if (q8) {
      int8Parity = { maxAbsDiff: 0, tolerance: INT8_PARITY_TOLERANCE, samePredictions: true, ok: true };
      const note = (got: ExitResult, want: ExitResult) => {
        int8Parity!.maxAbsDiff = Math.max(int8Parity!.maxAbsDiff, maxAbsDiff(got.probs, want.probs));
        if (got.label !== want.label) int8Parity!.samePredictions = false;
      };
      const all = await q8.exits(x);
      all.forEach((e, k) => note(e, ref[k]));
      for (let k = 1; k <= L; k++) note((await q8.runDevice(x, k, { offload: () => false })).exit, ref[k - 1]);
      int8Parity.ok = int8Parity.maxAbsDiff <= INT8_PARITY_TOLERANCE;
      log(`${label}: int8 path vs f32 over every exit and segment: max |Δprob| ${int8Parity.maxAbsDiff.toExponential(2)} (tolerance ${INT8_PARITY_TOLERANCE}), ` +
        `${int8Parity.samePredictions ? 'same' : 'different'} predicted classes${int8Parity.ok ? '' : '  MISMATCH: int8 ratios withheld'}`);
    }
    const int8Ok = !!int8Parity?.ok;
    const int8Ratios = (i8: number | null, f32: number, web: number | null, node: number | null, tf: number | null, ortOk: boolean): Int8Ratios => {
      const r = (b: number | null, ok: boolean) => (i8 !== null && b && int8Ok && ok ? i8 / b : null);
      return { int8VsOrtWeb: r(web, ortOk), int8VsOrtNode: r(node, ortOk), int8VsTfjsWasm: r(tf, tfjs.parity.ok), int8VsF32: r(f32, true) };
    };

    // Whole model.
    const tasks: { name: string; fn: TaskFn }[] = [{ name: 'splitee', fn: () => model.exits(x) }, { name: 'tfjs-wasm', fn: tfjs.whole }];
    if (q8) tasks.push({ name: 'splitee-int8', fn: () => q8.exits(x) });
    if (whole) for (const kind of ORT_KINDS) tasks.push({ name: kind, fn: () => whole![kind].run() });
    const t = await measureInterleaved(tasks, opts);
    const ratio = (a: number, b: number | null) => (b && parity?.ok ? a / b : null);
    const res: ModelResult = {
      name: bm.name, input: sample.label, layers: L,
      spliteeMs: t.get('splitee')!.medianMs,
      ortWebMs: t.get('ort-web')?.medianMs ?? null,
      ortNodeMs: t.get('ort-node')?.medianMs ?? null,
      tfjsWasmMs: t.get('tfjs-wasm')!.medianMs,
      vsOrtWeb: null, vsOrtNode: null, vsTfjsWasm: null, parity, tfjsParity: { maxAbsDiff: tfjs.parity.max, ok: tfjs.parity.ok }, ortSegments, segments: [],
      spliteeInt8Ms: t.get('splitee-int8')?.medianMs ?? null, int8Parity,
      int8VsOrtWeb: null, int8VsOrtNode: null, int8VsTfjsWasm: null, int8VsF32: null,
    };
    Object.assign(res, int8Ratios(res.spliteeInt8Ms, res.spliteeMs, res.ortWebMs, res.ortNodeMs, res.tfjsWasmMs, !!parity?.ok));
    res.vsTfjsWasm = vsTfjs(res.spliteeMs, res.tfjsWasmMs!);
    res.vsOrtWeb = ratio(res.spliteeMs, res.ortWebMs);
    res.vsOrtNode = ratio(res.spliteeMs, res.ortNodeMs);
    log(`${label}: whole model  splitee ${res.spliteeMs.toFixed(3)} ms  ort-web ${res.ortWebMs?.toFixed(3) ?? '-'}  ort-node ${res.ortNodeMs?.toFixed(3) ?? '-'}  tfjs-wasm ${res.tfjsWasmMs!.toFixed(3)}` +
      `${res.spliteeInt8Ms !== null ? `  splitee-int8 ${res.spliteeInt8Ms.toFixed(3)}` : ''}`);

    // Device segments 1..k + exit k.
    for (let k = 1; k <= L; k++) {
      const segTasks: { name: string; fn: TaskFn }[] = [
        { name: 'splitee', fn: () => model.runDevice(x, k, { offload: () => false }) },
        { name: 'tfjs-wasm', fn: tfjs.segment(k) },
      ];
      if (q8) segTasks.push({ name: 'splitee-int8', fn: () => q8.runDevice(x, k, { offload: () => false }) });
      let seg: Record<OrtKind, OrtRunner> | undefined;
      let onnxNodes: string | undefined;
      let segOk = true;
      if (bm.onnx && whole) {
        const out = exitOutputName(outputs, k);
        try {
          const cut = segmentOnnx(bm.onnx, [out]);
          seg = await runners(cut.bytes, bm, sample);
          onnxNodes = `${cut.nodes}/${cut.totalNodes}`;
          ortSegments = 'segment graphs';
        } catch (e) {
          if (k === 1) log(`${label}: cannot cut the ONNX graph (${(e as Error).message}); ORT segments time the whole graph`);
          seg = whole;
          ortSegments = 'whole graph (segmenting failed)';
        }
        for (const kind of ORT_KINDS) {
          const got = (await seg[kind].run())[out];
          const d = maxAbsDiff(got, ref[k - 1].probs);
          if (!(d <= PARITY_TOLERANCE)) { segOk = false; log(`${label}: segment ${k} ${kind} differs from splitee by ${d}`); }
          segTasks.push({ name: kind, fn: () => seg![kind].run() });
        }
      }
      const st = await measureInterleaved(segTasks, opts);
      const s = st.get('splitee')!.medianMs;
      const w = st.get('ort-web')?.medianMs ?? null;
      const n = st.get('ort-node')?.medianMs ?? null;
      const r = (b: number | null) => (b && segOk && parity?.ok ? s / b : null);
      const tf = st.get('tfjs-wasm')!.medianMs;
      const i8 = st.get('splitee-int8')?.medianMs ?? null;
      res.segments.push({
        k, spliteeMs: s, ortWebMs: w, ortNodeMs: n, tfjsWasmMs: tf, vsOrtWeb: r(w), vsOrtNode: r(n), vsTfjsWasm: vsTfjs(s, tf),
        spliteeInt8Ms: i8, ...int8Ratios(i8, s, w, n, tf, segOk && !!parity?.ok), onnxNodes,
      });
      if (!segOk && parity) parity.ok = false;
      log(`${label}: segment 1..${k}  splitee ${s.toFixed(3)} ms  ort-web ${w?.toFixed(3) ?? '-'}  ort-node ${n?.toFixed(3) ?? '-'}  tfjs-wasm ${tf.toFixed(3)}` +
        `${i8 !== null ? `  splitee-int8 ${i8.toFixed(3)}` : ''}`);
      if (seg && seg !== whole) for (const kind of ORT_KINDS) await seg[kind].release();
    }
    res.ortSegments = ortSegments;
    if (whole) for (const kind of ORT_KINDS) await whole[kind].release();
    tfjs.dispose();
    results.push(res);
  }
  return results;
}
