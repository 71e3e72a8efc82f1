// UCB policies for conditions that change over the stream (a link that slows down, a device that heats up): SplitEE's
// index on statistics that forget. Plain SplitEE averages over the whole past, so after the costs change it keeps
// playing the old best arm until the new rewards outweigh everything seen before. Both policies learn from the same
// unlabeled signal as SplitEE (the played arm's realized reward) and reduce to it exactly when they forget nothing
// (γ = 1, or a window longer than the stream). See docs/POLICIES.md for the parameters and the experiment behind
// their defaults.
import {
  PolicyError, realizedReward, resolveCosts,
  type CostModel, type EstimatingPolicy, type ExitRule, type Observation, type ResolvedCosts,
} from './types.js';
import { checkC, checkObservation, checkStep } from './checks.js';
import { armMeans, ucbArm } from './ucb.js';

/** Discount factor γ of `splitee-discounted` when none is given (docs/POLICIES.md: the experiment behind it). */
export const DEFAULT_GAMMA = 0.995;
/** Window τ (samples) of `splitee-window` when none is given (docs/POLICIES.md: the experiment behind it). */
export const DEFAULT_WINDOW = 400;

export interface DiscountedOptions {
  /** Exploration weight c (default 1), as in SplitEE. */
  c?: number;
  /** Discount γ in (0, 1] per sample of the stream (default DEFAULT_GAMMA); 1 = SplitEE. */
  gamma?: number;
}

/**
 * Discounted UCB (Garivier & Moulines, 2011) over split layers. Every arm's reward sum S_k and play count N_k are
 * multiplied by γ at each sample of the stream, so a reward observed s samples ago weighs γ^s: the estimates
 * follow the last ~1/(1 − γ) samples. Index: S_k/N_k + c·sqrt(ln(n + 1)/N_k), n = Σ_k N_k (the discounted number
 * of observations; with γ = 1 and every sample observed it is t, and this is SplitEE's index exactly).
 */
export class DiscountedUcbPolicy implements EstimatingPolicy {
  readonly name: string = 'splitee-discounted';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits = false;
  readonly L: number;
  readonly costs: ResolvedCosts;
  readonly c: number;
  readonly gamma: number;
  private readonly sum: Float64Array;
  private readonly n: Float64Array;
  /** The sample index the sums are discounted to (−1 before any observation). */
  private at = -1;

  constructor(L: number, costs: CostModel | ResolvedCosts, opts: DiscountedOptions = {}) {
    this.costs = resolveCosts(costs, L);
    this.L = L;
    this.c = checkC(opts.c ?? 1);
    const g = opts.gamma ?? DEFAULT_GAMMA;
    if (!(g > 0 && g <= 1)) throw new PolicyError('BAD_OPTION', `discount gamma must be in (0, 1], got ${g}`);
    this.gamma = g;
    this.sum = new Float64Array(L + 1);
    this.n = new Float64Array(L + 1);
  }

  /** Discounts the sums forward to sample t (the factor γ^(t − at) applies to every arm alike). */
  private advance(t: number): void {
    if (t <= this.at) return;
    if (this.at >= 0 && this.gamma < 1) {
      const f = this.gamma ** (t - this.at);
      for (let k = 1; k <= this.L; k++) { this.sum[k] *= f; this.n[k] *= f; }
    }
    this.at = t;
  }

  chooseArm(t: number): number {
    checkStep(t);
    // Discount to t without mutating (a decision learns nothing): the common factor cancels in the means.
    const f = this.at >= 0 && t > this.at ? this.gamma ** (t - this.at) : 1;
    let total = 0;
    for (let k = 1; k <= this.L; k++) total += this.n[k];
    return ucbArm(this.sum, this.n, this.L, this.c, Math.log(total * f + 1), f);
  }

  observe(obs: Observation): void {
    checkObservation(obs, this.L);
    // Warm-up observations of a driver (t < 0) count as the first sample.
    this.advance(Math.max(obs.t, 0));
    const r = realizedReward(obs.costs ?? this.costs, obs);
    if (r !== undefined) { this.sum[obs.arm] += r; this.n[obs.arm] += 1; }
  }

  means(): Float64Array { return armMeans(this.sum, this.n, this.L); }

  /** Discounted play counts (as of the last observation). */
  counts(): Float64Array { return this.n.slice(1); }
}

export interface WindowOptions {
  /** Exploration weight c (default 1), as in SplitEE. */
  c?: number;
  /** Window τ: only the last τ observations count (default DEFAULT_WINDOW). Longer than the stream = SplitEE. */
  window?: number;
}

/**
 * Sliding-window UCB (Garivier & Moulines, 2011) over split layers: the statistics of the last τ observed samples
 * only. Index: mean_k + c·sqrt(ln(min(t, τ) + 1)/N_k) over the window; an arm with no play in the window is played
 * (it may have become the best). With τ longer than the stream it is SplitEE's index exactly.
 */
export class SlidingWindowUcbPolicy implements EstimatingPolicy {
  readonly name: string = 'splitee-window';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits = false;
  readonly L: number;
  readonly costs: ResolvedCosts;
  readonly c: number;
  readonly window: number;
  private readonly sum: Float64Array;
  private readonly n: Float64Array;
  // Ring buffer of the window's (arm, reward); only observations with a reward enter it.
  private readonly arms: Int32Array;
  private readonly rewards: Float64Array;
  private head = 0;
  private size = 0;

  constructor(L: number, costs: CostModel | ResolvedCosts, opts: WindowOptions = {}) {
    this.costs = resolveCosts(costs, L);
    this.L = L;
    this.c = checkC(opts.c ?? 1);
    const w = opts.window ?? DEFAULT_WINDOW;
    if (!Number.isInteger(w) || w < 1 || w > 1 << 24) throw new PolicyError('BAD_OPTION', `window must be an integer in 1..${1 << 24}, got ${w}`);
    this.window = w;
    this.sum = new Float64Array(L + 1);
    this.n = new Float64Array(L + 1);
    this.arms = new Int32Array(w);
    this.rewards = new Float64Array(w);
  }

  chooseArm(t: number): number {
    checkStep(t);
    return ucbArm(this.sum, this.n, this.L, this.c, Math.log(Math.min(t, this.window) + 1));
  }

  observe(obs: Observation): void {
    checkObservation(obs, this.L);
    const r = realizedReward(obs.costs ?? this.costs, obs);
    if (r === undefined) return;
    const w = this.window;
    if (this.size === w) {
      // The oldest observation leaves the window. Recomputing its arm's sum from the buffer would be O(τ); the
      // subtraction's rounding stays at the level of one ulp per observation, and n is exact.
      const old = this.arms[this.head];
      this.sum[old] -= this.rewards[this.head];
      this.n[old] -= 1;
      if (this.n[old] === 0) this.sum[old] = 0;
    } else {
      this.size++;
    }
    this.arms[this.head] = obs.arm;
    this.rewards[this.head] = r;
    this.sum[obs.arm] += r;
    this.n[obs.arm] += 1;
    this.head = (this.head + 1) % w;
  }

  means(): Float64Array { return armMeans(this.sum, this.n, this.L); }

  /** Plays of each arm inside the window. */
  counts(): Float64Array { return this.n.slice(1); }
}
