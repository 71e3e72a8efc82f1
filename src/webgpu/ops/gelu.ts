// gelu: y = ½·x·(1 + erf(x/√2)) (erf form, computed through erfc: see ACT_WGSL); out may be x.
import type { GpuContext } from '../context.js';
import { dispatchUnary, unaryWgsl } from '../wgsl.js';

export const GELU_WGSL = { outOfPlace: unaryWgsl('gelu(v)', false), inPlace: unaryWgsl('gelu(v)', true) };

export function gelu(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchUnary(ctx, 'gelu', GELU_WGSL, a.x, a.out, a.n);
}
