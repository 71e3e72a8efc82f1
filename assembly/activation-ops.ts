// Elementwise activations beyond relu/relu6/gelu (see docs/KERNELS.md): sigmoid, tanh, gelu_tanh, hardsigmoid(α, β),
// hardswish, clip(lo, hi). `out` may equal `x`. Every loop runs f32x4 and finishes the n % 4 tail on a partly filled
// vector with the same code, so a result never depends on where an element sits.
//
// Accuracy (f32 normal range): sigmoid and gelu_tanh never subtract two values close to each other: σ(z) is 1/(1+e)
// for z ≥ 0 and e/(1+e) below, with e = e^−|z| ≤ 1; gelu_tanh(x) = ½x(1 + tanh u) is written as x·σ(2u), which is
// the same function without the cancellation of 1 + tanh u for negative x. tanh goes through expm1, formed without
// the constant term, so tanh(x) keeps its relative accuracy down to the smallest x.

import { LOG2E, LN2_HI, LN2_LO, ROUND_SHIFT, expTaylor4, fmaV } from './simd-math';

// @ts-ignore: decorator
@inline const ROUND_SHIFT_BITS: i32 = 0x4b400000;
// e^−y is computed for y ≤ EXP_MIN only: below e^−104 even a subnormal f32 rounds to 0.
// @ts-ignore: decorator
@inline const EXP_MIN: f32 = 104.0;
// tanh(9.5) rounds to 1 in f32
// @ts-ignore: decorator
@inline const TANH_MAX: f32 = 9.5;
// 2·√(2/π) and 2·√(2/π)·0.044715: 2u = x·(GT1 + GT3·x²)
// @ts-ignore: decorator
@inline const GT1: f32 = 1.5957691216057308;
// @ts-ignore: decorator
@inline const GT3: f32 = 0.07135481627159168;

// Constants as a static table of splatted lanes (one v128 load each; see the note in elementwise.ts).
// @ts-ignore: decorator
@inline const A_ONE = 0;
// @ts-ignore: decorator
@inline const A_LOG2E = 16;
// @ts-ignore: decorator
@inline const A_SHIFT = 32;
// @ts-ignore: decorator
@inline const A_LN2HI = 48;
// @ts-ignore: decorator
@inline const A_LN2LO = 64;
// @ts-ignore: decorator
@inline const A_NEXPMIN = 80;
// @ts-ignore: decorator
@inline const A_TANHMAX = 96;
// @ts-ignore: decorator
@inline const A_M2 = 112;
// @ts-ignore: decorator
@inline const A_TWO = 128;
// @ts-ignore: decorator
@inline const A_GT1 = 144;
// @ts-ignore: decorator
@inline const A_GT3 = 160;
// @ts-ignore: decorator
@inline const A_SIGN = 176;
// @ts-ignore: decorator
@inline const A_Q = 192; // expm1's polynomial, 1/2! … 1/7! at A_Q + 16·i

const AC = memory.data<f32>([
  1.0, 1.0, 1.0, 1.0,
  LOG2E, LOG2E, LOG2E, LOG2E,
  ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT,
  LN2_HI, LN2_HI, LN2_HI, LN2_HI,
  LN2_LO, LN2_LO, LN2_LO, LN2_LO,
  -EXP_MIN, -EXP_MIN, -EXP_MIN, -EXP_MIN,
  TANH_MAX, TANH_MAX, TANH_MAX, TANH_MAX,
  -2.0, -2.0, -2.0, -2.0,
  2.0, 2.0, 2.0, 2.0,
  GT1, GT1, GT1, GT1,
  GT3, GT3, GT3, GT3,
  -0.0, -0.0, -0.0, -0.0,
  0.5, 0.5, 0.5, 0.5,
  0.16666666666666666, 0.16666666666666666, 0.16666666666666666, 0.16666666666666666,
  4.1666666666666664e-2, 4.1666666666666664e-2, 4.1666666666666664e-2, 4.1666666666666664e-2,
  8.333333333333333e-3, 8.333333333333333e-3, 8.333333333333333e-3, 8.333333333333333e-3,
  1.388888888888889e-3, 1.388888888888889e-3, 1.388888888888889e-3, 1.388888888888889e-3,
  1.984126984126984e-4, 1.984126984126984e-4, 1.984126984126984e-4, 1.984126984126984e-4,
], 16);

// @ts-ignore: decorator
@inline function ac(off: i32): v128 {
  return v128.load(AC + <usize>off);
}

// y = k·ln2 + r with k = round(y·log2 e): kb holds k in its low mantissa bits (simd-math.ts), r is the reduced
// argument and 2^k (a normal f32 for −87 ≤ y ≤ 87: expm1's range) is built from k's bits.
// @ts-ignore: decorator
@inline function roundK(y: v128): v128 {
  return fmaV(y, ac(A_LOG2E), ac(A_SHIFT));
}
// @ts-ignore: decorator
@inline function reduced(y: v128, kb: v128): v128 {
  const kf = f32x4.sub(kb, ac(A_SHIFT));
  return f32x4.sub(f32x4.sub(y, f32x4.mul(kf, ac(A_LN2HI))), f32x4.mul(kf, ac(A_LN2LO)));
}
// @ts-ignore: decorator
@inline function pow2(kb: v128): v128 {
  return i32x4.shl(i32x4.add(i32x4.sub(kb, i32x4.splat(ROUND_SHIFT_BITS)), i32x4.splat(127)), 23);
}

/**
 * e^y for y ≤ 0 (NaN stays NaN). 2^k is applied as two normal factors, so results below the f32 normal range
 * (y < −87.3) underflow gradually; below −104 (past the smallest subnormal) the result is exactly 0.
 */
// @ts-ignore: decorator
@inline function expNeg4(y: v128): v128 {
  const yc = f32x4.pmax(y, ac(A_NEXPMIN));
  const kb = roundK(yc);
  const k = i32x4.sub(kb, i32x4.splat(ROUND_SHIFT_BITS));
  const k1 = i32x4.shr_s(k, 1);
  const s1 = i32x4.shl(i32x4.add(k1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(k, k1), i32x4.splat(127)), 23);
  const e = f32x4.mul(f32x4.mul(expTaylor4(reduced(yc, kb)), s1), s2);
  return v128.andnot(e, f32x4.lt(y, ac(A_NEXPMIN)));
}

/** σ(z) = 1/(1 + e^−z), from e = e^−|z| ≤ 1 on both sides: no cancellation. */
// @ts-ignore: decorator
@inline function sigmoid4(z: v128): v128 {
  const e = expNeg4(f32x4.neg(f32x4.abs(z)));
  const d = f32x4.div(ac(A_ONE), f32x4.add(ac(A_ONE), e));
  return v128.bitselect(f32x4.mul(e, d), d, f32x4.lt(z, f32x4.splat(0)));
}

/** e^y − 1 for −19 ≤ y ≤ 0: 2^k·(e^r − 1) + (2^k − 1), with e^r − 1 = r·(1 + r/2! + … + r⁶/7!) (no 1 − 1). */
// @ts-ignore: decorator
@inline function expm1Neg4(y: v128): v128 {
  const kb = roundK(y);
  const r = reduced(y, kb);
  const pow2k = pow2(kb);
  const r2 = f32x4.mul(r, r);
  const r4 = f32x4.mul(r2, r2);
  const q01 = fmaV(ac(A_Q), r, ac(A_ONE));
  const q23 = fmaV(ac(A_Q + 32), r, ac(A_Q + 16));
  const q45 = fmaV(ac(A_Q + 64), r, ac(A_Q + 48));
  const q = fmaV(fmaV(ac(A_Q + 80), r2, q45), r4, fmaV(q23, r2, q01));
  const p = f32x4.mul(r, q);
  return f32x4.add(f32x4.mul(pow2k, p), f32x4.sub(pow2k, ac(A_ONE)));
}

/** tanh(x) = sign(x)·(−m)/(m + 2), m = e^−2|x| − 1. */
// @ts-ignore: decorator
@inline function tanh4(x: v128): v128 {
  const a = f32x4.pmin(f32x4.abs(x), ac(A_TANHMAX));
  const m = expm1Neg4(f32x4.mul(a, ac(A_M2)));
  const t = f32x4.div(f32x4.neg(m), f32x4.add(m, ac(A_TWO)));
  return v128.or(t, v128.and(x, ac(A_SIGN)));
}

/** max(0, min(1, α·x + β)); NaN stays NaN (pmin/pmax return their first operand when a comparison fails). */
// @ts-ignore: decorator
@inline function hardsigmoid4(x: v128, alpha: v128, beta: v128): v128 {
  return f32x4.pmax(f32x4.pmin(fmaV(x, alpha, beta), ac(A_ONE)), f32x4.splat(0));
}

// @ts-ignore: decorator
@inline const K_SIGMOID = 0;
// @ts-ignore: decorator
@inline const K_TANH = 1;
// @ts-ignore: decorator
@inline const K_GELU_TANH = 2;
// @ts-ignore: decorator
@inline const K_HARDSIGMOID = 3;
// @ts-ignore: decorator
@inline const K_HARDSWISH = 4;
// @ts-ignore: decorator
@inline const K_CLIP = 5;

// @ts-ignore: decorator
@inline function apply4(kind: i32, v: v128, p: v128, q: v128): v128 {
  if (kind == K_SIGMOID) return sigmoid4(v);
  if (kind == K_TANH) return tanh4(v);
  if (kind == K_GELU_TANH) return f32x4.mul(v, sigmoid4(f32x4.mul(v, fmaV(f32x4.mul(v, v), ac(A_GT3), ac(A_GT1)))));
  if (kind == K_HARDSIGMOID) return hardsigmoid4(v, p, q);
  if (kind == K_HARDSWISH) return f32x4.mul(v, hardsigmoid4(v, p, q));
  return f32x4.pmin(f32x4.pmax(v, p), q); // clip: max first, then min (ONNX's order when lo > hi)
}

// @ts-ignore: decorator
@inline function map(kind: i32, x: usize, out: usize, n: i32, p: f32, q: f32): void {
  const pv = f32x4.splat(p), qv = f32x4.splat(q);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, apply4(kind, v128.load(x + off), pv, qv));
  }
  const rem = n - i;
  if (rem > 0) {
    const px = x + (<usize>i << 2);
    const po = out + (<usize>i << 2);
    let v = f32x4.splat(0);
    v = f32x4.replace_lane(v, 0, load<f32>(px));
    if (rem > 1) v = f32x4.replace_lane(v, 1, load<f32>(px, 4));
    if (rem > 2) v = f32x4.replace_lane(v, 2, load<f32>(px, 8));
    const y = apply4(kind, v, pv, qv);
    v128.store32_lane(po, y, 0);
    if (rem > 1) v128.store32_lane(po, y, 1, 4);
    if (rem > 2) v128.store32_lane(po, y, 2, 8);
  }
}

export function sigmoid(x: usize, out: usize, n: i32): void { map(K_SIGMOID, x, out, n, 0, 0); }
export function tanh(x: usize, out: usize, n: i32): void { map(K_TANH, x, out, n, 0, 0); }
export function gelu_tanh(x: usize, out: usize, n: i32): void { map(K_GELU_TANH, x, out, n, 0, 0); }
export function hardsigmoid(x: usize, out: usize, n: i32, alpha: f32, beta: f32): void { map(K_HARDSIGMOID, x, out, n, alpha, beta); }
/** x·max(0, min(1, x/6 + ½)) (ONNX HardSwish: α = 1/6, β = ½). */
export function hardswish(x: usize, out: usize, n: i32): void { map(K_HARDSWISH, x, out, n, <f32>(1.0 / 6.0), 0.5); }
export function clip(x: usize, out: usize, n: i32, lo: f32, hi: f32): void { map(K_CLIP, x, out, n, lo, hi); }
