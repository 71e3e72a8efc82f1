// Depthwise conv2d (C/groups == 1, any channel multiplier), called by conv2d (conv.ts) with the same arguments
// contract (docs/KERNELS.md): direct SIMD over output columns from a zero-padded copy of the input channel in scratch
// (no bounds checks in the inner loops), relu / relu6 fused into the stores. 3×3 stride 1 / 2 sweep 4-column strips
// down the rows so each input row is loaded once per strip; with pad 1 they read x itself and make the padding in
// registers (the copy costs a quarter of the time on 7×7 maps). Other kernels take a generic loop.
//
// Every output is computed with the same operations in the same order on every path (acc = w0·r0[0] + w1·r0[1] +
// w2·r0[2]; acc2 = w3·r1[0] + w4·r1[1] + w5·r1[2]; acc += w6·r2[0] + w7·r2[1] + w8·r2[2]; act((acc + acc2) + bias)),
// so the paths give the same bits in both builds.
import { bias_act_rows, clampAct, storeN } from './gemm';
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
  const wBytes = <usize>W << 2;
  const cin = OC / OCg;
  const xEnd = cin * H * W;
  const W4 = (W + 3) & ~3;
  // A whole-vector store of a row's last outputs must not pass the end of out.
  const OW4 = (OW + 3) & ~3;
  const outEnd = OC * OH * OW;
  // The strips that read x directly also load the lanes they mask to zero, from the channels before and after the
  // one read (up to 1 float before it and 10 after it), so those channels must exist and hold 16 floats or more.
  const direct = KH == 3 && KW == 3 && (stride == 1 || stride == 2) && pad == 1 && W > 4 && H * W >= 16;
  let loaded = -1;
  for (let oc = 0; oc < OC; oc++) {
    const ci = oc / OCg;
    // Rows up to wholeEnd may store their last vector whole (see storeRow).
    let wholeEnd = OH - 1;
    while (wholeEnd > 0 && (oc * OH + wholeEnd - 1) * OW + OW4 > outEnd) wholeEnd--;
    const w = wts + (<usize>(oc * KH * KW) << 2);
    const o = out + (<usize>(oc * OH * OW) << 2);
    const bias = b != 0 ? v128.load32_splat(b + (<usize>oc << 2)) : f32x4.splat(0.0);
    if (direct && ci > 0 && ci < cin - 1 && wholeEnd == OH - 1) {
      const xc = x + (<usize>(ci * H * W) << 2);
      if (stride == 1) {
        if (fusedAct == 1) dw3x3s1d(xc, W, w, o, OH, bias, 1);
        else if (fusedAct == 2) dw3x3s1d(xc, W, w, o, OH, bias, 2);
        else dw3x3s1d(xc, W, w, o, OH, bias, 0);
      } else {
        if (fusedAct == 1) dw3x3s2d(xc, H, W, w, o, OH, OW, bias, 1);
        else if (fusedAct == 2) dw3x3s2d(xc, H, W, w, o, OH, OW, bias, 2);
        else dw3x3s2d(xc, H, W, w, o, OH, OW, bias, 0);
      }
      if (act == 3) bias_act_rows(o, 1, OH * OW, 0, act);
      continue;
    }
    if (ci != loaded) {
      dwCopy(x, pbuf, ci, H, W, W4, xEnd, rowBytes, padBytes, wBytes);
      loaded = ci;
    }
    if (KH == 3 && KW == 3 && stride == 1) {
      // The strip sweeps store every row but the last whole; at the end of out on one-column maps the row loops
      // store exactly.
      if (wholeEnd < OH - 1) dw3x3s1(pbuf, rowBytes, w, o, OH, OW, wholeEnd, bias, fusedAct);
      else if (fusedAct == 1) dw3x3s1v(pbuf, rowBytes, w, o, OH, OW, bias, 1);
      else if (fusedAct == 2) dw3x3s1v(pbuf, rowBytes, w, o, OH, OW, bias, 2);
      else dw3x3s1v(pbuf, rowBytes, w, o, OH, OW, bias, 0);
    } else if (KH == 3 && KW == 3 && stride == 2) {
      if (wholeEnd < OH - 1) dw3x3s2(pbuf, rowBytes, w, o, OH, OW, wholeEnd, bias, fusedAct);
      else if (fusedAct == 1) dw3x3s2v(pbuf, rowBytes, w, o, OH, OW, bias, 1);
      else if (fusedAct == 2) dw3x3s2v(pbuf, rowBytes, w, o, OH, OW, bias, 2);
      else dw3x3s2v(pbuf, rowBytes, w, o, OH, OW, bias, 0);
    } else {
      dwGeneric(pbuf, rowBytes, w, o, OH, OW, KH, KW, stride, bias, fusedAct);
    }
    if (act == 3) bias_act_rows(o, 1, OH * OW, 0, act);
  }
}

/** Interior of the padded copy of input channel ci. */
function dwCopy(x: usize, pbuf: usize, ci: i32, H: i32, W: i32, W4: i32, xEnd: i32, rowBytes: usize, padBytes: usize,
  wBytes: usize): void {
  const xc = x + (<usize>(ci * H * W) << 2);
  let dst = pbuf + (padBytes * <usize>(rowBytes >> 2)) + padBytes;
  // A row copy may run its last vector up to 3 floats into the right border (restored to 0 right after), except
  // where the read would pass the end of x (the last rows of the last channel, more on planes under 4 floats).
  const room = xEnd - W4 - ci * H * W;
  const fast = room < 0 ? 0 : min(H, room / W + 1);
  let ih = 0;
  let src = xc;
  // Rows of the small maps are unrolled: a 2-trip inner loop costs more than the copy.
  if (W4 == 8) {
    for (; ih < fast; ih++) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      v128.store(dst + wBytes, f32x4.splat(0.0));
      dst += rowBytes; src += wBytes;
    }
  } else if (W4 == 16) {
    for (; ih < fast; ih++) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
      v128.store(dst, v128.load(src, 32), 32);
      v128.store(dst, v128.load(src, 48), 48);
      v128.store(dst + wBytes, f32x4.splat(0.0));
      dst += rowBytes; src += wBytes;
    }
  } else {
    for (; ih < fast; ih++) {
      for (let i = 0; i < W; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
      v128.store(dst + wBytes, f32x4.splat(0.0));
      dst += rowBytes; src += wBytes;
    }
  }
  for (; ih < H; ih++) {
    copyF32(dst, xc + (<usize>(ih * W) << 2), W);
    dst += rowBytes;
  }
}

// Rows other than a channel's last may store their last vector whole: the lanes past OW land on the next row's first
// outputs (or the next channel's), which are written (correctly) afterwards, never past the end of out (wholeEnd).
// That saves the lane-by-lane tail on small maps (OW = 7, 14).
// @ts-ignore: decorator
@inline function storeRow(p: usize, v: v128, n: i32, whole: bool): void {
  if (whole) v128.store(p, v);
  else storeN(p, v, n);
}

// Row-by-row loops, for the channels where the sweeps' whole-vector stores could pass the end of out
// (wholeEnd < OH − 1: the last channel of a one-column map).
// @ts-ignore: decorator
@inline function dw3x3s1(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, wholeEnd: i32, bias: v128,
  act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  for (let oh = 0; oh < OH; oh++) {
    let r0 = p + <usize>oh * rowBytes;
    let r1 = r0 + rowBytes, r2 = r1 + rowBytes;
    let dst = o + (<usize>(oh * OW) << 2);
    const whole = oh < wholeEnd;
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
      storeRow(dst, clampAct(f32x4.add(f32x4.add(acc, acc2), bias), act), OW - ow, whole);
      r0 += 16; r1 += 16; r2 += 16; dst += 16;
    }
  }
}

// Three kernel rows applied to one input row: kh = 0 starts an output's acc, kh = 1 is its acc2, kh = 2 ends its acc.
// @ts-ignore: decorator
@inline function chainStart(wa: v128, wb: v128, wc: v128, x0: v128, x1: v128, x2: v128): v128 {
  let acc = f32x4.mul(wa, x0);
  acc = madd(wb, x1, acc);
  return madd(wc, x2, acc);
}
// @ts-ignore: decorator
@inline function chainEnd(acc: v128, acc2: v128, w6: v128, w7: v128, w8: v128, x0: v128, x1: v128, x2: v128,
  bias: v128, act: i32): v128 {
  acc = madd(w6, x0, acc);
  acc = madd(w7, x1, acc);
  acc = madd(w8, x2, acc);
  return clampAct(f32x4.add(f32x4.add(acc, acc2), bias), act);
}

// Stride 1, one 4-column strip swept down the rows: input row ih is loaded once (3 vectors) and used by the three
// outputs it feeds (rows ih, ih − 1, ih − 2 as kernel rows 0, 1, 2), whose partial sums stay in registers. That is 3
// loads per output vector instead of 9, and no per-row loop over columns. The strips run from the last to the first,
// so a whole-vector store past a row's end (see storeRow) lands on outputs that are written later.
// @ts-ignore: decorator
@inline function dw3x3s1v(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, bias: v128,
  act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  const rowOut = <usize>OW << 2;
  let ow = ((OW + 3) & ~3) - 4;
  let n = OW - ow;
  while (true) {
    let r = p + (<usize>ow << 2);
    let d = o + (<usize>ow << 2);
    let x0 = v128.load(r), x1 = v128.load(r, 4), x2 = v128.load(r, 8);
    let acc = chainStart(w0, w1, w2, x0, x1, x2);
    r += rowBytes;
    x0 = v128.load(r); x1 = v128.load(r, 4); x2 = v128.load(r, 8);
    let acc2 = chainStart(w3, w4, w5, x0, x1, x2);
    let next = chainStart(w0, w1, w2, x0, x1, x2);
    for (let oh = 0; oh < OH - 2; oh++) {
      r += rowBytes;
      x0 = v128.load(r); x1 = v128.load(r, 4); x2 = v128.load(r, 8);
      v128.store(d, chainEnd(acc, acc2, w6, w7, w8, x0, x1, x2, bias, act));
      acc2 = chainStart(w3, w4, w5, x0, x1, x2);
      acc = next;
      next = chainStart(w0, w1, w2, x0, x1, x2);
      d += rowOut;
    }
    // Row OH − 2 without starting a row OH.
    if (OH >= 2) {
      r += rowBytes;
      x0 = v128.load(r); x1 = v128.load(r, 4); x2 = v128.load(r, 8);
      v128.store(d, chainEnd(acc, acc2, w6, w7, w8, x0, x1, x2, bias, act));
      acc2 = chainStart(w3, w4, w5, x0, x1, x2);
      acc = next;
      d += rowOut;
    }
    r += rowBytes;
    x0 = v128.load(r); x1 = v128.load(r, 4); x2 = v128.load(r, 8);
    storeN(d, chainEnd(acc, acc2, w6, w7, w8, x0, x1, x2, bias, act), n);
    if (ow == 0) break;
    ow -= 4;
    n = 4;
  }
}

// Stride 1, pad 1, straight from x (no padded copy): as dw3x3s1v, with the padding made in registers. The rows above
// and below the map are zero vectors; a strip's column −1 and column W lanes, read from the neighbouring row (or
// channel), are masked to +0, the value the padded copy would hold. Only for channels with a channel before and after
// them in x, so that those neighbouring reads stay inside x.
// @ts-ignore: decorator
@inline function dw3x3s1d(xc: usize, W: i32, w: usize, o: usize, OH: i32, bias: v128, act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  const lane = i32x4(0, 1, 2, 3);
  let ow = ((W + 3) & ~3) - 4;
  let n = W - ow;
  // Only the first and the last strips hold padding lanes; the ones between skip the masks (two fewer registers).
  // Strips still run from the last to the first (see dw3x3s1v).
  while (true) {
    const lm = i32x4.ge_s(i32x4.add(i32x4.splat(ow - 1), lane), i32x4.splat(0));
    const rm = i32x4.lt_s(i32x4.add(i32x4.splat(ow + 1), lane), i32x4.splat(W));
    s1dStrip(xc + (<usize>ow << 2), o + (<usize>ow << 2), W, OH, n, lm, rm, true, w0, w1, w2, w3, w4, w5, w6, w7, w8,
      bias, act);
    if (ow == 0) break;
    for (let m = ow - 4; m > 0; m -= 4) {
      s1dStrip(xc + (<usize>m << 2), o + (<usize>m << 2), W, OH, 4, lane, lane, false, w0, w1, w2, w3, w4, w5, w6, w7,
        w8, bias, act);
    }
    ow = 0;
    n = 4;
  }
}

// @ts-ignore: decorator
@inline function s1dStrip(r: usize, d: usize, W: i32, OH: i32, n: i32, lm: v128, rm: v128, masked: bool, w0: v128,
  w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128, bias: v128, act: i32): void {
  const rowBytes = <usize>W << 2;
  const zero = f32x4.splat(0.0);
  // The zero row is multiplied, not skipped: w·0 is −0 for a negative w and NaN for an infinite one.
  let acc = chainStart(w0, w1, w2, zero, zero, zero);
  let x0 = v128.load(r - 4), x1 = v128.load(r), x2 = v128.load(r, 4);
  if (masked) { x0 = v128.and(x0, lm); x2 = v128.and(x2, rm); }
  let acc2 = chainStart(w3, w4, w5, x0, x1, x2);
  let next = chainStart(w0, w1, w2, x0, x1, x2);
  for (let oh = 0; oh < OH - 2; oh++) {
    r += rowBytes;
    x0 = v128.load(r - 4); x1 = v128.load(r); x2 = v128.load(r, 4);
    if (masked) { x0 = v128.and(x0, lm); x2 = v128.and(x2, rm); }
    v128.store(d, chainEnd(acc, acc2, w6, w7, w8, x0, x1, x2, bias, act));
    acc2 = chainStart(w3, w4, w5, x0, x1, x2);
    acc = next;
    next = chainStart(w0, w1, w2, x0, x1, x2);
    d += rowBytes;
  }
  if (OH >= 2) {
    r += rowBytes;
    x0 = v128.load(r - 4); x1 = v128.load(r); x2 = v128.load(r, 4);
    if (masked) { x0 = v128.and(x0, lm); x2 = v128.and(x2, rm); }
    v128.store(d, chainEnd(acc, acc2, w6, w7, w8, x0, x1, x2, bias, act));
    acc2 = chainStart(w3, w4, w5, x0, x1, x2);
    acc = next;
    d += rowBytes;
  }
  storeN(d, chainEnd(acc, acc2, w6, w7, w8, zero, zero, zero, bias, act), n);
}

// Stride 2, one 4-column strip swept down the rows, as dw3x3s1v: output row oh reads input rows 2oh (kernel row 0),
// 2oh + 1 (row 1) and 2oh + 2 (row 2), and row 2oh + 2 is also kernel row 0 of output row oh + 1, so every input row
// is loaded and split into its even / odd / shifted-even lanes once per strip.
// @ts-ignore: decorator
@inline function dw3x3s2v(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, bias: v128,
  act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  const rowOut = <usize>OW << 2;
  const rows2 = rowBytes << 1;
  let ow = ((OW + 3) & ~3) - 4;
  let n = OW - ow;
  while (true) {
    let r = p + (<usize>ow << 3);
    let d = o + (<usize>ow << 2);
    let a = v128.load(r), b = v128.load(r, 16), c = v128.load(r, 32);
    let e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
    let acc = chainStart(w0, w1, w2, e, v128.shuffle<f32>(a, b, 1, 3, 5, 7), v128.shuffle<f32>(e, c, 1, 2, 3, 4));
    for (let oh = 0; oh < OH - 1; oh++) {
      const r1 = r + rowBytes;
      a = v128.load(r1); b = v128.load(r1, 16); c = v128.load(r1, 32);
      e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
      const acc2 = chainStart(w3, w4, w5, e, v128.shuffle<f32>(a, b, 1, 3, 5, 7), v128.shuffle<f32>(e, c, 1, 2, 3, 4));
      r += rows2;
      a = v128.load(r); b = v128.load(r, 16); c = v128.load(r, 32);
      e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
      const od = v128.shuffle<f32>(a, b, 1, 3, 5, 7), f = v128.shuffle<f32>(e, c, 1, 2, 3, 4);
      v128.store(d, chainEnd(acc, acc2, w6, w7, w8, e, od, f, bias, act));
      acc = chainStart(w0, w1, w2, e, od, f);
      d += rowOut;
    }
    const r1 = r + rowBytes;
    a = v128.load(r1); b = v128.load(r1, 16); c = v128.load(r1, 32);
    e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
    const acc2 = chainStart(w3, w4, w5, e, v128.shuffle<f32>(a, b, 1, 3, 5, 7), v128.shuffle<f32>(e, c, 1, 2, 3, 4));
    r += rows2;
    a = v128.load(r); b = v128.load(r, 16); c = v128.load(r, 32);
    e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
    storeN(d, chainEnd(acc, acc2, w6, w7, w8, e, v128.shuffle<f32>(a, b, 1, 3, 5, 7),
      v128.shuffle<f32>(e, c, 1, 2, 3, 4), bias, act), n);
    if (ow == 0) break;
    ow -= 4;
    n = 4;
  }
}

// Stride 2, pad 1, straight from x, as dw3x3s1d: padded column 2ow + k is x column 2ow + k − 1, and every lane whose
// column lies outside [0, W) is masked to +0; the padded rows above and below the map are zero vectors.
// @ts-ignore: decorator
@inline function s2row(r: usize, ma: v128, mb: v128, mc: v128, w0: v128, w1: v128, w2: v128): v128 {
  const a = v128.and(v128.load(r - 4), ma), b = v128.and(v128.load(r, 12), mb), c = v128.and(v128.load(r, 28), mc);
  const e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
  return chainStart(w0, w1, w2, e, v128.shuffle<f32>(a, b, 1, 3, 5, 7), v128.shuffle<f32>(e, c, 1, 2, 3, 4));
}

// @ts-ignore: decorator
@inline function dw3x3s2d(xc: usize, H: i32, W: i32, w: usize, o: usize, OH: i32, OW: i32, bias: v128,
  act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  const rowBytes = <usize>W << 2;
  const rowOut = <usize>OW << 2;
  const zero = f32x4.splat(0.0);
  const lane = i32x4(0, 1, 2, 3);
  const wv = i32x4.splat(W);
  let ow = ((OW + 3) & ~3) - 4;
  let n = OW - ow;
  while (true) {
    const ca = i32x4.add(i32x4.splat(2 * ow - 1), lane);
    const cb = i32x4.add(ca, i32x4.splat(4)), cc = i32x4.add(ca, i32x4.splat(8));
    const ma = v128.and(i32x4.ge_s(ca, i32x4.splat(0)), i32x4.lt_s(ca, wv));
    const mb = v128.and(i32x4.ge_s(cb, i32x4.splat(0)), i32x4.lt_s(cb, wv));
    const mc = v128.and(i32x4.ge_s(cc, i32x4.splat(0)), i32x4.lt_s(cc, wv));
    // x row of padded row 1; padded row 0 is the zero row.
    let r = xc + (<usize>ow << 3);
    let d = o + (<usize>ow << 2);
    let acc = chainStart(w0, w1, w2, zero, zero, zero); // multiplied, not skipped, as in dw3x3s1d
    for (let oh = 0; oh < OH; oh++) {
      // Padded rows 2oh + 1 and 2oh + 2 are x rows 2oh and 2oh + 1 (the latter past the map only on the last row).
      const acc2 = s2row(r, ma, mb, mc, w3, w4, w5);
      let a = zero, b = zero, c = zero;
      if (2 * oh + 1 < H) {
        const r2 = r + rowBytes;
        a = v128.and(v128.load(r2 - 4), ma); b = v128.and(v128.load(r2, 12), mb); c = v128.and(v128.load(r2, 28), mc);
      }
      const e = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
      const od = v128.shuffle<f32>(a, b, 1, 3, 5, 7), f = v128.shuffle<f32>(e, c, 1, 2, 3, 4);
      const v = chainEnd(acc, acc2, w6, w7, w8, e, od, f, bias, act);
      if (oh + 1 < OH) {
        v128.store(d, v);
        acc = chainStart(w0, w1, w2, e, od, f);
      } else {
        storeN(d, v, n);
      }
      r += rowBytes << 1;
      d += rowOut;
    }
    if (ow == 0) break;
    ow -= 4;
    n = 4;
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
@inline function dw3x3s2(p: usize, rowBytes: usize, w: usize, o: usize, OH: i32, OW: i32, wholeEnd: i32, bias: v128,
  act: i32): void {
  const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8);
  const w3 = v128.load32_splat(w, 12), w4 = v128.load32_splat(w, 16), w5 = v128.load32_splat(w, 20);
  const w6 = v128.load32_splat(w, 24), w7 = v128.load32_splat(w, 28), w8 = v128.load32_splat(w, 32);
  for (let oh = 0; oh < OH; oh++) {
    let r0 = p + <usize>(2 * oh) * rowBytes;
    let r1 = r0 + rowBytes, r2 = r1 + rowBytes;
    let dst = o + (<usize>(oh * OW) << 2);
    const whole = oh < wholeEnd;
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
      storeRow(dst, clampAct(f32x4.add(f32x4.add(acc, acc2), bias), act), OW - ow, whole);
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
      storeN(dst, clampAct(acc, act), OW - ow);
      dst += 16;
    }
  }
}

