// Float64 references of the broadcast ops (docs/FORMAT.md): affine and mul.

/** x as [outer, C, inner]: x·w[c] + b[c]; a missing w is 1, a missing b is 0; w, b of length 1 apply to all. */
export function refAffine(x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null, shape: number[]): Float64Array {
  const K = (w ?? b)!.length;
  const chan = shape.length === 3 ? 0 : shape.length - 1;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    // the index along the channel axis of element i
    let rest = i, c = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const k = rest % shape[d];
      rest = (rest - k) / shape[d];
      if (d === chan) c = k;
    }
    const j = K === 1 ? 0 : c;
    out[i] = x[i] * (w ? w[j] : 1) + (b ? b[j] : 0);
  }
  return out;
}

/** a ⊙ b where b has a's shape or is per channel / per feature of it (a is the larger). */
export function refMul(a: ArrayLike<number>, aShape: number[], b: ArrayLike<number>): Float64Array {
  if (b.length === a.length) return Float64Array.from(a, (v, i) => v * b[i]);
  return refAffine(a, b, null, aShape);
}
