// avgpool2d: x[C, H, W] → out[C, OH, OW], the sum of the window's in-range values divided by k·k (padding counts as
// zeros: PyTorch's count_include_pad=True). One thread per output.
import type { GpuContext } from '../context.js';
import { grid1d, packParams } from '../wgsl.js';
import { poolShape, type PoolArgs } from './maxpool2d.js';

export const AVGPOOL2D_WGSL = /* wgsl */ `
struct Params { C: u32, H: u32, W: u32, k: u32, stride: u32, pad: u32, OH: u32, OW: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let PP = P.OH * P.OW;
  if (i >= P.C * PP) { return; }
  let c = i / PP;
  let p = i - c * PP;
  let oh = p / P.OW;
  let ow = p - oh * P.OW;
  let ih0 = i32(oh * P.stride) - i32(P.pad);
  let iw0 = i32(ow * P.stride) - i32(P.pad);
  var s = 0.0;
  for (var kh = 0u; kh < P.k; kh++) {
    let ih = ih0 + i32(kh);
    if (ih < 0 || ih >= i32(P.H)) { continue; }
    for (var kw = 0u; kw < P.k; kw++) {
      let iw = iw0 + i32(kw);
      if (iw < 0 || iw >= i32(P.W)) { continue; }
      s += x[(c * P.H + u32(ih)) * P.W + u32(iw)];
    }
  }
  y[i] = s / f32(P.k * P.k);
}
`;

/** Returns the output shape [C, OH, OW]. */
export function avgpool2d(ctx: GpuContext, a: PoolArgs): [number, number, number] {
  const [OH, OW] = poolShape('avgpool2d', a);
  const p = ctx.pipelines.get('avgpool2d', () => AVGPOOL2D_WGSL);
  ctx.dispatch(p, packParams(a.C, a.H, a.W, a.k, a.stride ?? a.k, a.pad ?? 0, OH, OW), [a.x, a.out], ...grid1d(Math.ceil(a.C * OH * OW / 64)));
  return [a.C, OH, OW];
}
