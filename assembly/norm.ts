// Row normalization (see docs/KERNELS.md): layernorm. `out` may equal `x`: every pass reads an element before it
// writes the same element, and the passes that only read come first.

import { madd } from './simd';

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
      qv = madd(c, c, qv);
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
      v128.store(or + off, madd(c, v128.load(g + off), v128.load(b + off)));
    }
    for (let i = d4; i < D; i++) {
      const off = <usize>i << 2;
      const c = ((load<f32>(xr + off) - mhi) - mlo) * rstd;
      store<f32>(or + off, c * load<f32>(g + off) + load<f32>(b + off));
    }
  }
}
