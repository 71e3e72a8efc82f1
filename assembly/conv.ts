// conv2d (see docs/KERNELS.md): x[C,H,W] → out[OC,OH,OW], zero padding, groups (incl. depthwise), fused bias, act
// and residual (relu / relu6 and the residual in registers; GELU as one pass of the elementwise kernel over the block
// just written, the residual after it).
//
// Paths:
//  - C/groups > 1: per group a GEMM out[OCg, OH·OW] = Wg[OCg, Cg·KH·KW] · col[Cg·KH·KW, OH·OW] on the 4×8 SIMD
//    micro-kernel of gemm.ts, weights packed in 4-row panels. A 1×1 stride-1 unpadded conv reads x directly (it
//    already is col); every other shape builds col (im2col) chunk by chunk in scratch, so a chunk is consumed from
//    L2 right after it is written.
//  - C/groups == 1 (depthwise, any channel multiplier): depthwise.ts.
import { pack_rows4, pack_rows4_bytes, gemm_packed_a } from './gemm';
import { add } from './elementwise';
import { copyF32, zeroF32 } from './rows';
import { depthwise, depthwise_scratch_bytes } from './depthwise';

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
  if (Cg == 1) return depthwise_scratch_bytes(H, W, KW, stride, pad, OW);
  const Kg = Cg * KH * KW;
  if (isDirect1x1(KH, KW, stride, pad)) {
    // rows not a multiple of 4 floats long are copied to 8-aligned rows (see conv2d); otherwise the GEMM's tail block
    const HW = H * W;
    return (HW & 3) != 0 ? Kg * ((HW + 7) & ~7) * 4 : Kg * 8 * 4;
  }
  return Kg * chunkCols(Kg, OH * OW) * 4;
}

export function conv2d(x: usize, packed: usize, b: usize, out: usize, C: i32, H: i32, W: i32, OC: i32, KH: i32,
  KW: i32, stride: i32, pad: i32, groups: i32, act: i32, scratch: usize, res: usize): void {
  const OH = outSize(H, KH, stride, pad), OW = outSize(W, KW, stride, pad);
  if (OH <= 0 || OW <= 0) return;
  const Cg = C / groups, OCg = OC / groups;
  if (Cg == 1) {
    depthwise(x, packed, b, out, H, W, OC, OCg, KH, KW, stride, pad, act, scratch, OH, OW);
    if (res != 0) add(out, res, out, OC * OH * OW);
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
    const rg = res != 0 ? res + (og - out) : 0;
    if (direct) {
      if ((HWo & 3) != 0) {
        // Rows of x whose length is not a multiple of 4 floats (a 7×7 map: 49) put most of the GEMM's 16-byte loads
        // across cache-line boundaries (measured: 25 % slower per column block than 16-byte-aligned rows). A copy
        // into zero-padded rows of a multiple of 8 floats costs a small fraction of the GEMM and needs no tail block.
        const ldp = (HWo + 7) & ~7;
        for (let c = 0; c < Kg; c++) {
          const dst = scratch + (<usize>(c * ldp) << 2);
          copyF32(dst, xg + (<usize>(c * HWo) << 2), HWo);
          zeroF32(dst + (<usize>HWo << 2), ldp - HWo);
        }
        gemm_packed_a(ap, scratch, ldp, og, HWo, OCg, Kg, HWo, bg, act, 0, rg);
      } else {
        gemm_packed_a(ap, xg, H * W, og, HWo, OCg, Kg, HWo, bg, act, scratch, rg);
      }
      continue;
    }
    for (let q0 = 0; q0 < HWo; q0 += chunk) {
      const nq = min(chunk, HWo - q0);
      const ldb = (nq + 7) & ~7;
      im2col(xg, scratch, ldb, Cg, H, W, KH, KW, stride, pad, OW, q0, nq);
      gemm_packed_a(ap, scratch, ldb, og + (<usize>q0 << 2), HWo, OCg, Kg, nq, bg, act, 0, rg != 0 ? rg + (<usize>q0 << 2) : 0);
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
              let t = 0;
              if (stride == 2) {
                // 4 outputs from the even lanes of 8 inputs; the last group stays scalar, so no read goes past the
                // last input column used (the row may end the buffer)
                for (; t + 4 < e - a; t += 4) {
                  v128.store(d + (<usize>t << 2), v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6));
                  src += 32;
                }
              }
              for (; t < e - a; t++) {
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
