// Multi-head self-attention (see docs/KERNELS.md), PyTorch nn.MultiheadAttention semantics, batch 1.
//
//   qkv = x·wqkvᵀ + bqkv                  [T, 3D]   (q = columns 0..D−1, k = D..2D−1, v = 2D..3D−1)
//   per head h (dh = D/heads):  p = softmax(q_h·k_hᵀ/√dh, hidden keys → probability exactly 0),  ctx_h = p·v_h
//   out = ctx·woᵀ + bo
//
// K and V are transposed per feature into rows of Tp = T rounded up to 4 keys (zero padded), so both inner products
// run 4 keys per f32x4 lane group whatever dh is: scores[j..j+3] = Σ_d q[d]·kT[d][j..j+3] and
// ctx[d] = Σ_j p[j]·vT[d][j] (the padded keys have probability 0 and value 0).
// If every key is hidden the probabilities are all 0 and the context is 0 (out = bo); PyTorch would give NaN.
//
// Scratch (byte offsets from `scratch`, each region 64-byte aligned):
//   qkv [T, 3D] f32 | kT [D, Tp] f32 | vT [D, Tp] f32 | p [Tp] f32 | ctx [T, D] f32
import { linear } from './gemm';
import { softmax } from './norm';

// @ts-ignore: decorator
@inline function align64(n: usize): usize {
  return (n + 63) & ~(<usize>63);
}

export function attention_scratch_bytes(T: i32, D: i32, heads: i32): i32 {
  const Tp = <usize>((T + 3) & ~3);
  const t = <usize>T, d = <usize>D;
  return <i32>(align64(t * 3 * d * 4) + 2 * align64(d * Tp * 4) + align64(Tp * 4) + align64(t * d * 4));
}

export function attention(
  x: usize, T: i32, D: i32, heads: i32, wqkv: usize, bqkv: usize, wo: usize, bo: usize,
  mask: usize, out: usize, scratch: usize,
): void {
  const dh = D / heads;
  const Tp = (T + 3) & ~3;
  const t = <usize>T, d = <usize>D, tp = <usize>Tp;
  const qkv = scratch;
  const kT = qkv + align64(t * 3 * d * 4);
  const vT = kT + align64(d * tp * 4);
  const p = vT + align64(d * tp * 4);
  const ctx = p + align64(tp * 4);

  linear(x, wqkv, bqkv, qkv, T, D, 3 * D, 0);

  // Transpose K and V: kT[f][j] = qkv[j][D + f], vT[f][j] = qkv[j][2D + f], zero past T.
  const qkvRow = d * 12;
  const tRow = tp << 2;
  for (let f = 0; f < D; f++) {
    const kd = kT + <usize>f * tRow;
    const vd = vT + <usize>f * tRow;
    let src = qkv + ((d + <usize>f) << 2);
    for (let j = 0; j < T; j++) {
      const o = <usize>j << 2;
      store<f32>(kd + o, load<f32>(src));
      store<f32>(vd + o, load<f32>(src + (d << 2)));
      src += qkvRow;
    }
    for (let j = T; j < Tp; j++) {
      store<f32>(kd + (<usize>j << 2), 0);
      store<f32>(vd + (<usize>j << 2), 0);
    }
  }
  let visible = T;
  if (mask != 0) {
    visible = 0;
    for (let j = 0; j < T; j++) if (load<u8>(mask + <usize>j) != 0) visible++;
  }

  const scale = f32x4.splat(<f32>(1.0 / Math.sqrt(<f64>dh)));
  for (let i = 0; i < T; i++) {
    for (let h = 0; h < heads; h++) {
      const hf = <usize>(h * dh);
      const q = qkv + <usize>i * qkvRow + (hf << 2);
      const kh = kT + hf * tRow;
      const vh = vT + hf * tRow;

      // scores, 8 keys at a time (two independent accumulators), then a last block of 4
      let j = 0;
      for (; j + 8 <= Tp; j += 8) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          const qe = f32x4.splat(load<f32>(q + (<usize>e << 2)));
          acc0 = f32x4.add(acc0, f32x4.mul(qe, v128.load(kp)));
          acc1 = f32x4.add(acc1, f32x4.mul(qe, v128.load(kp, 16)));
          kp += tRow;
        }
        v128.store(p + (<usize>j << 2), f32x4.mul(acc0, scale));
        v128.store(p + (<usize>j << 2), f32x4.mul(acc1, scale), 16);
      }
      if (j < Tp) {
        let acc = f32x4.splat(0);
        let kp = kh + (<usize>j << 2);
        for (let e = 0; e < dh; e++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(q + (<usize>e << 2))), v128.load(kp)));
          kp += tRow;
        }
        v128.store(p + (<usize>j << 2), f32x4.mul(acc, scale));
      }

      if (visible == 0) {
        for (let j = 0; j < T; j++) store<f32>(p + (<usize>j << 2), 0);
      } else {
        if (mask != 0) {
          for (let j = 0; j < T; j++) {
            if (load<u8>(mask + <usize>j) == 0) store<f32>(p + (<usize>j << 2), -Infinity);
          }
        }
        softmax(p, p, 1, T);
      }
      for (let j = T; j < Tp; j++) store<f32>(p + (<usize>j << 2), 0);

      // context: one feature of the head at a time, 4 keys per lane group, two accumulators
      const c = ctx + ((<usize>i * d + hf) << 2);
      for (let e = 0; e < dh; e++) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
        const vp = vh + <usize>e * tRow;
        let jj = 0;
        for (; jj + 8 <= Tp; jj += 8) {
          const o = <usize>jj << 2;
          acc0 = f32x4.add(acc0, f32x4.mul(v128.load(p + o), v128.load(vp + o)));
          acc1 = f32x4.add(acc1, f32x4.mul(v128.load(p + o, 16), v128.load(vp + o, 16)));
        }
        if (jj < Tp) {
          const o = <usize>jj << 2;
          acc0 = f32x4.add(acc0, f32x4.mul(v128.load(p + o), v128.load(vp + o)));
        }
        const acc = f32x4.add(acc0, acc1);
        const sum = f32x4.add(acc, i64x2.shuffle(acc, acc, 1, 0));
        store<f32>(c + (<usize>e << 2), f32x4.extract_lane(sum, 0) + f32x4.extract_lane(sum, 1));
      }
    }
  }

  linear(ctx, wo, bo, out, T, D, D, 0);
}
