// The shared skeleton of the standalone activation kernels (sigmoid, tanh, gelu_tanh, hardsigmoid, hardswish, clip):
// one thread per element, `body` written in terms of `v` (the input), `P.p`/`P.q` (two f32 parameters) and `P.flags`,
// assigning `r`. Two variants, like unaryWgsl: x → out, and in place (one read_write binding).
import type { GpuContext } from '../context.js';
import { f32, grid1d, need, packParams, positiveInts } from '../wgsl.js';

/** σ(z) from e = e^−|z| ≤ 1 on both sides, so neither side subtracts nearly equal values. */
export const SIGMOID_FN = /* wgsl */ `
fn sigmoid1(z: f32) -> f32 {
  let e = exp(-abs(z));
  let d = 1.0 / (1.0 + e);
  return select(d, e * d, z < 0.0);
}`;

export function activationWgsl(fns: string, body: string, inPlace: boolean): string {
  const io = inPlace
    ? '@group(0) @binding(1) var<storage, read_write> y: array<f32>;'
    : '@group(0) @binding(1) var<storage, read> x: array<f32>;\n@group(0) @binding(2) var<storage, read_write> y: array<f32>;';
  return /* wgsl */ `
struct Params { n: u32, p: f32, q: f32, flags: u32 }
@group(0) @binding(0) var<uniform> P: Params;
${io}
${fns}
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let v = ${inPlace ? 'y' : 'x'}[i];
  var r: f32;
  ${body}
  y[i] = r;
}
`;
}

export interface ActivationSources { outOfPlace: string; inPlace: string }

export function activationSources(fns: string, body: string): ActivationSources {
  return { outOfPlace: activationWgsl(fns, body, false), inPlace: activationWgsl(fns, body, true) };
}

/** Dispatches an activationWgsl kernel pair registered under `key` (`out` may be `x`). */
export function dispatchActivation(ctx: GpuContext, key: string, sources: ActivationSources, x: GPUBuffer, out: GPUBuffer, n: number,
  p = 0, q = 0, flags = 0): void {
  positiveInts(key, { n });
  need(x, n * 4, `${key} x`);
  need(out, n * 4, `${key} out`);
  const inPlace = x === out;
  const pipe = ctx.pipelines.get(`${key}:${inPlace ? 'inplace' : 'copy'}`, () => (inPlace ? sources.inPlace : sources.outOfPlace));
  ctx.dispatch(pipe, packParams(n, f32(p), f32(q), flags), inPlace ? [x] : [x, out], ...grid1d(Math.ceil(n / 256)));
}
