// Float64 reference implementations of the non-GEMM ops: the oracle the WASM and WebGPU kernels are tested against.
// Deliberately plain loops straight from the definitions (docs/FORMAT.md, docs/KERNELS.md): no tricks, no SIMD-shaped
// orderings. Inputs are any number arrays (usually the Float32Arrays the kernels saw), outputs Float64Array.

// GELU through the one float64 erfc of the references (~1e−15 relative, no cancellation).
import { refGelu as refGeluScalar } from './gemm-conv-pool.js';

export function refRelu(x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] > 0 ? x[i] : 0;
  return out;
}

export function refRelu6(x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(Math.max(x[i], 0), 6);
  return out;
}

/** GELU, erf form: 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(−x/√2) (the erfc form keeps precision for negative x). */
export function refGelu(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, refGeluScalar);
}

export function refAdd(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + b[i];
  return out;
}

/** LayerNorm over the last dim of [rows, D], biased variance (PyTorch). */
export function refLayernorm(x: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>, rows: number, D: number,
  eps: number): Float64Array {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < D; i++) mean += x[r * D + i];
    mean /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - mean) ** 2;
    v /= D;
    const sd = Math.sqrt(v + eps);
    for (let i = 0; i < D; i++) out[r * D + i] = ((x[r * D + i] - mean) / sd) * g[i] + b[i];
  }
  return out;
}

/** Softmax over the last dim of [rows, N], max-subtracted. */
export function refSoftmax(x: ArrayLike<number>, rows: number, N: number): Float64Array {
  const out = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let i = 0; i < N; i++) m = Math.max(m, x[r * N + i]);
    let s = 0;
    for (let i = 0; i < N; i++) s += Math.exp(x[r * N + i] - m);
    for (let i = 0; i < N; i++) out[r * N + i] = Math.exp(x[r * N + i] - m) / s;
  }
  return out;
}

/** out[t] = tok[ids[t]] + pos[t]; tok is [V, D], pos is [P, D]. */
export function refEmbed(ids: ArrayLike<number>, tok: ArrayLike<number>, pos: ArrayLike<number>, D: number): Float64Array {
  const T = ids.length;
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let d = 0; d < D; d++) out[t * D + d] = tok[ids[t] * D + d] + pos[t * D + d];
  }
  return out;
}

/** y[M, N] = x[M, K]·wᵀ + b with w [N, K] (PyTorch linear). */
export function refLinear(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, M: number, K: number,
  N: number): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      out[m * N + n] = s;
    }
  }
  return out;
}

/**
 * Multi-head self-attention on x [T, D] (nn.MultiheadAttention layout: wqkv [3D, D] = q, k, v rows; wo [D, D]).
 * mask[j] == 0 hides key j (probability 0). If every key is hidden the context is 0 (the kernels' documented choice).
 * window > 0 also hides from query i every key j with |i − j| > window (0: no window).
 */
export function refAttention(x: ArrayLike<number>, T: number, D: number, heads: number, wqkv: ArrayLike<number>,
  bqkv: ArrayLike<number>, wo: ArrayLike<number>, bo: ArrayLike<number>, mask: ArrayLike<number> | null,
  window = 0): Float64Array {
  const dh = D / heads;
  const qkv = refLinear(x, wqkv, bqkv, T, D, 3 * D);
  const q = (t: number, f: number) => qkv[t * 3 * D + f];
  const k = (t: number, f: number) => qkv[t * 3 * D + D + f];
  const v = (t: number, f: number) => qkv[t * 3 * D + 2 * D + f];
  const visible = (i: number, j: number) => (mask === null || mask[j] !== 0) && (window === 0 || Math.abs(i - j) <= window);
  const ctx = new Float64Array(T * D);
  const p = new Float64Array(T);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < T; i++) {
      let m = -Infinity;
      for (let j = 0; j < T; j++) {
        if (!visible(i, j)) continue;
        let s = 0;
        for (let e = 0; e < dh; e++) s += q(i, h * dh + e) * k(j, h * dh + e);
        p[j] = s / Math.sqrt(dh);
        m = Math.max(m, p[j]);
      }
      let sum = 0;
      for (let j = 0; j < T; j++) {
        p[j] = visible(i, j) ? Math.exp(p[j] - m) : 0;
        sum += p[j];
      }
      for (let e = 0; e < dh; e++) {
        let c = 0;
        for (let j = 0; j < T; j++) if (visible(i, j)) c += (p[j] / sum) * v(j, h * dh + e);
        ctx[i * D + h * dh + e] = c;
      }
    }
  }
  return refLinear(ctx, wo, bo, T, D, D);
}

/** [T, D] → [D], mean over t. */
export function refSeqmean(x: ArrayLike<number>, T: number, D: number): Float64Array {
  const out = new Float64Array(D);
  for (let d = 0; d < D; d++) {
    let s = 0;
    for (let t = 0; t < T; t++) s += x[t * D + d];
    out[d] = s / T;
  }
  return out;
}

/** Round half to even, for finite values. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const frac = v - f;
  if (frac < 0.5) return f;
  if (frac > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** clamp(roundHalfEven(x/scale) + zp, −128, 127); NaN gives zp (the value 0). */
export function refQuantizeI8(x: ArrayLike<number>, scale: number, zp: number): Int8Array {
  const q = new Int8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i] / scale;
    const r = Number.isNaN(v) ? 0 : Number.isFinite(v) ? roundHalfEven(v) : Math.sign(v) * 1e9;
    q[i] = Math.min(Math.max(r + zp, -128), 127);
  }
  return q;
}

/** [min, max] (NaN propagates, like Math.min/max). */
export function refMinmax(x: ArrayLike<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < x.length; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
  return [lo, hi];
}

/** Index of the largest value, lowest index on ties. */
export function refArgmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}
