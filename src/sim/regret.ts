// Rewards of every fixed arm on every sample, the best fixed arm in hindsight, and regret against it.
import { bestArm } from '../policy/baselines.js';
import { resolveCosts, splitReward, type CostModel, type ResolvedCosts } from '../policy/types.js';
import type { ConfidenceMatrix } from './matrix.js';
import type { SimResult } from './simulator.js';

/** R[i·L + k − 1] = reward arm k would earn on sample i (the split rule, everything observed). */
export function armRewards(m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts): Float64Array {
  const costs = resolveCosts(costModel, m.L);
  const L = m.L, R = new Float64Array(m.n * L);
  for (let i = 0; i < m.n; i++) {
    const cL = m.conf[i * L + L - 1];
    for (let k = 1; k <= L; k++) R[i * L + k - 1] = splitReward(costs, k, m.conf[i * L + k - 1], cL)!;
  }
  return R;
}

/** Total reward of each fixed arm over the whole matrix (index k − 1 ↔ arm k). */
export function armRewardTotals(m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts): Float64Array {
  const R = armRewards(m, costModel), L = m.L, totals = new Float64Array(L);
  for (let i = 0; i < m.n; i++) for (let k = 0; k < L; k++) totals[k] += R[i * L + k];
  return totals;
}

/**
 * Total reward of each fixed arm over a stream whose costs change per step: step t plays sample order[t] (file
 * order without `order`) under costsAt(t). Index k − 1 ↔ arm k.
 */
export function armRewardTotalsAt(m: ConfidenceMatrix, costsAt: (t: number) => ResolvedCosts, order?: ArrayLike<number>, from = 0, to?: number): Float64Array {
  const L = m.L, totals = new Float64Array(L);
  const end = to ?? (order ? order.length : m.n);
  for (let t = from; t < end; t++) {
    const i = order ? order[t] : t, base = i * L, c = costsAt(t);
    const cL = m.conf[base + L - 1];
    for (let k = 1; k <= L; k++) totals[k - 1] += splitReward(c, k, m.conf[base + k - 1], cL)!;
  }
  return totals;
}

/** The best fixed arm in hindsight: largest total reward over the matrix, ties to the lowest arm. */
export function oracleArm(m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts): number {
  return bestArm(armRewardTotals(m, costModel));
}

/**
 * Cumulative regret against fixed arm `arm` (the oracle's by default): curve[t] = Σ_{s ≤ t} (R_s(arm) − r_s), where
 * r_s is what the policy earned on the same sample. Needs a result simulated with `record: true`.
 */
export function cumulativeRegret(m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts, result: SimResult, arm?: number,
  costsAt?: (t: number) => ResolvedCosts): Float64Array {
  if (!result.rewards || !result.samples) throw new TypeError('cumulativeRegret needs a SimResult recorded with { record: true }');
  const costs = resolveCosts(costModel, m.L);
  const k = arm ?? oracleArm(m, costs);
  const curve = new Float64Array(result.n);
  let acc = 0;
  for (let t = 0; t < result.n; t++) {
    const i = result.samples[t], base = i * m.L;
    acc += splitReward(costsAt ? costsAt(t) : costs, k, m.conf[base + k - 1], m.conf[base + m.L - 1])! - result.rewards[t];
    curve[t] = acc;
  }
  return curve;
}
