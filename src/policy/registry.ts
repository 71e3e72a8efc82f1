// Policy names as the CLI and reports spell them → policy objects.
import { EarlyExitPolicy, FinalPolicy, FixedPolicy, OraclePolicy, RandomPolicy } from './baselines.js';
import { PolicyError, type CostModel, type ResolvedCosts, type SplitPolicy } from './types.js';
import { DiscountedUcbPolicy, SlidingWindowUcbPolicy } from './discounted.js';
import { CostAwarePolicy } from './costaware.js';
import { SplitEEPolicy, SplitEESPolicy, SplitEESReleasedPolicy, SplitEESUPolicy } from './ucb.js';

/** Every name `createPolicy` accepts; `fixed:k` stands for fixed:1 … fixed:L. */
export const POLICY_NAMES = ['splitee', 'splitee-s', 'splitee-su', 'splitee-s-released', 'splitee-discounted', 'splitee-window', 'splitee-costaware', 'final', 'early-exit', 'fixed:k', 'random', 'oracle'] as const;

/**
 * Names that only a simulator can run: `oracle` needs the whole matrix in advance, `splitee-s-released` learns from
 * confidences no device computed. The live runner refuses them.
 */
export const SIMULATION_ONLY_POLICIES: readonly string[] = ['oracle', 'splitee-s-released'];

export interface PolicyContext {
  /** Number of layers (arms). */
  L: number;
  costs: CostModel | ResolvedCosts;
  /** UCB exploration weight (default 1; splitee-costaware: DEFAULT_COSTAWARE_C). */
  c?: number;
  /** Seed of `random` (default 1). */
  seed?: number;
  /** Discount γ of `splitee-discounted` (default DEFAULT_GAMMA). */
  gamma?: number;
  /** Window τ of `splitee-window` (default DEFAULT_WINDOW). */
  window?: number;
  /** Link-probe budget of `splitee-costaware` (default DEFAULT_PROBE_BUDGET). */
  probeBudget?: number;
  /** The best fixed arm in hindsight; required by `oracle` (the simulator computes it from the matrix). */
  oracleArm?: number;
}

export function createPolicy(name: string, ctx: PolicyContext): SplitPolicy {
  const { L } = ctx;
  switch (name) {
    case 'splitee': return new SplitEEPolicy(L, ctx.costs, { c: ctx.c });
    case 'splitee-s': return new SplitEESPolicy(L, ctx.costs, { c: ctx.c });
    case 'splitee-su': return new SplitEESUPolicy(L, ctx.costs, { c: ctx.c });
    case 'splitee-s-released': return new SplitEESReleasedPolicy(L, ctx.costs, { c: ctx.c });
    case 'splitee-discounted': return new DiscountedUcbPolicy(L, ctx.costs, { c: ctx.c, gamma: ctx.gamma });
    case 'splitee-window': return new SlidingWindowUcbPolicy(L, ctx.costs, { c: ctx.c, window: ctx.window });
    case 'splitee-costaware': return new CostAwarePolicy(L, ctx.costs, { c: ctx.c, probeBudget: ctx.probeBudget });
    case 'final': return new FinalPolicy(L);
    case 'early-exit': return new EarlyExitPolicy(L);
    case 'random': return new RandomPolicy(L, ctx.seed ?? 1);
    case 'oracle':
      if (ctx.oracleArm === undefined) throw new PolicyError('NEEDS_MATRIX', 'the oracle needs the best fixed arm, computed from the full matrix');
      return new OraclePolicy(L, ctx.oracleArm);
  }
  const m = /^fixed:(\d+)$/.exec(name);
  if (m) {
    const k = Number(m[1]);
    if (k < 1 || k > L) throw new PolicyError('BAD_POLICY', `fixed:${m[1]}: split layer must be in 1..${L}`);
    return new FixedPolicy(L, k);
  }
  throw new PolicyError('BAD_POLICY', `unknown policy '${name}' (one of ${POLICY_NAMES.join(', ')})`);
}
