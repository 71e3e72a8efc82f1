// Number formatting for reports people read: bytes in B/KB/MB, costs as fractions of the whole network, percentages
// with a sensible number of digits. Pure functions, no Node modules (the report renders in browsers too).

/** Bytes with a unit: 812 B, 12.3 KB, 4.56 MB (1 KB = 1,000 bytes, as network traffic is counted). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a < 1000) return `${Math.round(n)} B`;
  const [v, unit] = a < 1e6 ? [n / 1e3, 'KB'] : a < 1e9 ? [n / 1e6, 'MB'] : [n / 1e9, 'GB'];
  const av = Math.abs(v);
  return `${v.toFixed(av < 10 ? 2 : av < 100 ? 1 : 0)} ${unit}`;
}

/**
 * Tick labels of a byte axis: one unit for the whole axis (chosen by its largest value) and as many decimals as the
 * tick step needs, so ticks read 0 B, 50 KB, 100 KB … rather than mixing precisions.
 */
export function byteTicks(maxValue: number): (v: number, step: number) => string {
  const [scale, unit] = maxValue < 1e3 ? [1, 'B'] : maxValue < 1e6 ? [1e3, 'KB'] : maxValue < 1e9 ? [1e6, 'MB'] : [1e9, 'GB'];
  return (v, step) => {
    if (v === 0) return '0';
    const decimals = Math.max(0, Math.min(3, -Math.floor(Math.log10(step / scale) + 1e-9)));
    return `${(v / scale).toFixed(decimals)} ${unit}`;
  };
}

/** A fraction as a percentage: 0.5573 → "55.7 %" (digits: 1 by default). */
export function formatPercent(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return '–';
  return `${(v * 100).toFixed(digits)} %`;
}

/** A difference of two fractions in percentage points, signed: −0.0010 → "−0.10 pts". */
export function formatPoints(v: number, digits = 2): string {
  if (!Number.isFinite(v)) return '–';
  const p = v * 100;
  const s = Math.abs(p).toFixed(digits);
  if (Number(s) === 0) return `0.${'0'.repeat(digits)} pts`;
  return `${p < 0 ? '−' : '+'}${s} pts`;
}

/** A number with at most `sig` significant digits and no trailing zeros: 0.14285714 → "0.1429". */
export function formatNumber(v: number, sig = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 10 ** sig) return Math.round(v).toLocaleString('en-US');
  return String(Number(v.toPrecision(sig)));
}

/** `v` as n/d with a small denominator when it is one (within 1e-9 relative), else null: 0.142857… → "1/7". */
export function simpleFraction(v: number, maxDen = 64): string | null {
  if (!(v > 0) || !Number.isFinite(v)) return null;
  for (let d = 1; d <= maxDen; d++) {
    const n = Math.round(v * d);
    if (n > 0 && Math.abs(n / d - v) <= 1e-9 * v) return d === 1 ? String(n) : `${n}/${d}`;
  }
  return null;
}

/** λ described for a reader: "1/7 of the network per layer (λ = 0.1429)", or in cost units when λ·L ≠ 1. */
export function describeLambda(lambda: number, numLayers: number): string {
  const share = lambda * numLayers;
  if (Math.abs(share - 1) <= 1e-9) {
    const f = simpleFraction(lambda);
    return `${f ?? formatNumber(lambda)} of the network per layer (λ = ${formatNumber(lambda)})`;
  }
  return `λ = ${formatNumber(lambda)} per layer; the whole network (${numLayers} layers) costs ${formatNumber(share)}`;
}

/** o described against the whole network: "0.25 of the whole network's cost (o = 0.25)". */
export function describeOffloadCost(o: number, lambda: number, numLayers: number): string {
  const whole = lambda * numLayers;
  if (!(whole > 0)) return `o = ${formatNumber(o)}`;
  const rel = o / whole;
  const f = simpleFraction(rel, 16);
  return `${f ?? formatNumber(rel, 3)} of the whole network's cost per offload (o = ${formatNumber(o)})`;
}

/** Milliseconds with two to three significant digits: 4.91 ms, 42.0 ms, 128 ms. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  return `${ms.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0)} ms`;
}
