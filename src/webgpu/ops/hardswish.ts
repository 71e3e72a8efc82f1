// hardswish: y = x·max(0, min(1, x/6 + ½)), elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation } from './activation-common.js';

export const HARDSWISH_WGSL = activationSources('', 'r = v * clamp(v * (1.0 / 6.0) + 0.5, 0.0, 1.0);');

export function hardswish(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchActivation(ctx, 'hardswish', HARDSWISH_WGSL, a.x, a.out, a.n);
}
