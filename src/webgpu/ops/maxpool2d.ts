// maxpool2d: x[C, H, W] → out[C, OH, OW] with a k×k window; padded positions are skipped (padding never wins the
// max). One thread per output.
import type { GpuContext } from '../context.js';
import { dispatchPool, poolWgsl, type PoolArgs } from './pool-common.js';

export { poolShape, type PoolArgs } from './pool-common.js';

export const MAXPOOL2D_WGSL = poolWgsl({
  init: 'var m = 0.0;\n  var found = false;',
  step: 'if (!found || v > m) { m = v; found = true; }',
  result: 'm',
});

/** Returns the output shape [C, OH, OW]. */
export function maxpool2d(ctx: GpuContext, a: PoolArgs): [number, number, number] {
  return dispatchPool(ctx, 'maxpool2d', MAXPOOL2D_WGSL, a);
}
