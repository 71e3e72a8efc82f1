// The reproduction's fixed choices: which models and streams, which offload costs, what counts as meeting the
// paper's headline, the α grid and rule, and which policies each table shows. Each is explained in the report.

export const ZOO_PLAN: readonly { model: string; streams: readonly string[] }[] = [
  { model: 'fmnist-cnn', streams: ['fmnist:test', 'fmnist:test:noise', 'fmnist:test:blur'] },
  { model: 'sst2-transformer', streams: ['sst2:dev', 'kotzias:imdb', 'kotzias:yelp', 'kotzias:amazon'] },
];
/** Offload cost o as a fraction of the whole network's device cost λ·L (= 1 with λ = 1/L). */
export const OFFLOAD_FACTORS = [0.1, 0.25, 0.5] as const;
/** The paper's headline: > 50 % cost reduction with < 2 points accuracy drop against the last layer. */
export const HEADLINE = { costReduction: 0.5, accuracyDrop: 0.02 } as const;
/** α: the smallest grid value whose early-exit (cascade) accuracy is within this of the last exit's. */
export const ALPHA_TOLERANCE = 0.01;
export const ALPHA_GRID: readonly number[] = [
  ...Array.from({ length: 99 }, (_, i) => (i + 1) / 100), 0.995, 0.999,
];
/** α values of the paper's released code (SplitEE.py: IMDb/Yelp 0.7, QQP/SNLI 0.75, SciTail 0.85), for the sensitivity table. */
export const SENSITIVITY_ALPHAS = [0.7, 0.8, 0.9] as const;
export const UCB_POLICIES = ['splitee', 'splitee-s', 'splitee-su'] as const;
export const HEADLINE_POLICIES = ['splitee', 'splitee-s'] as const;
