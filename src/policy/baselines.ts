// Baselines: they share the SplitPolicy interface so that every driver and report treats them like the learners.
import { mulberry32 } from '../util/random.js';
import { PolicyError, type ExitRule, type Observation, type SplitPolicy } from './types.js';

export { mulberry32 };

function checkArm(k: number, L: number): number {
  if (!Number.isInteger(L) || L < 1) throw new PolicyError('BAD_DEPTH', `number of layers must be an integer ≥ 1, got ${L}`);
  if (!Number.isInteger(k) || k < 1 || k > L) throw new PolicyError('BAD_ARM', `split layer must be an integer in 1..${L}, got ${k}`);
  return k;
}

/** Always split at layer k (`fixed:k`); `final` is k = L (the whole network on the device). */
export class FixedPolicy implements SplitPolicy {
  readonly exitRule: ExitRule = 'split';
  readonly sideExits = false;
  readonly name: string;
  readonly L: number;
  readonly arm: number;
  constructor(L: number, arm: number, name = `fixed:${arm}`) {
    this.arm = checkArm(arm, L);
    this.L = L;
    this.name = name;
  }
  chooseArm(_t: number): number { return this.arm; }
  observe(_obs: Observation): void {}
}

export class FinalPolicy extends FixedPolicy {
  constructor(L: number) { super(L, L, 'final'); }
}

/**
 * Everything on the device, exiting at the first layer whose confidence reaches α (the classic early-exit network).
 * Expressed as the cascade rule on arm L, so a live runner needs no special case beyond the exit rule.
 */
export class EarlyExitPolicy implements SplitPolicy {
  readonly name = 'early-exit';
  readonly exitRule: ExitRule = 'cascade';
  // The cascade evaluates exits 1, 2, … anyway (its exit rule), never beyond the first confident one.
  readonly sideExits = false;
  readonly L: number;
  constructor(L: number) { this.L = checkArm(L, L); }
  chooseArm(_t: number): number { return this.L; }
  observe(_obs: Observation): void {}
}

/** A uniformly random split layer per sample, from a seeded generator. */
export class RandomPolicy implements SplitPolicy {
  readonly name = 'random';
  readonly exitRule: ExitRule = 'split';
  readonly sideExits = false;
  readonly L: number;
  private readonly next: () => number;
  constructor(L: number, seed = 1) {
    this.L = checkArm(L, L);
    if (!Number.isFinite(seed)) throw new PolicyError('BAD_OPTION', `seed must be a finite number, got ${seed}`);
    this.next = mulberry32(seed);
  }
  chooseArm(_t: number): number { return 1 + Math.floor(this.next() * this.L); }
  observe(_obs: Observation): void {}
}

/**
 * The best fixed arm in hindsight (largest total reward over the whole stream, ties to the lowest arm). It is a
 * baseline, so it may peek: it is built from per-arm reward totals computed over the full matrix
 * (see `armRewardTotals` in src/sim/regret.ts).
 */
export class OraclePolicy extends FixedPolicy {
  constructor(L: number, arm: number) { super(L, arm, 'oracle'); }

  static fromTotals(totals: ArrayLike<number>): OraclePolicy {
    return new OraclePolicy(totals.length, bestArm(totals));
  }
}

/** 1-based index of the largest total, ties to the lowest arm. */
export function bestArm(totals: ArrayLike<number>): number {
  if (totals.length < 1) throw new PolicyError('BAD_DEPTH', 'no arms');
  let best = 0;
  for (let k = 1; k < totals.length; k++) if (totals[k] > totals[best]) best = k;
  return best + 1;
}
