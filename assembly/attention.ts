// Multi-head self-attention (see docs/KERNELS.md), PyTorch nn.MultiheadAttention semantics, batch 1.
//
//   qkv = x·wqkvᵀ + bqkv                  [T, 3D]   (q = columns 0..D−1, k = D..2D−1, v = 2D..3D−1)
//   per head h (dh = D/heads):  p = softmax(q_h·k_hᵀ/√dh, hidden keys → probability exactly 0),  ctx_h = p·v_h
//   out = ctx·woᵀ + bo
//
// K is transposed per feature into rows of Tp = T rounded up to 4 keys (zero padded), so scores run 4 keys per f32x4
// lane group whatever dh is: scores[j..j+3] = Σ_d q[d]·kT[d][j..j+3]. The context reads V in place (rows of qkv):
// ctx[e..e+3] = Σ_j p[j]·v[j][e..e+3], keys in order. When dh % 4 ≠ 0 the last vector of a head also reads the next
// features (or, for the last head, up to 12 bytes past the qkv row, still inside the scratch); those lanes are never
// stored.
// If every key is hidden the probabilities are all 0 and the context is 0 (out = bo); PyTorch would give NaN.
//
// window w > 0 (local attention): query i sees only keys j with |i − j| ≤ w, i.e. [lo, hi] = [max(0, i − w),
// min(T − 1, i + w)], and of those only the ones the mask leaves visible; the softmax runs over that range alone and
// every other probability is exactly 0. A query tile then computes scores only for the 4-aligned blocks covering its
// queries' ranges and sums the context only over their union (a key in the union but outside one query's window adds
// 0·v, an exact 0 for finite v, so a result still does not depend on where its query falls). w = 0 is global: the
// ranges are the whole sequence and every loop runs exactly as it does without a window.
//
// Queries go 4 at a time (QB): scores are a 4 queries × 8 keys register tile (each kT vector loaded serves 4
// queries) and the context a 4 queries × 8 features tile (each V vector serves 4 queries). Every score and context
// value is summed in the same order as the one-query path (the last T % 4 queries) uses, so a result does not depend
// on where its query falls.
//
// Scratch (byte offsets from `scratch`, each region 64-byte aligned):
//   qkv [T, 3D] f32 | kT [D, Tp] f32 | p [QB, Tp] f32 | ctx [T, D] f32
import { linear } from './gemm';
import { linear_q8, linear_q8_scratch_bytes } from './gemm-q8';
import { softmaxRow } from './softmax';
import { madd } from './simd';

// @ts-ignore: decorator
@inline function align64(n: usize): usize {
  return (n + 63) & ~(<usize>63);
}

// @ts-ignore: decorator
@inline const QB: usize = 4;

/**
 * Masks (hidden keys → −∞) and softmaxes one row of scores in place, zeroing the padded keys T..Tp−1.
 * With every key hidden the row is all 0.
 */
function probsRow(p: usize, T: i32, Tp: i32, mask: usize, visible: i32): void {
  if (visible == 0) {
    for (let j = 0; j < T; j++) store<f32>(p + (<usize>j << 2), 0);
  } else {
    if (mask != 0) {
      for (let j = 0; j < T; j++) {
        if (load<u8>(mask + <usize>j) == 0) store<f32>(p + (<usize>j << 2), -Infinity);
      }
    }
    softmaxRow(p, p, T);
  }
  for (let j = T; j < Tp; j++) store<f32>(p + (<usize>j << 2), 0);
}

/**
 * The windowed probsRow: p holds scores for keys [clo, chi) ⊇ [lo, hi]; softmaxes [lo, hi] (hidden keys → −∞) and
 * writes exact zeros over the rest of [clo, chi). With every key of the window hidden the row is all 0.
 */
function probsWindow(p: usize, lo: i32, hi: i32, clo: i32, chi: i32, mask: usize): void {
  for (let j = clo; j < lo; j++) store<f32>(p + (<usize>j << 2), 0);
  for (let j = hi + 1; j < chi; j++) store<f32>(p + (<usize>j << 2), 0);
  let visible = hi - lo + 1;
  if (mask != 0) {
    for (let j = lo; j <= hi; j++) {
      if (load<u8>(mask + <usize>j) == 0) {
        store<f32>(p + (<usize>j << 2), -Infinity);
        visible--;
      }
    }
  }
  if (visible == 0) {
    for (let j = lo; j <= hi; j++) store<f32>(p + (<usize>j << 2), 0);
  } else {
    const row = p + (<usize>lo << 2);
    softmaxRow(row, row, hi - lo + 1);
  }
}

/** Stores the first min(n, 4) lanes of v. */
// @ts-ignore: decorator
@inline function storeFeatures(p: usize, v: v128, n: i32): void {
  if (n >= 4) v128.store(p, v);
  else {
    v128.store32_lane(p, v, 0);
    if (n > 1) v128.store32_lane(p, v, 1, 4);
    if (n > 2) v128.store32_lane(p, v, 2, 8);
  }
}

export function attention_scratch_bytes(T: i32, D: i32, heads: i32): i32 {
  const Tp = <usize>((T + 3) & ~3);
  const t = <usize>T, d = <usize>D;
  return <i32>(align64(t * 3 * d * 4) + align64(d * Tp * 4) + align64(QB * Tp * 4) + align64(t * d * 4));
}

export function attention(
  x: usize, T: i32, D: i32, heads: i32, wqkv: usize, bqkv: usize, wo: usize, bo: usize,
  mask: usize, window: i32, out: usize, scratch: usize, res: usize,
): void {
  linear(x, wqkv, bqkv, scratch, T, D, 3 * D, 0, 0);
  linear(attend(T, D, heads, mask, window, scratch), wo, bo, out, T, D, D, 0, res);
}

/** Scratch of attention_q8: attention's, then linear_q8's for the T rows of the projections' inputs. */
export function attention_q8_scratch_bytes(T: i32, D: i32, heads: i32): i32 {
  return attention_scratch_bytes(T, D, heads) + linear_q8_scratch_bytes(T, D);
}

/** attention with int8 projections (linear_q8's packing and per-channel scales): the same softmax and context. */
export function attention_q8(
  x: usize, T: i32, D: i32, heads: i32, wqkv: usize, sqkv: usize, bqkv: usize, wo: usize, so: usize, bo: usize,
  mask: usize, window: i32, out: usize, scratch: usize, res: usize,
): void {
  const q8 = scratch + <usize>attention_scratch_bytes(T, D, heads);
  linear_q8(x, wqkv, sqkv, bqkv, scratch, T, D, 3 * D, 0, q8, 0);
  linear_q8(attend(T, D, heads, mask, window, scratch), wo, so, bo, out, T, D, D, 0, q8, res);
}

/**
 * softmax(q·kᵀ/√dh)·v per head for the [T, 3D] q|k|v rows at the start of `scratch`; returns the context rows
 * [T, D] (inside scratch).
 */
function attend(T: i32, D: i32, heads: i32, mask: usize, window: i32, scratch: usize): usize {
  // a window of T or more sees every key, the same as T − 1; capping it keeps i + w from overflowing
  const w = window > 0 ? min(window, T) : 0;
  const dh = D / heads;
  const Tp = (T + 3) & ~3;
  const t = <usize>T, d = <usize>D, tp = <usize>Tp;
  const qkv = scratch;
  const kT = qkv + align64(t * 3 * d * 4);
  const p = kT + align64(d * tp * 4);
  const ctx = p + align64(QB * tp * 4);

  // Transpose K: kT[f][j] = qkv[j][D + f], zero past T.
  const qkvRow = d * 12;
  const tRow = tp << 2;
  for (let f = 0; f < D; f++) {
    const kd = kT + <usize>f * tRow;
    let src = qkv + ((d + <usize>f) << 2);
    for (let j = 0; j < T; j++) {
      const o = <usize>j << 2;
      store<f32>(kd + o, load<f32>(src));
      src += qkvRow;
    }
    for (let j = T; j < Tp; j++) {
      store<f32>(kd + (<usize>j << 2), 0);
    }
  }
  let visible = T;
  if (mask != 0) {
    visible = 0;
    for (let j = 0; j < T; j++) if (load<u8>(mask + <usize>j) != 0) visible++;
  }

  const scale = f32x4.splat(<f32>(1.0 / Math.sqrt(<f64>dh)));
  const T4 = T & ~3;
  for (let h = 0; h < heads; h++) {
    const hf = <usize>(h * dh);
    const kh = kT + hf * tRow;
    const vh = qkv + ((2 * d + hf) << 2);

    // 4 queries at a time
    for (let i = 0; i < T4; i += 4) {
      const q0 = qkv + <usize>i * qkvRow + (hf << 2);
      const q1 = q0 + qkvRow, q2 = q1 + qkvRow, q3 = q2 + qkvRow;
      const p0 = p, p1 = p + tRow, p2 = p1 + tRow, p3 = p2 + tRow;
      // keys any of the 4 queries sees: [clo, chi), scored over the 4-aligned blocks [jlo, jhi) that cover them
      let clo = 0, chi = T;
      if (w > 0) {
        clo = max(0, i - w);
        chi = min(T, i + 4 + w);
      }
      const jlo = clo & ~3, jhi = (chi + 3) & ~3;

      // scores: 4 queries × 8 keys per tile, then a last block of 4 keys
      let j = jlo;
      for (; j + 8 <= jhi; j += 8) {
        let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
        let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          const o = <usize>e << 2;
          const k0 = v128.load(kp), k1 = v128.load(kp, 16);
          const s0 = v128.load32_splat(q0 + o);
          a0 = madd(s0, k0, a0); b0 = madd(s0, k1, b0);
          const s1 = v128.load32_splat(q1 + o);
          a1 = madd(s1, k0, a1); b1 = madd(s1, k1, b1);
          const s2 = v128.load32_splat(q2 + o);
          a2 = madd(s2, k0, a2); b2 = madd(s2, k1, b2);
          const s3 = v128.load32_splat(q3 + o);
          a3 = madd(s3, k0, a3); b3 = madd(s3, k1, b3);
          kp += tRow;
        }
        const jo = <usize>j << 2;
        v128.store(p0 + jo, f32x4.mul(a0, scale)); v128.store(p0 + jo, f32x4.mul(b0, scale), 16);
        v128.store(p1 + jo, f32x4.mul(a1, scale)); v128.store(p1 + jo, f32x4.mul(b1, scale), 16);
        v128.store(p2 + jo, f32x4.mul(a2, scale)); v128.store(p2 + jo, f32x4.mul(b2, scale), 16);
        v128.store(p3 + jo, f32x4.mul(a3, scale)); v128.store(p3 + jo, f32x4.mul(b3, scale), 16);
      }
      if (j < jhi) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          const o = <usize>e << 2;
          const k0 = v128.load(kp);
          a0 = madd(v128.load32_splat(q0 + o), k0, a0);
          a1 = madd(v128.load32_splat(q1 + o), k0, a1);
          a2 = madd(v128.load32_splat(q2 + o), k0, a2);
          a3 = madd(v128.load32_splat(q3 + o), k0, a3);
          kp += tRow;
        }
        const jo = <usize>j << 2;
        v128.store(p0 + jo, f32x4.mul(a0, scale));
        v128.store(p1 + jo, f32x4.mul(a1, scale));
        v128.store(p2 + jo, f32x4.mul(a2, scale));
        v128.store(p3 + jo, f32x4.mul(a3, scale));
      }

      if (w == 0) {
        probsRow(p0, T, Tp, mask, visible);
        probsRow(p1, T, Tp, mask, visible);
        probsRow(p2, T, Tp, mask, visible);
        probsRow(p3, T, Tp, mask, visible);
      } else {
        probsWindow(p0, max(0, i - w), min(T - 1, i + w), clo, chi, mask);
        probsWindow(p1, max(0, i + 1 - w), min(T - 1, i + 1 + w), clo, chi, mask);
        probsWindow(p2, max(0, i + 2 - w), min(T - 1, i + 2 + w), clo, chi, mask);
        probsWindow(p3, max(0, i + 3 - w), min(T - 1, i + 3 + w), clo, chi, mask);
      }

      // context: ctx[q][e..e+7] = Σ_j p_q[j]·v[j][e..e+7], 4 queries × 8 features per register tile, then 4, then
      // the last dh % 4 features (their vector lanes past the head are computed and not stored)
      const c0 = ctx + ((<usize>i * d + hf) << 2);
      const c1 = c0 + (d << 2), c2 = c1 + (d << 2), c3 = c2 + (d << 2);
      let e = 0;
      for (; e + 8 <= dh; e += 8) {
        let a0 = f32x4.splat(0), b0 = f32x4.splat(0), a1 = f32x4.splat(0), b1 = f32x4.splat(0);
        let a2 = f32x4.splat(0), b2 = f32x4.splat(0), a3 = f32x4.splat(0), b3 = f32x4.splat(0);
        let vp = vh + (<usize>e << 2) + <usize>clo * qkvRow;
        for (let j = clo; j < chi; j++) {
          const o = <usize>j << 2;
          const v0 = v128.load(vp), v1 = v128.load(vp, 16);
          const s0 = v128.load32_splat(p0 + o);
          a0 = madd(s0, v0, a0); b0 = madd(s0, v1, b0);
          const s1 = v128.load32_splat(p1 + o);
          a1 = madd(s1, v0, a1); b1 = madd(s1, v1, b1);
          const s2 = v128.load32_splat(p2 + o);
          a2 = madd(s2, v0, a2); b2 = madd(s2, v1, b2);
          const s3 = v128.load32_splat(p3 + o);
          a3 = madd(s3, v0, a3); b3 = madd(s3, v1, b3);
          vp += qkvRow;
        }
        const eo = <usize>e << 2;
        v128.store(c0 + eo, a0); v128.store(c0 + eo, b0, 16);
        v128.store(c1 + eo, a1); v128.store(c1 + eo, b1, 16);
        v128.store(c2 + eo, a2); v128.store(c2 + eo, b2, 16);
        v128.store(c3 + eo, a3); v128.store(c3 + eo, b3, 16);
      }
      for (; e < dh; e += 4) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let vp = vh + (<usize>e << 2) + <usize>clo * qkvRow;
        for (let j = clo; j < chi; j++) {
          const o = <usize>j << 2;
          const v0 = v128.load(vp);
          a0 = madd(v128.load32_splat(p0 + o), v0, a0);
          a1 = madd(v128.load32_splat(p1 + o), v0, a1);
          a2 = madd(v128.load32_splat(p2 + o), v0, a2);
          a3 = madd(v128.load32_splat(p3 + o), v0, a3);
          vp += qkvRow;
        }
        const eo = <usize>e << 2;
        storeFeatures(c0 + eo, a0, dh - e);
        storeFeatures(c1 + eo, a1, dh - e);
        storeFeatures(c2 + eo, a2, dh - e);
        storeFeatures(c3 + eo, a3, dh - e);
      }
    }

    // the last T % 4 queries one at a time
    for (let i = T4; i < T; i++) {
      const q = qkv + <usize>i * qkvRow + (hf << 2);
      let lo = 0, hi = T - 1;
      if (w > 0) {
        lo = max(0, i - w);
        hi = min(T - 1, i + w);
      }
      const jlo = lo & ~3, jhi = (hi + 4) & ~3;

      // scores, 8 keys at a time (two independent accumulators), then a last block of 4
      let j = jlo;
      for (; j + 8 <= jhi; j += 8) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          const qe = v128.load32_splat(q + (<usize>e << 2));
          acc0 = madd(qe, v128.load(kp), acc0);
          acc1 = madd(qe, v128.load(kp, 16), acc1);
          kp += tRow;
        }
        v128.store(p + (<usize>j << 2), f32x4.mul(acc0, scale));
        v128.store(p + (<usize>j << 2), f32x4.mul(acc1, scale), 16);
      }
      if (j < jhi) {
        let acc = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          acc = madd(v128.load32_splat(q + (<usize>e << 2)), v128.load(kp), acc);
          kp += tRow;
        }
        v128.store(p + (<usize>j << 2), f32x4.mul(acc, scale));
      }

      if (w == 0) probsRow(p, T, Tp, mask, visible);
      else probsWindow(p, lo, hi, lo, hi + 1, mask);

      // context, 4 features at a time, keys in order (the same sums as the 4-query tile)
      const c = ctx + ((<usize>i * d + hf) << 2);
      for (let e = 0; e < dh; e += 4) {
        let acc = f32x4.splat(0);
        let vp = vh + (<usize>e << 2) + <usize>lo * qkvRow;
        for (let j = lo; j <= hi; j++) {
          acc = madd(v128.load32_splat(p + (<usize>j << 2)), v128.load(vp), acc);
          vp += qkvRow;
        }
        storeFeatures(c + (<usize>e << 2), acc, dh - e);
      }
    }
  }
  return ctx;
}
