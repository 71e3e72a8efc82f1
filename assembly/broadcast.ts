// Broadcast kernels (see docs/KERNELS.md): affine (x·w + b with w, b per channel or per feature) and mul (elementwise
// product of two tensors of one shape). `out` may equal `x` / `a`. Every element is computed as one f32 multiply
// then one f32 add (x·1 + b is x + b exactly), in SIMD and scalar code alike, so a result never depends on where an
// element sits.

/**
 * x viewed as [outer, C, inner]: out[o, c, i] = x[o, c, i]·w[c] + b[c]. `w` = 0: no scale (1); `b` = 0: no shift (0).
 * [C, H, W] per channel is (1, C, H·W); [T, D] per feature is (T, D, 1); a single value for everything is (1, 1, n).
 */
export function affine(x: usize, w: usize, b: usize, out: usize, outer: i32, C: i32, inner: i32): void {
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  if (inner == 1) {
    // per feature: vectors run along C, the weights are loaded alongside
    for (let o = 0; o < outer; o++) {
      const row = <usize>o * <usize>C << 2;
      let c = 0;
      for (; c + 4 <= C; c += 4) {
        const off = <usize>c << 2;
        const wv = w ? v128.load(w + off) : one;
        const bv = b ? v128.load(b + off) : zero;
        v128.store(out + row + off, f32x4.add(f32x4.mul(v128.load(x + row + off), wv), bv));
      }
      for (; c < C; c++) {
        const off = <usize>c << 2;
        const s: f32 = w ? load<f32>(w + off) : 1;
        const t: f32 = b ? load<f32>(b + off) : 0;
        store<f32>(out + row + off, load<f32>(x + row + off) * s + t);
      }
    }
    return;
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < C; c++) {
      const s: f32 = w ? load<f32>(w + (<usize>c << 2)) : 1;
      const t: f32 = b ? load<f32>(b + (<usize>c << 2)) : 0;
      const sv = f32x4.splat(s), tv = f32x4.splat(t);
      const base = (<usize>o * <usize>C + <usize>c) * <usize>inner << 2;
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const off = base + (<usize>i << 2);
        v128.store(out + off, f32x4.add(f32x4.mul(v128.load(x + off), sv), tv));
      }
      for (; i < inner; i++) {
        const off = base + (<usize>i << 2);
        store<f32>(out + off, load<f32>(x + off) * s + t);
      }
    }
  }
}

/** out = a ⊙ b over n elements; `out` may equal `a` or `b`. */
export function mul(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) * load<f32>(b + off));
  }
}
