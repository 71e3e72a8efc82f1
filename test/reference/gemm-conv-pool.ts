// Plain float64 references for linear, conv2d and pooling, written for clarity rather than speed. The WASM tests and
// the WebGPU tests both compare against these. Layouts follow docs/FORMAT.md (batch 1, channel-major images).

export type RefAct = 'none' | 'relu' | 'relu6' | 'gelu';

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * erfc(x) for x ≥ 1.5 by its continued fraction
 *   erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …)))))
 * evaluated bottom-up; for x ≥ 1.5 a depth of 200 converges past double precision.
 */
function erfcLarge(x: number): number {
  let f = 0;
  for (let n = 200; n >= 1; n--) f = (n / 2) / (x + f);
  return Math.exp(-x * x) * ONE_OVER_SQRT_PI / (x + f);
}

/**
 * erf(x) for |x| < 3 by the all-positive series
 *   erf(x) = 2/√π · e^(−x²) · Σ_n 2ⁿ x^(2n+1) / (1·3·5···(2n+1)),
 * which, unlike the alternating Maclaurin series, has no cancellation.
 */
function erfSmall(x: number): number {
  const x2 = x * x;
  let term = x, sum = x;
  for (let n = 1; n < 200; n++) {
    term *= 2 * x2 / (2 * n + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/** The error function, to ~1e-15 relative (erf is odd). */
export function refErf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const r = a < 3 ? erfSmall(a) : 1 - erfcLarge(a);
  return x < 0 ? -r : r;
}

/** erfc(x) = 1 − erf(x), computed without cancellation for large positive x. */
export function refErfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x >= 1.5) return erfcLarge(x);
  if (x <= -1.5) return 2 - erfcLarge(-x);
  return 1 - refErf(x);
}

/** GELU in its erf form, 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(−x/√2) (the latter keeps precision for x ≪ 0). */
export function refGelu(x: number): number {
  return 0.5 * x * refErfc(-x * Math.SQRT1_2);
}

export function refActivation(v: number, act: RefAct): number {
  switch (act) {
    case 'none': return v;
    case 'relu': return v > 0 ? v : 0;
    case 'relu6': return v < 0 ? 0 : v > 6 ? 6 : v;
    case 'gelu': return refGelu(v);
  }
}

/** out[M,N] = act(x[M,K] · wᵀ + b), w in PyTorch `[N, K]` layout, b `[N]` or null. */
export function refLinear(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null,
  M: number, K: number, N: number, act: RefAct): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b ? b[n] : 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      out[m * N + n] = refActivation(s, act);
    }
  }
  return out;
}

export function convOutSize(size: number, k: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - k) / stride) + 1;
}

/** x[C,H,W] → out[OC,OH,OW]; w `[OC, C/groups, KH, KW]`; zero padding; b `[OC]` or null. */
export function refConv2d(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null,
  C: number, H: number, W: number, OC: number, KH: number, KW: number,
  stride: number, pad: number, groups: number, act: RefAct): Float64Array {
  const OH = convOutSize(H, KH, stride, pad), OW = convOutSize(W, KW, stride, pad);
  const Cg = C / groups, OCg = OC / groups;
  const out = new Float64Array(OC * OH * OW);
  for (let oc = 0; oc < OC; oc++) {
    const g = Math.floor(oc / OCg);
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = b ? b[oc] : 0;
        for (let ci = 0; ci < Cg; ci++) {
          const c = g * Cg + ci;
          for (let kh = 0; kh < KH; kh++) {
            const ih = oh * stride - pad + kh;
            if (ih < 0 || ih >= H) continue;
            for (let kw = 0; kw < KW; kw++) {
              const iw = ow * stride - pad + kw;
              if (iw < 0 || iw >= W) continue;
              s += x[(c * H + ih) * W + iw] * w[((oc * Cg + ci) * KH + kh) * KW + kw];
            }
          }
        }
        out[(oc * OH + oh) * OW + ow] = refActivation(s, act);
      }
    }
  }
  return out;
}

/** Max over the in-bounds part of each window (padding never wins; an all-padding window gives −∞). */
export function refMaxpool2d(x: ArrayLike<number>, C: number, H: number, W: number,
  k: number, stride: number, pad: number): Float64Array {
  const OH = convOutSize(H, k, stride, pad), OW = convOutSize(W, k, stride, pad);
  const out = new Float64Array(C * OH * OW);
  for (let c = 0; c < C; c++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let m = -Infinity;
        for (let kh = 0; kh < k; kh++) {
          const ih = oh * stride - pad + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < k; kw++) {
            const iw = ow * stride - pad + kw;
            if (iw < 0 || iw >= W) continue;
            m = Math.max(m, x[(c * H + ih) * W + iw]);
          }
        }
        out[(c * OH + oh) * OW + ow] = m;
      }
    }
  }
  return out;
}

/** Sum over the in-bounds part of each window divided by k·k (PyTorch's count_include_pad=True). */
export function refAvgpool2d(x: ArrayLike<number>, C: number, H: number, W: number,
  k: number, stride: number, pad: number): Float64Array {
  const OH = convOutSize(H, k, stride, pad), OW = convOutSize(W, k, stride, pad);
  const out = new Float64Array(C * OH * OW);
  for (let c = 0; c < C; c++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let s = 0;
        for (let kh = 0; kh < k; kh++) {
          const ih = oh * stride - pad + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < k; kw++) {
            const iw = ow * stride - pad + kw;
            if (iw < 0 || iw >= W) continue;
            s += x[(c * H + ih) * W + iw];
          }
        }
        out[(c * OH + oh) * OW + ow] = s / (k * k);
      }
    }
  }
  return out;
}

/** Global average pool `[C, HW] → [C]`. */
export function refGap(x: ArrayLike<number>, C: number, HW: number): Float64Array {
  const out = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let i = 0; i < HW; i++) s += x[c * HW + i];
    out[c] = s / HW;
  }
  return out;
}
