// Elementwise kernels (see docs/KERNELS.md): relu, relu6, gelu, add, embed, seqmean.
// Every loop runs 4 lanes of f32x4 at a time and finishes the n % 4 tail with scalars that do the same arithmetic, so
// a result never depends on where an element sits. `out` may equal an input: each element is read before it is written
// and nothing else reads it afterwards.

import { LOG2E, LN2_HI, LN2_LO, ROUND_SHIFT, fmaV, expTaylor4 } from './simd-math';

// ---------------------------------------------------------------------------------------------------------------------
// GELU, erf form: gelu(x) = 0.5·x·erfc(−x/√2), f32x4, relative error < 1e−6 for every output in the f32 normal range.
//
// Writing it through erfc instead of 1 + erf keeps the relative accuracy for negative x, where 1 + erf cancels
// (gelu(−9) ≈ −1e−18). With a = |x|/√2: erfc(a) = exp(−a²)·erfcx(a), and erfc(−a) = 2 − erfc(a) covers x > 0 (no
// cancellation: it lies in [1, 2]).
//  - erfcx(a)·(a + 3) is smooth and stays in [0.7, 3], so after t = (a − 3)/(a + 3) (mapping [0, ∞) to [−1, 1)) a
//    degree-9 polynomial in t fits it to 3e−9 relative error on a ∈ [0, 11]; evaluated in f32 (Estrin form, below) the
//    whole gelu stays within 5e−7 relative on a dense sweep of −15.5..15.5. The coefficients were fitted here
//    (weighted least squares against a 40-digit erfcx).
//  - exp(−a²) is where naive f32 loses: a² rounded to f32 is off by up to 4e−6 absolute at x = −9, i.e. a 4e−6 relative
//    error after exp. So x² is formed exactly as hi + lo (|x| split into a 12-bit head, whose square is exact, and the
//    rest; wasm has no fma) and lo joins the reduced argument. 2^k is applied as two factors so results below the f32 normal range underflow gradually instead of
//    wrapping the exponent.
//  - |x| is clamped to 15.5 (a ≤ 11, the fitted range); below x = −15.5 the result has underflowed and is −0, above
//    +15.5 erfc(−a) is 2 to f32 precision, so gelu(x) = x.
// The tail of the kernel runs the same vector code on a partly filled vector, so every path gives the
// same bits for the same x (a GEMM with fused GELU matches this kernel exactly).
// ---------------------------------------------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline const ERFCX_L: f32 = 3.0;
// @ts-ignore: decorator
@inline const AX_MAX: f32 = 15.5;
// @ts-ignore: decorator
@inline const INV_SQRT2: f32 = 0.7071067811865476;
// (a + 3)·erfcx(a) at a = 3(1 + t)/(1 − t) ≈ Σ H_i tⁱ
// @ts-ignore: decorator
@inline const H0: f32 = 1.0740069150924683;
// @ts-ignore: decorator
@inline const H1: f32 = -0.8833944797515869;
// @ts-ignore: decorator
@inline const H2: f32 = 0.590228259563446;
// @ts-ignore: decorator
@inline const H3: f32 = -0.3104657232761383;
// @ts-ignore: decorator
@inline const H4: f32 = 0.11952996999025345;
// @ts-ignore: decorator
@inline const H5: f32 = -0.026841601356863976;
// @ts-ignore: decorator
@inline const H6: f32 = -0.0012314539635553956;
// @ts-ignore: decorator
@inline const H7: f32 = 0.003081963397562504;
// @ts-ignore: decorator
@inline const H8: f32 = -0.00047405564691871405;
// @ts-ignore: decorator
@inline const H9: f32 = -0.0003205353859812021;

// exp: y = k·ln2 + r, e^r by expTaylor4 (simd-math.ts, with the reduction constants). k = bits(kb) − ROUND_SHIFT's bits.
// @ts-ignore: decorator
@inline const ROUND_SHIFT_BITS: i32 = 0x4b400000;

// The constants live in one static table read with plain v128 loads. Written as f32x4.splat of literals they become
// v128.const in the loop body, which V8 rebuilds from immediates on every use (several instructions per constant,
// ~30 constants); a 16-byte load is one instruction and hits L1.
// @ts-ignore: decorator
@inline const G_ONE = 0;
// @ts-ignore: decorator
@inline const G_AXMAX = 16;
// @ts-ignore: decorator
@inline const G_INVSQRT2 = 32;
// @ts-ignore: decorator
@inline const G_L = 48;
// @ts-ignore: decorator
@inline const G_H = 64; // H0..H9 at G_H + 16·i
// @ts-ignore: decorator
@inline const G_MHALF = 240;
// @ts-ignore: decorator
@inline const G_LOG2E = 256;
// @ts-ignore: decorator
@inline const G_SHIFT = 272;
// @ts-ignore: decorator
@inline const G_LN2HI = 288;
// @ts-ignore: decorator
@inline const G_LN2LO = 304;
// @ts-ignore: decorator
@inline const G_HALF = 320;
// @ts-ignore: decorator
@inline const G_TWO = 336;
// @ts-ignore: decorator
@inline const G_NAXMAX = 352;
// @ts-ignore: decorator
@inline const G_NZERO = 368;

// the integer constants of the exponent arithmetic: ROUND_SHIFT's bits, then the f32 exponent bias
const GI = memory.data<i32>([
  ROUND_SHIFT_BITS, ROUND_SHIFT_BITS, ROUND_SHIFT_BITS, ROUND_SHIFT_BITS, 127, 127, 127, 127,
  -4096, -4096, -4096, -4096, // 0xFFFFF000: keeps the top 12 significant bits
], 16);

const GC = memory.data<f32>([
  1.0, 1.0, 1.0, 1.0,
  AX_MAX, AX_MAX, AX_MAX, AX_MAX,
  INV_SQRT2, INV_SQRT2, INV_SQRT2, INV_SQRT2,
  ERFCX_L, ERFCX_L, ERFCX_L, ERFCX_L,
  H0, H0, H0, H0, H1, H1, H1, H1, H2, H2, H2, H2, H3, H3, H3, H3, H4, H4, H4, H4,
  H5, H5, H5, H5, H6, H6, H6, H6, H7, H7, H7, H7, H8, H8, H8, H8, H9, H9, H9, H9,
  0, 0, 0, 0, // free slot (keeps the offsets above)
  -0.5, -0.5, -0.5, -0.5,
  LOG2E, LOG2E, LOG2E, LOG2E,
  ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT,
  LN2_HI, LN2_HI, LN2_HI, LN2_HI,
  LN2_LO, LN2_LO, LN2_LO, LN2_LO,
  0.5, 0.5, 0.5, 0.5,
  2.0, 2.0, 2.0, 2.0,
  -AX_MAX, -AX_MAX, -AX_MAX, -AX_MAX,
  -0.0, -0.0, -0.0, -0.0,
], 16);

// @ts-ignore: decorator
@inline function gc(off: i32): v128 {
  return v128.load(GC + <usize>off);
}

// Both polynomials are evaluated in Estrin form (pairs, then t², t⁴, t⁸): the same terms as Horner but a dependency
// chain of ~4 multiply-adds instead of 9, so consecutive vectors overlap in the CPU instead of waiting on each other.
// @ts-ignore: decorator
@inline function gelu4(x: v128): v128 {
  // pmin is one instruction (min needs a NaN fix-up sequence in V8); NaN in x stays NaN: 15.5 < NaN is false.
  const ax = f32x4.pmin(f32x4.abs(x), gc(G_AXMAX));

  // erfcx(a) = H(t)/(a + 3)
  const a = f32x4.mul(ax, gc(G_INVSQRT2));
  const L = gc(G_L);
  const inv = f32x4.div(gc(G_ONE), f32x4.add(a, L));
  const t = f32x4.mul(f32x4.sub(a, L), inv);
  const t2 = f32x4.mul(t, t);
  const t4 = f32x4.mul(t2, t2);
  const t8 = f32x4.mul(t4, t4);
  const h01 = fmaV(gc(G_H + 16), t, gc(G_H));
  const h23 = fmaV(gc(G_H + 48), t, gc(G_H + 32));
  const h45 = fmaV(gc(G_H + 80), t, gc(G_H + 64));
  const h67 = fmaV(gc(G_H + 112), t, gc(G_H + 96));
  const h89 = fmaV(gc(G_H + 144), t, gc(G_H + 128));
  const h03 = fmaV(h23, t2, h01);
  const h47 = fmaV(h67, t2, h45);
  const h = fmaV(fmaV(h89, t4, h47), t4, h03);

  // −a² = −x²/2 = y + dy: xh (|x| with its low 12 mantissa bits cleared) has 12 significant bits, so y = −xh²/2 is
  // exact; xl = |x| − xh is exact too, and dy = −xl·(xh + |x|)/2 (≤ 2^−11·|y|) only needs its own f32 rounding.
  const xh = v128.and(ax, v128.load(GI, 32));
  const xl = f32x4.sub(ax, xh);
  const half = gc(G_MHALF);
  const y = f32x4.mul(xh, f32x4.mul(xh, half));
  const dy = f32x4.mul(xl, f32x4.mul(f32x4.add(xh, ax), half));

  // exp(y + dy) = e^r · 2^k1 · 2^k2
  const shift = gc(G_SHIFT);
  const kb = f32x4.add(f32x4.mul(y, gc(G_LOG2E)), shift);
  const k = f32x4.sub(kb, shift);
  const r = f32x4.add(f32x4.sub(f32x4.sub(y, f32x4.mul(k, gc(G_LN2HI))), f32x4.mul(k, gc(G_LN2LO))), dy);
  const e = expTaylor4(r);
  const ki = i32x4.sub(kb, v128.load(GI));
  const k1 = i32x4.shr_s(ki, 1);
  const bias = v128.load(GI, 16);
  const s1 = i32x4.shl(i32x4.add(k1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ki, k1), bias), 23);

  // erfc(a) = e·h·inv·2^k; for x < 0, 0.5·x·2^k1 (normal) is folded in first so only the last multiply can underflow
  const m = f32x4.mul(e, f32x4.mul(h, inv));
  const hx = f32x4.mul(x, gc(G_HALF));
  const neg = f32x4.mul(f32x4.mul(m, f32x4.mul(hx, s1)), s2);
  const pos = f32x4.mul(hx, f32x4.sub(gc(G_TWO), f32x4.mul(m, f32x4.mul(s1, s2))));
  const g = v128.bitselect(pos, neg, f32x4.gt(x, f32x4.splat(0)));
  return v128.bitselect(gc(G_NZERO), g, f32x4.lt(x, gc(G_NAXMAX)));
}

/**
 * gelu4 on two vectors (x_a, x_b) with their instructions interleaved, generated from gelu4 statement by statement, so
 * each lane gets exactly gelu4's bits. V8 keeps the wasm instruction order, and one gelu4 is a ~60-cycle dependency
 * chain that the CPU only partly overlaps with the next; two independent chains side by side fill the gaps
 * (~12 % faster than one vector per step, where Estrin over Horner gave ~20 %).
 */
// @ts-ignore: decorator
@inline function gelu4x2(x_a: v128, x_b: v128, out: usize): void {
  // pmin is one instruction (min needs a NaN fix-up sequence in V8); NaN in x stays NaN: 15.5 < NaN is false.
  const ax_a = f32x4.pmin(f32x4.abs(x_a), gc(G_AXMAX));
  const ax_b = f32x4.pmin(f32x4.abs(x_b), gc(G_AXMAX));

  // erfcx(a) = H(t)/(a + 3)
  const a_a = f32x4.mul(ax_a, gc(G_INVSQRT2));
  const a_b = f32x4.mul(ax_b, gc(G_INVSQRT2));
  const L_a = gc(G_L);
  const L_b = gc(G_L);
  const inv_a = f32x4.div(gc(G_ONE), f32x4.add(a_a, L_a));
  const inv_b = f32x4.div(gc(G_ONE), f32x4.add(a_b, L_b));
  const t_a = f32x4.mul(f32x4.sub(a_a, L_a), inv_a);
  const t_b = f32x4.mul(f32x4.sub(a_b, L_b), inv_b);
  const t2_a = f32x4.mul(t_a, t_a);
  const t2_b = f32x4.mul(t_b, t_b);
  const t4_a = f32x4.mul(t2_a, t2_a);
  const t4_b = f32x4.mul(t2_b, t2_b);
  const t8_a = f32x4.mul(t4_a, t4_a);
  const t8_b = f32x4.mul(t4_b, t4_b);
  const h01_a = fmaV(gc(G_H + 16), t_a, gc(G_H));
  const h01_b = fmaV(gc(G_H + 16), t_b, gc(G_H));
  const h23_a = fmaV(gc(G_H + 48), t_a, gc(G_H + 32));
  const h23_b = fmaV(gc(G_H + 48), t_b, gc(G_H + 32));
  const h45_a = fmaV(gc(G_H + 80), t_a, gc(G_H + 64));
  const h45_b = fmaV(gc(G_H + 80), t_b, gc(G_H + 64));
  const h67_a = fmaV(gc(G_H + 112), t_a, gc(G_H + 96));
  const h67_b = fmaV(gc(G_H + 112), t_b, gc(G_H + 96));
  const h89_a = fmaV(gc(G_H + 144), t_a, gc(G_H + 128));
  const h89_b = fmaV(gc(G_H + 144), t_b, gc(G_H + 128));
  const h03_a = fmaV(h23_a, t2_a, h01_a);
  const h03_b = fmaV(h23_b, t2_b, h01_b);
  const h47_a = fmaV(h67_a, t2_a, h45_a);
  const h47_b = fmaV(h67_b, t2_b, h45_b);
  const h_a = fmaV(fmaV(h89_a, t4_a, h47_a), t4_a, h03_a);
  const h_b = fmaV(fmaV(h89_b, t4_b, h47_b), t4_b, h03_b);

  // −a² = −x²/2 = y + dy: xh (|x| with its low 12 mantissa bits cleared) has 12 significant bits, so y = −xh²/2 is
  // exact; xl = |x| − xh is exact too, and dy = −xl·(xh + |x|)/2 (≤ 2^−11·|y|) only needs its own f32 rounding.
  const xh_a = v128.and(ax_a, v128.load(GI, 32));
  const xh_b = v128.and(ax_b, v128.load(GI, 32));
  const xl_a = f32x4.sub(ax_a, xh_a);
  const xl_b = f32x4.sub(ax_b, xh_b);
  const half_a = gc(G_MHALF);
  const half_b = gc(G_MHALF);
  const y_a = f32x4.mul(xh_a, f32x4.mul(xh_a, half_a));
  const y_b = f32x4.mul(xh_b, f32x4.mul(xh_b, half_b));
  const dy_a = f32x4.mul(xl_a, f32x4.mul(f32x4.add(xh_a, ax_a), half_a));
  const dy_b = f32x4.mul(xl_b, f32x4.mul(f32x4.add(xh_b, ax_b), half_b));

  // exp(y + dy) = e^r · 2^k1 · 2^k2
  const shift_a = gc(G_SHIFT);
  const shift_b = gc(G_SHIFT);
  const kb_a = f32x4.add(f32x4.mul(y_a, gc(G_LOG2E)), shift_a);
  const kb_b = f32x4.add(f32x4.mul(y_b, gc(G_LOG2E)), shift_b);
  const k_a = f32x4.sub(kb_a, shift_a);
  const k_b = f32x4.sub(kb_b, shift_b);
  const r_a = f32x4.add(f32x4.sub(f32x4.sub(y_a, f32x4.mul(k_a, gc(G_LN2HI))), f32x4.mul(k_a, gc(G_LN2LO))), dy_a);
  const r_b = f32x4.add(f32x4.sub(f32x4.sub(y_b, f32x4.mul(k_b, gc(G_LN2HI))), f32x4.mul(k_b, gc(G_LN2LO))), dy_b);
  const e_a = expTaylor4(r_a);
  const e_b = expTaylor4(r_b);
  const ki_a = i32x4.sub(kb_a, v128.load(GI));
  const ki_b = i32x4.sub(kb_b, v128.load(GI));
  const k1_a = i32x4.shr_s(ki_a, 1);
  const k1_b = i32x4.shr_s(ki_b, 1);
  const bias_a = v128.load(GI, 16);
  const bias_b = v128.load(GI, 16);
  const s1_a = i32x4.shl(i32x4.add(k1_a, bias_a), 23);
  const s1_b = i32x4.shl(i32x4.add(k1_b, bias_b), 23);
  const s2_a = i32x4.shl(i32x4.add(i32x4.sub(ki_a, k1_a), bias_a), 23);
  const s2_b = i32x4.shl(i32x4.add(i32x4.sub(ki_b, k1_b), bias_b), 23);

  // erfc(a) = e·h·inv·2^k; for x < 0, 0.5·x·2^k1 (normal) is folded in first so only the last multiply can underflow
  const m_a = f32x4.mul(e_a, f32x4.mul(h_a, inv_a));
  const m_b = f32x4.mul(e_b, f32x4.mul(h_b, inv_b));
  const hx_a = f32x4.mul(x_a, gc(G_HALF));
  const hx_b = f32x4.mul(x_b, gc(G_HALF));
  const neg_a = f32x4.mul(f32x4.mul(m_a, f32x4.mul(hx_a, s1_a)), s2_a);
  const neg_b = f32x4.mul(f32x4.mul(m_b, f32x4.mul(hx_b, s1_b)), s2_b);
  const pos_a = f32x4.mul(hx_a, f32x4.sub(gc(G_TWO), f32x4.mul(m_a, f32x4.mul(s1_a, s2_a))));
  const pos_b = f32x4.mul(hx_b, f32x4.sub(gc(G_TWO), f32x4.mul(m_b, f32x4.mul(s1_b, s2_b))));
  const g_a = v128.bitselect(pos_a, neg_a, f32x4.gt(x_a, f32x4.splat(0)));
  const g_b = v128.bitselect(pos_b, neg_b, f32x4.gt(x_b, f32x4.splat(0)));
  v128.store(out, v128.bitselect(gc(G_NZERO), g_a, f32x4.lt(x_a, gc(G_NAXMAX))));
  v128.store(out, v128.bitselect(gc(G_NZERO), g_b, f32x4.lt(x_b, gc(G_NAXMAX))), 16);
}

export function gelu(x: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const off = <usize>i << 2;
    gelu4x2(v128.load(x + off), v128.load(x + off, 16), out + off);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, gelu4(v128.load(x + off)));
  }
  const rem = n - i;
  if (rem > 0) {
    const p = x + (<usize>i << 2);
    const o = out + (<usize>i << 2);
    let v = f32x4.splat(0);
    v = f32x4.replace_lane(v, 0, load<f32>(p));
    if (rem > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
    if (rem > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
    const g = gelu4(v);
    v128.store32_lane(o, g, 0);
    if (rem > 1) v128.store32_lane(o, g, 1, 4);
    if (rem > 2) v128.store32_lane(o, g, 2, 8);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

export function relu(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.max(v128.load(x + off), zero));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, max<f32>(load<f32>(x + off), 0));
  }
}

export function relu6(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const six = f32x4.splat(6);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.min(f32x4.max(v128.load(x + off), zero), six));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, min<f32>(max<f32>(load<f32>(x + off), 0), 6));
  }
}

export function add(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

/** out[t] = tok[ids[t]] + pos[t], rows of D; ids (i32) are validated by the host. */
export function embed(ids: usize, T: i32, tok: usize, pos: usize, D: i32, out: usize): void {
  const rowBytes = <usize>D << 2;
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    add(tok + <usize>id * rowBytes, pos + <usize>t * rowBytes, out + <usize>t * rowBytes, D);
  }
}

/**
 * out[d] = mean over t of x[t, d]. Columns go 4 at a time down all T rows, so out may equal x: out[d..d+3] is written
 * only after every read of those columns, and x[0, d..d+3] is never read again.
 */
export function seqmean(x: usize, out: usize, T: i32, D: i32): void {
  const rowBytes = <usize>D << 2;
  const tv = f32x4.splat(<f32>T);
  let d = 0;
  for (; d + 4 <= D; d += 4) {
    let p = x + (<usize>d << 2);
    let acc = f32x4.splat(0);
    for (let t = 0; t < T; t++) {
      acc = f32x4.add(acc, v128.load(p));
      p += rowBytes;
    }
    v128.store(out + (<usize>d << 2), f32x4.div(acc, tv));
  }
  for (; d < D; d++) {
    let p = x + (<usize>d << 2);
    let acc: f32 = 0;
    for (let t = 0; t < T; t++) {
      acc += load<f32>(p);
      p += rowBytes;
    }
    store<f32>(out + (<usize>d << 2), acc / <f32>T);
  }
}
