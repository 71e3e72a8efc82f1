// Row normalizations (see docs/KERNELS.md): layernorm, softmax, exit_head. `out` may equal `x` in all of them: every
// pass reads an element before it writes the same element, and the passes that only read come first.

// ---------------------------------------------------------------------------------------------------------------------
// exp for softmax, f32x4. Arguments are x − max ≤ 0. y = k·ln2 + r with |r| ≤ ln2/2, e^r by its Taylor series to r⁷
// (truncation < 1e−8, below f32 rounding), 2^k written into the exponent bits. Below −87.33 the result would be
// subnormal (a probability < 1e−38 next to the max's 1): it is flushed to exactly 0, which is also what −∞ (a hidden
// attention key) gives. NaN stays NaN.
// ---------------------------------------------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline const LOG2E: f32 = 1.4426950408889634;
// LN2_HI has 16 significant bits, so k·LN2_HI is exact for the |k| ≤ 126 that matter.
// @ts-ignore: decorator
@inline const LN2_HI: f32 = 0.693145751953125;
// @ts-ignore: decorator
@inline const LN2_LO: f32 = 1.4286068203094173e-6;
// 1.5·2^23: adding it rounds to the nearest integer and leaves that integer in the low mantissa bits.
// @ts-ignore: decorator
@inline const ROUND_SHIFT: f32 = 12582912.0;
// @ts-ignore: decorator
@inline const EXP_MIN: f32 = -87.33;

// @ts-ignore: decorator
@inline function fma4(p: v128, r: v128, c: f32): v128 {
  return f32x4.add(f32x4.mul(p, r), f32x4.splat(c));
}

/**
 * exp(x − m) for x ≤ m. x − m is split exactly into y + dy (TwoSum): an f32 difference of values far apart rounds
 * by up to half an ulp of |y| ≤ 88, which would be a 5e−6 relative error in the result; dy joins the reduced argument.
 */
// @ts-ignore: decorator
@inline function expDiff4(x: v128, m: v128): v128 {
  const nm = f32x4.neg(m);
  const y = f32x4.add(x, nm);
  const yb = f32x4.sub(y, x);
  const dy = f32x4.add(f32x4.sub(x, f32x4.sub(y, yb)), f32x4.sub(nm, yb));
  const shift = f32x4.splat(ROUND_SHIFT);
  const kb = f32x4.add(f32x4.mul(y, f32x4.splat(LOG2E)), shift);
  const k = f32x4.sub(kb, shift);
  const r = f32x4.add(f32x4.sub(f32x4.sub(y, f32x4.mul(k, f32x4.splat(LN2_HI))), f32x4.mul(k, f32x4.splat(LN2_LO))), dy);
  let p = f32x4.splat(<f32>1.984126984126984e-4);
  p = fma4(p, r, <f32>1.388888888888889e-3);
  p = fma4(p, r, <f32>8.333333333333333e-3);
  p = fma4(p, r, <f32>4.1666666666666664e-2);
  p = fma4(p, r, <f32>0.16666666666666666);
  p = fma4(p, r, 0.5);
  p = fma4(p, r, 1.0);
  p = fma4(p, r, 1.0);
  const scale = i32x4.shl(i32x4.add(kb, i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, scale), f32x4.lt(y, f32x4.splat(EXP_MIN)));
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
function softmaxRow(x: usize, out: usize, N: i32): void {
  const n4 = N & ~3;
  const rem = N & 3;
  const tail = <usize>n4 << 2;
  let mv = f32x4.splat(-Infinity);
  for (let i = 0; i < n4; i += 4) mv = f32x4.max(mv, v128.load(x + (<usize>i << 2)));
  if (rem) mv = f32x4.max(mv, loadTail(x + tail, rem, -Infinity));
  const m = f32x4.splat(hmax(mv));

  // Lanes past the row are −∞, so they contribute exp = 0 to the sum.
  let sv = f32x4.splat(0);
  for (let i = 0; i < n4; i += 4) {
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
  const s = f32x4.splat(hsum(sv));

  for (let i = 0; i < n4; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.div(v128.load(out + off), s));
  }
  if (rem) storeTail(out + tail, f32x4.div(loadTail(out + tail, rem, 0), s), rem);
}

/** Softmax over the last dimension of [rows, N]. */
export function softmax(x: usize, out: usize, rows: i32, N: i32): void {
  const rowBytes = <usize>N << 2;
  for (let r = 0; r < rows; r++) softmaxRow(x + <usize>r * rowBytes, out + <usize>r * rowBytes, N);
}

/**
 * Softmax of N logits into probs, returns the label: the argmax of probs, lowest index on ties (probs that round to the
 * same f32 tie even when their logits differ, so the label is taken from what the host reads back).
 */
export function exit_head(logits: usize, probs: usize, N: i32): i32 {
  softmaxRow(logits, probs, N);
  let best = 0;
  let bestP = load<f32>(probs);
  for (let i = 1; i < N; i++) {
    const p = load<f32>(probs + (<usize>i << 2));
    if (p > bestP) { bestP = p; best = i; }
  }
  return best;
}

/**
 * LayerNorm over the last dimension of [rows, D]: (x − mean)/√(var + eps)·g + b with the biased variance (PyTorch).
 * Two passes (mean, then Σ(x − mean)²) so a large common offset does not cancel the variance away. The mean is summed
 * in f64 and kept as an f32 pair (hi + lo): x − hi is exact for x near the mean, so the centered
 * values keep full f32 precision even when the spread is tiny next to the offset (x = −3 ± 0.01).
 */
export function layernorm(x: usize, g: usize, b: usize, out: usize, rows: i32, D: i32, eps: f32): void {
  const rowBytes = <usize>D << 2;
  const d4 = D & ~3;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes;
    const or = out + <usize>r * rowBytes;

    // the sum in f64 lanes: an f32 sum of values near a large offset loses the small spread (x = −3 ± 0.01)
    let sa = f64x2.splat(0), sb = f64x2.splat(0);
    for (let i = 0; i < d4; i += 4) {
      const v = v128.load(xr + (<usize>i << 2));
      sa = f64x2.add(sa, f64x2.promote_low_f32x4(v));
      sb = f64x2.add(sb, f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 1)));
    }
    const st = f64x2.add(sa, sb);
    let s: f64 = f64x2.extract_lane(st, 0) + f64x2.extract_lane(st, 1);
    for (let i = d4; i < D; i++) s += <f64>load<f32>(xr + (<usize>i << 2));
    const meanD = s / <f64>D;
    const mhi = <f32>meanD;
    const mlo = <f32>(meanD - <f64>mhi);
    const hv = f32x4.splat(mhi);
    const lv = f32x4.splat(mlo);

    let qv = f32x4.splat(0);
    for (let i = 0; i < d4; i += 4) {
      const c = f32x4.sub(f32x4.sub(v128.load(xr + (<usize>i << 2)), hv), lv);
      qv = f32x4.add(qv, f32x4.mul(c, c));
    }
    let q: f64 = <f64>f32x4.extract_lane(qv, 0) + <f64>f32x4.extract_lane(qv, 1)
      + <f64>f32x4.extract_lane(qv, 2) + <f64>f32x4.extract_lane(qv, 3);
    for (let i = d4; i < D; i++) {
      const c = (load<f32>(xr + (<usize>i << 2)) - mhi) - mlo;
      q += <f64>(c * c);
    }
    const rstd = <f32>(1.0 / Math.sqrt(q / <f64>D + <f64>eps));
    const rv = f32x4.splat(rstd);

    for (let i = 0; i < d4; i += 4) {
      const off = <usize>i << 2;
      const c = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(xr + off), hv), lv), rv);
      v128.store(or + off, f32x4.add(f32x4.mul(c, v128.load(g + off)), v128.load(b + off)));
    }
    for (let i = d4; i < D; i++) {
      const off = <usize>i << 2;
      const c = ((load<f32>(xr + off) - mhi) - mlo) * rstd;
      store<f32>(or + off, c * load<f32>(g + off) + load<f32>(b + off));
    }
  }
}
