// The numbers reported for a run (the `splitee simulate --json` object) and their mean / std over repeats.
import { resolveCosts, type CostModel, type ResolvedCosts } from '../policy/types.js';
import type { ConfidenceMatrix } from './matrix.js';
import type { SimResult } from './simulator.js';

export interface SimSummary {
  policy: string;
  n: number;
  /** Fraction of samples answered correctly. */
  accuracy: number;
  /** Mean cost per sample. */
  cost: number;
  /** Fraction of samples offloaded to the cloud. */
  offloadRate: number;
  /** Fraction answered on the device at an exit before the last layer. */
  exitRate: number;
  /** Samples split at each layer 1..L. */
  armCounts: number[];
  /** Accuracy of the last exit on every sample (the `final` baseline). */
  finalLayerAccuracy: number;
  /** γ_L, the cost of running the whole network on the device. */
  finalLayerCost: number;
  /** 1 − cost / finalLayerCost. */
  costReduction: number;
  /** finalLayerAccuracy − accuracy (a fraction, not points). */
  accuracyDrop: number;
}

/** The JSON key order of `splitee simulate --json`. */
export const SUMMARY_KEYS = [
  'policy', 'n', 'accuracy', 'cost', 'offloadRate', 'exitRate', 'armCounts',
  'finalLayerAccuracy', 'finalLayerCost', 'costReduction', 'accuracyDrop',
] as const;

export function finalLayerAccuracy(m: ConfidenceMatrix): number {
  let ok = 0;
  for (let i = 0; i < m.n; i++) if (m.pred[i * m.L + m.L - 1] === m.label[i]) ok++;
  return ok / m.n;
}

/**
 * The accuracy of the last exit is taken over the whole matrix, which equals the `final` policy's accuracy on a
 * full pass in any order.
 */
export function summarize(r: SimResult, m: ConfidenceMatrix, costModel: CostModel | ResolvedCosts): SimSummary {
  const costs = resolveCosts(costModel, m.L);
  const n = r.n;
  const accuracy = r.correct / n, cost = r.totalCost / n;
  const fla = finalLayerAccuracy(m), flc = r.finalLayerCost ?? costs.cum[m.L];
  return {
    policy: r.policy,
    n,
    accuracy,
    cost,
    offloadRate: r.offloads / n,
    exitRate: r.exits / n,
    armCounts: Array.from(r.armCounts),
    finalLayerAccuracy: fla,
    finalLayerCost: flc,
    costReduction: 1 - cost / flc,
    accuracyDrop: fla - accuracy,
  };
}

export interface SummaryStats {
  mean: SimSummary;
  /** Population standard deviation of each numeric field over the repeats (0 for a single run). */
  std: SimSummary;
  repeats: number;
}

/** Mean and std, field by field, of summaries of the same policy on the same matrix. */
export function aggregate(runs: readonly SimSummary[]): SummaryStats {
  if (runs.length === 0) throw new RangeError('aggregate needs at least one run');
  const R = runs.length;
  // Identical runs (a deterministic policy in file order) keep their exact value rather than a rounded mean.
  const meanOf = (f: (s: SimSummary) => number) => runs.every((s) => f(s) === f(runs[0])) ? f(runs[0]) : runs.reduce((a, s) => a + f(s), 0) / R;
  const stdOf = (f: (s: SimSummary) => number) => {
    const mu = meanOf(f);
    return Math.sqrt(runs.reduce((a, s) => a + (f(s) - mu) ** 2, 0) / R);
  };
  const build = (stat: (f: (s: SimSummary) => number) => number): SimSummary => ({
    policy: runs[0].policy,
    n: stat((s) => s.n),
    accuracy: stat((s) => s.accuracy),
    cost: stat((s) => s.cost),
    offloadRate: stat((s) => s.offloadRate),
    exitRate: stat((s) => s.exitRate),
    armCounts: runs[0].armCounts.map((_, k) => stat((s) => s.armCounts[k])),
    finalLayerAccuracy: stat((s) => s.finalLayerAccuracy),
    finalLayerCost: stat((s) => s.finalLayerCost),
    costReduction: stat((s) => s.costReduction),
    accuracyDrop: stat((s) => s.accuracyDrop),
  });
  return { mean: build(meanOf), std: build(stdOf), repeats: R };
}

/** Running sums of a per-sample series (the plots' cumulative cost and bytes). */
export function cumulative(a: ArrayLike<number>): Float64Array {
  const out = new Float64Array(a.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) { s += a[i]; out[i] = s; }
  return out;
}

/** The mean of the first i + 1 values at every i (accuracy and cost so far). */
export function runningMean(a: ArrayLike<number>): Float64Array {
  return cumulative(a).map((v, i) => v / (i + 1));
}
