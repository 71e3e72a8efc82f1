// attention: multi-head self-attention on x[T, D] in PyTorch nn.MultiheadAttention layout:
//   qkv = x · wqkvᵀ + bqkv          (linear op, [T, 3D]: q | k | v column blocks)
//   per head h, query i: p = softmax_j(q_i·k_j / √dh) over the visible keys j, ctx_i = Σ_j p_j v_j
//   out = ctx · woᵀ + bo            (linear op)
// The middle step is one kernel, a 64-thread workgroup per (query, head): scores go to a [heads, T, T] scratch
// buffer (T is not bounded by workgroup memory), the max and the sum are workgroup reductions, and the weighted
// sum of V is split over the head's dh features.
// window w > 0 (local attention): query i sees only keys [max(0, i − w), min(T − 1, i + w)] (and of those, the ones
// the mask leaves visible); every loop over keys runs over that range alone. w = 0: the range is every key, and the
// loops are exactly the global ones.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { f32, need, packParams, positiveInts, REDUCE64_WGSL } from '../wgsl.js';
import { linear } from './linear.js';

export const ATTENTION_CORE_WGSL = /* wgsl */ `
struct Params { T: u32, D: u32, heads: u32, dh: u32, scale: f32, hasMask: u32, window: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
@group(0) @binding(4) var<storage, read_write> ctx: array<f32>;
${REDUCE64_WGSL}
fn visible(j: u32) -> bool { return P.hasMask == 0u || mask[j] != 0u; }

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) t: u32) {
  let i = wid.x;
  let h = wid.y;
  let T = P.T;
  let D3 = 3u * P.D;
  let qo = i * D3 + h * P.dh;            // q_i of head h
  let ko = P.D + h * P.dh;               // column of k_j (row j adds j·3D)
  let vo = 2u * P.D + h * P.dh;          // column of v_j
  let so = (h * T + i) * T;              // this row of scores
  // keys [lo, hi) are in this query's window (scores outside it are neither written nor read)
  var lo = 0u;
  var hi = T;
  if (P.window > 0u) {
    lo = select(0u, i - P.window, i > P.window);
    hi = min(T, i + P.window + 1u);
  }
  // A very negative start rather than -inf: WGSL has no infinity literal, and a fully masked row then gives zeros.
  var m = -3.0e38;
  for (var j = lo + t; j < hi; j += 64u) {
    if (!visible(j)) { continue; }
    var s = 0.0;
    for (var d = 0u; d < P.dh; d++) { s = fma(qkv[qo + d], qkv[j * D3 + ko + d], s); }
    s *= P.scale;
    scores[so + j] = s;
    m = max(m, s);
  }
  let mx = wgMax(m, t);
  var sum = 0.0;
  for (var j = lo + t; j < hi; j += 64u) {
    var e = 0.0;
    if (visible(j)) { e = exp(scores[so + j] - mx); }
    scores[so + j] = e;
    sum += e;
  }
  let total = wgSum(sum, t);
  // The weights were written by other threads of this workgroup: make those storage writes visible.
  storageBarrier();
  var inv = 0.0;
  if (total > 0.0) { inv = 1.0 / total; }
  for (var d = t; d < P.dh; d += 64u) {
    var acc = 0.0;
    for (var j = lo; j < hi; j++) { acc = fma(scores[so + j], qkv[j * D3 + vo + d], acc); }
    ctx[i * P.D + h * P.dh + d] = acc * inv;
  }
}
`;

export interface AttentionArgs {
  /** [T, D] */
  x: GPUBuffer;
  /** [3D, D] */
  wqkv: GPUBuffer;
  /** [3D] or null */
  bqkv?: GPUBuffer | null;
  /** [D, D] */
  wo: GPUBuffer;
  /** [D] or null */
  bo?: GPUBuffer | null;
  /** [T] u32, 0 hides key j; null: every key is visible */
  mask?: GPUBuffer | null;
  /** [T, D]; must not be x */
  out: GPUBuffer;
  T: number; D: number; heads: number;
  /** > 0: query i sees only keys j with |i − j| ≤ window; 0 or absent: every key */
  window?: number;
}

/** Bytes of pooled scratch one call uses (released again before it returns; the GPU work is ordered). */
export function attentionScratchBytes(T: number, D: number, heads: number): number {
  return 4 * (3 * T * D + heads * T * T + T * D);
}

export function attention(ctx: GpuContext, a: AttentionArgs): void {
  const { T, D, heads } = a;
  positiveInts('attention', { T, D, heads });
  if (D % heads) throw new WebGpuError('BAD_ARGUMENT', `attention: heads ${heads} must divide D ${D}`);
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'attention: out must not be x');
  if (T > 65535) throw new WebGpuError('BAD_ARGUMENT', `attention: T ${T} too long`);
  need(a.x, T * D * 4, 'attention x');
  need(a.wqkv, 3 * D * D * 4, 'attention wqkv');
  need(a.wo, D * D * 4, 'attention wo');
  need(a.out, T * D * 4, 'attention out');
  if (a.bqkv) need(a.bqkv, 3 * D * 4, 'attention bqkv');
  if (a.bo) need(a.bo, D * 4, 'attention bo');
  if (a.mask) need(a.mask, T * 4, 'attention mask');
  const window = a.window ?? 0;
  if (!Number.isInteger(window) || window < 0) throw new WebGpuError('BAD_ARGUMENT', `attention: window ${window} must be an integer ≥ 0`);
  const dh = D / heads;
  const qkv = ctx.alloc(3 * T * D * 4);
  const scores = ctx.alloc(heads * T * T * 4);
  const mid = ctx.alloc(T * D * 4);
  linear(ctx, { x: a.x, w: a.wqkv, b: a.bqkv, out: qkv, M: T, K: D, N: 3 * D });
  const p = ctx.pipelines.get('attention:core', () => ATTENTION_CORE_WGSL);
  ctx.dispatch(p, packParams(T, D, heads, dh, f32(1 / Math.sqrt(dh)), a.mask ? 1 : 0, Math.min(window, T)),
    [qkv, a.mask ?? ctx.dummy, scores, mid], T, heads);
  linear(ctx, { x: mid, w: a.wo, b: a.bo, out: a.out, M: T, K: D, N: D });
  // Safe to recycle now: anything that reuses these buffers is recorded, and so runs, after this work.
  ctx.free(qkv);
  ctx.free(scores);
  ctx.free(mid);
}
