// What one sample does once its split layer is chosen: which exits the device evaluates, where it stops, whether it
// offloads, which exit answers, what it costs, what the policy is shown and what reward that earns. Written once,
// here, for both drivers: the simulator feeds it confidences read from a matrix, the live runner the confidences
// the engine computed and the cloud's answer. Pure module: no Node imports, no allocation in the hot path.
import { offloadOf, realizedReward, type ExitRule, type Observation, type ResolvedCosts, type SplitPolicy } from './types.js';

/**
 * Which exits the device evaluates for arm k: 'every' exit 1, 2, … until it stops (the cascade, and policies that
 * learn from side exits), or only the 'split' exit k.
 */
export type DeviceExits = 'every' | 'split';

export function deviceExits(policy: Pick<SplitPolicy, 'exitRule' | 'sideExits'>): DeviceExits {
  return policy.exitRule === 'cascade' || policy.sideExits ? 'every' : 'split';
}

/**
 * After evaluating exit j (confidence c) while playing arm k, does the device stop running layers? At k always;
 * before k only under the cascade, at the first confident exit.
 */
export function stopsAfter(rule: ExitRule, k: number, alpha: number, j: number, c: number): boolean {
  return j >= k || (rule === 'cascade' && c >= alpha);
}

/**
 * Does a sample that stopped at exit `layer` (confidence c) while playing arm k of L leave the device? Only at the
 * split layer itself, below L, when its exit is not confident.
 */
export function offloads(k: number, L: number, alpha: number, layer: number, c: number): boolean {
  return layer === k && k < L && c < alpha;
}

/**
 * The device half on known confidences (`conf(j)` = C_j): writes into `seen` (length L) every confidence the
 * device evaluates (the rest undefined) and returns the layer where it stops. The live runner reaches the same layer
 * by passing `stopsAfter` to the engine, which evaluates the exits as it goes.
 */
export function walkDevice(rule: ExitRule, exits: DeviceExits, k: number, alpha: number, conf: (j: number) => number,
  seen: (number | undefined)[]): number {
  seen.fill(undefined);
  if (exits === 'split') { seen[k - 1] = conf(k); return k; }
  for (let j = 1; ; j++) {
    const c = conf(j);
    seen[j - 1] = c;
    if (stopsAfter(rule, k, alpha, j, c)) return j;
  }
}

/** What the cloud did for an offloaded sample: its last exit's confidence, or `null` when it did not answer. */
export type CloudOutcome = number | null;

/** One sample's decision, complete. */
export interface Decision {
  /** The split layer played. */
  arm: number;
  /** The exit whose prediction is the answer: the device's (arm, or earlier under the cascade), L from the cloud. */
  answerLayer: number;
  /** Answered on the device by choice (C ≥ α at the answering exit, or arm L). */
  exited: boolean;
  /** Sent to the cloud (the call may have failed). */
  offloaded: boolean;
  /** Offloaded but the cloud did not answer: the device's exit at the arm answers. */
  degraded: boolean;
  /** Confidence of the answering exit. */
  confidence: number;
  /** γ_layer when answered on the device by choice; γ_arm + o when offloaded (paid even when the call failed). */
  cost: number;
  /** What the sample earned: the answering exit's confidence minus the cost (defined even when degraded). */
  earned: number;
  /** What the policy can learn for the played arm (`realizedReward`); undefined when it needs an unobserved C_L. */
  reward: number | undefined;
  /** What the policy is shown. */
  observation: Observation;
}

/** A Decision to fill in place (the simulator reuses one per run). */
export function emptyDecision(L: number): Decision {
  return {
    arm: 1, answerLayer: 1, exited: true, offloaded: false, degraded: false, confidence: 0, cost: 0, earned: 0, reward: undefined,
    observation: { t: 0, arm: 1, exited: true, exitLayer: undefined, confidences: new Array<number | undefined>(L).fill(undefined), degraded: false },
  };
}

/**
 * Settles sample t played at arm k, which stopped on the device at `layer` having evaluated the confidences in
 * `seen` (C_j at j − 1, undefined where not computed; the array becomes the observation's and C_L is written into
 * it when the cloud answered). `cloud` is the cloud's outcome when the sample offloaded (`offloads(...)` true),
 * ignored otherwise. Fills and returns `out` (a fresh Decision when omitted).
 */
export function settle(costs: ResolvedCosts, t: number, k: number, layer: number, seen: (number | undefined)[],
  cloud: CloudOutcome | undefined, out: Decision = emptyDecision(costs.L)): Decision {
  const L = costs.L, cum = costs.cum;
  const cDevice = seen[layer - 1] as number;
  const offloaded = offloads(k, L, costs.alpha, layer, cDevice);
  const obs = out.observation;
  out.arm = k;
  out.offloaded = offloaded;
  out.exited = !offloaded;
  if (!offloaded) {
    out.answerLayer = layer; out.degraded = false; out.confidence = cDevice; out.cost = cum[layer];
  } else if (cloud !== null && cloud !== undefined) {
    seen[L - 1] = cloud;
    out.answerLayer = L; out.degraded = false; out.confidence = cloud; out.cost = cum[k] + offloadOf(costs, k);
  } else {
    out.answerLayer = k; out.degraded = true; out.confidence = cDevice; out.cost = cum[k] + offloadOf(costs, k);
  }
  obs.t = t; obs.arm = k; obs.exited = out.exited; obs.exitLayer = out.exited ? layer : undefined;
  obs.confidences = seen; obs.degraded = out.degraded; obs.costs = costs;
  out.reward = realizedReward(costs, obs);
  // Same arithmetic as the reward whenever there is one, so both drivers report bit-equal numbers.
  out.earned = out.reward ?? out.confidence - cum[k] - offloadOf(costs, k);
  return out;
}
