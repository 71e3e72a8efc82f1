// A `.spx` model rebuilt op by op with TensorFlow.js ops on its WASM backend (XNNPACK micro-kernels, SIMD build,
// one thread), so the bench can time the strongest WASM peer on exactly the computation splitee runs: the same
// weights (int8 tensors dequantized exactly as splitee's reader does), the same op semantics (docs/FORMAT.md).
//
// Layouts are chosen for TensorFlow.js, not copied from splitee: images run NHWC ([1, H, W, C], the layout XNNPACK's
// convolutions take), sequences [T, D], vectors [1, N]. Weights are re-laid out once, at build time: conv filters
// to [KH, KW, C/groups, OC] (depthwise [KH, KW, C, 1]), linear weights to [K, N], and attention's 1/√(D/heads) is
// folded into the query projection, as a runtime preparing a graph would do. Only `flatten` of an image needs the
// channel-major order back, and pays a transpose for it.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Activation, Op, SpxModelFile } from '../src/format/index.js';
import type { Model } from '../src/index.js';

export class TfjsPeerError extends Error {
  readonly code: 'TFJS_INIT' | 'TFJS_MODEL' | 'TFJS_INPUT';
  constructor(code: TfjsPeerError['code'], message: string) { super(message); this.name = 'TfjsPeerError'; this.code = code; }
}

export interface TfjsInfo {
  backend: string;
  version: string;
  /** WASM SIMD detected: the XNNPACK SIMD build was loaded. */
  simd: boolean;
  /** XNNPACK thread-pool size (1: single-threaded, like splitee and onnxruntime-web with numThreads = 1). */
  threads: number;
  /** Which of the package's .wasm binaries ran. */
  binary: string;
}

let ready: Promise<TfjsInfo> | undefined;

/**
 * Loads @tensorflow/tfjs-backend-wasm with its .wasm files from node_modules, one thread, and makes it the active
 * backend. Idempotent. Refuses to run without SIMD: a non-SIMD build is not the peer the bench claims to time.
 */
export function initTfjsWasm(): Promise<TfjsInfo> {
  ready ??= (async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
    wasm.setWasmPaths(dir);
    wasm.setThreadsCount(1);
    const ok = await tf.setBackend('wasm');
    await tf.ready();
    if (!ok || tf.getBackend() !== 'wasm') throw new TfjsPeerError('TFJS_INIT', `TensorFlow.js could not start its WASM backend (active: ${tf.getBackend()})`);
    const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
    const threaded = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'));
    if (!simd) throw new TfjsPeerError('TFJS_INIT', 'this runtime has no WASM SIMD: TensorFlow.js would run its scalar build');
    const threads = wasm.getThreadsCount();
    if (threads !== 1) throw new TfjsPeerError('TFJS_INIT', `TensorFlow.js WASM runs ${threads} threads, expected 1`);
    return {
      backend: 'wasm', version: wasm.version_wasm, simd, threads,
      binary: threaded ? 'tfjs-backend-wasm-threaded-simd.wasm' : 'tfjs-backend-wasm-simd.wasm',
    };
  })();
  return ready;
}

type Saved = Map<string, tf.Tensor>;
type Step = (x: tf.Tensor, saved: Saved) => tf.Tensor;

const fusedAct = (a: Activation | undefined): 'linear' | 'relu' | 'relu6' => (a === 'relu' || a === 'relu6' ? a : 'linear');

/** GELU in its erf form, as the format defines it. */
const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));

const applyAct = (x: tf.Tensor, a: Activation | undefined) => (a === 'gelu' ? gelu(x) : x);

/** Scores of masked keys: far below any real score, so their softmax weight is exactly 0 (and never NaN). */
const MASKED = -1e30;

export interface TfjsPeer {
  readonly name: string;
  readonly numLayers: number;
  /** Every exit 1..L in one pass: exit probabilities. */
  exits(input: Float32Array | Int32Array): Float32Array[];
  /** Layers 1..k and exit k: exit k's probabilities. */
  device(input: Float32Array | Int32Array, k: number): Float32Array;
  dispose(): void;
}

/** Builds `file`'s model with TensorFlow.js ops. Call (and await) initTfjsWasm() first. */
export function buildTfjsPeer(file: SpxModelFile): TfjsPeer {
  if (tf.getBackend() !== 'wasm') throw new TfjsPeerError('TFJS_INIT', 'call initTfjsWasm() before building a TensorFlow.js peer');
  const h = file.header;
  const kept: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => { kept.push(t); return t; };
  const entry = (name: string) => {
    const e = h.tensors[name];
    if (!e) throw new TfjsPeerError('TFJS_MODEL', `tensor '${name}' is not in the model`);
    return e;
  };
  /** The tensor as splitee's reader gives it (int8 dequantized), re-laid out by `perm` when given. */
  const weight = (name: string, perm?: number[]) => keep(tf.tidy(() => {
    const t = tf.tensor(file.tensor(name), entry(name).shape, 'float32');
    return perm ? tf.transpose(t, perm) : t;
  }));
  const masks = new Map<string, tf.Tensor>();
  /** [T, T] additive mask of local attention (0 where |i − j| ≤ window), cached per length. */
  const bandMask = (T: number, window: number) => {
    const key = `${T}:${window}`;
    let m = masks.get(key);
    if (!m) {
      const v = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) if (Math.abs(i - j) > window) v[i * T + j] = MASKED;
      m = keep(tf.keep(tf.tensor2d(v, [T, T]))); // made inside a run's tidy: tf.keep lets it outlive that run
      masks.set(key, m);
    }
    return m;
  };

  const compile = (op: Op, where: string): Step => {
    switch (op.op) {
      case 'conv2d': {
        const [OC, Cg, KH, KW] = entry(op.w).shape;
        const groups = op.groups ?? 1, stride = op.stride ?? 1, pad = op.pad ?? 0;
        const bias = op.b ? weight(op.b) : undefined;
        // A number is symmetric zero padding with floor((H + 2·pad − KH)/stride) + 1 outputs, the format's rule.
        const padding = pad === 0 ? 'valid' as const : pad;
        const activation = fusedAct(op.act);
        if (groups === 1) {
          const filter = weight(op.w, [2, 3, 1, 0]) as tf.Tensor4D;
          return (x) => applyAct(tf.fused.conv2d({ x: x as tf.Tensor4D, filter, strides: stride, pad: padding, bias, activation }), op.act);
        }
        if (Cg === 1 && OC === groups) {
          const filter = weight(op.w, [2, 3, 0, 1]) as tf.Tensor4D;
          return (x) => applyAct(tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter, strides: stride, pad: padding, bias, activation }), op.act);
        }
        // Grouped convolution with several channels per group: TensorFlow.js has no kernel for it, so one conv per
        // group on its channel slice, then concatenated.
        const filters = tf.tidy(() => tf.split(tf.tensor(file.tensor(op.w), [OC, Cg, KH, KW]), groups, 0).map((f) => tf.transpose(f, [2, 3, 1, 0]) as tf.Tensor4D)).map(keep);
        const biases = bias ? tf.split(bias, groups, 0).map(keep) : [];
        return (x) => {
          const parts = tf.split(x, groups, 3).map((xi, g) => tf.fused.conv2d({ x: xi as tf.Tensor4D, filter: filters[g], strides: stride, pad: padding, bias: biases[g], activation }));
          return applyAct(tf.concat(parts, 3), op.act);
        };
      }
      case 'linear': {
        const w = weight(op.w, [1, 0]) as tf.Tensor2D;
        const bias = op.b ? weight(op.b) : undefined;
        const activation = fusedAct(op.act);
        return (x) => applyAct(tf.fused.matMul({ a: x as tf.Tensor2D, b: w, bias, activation }), op.act);
      }
      case 'maxpool2d': {
        const s = op.stride ?? op.k, pad = op.pad ?? 0;
        return (x) => tf.maxPool(x as tf.Tensor4D, op.k, s, pad === 0 ? 'valid' : pad);
      }
      case 'avgpool2d': {
        const s = op.stride ?? op.k, pad = op.pad ?? 0;
        // The format divides by k·k whatever the padding covers (PyTorch's count_include_pad), so pad with zeros
        // first and pool the padded image.
        return pad === 0
          ? (x) => tf.avgPool(x as tf.Tensor4D, op.k, s, 'valid')
          : (x) => tf.avgPool(tf.pad(x as tf.Tensor4D, [[0, 0], [pad, pad], [pad, pad], [0, 0]]), op.k, s, 'valid');
      }
      case 'gap': return (x) => tf.mean(x, [1, 2]);
      case 'flatten': return (x) => (x.rank === 4 ? tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [1, -1]) : tf.reshape(x, [1, -1]));
      case 'relu': return (x) => tf.relu(x);
      case 'relu6': return (x) => tf.relu6(x);
      case 'gelu': return gelu;
      case 'save': return (x, saved) => { saved.set(op.name, x); return x; };
      case 'add': return (x, saved) => {
        const r = saved.get(op.name);
        if (!r) throw new TfjsPeerError('TFJS_MODEL', `${where}: add of '${op.name}' before any save`);
        return tf.add(x, r);
      };
      case 'layernorm': {
        const g = weight(op.g), b = weight(op.b);
        const eps = op.eps ?? 1e-5;
        return (x) => {
          const { mean, variance } = tf.moments(x, -1, true);
          return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), g), b);
        };
      }
      case 'embed': {
        const tok = weight(op.tok), pos = weight(op.pos);
        const D = entry(op.tok).shape[1];
        return (ids) => tf.add(tf.gather(tok, ids), tf.slice(pos, [0, 0], [ids.size, D]));
      }
      case 'attention': {
        const [D3, D] = entry(op.wqkv).shape;
        const H = op.heads, dh = D / H, window = op.window ?? 0;
        if (D3 !== 3 * D || !Number.isInteger(dh)) throw new TfjsPeerError('TFJS_MODEL', `${where}: attention weights [${D3}, ${D}] with ${H} heads`);
        // Fold the score scale into the query rows of the projection (computed in float64, rounded once).
        const scale = 1 / Math.sqrt(dh);
        const wv = file.tensor(op.wqkv), bv = file.tensor(op.bqkv);
        for (let i = 0; i < D * D; i++) wv[i] = wv[i] * scale;
        for (let i = 0; i < D; i++) bv[i] = bv[i] * scale;
        const wqkv = keep(tf.tidy(() => tf.transpose(tf.tensor2d(wv, [3 * D, D])))) as tf.Tensor2D;
        const bqkv = keep(tf.tensor1d(bv));
        const wo = weight(op.wo, [1, 0]) as tf.Tensor2D, bo = weight(op.bo);
        return (x) => {
          const T = x.shape[0];
          const qkv = tf.fused.matMul({ a: x as tf.Tensor2D, b: wqkv, bias: bqkv });
          const [q, k, v] = tf.split(qkv, 3, 1).map((t) => tf.transpose(tf.reshape(t, [T, H, dh]), [1, 0, 2]));
          let scores = tf.matMul(q, k, false, true); // [H, T, T]
          if (window > 0 && window < T - 1) scores = tf.add(scores, bandMask(T, window));
          const o = tf.matMul(tf.softmax(scores), v); // [H, T, dh]
          return tf.fused.matMul({ a: tf.reshape(tf.transpose(o, [1, 0, 2]), [T, D]) as tf.Tensor2D, b: wo, bias: bo });
        };
      }
      case 'seqmean': return (x) => tf.mean(x, 0, true);
      case 'seqfirst': return (x) => tf.slice(x, [0, 0], [1, -1]);
      default: throw new TfjsPeerError('TFJS_MODEL', `${where}: op '${(op as { op: string }).op}' has no TensorFlow.js translation`);
    }
  };

  let layers: Step[][], exits: Step[][];
  try {
    layers = h.layers.map((l, i) => l.ops.map((op, j) => compile(op, `layer ${i + 1} op ${j + 1}`)));
    exits = h.exits.map((e, i) => e.ops.map((op, j) => compile(op, `exit ${i + 1} op ${j + 1}`)));
  } catch (e) {
    for (const t of kept) t.dispose();
    throw e;
  }
  const L = layers.length;
  const runOps = (steps: Step[], x: tf.Tensor) => {
    const saved: Saved = new Map();
    for (const s of steps) x = s(x, saved);
    return x;
  };
  const probs = (x: tf.Tensor, k: number) => tf.softmax(runOps(exits[k - 1], x) as tf.Tensor2D).dataSync() as Float32Array;

  const inputTensor = (input: Float32Array | Int32Array): tf.Tensor => {
    if (h.input.kind === 'image') {
      const [C, H, W] = h.input.shape;
      if (!(input instanceof Float32Array) || input.length !== C * H * W) {
        throw new TfjsPeerError('TFJS_INPUT', `${h.name} takes a Float32Array of ${C}·${H}·${W} = ${C * H * W} values`);
      }
      const chw = tf.tensor4d(input, [1, C, H, W]);
      return C === 1 ? tf.reshape(chw, [1, H, W, 1]) : tf.transpose(chw, [0, 2, 3, 1]);
    }
    if (!(input instanceof Int32Array) || input.length < 1 || input.length > h.input.maxLen) {
      throw new TfjsPeerError('TFJS_INPUT', `${h.name} takes an Int32Array of 1..${h.input.maxLen} token ids`);
    }
    return tf.tensor1d(input, 'int32');
  };

  let disposed = false;
  const live = () => { if (disposed) throw new TfjsPeerError('TFJS_MODEL', `${h.name}: the TensorFlow.js peer was disposed`); };
  return {
    name: h.name,
    numLayers: L,
    exits(input) {
      live();
      return tf.tidy(() => {
        let x = inputTensor(input);
        const out: Float32Array[] = [];
        for (let k = 1; k <= L; k++) {
          x = runOps(layers[k - 1], x);
          out.push(probs(x, k));
        }
        return out;
      });
    },
    device(input, k) {
      live();
      if (!Number.isInteger(k) || k < 1 || k > L) throw new TfjsPeerError('TFJS_INPUT', `split layer ${k} is outside 1..${L}`);
      return tf.tidy(() => {
        let x = inputTensor(input);
        for (let l = 1; l <= k; l++) x = runOps(layers[l - 1], x);
        return probs(x, k);
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const t of kept) t.dispose();
    },
  };
}

/** Largest |Δprob| accepted between splitee and TensorFlow.js (f32 both sides; only summation order differs). */
export const TFJS_PARITY_TOLERANCE = 1e-4;

/** Parity of a peer against splitee on one input: the whole model, then every segment 1..k + exit k. */
export interface TfjsParity {
  /** Max |Δprob| over the L exits of one whole pass. */
  whole: number;
  /** segments[k − 1]: max |Δprob| of exit k after layers 1..k. */
  segments: number[];
  max: number;
  ok: boolean;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

export async function tfjsParity(model: Model, peer: TfjsPeer, x: Float32Array | Int32Array): Promise<TfjsParity> {
  const ref = await model.exits(x);
  const got = peer.exits(x);
  if (got.length !== ref.length) throw new TfjsPeerError('TFJS_MODEL', `${model.name}: TensorFlow.js gave ${got.length} exits, splitee ${ref.length}`);
  let whole = 0;
  for (let k = 0; k < ref.length; k++) whole = Math.max(whole, maxAbsDiff(got[k], ref[k].probs));
  const segments: number[] = [];
  for (let k = 1; k <= model.numLayers; k++) {
    const s = await model.runDevice(x, k, { offload: () => false });
    segments.push(maxAbsDiff(peer.device(x, k), s.exit.probs));
  }
  // NaN never passes: Math.max propagates it and the comparison below is false.
  const max = Math.max(whole, ...segments);
  return { whole, segments, max, ok: max <= TFJS_PARITY_TOLERANCE };
}
