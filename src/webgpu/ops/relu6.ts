// relu6: y = min(max(x, 0), 6), elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { dispatchUnary, unaryWgsl } from '../wgsl.js';

export const RELU6_WGSL = { outOfPlace: unaryWgsl('clamp(v, 0.0, 6.0)', false), inPlace: unaryWgsl('clamp(v, 0.0, 6.0)', true) };

export function relu6(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchUnary(ctx, 'relu6', RELU6_WGSL, a.x, a.out, a.n);
}
