// Elementwise kernels (see docs/KERNELS.md): relu, relu6, gelu, add, embed, seqmean.
// Every loop runs 4 lanes of f32x4 at a time and finishes the n % 4 tail with scalars that do the same arithmetic, so
// a result never depends on where an element sits. `out` may equal an input: each element is read before it is written
// and nothing else reads it afterwards.

// ---------------------------------------------------------------------------------------------------------------------
// GELU, erf form: gelu(x) = 0.5·x·erfc(−x/√2), f32x4, relative error < 1e−6 for every output in the f32 normal range.
//
// Writing it through erfc instead of 1 + erf keeps the relative accuracy for negative x, where 1 + erf cancels
// (gelu(−9) ≈ −1e−18). With a = |x|/√2: erfc(a) = exp(−a²)·erfcx(a), and erfc(−a) = 2 − erfc(a) covers x > 0 (no
// cancellation: it lies in [1, 2]).
//  - erfcx(a)·(a + 3) is smooth and stays in [0.7, 3], so after t = (a − 3)/(a + 3) (mapping [0, ∞) to [−1, 1)) a
//    degree-9 polynomial in t fits it to 3e−9 relative error on a ∈ [0, 11]; its f32 Horner evaluation stays within
//    1.2e−7. The coefficients were fitted here (weighted least squares against a 40-digit erfcx).
//  - exp(−a²) is where naive f32 loses: a² rounded to f32 is off by up to 4e−6 absolute at x = −9, i.e. a 4e−6 relative
//    error after exp. So x² is formed exactly as hi + lo (Dekker's split; wasm has no fma) and lo joins the reduced
//    argument. 2^k is applied as two factors so results below the f32 normal range underflow gradually instead of
//    wrapping the exponent.
//  - |x| is clamped to 15.5 (a ≤ 11, the fitted range); below x = −15.5 the result has underflowed and is −0, above
//    +15.5 erfc(−a) is 2 to f32 precision, so gelu(x) = x.
// The tail of the kernel and `gelu_scalar` run the same vector code on a partly filled vector, so every path gives the
// same bits for the same x (a GEMM with fused GELU matches this kernel exactly).
// ---------------------------------------------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline const ERFCX_L: f32 = 3.0;
// @ts-ignore: decorator
@inline const AX_MAX: f32 = 15.5;
// @ts-ignore: decorator
@inline const INV_SQRT2: f32 = 0.7071067811865476;
// 2^12 + 1: multiplying by it splits an f32 into 12 high and 12 low significant bits (Dekker).
// @ts-ignore: decorator
@inline const SPLIT: f32 = 4097.0;
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

// exp: y = k·ln2 + r, |r| ≲ ln2/2, e^r by its Taylor series to r⁷ (truncation < 1e−8). LN2_HI has 16 significant bits,
// so k·LN2_HI is exact for |k| < 2^8. Adding 1.5·2^23 rounds y·log2(e) to the nearest integer and leaves it in the
// low mantissa bits (k = bits − 0x4B400000).
// @ts-ignore: decorator
@inline const LOG2E: f32 = 1.4426950408889634;
// @ts-ignore: decorator
@inline const LN2_HI: f32 = 0.693145751953125;
// @ts-ignore: decorator
@inline const LN2_LO: f32 = 1.4286068203094173e-6;
// @ts-ignore: decorator
@inline const ROUND_SHIFT: f32 = 12582912.0;
// @ts-ignore: decorator
@inline const ROUND_SHIFT_BITS: i32 = 0x4b400000;

// @ts-ignore: decorator
@inline function fma4(p: v128, t: v128, c: f32): v128 {
  return f32x4.add(f32x4.mul(p, t), f32x4.splat(c));
}

// @ts-ignore: decorator
@inline function gelu4(x: v128): v128 {
  const ax = f32x4.min(f32x4.abs(x), f32x4.splat(AX_MAX));

  // erfcx(a) = H(t)/(a + 3)
  const a = f32x4.mul(ax, f32x4.splat(INV_SQRT2));
  const L = f32x4.splat(ERFCX_L);
  const inv = f32x4.div(f32x4.splat(1), f32x4.add(a, L));
  const t = f32x4.mul(f32x4.sub(a, L), inv);
  let h = f32x4.splat(H9);
  h = fma4(h, t, H8);
  h = fma4(h, t, H7);
  h = fma4(h, t, H6);
  h = fma4(h, t, H5);
  h = fma4(h, t, H4);
  h = fma4(h, t, H3);
  h = fma4(h, t, H2);
  h = fma4(h, t, H1);
  h = fma4(h, t, H0);

  // −a² = −x²/2 = y + dy exactly
  const c = f32x4.mul(ax, f32x4.splat(SPLIT));
  const xh = f32x4.sub(c, f32x4.sub(c, ax));
  const xl = f32x4.sub(ax, xh);
  const hi = f32x4.mul(ax, ax);
  const lo = f32x4.add(f32x4.add(f32x4.sub(f32x4.mul(xh, xh), hi), f32x4.mul(f32x4.add(xh, xh), xl)), f32x4.mul(xl, xl));
  const half = f32x4.splat(-0.5);
  const y = f32x4.mul(hi, half);
  const dy = f32x4.mul(lo, half);

  // exp(y + dy) = e^r · 2^k1 · 2^k2
  const kb = f32x4.add(f32x4.mul(y, f32x4.splat(LOG2E)), f32x4.splat(ROUND_SHIFT));
  const k = f32x4.sub(kb, f32x4.splat(ROUND_SHIFT));
  const r = f32x4.add(f32x4.sub(f32x4.sub(y, f32x4.mul(k, f32x4.splat(LN2_HI))), f32x4.mul(k, f32x4.splat(LN2_LO))), dy);
  let e = f32x4.splat(<f32>1.984126984126984e-4);
  e = fma4(e, r, <f32>1.388888888888889e-3);
  e = fma4(e, r, <f32>8.333333333333333e-3);
  e = fma4(e, r, <f32>4.1666666666666664e-2);
  e = fma4(e, r, <f32>0.16666666666666666);
  e = fma4(e, r, 0.5);
  e = fma4(e, r, 1.0);
  e = fma4(e, r, 1.0);
  const ki = i32x4.sub(kb, i32x4.splat(ROUND_SHIFT_BITS));
  const k1 = i32x4.shr_s(ki, 1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(k1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(i32x4.sub(ki, k1), bias), 23);

  // erfc(a) = e·h·inv·2^k; for x < 0 fold 0.5·x in before the 2^k scaling so only the last multiply can underflow
  const m = f32x4.mul(f32x4.mul(e, h), inv);
  const hx = f32x4.mul(x, f32x4.splat(0.5));
  const neg = f32x4.mul(f32x4.mul(f32x4.mul(hx, m), s1), s2);
  const pos = f32x4.mul(hx, f32x4.sub(f32x4.splat(2), f32x4.mul(f32x4.mul(m, s1), s2)));
  const g = v128.bitselect(pos, neg, f32x4.gt(x, f32x4.splat(0)));
  return v128.bitselect(f32x4.splat(-0.0), g, f32x4.lt(x, f32x4.splat(-AX_MAX)));
}

/** GELU (erf form) of one value: the same bits as the `gelu` kernel gives for it, for fused activations. */
export function gelu_scalar(x: f32): f32 {
  return f32x4.extract_lane(gelu4(f32x4.splat(x)), 0);
}

export function gelu(x: usize, out: usize, n: i32): void {
  let i = 0;
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
