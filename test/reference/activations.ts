// Float64 references of the standalone activations (docs/FORMAT.md), straight from their definitions.

const map = (x: ArrayLike<number>, f: (v: number) => number): Float64Array => {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
  return out;
};

export const refSigmoid = (x: ArrayLike<number>) => map(x, (v) => 1 / (1 + Math.exp(-v)));
export const refTanh = (x: ArrayLike<number>) => map(x, Math.tanh);
/**
 * ½·x·(1 + tanh u), u = √(2/π)·(x + 0.044715·x³), evaluated as x/(1 + e^−2u) (the identity 1 + tanh u = 2/(1 + e^−2u)):
 * 1 + tanh u itself rounds to 0 in float64 for x below about −6, where the true value is still a normal f32.
 */
export const refGeluTanh = (x: ArrayLike<number>) => map(x, (v) => v / (1 + Math.exp(-2 * Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
export const refHardsigmoid = (x: ArrayLike<number>, alpha: number, beta: number) => map(x, (v) => Math.max(0, Math.min(1, alpha * v + beta)));
export const refHardswish = (x: ArrayLike<number>) => map(x, (v) => v * Math.max(0, Math.min(1, v / 6 + 0.5)));
export const refClip = (x: ArrayLike<number>, lo = -Infinity, hi = Infinity) => map(x, (v) => Math.min(Math.max(v, lo), hi));
