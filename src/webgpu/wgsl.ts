// WGSL snippets and host helpers shared by the op files.
import { MAX_WORKGROUPS_PER_DIM, type GpuContext } from './context.js';
import { WebGpuError } from './errors.js';

import { ACT } from '../engine/activations.js';
import type { Activation } from '../format/index.js';

export { ACT, type Activation };

export function actCode(act: Activation | number | undefined): number {
  if (act === undefined) return 0;
  if (typeof act === 'number') {
    if (act === 0 || act === 1 || act === 2 || act === 3) return act;
  } else if (act in ACT) {
    return ACT[act];
  }
  throw new WebGpuError('BAD_ARGUMENT', `unknown activation ${String(act)}`);
}

/**
 * GELU (erf form) and the fused activations. WGSL has no erf, and the obvious `1 + erf(x/√2)` loses all relative
 * precision for negative x (it cancels to ~1e-5 at x = −4). So GELU is written through erfc: for x < 0,
 * gelu(x) = ½·x·erfc(|x|/√2); for x ≥ 0, gelu(x) = ½·x·(2 − erfc(x/√2)). erfc uses the Chebyshev-fitted form
 * erfc(z) = t·exp(−z² + P(t)), t = 1/(1 + z/2) (fractional error < 1.2e-7 for every z ≥ 0), so the result keeps
 * ~1e-6 relative accuracy everywhere instead of an absolute one.
 */
export const ACT_WGSL = /* wgsl */ `
fn erfc_pos(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807
        + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * exp(p - z * z);
}
fn gelu(x: f32) -> f32 {
  let c = erfc_pos(abs(x) * 0.70710678118654752);
  if (x < 0.0) { return 0.5 * x * c; }
  return 0.5 * x * (2.0 - c);
}
fn activate(x: f32, kind: u32) -> f32 {
  switch kind {
    case 1u: { return max(x, 0.0); }
    case 2u: { return clamp(x, 0.0, 6.0); }
    case 3u: { return gelu(x); }
    default: { return x; }
  }
}
`;

/**
 * Workgroup grid for `groups` workgroups laid out in x (then y, past the 65535 per-dimension limit). Kernels recover
 * the flat index with `wid.x + wid.y * nwg.x` and bail past their element count.
 */
export function grid1d(groups: number): [number, number] {
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [Math.max(groups, 0), 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  return [Math.ceil(groups / y), y];
}

/** Tagged params: plain numbers are u32, f32(v) and i32(v) mark the other scalar types. */
export type Param = number | { f32: number } | { i32: number };
export const f32 = (v: number): Param => ({ f32: v });
export const i32 = (v: number): Param => ({ i32: v });

/** Packs a params block in declaration order (every field 4 bytes), padded to 16 bytes as uniforms require. */
export function packParams(...fields: Param[]): Uint32Array {
  const out = new Uint32Array(Math.ceil(Math.max(fields.length, 1) / 4) * 4);
  const dv = new DataView(out.buffer);
  fields.forEach((v, i) => {
    if (typeof v === 'number') dv.setUint32(i * 4, v >>> 0, true);
    else if ('f32' in v) dv.setFloat32(i * 4, v.f32, true);
    else dv.setInt32(i * 4, v.i32, true);
  });
  return out;
}

/** Throws BAD_ARGUMENT unless `buf` holds at least `bytes` bytes. */
export function need(buf: GPUBuffer, bytes: number, what: string): void {
  if (buf.size < bytes) throw new WebGpuError('BAD_ARGUMENT', `${what}: buffer of ${buf.size} bytes, need ${bytes}`);
}

/** Throws BAD_ARGUMENT unless every value is a positive integer. */
export function positiveInts(what: string, vals: Record<string, number>): void {
  for (const [k, v] of Object.entries(vals)) {
    if (!Number.isInteger(v) || v < 1) throw new WebGpuError('BAD_ARGUMENT', `${what}: ${k} = ${v} must be a positive integer`);
  }
}

/**
 * An elementwise kernel over n elements, `expr` written in terms of `v` (and the ACT_WGSL functions). Two variants:
 * x → out, and in place (one read_write binding: WebGPU forbids binding one buffer as both read and read_write).
 */
export function unaryWgsl(expr: string, inPlace: boolean): string {
  const io = inPlace
    ? '@group(0) @binding(1) var<storage, read_write> y: array<f32>;'
    : '@group(0) @binding(1) var<storage, read> x: array<f32>;\n@group(0) @binding(2) var<storage, read_write> y: array<f32>;';
  return /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${io}
${ACT_WGSL}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let v = ${inPlace ? 'y' : 'x'}[i];
  y[i] = ${expr};
}
`;
}

/** Dispatches a unaryWgsl kernel pair registered under `key` (`out` may be `x`). */
export function dispatchUnary(ctx: GpuContext, key: string, sources: { outOfPlace: string; inPlace: string },
  x: GPUBuffer, out: GPUBuffer, n: number): void {
  positiveInts(key, { n });
  need(x, n * 4, `${key} x`);
  need(out, n * 4, `${key} out`);
  const inPlace = x === out;
  const p = ctx.pipelines.get(`${key}:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? sources.inPlace : sources.outOfPlace));
  ctx.dispatch(p, packParams(n), inPlace ? [x] : [x, out], ...grid1d(Math.ceil(n / 256)));
}

/**
 * Workgroup reductions for 64-thread workgroups (`t` = local_invocation_index). Call them from uniform control flow
 * only (they contain barriers); every thread gets the result.
 */
export const REDUCE64_WGSL = /* wgsl */ `
var<workgroup> red64: array<f32, 64>;
fn wgSum(v: f32, t: u32) -> f32 {
  red64[t] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { red64[t] += red64[t + s]; }
    workgroupBarrier();
  }
  let r = red64[0];
  workgroupBarrier();
  return r;
}
fn wgMax(v: f32, t: u32) -> f32 {
  red64[t] = v;
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) { red64[t] = max(red64[t], red64[t + s]); }
    workgroupBarrier();
  }
  let r = red64[0];
  workgroupBarrier();
  return r;
}
`;

/** Binding declarations for an op reading `x` and writing `y`, or updating `y` in place (then `x` aliases `y`). */
export function ioDecls(inPlace: boolean, first = 1): string {
  return inPlace
    ? `@group(0) @binding(${first}) var<storage, read_write> y: array<f32>;\nfn ldx(i: u32) -> f32 { return y[i]; }`
    : `@group(0) @binding(${first}) var<storage, read> x: array<f32>;\n@group(0) @binding(${first + 1}) var<storage, read_write> y: array<f32>;\nfn ldx(i: u32) -> f32 { return x[i]; }`;
}
