// gap: global average pool [C, HW] → [C], one 64-thread workgroup per channel (HW is large: 7×7 … 28×28).
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { grid1d, need, packParams, positiveInts, REDUCE64_WGSL } from '../wgsl.js';

export const GAP_WGSL = /* wgsl */ `
struct Params { C: u32, HW: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${REDUCE64_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let c = wid.x + wid.y * nwg.x;
  if (c >= P.C) { return; }
  var s = 0.0;
  for (var i = t; i < P.HW; i += 64u) { s += x[c * P.HW + i]; }
  let total = wgSum(s, t);
  if (t == 0u) { y[c] = total / f32(P.HW); }
}
`;

export function gap(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; C: number; HW: number }): void {
  const { C, HW } = a;
  positiveInts('gap', { C, HW });
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'gap: out must not be x');
  need(a.x, C * HW * 4, 'gap x');
  need(a.out, C * 4, 'gap out');
  const p = ctx.pipelines.get('gap', () => GAP_WGSL);
  ctx.dispatch(p, packParams(C, HW), [a.x, a.out], ...grid1d(C));
}
