// GEMM / linear kernels (see docs/KERNELS.md).
//
// One register-tiled micro-kernel serves both linear and conv: C[i, j] = Σ_k A[i, k] · B[k, j], 4 rows × 8 columns
// of f32x4 accumulators (8 of the 16 xmm registers V8 has, leaving room for 2 B vectors and a broadcast).
//   linear: A = x (rows strided by K), B = the packed weight panel (8 columns, K-major, zero padded).
//   conv:   A = the packed weight panel (4 output channels, K-major, zero padded), B = the input / im2col rows.
// A's elements are broadcast with v128.load32_splat, B is read as two v128 per k. Bias and relu/relu6 are fused
// into the store, so every output element is written once (GELU: see Activations).
//
// Blocking: the 128-bit micro-kernel needs only ~6 bytes per cycle, which L2 easily sustains, so K is not split
// across calls (the whole dot product stays in registers, no partial sums in memory). Rows are blocked by MC so the
// A block stays in L2 while every column panel sweeps over it.
//
// pack_rows4_bytes / pack_rows4 / gemm_packed_a / bias_act_rows and the epilogue helpers (clampAct, loadN,
// storeRowRes, resRow, storeColumn4) are exported to the other kernel files (conv.ts, depthwise.ts, gemm-q8.ts), not out
// of the module (index.ts lists the module's exports).
import { add, gelu } from './elementwise';
import { madd } from './simd';

// @ts-ignore: decorator
@inline const GEMM_NR: i32 = 8;
// @ts-ignore: decorator
@inline const MC: i32 = 64;

// ---------------------------------------------------------------------------------------------------------------
// Activations
//
// relu (1) and relu6 (2) are applied in registers before the store. GELU (3) is applied afterwards, over whole
// blocks of the output still in cache, by the elementwise `gelu` kernel: one GELU in the module, so a linear with
// fused GELU gives exactly the bits of linear followed by the `gelu` op. (Long contiguous runs also let that
// kernel overlap its per-vector dependency chains, which a per-tile call would not.)

// Any code other than 1 and 2 passes through.
// @ts-ignore: decorator
@inline export function clampAct(v: v128, act: i32): v128 {
  if (act == 1) return f32x4.pmax(v, f32x4.splat(0.0));
  if (act == 2) return f32x4.pmin(f32x4.pmax(v, f32x4.splat(0.0)), f32x4.splat(6.0));
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Partial loads / stores for edges (n in 1..4)

// @ts-ignore: decorator
@inline export function storeN(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p, v, 1, 4);
  if (n > 2) v128.store32_lane(p, v, 2, 8);
}

// @ts-ignore: decorator
@inline export function loadN(p: usize, n: i32): v128 {
  if (n >= 4) return v128.load(p);
  let v = v128.load32_zero(p);
  if (n > 1) v = v128.load32_lane(p, v, 1, 4);
  if (n > 2) v = v128.load32_lane(p, v, 2, 8);
  return v;
}

// @ts-ignore: decorator
@inline export function storeRow8(c: usize, v0: v128, v1: v128, ncols: i32): void {
  if (ncols == 8) {
    v128.store(c, v0);
    v128.store(c, v1, 16);
  } else {
    storeN(c, v0, ncols);
    if (ncols > 4) storeN(c + 16, v1, ncols - 4);
  }
}

// Stores one 8-wide row of the tile: adds the column bias (colBias, 0 = none) and a row bias splat, applies relu or
// relu6, then adds the residual row r (0 = none): out = act(acc + bias) + r, the bits of the op sequence
// linear/conv → add. Inlined into every tile only for the common case (8 columns); a partial last block calls
// finishRowAny, which keeps the code of the tile instances small (the same operations, so the same bits).
// @ts-ignore: decorator
@inline function finishRow(c: usize, v0: v128, v1: v128, ncols: i32, colBias: usize, rb: v128, act: i32, r: usize): void {
  if (ncols == 8) {
    v0 = f32x4.add(v0, rb);
    v1 = f32x4.add(v1, rb);
    if (colBias != 0) {
      v0 = f32x4.add(v0, v128.load(colBias));
      v1 = f32x4.add(v1, v128.load(colBias, 16));
    }
    v0 = clampAct(v0, act);
    v1 = clampAct(v1, act);
    if (r != 0) {
      v0 = f32x4.add(v0, v128.load(r));
      v1 = f32x4.add(v1, v128.load(r, 16));
    }
    v128.store(c, v0);
    v128.store(c, v1, 16);
  } else {
    finishRowAny(c, v0, v1, ncols, colBias, rb, act, r);
  }
}

function finishRowAny(c: usize, v0: v128, v1: v128, ncols: i32, colBias: usize, rb: v128, act: i32, r: usize): void {
  v0 = f32x4.add(v0, rb);
  v1 = f32x4.add(v1, rb);
  if (colBias != 0) {
    v0 = f32x4.add(v0, loadN(colBias, ncols));
    if (ncols > 4) v1 = f32x4.add(v1, loadN(colBias + 16, ncols - 4));
  }
  storeRowRes(c, clampAct(v0, act), clampAct(v1, act), ncols, r);
}

/** storeRow8 of v + the residual row r (0 = none). */
// @ts-ignore: decorator
@inline export function storeRowRes(c: usize, v0: v128, v1: v128, ncols: i32, r: usize): void {
  if (r != 0) {
    v0 = f32x4.add(v0, loadN(r, ncols));
    if (ncols > 4) v1 = f32x4.add(v1, loadN(r + 16, ncols - 4));
  }
  storeRow8(c, v0, v1, ncols);
}

/** The residual pointer of row i of a tile whose first row's is r (0 stays 0). */
// @ts-ignore: decorator
@inline export function resRow(r: usize, i: usize, ld: usize): usize {
  return r != 0 ? r + i * ld : 0;
}



// @ts-ignore: decorator
@inline function rowBiasV(rowBias: usize, i: i32): v128 {
  return rowBias != 0 ? v128.load32_splat(rowBias + (<usize>i << 2)) : f32x4.splat(0.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Micro-kernels

// The k loop runs in blocks of KB whose partial sums are added into block totals: a two-level sum whose rounding
// error grows like √(K·KB) instead of K (it keeps relError ≤ 1e-6 at K in the thousands), and it costs nothing
// measurable since the totals are touched once per block.
// @ts-ignore: decorator
@inline const KB: i32 = 256;

// R rows (1..4, a compile-time constant at every call) × 8 columns over the full K. Instantiated for each R so a
// GEMM whose row count is not a multiple of 4 computes only its real rows in the last block (T = 29 tokens: 29 rows,
// not 32); every row gets the same operations in the same order whatever R, so its bits do not depend on R.
// @ts-ignore: decorator
@inline function tileRx8(R: i32, a0: usize, a1: usize, a2: usize, a3: usize, aCs: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  let t00 = f32x4.splat(0.0), t01 = f32x4.splat(0.0);
  let t10 = f32x4.splat(0.0), t11 = f32x4.splat(0.0);
  let t20 = f32x4.splat(0.0), t21 = f32x4.splat(0.0);
  let t30 = f32x4.splat(0.0), t31 = f32x4.splat(0.0);
  for (let k0 = 0; k0 < K; k0 += KB) {
    const kb = min(KB, K - k0);
    let c00 = f32x4.splat(0.0), c01 = f32x4.splat(0.0);
    let c10 = f32x4.splat(0.0), c11 = f32x4.splat(0.0);
    let c20 = f32x4.splat(0.0), c21 = f32x4.splat(0.0);
    let c30 = f32x4.splat(0.0), c31 = f32x4.splat(0.0);
    for (let k = 0; k < kb; k++) {
      const b0 = v128.load(b);
      const b1 = v128.load(b, 16);
      let s = v128.load32_splat(a0);
      c00 = madd(s, b0, c00);
      c01 = madd(s, b1, c01);
      if (R > 1) {
        s = v128.load32_splat(a1);
        c10 = madd(s, b0, c10);
        c11 = madd(s, b1, c11);
      }
      if (R > 2) {
        s = v128.load32_splat(a2);
        c20 = madd(s, b0, c20);
        c21 = madd(s, b1, c21);
      }
      if (R > 3) {
        s = v128.load32_splat(a3);
        c30 = madd(s, b0, c30);
        c31 = madd(s, b1, c31);
      }
      a0 += aCs;
      if (R > 1) a1 += aCs;
      if (R > 2) a2 += aCs;
      if (R > 3) a3 += aCs;
      b += bRs;
    }
    t00 = f32x4.add(t00, c00); t01 = f32x4.add(t01, c01);
    if (R > 1) { t10 = f32x4.add(t10, c10); t11 = f32x4.add(t11, c11); }
    if (R > 2) { t20 = f32x4.add(t20, c20); t21 = f32x4.add(t21, c21); }
    if (R > 3) { t30 = f32x4.add(t30, c30); t31 = f32x4.add(t31, c31); }
  }
  const z = f32x4.splat(0.0);
  finishRow(c, t00, t01, ncols, colBias, z, act, r);
  if (R > 1) finishRow(c + ldc, t10, t11, ncols, colBias, z, act, resRow(r, 1, ldc));
  if (R > 2) finishRow(c + 2 * ldc, t20, t21, ncols, colBias, z, act, resRow(r, 2, ldc));
  if (R > 3) finishRow(c + 3 * ldc, t30, t31, ncols, colBias, z, act, resRow(r, 3, ldc));
}

function kernel4x8(a0: usize, a1: usize, a2: usize, a3: usize, aCs: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  tileRx8(4, a0, a1, a2, a3, aCs, b, bRs, K, c, ldc, ncols, colBias, act, r);
}
function kernel3x8(a0: usize, a1: usize, a2: usize, aCs: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  tileRx8(3, a0, a1, a2, a2, aCs, b, bRs, K, c, ldc, ncols, colBias, act, r);
}
function kernel2x8(a0: usize, a1: usize, aCs: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  tileRx8(2, a0, a1, a1, a1, aCs, b, bRs, K, c, ldc, ncols, colBias, act, r);
}
function kernel1x8r(a0: usize, aCs: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  tileRx8(1, a0, a0, a0, a0, aCs, b, bRs, K, c, ldc, ncols, colBias, act, r);
}

// Conv flavour: A is a packed 4-row panel (the 4 values of step k are adjacent), so one pointer with constant
// offsets replaces four; the bias is per row (output channel). NC (8 or 4, a compile-time constant at every call)
// columns: the 4-wide instance serves a last block of at most 4 columns (a 7×7 map has 49 = 6·8 + 1), computing half
// the lanes of the 8-wide one with the same operations per element, so the bits do not depend on which one ran.
// @ts-ignore: decorator
@inline function tile4xNp(NC: i32, a: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, nrows: i32, ncols: i32, rowBias: usize, act: i32, r: usize): void {
  let t00 = f32x4.splat(0.0), t01 = f32x4.splat(0.0);
  let t10 = f32x4.splat(0.0), t11 = f32x4.splat(0.0);
  let t20 = f32x4.splat(0.0), t21 = f32x4.splat(0.0);
  let t30 = f32x4.splat(0.0), t31 = f32x4.splat(0.0);
  for (let k0 = 0; k0 < K; k0 += KB) {
    const kb = min(KB, K - k0);
    let c00 = f32x4.splat(0.0), c01 = f32x4.splat(0.0);
    let c10 = f32x4.splat(0.0), c11 = f32x4.splat(0.0);
    let c20 = f32x4.splat(0.0), c21 = f32x4.splat(0.0);
    let c30 = f32x4.splat(0.0), c31 = f32x4.splat(0.0);
    for (let k = 0; k < kb; k++) {
      const b0 = v128.load(b);
      const b1 = NC > 4 ? v128.load(b, 16) : b0;
      let s = v128.load32_splat(a);
      c00 = madd(s, b0, c00);
      if (NC > 4) c01 = madd(s, b1, c01);
      s = v128.load32_splat(a, 4);
      c10 = madd(s, b0, c10);
      if (NC > 4) c11 = madd(s, b1, c11);
      s = v128.load32_splat(a, 8);
      c20 = madd(s, b0, c20);
      if (NC > 4) c21 = madd(s, b1, c21);
      s = v128.load32_splat(a, 12);
      c30 = madd(s, b0, c30);
      if (NC > 4) c31 = madd(s, b1, c31);
      a += 16;
      b += bRs;
    }
    t00 = f32x4.add(t00, c00); t10 = f32x4.add(t10, c10);
    t20 = f32x4.add(t20, c20); t30 = f32x4.add(t30, c30);
    if (NC > 4) {
      t01 = f32x4.add(t01, c01); t11 = f32x4.add(t11, c11);
      t21 = f32x4.add(t21, c21); t31 = f32x4.add(t31, c31);
    }
  }
  finishRow(c, t00, t01, ncols, 0, rowBiasV(rowBias, 0), act, r);
  if (nrows > 1) finishRow(c + ldc, t10, t11, ncols, 0, rowBiasV(rowBias, 1), act, resRow(r, 1, ldc));
  if (nrows > 2) finishRow(c + 2 * ldc, t20, t21, ncols, 0, rowBiasV(rowBias, 2), act, resRow(r, 2, ldc));
  if (nrows > 3) finishRow(c + 3 * ldc, t30, t31, ncols, 0, rowBiasV(rowBias, 3), act, resRow(r, 3, ldc));
}

function kernel4x8p(a: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, nrows: i32, ncols: i32, rowBias: usize, act: i32, r: usize): void {
  tile4xNp(8, a, b, bRs, K, c, ldc, nrows, ncols, rowBias, act, r);
}
function kernel4x4p(a: usize, b: usize, bRs: usize, K: i32,
  c: usize, ldc: usize, nrows: i32, ncols: i32, rowBias: usize, act: i32, r: usize): void {
  tile4xNp(4, a, b, bRs, K, c, ldc, nrows, ncols, rowBias, act, r);
}

// 4 rows × 1 column, for a last block of 1–3 columns (a 7×7 map: 49 = 6·8 + 1): the packed panel's 4 values of
// step k are one vector, so the rows are the lanes and a column costs one load, one broadcast and one multiply-add
// per k, a quarter of a 4-wide tile. Every element gets tile4xNp's operations in its order (a·b = b·a), and its
// epilogue's (the row bias or +0, relu/relu6, the residual), so the bits are the same.
function kernel4x1p(a: usize, b: usize, bRs: usize, K: i32, c: usize, ldc: usize, nrows: i32, rowBias: usize,
  act: i32, r: usize): void {
  let t = f32x4.splat(0.0);
  for (let k0 = 0; k0 < K; k0 += KB) {
    const kb = min(KB, K - k0);
    let acc = f32x4.splat(0.0);
    for (let k = 0; k < kb; k++) {
      acc = madd(v128.load32_splat(b), v128.load(a), acc);
      a += 16;
      b += bRs;
    }
    t = f32x4.add(t, acc);
  }
  storeColumn4(c, ldc, nrows, clampAct(f32x4.add(t, rowBias != 0 ? loadN(rowBias, nrows) : f32x4.splat(0.0)), act), r);
}

/** Stores lane i of v (+ the residual's element, r ≠ 0) as row i of one output column: rows ldc bytes apart. */
// @ts-ignore: decorator
@inline export function storeColumn4(c: usize, ldc: usize, nrows: i32, v: v128, r: usize): void {
  if (r != 0) {
    let rv = v128.load32_zero(r);
    if (nrows > 1) rv = v128.load32_lane(r + ldc, rv, 1);
    if (nrows > 2) rv = v128.load32_lane(r + 2 * ldc, rv, 2);
    if (nrows > 3) rv = v128.load32_lane(r + 3 * ldc, rv, 3);
    v = f32x4.add(v, rv);
  }
  v128.store32_lane(c, v, 0);
  if (nrows > 1) v128.store32_lane(c + ldc, v, 1);
  if (nrows > 2) v128.store32_lane(c + 2 * ldc, v, 2);
  if (nrows > 3) v128.store32_lane(c + 3 * ldc, v, 3);
}

// One row (GEMV, M == 1) × 8 columns: 4-way unrolled over k into independent accumulators so the adds are not
// latency bound (this shape is memory bound on the weight anyway); blocked like the 4×8 kernel.
function kernel1x8(a: usize, b: usize, K: i32, c: usize, ncols: i32, colBias: usize, act: i32, r: usize): void {
  let s0 = f32x4.splat(0.0), s1 = f32x4.splat(0.0);
  const K4 = K & ~3;
  for (let k0 = 0; k0 < K4; k0 += KB) {
    const kend = min(K4, k0 + KB);
    let p0 = f32x4.splat(0.0), p1 = f32x4.splat(0.0);
    let q0 = f32x4.splat(0.0), q1 = f32x4.splat(0.0);
    let r0 = f32x4.splat(0.0), r1 = f32x4.splat(0.0);
    let t0 = f32x4.splat(0.0), t1 = f32x4.splat(0.0);
    for (let k = k0; k < kend; k += 4) {
      let s = v128.load32_splat(a);
      p0 = madd(s, v128.load(b), p0);
      p1 = madd(s, v128.load(b, 16), p1);
      s = v128.load32_splat(a, 4);
      q0 = madd(s, v128.load(b, 32), q0);
      q1 = madd(s, v128.load(b, 48), q1);
      s = v128.load32_splat(a, 8);
      r0 = madd(s, v128.load(b, 64), r0);
      r1 = madd(s, v128.load(b, 80), r1);
      s = v128.load32_splat(a, 12);
      t0 = madd(s, v128.load(b, 96), t0);
      t1 = madd(s, v128.load(b, 112), t1);
      a += 16;
      b += 128;
    }
    s0 = f32x4.add(s0, f32x4.add(f32x4.add(p0, q0), f32x4.add(r0, t0)));
    s1 = f32x4.add(s1, f32x4.add(f32x4.add(p1, q1), f32x4.add(r1, t1)));
  }
  for (let k = K4; k < K; k++) {
    const s = v128.load32_splat(a);
    s0 = madd(s, v128.load(b), s0);
    s1 = madd(s, v128.load(b, 16), s1);
    a += 4;
    b += 32;
  }
  finishRow(c, s0, s1, ncols, colBias, f32x4.splat(0.0), act, r);
}

// ---------------------------------------------------------------------------------------------------------------
// linear

/** Bytes of the packed `[N, K]` weight: ceil(N/8) panels of K×8 floats. */
export function linear_packed_bytes(K: i32, N: i32): i32 {
  return ((N + GEMM_NR - 1) / GEMM_NR) * GEMM_NR * K * 4;
}

/** packed[(p·K + k)·8 + j] = w[(8p + j)·K + k], zero past N. */
export function linear_pack(w: usize, packed: usize, K: i32, N: i32): void {
  const panels = (N + GEMM_NR - 1) / GEMM_NR;
  for (let p = 0; p < panels; p++) {
    const cols = min(GEMM_NR, N - p * GEMM_NR);
    const src = w + (<usize>(p * GEMM_NR) * <usize>K << 2);
    const dst = packed + (<usize>p * <usize>K * GEMM_NR << 2);
    for (let k = 0; k < K; k++) {
      const d = dst + (<usize>(k * GEMM_NR) << 2);
      for (let j = 0; j < GEMM_NR; j++) {
        const v: f32 = j < cols ? load<f32>(src + ((<usize>j * <usize>K + <usize>k) << 2)) : 0;
        store<f32>(d + (<usize>j << 2), v);
      }
    }
  }
}

/**
 * out[M,N] = act(x[M,K] · wᵀ + b) + res. `b` = 0 means no bias, `res` ([M,N], must not overlap out) = 0 no residual.
 */
export function linear(x: usize, packed: usize, b: usize, out: usize, M: i32, K: i32, N: i32, act: i32, res: usize): void {
  if (M <= 0 || N <= 0) return;
  // with GELU the residual is added after the GELU pass, which runs over stored blocks
  const rt: usize = act == 3 ? 0 : res;
  const panels = (N + GEMM_NR - 1) / GEMM_NR;
  const panelBytes = <usize>K * GEMM_NR << 2;
  const xRow = <usize>K << 2;
  const ldc = <usize>N << 2;
  if (M == 1) {
    for (let p = 0; p < panels; p++) {
      const j = p * GEMM_NR;
      kernel1x8(x, packed + <usize>p * panelBytes, K, out + (<usize>j << 2), min(GEMM_NR, N - j),
        b != 0 ? b + (<usize>j << 2) : 0, act, rt != 0 ? rt + (<usize>j << 2) : 0);
    }
    if (act == 3) {
      gelu(out, out, N);
      if (res != 0) add(out, res, out, N);
    }
    return;
  }
  for (let i0 = 0; i0 < M; i0 += MC) {
    const i1 = min(M, i0 + MC);
    for (let p = 0; p < panels; p++) {
      const j = p * GEMM_NR;
      const ncols = min(GEMM_NR, N - j);
      const bp = packed + <usize>p * panelBytes;
      const cb = b != 0 ? b + (<usize>j << 2) : 0;
      for (let i = i0; i < i1; i += 4) {
        const nrows = min(4, i1 - i);
        const a0 = x + <usize>i * xRow;
        const tile = <usize>i * ldc + (<usize>j << 2);
        const c = out + tile, r = rt != 0 ? rt + tile : 0, bs: usize = GEMM_NR << 2;
        if (nrows == 4) kernel4x8(a0, a0 + xRow, a0 + 2 * xRow, a0 + 3 * xRow, 4, bp, bs, K, c, ldc, ncols, cb, act, r);
        else if (nrows == 3) kernel3x8(a0, a0 + xRow, a0 + 2 * xRow, 4, bp, bs, K, c, ldc, ncols, cb, act, r);
        else if (nrows == 2) kernel2x8(a0, a0 + xRow, 4, bp, bs, K, c, ldc, ncols, cb, act, r);
        else kernel1x8r(a0, 4, bp, bs, K, c, ldc, ncols, cb, act, r);
      }
    }
    // The MC×N block just written is contiguous and still in cache.
    if (act == 3) {
      const blk = <usize>i0 * ldc;
      gelu(out + blk, out + blk, (i1 - i0) * N);
      if (res != 0) add(out + blk, res + blk, out + blk, (i1 - i0) * N);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Weight-on-the-left GEMM used by conv: C[R, Ncols] = act(A[R, K] · B[K, Ncols] + rowBias), A packed in 4-row
// panels (pack_rows4), B row-major with row stride ldb floats. With tail ≠ 0 a final partial column block is copied
// (zero padded) into `tail` (K × 8 floats) so the kernel never reads past B's rows; tail = 0 means B's rows are
// readable up to a multiple of 8 columns (the im2col chunks are padded so).

/** Bytes of a 4-row panel packing of an [R, K] matrix. */
export function pack_rows4_bytes(R: i32, K: i32): i32 {
  return ((R + 3) >> 2) * 4 * K * 4;
}

/** packed[(p·K + k)·4 + i] = a[(4p + i)·lda + k], zero for rows ≥ R. `lda` in floats. */
export function pack_rows4(a: usize, lda: i32, packed: usize, R: i32, K: i32): void {
  const panels = (R + 3) >> 2;
  for (let p = 0; p < panels; p++) {
    const rows = min(4, R - p * 4);
    const dst = packed + (<usize>p * <usize>K * 4 << 2);
    for (let k = 0; k < K; k++) {
      const d = dst + (<usize>(k * 4) << 2);
      for (let i = 0; i < 4; i++) {
        const v: f32 = i < rows ? load<f32>(a + ((<usize>(p * 4 + i) * <usize>lda + <usize>k) << 2)) : 0;
        store<f32>(d + (<usize>i << 2), v);
      }
    }
  }
}

export function gemm_packed_a(apacked: usize, B: usize, ldb: i32, c: usize, ldc: i32, R: i32, K: i32, Ncols: i32,
  rowBias: usize, act: i32, tail: usize, res: usize): void {
  if (R <= 0 || Ncols <= 0) return;
  const rt: usize = act == 3 ? 0 : res; // with GELU the residual follows the GELU pass
  const panels = (R + 3) >> 2;
  const aPanel = <usize>K * 4 << 2;
  const bRs = <usize>ldb << 2;
  const cRs = <usize>ldc << 2;
  const full = Ncols & ~7;
  // MC rows of A (MC/4 panels) stay in L2 while the column blocks of B sweep over them.
  const pc = MC >> 2;
  for (let p0 = 0; p0 < panels; p0 += pc) {
    const p1 = min(panels, p0 + pc);
    for (let j = 0; j < Ncols; j += GEMM_NR) {
      let bp = B + (<usize>j << 2);
      let bs = bRs;
      const ncols = min(GEMM_NR, Ncols - j);
      if (j >= full && tail != 0) {
        // Zero-padded copy of the last partial block, so no read goes past the end of B's rows.
        for (let k = 0; k < K; k++) {
          const src = bp + <usize>k * bRs;
          const dst = tail + (<usize>(k * GEMM_NR) << 2);
          v128.store(dst, f32x4.splat(0.0));
          v128.store(dst, f32x4.splat(0.0), 16);
          for (let q = 0; q < ncols; q++) store<f32>(dst + (<usize>q << 2), load<f32>(src + (<usize>q << 2)));
        }
        bp = tail;
        bs = GEMM_NR << 2;
      }
      for (let p = p0; p < p1; p++) {
        const i = p * 4;
        const tile = <usize>i * cRs + (<usize>j << 2);
        const ap = apacked + <usize>p * aPanel, rb = rowBias != 0 ? rowBias + (<usize>i << 2) : 0, r = rt != 0 ? rt + tile : 0;
        if (ncols > 4) kernel4x8p(ap, bp, bs, K, c + tile, cRs, min(4, R - i), ncols, rb, act, r);
        else if (ncols == 4) kernel4x4p(ap, bp, bs, K, c + tile, cRs, min(4, R - i), ncols, rb, act, r);
        else {
          for (let q = 0; q < ncols; q++) {
            const qo = <usize>q << 2;
            kernel4x1p(ap, bp + qo, bs, K, c + tile + qo, cRs, min(4, R - i), rb, act, r != 0 ? r + qo : 0);
          }
        }
      }
    }
    if (act == 3) {
      const r0 = p0 * 4, r1 = min(R, p1 * 4);
      const c0 = c + <usize>r0 * cRs;
      if (ldc == Ncols) {
        gelu(c0, c0, (r1 - r0) * Ncols);
        if (res != 0) add(c0, res + <usize>r0 * cRs, c0, (r1 - r0) * Ncols);
      } else {
        for (let r = r0; r < r1; r++) {
          gelu(c + <usize>r * cRs, c + <usize>r * cRs, Ncols);
          if (res != 0) add(c + <usize>r * cRs, res + <usize>r * cRs, c + <usize>r * cRs, Ncols);
        }
      }
    }
  }
}

/** Bias (per row, 0 = none) + activation over a contiguous [rows, cols] block in place (direct conv paths). */
export function bias_act_rows(c: usize, rows: i32, cols: i32, rowBias: usize, act: i32): void {
  const clamp = act == 3 ? 0 : act;
  if (rowBias != 0 || clamp != 0) {
    for (let r = 0; r < rows; r++) {
      const rb = rowBias != 0 ? v128.load32_splat(rowBias + (<usize>r << 2)) : f32x4.splat(0.0);
      const row = c + (<usize>r * <usize>cols << 2);
      let q = 0;
      for (; q + 4 <= cols; q += 4) {
        const p = row + (<usize>q << 2);
        v128.store(p, clampAct(f32x4.add(v128.load(p), rb), clamp));
      }
      if (q < cols) {
        const p = row + (<usize>q << 2);
        storeN(p, clampAct(f32x4.add(loadN(p, cols - q), rb), clamp), cols - q);
      }
    }
  }
  if (act == 3) gelu(c, c, rows * cols);
}
