// quantize_i8: per-tensor affine int8, q = clamp(roundHalfEven(x/scale) + zeroPoint, −128, 127), four values packed
// per u32 (little-endian, so the read-back bytes are an Int8Array). One thread per 4 elements. ±∞ saturate, NaN
// gives the zero point.
//
// Rounding is decided on the exact quotient x/scale, not on a rounded one: GPU division is only accurate to ~2.5 ulp,
// so round(x/scale) would go the wrong way on quotients within an ulp of k + ½. With f = floor(x/scale) (right to
// within that ulp), the exact sign of x − (f + ½)·scale says whether the true quotient is below, at or above the
// midpoint; at the midpoint, ties go to the even integer. WGSL's fma() may be unfused (it is on SwiftShader), so
// that sign is computed from exact partial products instead (see quant()).
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { f32, grid1d, i32, need, packParams, positiveInts } from '../wgsl.js';

export const QUANTIZE_I8_WGSL = /* wgsl */ `
struct Params { n: u32, scale: f32, zp: i32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> q: array<u32>;

fn quant(v: f32) -> u32 {
  // NaN quantizes to the zero point (the value 0). Tested on the bits: a compiler may fold v != v away.
  if ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u) { return u32(clamp(P.zp, -128, 127)) & 0xffu; }
  // Past ±512 the result saturates whatever the rounding, and |2f + 1| ≤ 1025 keeps the products below exact.
  let q0 = clamp(v / P.scale, -512.0, 512.0);
  let f = floor(q0);
  let m = 2.0 * f + 1.0;
  // scale = sh + sl with 12 significant bits each (sh by masking the low mantissa bits, so no rounding is involved);
  // m has ≤ 11 bits, so m·sh and m·sl are exact products, fused or not.
  let sh = bitcast<f32>(bitcast<u32>(P.scale) & 0xfffff000u);
  let sl = P.scale - sh;
  // sign(2v − m·scale): 2v − m·sh is exact when the two are within a factor 2 (Sterbenz) and otherwise far larger
  // than m·sl, so rounding cannot flip the sign of the final difference.
  let d = (2.0 * v - m * sh) - m * sl;
  var r = f;
  if (d > 0.0 || (d == 0.0 && f - 2.0 * floor(0.5 * f) != 0.0)) { r = f + 1.0; }
  let k = clamp(i32(r) + P.zp, -128, 127);
  return u32(k) & 0xffu;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = gid.x + gid.y * nwg.x * 64u;
  let i0 = 4u * w;
  if (i0 >= P.n) { return; }
  var packed = 0u;
  for (var j = 0u; j < 4u; j++) {
    if (i0 + j < P.n) { packed |= quant(x[i0 + j]) << (8u * j); }
  }
  q[w] = packed;
}
`;

/** Bytes a quantized tensor of n elements occupies on the GPU (n rounded up to whole u32 words). */
export const quantizedBytes = (n: number): number => Math.ceil(n / 4) * 4;

export function checkQuantParams(op: string, scale: number, zeroPoint: number): void {
  if (!(scale > 0) || !Number.isFinite(scale)) throw new WebGpuError('BAD_ARGUMENT', `${op}: scale ${scale} must be positive and finite`);
  if (!Number.isInteger(zeroPoint) || zeroPoint < -128 || zeroPoint > 127) throw new WebGpuError('BAD_ARGUMENT', `${op}: zeroPoint ${zeroPoint} must be an int8`);
}

export interface QuantizeArgs {
  /** [n] f32 */
  x: GPUBuffer;
  /** ceil(n/4) u32 words: int8 values packed little-endian */
  q: GPUBuffer;
  n: number;
  scale: number;
  zeroPoint: number;
}

export function quantizeI8(ctx: GpuContext, a: QuantizeArgs): void {
  const { n } = a;
  positiveInts('quantizeI8', { n });
  checkQuantParams('quantizeI8', a.scale, a.zeroPoint);
  if (a.q === a.x) throw new WebGpuError('BAD_ARGUMENT', 'quantizeI8: q must not be x');
  need(a.x, n * 4, 'quantizeI8 x');
  need(a.q, quantizedBytes(n), 'quantizeI8 q');
  const p = ctx.pipelines.get('quantize-i8', () => QUANTIZE_I8_WGSL);
  ctx.dispatch(p, packParams(n, f32(a.scale), i32(a.zeroPoint)), [a.x, a.q], ...grid1d(Math.ceil(n / 256)));
}
