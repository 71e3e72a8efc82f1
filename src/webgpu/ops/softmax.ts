// softmax over the last dim, max-subtracted so exp never overflows; one 64-thread workgroup per row; out may be x.
import type { GpuContext } from '../context.js';
import { grid1d, ioDecls, need, packParams, positiveInts, REDUCE64_WGSL } from '../wgsl.js';

function source(inPlace: boolean): string {
  return /* wgsl */ `
struct Params { rows: u32, N: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${ioDecls(inPlace)}
${REDUCE64_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= P.rows) { return; }
  let N = P.N;
  let base = row * N;
  var m = ldx(base);
  for (var i = t; i < N; i += 64u) { m = max(m, ldx(base + i)); }
  let mx = wgMax(m, t);
  var s = 0.0;
  for (var i = t; i < N; i += 64u) { s += exp(ldx(base + i) - mx); }
  let inv = 1.0 / wgSum(s, t);
  // Each thread rewrites only the elements it read itself, so the in-place variant needs no extra barrier.
  for (var i = t; i < N; i += 64u) { y[base + i] = exp(ldx(base + i) - mx) * inv; }
}
`;
}

export const SOFTMAX_WGSL = { outOfPlace: source(false), inPlace: source(true) };

export function softmax(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; rows: number; N: number }): void {
  const { rows, N } = a;
  positiveInts('softmax', { rows, N });
  need(a.x, rows * N * 4, 'softmax x');
  need(a.out, rows * N * 4, 'softmax out');
  const inPlace = a.x === a.out;
  const p = ctx.pipelines.get(`softmax:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? SOFTMAX_WGSL.inPlace : SOFTMAX_WGSL.outOfPlace));
  ctx.dispatch(p, packParams(rows, N), inPlace ? [a.x] : [a.x, a.out], ...grid1d(rows));
}
