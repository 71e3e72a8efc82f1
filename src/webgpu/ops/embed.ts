// embed: token ids [T] (i32) → out[T, D] = tok[ids[t]] + pos[t]. Ids are checked on the host (checkIds) before
// they are uploaded; the kernel still clamps them so a bad id can never read outside the table.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { grid1d, need, packParams, positiveInts } from '../wgsl.js';

export const EMBED_WGSL = /* wgsl */ `
struct Params { T: u32, D: u32, V: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> tok: array<f32>;
@group(0) @binding(3) var<storage, read> pos: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= P.T * P.D) { return; }
  let t = i / P.D;
  let d = i - t * P.D;
  let id = u32(clamp(ids[t], 0, i32(P.V) - 1));
  y[i] = tok[id * P.D + d] + pos[t * P.D + d];
}
`;

/** Throws BAD_ARGUMENT unless every id is in 0..V−1 and 1 ≤ T ≤ P. */
export function checkIds(ids: Int32Array, V: number, P: number): void {
  if (ids.length < 1 || ids.length > P) throw new WebGpuError('BAD_ARGUMENT', `embed: ${ids.length} tokens, need 1..${P}`);
  for (let i = 0; i < ids.length; i++) {
    if (!(ids[i] >= 0 && ids[i] < V)) throw new WebGpuError('BAD_ARGUMENT', `embed: token id ${ids[i]} at ${i} outside 0..${V - 1}`);
  }
}

export interface EmbedArgs {
  /** [T] i32 */
  ids: GPUBuffer;
  /** [V, D] */
  tok: GPUBuffer;
  /** [P, D], T ≤ P */
  pos: GPUBuffer;
  /** [T, D] */
  out: GPUBuffer;
  T: number; D: number; V: number; P: number;
}

export function embed(ctx: GpuContext, a: EmbedArgs): void {
  const { T, D, V, P } = a;
  positiveInts('embed', { T, D, V, P });
  if (T > P) throw new WebGpuError('BAD_ARGUMENT', `embed: T ${T} > positions ${P}`);
  need(a.ids, T * 4, 'embed ids');
  need(a.tok, V * D * 4, 'embed tok');
  need(a.pos, P * D * 4, 'embed pos');
  need(a.out, T * D * 4, 'embed out');
  const p = ctx.pipelines.get('embed', () => EMBED_WGSL);
  ctx.dispatch(p, packParams(T, D, V), [a.ids, a.tok, a.pos, a.out], ...grid1d(Math.ceil(T * D / 64)));
}
