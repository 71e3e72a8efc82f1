// clip: y = min(max(x, lo), hi), either bound optional (flags bit 0: lo, bit 1: hi; infinities are not passed to
// the GPU, whose compilers may assume finite values). Elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation } from './activation-common.js';

export const CLIP_WGSL = activationSources('',
  'r = v;\n  if ((P.flags & 1u) != 0u) { r = max(r, P.p); }\n  if ((P.flags & 2u) != 0u) { r = min(r, P.q); }');

export function clip(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number; min?: number; max?: number }): void {
  const flags = (a.min !== undefined ? 1 : 0) | (a.max !== undefined ? 2 : 0);
  dispatchActivation(ctx, 'clip', CLIP_WGSL, a.x, a.out, a.n, a.min ?? 0, a.max ?? 0, flags);
}
