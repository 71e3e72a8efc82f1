// Float64 references of pad and concat (docs/FORMAT.md).

/** x[C, H, W] with `top`, `bottom`, `left`, `right` zero rows / columns around each channel. */
export function refPad(x: ArrayLike<number>, C: number, H: number, W: number, top: number, bottom: number, left: number, right: number): Float64Array {
  const OH = top + H + bottom, OW = left + W + right;
  const out = new Float64Array(C * OH * OW);
  for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) out[(c * OH + top + h) * OW + left + w] = x[(c * H + h) * W + w];
  return out;
}

export function refConcat(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(Array.from(a));
  out.set(Array.from(b), a.length);
  return out;
}
