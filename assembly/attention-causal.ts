// attention_causal (see docs/KERNELS.md): multi-head self-attention where query i sees only keys j ≤ i (and, with
// window w > 0, also j ≥ i − w), in nn.MultiheadAttention layout like `attention`: qkv = x·wqkvᵀ + bqkv, per head a
// softmax over the visible keys, ctx = Σ p·v, out = ctx·woᵀ + bo. One query at a time: its scores need at most i + 1
// keys, so the work is about half of global attention's.
//
// Scratch (bytes from `scratch`): qkv [T, 3D], then ctx [T, D], then one row of scores [T], each 64-byte aligned;
// attention_causal_scratch_bytes says how much.

import { linear } from './gemm';

// @ts-ignore: decorator
@inline function align64(n: usize): usize {
  return (n + 63) & ~(<usize>63);
}

export function attention_causal_scratch_bytes(T: i32, D: i32): i32 {
  const t = <usize>T, d = <usize>D;
  return <i32>(align64(t * 3 * d * 4) + align64(t * d * 4) + align64(t * 4));
}

/** x·y over n floats: 4 lanes at a time, then the rest (the same order for every query and key). */
// @ts-ignore: decorator
@inline function dot(x: usize, y: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let e = 0;
  for (; e + 4 <= n; e += 4) {
    const o = <usize>e << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(x + o), v128.load(y + o)));
  }
  let s = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  for (; e < n; e++) s += load<f32>(x + (<usize>e << 2)) * load<f32>(y + (<usize>e << 2));
  return s;
}

export function attention_causal(
  x: usize, T: i32, D: i32, heads: i32, wqkv: usize, bqkv: usize, wo: usize, bo: usize,
  window: i32, out: usize, scratch: usize, res: usize,
): void {
  const dh = D / heads;
  const t = <usize>T, d = <usize>D;
  const qkv = scratch;
  const ctx = qkv + align64(t * 3 * d * 4);
  const p = ctx + align64(t * d * 4);
  const row = d * 12; // bytes of one qkv row
  const scale = <f32>(1.0 / Math.sqrt(<f64>dh));

  linear(x, wqkv, bqkv, qkv, T, D, 3 * D, 0, 0);

  for (let h = 0; h < heads; h++) {
    const hf = <usize>(h * dh) << 2;
    for (let i = 0; i < T; i++) {
      const lo = window > 0 ? max(0, i - window) : 0;
      const q = qkv + <usize>i * row + hf;
      let m: f32 = -Infinity;
      for (let j = lo; j <= i; j++) {
        const s = dot(q, qkv + <usize>j * row + (d << 2) + hf, dh) * scale;
        store<f32>(p + (<usize>j << 2), s);
        m = max(m, s);
      }
      let sum: f32 = 0;
      for (let j = lo; j <= i; j++) {
        const e = Mathf.exp(load<f32>(p + (<usize>j << 2)) - m);
        store<f32>(p + (<usize>j << 2), e);
        sum += e;
      }
      const inv: f32 = 1 / sum;
      // ctx_i (this head's dh features) = Σ_j p_j·v_j / sum, 4 features at a time
      const c = ctx + <usize>i * (d << 2) + hf;
      let e = 0;
      for (; e + 4 <= dh; e += 4) {
        const o = <usize>e << 2;
        let acc = f32x4.splat(0);
        for (let j = lo; j <= i; j++) {
          acc = f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(p + (<usize>j << 2))), v128.load(qkv + <usize>j * row + (d << 3) + hf + o)));
        }
        v128.store(c + o, f32x4.mul(acc, f32x4.splat(inv)));
      }
      for (; e < dh; e++) {
        const o = <usize>e << 2;
        let acc: f32 = 0;
        for (let j = lo; j <= i; j++) acc += load<f32>(p + (<usize>j << 2)) * load<f32>(qkv + <usize>j * row + (d << 3) + hf + o);
        store<f32>(c + o, acc * inv);
      }
    }
  }

  linear(ctx, wo, bo, out, T, D, D, 0, res);
}
