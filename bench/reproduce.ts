// `npm run reproduce`: the paper-style reproduction of SplitEE (Bajpai et al., AIMLSystems 2023) on our two zoo models.
//
// For every stream of both zoo models it builds (or reuses from reports/matrices/) the confidence matrix, picks α,
// runs every policy over shuffled orders at three offload costs, and writes reports/reproduce.md with tables and
// cumulative-regret plots against the oracle. The pieces live in bench/reproduce/ and can be tested without a model:
//   plan (the fixed choices) · alpha (α per stream) · experiments (pure, on a matrix) · render (pure, strings)
//   · cache (matrices on disk) · main (models, datasets, files, command line).
//
//   node dist/bench/reproduce.js [--limit N] [--out reports] [--repeats R] [--seed S] [--data-dir D]
import { pathToFileURL } from 'node:url';
import { main } from './reproduce/main.js';

export * from './reproduce/plan.js';
export * from './reproduce/alpha.js';
export * from './reproduce/experiments.js';
export * from './reproduce/render.js';
export * from './reproduce/cache.js';
export * from './reproduce/main.js';

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
