// layernorm over the last dim: y = (x − mean)/√(var + eps)·g + b per row, one 64-thread workgroup per row. The
// variance is a second pass over (x − mean)² rather than E[x²] − mean², which cancels badly when |mean| ≫ std.
import type { GpuContext } from '../context.js';
import { f32, grid1d, ioDecls, need, packParams, positiveInts, REDUCE64_WGSL } from '../wgsl.js';

function source(inPlace: boolean): string {
  const gb = inPlace ? 2 : 3;
  return /* wgsl */ `
struct Params { rows: u32, D: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
${ioDecls(inPlace)}
@group(0) @binding(${gb}) var<storage, read> g: array<f32>;
@group(0) @binding(${gb + 1}) var<storage, read> b: array<f32>;
${REDUCE64_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let D = P.D;
  let base = row * D;
  var s = 0.0;
  for (var i = t; i < D; i += 64u) { s += ldx(base + i); }
  let mean = wgSum(s, t) / f32(D);
  var q = 0.0;
  for (var i = t; i < D; i += 64u) { let d = ldx(base + i) - mean; q = fma(d, d, q); }
  let inv = 1.0 / sqrt(wgSum(q, t) / f32(D) + P.eps);
  for (var i = t; i < D; i += 64u) { y[base + i] = (ldx(base + i) - mean) * inv * g[i] + b[i]; }
}
`;
}

export const LAYERNORM_WGSL = { outOfPlace: source(false), inPlace: source(true) };

export interface LayernormArgs { x: GPUBuffer; g: GPUBuffer; b: GPUBuffer; out: GPUBuffer; rows: number; D: number; eps?: number }

/** out may be x. */
export function layernorm(ctx: GpuContext, a: LayernormArgs): void {
  const { rows, D } = a;
  positiveInts('layernorm', { rows, D });
  need(a.x, rows * D * 4, 'layernorm x');
  need(a.out, rows * D * 4, 'layernorm out');
  need(a.g, D * 4, 'layernorm g');
  need(a.b, D * 4, 'layernorm b');
  const inPlace = a.x === a.out;
  const p = ctx.pipelines.get(`layernorm:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? LAYERNORM_WGSL.inPlace : LAYERNORM_WGSL.outOfPlace));
  const bufs = inPlace ? [a.x, a.g, a.b] : [a.x, a.out, a.g, a.b];
  ctx.dispatch(p, packParams(rows, D, f32(a.eps ?? 1e-5)), bufs, ...grid1d(rows));
}
