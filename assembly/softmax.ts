// Softmax of one row, for the exit head (norm.ts) and attention (attention.ts). Not a kernel of its own: index.ts does
// not export this module, since the op set has no softmax op.

import { LOG2E, LN2_HI, LN2_LO, ROUND_SHIFT, expTaylor4 } from './simd-math';

// ---------------------------------------------------------------------------------------------------------------------
// exp for softmax, f32x4. Arguments are x − max ≤ 0. y = k·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r⁷
// (expTaylor4 in simd-math.ts), 2^k written into the exponent bits. Below −87.33 the result would be subnormal (a
// probability < 1e−38 next to the max's 1): it is flushed to exactly 0, which is also what −∞ (a hidden attention key)
// gives. NaN stays NaN.
// ---------------------------------------------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline const EXP_MIN: f32 = -87.33;

// The constants sit in a static table read with v128 loads: as f32x4.splat literals they become v128.const inside the
// loop, which V8 rebuilds from immediates at every use (several instructions each); a load is one instruction.
const EC = memory.data<f32>([
  LOG2E, LOG2E, LOG2E, LOG2E,
  ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT, ROUND_SHIFT,
  LN2_HI, LN2_HI, LN2_HI, LN2_HI,
  LN2_LO, LN2_LO, LN2_LO, LN2_LO,
  EXP_MIN, EXP_MIN, EXP_MIN, EXP_MIN,
], 16);
const EXP_BIAS = memory.data<i32>([127, 127, 127, 127], 16);

// @ts-ignore: decorator
@inline function ec(i: i32): v128 {
  return v128.load(EC + <usize>(i << 4));
}

/**
 * exp(x − m) for x ≤ m. x − m is split exactly into y + dy (TwoSum): an f32 difference of values far apart rounds
 * by up to half an ulp of |y| ≤ 88, which would be a 5e−6 relative error in the result; dy joins the reduced argument.
 * The polynomial runs in Estrin form (r², r⁴): a dependency chain of 3 multiply-adds instead of 7.
 */
// @ts-ignore: decorator
@inline function expDiff4(x: v128, m: v128): v128 {
  const nm = f32x4.neg(m);
  const y = f32x4.add(x, nm);
  const yb = f32x4.sub(y, x);
  const dy = f32x4.add(f32x4.sub(x, f32x4.sub(y, yb)), f32x4.sub(nm, yb));
  const shift = ec(1);
  const kb = f32x4.add(f32x4.mul(y, ec(0)), shift);
  const k = f32x4.sub(kb, shift);
  const r = f32x4.add(f32x4.sub(y, f32x4.mul(k, ec(2))), f32x4.sub(dy, f32x4.mul(k, ec(3))));
  const p = expTaylor4(r);
  const scale = i32x4.shl(i32x4.add(kb, v128.load(EXP_BIAS)), 23);
  return v128.andnot(f32x4.mul(p, scale), f32x4.lt(y, ec(4)));
}

/** expDiff4 on x_a and x_b with the instructions interleaved (same bits per lane), stored to out and out + 16. */
// @ts-ignore: decorator
@inline function expDiff4x2(x_a: v128, x_b: v128, m: v128, out: usize): void {
  const nm = f32x4.neg(m);
  const y_a = f32x4.add(x_a, nm);
  const y_b = f32x4.add(x_b, nm);
  const yb_a = f32x4.sub(y_a, x_a);
  const yb_b = f32x4.sub(y_b, x_b);
  const dy_a = f32x4.add(f32x4.sub(x_a, f32x4.sub(y_a, yb_a)), f32x4.sub(nm, yb_a));
  const dy_b = f32x4.add(f32x4.sub(x_b, f32x4.sub(y_b, yb_b)), f32x4.sub(nm, yb_b));
  const shift = ec(1);
  const kb_a = f32x4.add(f32x4.mul(y_a, ec(0)), shift);
  const kb_b = f32x4.add(f32x4.mul(y_b, ec(0)), shift);
  const k_a = f32x4.sub(kb_a, shift);
  const k_b = f32x4.sub(kb_b, shift);
  const r_a = f32x4.add(f32x4.sub(y_a, f32x4.mul(k_a, ec(2))), f32x4.sub(dy_a, f32x4.mul(k_a, ec(3))));
  const r_b = f32x4.add(f32x4.sub(y_b, f32x4.mul(k_b, ec(2))), f32x4.sub(dy_b, f32x4.mul(k_b, ec(3))));
  const p_a = expTaylor4(r_a);
  const p_b = expTaylor4(r_b);
  const scale_a = i32x4.shl(i32x4.add(kb_a, v128.load(EXP_BIAS)), 23);
  const scale_b = i32x4.shl(i32x4.add(kb_b, v128.load(EXP_BIAS)), 23);
  v128.store(out, v128.andnot(f32x4.mul(p_a, scale_a), f32x4.lt(y_a, ec(4))));
  v128.store(out, v128.andnot(f32x4.mul(p_b, scale_b), f32x4.lt(y_b, ec(4))), 16);
}

/** Loads x[0..rem) (rem 1..3) into the low lanes of a vector whose other lanes are `fill`. */
// @ts-ignore: decorator
@inline function loadTail(p: usize, rem: i32, fill: f32): v128 {
  let v = f32x4.splat(fill);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (rem > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (rem > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

// @ts-ignore: decorator
@inline function storeTail(p: usize, v: v128, rem: i32): void {
  v128.store32_lane(p, v, 0);
  if (rem > 1) v128.store32_lane(p, v, 1, 4);
  if (rem > 2) v128.store32_lane(p, v, 2, 8);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  const s = f32x4.add(v, i64x2.shuffle(v, v, 1, 0));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

// @ts-ignore: decorator
@inline function hmax(v: v128): f32 {
  const s = f32x4.max(v, i64x2.shuffle(v, v, 1, 0));
  return max<f32>(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1));
}

/** Softmax of one row of N values (stable: the row max is subtracted first). */
export function softmaxRow(x: usize, out: usize, N: i32): void {
  const n4 = N & ~3;
  const rem = N & 3;
  const tail = <usize>n4 << 2;
  // pmax is one instruction (max needs a NaN fix-up sequence in V8). A NaN it skips still reaches the sum below as
  // exp(NaN − m) = NaN, so a row with a NaN is all NaN either way.
  let mv = f32x4.splat(-Infinity);
  for (let i = 0; i < n4; i += 4) mv = f32x4.pmax(mv, v128.load(x + (<usize>i << 2)));
  if (rem) mv = f32x4.pmax(mv, loadTail(x + tail, rem, -Infinity));
  const m = f32x4.splat(hmax(mv));

  // Lanes past the row are −∞, so they contribute exp = 0 to the sum.
  let sv = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n4; i += 8) {
    const off = <usize>i << 2;
    expDiff4x2(v128.load(x + off), v128.load(x + off, 16), m, out + off);
    sv = f32x4.add(sv, v128.load(out + off));
    sv = f32x4.add(sv, v128.load(out + off, 16));
  }
  if (i < n4) {
    const off = <usize>i << 2;
    const e = expDiff4(v128.load(x + off), m);
    v128.store(out + off, e);
    sv = f32x4.add(sv, e);
  }
  if (rem) {
    const e = expDiff4(loadTail(x + tail, rem, -Infinity), m);
    storeTail(out + tail, e, rem);
    sv = f32x4.add(sv, e);
  }
  // one reciprocal and a multiply per element (≤ 1 ulp more than a divide, far cheaper)
  const inv = f32x4.splat(<f32>1 / hsum(sv));
  for (let i = 0; i < n4; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(out + off), inv));
  }
  if (rem) storeTail(out + tail, f32x4.mul(loadTail(out + tail, rem, 0), inv), rem);
}
