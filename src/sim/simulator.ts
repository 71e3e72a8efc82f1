// Offline driver: replays a confidence matrix through a policy exactly as a device would run it, revealing to the
// policy only what the device would have seen. Costs, accuracy and rewards follow the paper (docs/POLICIES.md).
import { deviceExits, emptyDecision, offloads, settle, walkDevice } from '../policy/decision.js';
import { createPolicy } from '../policy/registry.js';
import { PolicyError, resolveCosts, type CostModel, type ResolvedCosts, type SplitPolicy } from '../policy/types.js';
import { mulberry32 } from '../util/random.js';
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
  /**
   * How the first L samples are spent. 'stream' (default, ours): the policy plays them like any other (a UCB policy
   * plays arms 1..L in order) and they count in accuracy and cost. 'replay' (the authors' released code): before
   * the stream, arm j is played once on the j-th sample of the order (exit j only, no side exits) and that only
   * teaches the policy; then the whole stream runs from its first sample with t = 0, so those L samples are played
   * again and only this second pass counts. Warm-up observations carry t = −1 (no decision preceded them).
   */
  warmup?: 'stream' | 'replay';
  /**
   * The costs of step t when they change over the stream (a replayed cost trace, a bandwidth drop): every cost,
   * reward and observation of that step uses them (the policy sees them as `Observation.costs`). Each must be for
   * the matrix's L. Default: the constant costs given to `simulate`.
   */
  costsAt?: (t: number) => ResolvedCosts;
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
  /** With per-step costs (`costsAt`): the mean over the steps of γ_L, what `final` paid per sample. */
  finalLayerCost?: number;
  /** With `record`: per step t, the arm, the reward earned, the sample index, the answering exit and the cost. */
  arms?: Int32Array;
  rewards?: Float64Array;
  samples?: Int32Array;
  answerLayers?: Int32Array;
  stepCosts?: Float64Array;
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
  const costsAt = opts.costsAt;
  const stepCostsOf = (t: number): ResolvedCosts => {
    if (!costsAt) return costs;
    const c = costsAt(t);
    if (!c || c.L !== L || c.cum.length !== L + 1) throw new PolicyError('BAD_COSTS', `costsAt(${t}) must give costs resolved for L = ${L}`);
    return c;
  };
  const order = opts.order;
  const n = order ? order.length : m.n;
  const rule = policy.exitRule, evaluated = deviceExits(policy), fullRow = policy.needsFullRow === true;
  const record = opts.record === true;
  const arms = record ? new Int32Array(n) : undefined;
  const rewards = record ? new Float64Array(n) : undefined;
  const samples = record ? new Int32Array(n) : undefined;
  const answerLayers = record ? new Int32Array(n) : undefined;
  const stepCosts = record ? new Float64Array(n) : undefined;
  const armCounts = new Float64Array(L);
  const seen: (number | undefined)[] = new Array(L).fill(undefined);
  const d = emptyDecision(L);
  const { conf, pred, label } = m;
  let base = 0;
  const confAt = (j: number) => conf[base + j - 1];
  let correct = 0, offloadCount = 0, exits = 0, degraded = 0;
  // Compensated (Neumaier) sums: over long streams plain summation drifts enough to make e.g. `final`'s cost
  // reduction print as −6.7e−16 instead of 0.
  let costSum = 0, costComp = 0, rewardSum = 0, rewardComp = 0, finalCostSum = 0;
  const sampleAt = (t: number) => {
    const i = order ? order[t] : t;
    if (!(i >= 0 && i < m.n && Number.isInteger(i))) throw new PolicyError('BAD_ORDER', `order[${t}] = ${i} is not a sample index in 0..${m.n - 1}`);
    return i;
  };

  const warmup = opts.warmup ?? 'stream';
  if (warmup !== 'stream' && warmup !== 'replay') throw new PolicyError('BAD_OPTION', `warmup must be 'stream' or 'replay', got '${warmup}'`);
  if (warmup === 'replay') {
    for (let j = 1; j <= Math.min(L, n); j++) {
      base = sampleAt(j - 1) * L;
      const c = stepCostsOf(0), alpha = c.alpha;
      const layer = walkDevice(rule, 'split', j, alpha, confAt, seen);
      settle(c, -1, j, layer, seen, offloads(j, L, alpha, layer, seen[layer - 1]!) ? conf[base + L - 1] : undefined, d);
      d.observation.fullRow = fullRow ? conf.subarray(base, base + L) : undefined;
      policy.observe(d.observation);
    }
  }

  for (let t = 0; t < n; t++) {
    const i = sampleAt(t);
    const k = policy.chooseArm(t);
    if (!Number.isInteger(k) || k < 1 || k > L) throw new PolicyError('BAD_ARM', `policy '${policy.name}' chose arm ${k} at t = ${t}; arms are 1..${L}`);
    base = i * L;

    // The device half reveals what the device would have computed; the cloud (when asked) reveals C_L or fails.
    const c = stepCostsOf(t), alpha = c.alpha;
    finalCostSum += c.cum[L];
    const layer = walkDevice(rule, evaluated, k, alpha, confAt, seen);
    const cloud = offloads(k, L, alpha, layer, seen[layer - 1]!) ? (opts.cloudFails && opts.cloudFails(t) ? null : conf[base + L - 1]) : undefined;
    settle(c, t, k, layer, seen, cloud, d);
    if (d.offloaded) { offloadCount++; if (d.degraded) degraded++; }
    else if (d.answerLayer < L) exits++;

    // The reward is the confidence of whichever exit produced the answer, minus what was paid.
    const cost = d.cost, reward = d.earned;
    if (pred[base + d.answerLayer - 1] === label[i]) correct++;
    let u = costSum + cost;
    costComp += Math.abs(costSum) >= Math.abs(cost) ? (costSum - u) + cost : (cost - u) + costSum;
    costSum = u;
    u = rewardSum + reward;
    rewardComp += Math.abs(rewardSum) >= Math.abs(reward) ? (rewardSum - u) + reward : (reward - u) + rewardSum;
    rewardSum = u;
    armCounts[k - 1]++;
    if (record) { arms![t] = k; rewards![t] = reward; samples![t] = i; answerLayers![t] = d.answerLayer; stepCosts![t] = cost; }

    d.observation.fullRow = fullRow ? conf.subarray(base, base + L) : undefined;
    policy.observe(d.observation);
  }
  const totalCost = costSum + costComp, totalReward = rewardSum + rewardComp;
  return { policy: policy.name, n, L, correct, totalCost, totalReward, offloads: offloadCount, exits, degraded, armCounts, arms, rewards, samples, answerLayers, stepCosts,
    finalLayerCost: costsAt ? finalCostSum / n : undefined };
}

export interface RunOptions extends SimOptions {
  c?: number;
  seed?: number;
  /** Discount γ of `splitee-discounted`. */
  gamma?: number;
  /** Window τ of `splitee-window`. */
  window?: number;
  /** The oracle's arm, when the caller computed it (per-step costs make it depend on the order). */
  oracleArm?: number;
}

/** Builds the named policy for this matrix (the oracle peeks at the whole matrix) and simulates it. */
export function runPolicy(m: ConfidenceMatrix, name: string, costModel: CostModel | ResolvedCosts, opts: RunOptions = {}): SimResult {
  const costs = resolveCosts(costModel, m.L);
  const policy = createPolicy(name, { L: m.L, costs, c: opts.c, seed: opts.seed, gamma: opts.gamma, window: opts.window, oracleArm: name === 'oracle' ? opts.oracleArm ?? oracleArm(m, costs) : undefined });
  return simulate(m, policy, costs, opts);
}
