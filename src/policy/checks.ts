// Argument checks shared by the UCB policies (ucb.ts, discounted.ts); internal, not re-exported by index.ts.
import { PolicyError, type Observation } from './types.js';

export function checkC(c: number): number {
  if (!Number.isFinite(c) || c < 0) throw new PolicyError('BAD_OPTION', `exploration weight c must be a finite number ≥ 0, got ${c}`);
  return c;
}

export function checkStep(t: number): void {
  if (!(t >= 0) || !Number.isInteger(t)) throw new PolicyError('BAD_STEP', `sample index t must be an integer ≥ 0, got ${t}`);
}

export function checkObservation(obs: Observation, L: number): void {
  if (!Number.isInteger(obs.arm) || obs.arm < 1 || obs.arm > L) throw new PolicyError('BAD_OBSERVATION', `observed arm must be an integer in 1..${L}, got ${obs.arm}`);
  if (obs.confidences.length !== L) throw new PolicyError('BAD_OBSERVATION', `observation has ${obs.confidences.length} confidences, expected L = ${L}`);
}
