// A bandwidth drop in the middle of each stream (pure, on a matrix): costs in milliseconds on an emulated device and
// link, every policy's latency and accuracy per phase against the best fixed split of each phase in hindsight, and
// the sweeps that pick the defaults of the forgetting policies (splitee-discounted's γ, splitee-window's τ) and of
// splitee-costaware's exploration weight c.
import { bestArm } from '../../src/policy/baselines.js';
import { DEFAULT_COSTAWARE_C, DEFAULT_PROBE_BUDGET } from '../../src/policy/costaware.js';
import { DEFAULT_GAMMA, DEFAULT_WINDOW } from '../../src/policy/discounted.js';
import { costsFromMs, offloadMs, type LinkTimes } from '../../src/policy/measured-costs.js';
import { resolveCosts, type ResolvedCosts } from '../../src/policy/types.js';
import type { ConfidenceMatrix } from '../../src/sim/matrix.js';
import { armRewardTotalsAt } from '../../src/sim/regret.js';
import { createPolicy } from '../../src/policy/registry.js';
import { deriveSeed, runPolicy, shuffledOrder, simulate, type SimResult } from '../../src/sim/simulator.js';

/** The emulated conditions (each explained in the report). */
export const DRIFT = {
  /** The whole network on the device, ms (equal time per layer). */
  deviceMs: 20,
  /** Before the drop: a fast link. */
  before: { rttMs: 2, bandwidthMbit: 100 } as LinkTimes,
  /** After the drop: a slow, distant link. */
  after: { rttMs: 120, bandwidthMbit: 1 } as LinkTimes,
  /** Tokens of a sentence for the activation size of token models (their frames grow with the sentence). */
  tokens: 32,
} as const;

export const DRIFT_POLICIES = ['splitee', 'splitee-s', 'splitee-su', 'splitee-discounted', 'splitee-window', 'splitee-costaware', 'final', 'early-exit'] as const;
export const GAMMA_GRID = [0.98, 0.99, 0.995, 0.998, 0.999, 1] as const;
export const WINDOW_GRID = [100, 200, 400, 800, 1600] as const;
/** Exploration weights tried for the forgetting policies at their default γ / τ. */
export const C_GRID = [1, 0.5, 0.25] as const;
/** Exploration weights tried for splitee-costaware, in the drop and with the paper's constant costs. */
export const COSTAWARE_C_GRID = [1, 0.5, 0.25, 0.1, 0] as const;
/** Link-probe budgets tried for splitee-costaware (in the drop, the costs come from the trace: probes only cost). */
export const PROBE_GRID = [0, 0.01, 0.02, 0.05] as const;
/** The paper's constant costs for the splitee-costaware sweep: λ = 1/L, o = this (the middle setting of the tables). */
export const COSTAWARE_CONSTANT_O = 0.25;

export interface DriftPhase {
  /** First step of the phase. */
  from: number;
  link: LinkTimes;
  /** The best fixed split of this phase in hindsight (largest total reward over the phase, summed over the orders). */
  bestArm: number;
  bestLatencyMs: number;
  bestAccuracy: number;
}

export interface DriftRow {
  policy: string;
  /** Per phase: mean end-to-end latency per sample (device + offload), ms; accuracy; mean split layer. */
  phases: { latencyMs: number; accuracy: number; meanSplit: number }[];
  /** Σ over phases of (best fixed arm's phase reward − the policy's), mean over the orders. */
  regret: number;
}

export interface DriftResult {
  mu: number;
  /** Offload time of a split at k = 1..L − 1 before and after the drop, ms. */
  offloadMs: { before: number[]; after: number[] };
  phases: DriftPhase[];
  rows: DriftRow[];
  /** The sweeps behind the defaults: regret per parameter value (mean over the orders). */
  gamma: { value: number; regret: number }[];
  window: { value: number; regret: number }[];
  /** The forgetting policies at their defaults for each exploration weight c: regret and latency per phase. */
  explore: { policy: string; c: number; regret: number; latencyMs: number[] }[];
  /**
   * splitee-costaware for each exploration weight c: in the drop (regret, latency per phase), and with the paper's
   * constant costs (λ = 1/L, o = COSTAWARE_CONSTANT_O) its regret against the best fixed arm (mean over the orders).
   */
  costaware: { c: number; regret: number; latencyMs: number[]; constantRegret: number }[];
  /** splitee-costaware for each link-probe budget ε: regret and latency per phase in the drop. */
  probes: { budget: number; regret: number; latencyMs: number[] }[];
}

/** The two phases' costs: equal layer times summing to DRIFT.deviceMs, offloads over each link. */
export function driftCosts(L: number, alpha: number, splitBytes: readonly number[]): { before: ResolvedCosts; after: ResolvedCosts; mu: number; offloadMs: { before: number[]; after: number[] } } {
  const layerMs = new Array<number>(L).fill(DRIFT.deviceMs / L);
  const before = splitBytes.map((b) => offloadMs(b, DRIFT.before));
  const after = splitBytes.map((b) => offloadMs(b, DRIFT.after));
  const mu = 1 / DRIFT.deviceMs;
  return {
    before: costsFromMs({ alpha, layerMs, offloadMs: before, mu }),
    after: costsFromMs({ alpha, layerMs, offloadMs: after, mu }),
    mu, offloadMs: { before, after },
  };
}

function phaseStats(m: ConfidenceMatrix, r: SimResult, from: number, to: number, mu: number) {
  let ms = 0, ok = 0, split = 0, reward = 0;
  for (let t = from; t < to; t++) {
    const i = r.samples![t];
    ms += r.stepCosts![t] / mu;
    if (m.pred[i * m.L + r.answerLayers![t] - 1] === m.label[i]) ok++;
    split += r.arms![t];
    reward += r.rewards![t];
  }
  const n = to - from;
  return { latencyMs: ms / n, accuracy: ok / n, meanSplit: split / n, reward };
}

/**
 * Runs the drop on one matrix: the link changes at the middle of each shuffled order (the same orders as the
 * main tables). `splitBytes[k − 1]` is the int8 frame of a split at k.
 */
export function runDrift(m: ConfidenceMatrix, alpha: number, splitBytes: readonly number[], cfg: { repeats: number; seed: number }): DriftResult {
  const L = m.L, n = m.n, mid = Math.floor(n / 2);
  const { before, after, mu, offloadMs: off } = driftCosts(L, alpha, splitBytes);
  const costsAt = (t: number) => (t < mid ? before : after);
  const orders = Array.from({ length: cfg.repeats }, (_, r) => shuffledOrder(n, deriveSeed(cfg.seed, r, 0)));
  const bounds = [[0, mid], [mid, n]] as const;

  // Best fixed split per phase, by reward summed over the orders; its phase totals for the regret.
  const phaseTotals = bounds.map(([a, b]) => {
    const tot = new Float64Array(L);
    for (const o of orders) armRewardTotalsAt(m, costsAt, o, a, b).forEach((x, k) => { tot[k] += x; });
    return tot;
  });
  const phases: DriftPhase[] = bounds.map(([a], p) => ({ from: a, link: p === 0 ? DRIFT.before : DRIFT.after, bestArm: bestArm(phaseTotals[p]), bestLatencyMs: 0, bestAccuracy: 0 }));

  const run = (policy: string, extra: { gamma?: number; window?: number; c?: number; probeBudget?: number } = {}) => {
    const acc = bounds.map(() => ({ latencyMs: 0, accuracy: 0, meanSplit: 0 }));
    let regret = 0;
    orders.forEach((order, r) => {
      const { probeBudget, ...rest } = extra;
      const res = probeBudget === undefined
        ? runPolicy(m, policy, before, { order, record: true, costsAt, seed: deriveSeed(cfg.seed, r, 1), ...rest })
        : simulate(m, createPolicy(policy, { L, costs: before, c: rest.c, probeBudget }), before, { order, record: true, costsAt });
      bounds.forEach(([a, b], p) => {
        const s = phaseStats(m, res, a, b, mu);
        acc[p].latencyMs += s.latencyMs / orders.length;
        acc[p].accuracy += s.accuracy / orders.length;
        acc[p].meanSplit += s.meanSplit / orders.length;
        // phaseTotals sums the orders: its share for this order, against what this order earned.
        regret += (phaseTotals[p][phases[p].bestArm - 1] / orders.length - s.reward) / orders.length;
      });
    });
    return { phases: acc, regret };
  };

  phases.forEach((ph, p) => {
    const s = run(`fixed:${ph.bestArm}`).phases[p];
    ph.bestLatencyMs = s.latencyMs;
    ph.bestAccuracy = s.accuracy;
  });
  const rows: DriftRow[] = DRIFT_POLICIES.map((policy) => ({ policy, ...run(policy) }));
  const gamma = GAMMA_GRID.map((value) => ({ value, regret: run('splitee-discounted', { gamma: value }).regret }));
  const window = WINDOW_GRID.map((value) => ({ value, regret: run('splitee-window', { window: value }).regret }));
  const explore = (['splitee-discounted', 'splitee-window'] as const).flatMap((policy) => C_GRID.map((c) => {
    const res = run(policy, { c });
    return { policy, c, regret: res.regret, latencyMs: res.phases.map((p) => p.latencyMs) };
  }));
  const constant = { alpha, lambda: 1 / L, offloadCost: COSTAWARE_CONSTANT_O };
  const resolved = resolveCosts(constant, L);
  const constantBest = orders.map((order) => Math.max(...armRewardTotalsAt(m, () => resolved, order)));
  const costaware = COSTAWARE_C_GRID.map((c) => {
    const res = run('splitee-costaware', { c });
    let constantRegret = 0;
    orders.forEach((order, r) => {
      const s = runPolicy(m, 'splitee-costaware', resolved, { order, c, seed: deriveSeed(cfg.seed, r, 1) });
      constantRegret += (constantBest[r] - s.totalReward) / orders.length;
    });
    return { c, regret: res.regret, latencyMs: res.phases.map((p) => p.latencyMs), constantRegret };
  });
  const probes = PROBE_GRID.map((budget) => {
    const res = run('splitee-costaware', { probeBudget: budget });
    return { budget, regret: res.regret, latencyMs: res.phases.map((p) => p.latencyMs) };
  });
  return { mu, offloadMs: { before: off.before, after: off.after }, phases, rows, gamma, window, explore, costaware, probes };
}

/** The defaults the policies ship with, for the report to show next to the sweep. */
export const SHIPPED_DEFAULTS = { gamma: DEFAULT_GAMMA, window: DEFAULT_WINDOW, costawareC: DEFAULT_COSTAWARE_C, probeBudget: DEFAULT_PROBE_BUDGET } as const;
