// Offline driver: replays a confidence matrix through a policy exactly as a device would run it, revealing to the
// policy only what the device would have seen. Costs, accuracy and rewards follow the paper (docs/POLICIES.md).
import { mulberry32 } from '../policy/baselines.js';
import { createPolicy } from '../policy/registry.js';
import { PolicyError, resolveCosts, type CostModel, type Observation, type ResolvedCosts, type SplitPolicy } from '../policy/types.js';
import type { ConfidenceMatrix } from './matrix.js';
import { oracleArm } from './regret.js';

export interface SimOptions {
  /** Sample indices in stream order (a permutation, or any sequence of indices); default file order 0..n−1. */
  order?: ArrayLike<number>;
  /** Keep per-step arms, rewards and sample indices (needed for regret curves). */
  record?: boolean;
  /**
   * Simulates cloud failures: called for each offloaded sample; true = the cloud call failed. The policy then sees
   * C_L as unknown (degraded), the device answers with its own exit at the split layer, and the offload is paid.
   */
  cloudFails?: (t: number) => boolean;
}

export interface SimResult {
  policy: string;
  /** Steps simulated. */
  n: number;
  L: number;
  correct: number;
  totalCost: number;
  totalReward: number;
  /** Samples sent to the cloud (including failed calls). */
  offloads: number;
  /** Samples answered on the device at an exit before the last layer. */
  exits: number;
  /** Samples whose cloud call failed. */
  degraded: number;
  /** armCounts[k − 1] = samples split at k. */
  armCounts: Float64Array;
  /** With `record`: per step t, the arm, the reward earned and the sample index. */
  arms?: Int32Array;
  rewards?: Float64Array;
  samples?: Int32Array;
}

/** Fisher–Yates with a seeded generator: the same seed gives the same order everywhere. */
export function shuffledOrder(n: number, seed: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const next = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const tmp = order[i]; order[i] = order[j]; order[j] = tmp;
  }
  return order;
}

/** Independent seeds for repeat r of stream `stream` (shuffle, random policy, …) from one user seed. */
export function deriveSeed(seed: number, r: number, stream: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(r + 1, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export function simulate(m: ConfidenceMatrix, policy: SplitPolicy, costModel: CostModel | ResolvedCosts, opts: SimOptions = {}): SimResult {
  const L = m.L;
  if (policy.L !== L) throw new PolicyError('BAD_DEPTH', `policy '${policy.name}' was built for L = ${policy.L}, the matrix has L = ${L}`);
  const costs = resolveCosts(costModel, L);
  const { cum, alpha, offloadCost } = costs;
  const order = opts.order;
  const n = order ? order.length : m.n;
  const cascade = policy.exitRule === 'cascade';
  const record = opts.record === true;
  const arms = record ? new Int32Array(n) : undefined;
  const rewards = record ? new Float64Array(n) : undefined;
  const samples = record ? new Int32Array(n) : undefined;
  const armCounts = new Float64Array(L);
  const seen: (number | undefined)[] = new Array(L).fill(undefined);
  const obs: Observation = { t: 0, arm: 1, exited: false, exitLayer: undefined, confidences: seen, degraded: false };
  const { conf, pred, label } = m;
  let correct = 0, offloads = 0, exits = 0, degraded = 0;
  // Compensated (Neumaier) sums: over long streams plain summation drifts enough to make e.g. `final`'s cost
  // reduction print as −6.7e−16 instead of 0.
  let costSum = 0, costComp = 0, rewardSum = 0, rewardComp = 0;

  for (let t = 0; t < n; t++) {
    const i = order ? order[t] : t;
    if (!(i >= 0 && i < m.n && Number.isInteger(i))) throw new PolicyError('BAD_ORDER', `order[${t}] = ${i} is not a sample index in 0..${m.n - 1}`);
    const k = policy.chooseArm(t);
    if (!Number.isInteger(k) || k < 1 || k > L) throw new PolicyError('BAD_ARM', `policy '${policy.name}' chose arm ${k} at t = ${t}; arms are 1..${L}`);
    const base = i * L;

    // Which exit answers, on which side, and how far the device computed.
    let answer = L, exited = true, reveal = k, cost: number, failed = false;
    if (cascade) {
      let j = 1;
      while (j < k && conf[base + j - 1] < alpha) j++;
      // j = k now unless an earlier exit fired; the exit at k fires on C_k ≥ α, and arm L always answers at L.
      if (j < k || k === L || conf[base + k - 1] >= alpha) { answer = j; reveal = j; cost = cum[j]; }
      else { exited = false; cost = cum[k] + offloadCost; }
    } else if (k === L || conf[base + k - 1] >= alpha) {
      answer = k; cost = cum[k];
    } else {
      exited = false; cost = cum[k] + offloadCost;
    }
    for (let j = 0; j < L; j++) seen[j] = j < reveal ? conf[base + j] : undefined;
    if (!exited) {
      offloads++;
      if (opts.cloudFails && opts.cloudFails(t)) { failed = true; degraded++; answer = k; }
      else seen[L - 1] = conf[base + L - 1];
    } else if (answer < L) exits++;

    // The reward is the confidence of whichever exit produced the answer, minus what was paid.
    const reward = conf[base + answer - 1] - cost;
    if (pred[base + answer - 1] === label[i]) correct++;
    let u = costSum + cost;
    costComp += Math.abs(costSum) >= Math.abs(cost) ? (costSum - u) + cost : (cost - u) + costSum;
    costSum = u;
    u = rewardSum + reward;
    rewardComp += Math.abs(rewardSum) >= Math.abs(reward) ? (rewardSum - u) + reward : (reward - u) + rewardSum;
    rewardSum = u;
    armCounts[k - 1]++;
    if (record) { arms![t] = k; rewards![t] = reward; samples![t] = i; }

    obs.t = t; obs.arm = k; obs.exited = exited; obs.exitLayer = exited ? answer : undefined; obs.degraded = failed;
    policy.observe(obs);
  }
  const totalCost = costSum + costComp, totalReward = rewardSum + rewardComp;
  return { policy: policy.name, n, L, correct, totalCost, totalReward, offloads, exits, degraded, armCounts, arms, rewards, samples };
}

export interface RunOptions extends SimOptions {
  c?: number;
  seed?: number;
}

/** Builds the named policy for this matrix (the oracle peeks at the whole matrix) and simulates it. */
export function runPolicy(m: ConfidenceMatrix, name: string, costModel: CostModel | ResolvedCosts, opts: RunOptions = {}): SimResult {
  const costs = resolveCosts(costModel, m.L);
  const policy = createPolicy(name, { L: m.L, costs, c: opts.c, seed: opts.seed, oracleArm: name === 'oracle' ? oracleArm(m, costs) : undefined });
  return simulate(m, policy, costs, opts);
}
