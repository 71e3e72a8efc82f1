// avgpool2d with excludePad: the sum of the window's in-range values divided by their number (PyTorch's
// count_include_pad=False). One thread per output.
import type { GpuContext } from '../context.js';
import { dispatchPool, poolWgsl, type PoolArgs } from './pool-common.js';

export const AVGPOOL2D_EXCLUDE_WGSL = poolWgsl({
  init: 'var s = 0.0;\n  var n = 0.0;',
  step: 's += v;\n      n += 1.0;',
  result: 's / n',
});

/** Returns the output shape [C, OH, OW]. */
export function avgpool2dExclude(ctx: GpuContext, a: PoolArgs): [number, number, number] {
  return dispatchPool(ctx, 'avgpool2d_exclude', AVGPOOL2D_EXCLUDE_WGSL, a);
}
