// Every experiment on one confidence matrix (pure): α, the offload-cost settings with every policy over shuffled
// orders, the best fixed split, the α sensitivity.
import { exitAccuracies } from '../../src/sim/confidence.js';
import type { ConfidenceMatrix } from '../../src/sim/matrix.js';
import { DEFAULT_POLICIES, runAllPolicies } from '../../src/sim/experiment.js';
import { aggregate, summarize, type SimSummary } from '../../src/sim/metrics.js';
import { deriveSeed, runPolicy, shuffledOrder, simulate } from '../../src/sim/simulator.js';
import { SplitEESReleasedPolicy } from '../../src/policy/ucb.js';
import { chooseAlpha, type AlphaChoice } from './alpha.js';
import { runDrift, type DriftResult } from './drift.js';
import { HEADLINE, HEADLINE_POLICIES, OFFLOAD_FACTORS, SENSITIVITY_ALPHAS, UCB_POLICIES } from './plan.js';

export interface PolicyRow {
  /** Policy name as createPolicy spells it. */
  policy: string;
  mean: SimSummary;
  std: SimSummary;
  /** Cumulative regret against the oracle's arm after the last sample (mean over repeats). */
  finalRegret: number;
}

export interface OffloadSetting {
  factor: number;
  offloadCost: number;
  oracleArm: number;
  /** The fixed split chosen in hindsight with labels (see bestFixedArm). */
  bestFixedArm: number;
  rows: PolicyRow[];
  /** Mean cumulative-regret curves of the UCB policies (for the plot). */
  regret: { policy: string; curve: Float64Array }[];
}

export interface SensitivityRow { alpha: number; policy: string; costReduction: number; accuracyDrop: number }

/** How often the released SplitEE-S fed a side arm a C_L nobody observed, at one offload cost (all repeats). */
export interface UnobservedShare { factor: number; offloadCost: number; sideUpdates: number; unobserved: number }

/** One policy under one warm-up convention at the middle offload cost (means over the repeats). */
export interface WarmupRow { policy: string; warmup: 'stream' | 'replay'; costReduction: number; accuracyDrop: number }

export interface ReleasedComparison {
  unobserved: UnobservedShare[];
  warmups: WarmupRow[];
}

export interface StreamResult {
  model: string;
  stream: string;
  /** SHA-256 of the model file (hex). */
  digest: string;
  n: number;
  L: number;
  lambda: number;
  exitAccuracy: number[];
  alpha: AlphaChoice;
  settings: OffloadSetting[];
  /** SplitEE / SplitEE-S at the middle offload cost for a few other α (how much the α rule matters). */
  sensitivity: SensitivityRow[];
  /** Our SplitEE / SplitEE-S against the authors' released code (docs/POLICIES.md). */
  released: ReleasedComparison;
  /** The bandwidth drop mid-stream (when the split frames' sizes were given). */
  drift?: DriftResult;
  repeats: number;
  seed: number;
}

export interface ExperimentConfig {
  repeats: number;
  seed: number;
  factors?: readonly number[];
  sensitivityAlphas?: readonly number[];
}

/**
 * The fixed split k that a label-aware designer would pick: the cheapest whose accuracy is within the headline's 2
 * points of the last layer (ties to the lower k); if none is, the most accurate. Order-independent, so one pass.
 */
export function bestFixedArm(m: ConfidenceMatrix, costs: { alpha: number; offloadCost: number; lambda: number }): number {
  let best = -1, bestCost = Infinity, mostAccurate = m.L, bestAcc = -Infinity;
  for (let k = 1; k <= m.L; k++) {
    const s = summarize(runPolicy(m, `fixed:${k}`, costs), m, costs);
    if (s.accuracyDrop < HEADLINE.accuracyDrop && s.cost < bestCost) { best = k; bestCost = s.cost; }
    if (s.accuracy > bestAcc) { bestAcc = s.accuracy; mostAccurate = k; }
  }
  return best > 0 ? best : mostAccurate;
}

type Costs = { alpha: number; offloadCost: number; lambda: number };

/** Mean over repeats of one policy's summary on shuffled orders (the same orders runAllPolicies draws). */
function meanSummary(m: ConfidenceMatrix, policy: string, costs: Costs, repeats: number, seed: number, warmup: 'stream' | 'replay' = 'stream'): SimSummary {
  const runs: SimSummary[] = [];
  for (let r = 0; r < repeats; r++) {
    const order = shuffledOrder(m.n, deriveSeed(seed, r, 0));
    runs.push(summarize(runPolicy(m, policy, costs, { order, seed: deriveSeed(seed, r, 1), warmup }), m, costs));
  }
  return aggregate(runs).mean;
}

/** Side updates of the released SplitEE-S over the same orders, and how many used a C_L that was never observed. */
export function unobservedShare(m: ConfidenceMatrix, costs: Costs, repeats: number, seed: number): { sideUpdates: number; unobserved: number } {
  let sideUpdates = 0, unobserved = 0;
  for (let r = 0; r < repeats; r++) {
    const policy = new SplitEESReleasedPolicy(m.L, costs);
    simulate(m, policy, costs, { order: shuffledOrder(m.n, deriveSeed(seed, r, 0)) });
    sideUpdates += policy.sideUpdateCount;
    unobserved += policy.unobservedUpdateCount;
  }
  return { sideUpdates, unobserved };
}

/** The policies of the warm-up comparison, each under both conventions. */
export const WARMUP_POLICIES = ['splitee', 'splitee-s', 'splitee-s-released'] as const;

/**
 * Every experiment on one matrix. `meta.splitBytes[k − 1]`: the int8 frame of a split at k (from the model's
 * shapes), for the bandwidth-drop experiment; without it that experiment is not run.
 */
export function runStreamExperiments(m: ConfidenceMatrix, meta: { model: string; stream: string; digest: string; splitBytes?: readonly number[] }, cfg: ExperimentConfig): StreamResult {
  const L = m.L, lambda = 1 / L;
  const alpha = chooseAlpha(m);
  const factors = cfg.factors ?? OFFLOAD_FACTORS;
  const settings: OffloadSetting[] = [];
  for (const factor of factors) {
    // factor · (λL), not (factor · λ) · L: λL is exactly 1 for the depths we use, so o prints as the factor itself.
    const costs = { alpha: alpha.alpha, offloadCost: factor * (lambda * L), lambda };
    const bestK = bestFixedArm(m, costs);
    const policies = [...DEFAULT_POLICIES, `fixed:${bestK}`];
    const res = runAllPolicies(m, costs, { policies, order: 'shuffle', seed: cfg.seed, repeats: cfg.repeats });
    const rows: PolicyRow[] = res.stats.map((s, i) => ({
      policy: policies[i], mean: s.mean, std: s.std, finalRegret: res.regret[i].curve[m.n - 1],
    }));
    settings.push({
      factor, offloadCost: costs.offloadCost, oracleArm: res.oracleArm, bestFixedArm: bestK, rows,
      regret: res.regret.filter((r) => (UCB_POLICIES as readonly string[]).includes(r.policy)),
    });
  }
  const mid = factors[Math.floor(factors.length / 2)];
  const sensitivity: SensitivityRow[] = [];
  for (const a of [...(cfg.sensitivityAlphas ?? SENSITIVITY_ALPHAS), alpha.alpha].sort((x, y) => x - y)) {
    if (sensitivity.some((s) => s.alpha === a)) continue;
    for (const policy of HEADLINE_POLICIES) {
      const s = meanSummary(m, policy, { alpha: a, offloadCost: mid * (lambda * L), lambda }, cfg.repeats, cfg.seed);
      sensitivity.push({ alpha: a, policy, costReduction: s.costReduction, accuracyDrop: s.accuracyDrop });
    }
  }
  const released: ReleasedComparison = { unobserved: [], warmups: [] };
  for (const factor of factors) {
    const costs = { alpha: alpha.alpha, offloadCost: factor * (lambda * L), lambda };
    released.unobserved.push({ factor, offloadCost: costs.offloadCost, ...unobservedShare(m, costs, cfg.repeats, cfg.seed) });
  }
  const midCosts = { alpha: alpha.alpha, offloadCost: mid * (lambda * L), lambda };
  for (const policy of WARMUP_POLICIES) {
    for (const warmup of ['stream', 'replay'] as const) {
      const s = meanSummary(m, policy, midCosts, cfg.repeats, cfg.seed, warmup);
      released.warmups.push({ policy, warmup, costReduction: s.costReduction, accuracyDrop: s.accuracyDrop });
    }
  }
  return {
    model: meta.model, stream: meta.stream, digest: meta.digest, n: m.n, L, lambda,
    exitAccuracy: Array.from(exitAccuracies(m)), alpha, settings, sensitivity, released, repeats: cfg.repeats, seed: cfg.seed,
    drift: meta.splitBytes ? runDrift(m, alpha.alpha, meta.splitBytes, cfg) : undefined,
  };
}

