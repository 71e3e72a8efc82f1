// UCB policies over split layers: SplitEE, SplitEE-S (side information) and SplitEE-SU (side information without
// the selection bias of SplitEE-S). Decision and update are separate so that the simulator and the live device
// runner drive the same objects; see docs/POLICIES.md for the rules and the bias argument.
import {
  PolicyError, offloadOf, realizedReward, resolveCosts, splitReward,
  type CostModel, type EstimatingPolicy, type ExitRule, type Observation, type ResolvedCosts,
} from './types.js';
import { checkC, checkObservation, checkStep } from './checks.js';

/**
 * The UCB choice over arms 1..L (slot 0 unused): the first arm with no data, else the arm maximising
 * sum_k/n_k + c·sqrt(lg/(n_k·scale)), ties to the lowest arm. `lg` is the policy's log term; `scale` turns stored
 * counts into the counts the bonus uses (the discounted policy's pending discount; 1 otherwise).
 */
export function ucbArm(sum: Float64Array, n: Float64Array, L: number, c: number, lg: number, scale = 1): number {
  for (let k = 1; k <= L; k++) if (n[k] === 0) return k;
  let best = 1, bestIndex = -Infinity;
  for (let k = 1; k <= L; k++) {
    const index = sum[k] / n[k] + c * Math.sqrt(lg / (n[k] * scale));
    if (index > bestIndex) { bestIndex = index; best = k; } // strict: ties go to the lowest arm
  }
  return best;
}

/** Mean reward per arm 1..L (NaN where there is no data). */
export function armMeans(sum: Float64Array, n: Float64Array, L: number): Float64Array {
  const m = new Float64Array(L);
  for (let k = 1; k <= L; k++) m[k - 1] = n[k] > 0 ? sum[k] / n[k] : NaN;
  return m;
}

export interface UcbOptions {
  /** Exploration weight c in mean + c·sqrt(ln(t+1)/n); default 1. */
  c?: number;
}

/** SplitEE: UCB1-style index per split layer, updated only from the arm that was played. */
export class SplitEEPolicy implements EstimatingPolicy {
  readonly name: string = 'splitee';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits: boolean = false;
  readonly L: number;
  readonly costs: ResolvedCosts;
  readonly c: number;
  // Index k ↔ arm k (slot 0 unused) so the hot loops read like the paper.
  protected readonly sum: Float64Array;
  protected readonly n: Float64Array;

  constructor(L: number, costs: CostModel | ResolvedCosts, opts: UcbOptions = {}) {
    this.costs = resolveCosts(costs, L);
    this.L = L;
    this.c = checkC(opts.c ?? 1);
    this.sum = new Float64Array(L + 1);
    this.n = new Float64Array(L + 1);
  }

  chooseArm(t: number): number {
    checkStep(t);
    // Initial round: arms 1..L in order. Keyed on "no data yet" rather than t < L so that a sample the driver could
    // not learn from (degraded, never observed) is simply retried on the same arm.
    return ucbArm(this.sum, this.n, this.L, this.c, Math.log(t + 1));
  }

  observe(obs: Observation): void {
    checkObservation(obs, this.L);
    const r = realizedReward(obs.costs ?? this.costs, obs);
    // No reward without the confidence it depends on: a degraded offload teaches SplitEE nothing.
    if (r !== undefined) { this.sum[obs.arm] += r; this.n[obs.arm] += 1; }
  }

  means(): Float64Array { return armMeans(this.sum, this.n, this.L); }

  counts(): Float64Array { return this.n.slice(1); }
}

/**
 * SplitEE-S: SplitEE plus side information. A sample that ran to arm k also reveals C_j for every j < k, so each
 * such arm is updated with the reward it would have earned, when that reward is fully observed: always if
 * C_j ≥ α (exit), and only if C_L was observed otherwise (offload at j needs the last exit's confidence). Updates
 * that need an unobserved C_L are skipped — which biases the estimates of arms j < k (docs/POLICIES.md).
 */
export class SplitEESPolicy extends SplitEEPolicy {
  override readonly name: string = 'splitee-s';
  override readonly sideExits: boolean = true;

  override observe(obs: Observation): void {
    super.observe(obs);
    const costs = obs.costs ?? this.costs, conf = obs.confidences;
    const cL = this.sideLastExit(obs);
    const top = Math.min(obs.arm, this.L) - 1;
    for (let j = 1; j <= top; j++) {
      const r = splitReward(costs, j, conf[j - 1], cL);
      if (r !== undefined) { this.sum[j] += r; this.n[j] += 1; }
    }
  }

  /** The C_L that the side updates use: the observed one (undefined when the sample never reached the last layer). */
  protected sideLastExit(obs: Observation): number | undefined {
    return obs.confidences[this.L - 1];
  }
}

/**
 * SplitEE-S as the authors' released code runs it (`SplitEE_S.py`): the side arms j < k are updated with
 * C_L − γ_j − o whenever C_j < α, using the sample's C_L even when the sample exited at k and no device or cloud
 * ever computed C_L. That needs the whole matrix row, so this policy exists for simulation only
 * (`needsFullRow`; the live runner refuses it): it lets a reader compare our `splitee-s`, which skips those
 * updates, with the published numbers. It counts its side updates and how many used an unobserved C_L.
 */
export class SplitEESReleasedPolicy extends SplitEESPolicy {
  override readonly name: string = 'splitee-s-released';
  readonly needsFullRow = true;
  /** Side updates made (arms j < k whose C_j was seen, one per arm per sample). */
  sideUpdateCount = 0;
  /** Of those, the updates whose reward used a C_L that nobody observed (C_j < α and the sample exited at k). */
  unobservedUpdateCount = 0;

  protected override sideLastExit(obs: Observation): number | undefined {
    const row = obs.fullRow, L = this.L;
    if (row === undefined || row.length !== L) {
      throw new PolicyError('NEEDS_FULL_ROW', `${this.name} learns from confidences no device computed: only the simulator can run it (it passes every C_1..C_L)`);
    }
    const seen = obs.confidences[L - 1], alpha = this.costs.alpha;
    const top = Math.min(obs.arm, L) - 1;
    for (let j = 1; j <= top; j++) {
      const cj = obs.confidences[j - 1];
      if (cj === undefined) continue;
      this.sideUpdateCount++;
      if (cj < alpha && seen === undefined) this.unobservedUpdateCount++;
    }
    return row[L - 1];
  }
}

/**
 * SplitEE-SU: side information without selection bias. The reward of arm j < L splits into a part that needs only
 * C_j and a part that needs C_L:
 *   r_j = [C_j ≥ α](C_j − γ_j) + [C_j < α](−γ_j − o)  +  [C_j < α]·C_L
 *       =            a_j(C_j)                         +  [C_j < α]·C_L
 * so E r_j = E a_j + q_j·m_j with q_j = P(C_j < α) and m_j = E[C_L | C_j < α].
 * - E a_j and q_j come from every sample that revealed C_j (played at any arm ≥ j): C_j's visibility depends on the
 *   arm only, which is chosen before the sample is seen, so these samples are an unbiased draw of the stream.
 * - m_j comes only from samples played at j or at L: there C_L is seen for every sample with C_j < α. Samples
 *   played at a k in (j, L) are excluded: they show C_L only when C_k < α (the hard ones), the exact bias of SplitEE-S.
 * Arm L's reward C_L − γ_L is learned from its own plays only (offloads from k < L show C_L for hard samples only).
 * The index is mean + c·sqrt(ln(t+1)·((1 − q̂)/n_a + q̂²/n_m)); when every datum comes from the arm's own plays
 * (n_m = q̂·n_a) that is exactly SplitEE's c·sqrt(ln(t+1)/n), and both estimates coincide.
 */
export class SplitEESUPolicy implements EstimatingPolicy {
  readonly name: string = 'splitee-su';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits: boolean = true;
  readonly L: number;
  readonly costs: ResolvedCosts;
  readonly c: number;
  private readonly aSum: Float64Array; // Σ a_j (arm L: Σ (C_L − γ_L) over its own plays)
  private readonly aN: Float64Array;   // samples that revealed C_j
  private readonly qN: Float64Array;   // of those, how many had C_j < α
  private readonly mSum: Float64Array; // Σ C_L over samples played at j or L with C_j < α and C_L observed
  private readonly mN: Float64Array;

  constructor(L: number, costs: CostModel | ResolvedCosts, opts: UcbOptions = {}) {
    this.costs = resolveCosts(costs, L);
    this.L = L;
    this.c = checkC(opts.c ?? 1);
    this.aSum = new Float64Array(L + 1);
    this.aN = new Float64Array(L + 1);
    this.qN = new Float64Array(L + 1);
    this.mSum = new Float64Array(L + 1);
    this.mN = new Float64Array(L + 1);
  }

  /** Estimated mean of arm k and the variance factor that scales its exploration bonus. */
  private estimate(k: number, out: { mean: number; v: number }): void {
    const nA = this.aN[k];
    if (k === this.L) { out.mean = this.aSum[k] / nA; out.v = 1 / nA; return; }
    const q = this.qN[k] / nA;
    const nM = this.mN[k];
    // Before any C_L under C_j < α has been seen, use its upper bound 1 with the weight of one pseudo-sample: the
    // index stays optimistic without forcing replays of arm j until it happens to offload.
    const m = nM > 0 ? this.mSum[k] / nM : 1;
    out.mean = this.aSum[k] / nA + q * m;
    out.v = (1 - q) / nA + (q * q) / (nM > 0 ? nM : 1);
  }

  chooseArm(t: number): number {
    checkStep(t);
    const L = this.L;
    for (let k = 1; k <= L; k++) if (this.aN[k] === 0) return k;
    const lg = Math.log(t + 1);
    const c = this.c, aSum = this.aSum, aN = this.aN, qN = this.qN, mSum = this.mSum, mN = this.mN;
    // estimate() inlined: this loop is the per-sample decision cost on a device.
    let best = 1, bestIndex = -Infinity;
    for (let k = 1; k < L; k++) {
      const nA = aN[k], q = qN[k] / nA, nM = mN[k];
      const mean = aSum[k] / nA + q * (nM > 0 ? mSum[k] / nM : 1);
      const index = mean + c * Math.sqrt(lg * ((1 - q) / nA + (q * q) / (nM > 0 ? nM : 1)));
      if (index > bestIndex) { bestIndex = index; best = k; }
    }
    if (aSum[L] / aN[L] + c * Math.sqrt(lg / aN[L]) > bestIndex) best = L;
    return best;
  }

  observe(obs: Observation): void {
    checkObservation(obs, this.L);
    const costs = obs.costs ?? this.costs;
    const L = this.L, k = obs.arm, conf = obs.confidences, cum = costs.cum, alpha = costs.alpha;
    const cL = conf[L - 1];
    if (k === L && cL !== undefined) { this.aSum[L] += cL - cum[L]; this.aN[L] += 1; }
    const top = Math.min(k, L - 1);
    for (let j = 1; j <= top; j++) {
      const cj = conf[j - 1];
      if (cj === undefined) continue;
      const below = cj < alpha;
      this.aSum[j] += below ? -cum[j] - offloadOf(costs, j) : cj - cum[j];
      this.aN[j] += 1;
      if (below) {
        this.qN[j] += 1;
        // A degraded offload (C_L undefined) drops out of m_j only: under failures independent of the sample, the
        // remaining C_L values are still an unbiased draw given C_j < α.
        if ((j === k || k === L) && cL !== undefined) { this.mSum[j] += cL; this.mN[j] += 1; }
      }
    }
  }

  means(): Float64Array {
    const m = new Float64Array(this.L);
    const e = { mean: 0, v: 0 };
    for (let k = 1; k <= this.L; k++) {
      if (this.aN[k] === 0) { m[k - 1] = NaN; continue; }
      this.estimate(k, e);
      m[k - 1] = e.mean;
    }
    return m;
  }

  /** Samples that revealed C_k (arm L: its own plays). */
  counts(): Float64Array { return this.aN.slice(1); }
}
