// minmax: out = [min(x), max(x)] over n elements (±∞ when x holds a NaN), what a dynamic per-tensor quantization scale is computed from
// before an activation is offloaded. Two dispatches: 256 workgroups each reduce a strided slice to a pair, then one
// workgroup reduces the pairs (so n is not bounded by one workgroup's patience).
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { need, packParams, positiveInts } from '../wgsl.js';

const PARTS = 256;

export const MINMAX_WGSL = /* wgsl */ `
struct Params { n: u32, pairs: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> lo: array<f32, 64>;
var<workgroup> hi: array<f32, 64>;
// pairs == 0: x holds n plain values; pairs > 0: x holds n (min, max) pairs from the first pass.
// WGSL's min and max may drop a NaN, so a NaN counts as −∞ for the minimum and +∞ for the maximum: the result then
// says "not finite", as an infinity would (tested on the bits: a compiler may fold v != v away).
// The infinities come from runtime values: a constant expression may not be infinite.
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn getLo(i: u32) -> f32 {
  if (P.pairs != 0u) { return x[2u * i]; }
  let v = x[i];
  var negInf = 0xff800000u;
  return select(v, bitcast<f32>(negInf), isNan(v));
}
fn getHi(i: u32) -> f32 {
  if (P.pairs != 0u) { return x[2u * i + 1u]; }
  let v = x[i];
  var posInf = 0x7f800000u;
  return select(v, bitcast<f32>(posInf), isNan(v));
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) t: u32) {
  let stride = nwg.x * 64u;
  let start = wid.x * 64u + t;
  var a = getLo(0u);
  var b = getHi(0u);
  for (var i = start; i < P.n; i += stride) { a = min(a, getLo(i)); b = max(b, getHi(i)); }
  lo[t] = a;
  hi[t] = b;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { lo[t] = min(lo[t], lo[t + s]); hi[t] = max(hi[t], hi[t + s]); }
    workgroupBarrier();
  }
  if (t == 0u) { y[2u * wid.x] = lo[0]; y[2u * wid.x + 1u] = hi[0]; }
}
`;

/** out (≥ 8 bytes) receives [min, max]; uses a pooled scratch of 2 KiB. */
export function minmax(ctx: GpuContext, a: { x: GPUBuffer; out: GPUBuffer; n: number }): void {
  const { n } = a;
  positiveInts('minmax', { n });
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'minmax: out must not be x');
  need(a.x, n * 4, 'minmax x');
  need(a.out, 8, 'minmax out');
  const p = ctx.pipelines.get('minmax', () => MINMAX_WGSL);
  const parts = Math.min(PARTS, Math.ceil(n / 64));
  const partial = ctx.alloc(parts * 8);
  ctx.dispatch(p, packParams(n, 0), [a.x, partial], parts);
  ctx.dispatch(p, packParams(parts, 1), [partial, a.out], 1);
  ctx.free(partial);
}
