// hardsigmoid: y = max(0, min(1, alpha·x + beta)), elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation } from './activation-common.js';

export const HARDSIGMOID_WGSL = activationSources('', 'r = clamp(P.p * v + P.q, 0.0, 1.0);');

export function hardsigmoid(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number; alpha: number; beta: number }): void {
  dispatchActivation(ctx, 'hardsigmoid', HARDSIGMOID_WGSL, a.x, a.out, a.n, a.alpha, a.beta);
}
