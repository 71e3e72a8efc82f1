// tanh: y = sign(x)·(1 − e)/(1 + e), e = e^−2|x| (no overflow for any x; WGSL's own tanh may give NaN for large |x|
// on some drivers). Elementwise; out may be x.
import type { GpuContext } from '../context.js';
import { activationSources, dispatchActivation } from './activation-common.js';

export const TANH_WGSL = activationSources('', 'let e = exp(-2.0 * abs(v));\n  r = sign(v) * ((1.0 - e) / (1.0 + e));');

export function tanh(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  dispatchActivation(ctx, 'tanh', TANH_WGSL, a.x, a.out, a.n);
}
