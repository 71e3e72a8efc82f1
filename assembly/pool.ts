// Pooling kernels (see docs/KERNELS.md): maxpool2d (padding never wins), avgpool2d (divides by k·k, i.e. PyTorch's
// count_include_pad=True), gap. No scratch: each output row is split into the columns whose whole window lies
// inside the row (SIMD, 4 outputs at a time, stride 1 and 2) and the border columns (scalar, clipped windows).
// Window rows are clipped per output row, so no vector ever reads outside x.

// @ts-ignore: decorator
@inline function outSize(size: i32, k: i32, stride: i32, pad: i32): i32 {
  const span = size + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

// @ts-ignore: decorator
@inline function evens(p: usize): v128 {
  return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
}

// @ts-ignore: decorator
@inline function combine(acc: v128, v: v128, isMax: bool): v128 {
  // pmax is one instruction where max is several (NaN / −0 handling); NaN inputs are therefore not guaranteed to
  // propagate.
  return isMax ? f32x4.pmax(acc, v) : f32x4.add(acc, v);
}

// The whole body is inlined per (isMax, stride) so every branch on them folds away.
// @ts-ignore: decorator
@inline function pool2dImpl(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32,
  isMax: bool, vecStride: i32): void {
  const OH = outSize(H, k, stride, pad), OW = outSize(W, k, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const inv: f32 = <f32>1 / <f32>(k * k);
  const invV = f32x4.splat(inv);
  // Interior columns ow ∈ [lo, hi): the whole window ow·s − p + [0, k) lies inside [0, W).
  let lo = (pad + stride - 1) / stride;
  let hi = W - k + pad >= 0 ? (W - k + pad) / stride + 1 : 0;
  if (hi > OW) hi = OW;
  if (lo > hi) lo = hi;
  // Vector blocks of 4 outputs at ow need ow + 4 ≤ hi. Stride 2 reads pairs of v128 and keeps even (or odd) lanes:
  // k = 2 reads columns iw0 .. iw0 + 7, all of them needed; other k read one column past the last one needed
  // (iw0 + k + 6), so the block start must also satisfy 2·ow ≤ W − k − 6 − extra + p.
  let vhi = hi;
  if (vecStride == 2) {
    const room = W - k - 6 - (k == 2 ? 0 : 1) + pad;
    const lim = room >= 0 ? room / 2 + 4 : 0;
    if (vhi > lim) vhi = lim;
  }
  for (let c = 0; c < C; c++) {
    const xc = x + (<usize>(c * H * W) << 2);
    const oc = out + (<usize>(c * OH * OW) << 2);
    for (let oh = 0; oh < OH; oh++) {
      const ih0 = oh * stride - pad;
      const kh0 = ih0 < 0 ? -ih0 : 0;
      const kh1 = min(k, H - ih0);
      const orow = oc + (<usize>(oh * OW) << 2);
      let ow = 0;
      for (; ow < lo; ow++) {
        store<f32>(orow + (<usize>ow << 2), poolScalar(xc, W, ih0, kh0, kh1, ow * stride - pad, k, isMax, inv));
      }
      if (vecStride != 0) {
        const rowBytes = <usize>W << 2;
        for (; ow + 4 <= vhi; ow += 4) {
          let r = xc + (<usize>((ih0 + kh0) * W + ow * vecStride - pad) << 2);
          let acc = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0.0);
          for (let kh = kh0; kh < kh1; kh++) {
            if (k == 2) {
              if (vecStride == 1) {
                acc = combine(acc, v128.load(r), isMax);
                acc = combine(acc, v128.load(r, 4), isMax);
              } else {
                const a = v128.load(r), b = v128.load(r, 16);
                acc = combine(acc, v128.shuffle<f32>(a, b, 0, 2, 4, 6), isMax);
                acc = combine(acc, v128.shuffle<f32>(a, b, 1, 3, 5, 7), isMax);
              }
            } else if (k == 3) {
              if (vecStride == 1) {
                acc = combine(acc, v128.load(r), isMax);
                acc = combine(acc, v128.load(r, 4), isMax);
                acc = combine(acc, v128.load(r, 8), isMax);
              } else {
                const a = v128.load(r), b = v128.load(r, 16), e = v128.load(r, 8), f = v128.load(r, 24);
                acc = combine(acc, v128.shuffle<f32>(a, b, 0, 2, 4, 6), isMax);
                acc = combine(acc, v128.shuffle<f32>(a, b, 1, 3, 5, 7), isMax);
                acc = combine(acc, v128.shuffle<f32>(e, f, 0, 2, 4, 6), isMax);
              }
            } else {
              for (let kw = 0; kw < k; kw++) {
                const q = r + (<usize>kw << 2);
                acc = combine(acc, vecStride == 1 ? v128.load(q) : evens(q), isMax);
              }
            }
            r += rowBytes;
          }
          v128.store(orow + (<usize>ow << 2), isMax ? acc : f32x4.mul(acc, invV));
        }
      }
      for (; ow < OW; ow++) {
        store<f32>(orow + (<usize>ow << 2), poolScalar(xc, W, ih0, kh0, kh1, ow * stride - pad, k, isMax, inv));
      }
    }
  }
}

// One output over rows [kh0, kh1) of the window and its in-bounds columns. The max runs in lane 0 of a v128:
// V8 lowers scalar f32.max / compare-selects to branches, which mispredict on real data.
// @ts-ignore: decorator
@inline function poolScalar(xc: usize, W: i32, ih0: i32, kh0: i32, kh1: i32, iw0: i32, k: i32, isMax: bool, inv: f32): f32 {
  const kw0 = iw0 < 0 ? -iw0 : 0;
  const kw1 = min(k, W - iw0);
  let acc = isMax ? f32x4.splat(-Infinity) : f32x4.splat(0.0);
  for (let kh = kh0; kh < kh1; kh++) {
    const r = xc + (<usize>((ih0 + kh) * W + iw0) << 2);
    for (let kw = kw0; kw < kw1; kw++) acc = combine(acc, v128.load32_zero(r + (<usize>kw << 2)), isMax);
  }
  const v = f32x4.extract_lane(acc, 0);
  return isMax ? v : v * inv;
}

function maxpoolS1(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, 1, pad, true, 1);
}
function maxpoolS2(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, 2, pad, true, 2);
}
function maxpoolAny(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, stride, pad, true, 0);
}
function avgpoolS1(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, 1, pad, false, 1);
}
function avgpoolS2(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, 2, pad, false, 2);
}
function avgpoolAny(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32): void {
  pool2dImpl(x, out, C, H, W, k, stride, pad, false, 0);
}

export function maxpool2d(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32): void {
  if (stride == 1) maxpoolS1(x, out, C, H, W, k, pad);
  else if (stride == 2) maxpoolS2(x, out, C, H, W, k, pad);
  else maxpoolAny(x, out, C, H, W, k, stride, pad);
}

export function avgpool2d(x: usize, out: usize, C: i32, H: i32, W: i32, k: i32, stride: i32, pad: i32): void {
  if (stride == 1) avgpoolS1(x, out, C, H, W, k, pad);
  else if (stride == 2) avgpoolS2(x, out, C, H, W, k, pad);
  else avgpoolAny(x, out, C, H, W, k, stride, pad);
}

/** [C, HW] → [C] mean; 4 vector accumulators (16 partial sums) keep the f32 sum accurate and fast. */
export function gap(x: usize, out: usize, C: i32, HW: i32): void {
  const inv: f64 = 1.0 / <f64>HW;
  for (let c = 0; c < C; c++) {
    let p = x + (<usize>c * <usize>HW << 2);
    let a0 = f32x4.splat(0.0), a1 = f32x4.splat(0.0), a2 = f32x4.splat(0.0), a3 = f32x4.splat(0.0);
    let i = 0;
    for (; i + 16 <= HW; i += 16) {
      a0 = f32x4.add(a0, v128.load(p));
      a1 = f32x4.add(a1, v128.load(p, 16));
      a2 = f32x4.add(a2, v128.load(p, 32));
      a3 = f32x4.add(a3, v128.load(p, 48));
      p += 64;
    }
    for (; i + 4 <= HW; i += 4) {
      a0 = f32x4.add(a0, v128.load(p));
      p += 16;
    }
    const v = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    let s: f64 = <f64>f32x4.extract_lane(v, 0) + <f64>f32x4.extract_lane(v, 1) +
      <f64>f32x4.extract_lane(v, 2) + <f64>f32x4.extract_lane(v, 3);
    for (; i < HW; i++) {
      s += <f64>load<f32>(p);
      p += 4;
    }
    store<f32>(out + (<usize>c << 2), <f32>(s * inv));
  }
}
