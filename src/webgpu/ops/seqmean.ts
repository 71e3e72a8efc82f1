// seqmean: [T, D] → [D], the mean over the T tokens; one thread per feature (reads of neighbouring threads are
// adjacent in memory, and T is short).
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

export const SEQMEAN_WGSL = /* wgsl */ `
struct Params { T: u32, D: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = gid.x + gid.y * nwg.x * 64u;
  if (d >= P.D) { return; }
  var s = 0.0;
  for (var t = 0u; t < P.T; t++) { s += x[t * P.D + d]; }
  y[d] = s / f32(P.T);
}
`;

export function seqmean(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; T: number; D: number }): void {
  const { T, D } = a;
  positiveInts('seqmean', { T, D });
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'seqmean: out must not be x');
  need(a.x, T * D * 4, 'seqmean x');
  need(a.out, D * 4, 'seqmean out');
  const p = ctx.pipelines.get('seqmean', () => SEQMEAN_WGSL);
  ctx.dispatch(p, packParams(T, D), [a.x, a.out], ...grid1d(Math.ceil(D / 64)));
}
