// gelu_tanh: y = ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), computed as x·σ(2u) (the same function, without the
// cancellation of 1 + tanh u for negative x). Elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation, SIGMOID_FN } from './activation-common.js';

export const GELU_TANH_WGSL = activationSources(SIGMOID_FN,
  'r = v * sigmoid1(v * (1.5957691216057308 + 0.07135481627159168 * v * v));');

export function geluTanh(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchActivation(ctx, 'gelu_tanh', GELU_TANH_WGSL, a.x, a.out, a.n);
}
