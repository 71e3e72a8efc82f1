// sigmoid: y = 1/(1 + e^−x), elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation, SIGMOID_FN } from './activation-common.js';

export const SIGMOID_WGSL = activationSources(SIGMOID_FN, 'r = sigmoid1(v);');

export function sigmoid(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchActivation(ctx, 'sigmoid', SIGMOID_WGSL, a.x, a.out, a.n);
}
