// Float64 reference of causal attention (docs/FORMAT.md): query i sees keys j ≤ i (and j ≥ i − window when window > 0).

export function refAttentionCausal(x: ArrayLike<number>, T: number, D: number, heads: number, wqkv: ArrayLike<number>,
  bqkv: ArrayLike<number>, wo: ArrayLike<number>, bo: ArrayLike<number>, window: number): Float64Array {
  const dh = D / heads;
  const qkv = new Float64Array(T * 3 * D);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < 3 * D; n++) {
      let s = bqkv[n];
      for (let k = 0; k < D; k++) s += x[t * D + k] * wqkv[n * D + k];
      qkv[t * 3 * D + n] = s;
    }
  }
  const ctx = new Float64Array(T * D);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < T; i++) {
      const lo = window > 0 ? Math.max(0, i - window) : 0;
      const sc: number[] = [];
      for (let j = lo; j <= i; j++) {
        let s = 0;
        for (let e = 0; e < dh; e++) s += qkv[i * 3 * D + h * dh + e] * qkv[j * 3 * D + D + h * dh + e];
        sc.push(s / Math.sqrt(dh));
      }
      const m = Math.max(...sc);
      const ex = sc.map((s) => Math.exp(s - m));
      const sum = ex.reduce((a, b) => a + b, 0);
      for (let e = 0; e < dh; e++) {
        let acc = 0;
        for (let j = lo; j <= i; j++) acc += (ex[j - lo] / sum) * qkv[j * 3 * D + 2 * D + h * dh + e];
        ctx[i * D + h * dh + e] = acc;
      }
    }
  }
  const out = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < D; n++) {
      let s = bo[n];
      for (let k = 0; k < D; k++) s += ctx[t * D + k] * wo[n * D + k];
      out[t * D + n] = s;
    }
  }
  return out;
}
