// A split policy that separates what changes from what does not. The reward of arm k is
//   r_k = [C_k ≥ α](C_k − γ_k) + [C_k < α](C_L − γ_k − o_k)          (arm L: C_L − γ_L)
// and its expectation factors into the costs γ_k, o_k — known to the device every sample (a cost trace, or the
// runner's CostEstimator, which predicts every split's offload time from one link model) — and three statistics of
// the confidences, which do not change when the link does:
//   p_k = P(C_k ≥ α),  h_k = E[C_k·1(C_k ≥ α)],  m_k = E[C_L | C_k < α]
//   E r_k = h_k + (1 − p_k)·m_k − γ_k − (1 − p_k)·o_k
// UCB over realized rewards (SplitEE and its forgetting variants) must re-learn every arm's mean after the link
// changes, by playing each arm; here a change of the costs re-prices every arm at once, and only the confidence
// statistics are learned — without forgetting, with side information (every exit j ≤ k of a play at k), and with an
// exploration bonus sized by their empirical variance under the costs in force. See docs/POLICIES.md.
import { PolicyError, offloadOf, resolveCosts, type CostModel, type EstimatingPolicy, type ExitRule, type Observation, type ResolvedCosts } from './types.js';
import { checkC, checkObservation, checkStep } from './checks.js';

/** Exploration weight of `splitee-costaware` when none is given (docs/POLICIES.md: the experiment behind it). */
export const DEFAULT_COSTAWARE_C = 0.25;
/** Share of the whole network's device cost per sample that link probes may spend (docs/POLICIES.md). */
export const DEFAULT_PROBE_BUDGET = 0.02;
/** Samples without an offload before a link probe may be made, however cheap. */
const PROBE_MIN_GAP = 10;

export interface CostAwareOptions {
  /** Exploration weight c in mean + c·sqrt(2·ln(t+1)·V) (default DEFAULT_COSTAWARE_C). */
  c?: number;
  /**
   * Link probes: once no sample has offloaded for a while, one is offloaded on purpose so that measured offload
   * costs cannot go stale; they spend at most about this share of γ_L per sample (default DEFAULT_PROBE_BUDGET;
   * 0: never probe, for costs that do not come from offloads, e.g. constants).
   */
  probeBudget?: number;
}

/**
 * `splitee-costaware`: prices every arm with the costs in force (the latest `Observation.costs`) and learns only the
 * confidence statistics p_k, h_k, m_k (and E[C_L] for arm L), without selection bias:
 * - p_k and h_k from every sample that revealed C_k (played at any arm ≥ k; the device evaluates every exit on the
 *   way, `sideExits`): whether C_k is seen depends only on the arm, chosen before the sample is seen.
 * - m_k from samples played at k or at L only: there C_L is seen for every sample with C_k < α. A play at k' in
 *   (k, L) shows C_L only when C_k' < α (the harder samples), so it is left out (the bias of SplitEE-S).
 * - E[C_L] (arm L) from plays at L only.
 * Index: mean_k + c·sqrt(2·ln(t+1)·V_k), V_k the variance of the mean estimate under the current costs:
 *   V_k = Var(a)/n_a + q²·Var(C_L | C_k < α)/n_m,  a = [C_k ≥ α]·C_k − [C_k < α]·o_k,  q = 1 − p_k,
 * each variance the empirical one shrunk towards its range's bound ((range/2)², one pseudo-sample), so an arm seen
 * once is not taken as certain. A dear offload makes the offload rate's uncertainty count: the bonus scales with o_k.
 * The first sample plays arm L (it reveals every statistic at once); an arm whose m_k has no sample yet uses the
 * bound m_k = 1, as SplitEE-SU does. With constant costs the means are SplitEE-SU's, the bonus is variance-aware.
 * Once the costs have been seen to change, a sample is offloaded on purpose now and then (`probeBudget`) so that
 * measured offload costs cannot go stale while everything runs on the device.
 */
export class CostAwarePolicy implements EstimatingPolicy {
  readonly name: string = 'splitee-costaware';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits = true;
  readonly L: number;
  /** The costs the policy was built with (used until an observation brings others). */
  readonly costs: ResolvedCosts;
  readonly c: number;
  readonly probeBudget: number;
  /** The costs the next decision uses: the latest given (with a decision, or with an observation). */
  private current: ResolvedCosts;
  /** The sample whose costs are `current` (−1: the costs the policy was built with). */
  private costsAt = -1;
  /** Whether the costs have ever changed: only then can they go stale, and only then does the policy probe. */
  private costsVary = false;
  /** The latest sample that offloaded and was answered (−1: none yet; the stream's start counts as one). */
  private lastOffload = -1;
  /** Samples played as link probes. */
  probes = 0;
  // Per arm k < L (index k): samples that revealed C_k; of those with C_k ≥ α the count, Σ C_k, Σ C_k².
  private readonly aN: Float64Array;
  private readonly hiN: Float64Array;
  private readonly hiS: Float64Array;
  private readonly hiS2: Float64Array;
  // Per arm k < L: C_L of samples played at k or L with C_k < α (count, Σ, Σ²). Index L: C_L of plays at L.
  private readonly mN: Float64Array;
  private readonly mS: Float64Array;
  private readonly mS2: Float64Array;
  private readonly scratch: Float64Array;

  constructor(L: number, costs: CostModel | ResolvedCosts, opts: CostAwareOptions = {}) {
    this.costs = resolveCosts(costs, L);
    this.current = this.costs;
    this.L = L;
    this.c = checkC(opts.c ?? DEFAULT_COSTAWARE_C);
    const eps = opts.probeBudget ?? DEFAULT_PROBE_BUDGET;
    if (!(eps >= 0 && eps < 1)) throw new PolicyError('BAD_OPTION', `probe budget must be in [0, 1), got ${eps}`);
    this.probeBudget = eps;
    this.aN = new Float64Array(L + 1);
    this.hiN = new Float64Array(L + 1);
    this.hiS = new Float64Array(L + 1);
    this.hiS2 = new Float64Array(L + 1);
    this.mN = new Float64Array(L + 1);
    this.mS = new Float64Array(L + 1);
    this.mS2 = new Float64Array(L + 1);
    this.scratch = new Float64Array(L + 1);
  }

  /** The costs the next decision will use. */
  costsInForce(): ResolvedCosts { return this.current; }

  /** Makes `costs`, those in force for sample t, the costs of the next decisions. */
  private takeCosts(costs: ResolvedCosts, t: number): void {
    if (costs.L !== this.L) throw new PolicyError('BAD_COSTS', `costs are for L = ${costs.L}, the policy has L = ${this.L}`);
    if (!this.costsVary && costs !== this.current && !sameCosts(costs, this.current)) this.costsVary = true;
    this.current = costs;
    this.costsAt = t;
  }

  /** Mean reward of arm k under `costs` and the variance V of that estimate (arm k must have data). */
  private estimate(k: number, costs: ResolvedCosts, out: { mean: number; v: number }): void {
    if (k === this.L) {
      const n = this.mN[k], m = this.mS[k] / n;
      out.mean = m - costs.cum[k];
      out.v = shrunk(this.mS2[k] / n - m * m, n, 0.25) / n;
      return;
    }
    const nA = this.aN[k], o = offloadOf(costs, k);
    const q = 1 - this.hiN[k] / nA;
    const ea = this.hiS[k] / nA - q * o;
    const va = shrunk(this.hiS2[k] / nA + q * o * o - ea * ea, nA, ((1 + o) * (1 + o)) / 4);
    const nM = this.mN[k];
    let m: number, vm: number, wm: number;
    if (nM > 0) { m = this.mS[k] / nM; vm = shrunk(this.mS2[k] / nM - m * m, nM, 0.25); wm = nM; }
    else { m = 1; vm = 0.25; wm = 1; }
    out.mean = ea + q * m - costs.cum[k];
    out.v = va / nA + (q * q * vm) / wm;
  }

  chooseArm(t: number, costs?: ResolvedCosts): number {
    checkStep(t);
    if (costs) this.takeCosts(costs, t);
    const L = this.L;
    // One play at L reveals every exit and C_L: every statistic gets its first sample.
    if (this.mN[L] === 0) return L;
    for (let k = 1; k < L; k++) if (this.aN[k] === 0) return L;
    const lg = 2 * Math.log(t + 1), c = this.c, now = this.current;
    const e = { mean: 0, v: 0 }, means = this.scratch;
    let best = 1, bestIndex = -Infinity, top = -Infinity;
    for (let k = 1; k <= L; k++) {
      this.estimate(k, now, e);
      means[k] = e.mean;
      if (e.mean > top) top = e.mean;
      const index = e.mean + c * Math.sqrt(lg * e.v);
      if (index > bestIndex) { bestIndex = index; best = k; } // strict: ties to the lowest arm
    }
    const probe = this.probeArm(t, means, top, now);
    if (probe) { this.probes++; return probe; }
    return best;
  }

  /**
   * A link probe, when one is due: the costs of an offload are measured only by offloading (when they change at
   * all: with costs that never changed there is nothing to refresh and no probe), so once no sample has
   * offloaded for `since` samples (at least PROBE_MIN_GAP) the arm k < L with the least expected reward lost per offload,
   * (best mean − mean_k)/q_k, is played as soon as `since`·ε·γ_L covers that loss. Probes thus spend about ε·γ_L per
   * sample at most, and a link that recovers (or an overestimate of its cost) is seen within a few hundred samples.
   */
  private probeArm(t: number, means: Float64Array, top: number, costs: ResolvedCosts): number {
    const eps = this.probeBudget, L = this.L;
    if (eps === 0 || L === 1 || !this.costsVary) return 0;
    const since = t - Math.max(this.lastOffload, 0);
    if (since < PROBE_MIN_GAP) return 0;
    let arm = 0, loss = Infinity;
    for (let k = 1; k < L; k++) {
      const q = 1 - this.hiN[k] / this.aN[k];
      if (!(q > 0)) continue;
      const perOffload = (top - means[k]) / q;
      if (perOffload < loss) { loss = perOffload; arm = k; }
    }
    return arm && since * eps * costs.cum[L] >= loss ? arm : 0;
  }

  observe(obs: Observation): void {
    checkObservation(obs, this.L);
    // A driver that pipelines may report an older sample after deciding a newer one: its costs are older too.
    if (obs.costs && obs.t >= this.costsAt) this.takeCosts(obs.costs, obs.t);
    const L = this.L, k = obs.arm, conf = obs.confidences, alpha = this.current.alpha;
    const cL = conf[L - 1];
    if (!obs.exited && cL !== undefined && obs.t > this.lastOffload) this.lastOffload = obs.t;
    if (k === L && cL !== undefined) { this.mN[L] += 1; this.mS[L] += cL; this.mS2[L] += cL * cL; }
    const top = Math.min(k, L - 1);
    for (let j = 1; j <= top; j++) {
      const cj = conf[j - 1];
      if (cj === undefined) continue;
      this.aN[j] += 1;
      if (cj >= alpha) { this.hiN[j] += 1; this.hiS[j] += cj; this.hiS2[j] += cj * cj; }
      // A degraded offload (C_L unknown) drops out of m_j only: independent failures leave m_j unbiased.
      else if ((j === k || k === L) && cL !== undefined) { this.mN[j] += 1; this.mS[j] += cL; this.mS2[j] += cL * cL; }
    }
  }

  /** Estimated mean reward of each arm under the costs in force (NaN before its first sample). */
  means(): Float64Array {
    const m = new Float64Array(this.L), e = { mean: 0, v: 0 };
    for (let k = 1; k <= this.L; k++) {
      if ((k === this.L ? this.mN[k] : this.aN[k]) === 0) { m[k - 1] = NaN; continue; }
      this.estimate(k, this.current, e);
      m[k - 1] = e.mean;
    }
    return m;
  }

  /** Samples that revealed C_k (arm L: its own plays). */
  counts(): Float64Array {
    const n = this.aN.slice(1);
    n[this.L - 1] = this.mN[this.L];
    return n;
  }

  /** The learned confidence statistics per arm k < L (index k − 1): P(C_k ≥ α), E[C_k·1(C_k ≥ α)], E[C_L | C_k < α]. */
  confidenceStats(): { p: Float64Array; h: Float64Array; m: Float64Array; lastExitMean: number } {
    const L = this.L, p = new Float64Array(L - 1), h = new Float64Array(L - 1), m = new Float64Array(L - 1);
    for (let k = 1; k < L; k++) {
      p[k - 1] = this.aN[k] ? this.hiN[k] / this.aN[k] : NaN;
      h[k - 1] = this.aN[k] ? this.hiS[k] / this.aN[k] : NaN;
      m[k - 1] = this.mN[k] ? this.mS[k] / this.mN[k] : NaN;
    }
    return { p, h, m, lastExitMean: this.mN[L] ? this.mS[L] / this.mN[L] : NaN };
  }
}

function sameCosts(a: ResolvedCosts, b: ResolvedCosts): boolean {
  if (a.alpha !== b.alpha) return false;
  for (let k = 1; k <= a.L; k++) if (a.cum[k] !== b.cum[k] || offloadOf(a, k) !== offloadOf(b, k)) return false;
  return true;
}

/** An empirical variance of n samples shrunk towards `bound` with the weight of one sample (never below 0). */
function shrunk(v: number, n: number, bound: number): number {
  return (n * Math.max(v, 0) + bound) / (n + 1);
}
