// maxpool2d: x[C, H, W] → out[C, OH, OW] with a k×k window; padded positions are skipped (padding never wins the
// max). One thread per output.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';
import { convOutSize } from './conv2d.js';

export const MAXPOOL2D_WGSL = /* wgsl */ `
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
  var m = 0.0;
  var found = false;
  for (var kh = 0u; kh < P.k; kh++) {
    let ih = ih0 + i32(kh);
    if (ih < 0 || ih >= i32(P.H)) { continue; }
    for (var kw = 0u; kw < P.k; kw++) {
      let iw = iw0 + i32(kw);
      if (iw < 0 || iw >= i32(P.W)) { continue; }
      let v = x[(c * P.H + u32(ih)) * P.W + u32(iw)];
      if (!found || v > m) { m = v; found = true; }
    }
  }
  y[i] = m;
}
`;

export interface PoolArgs { x: GPUBuffer; out: GPUBuffer; C: number; H: number; W: number; k: number; stride?: number; pad?: number }

/** Checks a pool's arguments and returns [OH, OW]. Shared with avgpool2d. */
export function poolShape(op: string, a: PoolArgs): [number, number] {
  const { C, H, W, k } = a;
  const stride = a.stride ?? k, pad = a.pad ?? 0;
  positiveInts(op, { C, H, W, k, stride });
  if (!Number.isInteger(pad) || pad < 0 || 2 * pad > k) throw new WebGpuError('BAD_ARGUMENT', `${op}: pad ${pad} must be in 0..k/2`);
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', `${op}: out must not be x`);
  const OH = convOutSize(H, k, stride, pad), OW = convOutSize(W, k, stride, pad);
  if (OH < 1 || OW < 1) throw new WebGpuError('BAD_ARGUMENT', `${op}: window ${k} does not fit ${H}×${W}`);
  need(a.x, C * H * W * 4, `${op} x`);
  need(a.out, C * OH * OW * 4, `${op} out`);
  return [OH, OW];
}

/** Returns the output shape [C, OH, OW]. */
export function maxpool2d(ctx: GpuContext, a: PoolArgs): [number, number, number] {
  const [OH, OW] = poolShape('maxpool2d', a);
  const p = ctx.pipelines.get('maxpool2d', () => MAXPOOL2D_WGSL);
  ctx.dispatch(p, packParams(a.C, a.H, a.W, a.k, a.stride ?? a.k, a.pad ?? 0, OH, OW), [a.x, a.out], ...grid1d(Math.ceil(a.C * OH * OW / 64)));
  return [a.C, OH, OW];
}
