// What maxpool2d and avgpool2d share: the argument checks, the WGSL that maps one thread to one output (c, oh, ow)
// and walks the in-range part of its k×k window, and the dispatch. Each op file supplies only its reduction.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';
import { convOutSize } from './conv2d.js';

export interface PoolArgs { x: GPUBuffer; out: GPUBuffer; C: number; H: number; W: number; k: number; stride?: number; pad?: number }

/** Checks a pool's arguments and returns [OH, OW]. */
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

/**
 * A pool kernel, one thread per output. `init` declares the accumulator, `step` folds in `v` (each in-range window
 * value, rows then columns; padded positions are never visited), `result` is what output i gets.
 */
export function poolWgsl(reduce: { init: string; step: string; result: string }): string {
  return /* wgsl */ `
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
  ${reduce.init}
  for (var kh = 0u; kh < P.k; kh++) {
    let ih = ih0 + i32(kh);
    if (ih < 0 || ih >= i32(P.H)) { continue; }
    for (var kw = 0u; kw < P.k; kw++) {
      let iw = iw0 + i32(kw);
      if (iw < 0 || iw >= i32(P.W)) { continue; }
      let v = x[(c * P.H + u32(ih)) * P.W + u32(iw)];
      ${reduce.step}
    }
  }
  y[i] = ${reduce.result};
}
`;
}

/** Checks the arguments, runs the pool kernel `wgsl` (cached under `op`) and returns the output shape [C, OH, OW]. */
export function dispatchPool(ctx: GpuContext, op: string, wgsl: string, a: PoolArgs): [number, number, number] {
  const [OH, OW] = poolShape(op, a);
  const p = ctx.pipelines.get(op, () => wgsl);
  ctx.dispatch(p, packParams(a.C, a.H, a.W, a.k, a.stride ?? a.k, a.pad ?? 0, OH, OW), [a.x, a.out], ...grid1d(Math.ceil(a.C * OH * OW / 64)));
  return [a.C, OH, OW];
}
