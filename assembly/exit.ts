// Exit heads (see docs/KERNELS.md): exit_head (softmax + argmax of the logits an exit block computed) and
// exit_gap_linear, a whole CNN exit in one call (global average pool, linear, softmax, argmax). The fused call runs
// the very functions of the separate ops in the same order, so its probabilities are the bits of gap → linear →
// exit_head; what it saves is the host's per-op dispatch, which is most of an exit's cost at these sizes (a 10-class
// head on 8..256 channels is well under a microsecond of arithmetic).

import { softmaxRow } from './softmax';
import { gap } from './pool';
import { linear } from './gemm';

/**
 * Softmax of N logits into probs, returns the label: the argmax of probs, lowest index on ties (probs that round to the
 * same f32 tie even when their logits differ, so the label is taken from what the host reads back).
 */
export function exit_head(logits: usize, probs: usize, N: i32): i32 {
  softmaxRow(logits, probs, N);
  let best = 0;
  let bestP = load<f32>(probs);
  for (let i = 1; i < N; i++) {
    const p = load<f32>(probs + (<usize>i << 2));
    if (p > bestP) { bestP = p; best = i; }
  }
  return best;
}

/**
 * x[C, HW] → gap → feat[C] → linear (packed [N, C] weight, bias b or 0) → logits[N] → softmax → probs[N]; returns
 * the label as exit_head does. feat and logits are the caller's buffers (the exit block's planned slots).
 */
export function exit_gap_linear(x: usize, C: i32, HW: i32, packed: usize, b: usize, N: i32, feat: usize, logits: usize,
  probs: usize): i32 {
  gap(x, feat, C, HW);
  linear(feat, packed, b, logits, 1, C, N, 0, 0);
  return exit_head(logits, probs, N);
}
