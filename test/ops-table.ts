// The op test table: for every op of the op set, the cases it is tested on (shapes including odd sizes and M = 1,
// parameters) and the largest normalized error it may have against the float64 reference (test/reference/model.ts).
// test/ops.test.ts runs every case on every backend through the real path: each case becomes a small model whose
// layer under test is exactly the case's ops, run by the backend's buffer plan and op table, and read back.
import type { Op, OpName, SpxModelFile } from '../src/format/index.js';
import { inferBlock, OP_RULES, type Act } from '../src/format/shapes.js';
import { OP_NAMES, parseSpx, writeSpx, type WriterTensor } from '../src/format/index.js';
import type { Backend } from '../src/engine/backend.js';
import { refOps } from './reference/model.js';
import { randn, relError, rng, type Rng } from './util.js';

type Make = { f32(shape: number[], scale?: number): string };

/**
 * What the op under test receives: 'chw' an image [C, H, W]; 'rows' a [T, D] activation whose T is the token count
 * (the model's maxLen is T + 2, so the plan's sizes are not the run's); 'vec' a vector [K]; 'tokens' T token ids
 * below `vocab`.
 */
export type CaseInput =
  | { kind: 'chw'; shape: [number, number, number] }
  | { kind: 'rows'; shape: [number, number] }
  | { kind: 'vec'; shape: [number] }
  | { kind: 'tokens'; T: number; vocab: number };

export interface OpCase {
  input: CaseInput;
  /** The ops of the layer under test; `m.f32` adds a random weight tensor and returns its name. */
  ops(m: Make): Op[];
  /** Input values: normal(offset, scale); `mixed` adds exact zeros, sixes and large magnitudes; `special` leads. */
  scale?: number;
  offset?: number;
  mixed?: boolean;
  special?: number[];
  /** Too large for WebGPU on SwiftShader (a CPU Vulkan driver): WASM only. */
  cpuOnly?: boolean;
}

export interface OpEntry {
  /** Largest ‖got − ref‖₂ / ‖ref‖₂; 0 means bit-exact (against the reference rounded to f32). */
  tol: number;
  /** A looser bound for WebGPU, where its kernel is knowingly less precise (the reason next to it). */
  webgpuTol?: number;
  /**
   * The bound with precision 'int8' (WASM), for the ops whose weights it makes int8. The case's weights are then
   * exactly int8 times a per-row scale (int8Weights), so the reference uses the very weights the kernels do, and what
   * remains is the activations' int16 quantization (docs/KERNELS.md): half a step of max|x|/qmax (per row, per
   * tensor for a conv; qmax = 32767 up to K = 512) on each term, ~1e-5 of ‖y‖ for normal inputs. Absent: the op is
   * not run in int8.
   */
  int8Tol?: number;
  cases: OpCase[];
}

const ACTS = ['none', 'relu', 'relu6', 'gelu'] as const;
const chw = (C: number, H: number, W: number): CaseInput => ({ kind: 'chw', shape: [C, H, W] });
const rows = (T: number, D: number): CaseInput => ({ kind: 'rows', shape: [T, D] });
const cross = <A, B>(as: readonly A[], bs: readonly B[]): [A, B][] => as.flatMap((a) => bs.map((b): [A, B] => [a, b]));

/** WebGPU runs every `every`-th case of a large sweep (SwiftShader is slow); WASM runs all of them. */
function sampled(cases: OpCase[], every: number): OpCase[] {
  return cases.map((c, i) => (i % every === 0 ? c : { ...c, cpuOnly: true }));
}

function linearCase(M: number, K: number, N: number, i: number): OpCase {
  return {
    input: M === 0 ? { kind: 'vec', shape: [K] } : rows(M, K),
    ops: (m) => [{ op: 'linear', w: m.f32([N, K], 1 / Math.sqrt(K)), ...(i % 3 !== 2 ? { b: m.f32([N]) } : {}), act: ACTS[i % 4] }],
    scale: ACTS[i % 4] === 'none' ? 1 : 3,
  };
}

function convCase([C, H, W, OC, KH, KW, stride, pad, groups]: number[], i: number): OpCase {
  return {
    input: chw(C, H, W),
    ops: (m) => [{
      op: 'conv2d', w: m.f32([OC, C / groups, KH, KW], 1 / Math.sqrt((C / groups) * KH * KW)),
      ...(i % 3 !== 1 ? { b: m.f32([OC]) } : {}), stride, pad, groups, act: ACTS[i % 4],
    }],
  };
}

/** Pooling: odd and non-square images × windows 1, 2, 3, 5 × strides 1–3 × every legal padding. */
function poolCases(op: 'maxpool2d' | 'avgpool2d'): OpCase[] {
  const out: OpCase[] = [];
  for (const [C, H, W] of [[1, 1, 1], [2, 2, 2], [3, 5, 7], [1, 8, 8], [4, 13, 11], [2, 28, 28], [3, 9, 31], [2, 17, 4], [1, 33, 65]]) {
    for (const [k, stride] of cross([1, 2, 3, 5], [1, 2, 3])) {
      for (let pad = 0; pad <= Math.floor(k / 2); pad++) {
        // Mostly negative inputs for max: a zero from padding would win if padding took part.
        if (H + 2 * pad >= k && W + 2 * pad >= k) out.push({ input: chw(C, H, W), offset: op === 'maxpool2d' ? -3 : 0, scale: 2, ops: () => [{ op, k, stride, pad }] });
      }
    }
  }
  return sampled(out, 9);
}

const LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64, 1023, 4099];

/** Elementwise cases: every length class of the kernels (1, < 4, 4-lane body + tail, large), wide and special values. */
const unaryCases = (op: 'relu' | 'relu6' | 'gelu'): OpCase[] =>
  sampled(LENGTHS.map((n) => ({ input: chw(1, 1, n), mixed: op !== 'gelu', scale: 4, special: [-10, -6.5, -3, 0, 3e-4, 6, 9.5], ops: () => [{ op }] as Op[] })), 3);

/**
 * Cases of a standalone activation: every length class, wide values (exact zeros, sixes, ±1e6 among them) and the
 * points where the piecewise ones bend; `ops(i)` may vary the op's parameters from case to case.
 */
const activationCases = (ops: (i: number) => Op[]): OpCase[] =>
  sampled(LENGTHS.map((n, i) => ({
    input: chw(1, 1, n), mixed: true, scale: 4, special: [-10, -3, 3, -6.5, 0, 3e-4, -2.5, 6, 9.5, -1e-5, 0.75, 20, -20],
    ops: () => ops(i),
  })), 3);
const HARDSIGMOID_PARAMS: [number, number][] = [[0.2, 0.5], [1 / 6, 0.5], [-0.7, 0.1], [2, -1]];
const CLIP_BOUNDS: { min?: number; max?: number }[] = [{ min: -1, max: 1 }, { min: 0, max: 6 }, { min: -2.5 }, { max: 0.75 }, { min: 3, max: 3 }, {}];

export const OP_TABLE: { [N in OpName]: OpEntry } = {
  linear: {
    tol: 1e-5,
    int8Tol: 1e-4,
    cases: [
      // M = 0 here means a [K] vector input (an exit head's GEMV); M = 1 a one-row matrix. The GEMM's tiling edge
      // cases (every small M × N) are tested at kernel level in test/kernels-gemm.test.ts.
      ...[[0, 37, 19], [0, 256, 10], [0, 1, 1], [1, 1, 1], [1, 37, 19], [2, 5, 3], [3, 64, 33], [7, 50, 5], [8, 16, 16],
        [9, 1, 17], [4, 8, 4], [5, 12, 7], [33, 45, 70], [17, 300, 3], [40, 33, 1], [70, 40, 23], [1, 64, 10], [13, 63, 65],
        [31, 33, 17], [100, 31, 9]]
        .map(([M, K, N], i) => linearCase(M, K, N, i)),
      ...sampled([[1, 784, 128], [0, 1024, 1000], [63, 65, 31], [64, 128, 384], [65, 127, 129], [33, 200, 70], [70, 256, 256],
        [17, 513, 33]].map(([M, K, N], i) => linearCase(M, K, N, i)), 8),
    ],
  },
  conv2d: {
    tol: 1e-5,
    // grouped and depthwise convolutions stay f32 in int8 (their cases then meet the f32 bound)
    int8Tol: 1e-4,
    cases: [
      // C, H, W, OC, KH, KW, stride, pad, groups
      ...[[1, 28, 28, 8, 3, 3, 1, 1, 1], [3, 13, 11, 5, 3, 3, 2, 1, 1], [4, 9, 9, 6, 5, 5, 1, 2, 2], [8, 10, 10, 8, 3, 3, 1, 1, 8],
        [6, 7, 7, 12, 3, 3, 2, 1, 6], [16, 7, 7, 33, 1, 1, 1, 0, 1], [5, 6, 8, 7, 2, 3, 1, 0, 1], [2, 5, 5, 3, 5, 5, 1, 0, 1],
        [1, 1, 1, 1, 1, 1, 1, 0, 1], [3, 17, 15, 4, 7, 7, 3, 3, 1], [5, 11, 9, 5, 3, 3, 2, 1, 5], [4, 8, 8, 8, 3, 5, 1, 1, 4]]
        .map((c, i) => convCase(c, i)),
      // groups = 1: kernels 1×1 … 5×5 and non-square, strides 1–2, pads 0–2, odd images and channel counts
      ...sampled(cross(cross([[1, 1], [3, 3], [5, 5], [3, 1], [1, 5]], [1, 2]), cross([0, 1, 2], [[1, 1, 5, 7], [3, 5, 9, 6], [4, 8, 8, 8], [5, 7, 13, 11], [8, 17, 7, 17]]))
        .filter(([[[KH, KW]], [pad, [, , H, W]]]) => H + 2 * pad >= KH && W + 2 * pad >= KW)
        .map(([[[KH, KW], stride], [pad, [C, OC, H, W]]], i) => convCase([C, H, W, OC, KH, KW, stride, pad, 1], i)), 10),
      // grouped, not depthwise (the depthwise kernel's own paths are tested in test/kernels-conv.test.ts)
      ...sampled(cross([[4, 6, 2], [6, 9, 3], [8, 8, 4], [4, 2, 2], [10, 10, 2]], [[1, 1, 0], [3, 1, 1], [3, 2, 1], [5, 1, 2]])
        .map(([[C, OC, groups], [KH, stride, pad]], i) => convCase([C, 9, 11, OC, KH, KH, stride, pad, groups], i)), 5),
    ],
  },
  maxpool2d: { tol: 0, cases: poolCases('maxpool2d') },
  avgpool2d: {
    tol: 1e-6,
    cases: [
      ...poolCases('avgpool2d'),
      // excludePad: the border windows divide by their in-image positions (and pad 0, where it changes nothing)
      ...sampled(cross([[1, 1, 1], [2, 5, 7], [3, 8, 8], [1, 13, 4], [2, 2, 9]], [[2, 1, 1], [3, 1, 1], [3, 2, 1], [5, 2, 2], [5, 3, 1], [4, 4, 2], [3, 3, 0]])
        .filter(([[, H, W], [k, , pad]]) => H + 2 * pad >= k && W + 2 * pad >= k)
        .map(([[C, H, W], [k, stride, pad]]) => ({ input: chw(C, H, W), offset: 1, ops: () => [{ op: 'avgpool2d', k, stride, pad, excludePad: true }] as Op[] })), 3),
    ],
  },
  gap: {
    tol: 1e-6,
    cases: [[1, 1, 1], [8, 7, 7], [13, 28, 28], [3, 10, 10], [70, 3, 1], [5, 2, 2], [4, 1, 17], [16, 7, 7], [7, 3, 5], [2, 4, 4],
      [8, 14, 14], [3, 1, 3137]]
      .map(([C, H, W]) => ({ input: chw(C, H, W), offset: 0.5, ops: () => [{ op: 'gap' }] as Op[] })),
  },
  flatten: { tol: 0, cases: [chw(3, 4, 5), chw(1, 1, 1), chw(2, 7, 3)].map((input) => ({ input, ops: () => [{ op: 'flatten' }] as Op[] })) },
  relu: { tol: 0, cases: unaryCases('relu') },
  relu6: { tol: 0, cases: unaryCases('relu6') },
  gelu: { tol: 1e-5, cases: unaryCases('gelu') },
  save: {
    tol: 0,
    // a save under a reused name unpins the buffer it replaced; the add reads the latest one
    cases: [{ input: chw(2, 3, 5), ops: () => [{ op: 'save', name: 'a' }, { op: 'relu' }, { op: 'save', name: 'a' }, { op: 'relu6' }, { op: 'add', name: 'a' }] }],
  },
  add: {
    tol: 0,
    cases: [
      // in place over a fresh result, every length class
      ...sampled(LENGTHS.map((n) => ({ input: chw(1, 1, n), mixed: true, ops: () => [{ op: 'save', name: 'r' }, { op: 'relu6' }, { op: 'add', name: 'r' }] as Op[] })), 3),
      // x + x (the current buffer is the saved one: a new buffer); two saves alive at once
      { input: chw(1, 3, 9), ops: () => [{ op: 'save', name: 'r' }, { op: 'add', name: 'r' }] },
      {
        input: rows(5, 12),
        ops: () => [{ op: 'save', name: 'r' }, { op: 'relu6' }, { op: 'save', name: 's' }, { op: 'relu' }, { op: 'add', name: 's' },
          { op: 'add', name: 'r' }],
      },
    ],
  },
  layernorm: {
    tol: 1e-5,
    // WGSL has no f64: the GPU kernel centres the rows on an f32 mean, so a spread of 0.01 around −3 keeps ~5 digits
    webgpuTol: 5e-5,
    // rows × widths × (offset, spread): a large common offset or a tiny spread must not cancel the variance away
    cases: sampled(cross(cross([1, 3, 7], [1, 2, 3, 4, 5, 8, 12, 17, 36, 64, 130]), [[0, 1], [10, 1], [-3, 0.01], [0, 100]])
      .map(([[T, D], [offset, scale]]) => ({ input: rows(T, D), offset, scale, ops: (m: Make) => [{ op: 'layernorm', g: m.f32([D]), b: m.f32([D], 0.5), eps: 1e-5 }] as Op[] })), 6),
  },
  embed: {
    tol: 0,
    // tok[id] = q·s exactly: the int8 table times its scale is the f32 table, bit for bit
    int8Tol: 0,
    cases: sampled(cross([1, 3, 4, 8, 12, 17, 36, 64], [1, 2, 5, 17, 33]).map(([D, T]) => ({
      input: { kind: 'tokens', T, vocab: 7 }, ops: (m: Make) => [{ op: 'embed', tok: m.f32([7, D]), pos: m.f32([T + 2, D]) }] as Op[],
    })), 5),
  },
  attention: {
    tol: 1e-5,
    // two quantized projections, the first one's error carried through the softmax (causal attention stays f32)
    int8Tol: 3e-4,
    cases: [
      // D × heads × T, global attention
      ...sampled(cross([4, 8, 12, 36, 64].flatMap((D) => [1, 2, 3, 4].filter((h) => D % h === 0).map((h) => [D, h])), [1, 2, 5, 17, 33])
        .map(([[D, heads], T]) => attentionCase(T, D, heads, 0)), 6),
      // windows 1, 2, 3, 7, T − 1 and past T (which equal global attention)
      ...sampled(cross([[4, 1], [4, 4], [8, 2], [12, 3], [20, 4], [36, 4], [64, 2]], [1, 2, 3, 5, 17, 33, 64])
        .flatMap(([[D, heads], T]) => [...new Set([1, 2, 3, 7, T - 1, T + 5])].filter((w) => w > 0).map((w) => attentionCase(T, D, heads, w))), 12),
      // causal: every key up to the query's own, alone and with a window (odd feature counts take the scalar tails)
      ...sampled(cross([[4, 1], [8, 2], [12, 3], [5, 1], [36, 4], [64, 2], [6, 2]], [1, 2, 5, 17, 33])
        .flatMap(([[D, heads], T]) => [0, 1, 3].map((w) => ({ ...attentionCase(T, D, heads, w), ops: (m: Make) => [{ ...attentionCase(T, D, heads, w).ops(m)[0], causal: true } as Op] }))), 6),
    ],
  },
  seqmean: {
    tol: 1e-6,
    cases: sampled(cross([1, 3, 4, 5, 8, 12, 36, 64, 67], [1, 2, 5, 17, 33]).map(([D, T]) => ({ input: rows(T, D), offset: 3, ops: () => [{ op: 'seqmean' }] as Op[] })), 5),
  },
  seqfirst: { tol: 0, cases: [[1, 5], [13, 32], [4, 3]].map(([T, D]) => ({ input: rows(T, D), ops: () => [{ op: 'seqfirst' }] as Op[] })) },
  sigmoid: { tol: 1e-6, webgpuTol: 1e-5, cases: [...activationCases(() => [{ op: 'sigmoid' }]), { input: rows(5, 7), ops: () => [{ op: 'sigmoid' }] }] },
  tanh: { tol: 1e-6, webgpuTol: 1e-5, cases: [...activationCases(() => [{ op: 'tanh' }]), { input: rows(3, 9), scale: 0.01, ops: () => [{ op: 'tanh' }] }] },
  gelu_tanh: { tol: 1e-6, webgpuTol: 1e-5, cases: [...activationCases(() => [{ op: 'gelu_tanh' }]), { input: rows(4, 33), ops: () => [{ op: 'gelu_tanh' }] }] },
  hardsigmoid: {
    tol: 1e-6,
    cases: activationCases((i) => {
      const [alpha, beta] = HARDSIGMOID_PARAMS[i % HARDSIGMOID_PARAMS.length];
      return [{ op: 'hardsigmoid', alpha, beta }];
    }),
  },
  hardswish: { tol: 1e-6, cases: [...activationCases(() => [{ op: 'hardswish' }]), { input: chw(3, 5, 7), ops: () => [{ op: 'hardswish' }] }] },
  clip: { tol: 0, cases: activationCases((i) => [{ op: 'clip', ...CLIP_BOUNDS[i % CLIP_BOUNDS.length] }]) },
  affine: {
    tol: 1e-6,
    cases: [
      // per channel on [C, H, W] (the SIMD path over H·W and its tail), scale only / shift only / both, and [1]
      ...sampled(cross([[1, 1, 1], [3, 5, 7], [4, 2, 2], [16, 7, 7], [5, 1, 3], [2, 17, 9], [33, 3, 1]], [0, 1, 2, 3]).map(([[C, H, W], k]) => ({
        input: chw(C, H, W), ops: (m: Make) => [affineOp(m, k === 3 ? 1 : C, k)],
      })), 3),
      // per feature on [T, D] (the SIMD path over D and its tail) and on a vector
      ...sampled(cross([[1, 1], [3, 4], [5, 7], [2, 33], [17, 12], [4, 1]], [0, 1, 2, 3]).map(([[T, D], k]) => ({
        input: rows(T, D), ops: (m: Make) => [affineOp(m, k === 3 ? 1 : D, k)],
      })), 3),
      ...[1, 3, 10, 37].map((K, k) => ({ input: { kind: 'vec', shape: [K] } as CaseInput, ops: (m: Make) => [affineOp(m, K, k % 3)] })),
    ],
  },
  pad: {
    tol: 0,
    cases: sampled(cross([[1, 1, 1], [3, 5, 7], [2, 4, 4], [4, 1, 9], [1, 13, 2]], [[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 1], [2, 0, 3, 1], [0, 0, 5, 0], [3, 2, 0, 0]])
      .map(([[C, H, W], [top, bottom, left, right]]) => ({ input: chw(C, H, W), ops: () => [{ op: 'pad', top, bottom, left, right }] as Op[] })), 3),
  },
  concat: {
    tol: 1e-5, // the conv's
    cases: [
      // a DenseNet-style block: the map, then a map computed from it, concatenated along channels, both orders
      ...[[1, 1, 1], [3, 5, 7], [4, 6, 6], [2, 1, 13]].flatMap(([C, H, W], i) => [false, true].map((xFirst) => ({
        input: chw(C, H, W),
        ops: (m: Make) => [{ op: 'save', name: 'in' }, { op: 'conv2d', w: m.f32([i + 2, C, 3, 3]), pad: 1 }, { op: 'concat', name: 'in', ...(xFirst ? { xFirst } : {}) }] as Op[],
      }))),
      // vectors: pooled features of two depths
      { input: chw(5, 3, 3), ops: () => [{ op: 'gap' }, { op: 'save', name: 'v' }, { op: 'relu' }, { op: 'concat', name: 'v' }] },
    ],
  },
  mul: {
    tol: 1e-6,
    cases: [
      // the same shape: SiLU x·σ(x) on every length class, and on rows of a variable token count
      ...sampled(LENGTHS.map((n) => ({ input: chw(1, 1, n), scale: 3, ops: () => [{ op: 'save', name: 's' }, { op: 'sigmoid' }, { op: 'mul', name: 's' }] as Op[] })), 3),
      { input: rows(5, 9), ops: () => [{ op: 'save', name: 's' }, { op: 'tanh' }, { op: 'mul', name: 's' }] },
      // squeeze-and-excitation: a per-channel gate [C] times the saved map, then the map times a saved gate
      ...[[1, 1, 1], [3, 5, 7], [8, 4, 4], [5, 1, 9], [16, 3, 3]].map(([C, H, W]) => ({
        input: chw(C, H, W),
        ops: (m: Make) => [{ op: 'save', name: 'map' }, { op: 'gap' }, { op: 'linear', w: m.f32([C, C]), b: m.f32([C]) }, { op: 'hardsigmoid', alpha: 1 / 6, beta: 0.5 },
          { op: 'save', name: 'gate' }, { op: 'mul', name: 'map' }, { op: 'relu' }, { op: 'mul', name: 'gate' }] as Op[],
      })),
      // per feature on [T, D]: a gate [D] from the token mean, both ways round
      ...[[1, 1], [3, 8], [6, 13]].map(([T, D]) => ({
        input: rows(T, D),
        ops: () => [{ op: 'save', name: 'seq' }, { op: 'seqmean' }, { op: 'sigmoid' }, { op: 'save', name: 'g' }, { op: 'mul', name: 'seq' }, { op: 'mul', name: 'g' }] as Op[],
      })),
    ],
  },
};

/** affine with K values: k = 0 scale and shift, 1 scale only, 2 shift only, 3 (K = 1) both. */
function affineOp(m: Make, K: number, k: number): Op {
  return { op: 'affine', ...(k !== 2 ? { w: m.f32([K]) } : {}), ...(k !== 1 ? { b: m.f32([K]) } : {}) };
}

function attentionCase(T: number, D: number, heads: number, window: number): OpCase {
  return {
    input: rows(T, D),
    ops: (m: Make) => [{
      op: 'attention', heads, wqkv: m.f32([3 * D, D], 1 / Math.sqrt(D)), bqkv: m.f32([3 * D], 0.1), wo: m.f32([D, D], 1 / Math.sqrt(D)),
      bo: m.f32([D], 0.1), window,
    }],
  };
}

/** A case as a model: the layer `layer` is the case's ops, fed `input` (the output of layer − 1, or the model input). */
export interface CaseModel {
  bytes: Uint8Array;
  layer: number;
  input: Float32Array | Int32Array | { shape: number[]; data: Float32Array };
  /** The same input for the float64 reference (token ids go in `ids`). */
  refInput: { shape: number[]; data: Float64Array };
  ids?: Int32Array;
  ops: Op[];
}

/**
 * Normal(0, scale) values made exactly int8 × a per-row scale (rows along axis 0): each row's scale has at most 17
 * significant bits and one value per row sits at ±127 steps, so 127·scale is an exact f32 and re-quantizing the row
 * (max|row| / 127, round) gives back these codes and this scale exactly.
 */
export function int8Representable(r: Rng, shape: number[], scale = 1): { data: Float32Array; q: Int8Array; scales: number[] } {
  const rows = shape[0];
  return snapRows(randn(r, shape.reduce((a, b) => a * b, 1), scale), rows, shape.slice(1).reduce((a, b) => a * b, 1));
}

/** The matrix w [rows, cols] moved onto an int8 grid per row, as int8Representable describes (zero rows stay zero). */
export function snapRows(w: ArrayLike<number>, rows: number, cols: number): { data: Float32Array; q: Int8Array; scales: number[] } {
  const q = new Int8Array(rows * cols);
  const scales: number[] = [];
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let amax = 0, at = i * cols;
    for (let j = i * cols; j < (i + 1) * cols; j++) if (Math.abs(w[j]) > amax) { amax = Math.abs(w[j]); at = j; }
    if (amax === 0) { scales.push(0); continue; }
    const unit = 2 ** (Math.floor(Math.log2(amax / 127)) - 16);
    const s = Math.round(amax / 127 / unit) * unit;
    for (let j = i * cols; j < (i + 1) * cols; j++) {
      q[j] = j === at ? (w[j] < 0 ? -127 : 127) : Math.max(-127, Math.min(127, Math.round(w[j] / s)));
      data[j] = q[j] * s;
    }
    scales.push(s);
  }
  return { data, q, scales };
}

export interface CaseOptions {
  /**
   * Every weight of two or more dimensions int8-representable per row (int8Representable), stored alternately as an
   * f32 tensor and as a per-channel int8 tensor (the int8 path quantizes the one and takes the other as it is).
   */
  int8Weights?: boolean;
}

export function caseModel(c: OpCase, r: Rng, opts: CaseOptions = {}): CaseModel {
  const tensors: Record<string, WriterTensor> = {};
  let count = 0;
  const m: Make = {
    f32(shape, scale = 1) {
      const name = `t${count++}`;
      if (opts.int8Weights && shape.length >= 2) {
        const { data, q, scales } = int8Representable(r, shape, scale);
        tensors[name] = count % 2 ? { dtype: 'f32', shape, data } : { dtype: 'i8', shape, data: q, quant: { axis: 0, scales } };
      } else {
        tensors[name] = { dtype: 'f32', shape, data: randn(r, shape.reduce((a, b) => a * b, 1), scale) };
      }
      return name;
    },
  };
  const classes = ['a', 'b'];
  const head = (act: Act): Op[] => {
    const w = (n: number) => [{ op: 'linear', w: m.f32([classes.length, n]) }] as Op[];
    if (act.shape.length === 3) return [{ op: 'gap' }, ...w(act.shape[0])];
    if (act.shape.length === 2) return [{ op: 'seqmean' }, ...w(act.shape[1])];
    return w(act.shape[0]);
  };
  const values = (n: number) => {
    const x = randn(r, n, c.scale ?? 1);
    if (c.offset) for (let i = 0; i < n; i++) x[i] += c.offset;
    if (c.mixed) {
      for (let i = 0; i < n; i++) {
        const u = r.next();
        if (u < 0.05) x[i] = 0;
        else if (u < 0.1) x[i] = 6;
        else if (u < 0.15) x[i] = r.uniform(-1e6, 1e6);
      }
    }
    if (c.special) x.set(c.special.slice(0, n));
    return x;
  };
  const inp = c.input;
  const layers: { name: string; ops: Op[] }[] = [];
  const exits: { layer: number; ops: Op[] }[] = [];
  let input: SpxInputT;
  let act: Act;
  let modelInput: CaseModel['input'];
  const maxLen = (T: number) => T + 2;
  switch (inp.kind) {
    case 'chw':
      input = { kind: 'image', shape: inp.shape };
      act = { shape: inp.shape, tokens: false, variable: false };
      modelInput = values(inp.shape[0] * inp.shape[1] * inp.shape[2]);
      break;
    case 'vec':
      input = { kind: 'image', shape: [inp.shape[0], 1, 1] };
      layers.push({ name: 'to-vector', ops: [{ op: 'gap' }] });
      act = { shape: inp.shape, tokens: false, variable: false };
      exits.push({ layer: 1, ops: head(act) });
      modelInput = { shape: inp.shape.slice(), data: values(inp.shape[0]) };
      break;
    case 'rows': {
      const [T, D] = inp.shape;
      input = { kind: 'tokens', maxLen: maxLen(T), vocabSize: 1 };
      layers.push({ name: 'to-rows', ops: [{ op: 'embed', tok: m.f32([1, D]), pos: m.f32([maxLen(T), D]) }] });
      act = { shape: [maxLen(T), D], tokens: false, variable: true };
      exits.push({ layer: 1, ops: head(act) });
      modelInput = { shape: [T, D], data: values(T * D) };
      break;
    }
    case 'tokens':
      input = { kind: 'tokens', maxLen: maxLen(inp.T), vocabSize: inp.vocab };
      act = { shape: [maxLen(inp.T)], tokens: true, variable: true };
      modelInput = Int32Array.from({ length: inp.T }, (_, i) => (i === 0 ? inp.vocab - 1 : r.int(0, inp.vocab)));
      break;
  }
  const ops = c.ops(m);
  const shapes = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.shape]));
  const out = inferBlock(ops, act, shapes, inp.kind === 'tokens' ? inp.vocab : 0);
  layers.push({ name: 'under-test', ops });
  exits.push({ layer: layers.length, ops: head({ shape: out.output, tokens: false, variable: out.outputVariable }) });
  const bytes = writeSpx({
    format: 'splitee-model', name: 'op-case', task: input.kind === 'image' ? 'image-classification' : 'text-classification',
    classes, input, preprocess: { kind: input.kind === 'image' ? 'image' : 'tokenizer', scale: 1, mean: [0], std: [1] },
    layers, exits, provenance: { recipe: 'test/ops-table.ts' },
  }, tensors);
  const refInput = modelInput instanceof Int32Array ? { shape: [modelInput.length], data: new Float64Array(0) }
    : modelInput instanceof Float32Array ? { shape: (input as { shape: number[] }).shape.slice(), data: Float64Array.from(modelInput) }
    : { shape: modelInput.shape.slice(), data: Float64Array.from(modelInput.data) };
  return { bytes, layer: layers.length, input: modelInput, refInput, ...(modelInput instanceof Int32Array ? { ids: modelInput } : {}), ops };
}

type SpxInputT = { kind: 'image'; shape: [number, number, number] } | { kind: 'tokens'; maxLen: number; vocabSize: number };

/** A short label for a case: its input and its ops with their parameters. */
export function caseLabel(c: OpCase, ops: Op[]): string {
  const inp = c.input.kind === 'tokens' ? `ids[${c.input.T}] V=${c.input.vocab}` : `[${c.input.shape}]`;
  const fmt = (o: Op) => {
    const params = Object.entries(o).filter(([k, v]) => k !== 'op' && typeof v !== 'string' && v !== undefined).map(([k, v]) => `${k}=${v}`);
    return `${o.op}${params.length ? `(${params.join(' ')})` : ''}`;
  };
  return `${inp} ${ops.map(fmt).join(' → ')}`;
}

/** What running the op table on one backend found: cases run, failures, the worst normalized error per op. */
export interface OpTableRun { ran: number; failures: string[]; worst: Record<string, number> }

/**
 * Runs every case of the op table (every case with an int8 tolerance, for `int8`, on int8-representable weights) on
 * the backend `make` builds, in each of its variants (as written; and with the first op's input pinned when that op
 * may write in place), against the float64 reference, with the tolerance `tolOf(entry)`. `skip`: cases to leave out
 * (a backend that runs only some).
 */
export async function runOpTable(make: (file: SpxModelFile) => Promise<Backend>, opts: {
  int8?: boolean; tolOf: (e: OpEntry) => number; skip?: (c: OpCase) => boolean; label?: string;
}): Promise<OpTableRun> {
  const failures: string[] = [];
  const worst: Record<string, number> = {};
  let ran = 0;
  const caseOpts = { int8Weights: opts.int8 };
  for (const [op, entry] of Object.entries(OP_TABLE) as [OpName, OpEntry][]) {
    if (opts.int8 && entry.int8Tol === undefined) continue;
    const tol = opts.tolOf(entry);
    for (const [i, c] of entry.cases.entries()) {
      if (opts.skip?.(c)) continue;
      const seed = 1000 * (OP_NAMES.indexOf(op) + 1) + i;
      const first = caseModel(c, rng(seed), caseOpts).ops[0];
      const variants = OP_RULES[first.op].placement !== 'inplace'
        ? [c] : [c, { ...c, ops: (m: Make) => [{ op: 'save', name: '__pinned' } as Op, ...c.ops(m)] }];
      for (const v of variants) {
        // The same seed gives the same weights and input: the variants differ only in their ops.
        const m = caseModel(v, rng(seed), caseOpts);
        const file = parseSpx(m.bytes);
        const what = `${opts.label ? `${opts.label} ` : ''}${op} #${i + 1}: ${caseLabel(v, m.ops)}`;
        let backend: Backend | undefined;
        try {
          backend = await make(file);
          await backend.run(m.input, m.layer, m.layer);
          const got = await backend.read();
          const ref = refOps(file, m.ops, m.refInput, m.ids);
          ran++;
          if (got.shape.join() !== ref.shape.join()) { failures.push(`${what}: shape [${got.shape}], expected [${ref.shape}]`); continue; }
          if (got.data.some((x) => Number.isNaN(x))) { failures.push(`${what}: NaN in the output`); continue; }
          const err = tol === 0
            ? (got.data.every((x, j) => x === Math.fround(ref.data[j])) ? 0 : Infinity)
            : relError(got.data, ref.data);
          worst[op] = Math.max(worst[op] ?? 0, err);
          if (!(err <= tol)) failures.push(`${what}: normalized error ${err} > ${tol}`);
        } catch (e) {
          failures.push(`${what}: ${(e as Error).message}`);
        } finally {
          backend?.dispose();
        }
      }
    }
  }
  return { ran, failures, worst };
}
