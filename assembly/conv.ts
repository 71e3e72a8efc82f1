// conv2d (see docs/KERNELS.md): x[C,H,W] → out[OC,OH,OW], zero padding, groups (incl. depthwise), fused bias + act
// (relu / relu6 in registers; GELU as one pass of the elementwise kernel over the block just written).
//
// Paths:
//  - C/groups > 1: per group a GEMM out[OCg, OH·OW] = Wg[OCg, Cg·KH·KW] · col[Cg·KH·KW, OH·OW] on the 4×8 SIMD
//    micro-kernel of gemm.ts, weights packed in 4-row panels. A 1×1 stride-1 unpadded conv reads x directly (it
//    already is col); every other shape builds col (im2col) chunk by chunk in scratch, so a chunk is consumed from
//    L2 right after it is written.
//  - C/groups == 1 (depthwise, any channel multiplier): direct SIMD over output columns from a zero-padded copy of
//    the input channel in scratch (no bounds checks in the inner loops), 3×3 stride 1/2 unrolled.
import { pack_rows4, pack_rows4_bytes, gemm_packed_a, bias_act_rows } from './gemm';
import { madd } from './simd';

// @ts-ignore: decorator
@inline const CHUNK_BYTES: i32 = 196608; // target size of one im2col chunk (fits L2 next to the weights)

// @ts-ignore: decorator
@inline function outSize(size: i32, k: i32, stride: i32, pad: i32): i32 {
  const span = size + 2 * pad - k;
  return span < 0 ? 0 : span / stride + 1;
}

// @ts-ignore: decorator
@inline function isDirect1x1(KH: i32, KW: i32, stride: i32, pad: i32): bool {
  return KH == 1 && KW == 1 && stride == 1 && pad == 0;
}

/**
 * Output pixels per im2col chunk: a multiple of 8, at most the (rounded-up) output size, and at least 64 so that
 * every pass of the GEMM over the packed weight (once per chunk) feeds enough columns when Kg is large.
 */
function chunkCols(Kg: i32, HWo: i32): i32 {
  let n = (CHUNK_BYTES / (Kg * 4)) & ~7;
  if (n < 64) n = 64;
  const all = (HWo + 7) & ~7;
  return n < all ? n : all;
}

/** Row stride (floats) of the zero-padded channel copy of the depthwise path: wide enough for the vector reads. */
function dwStride(W: i32, OW: i32, KW: i32, stride: i32, pad: i32): i32 {
  const ow4 = (OW + 3) & ~3;
  let w = W + 2 * pad;
  const need = stride * ow4 + KW + 8;
  if (need > w) w = need;
  return (w + 3) & ~3;
}

export function conv2d_packed_bytes(C: i32, OC: i32, KH: i32, KW: i32, groups: i32): i32 {
  const Cg = C / groups, OCg = OC / groups;
  if (Cg == 1) return OC * KH * KW * 4;
  return groups * pack_rows4_bytes(OCg, Cg * KH * KW);
}

export function conv2d_pack(w: usize, packed: usize, C: i32, OC: i32, KH: i32, KW: i32, groups: i32): void {
  const Cg = C / groups, OCg = OC / groups;
  const Kg = Cg * KH * KW;
  if (Cg == 1) {
    memory.copy(packed, w, <usize>(OC * KH * KW) << 2);
    return;
  }
  const gBytes = <usize>pack_rows4_bytes(OCg, Kg);
  for (let g = 0; g < groups; g++) {
    pack_rows4(w + (<usize>(g * OCg) * <usize>Kg << 2), Kg, packed + <usize>g * gBytes, OCg, Kg);
  }
}

export function conv2d_scratch_bytes(C: i32, H: i32, W: i32, OC: i32, KH: i32, KW: i32, stride: i32, pad: i32,
  groups: i32): i32 {
  const OH = outSize(H, KH, stride, pad), OW = outSize(W, KW, stride, pad);
  const Cg = C / groups;
  if (Cg == 1) return (H + 2 * pad) * dwStride(W, OW, KW, stride, pad) * 4;
  const Kg = Cg * KH * KW;
  if (isDirect1x1(KH, KW, stride, pad)) return Kg * 8 * 4; // tail block of the GEMM
  return Kg * chunkCols(Kg, OH * OW) * 4;
}

export function conv2d(x: usize, packed: usize, b: usize, out: usize, C: i32, H: i32, W: i32, OC: i32, KH: i32,
  KW: i32, stride: i32, pad: i32, groups: i32, act: i32, scratch: usize): void {
  const OH = outSize(H, KH, stride, pad), OW = outSize(W, KW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const Cg = C / groups, OCg = OC / groups;
  if (Cg == 1) {
    depthwise(x, packed, b, out, H, W, OC, OCg, KH, KW, stride, pad, act, scratch, OH, OW);
    return;
  }
  const Kg = Cg * KH * KW;
  const HWo = OH * OW;
  const gBytes = <usize>pack_rows4_bytes(OCg, Kg);
  const direct = isDirect1x1(KH, KW, stride, pad);
  const chunk = chunkCols(Kg, HWo);
  for (let g = 0; g < groups; g++) {
    const ap = packed + <usize>g * gBytes;
    const xg = x + (<usize>(g * Cg) * <usize>(H * W) << 2);
    const og = out + (<usize>(g * OCg) * <usize>HWo << 2);
    const bg = b != 0 ? b + (<usize>(g * OCg) << 2) : 0;
    if (direct) {
      gemm_packed_a(ap, xg, H * W, og, HWo, OCg, Kg, HWo, bg, act, scratch);
      continue;
    }
    for (let q0 = 0; q0 < HWo; q0 += chunk) {
      const nq = min(chunk, HWo - q0);
      const ldb = (nq + 7) & ~7;
      im2col(xg, scratch, ldb, Cg, H, W, KH, KW, stride, pad, OW, q0, nq);
      gemm_packed_a(ap, scratch, ldb, og + (<usize>q0 << 2), HWo, OCg, Kg, nq, bg, act, 0);
    }
  }
}

// Output columns ow whose input column iw = ow·stride − pad + kw lies inside [0, W): [firstInside, endInside).
// @ts-ignore: decorator
@inline export function firstInside(pad: i32, kw: i32, stride: i32): i32 {
  const lo = pad - kw;
  return lo > 0 ? (lo + stride - 1) / stride : 0;
}

// @ts-ignore: decorator
@inline export function endInside(W: i32, pad: i32, kw: i32, stride: i32): i32 {
  const hi = W + pad - kw;
  return hi > 0 ? (hi + stride - 1) / stride : 0;
}

/**
 * col[r, q − q0] for output pixels q ∈ [q0, q0 + nq), r = (c·KH + kh)·KW + kw, row stride ldb floats; columns
 * [nq, ldb) are zeroed so the GEMM may read whole 8-wide blocks.
 */
function im2col(x: usize, col: usize, ldb: i32, Cg: i32, H: i32, W: i32, KH: i32, KW: i32, stride: i32, pad: i32,
  OW: i32, q0: i32, nq: i32): void {
  const q1 = q0 + nq;
  for (let c = 0; c < Cg; c++) {
    const xc = x + (<usize>(c * H * W) << 2);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const r = (c * KH + kh) * KW + kw;
        let dst = col + (<usize>r * <usize>ldb << 2);
        let q = q0;
        let oh = q0 / OW, ow = q0 - oh * OW;
        while (q < q1) {
          const run = min(OW - ow, q1 - q);
          const ih = oh * stride - pad + kh;
          if (ih < 0 || ih >= H) {
            zeroF32(dst, run);
          } else {
            const xrow = xc + (<usize>(ih * W) << 2);
            const lo = firstInside(pad, kw, stride), hi = endInside(W, pad, kw, stride);
            const a = max(ow, min(lo, ow + run)), e = max(a, min(hi, ow + run));
            zeroF32(dst, a - ow);
            const d = dst + (<usize>(a - ow) << 2);
            if (stride == 1) {
              copyF32(d, xrow + (<usize>(a - pad + kw) << 2), e - a);
            } else {
              let src = xrow + (<usize>(a * stride - pad + kw) << 2);
              const step = <usize>stride << 2;
              for (let t = 0; t < e - a; t++) {
                store<f32>(d + (<usize>t << 2), load<f32>(src));
                src += step;
              }
            }
            zeroF32(dst + (<usize>(e - ow) << 2), ow + run - e);
          }
          dst += <usize>run << 2;
          q += run;
          oh++;
          ow = 0;
        }
        zeroF32(dst, ldb - nq);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// depthwise (one input channel per group; OCg = channel multiplier)

function depthwise(x: usize, wts: usize, b: usize, out: usize, H: i32, W: i32, OC: i32, OCg: i32, KH: i32, KW: i32,
  stride: i32, pad: i32, act: i32, pbuf: usize, OH: i32, OW: i32): void {
  const ws = dwStride(W, OW, KW, stride, pad);
  const Hp = H + 2 * pad;
  const rowBytes = <usize>ws << 2;
  const padBytes = <usize>pad << 2;
  // relu / relu6 are fused into the stores; gelu (rare after a depthwise conv) takes a second pass over the channel.
  const fusedAct = act == 3 ? 0 : act;
  // The border of the padded copy is the same zeros for every channel: zero the whole buffer once, then each channel
  // only rewrites the interior columns [pad, pad + W) of rows [pad, pad + H).
  zeroF32(pbuf, Hp * ws);
  // A row copy may run its last vector up to 3 floats into the right border (restored to 0 right after), except on
  // the last row of the tensor, where the read could leave x's buffer.
  const wBytes = <usize>W << 2;
  let loaded = -1;
  for (let oc = 0; oc < OC; oc++) {
    const ci = oc / OCg;
    if (ci != loaded) {
      const xc = x + (<usize>(ci * H * W) << 2);
      const lastRow = ci == OC / OCg - 1 ? H - 1 : H;
      for (let ih = 0; ih < lastRow; ih++) {
        const dst = pbuf + <usize>(ih + pad) * rowBytes + padBytes;
        const src = xc + (<usize>(ih * W) << 2);
        for (let i = 0; i < W; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
        v128.store(dst + wBytes, f32x4.splat(0.0));
      }
      if (lastRow < H) copyF32(pbuf + <usize>(H - 1 + pad) * rowBytes + padBytes, xc + (<usize>((H - 1) * W) << 2), W);
      loaded = ci;
    }
    const w = wts + (<usize>(oc * KH * KW) << 2);
    const o = out + (<usize>(oc * OH * OW) << 2);
    const bias = b != 0 ? v128.load32_splat(b + (<usize>oc << 2)) : f32x4.splat(0.0);
    if (KH == 3 && KW == 3 && stride == 1) {
      if (fusedAct == 1) dw3x3s1(pbuf, rowBytes, w, o, OH, OW, bias, 1);
      else if (fusedAct == 2) dw3x3s1(pbuf, rowBytes, w, o, OH, OW, bias, 2);
      else dw3x3s1(pbuf, rowBytes, w, o, OH, OW, bias, 0);
    } else if (KH == 3 && KW == 3 && stride == 2) {
      if (fusedAct == 1) dw3x3s2(pbuf, rowBytes, w, o, OH, OW, bias, 1);
      else if (fusedAct == 2) dw3x3s2(pbuf, rowBytes, w, o, OH, OW, bias, 2);
      else dw3x3s2(pbuf, rowBytes, w, o, OH, OW, bias, 0);
    } else {
      dwGeneric(pbuf, rowBytes, w, o, OH, OW, KH, KW, stride, bias, fusedAct);
    }
    if (act == 3) bias_act_rows(o, 1, OH * OW, 0, act);
  }
}

// Plain v128 loops for the short rows of im2col and the padded copies: V8 turns memory.fill / memory.copy into
// runtime calls, which cost more than the copy itself at these sizes.
// @ts-ignore: decorator
@inline function zeroF32(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), f32x4.splat(0.0));
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), 0);
}

// @ts-ignore: decorator
@inline function copyF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

// @ts-ignore: decorator
@inline function reluAct(v: v128, act: i32): v128 {
  if (act == 1) return f32x4.pmax(v, f32x4.splat(0.0));
  if (act == 2) return f32x4.pmin(f32x4.pmax(v, f32x4.splat(0.0)), f32x4.splat(6.0));
  return v;
}

// @ts-ignore: decorator
@inline function storeUpTo(p: usize, v: v128, n: i32): void {
  if (n >= 4) { v128.store(p, v); return; }
  v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p, v, 1, 4);
  if (n > 2) v128.store32_lane(p, v, 2, 8);
}

// Rows other than a channel's last may store their last vector whole: the lanes past OW land on the next row's first
// outputs, which are written (correctly) afterwards. That saves the lane-by-lane tail on small maps (OW = 7, 14).
// @ts-ignore: decorator
@inline function storeRow(p: usize, v: v128, n: i32, whole: bool): void {
  if (whole) v128.store(p, v);
  else storeUpTo(p, v, n);
}

// @ts-ignore: decorator
@inline function dw3x3s1(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, bias: v128, act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  for (let oh = 0; oh < OH; oh++) {
    let r0 = p + <usize>oh * rowBytes;
    let r1 = r0 + rowBytes, r2 = r1 + rowBytes;
    let dst = o + (<usize>(oh * OW) << 2);
    const whole = oh + 1 < OH;
    for (let ow = 0; ow < OW; ow += 4) {
      let acc = f32x4.mul(w0, v128.load(r0));
      acc = madd(w1, v128.load(r0, 4), acc);
      acc = madd(w2, v128.load(r0, 8), acc);
      let acc2 = f32x4.mul(w3, v128.load(r1));
      acc2 = madd(w4, v128.load(r1, 4), acc2);
      acc2 = madd(w5, v128.load(r1, 8), acc2);
      acc = madd(w6, v128.load(r2), acc);
      acc = madd(w7, v128.load(r2, 4), acc);
      acc = madd(w8, v128.load(r2, 8), acc);
      storeRow(dst, reluAct(f32x4.add(f32x4.add(acc, acc2), bias), act), OW - ow, whole);
      r0 += 16; r1 += 16; r2 += 16; dst += 16;
    }
  }
}

// Stride 2: output lane i reads input column 2(ow + i) + kw, i.e. the even lanes of 8 consecutive columns.
// @ts-ignore: decorator
@inline function evens(p: usize): v128 {
  return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
}
// @ts-ignore: decorator
@inline function odds(p: usize): v128 {
  return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 1, 3, 5, 7);
}

// Each input row is read once per 8 columns: columns c..c+3 and c+4..c+7 give the even (kw = 0) and odd (kw = 1)
// lanes, and the kw = 2 lanes (columns c+2, .., c+8) are the evens shifted by one with column c+8 from the next
// block, which is the next step's first vector (carried over).
// @ts-ignore: decorator
@inline function dw3x3s2(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, bias: v128, act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  for (let oh = 0; oh < OH; oh++) {
    let r0 = p + <usize>(2 * oh) * rowBytes;
    let r1 = r0 + rowBytes, r2 = r1 + rowBytes;
    let dst = o + (<usize>(oh * OW) << 2);
    const whole = oh + 1 < OH;
    let a0 = v128.load(r0), a1 = v128.load(r1), a2 = v128.load(r2);
    for (let ow = 0; ow < OW; ow += 4) {
      const b0 = v128.load(r0, 16), c0 = v128.load(r0, 32);
      const e0 = v128.shuffle<f32>(a0, b0, 0, 2, 4, 6);
      const d0 = v128.shuffle<f32>(a0, b0, 1, 3, 5, 7);
      const f0 = v128.shuffle<f32>(e0, c0, 1, 2, 3, 4);
      const b1 = v128.load(r1, 16), c1 = v128.load(r1, 32);
      const e1 = v128.shuffle<f32>(a1, b1, 0, 2, 4, 6);
      const d1 = v128.shuffle<f32>(a1, b1, 1, 3, 5, 7);
      const f1 = v128.shuffle<f32>(e1, c1, 1, 2, 3, 4);
      const b2 = v128.load(r2, 16), c2 = v128.load(r2, 32);
      const e2 = v128.shuffle<f32>(a2, b2, 0, 2, 4, 6);
      const d2 = v128.shuffle<f32>(a2, b2, 1, 3, 5, 7);
      const f2 = v128.shuffle<f32>(e2, c2, 1, 2, 3, 4);
      let acc = f32x4.mul(w0, e0);
      acc = madd(w1, d0, acc);
      acc = madd(w2, f0, acc);
      let acc2 = f32x4.mul(w3, e1);
      acc2 = madd(w4, d1, acc2);
      acc2 = madd(w5, f1, acc2);
      acc = madd(w6, e2, acc);
      acc = madd(w7, d2, acc);
      acc = madd(w8, f2, acc);
      storeRow(dst, reluAct(f32x4.add(f32x4.add(acc, acc2), bias), act), OW - ow, whole);
      a0 = c0; a1 = c1; a2 = c2;
      r0 += 32; r1 += 32; r2 += 32; dst += 16;
    }
  }
}

function dwGeneric(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, KH: i32, KW: i32,
  stride: i32, bias: v128, act: i32): void {
  const colStep = <usize>stride << 2;
  for (let oh = 0; oh < OH; oh++) {
    const rbase = p + <usize>(oh * stride) * rowBytes;
    let dst = o + (<usize>(oh * OW) << 2);
    for (let ow = 0; ow < OW; ow += 4) {
      const cbase = rbase + (<usize>(ow * stride) << 2);
      let acc = bias;
      for (let kh = 0; kh < KH; kh++) {
        const r = cbase + <usize>kh * rowBytes;
        const wr = w + (<usize>(kh * KW) << 2);
        for (let kw = 0; kw < KW; kw++) {
          const q = r + (<usize>kw << 2);
          let v: v128;
          if (stride == 1) v = v128.load(q);
          else if (stride == 2) v = evens(q);
          else {
            v = v128.load32_zero(q);
            v = v128.load32_lane(q + colStep, v, 1);
            v = v128.load32_lane(q + 2 * colStep, v, 2);
            v = v128.load32_lane(q + 3 * colStep, v, 3);
          }
          acc = madd(v128.load32_splat(wr + (<usize>kw << 2)), v, acc);
        }
      }
      storeUpTo(dst, reluAct(acc, act), OW - ow);
      dst += 16;
    }
  }
}
