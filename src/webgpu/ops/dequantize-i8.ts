// dequantize_i8: out = (q − zeroPoint)·scale for int8 values packed four per u32 (little-endian). q − zp is an exact
// small integer, so the product rounds once, exactly like the float64 reference rounded to f32.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { f32, grid1d, i32, need, packParams, positiveInts } from '../wgsl.js';
import { checkQuantParams, quantizedBytes } from './quantize-i8.js';

export const DEQUANTIZE_I8_WGSL = /* wgsl */ `
struct Params { n: u32, scale: f32, zp: i32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> q: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.n) { return; }
  // Sign-extend byte i%4 of word i/4: shift it to the top, then arithmetic-shift back down.
  let b = bitcast<i32>(q[i / 4u] << (24u - 8u * (i % 4u))) >> 24u;
  y[i] = f32(b - P.zp) * P.scale;
}
`;

export interface DequantizeArgs { q: GPUBuffer; out: GPUBuffer; n: number; scale: number; zeroPoint: number }

export function dequantizeI8(ctx: GpuContext, a: DequantizeArgs): void {
  const { n } = a;
  positiveInts('dequantizeI8', { n });
  checkQuantParams('dequantizeI8', a.scale, a.zeroPoint);
  if (a.q === a.out) throw new WebGpuError('BAD_ARGUMENT', 'dequantizeI8: out must not be q');
  need(a.q, quantizedBytes(n), 'dequantizeI8 q');
  need(a.out, n * 4, 'dequantizeI8 out');
  const p = ctx.pipelines.get('dequantize-i8', () => DEQUANTIZE_I8_WGSL);
  ctx.dispatch(p, packParams(n, f32(a.scale), i32(a.zeroPoint)), [a.q, a.out], ...grid1d(Math.ceil(n / 64)));
}
