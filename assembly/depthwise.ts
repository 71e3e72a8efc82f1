// Depthwise conv2d (C/groups == 1, any channel multiplier), called by conv2d (conv.ts) with the same arguments
// contract (docs/KERNELS.md): direct SIMD over output columns from a zero-padded copy of the input channel in scratch
// (no bounds checks in the inner loops), 3×3 stride 1/2 unrolled, relu / relu6 fused into the stores.
import { bias_act_rows } from './gemm';
import { madd } from './simd';
import { copyF32, zeroF32 } from './rows';

/** Row stride (floats) of the zero-padded channel copy: wide enough for the vector reads. */
function dwStride(W: i32, OW: i32, KW: i32, stride: i32, pad: i32): i32 {
  const ow4 = (OW + 3) & ~3;
  let w = W + 2 * pad;
  const need = stride * ow4 + KW + 8;
  if (need > w) w = need;
  return (w + 3) & ~3;
}

/** Scratch bytes `depthwise` needs: one zero-padded input channel. */
export function depthwise_scratch_bytes(H: i32, W: i32, KW: i32, stride: i32, pad: i32, OW: i32): i32 {
  return (H + 2 * pad) * dwStride(W, OW, KW, stride, pad) * 4;
}

/** out[OC, OH, OW] from x[OC/OCg, H, W]; OCg = channel multiplier. */
export function depthwise(x: usize, wts: usize, b: usize, out: usize, H: i32, W: i32, OC: i32, OCg: i32, KH: i32, KW: i32,
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
