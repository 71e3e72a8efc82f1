// One experiment = one matrix and one cost model, every policy run on it: the table rows and the cumulative-regret
// curves against the oracle that a reproduction report needs.
import { resolveCosts, type CostModel, type ResolvedCosts } from '../policy/types.js';
import type { ConfidenceMatrix } from './matrix.js';
import { aggregate, summarize, type SimSummary, type SummaryStats } from './metrics.js';
import { armRewardTotals, armRewardTotalsAt, cumulativeRegret } from './regret.js';
import { bestArm } from '../policy/baselines.js';
import { deriveSeed, runPolicy, shuffledOrder } from './simulator.js';

/** The policies of a default experiment, in table order. */
export const DEFAULT_POLICIES = ['splitee', 'splitee-s', 'splitee-su', 'splitee-s-released', 'final', 'early-exit', 'random', 'oracle'];

export interface ExperimentOptions {
  /** Policy names (createPolicy's), default DEFAULT_POLICIES. */
  policies?: readonly string[];
  /** UCB exploration weight, default 1. */
  c?: number;
  /** 'file' (default): one pass in file order; 'shuffle': a seeded random order per repeat. */
  order?: 'file' | 'shuffle';
  seed?: number;
  /** Passes to average over (each with its own shuffle and random-policy seed), default 1. */
  repeats?: number;
  /** Warm-up convention (SimOptions.warmup), default 'stream'. */
  warmup?: 'stream' | 'replay';
  /** Per-step costs (SimOptions.costsAt), e.g. a replayed cost trace; regret then uses each step's costs. */
  costsAt?: (t: number) => ResolvedCosts;
  /** Discount γ of `splitee-discounted`, window τ of `splitee-window`. */
  gamma?: number;
  window?: number;
}

export interface ExperimentResult {
  L: number;
  n: number;
  costs: ResolvedCosts;
  /** The best fixed arm in hindsight and every fixed arm's total reward over the matrix (index k − 1 ↔ arm k). */
  oracleArm: number;
  armTotals: Float64Array;
  /** One row per policy: means over the repeats (std alongside). */
  rows: SimSummary[];
  stats: SummaryStats[];
  /** Cumulative regret against the oracle's arm after each sample, averaged over the repeats. */
  regret: { policy: string; curve: Float64Array }[];
}

/** Seed stream ids, so that the shuffle and the random policy never share a generator. */
const ORDER_STREAM = 0, POLICY_STREAM = 1;

export function runAllPolicies(m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts, opts: ExperimentOptions = {}): ExperimentResult {
  const costs = resolveCosts(costModel, m.L);
  const policies = opts.policies ?? DEFAULT_POLICIES;
  const repeats = opts.repeats ?? 1;
  if (!Number.isInteger(repeats) || repeats < 1) throw new RangeError(`repeats must be an integer ≥ 1, got ${repeats}`);
  const seed = opts.seed ?? 1;
  const orders = Array.from({ length: repeats }, (_, r) => (opts.order === 'shuffle' ? shuffledOrder(m.n, deriveSeed(seed, r, ORDER_STREAM)) : undefined));
  // With per-step costs a fixed arm's total depends on which sample meets which costs: summed over the orders.
  const armTotals = opts.costsAt ? new Float64Array(m.L) : armRewardTotals(m, costs);
  if (opts.costsAt) for (const o of orders) armTotals.set(armRewardTotalsAt(m, opts.costsAt, o).map((x, k) => x + armTotals[k]));
  const best = bestArm(armTotals);

  const stats: SummaryStats[] = [];
  const regret: { policy: string; curve: Float64Array }[] = [];
  for (const name of policies) {
    const runs: SimSummary[] = [];
    const curve = new Float64Array(m.n);
    for (let r = 0; r < repeats; r++) {
      const res = runPolicy(m, name, costs, { c: opts.c, seed: deriveSeed(seed, r, POLICY_STREAM), order: orders[r], record: true, warmup: opts.warmup, costsAt: opts.costsAt, gamma: opts.gamma, window: opts.window, oracleArm: best });
      runs.push(summarize(res, m, costs));
      const c = cumulativeRegret(m, costs, res, best, opts.costsAt);
      for (let t = 0; t < m.n; t++) curve[t] += c[t] / repeats;
    }
    stats.push(aggregate(runs));
    regret.push({ policy: name, curve });
  }
  return { L: m.L, n: m.n, costs, oracleArm: best, armTotals, rows: stats.map((s) => s.mean), stats, regret };
}
