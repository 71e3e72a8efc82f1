// The contract between split-layer policies and whatever drives them (the CSV simulator, the live device runner).
// A policy decides (`chooseArm`) before the sample is seen and learns (`observe`) from what running it revealed;
// it never sees labels, and it never assumes the driver is a simulator.

export class PolicyError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'PolicyError';
    this.code = code;
  }
}

/**
 * How the device runs a sample once the arm k (split layer) is chosen.
 * - 'split' (SplitEE): layers 1..k run on the device; if C_k ≥ α the sample exits at k, otherwise (k < L) it is
 *   offloaded and the cloud answers with the last exit. Arm L answers on the device with the last exit.
 * - 'cascade': the device answers at the first layer j ≤ k with C_j ≥ α; if none does, it offloads at k (k < L)
 *   or answers at L (k = L). The `early-exit` baseline is the cascade with k = L.
 */
export type ExitRule = 'split' | 'cascade';

/** What running one sample revealed. Unknown confidences are `undefined`, never a made-up number. */
export interface Observation {
  /** Index of the sample in the stream: the `t` that was passed to `chooseArm` for it. */
  t: number;
  /** The split layer the sample actually used, 1..L: layers 1..arm ran on the device. */
  arm: number;
  /** Answered on the device (at `exitLayer`, or at L when arm = L); false = offloaded to the cloud. */
  exited: boolean;
  /** The layer whose exit answered on the device, when `exited`; defaults to `arm` (cascade may exit earlier). */
  exitLayer?: number;
  /**
   * C_1..C_L at index j − 1, as observed: C_j for every exit the device evaluated (j ≤ arm under 'split'),
   * C_L when the sample reached the last layer (arm = L, or offloaded and the cloud answered). An offloaded sample
   * whose cloud call failed (degraded) has C_L undefined.
   */
  confidences: ReadonlyArray<number | undefined>;
  /** Informational: the cloud failed for this offloaded sample (then C_L is undefined). */
  degraded?: boolean;
  /**
   * C_1..C_L of the sample, every one of them, whether the device computed it or not. Only a simulator knows this,
   * and it fills it in only for a policy that declares `needsFullRow`; a live runner never does.
   */
  fullRow?: ArrayLike<number>;
  /**
   * The costs in force for this sample, when they change over the stream (a cost trace, measured costs); a policy
   * computes this sample's rewards with them. Absent: the costs the policy was built with.
   */
  costs?: ResolvedCosts;
}

export interface SplitPolicy {
  readonly name: string;
  /** Number of layers (= arms). */
  readonly L: number;
  /** How the chosen arm is executed; see ExitRule. */
  readonly exitRule: ExitRule;
  /**
   * The policy learns from side information: the device evaluates every exit 1..k (not only the exits the exit
   * rule needs) and reports C_1..C_k. Costs device time, so only the policies that use it ask for it.
   */
  readonly sideExits: boolean;
  /**
   * The policy learns from confidences no device computed (`Observation.fullRow`). Such a policy exists only to
   * be compared in simulation; a live runner refuses it.
   */
  readonly needsFullRow?: boolean;
  /**
   * The split layer 1..L for sample t (0-based over the whole stream). Pure decision: no learning here. `costs`: the
   * costs in force for this sample when the driver knows them before deciding (the live runner's measured costs,
   * which include every offload answered so far); a policy may ignore them.
   */
  chooseArm(t: number, costs?: ResolvedCosts): number;
  /** Learn from what sample `obs.t` revealed. May be skipped by the driver (then the policy learns nothing). */
  observe(obs: Observation): void;
}

/**
 * Costs, in the paper's units. Running layers 1..k on the device costs γ_k = λ·k, or the cumulative sum of
 * `perLayerCosts` (e.g. measured latency or FLOPs per layer) when given; offloading adds `offloadCost` (o).
 */
export interface CostModel {
  /** Exit threshold α ∈ [0, 1]: a sample exits at layer k when C_k ≥ α. */
  alpha: number;
  /** o ≥ 0, paid once per offloaded sample. */
  offloadCost: number;
  /** λ ≥ 0 per layer; ignored when perLayerCosts is given. */
  lambda?: number;
  /** Cost of each layer 1..L (length L, each ≥ 0); replaces λ·k by the cumulative sum. */
  perLayerCosts?: readonly number[];
}

/** A CostModel checked against a depth L and turned into cumulative costs. */
export interface ResolvedCosts {
  readonly L: number;
  readonly alpha: number;
  readonly offloadCost: number;
  /** cum[k] = γ_k, the device cost of layers 1..k; cum[0] = 0. Length L + 1. */
  readonly cum: Float64Array;
  /**
   * o per split layer, when it depends on where the split is (bytes of the activation at k over the link):
   * offloadAt[k] for k = 1..L − 1 (length L + 1). Absent: `offloadCost` for every k.
   */
  readonly offloadAt?: Float64Array;
}

/** The offload cost o of a split at layer k. */
export function offloadOf(costs: ResolvedCosts, k: number): number {
  return costs.offloadAt ? costs.offloadAt[k] : costs.offloadCost;
}

function finiteNonNeg(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x) && x >= 0;
}

export function resolveCosts(model: CostModel | ResolvedCosts, L: number): ResolvedCosts {
  if (!Number.isInteger(L) || L < 1) throw new PolicyError('BAD_DEPTH', `number of layers must be an integer ≥ 1, got ${L}`);
  if ('cum' in model) {
    if (model.L !== L) throw new PolicyError('BAD_COSTS', `costs were resolved for L = ${model.L}, the matrix has L = ${L}`);
    return model;
  }
  const { alpha, offloadCost, lambda, perLayerCosts } = model;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new PolicyError('BAD_COSTS', `alpha must be in [0, 1], got ${alpha}`);
  if (!finiteNonNeg(offloadCost)) throw new PolicyError('BAD_COSTS', `offload cost must be a finite number ≥ 0, got ${offloadCost}`);
  const cum = new Float64Array(L + 1);
  if (perLayerCosts !== undefined) {
    if (perLayerCosts.length !== L) {
      throw new PolicyError('BAD_COSTS', `per-layer costs list has ${perLayerCosts.length} entries, the model has L = ${L} layers`);
    }
    for (let k = 1; k <= L; k++) {
      const c = perLayerCosts[k - 1];
      if (!finiteNonNeg(c)) throw new PolicyError('BAD_COSTS', `per-layer cost of layer ${k} must be a finite number ≥ 0, got ${c}`);
      cum[k] = cum[k - 1] + c;
    }
  } else {
    if (!finiteNonNeg(lambda)) throw new PolicyError('BAD_COSTS', `lambda must be a finite number ≥ 0, got ${lambda}`);
    for (let k = 1; k <= L; k++) cum[k] = lambda * k;
  }
  // Cost reduction is reported relative to γ_L; a model where the whole network is free has nothing to reduce.
  if (!(cum[L] > 0)) throw new PolicyError('BAD_COSTS', 'the device cost of the whole network (λ·L or the sum of per-layer costs) must be > 0');
  return { L, alpha, offloadCost, cum };
}

/**
 * Reward of split arm k for one sample (the paper's): C_k − γ_k if C_k ≥ α (exit on the device), else
 * C_L − γ_k − o (offload; the last exit answers); arm L: C_L − γ_L. Returns undefined when a confidence it needs
 * is unknown, so that no caller can feed a made-up reward.
 */
export function splitReward(costs: ResolvedCosts, k: number, ck: number | undefined, cL: number | undefined): number | undefined {
  if (k === costs.L) return cL === undefined ? undefined : cL - costs.cum[k];
  if (ck === undefined) return undefined;
  if (ck >= costs.alpha) return ck - costs.cum[k];
  return cL === undefined ? undefined : cL - costs.cum[k] - offloadOf(costs, k);
}

/**
 * The reward the played arm actually earned, from what was observed (the `exited` flag is the truth of what
 * happened on the device). Undefined when it needs a confidence nobody saw (e.g. a degraded offload).
 */
export function realizedReward(costs: ResolvedCosts, obs: Observation): number | undefined {
  const L = costs.L;
  const conf = obs.confidences;
  if (obs.exited) {
    const layer = obs.exitLayer ?? obs.arm;
    const c = conf[layer - 1];
    return c === undefined ? undefined : c - costs.cum[layer];
  }
  if (obs.arm === L) return undefined; // arm L never offloads; an observation saying so is not a reward we can trust
  const cL = conf[L - 1];
  return cL === undefined ? undefined : cL - costs.cum[obs.arm] - offloadOf(costs, obs.arm);
}

/** A policy that keeps per-arm estimates exposes them for diagnostics and tests (index k − 1 ↔ arm k). */
export interface EstimatingPolicy extends SplitPolicy {
  /** Current estimate of each arm's mean reward (NaN where the arm has no data yet). */
  means(): Float64Array;
  /** Number of reward updates each arm received. */
  counts(): Float64Array;
}
