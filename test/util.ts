// Shared test helpers: a seeded PRNG (so every failure is reproducible from its seed) and tolerant comparisons.
import * as assert from 'uvu/assert';

/** mulberry32: tiny, fast, good enough for test data. */
export function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  let spare: number | undefined;
  return {
    next,
    uniform: (a = -1, b = 1) => a + (b - a) * next(),
    int: (lo: number, hiExclusive: number) => lo + Math.floor(next() * (hiExclusive - lo)),
    normal: () => {
      if (spare !== undefined) { const v = spare; spare = undefined; return v; }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}
export type Rng = ReturnType<typeof rng>;

/** n normal(0, scale) values as float32 (what the kernels see) — never zeros. */
export function randn(r: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r.normal() * scale;
  return a;
}

/**
 * Asserts |a − e| ≤ atol + rtol·|e| element-wise, reporting the worst element; a NaN or an infinity must be matched
 * exactly. The atol term exists for outputs that cancel to ~0, where a relative bound is meaningless; keep it tiny
 * relative to the data's scale.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what = ''): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let worst = -1, worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    // A NaN is matched only by a NaN, an infinity only by the same infinity (|a − e| would be NaN and slip through).
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) && Number.isNaN(a)) continue;
      worst = i; worstExcess = Infinity; break;
    }
    if ((!Number.isFinite(a) || !Number.isFinite(e)) && a !== e) { worst = i; worstExcess = Infinity; break; }
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) { worstExcess = excess; worst = i; }
  }
  if (worst >= 0) {
    assert.unreachable(`${what}: element ${worst} is ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Relative error ‖a − e‖₂ / ‖e‖₂, the usual summary for a whole tensor. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < expected.length; i++) { const d = actual[i] - expected[i]; num += d * d; den += expected[i] * expected[i]; }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

/** The largest |a[i]| (0 for an empty array): the scale for an absolute tolerance. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
