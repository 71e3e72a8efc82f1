// affine: x viewed as [outer, C, inner], out[o, c, i] = x[o, c, i]·w[c] + b[c]; flags bit 0: w present (else 1),
// bit 1: b present (else 0). Also the broadcast product of a tensor by a per-channel / per-feature one (w = it, no b).
// out may be x.
import type { GpuContext } from '../context.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

function source(inPlace: boolean): string {
  const io = inPlace
    ? '@group(0) @binding(1) var<storage, read_write> y: array<f32>;'
    : '@group(0) @binding(1) var<storage, read> x: array<f32>;\n@group(0) @binding(4) var<storage, read_write> y: array<f32>;';
  return /* wgsl */ `
struct Params { n: u32, C: u32, inner: u32, flags: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${io}
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let c = (i / P.inner) % P.C;
  var r = ${inPlace ? 'y' : 'x'}[i];
  if ((P.flags & 1u) != 0u) { r = r * w[c]; }
  if ((P.flags & 2u) != 0u) { r = r + b[c]; }
  y[i] = r;
}
`;
}

export const AFFINE_WGSL = { outOfPlace: source(false), inPlace: source(true) };

export function affine(ctx: GpuContext, a: { x: GPUBuffer; w: GPUBuffer | null; b: GPUBuffer | null; out: GPUBuffer; outer: number; C: number; inner: number }): void {
  const { outer, C, inner } = a;
  positiveInts('affine', { outer, C, inner });
  const n = outer * C * inner;
  need(a.x, n * 4, 'affine x');
  need(a.out, n * 4, 'affine out');
  if (a.w) need(a.w, C * 4, 'affine w');
  if (a.b) need(a.b, C * 4, 'affine b');
  const inPlace = a.x === a.out;
  const p = ctx.pipelines.get(`affine:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? AFFINE_WGSL.inPlace : AFFINE_WGSL.outOfPlace));
  const flags = (a.w ? 1 : 0) | (a.b ? 2 : 0);
  const w = a.w ?? ctx.dummy, b = a.b ?? ctx.dummy;
  ctx.dispatch(p, packParams(n, C, inner, flags), inPlace ? [a.x, w, b] : [a.x, w, b, a.out], ...grid1d(Math.ceil(n / 256)));
}
