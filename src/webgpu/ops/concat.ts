// concat: out = [a (na values), b (nb values)] (channels of [C, H, W] maps, or vectors); out is neither input.
import type { GpuContext } from '../context.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

export const CONCAT_WGSL = /* wgsl */ `
struct Params { na: u32, n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  if (i < P.na) { y[i] = a[i]; } else { y[i] = b[i - P.na]; }
}
`;

export function concat(ctx: GpuContext, args: { a: GPUBuffer; na: number; b: GPUBuffer; nb: number; out: GPUBuffer }): void {
  const { na, nb } = args;
  positiveInts('concat', { na, nb });
  need(args.a, na * 4, 'concat a');
  need(args.b, nb * 4, 'concat b');
  need(args.out, (na + nb) * 4, 'concat out');
  const p = ctx.pipelines.get('concat', () => CONCAT_WGSL);
  ctx.dispatch(p, packParams(na, na + nb), [args.a, args.b, args.out], ...grid1d(Math.ceil((na + nb) / 256)));
}
