// The exit threshold α of each stream (our rule, not the paper's: see the report's setup).
import type { ConfidenceMatrix } from '../../src/sim/matrix.js';
import { ALPHA_GRID, ALPHA_TOLERANCE } from './plan.js';


/** Accuracy of the early-exit cascade at α: each sample answers at the first exit with C ≥ α, else the last. */
export function earlyExitAccuracy(m: ConfidenceMatrix, alpha: number): number {
  const L = m.L;
  let ok = 0;
  for (let i = 0; i < m.n; i++) {
    let j = 0;
    while (j < L - 1 && m.conf[i * L + j] < alpha) j++;
    if (m.pred[i * L + j] === m.label[i]) ok++;
  }
  return ok / m.n;
}

export interface AlphaChoice {
  alpha: number;
  earlyExitAccuracy: number;
  finalAccuracy: number;
  /** True when some grid value met the tolerance; else α is the grid's largest value. */
  met: boolean;
}

/** The smallest α on ALPHA_GRID whose early-exit accuracy is within `tolerance` of the last exit's (uses labels). */
export function chooseAlpha(m: ConfidenceMatrix, tolerance = ALPHA_TOLERANCE, grid: readonly number[] = ALPHA_GRID): AlphaChoice {
  const finalAccuracy = earlyExitAccuracy(m, Infinity);
  for (const alpha of grid) {
    const acc = earlyExitAccuracy(m, alpha);
    // 1e-12: accuracies are ratios of integers; the slack only absorbs the rounding of the subtraction.
    if (finalAccuracy - acc <= tolerance + 1e-12) return { alpha, earlyExitAccuracy: acc, finalAccuracy, met: true };
  }
  const alpha = grid[grid.length - 1];
  return { alpha, earlyExitAccuracy: earlyExitAccuracy(m, alpha), finalAccuracy, met: false };
}
