// pad: x[C, H, W] → out[C, top + H + bottom, left + W + right], zeros around; out ≠ x.
import type { GpuContext } from '../context.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

export const PAD_WGSL = /* wgsl */ `
struct Params { n: u32, H: u32, W: u32, OH: u32, OW: u32, top: u32, left: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let ow = i % P.OW;
  let oh = (i / P.OW) % P.OH;
  let c = i / (P.OW * P.OH);
  // unsigned wrap-around makes rows and columns above or left of the image large, so one test covers both sides
  let h = oh - P.top;
  let w = ow - P.left;
  var v = 0.0;
  if (h < P.H && w < P.W) { v = x[(c * P.H + h) * P.W + w]; }
  y[i] = v;
}
`;

export function pad(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; C: number; H: number; W: number; top: number; bottom: number; left: number; right: number }): void {
  const { C, H, W, top, bottom, left, right } = a;
  positiveInts('pad', { C, H, W });
  const OH = top + H + bottom, OW = left + W + right, n = C * OH * OW;
  need(a.x, C * H * W * 4, 'pad x');
  need(a.out, n * 4, 'pad out');
  const p = ctx.pipelines.get('pad', () => PAD_WGSL);
  ctx.dispatch(p, packParams(n, H, W, OH, OW, top, left), [a.x, a.out], ...grid1d(Math.ceil(n / 256)));
}
