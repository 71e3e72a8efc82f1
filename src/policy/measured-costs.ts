// Costs in milliseconds, turned into the paper's reward units. A deployment pays in time: each layer's latency on
// this device, and for an offload the transfer (bytes over the link's bandwidth) plus the round trip and the
// cloud's time. One trade-off weight μ (reward, i.e. confidence, per millisecond; I-SplitEE's μ) converts them:
//   γ_k = μ·Σ_{j ≤ k} t_j,   o_k = μ·(transfer_k + round trip + cloud),   reward = C − γ_k (− o_k).
// Normalisation: the default μ = 1/T, T = Σ_j t_j (the whole network on the device costs exactly 1). With equal
// layer times that is γ_k = k/L, i.e. the paper's λ·k with the reproduction's λ = 1/L, and o = offload time / T:
// with the paper's constants the reward is the paper's, unchanged. Pure module: no Node imports.
import { PolicyError, type ResolvedCosts } from './types.js';

/** A link as seen from the device: what an offload of `bytes` costs in time. */
export interface LinkTimes {
  /** Round trip without the payload: latency both ways plus the cloud's queue and compute, ms. */
  rttMs: number;
  /** Bandwidth towards the cloud, Mbit/s. */
  bandwidthMbit: number;
}

/** Transfer time of `bytes` over `bandwidthMbit` Mbit/s, in ms: bytes·8 / (Mbit/s · 1000). */
export function transferMs(bytes: number, bandwidthMbit: number): number {
  return (bytes * 8) / (bandwidthMbit * 1000);
}

/** Offload time of a frame of `bytes`: the transfer plus the round trip, ms. */
export function offloadMs(bytes: number, link: LinkTimes): number {
  return link.rttMs + transferMs(bytes, link.bandwidthMbit);
}

export interface MeasuredCosts {
  /** Exit threshold α ∈ [0, 1]. */
  alpha: number;
  /** Device latency of layers 1..L (exit included), ms; each ≥ 0, the sum > 0. */
  layerMs: ArrayLike<number>;
  /** Offload time of a split at k = 1..L − 1 (index k − 1), ms: transfer of that split's frame + round trip. */
  offloadMs: ArrayLike<number>;
  /** Reward per ms (default 1 / Σ layerMs: the whole network on the device costs 1). */
  mu?: number;
}

function finiteNonNeg(x: number): boolean {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

/** The default μ for these layer times: 1 / (whole network on the device, ms). */
export function defaultMu(layerMs: ArrayLike<number>): number {
  let T = 0;
  for (let j = 0; j < layerMs.length; j++) T += layerMs[j];
  if (!(T > 0) || !Number.isFinite(T)) throw new PolicyError('BAD_COSTS', `the layers' device time must be > 0 ms, got ${T}`);
  return 1 / T;
}

/** Milliseconds → ResolvedCosts (cum = μ·cumulative layer time, offloadAt[k] = μ·offload time of a split at k). */
export function costsFromMs(m: MeasuredCosts): ResolvedCosts {
  const L = m.layerMs.length;
  if (!Number.isInteger(L) || L < 1) throw new PolicyError('BAD_DEPTH', 'measured costs need the time of at least one layer');
  if (typeof m.alpha !== 'number' || !(m.alpha >= 0 && m.alpha <= 1)) throw new PolicyError('BAD_COSTS', `alpha must be in [0, 1], got ${m.alpha}`);
  if (m.offloadMs.length < L - 1) throw new PolicyError('BAD_COSTS', `offload times are needed for splits 1..${L - 1}, got ${m.offloadMs.length}`);
  const mu = m.mu ?? defaultMu(m.layerMs);
  if (!(mu > 0) || !Number.isFinite(mu)) throw new PolicyError('BAD_COSTS', `mu (reward per ms) must be a finite number > 0, got ${mu}`);
  const cum = new Float64Array(L + 1), offloadAt = new Float64Array(L + 1);
  let ms = 0;
  for (let k = 1; k <= L; k++) {
    const t = m.layerMs[k - 1];
    if (!finiteNonNeg(t)) throw new PolicyError('BAD_COSTS', `device time of layer ${k} must be a finite number ≥ 0 ms, got ${t}`);
    ms += t;
    cum[k] = mu * ms;
  }
  if (!(cum[L] > 0)) throw new PolicyError('BAD_COSTS', 'the whole network must take > 0 ms on the device');
  for (let k = 1; k < L; k++) {
    const o = m.offloadMs[k - 1];
    if (!finiteNonNeg(o)) throw new PolicyError('BAD_COSTS', `offload time of a split at ${k} must be a finite number ≥ 0 ms, got ${o}`);
    offloadAt[k] = mu * o;
  }
  return { L, alpha: m.alpha, offloadCost: L > 1 ? offloadAt[1] : 0, cum, offloadAt };
}

/** How many times faster (once) or slower (twice in a row) than predicted offloads show a change of the link. */
export const LINK_JUMP = 3;

/**
 * Running estimates of the costs a device measures as it goes, in ms: each layer's device time, and the link as
 * offload time = a + b·bytes (a: round trip and cloud time; b: ms per byte, i.e. 8 / (1000·Mbit/s)), fitted by
 * exponentially weighted least squares over the observed offloads, so both follow a changing network. `costs()`
 * turns the current estimates into ResolvedCosts with a fixed μ.
 */
export class CostEstimator {
  readonly L: number;
  readonly alpha: number;
  /** Weight of a new measurement (exponential forgetting), in (0, 1]. */
  readonly smoothing: number;
  /** Current device time estimate of each layer 1..L (index j − 1), ms. */
  readonly layerMs: Float64Array;
  /** Last frame size seen for a split at k = 1..L − 1 (index k − 1), bytes; NaN until one is seen. */
  readonly frameBytes: Float64Array;
  private mu: number | undefined;
  // Exponentially weighted sums of (bytes, ms) over offloads: w, Σx, Σy, Σxx, Σxy.
  private sw = 0; private sx = 0; private sy = 0; private sxx = 0; private sxy = 0;
  private haveLayers = false;
  /** The latest offload, when it was LINK_JUMP times slower than predicted (one more confirms a slower link). */
  private slowJump: { bytes: number; ms: number } | undefined;

  constructor(L: number, opts: { alpha: number; mu?: number; smoothing?: number }) {
    if (!Number.isInteger(L) || L < 1) throw new PolicyError('BAD_DEPTH', `number of layers must be an integer ≥ 1, got ${L}`);
    if (!(opts.alpha >= 0 && opts.alpha <= 1)) throw new PolicyError('BAD_COSTS', `alpha must be in [0, 1], got ${opts.alpha}`);
    const s = opts.smoothing ?? 0.1;
    if (!(s > 0 && s <= 1)) throw new PolicyError('BAD_OPTION', `smoothing must be in (0, 1], got ${s}`);
    if (opts.mu !== undefined && !(opts.mu > 0 && Number.isFinite(opts.mu))) throw new PolicyError('BAD_COSTS', `mu must be a finite number > 0, got ${opts.mu}`);
    this.L = L;
    this.alpha = opts.alpha;
    this.smoothing = s;
    this.mu = opts.mu;
    this.layerMs = new Float64Array(L);
    this.frameBytes = new Float64Array(Math.max(L - 1, 0)).fill(NaN);
  }

  /** Per-layer times of one pass through layers 1..ms.length (a calibration run, or side exits), ms. */
  observeLayers(ms: ArrayLike<number>): void {
    const s = this.haveLayers ? this.smoothing : 1;
    for (let j = 0; j < ms.length && j < this.L; j++) {
      const x = ms[j];
      if (!(x >= 0) || !Number.isFinite(x)) continue;
      this.layerMs[j] = this.haveLayers ? (1 - s) * this.layerMs[j] + s * x : x;
    }
    this.haveLayers = true;
  }

  /**
   * The device time of layers 1..layer taken together (a sample whose exits were not timed one by one): every
   * layer's estimate is scaled by the same factor towards it.
   */
  observePrefix(layer: number, ms: number): void {
    if (!this.haveLayers || !(ms > 0) || !Number.isFinite(ms) || layer < 1 || layer > this.L) return;
    let pred = 0;
    for (let j = 0; j < layer; j++) pred += this.layerMs[j];
    if (!(pred > 0)) return;
    const f = 1 - this.smoothing + this.smoothing * (ms / pred);
    for (let j = 0; j < layer; j++) this.layerMs[j] *= f;
  }

  /**
   * One offload at split k: its frame's bytes and the observed time from sending to the answer, ms. Offloads are
   * often rare once they became dear, so a change of the link is taken at once when it is certain: a round trip
   * LINK_JUMP times faster than the fit predicts for its size cannot be noise (other work only ever adds time), and
   * two in a row LINK_JUMP times slower are not a single stall of a loaded machine; the fit then starts again from
   * them. Anything else (and any jump smaller than a tenth of the whole network's device time) moves the fit by the
   * smoothing weight.
   */
  observeOffload(k: number, bytes: number, ms: number): void {
    if (k < 1 || k >= this.L || !(bytes > 0) || !(ms >= 0) || !Number.isFinite(ms)) return;
    this.frameBytes[k - 1] = bytes;
    const link = this.link();
    const predicted = link ? offloadMs(bytes, link) : NaN;
    // A jump must also matter next to the device's time (a tenth of the whole network): sub-millisecond round trips
    // on loopback vary by large factors that change no decision.
    let whole = 0;
    for (let j = 0; j < this.L; j++) whole += this.layerMs[j];
    const floor = 0.1 * whole;
    const faster = predicted > LINK_JUMP * ms && predicted - ms > floor;
    const slower = ms > LINK_JUMP * predicted && ms - predicted > floor;
    if (faster || (slower && this.slowJump)) {
      const first = faster ? undefined : this.slowJump;
      this.sw = 0; this.sx = 0; this.sy = 0; this.sxx = 0; this.sxy = 0;
      if (first) this.addOffload(first.bytes, first.ms);
      this.slowJump = undefined;
    } else {
      this.slowJump = slower ? { bytes, ms } : undefined;
    }
    this.addOffload(bytes, ms);
  }

  private addOffload(bytes: number, ms: number): void {
    const d = 1 - this.smoothing;
    this.sw = d * this.sw + 1;
    this.sx = d * this.sx + bytes;
    this.sy = d * this.sy + ms;
    this.sxx = d * this.sxx + bytes * bytes;
    this.sxy = d * this.sxy + bytes * ms;
  }

  /** The link as fitted: round trip (ms) and bandwidth (Mbit/s); undefined before any offload. */
  link(): LinkTimes | undefined {
    if (this.sw === 0) return undefined;
    const mx = this.sx / this.sw, my = this.sy / this.sw;
    const vx = this.sxx / this.sw - mx * mx;
    // Frames of (nearly) one size cannot separate the round trip from the transfer: all of it counts as round
    // trip then (which prices every split alike, the safe side when sizes are unknown).
    let b = vx > 1e-9 * mx * mx ? (this.sxy / this.sw - mx * my) / vx : 0;
    if (!(b > 0)) b = 0;
    const a = Math.max(0, my - b * mx);
    return { rttMs: a, bandwidthMbit: b > 0 ? 8 / (1000 * b) : Infinity };
  }

  /** Whether every layer has a time and at least one offload was observed. */
  ready(): boolean { return this.haveLayers && this.sw > 0; }

  /** The current estimates as costs: γ_k from the layer times, o_k from the fitted link and split k's frame size. */
  costs(): ResolvedCosts {
    if (!this.haveLayers) throw new PolicyError('NOT_CALIBRATED', 'no layer times measured yet: calibrate first');
    const mu = this.mu ??= defaultMu(this.layerMs);
    const link = this.link();
    let known = 0, sum = 0;
    for (const b of this.frameBytes) if (b > 0) { known++; sum += b; }
    const offload = new Float64Array(Math.max(this.L - 1, 0));
    for (let k = 0; k < offload.length; k++) {
      const bytes = this.frameBytes[k] > 0 ? this.frameBytes[k] : known ? sum / known : 0;
      offload[k] = link ? offloadMs(bytes, link) : 0;
    }
    return costsFromMs({ alpha: this.alpha, layerMs: this.layerMs, offloadMs: offload, mu });
  }

  /** μ in use (fixed at the first costs(): 1 / the calibrated whole-network time unless given). */
  get rewardPerMs(): number | undefined { return this.mu; }
}
