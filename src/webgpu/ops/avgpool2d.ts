// avgpool2d: x[C, H, W] → out[C, OH, OW], the sum of the window's in-range values divided by k·k (padding counts as
// zeros: PyTorch's count_include_pad=True). One thread per output.
import type { GpuContext } from '../context.js';
import { dispatchPool, poolWgsl, type PoolArgs } from './pool-common.js';

export const AVGPOOL2D_WGSL = poolWgsl({
  init: 'var s = 0.0;',
  step: 's += v;',
  result: 's / f32(P.k * P.k)',
});

/** Returns the output shape [C, OH, OW]. */
export function avgpool2d(ctx: GpuContext, a: PoolArgs): [number, number, number] {
  return dispatchPool(ctx, 'avgpool2d', AVGPOOL2D_WGSL, a);
}
