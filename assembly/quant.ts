// Int8 quantization of an offloaded activation (see docs/KERNELS.md): minmax gives the range the transport codec
// picks its scale and zero point from, quantize_i8 the bytes, so only a quarter of the activation leaves WASM memory.
//
// quantize: q = clamp(roundHalfEven(x/scale) + zp, −128, 127). The quotient is taken in f64: for f32 x and scale it is
// then never rounded onto or across a .5 boundary, so ties are exactly the true ties and the result equals the exact
// mathematical one (an f32 quotient can round 2.4999999 up to 2.5 and then to even). NaN quantizes to zp (value 0).
// zeroPoint must lie in [−2^30, 2^30] (the host passes [−128, 127]).

// @ts-ignore: decorator
@inline const QCLAMP: f64 = 65536.0;

/** roundHalfEven(x/scale) for 4 lanes, clamped to ±65536, as i32x4 (NaN lanes give 0). */
// @ts-ignore: decorator
@inline function round4(v: v128, sd: v128): v128 {
  const lim = f64x2.splat(QCLAMP);
  const nlim = f64x2.splat(-QCLAMP);
  let lo = f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(v), sd));
  let hi = f64x2.nearest(f64x2.div(f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 1)), sd));
  lo = f64x2.max(f64x2.min(lo, lim), nlim);
  hi = f64x2.max(f64x2.min(hi, lim), nlim);
  return i64x2.shuffle(i32x4.trunc_sat_f64x2_s_zero(lo), i32x4.trunc_sat_f64x2_s_zero(hi), 0, 2);
}

/** Saturating narrow of 4 i32 lanes to i8 (this is the clamp to [−128, 127]). */
// @ts-ignore: decorator
@inline function narrow4(v: v128): v128 {
  const h = i16x8.narrow_i32x4_s(v, v);
  return i8x16.narrow_i16x8_s(h, h);
}

function quantizeRun(x: usize, q: usize, n: i32, scale: f32, zp: i32): void {
  const sd = f64x2.splat(<f64>scale);
  const zv = i32x4.splat(zp);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    const a = i32x4.add(round4(v128.load(p), sd), zv);
    const b = i32x4.add(round4(v128.load(p, 16), sd), zv);
    const c = i32x4.add(round4(v128.load(p, 32), sd), zv);
    const d = i32x4.add(round4(v128.load(p, 48), sd), zv);
    v128.store(q + <usize>i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
  }
  for (; i + 4 <= n; i += 4) {
    v128.store32_lane(q + <usize>i, narrow4(i32x4.add(round4(v128.load(x + (<usize>i << 2)), sd), zv)), 0);
  }
  // The last 1..3 values go through the same vector arithmetic, one lane each.
  for (; i < n; i++) {
    const v = f32x4.splat(load<f32>(x + (<usize>i << 2)));
    v128.store8_lane(q + <usize>i, narrow4(i32x4.add(round4(v, sd), zv)), 0);
  }
}

export function quantize_i8(x: usize, q: usize, n: i32, scale: f32, zeroPoint: i32): void {
  quantizeRun(x, q, n, scale, zeroPoint);
}

/** out[0] = min, out[1] = max of x[0..n); NaN propagates; n = 0 gives +∞, −∞. */
export function minmax(x: usize, n: i32, out: usize): void {
  let lo = f32x4.splat(Infinity);
  let hi = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    lo = f32x4.min(lo, v);
    hi = f32x4.max(hi, v);
  }
  let mn = min<f32>(min<f32>(f32x4.extract_lane(lo, 0), f32x4.extract_lane(lo, 1)),
    min<f32>(f32x4.extract_lane(lo, 2), f32x4.extract_lane(lo, 3)));
  let mx = max<f32>(max<f32>(f32x4.extract_lane(hi, 0), f32x4.extract_lane(hi, 1)),
    max<f32>(f32x4.extract_lane(hi, 2), f32x4.extract_lane(hi, 3)));
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    mn = min<f32>(mn, v);
    mx = max<f32>(mx, v);
  }
  store<f32>(out, mn);
  store<f32>(out, mx, 4);
}
