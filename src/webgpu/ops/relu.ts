// relu: y = max(x, 0), elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { dispatchUnary, unaryWgsl } from '../wgsl.js';

export const RELU_WGSL = { outOfPlace: unaryWgsl('max(v, 0.0)', false), inPlace: unaryWgsl('max(v, 0.0)', true) };

export function relu(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchUnary(ctx, 'relu', RELU_WGSL, a.x, a.out, a.n);
}
