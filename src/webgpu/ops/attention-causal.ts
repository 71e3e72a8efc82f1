// attention with a causal mask: query i sees only keys j ≤ i (and, with window w > 0, also j ≥ i − w). The same
// three steps as `attention` (qkv linear, per (query, head) softmax and weighted sum of V, output linear); the middle
// kernel here is one thread per (query, head, feature), each walking its keys once with a running maximum (the
// online softmax), so no [heads, T, T] scratch is needed.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { f32, grid1d, need, packParams, positiveInts } from '../wgsl.js';
import type { AttentionArgs } from './attention.js';
import { linear } from './linear.js';

export const ATTENTION_CAUSAL_WGSL = /* wgsl */ `
struct Params { T: u32, D: u32, dh: u32, scale: f32, window: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> ctx: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let n = gid.x + gid.y * nwg.x * 64u;   // (i, feature f of D): head h = f / dh
  if (n >= P.T * P.D) { return; }
  let i = n / P.D;
  let f = n % P.D;
  let h = f / P.dh;
  let D3 = 3u * P.D;
  var lo = 0u;
  if (P.window > 0u && i > P.window) { lo = i - P.window; }
  var m = -3.0e38;
  var sum = 0.0;
  var acc = 0.0;
  for (var j = lo; j <= i; j++) {
    var s = 0.0;
    for (var d = 0u; d < P.dh; d++) { s = fma(qkv[i * D3 + h * P.dh + d], qkv[j * D3 + P.D + h * P.dh + d], s); }
    s *= P.scale;
    let m2 = max(m, s);
    let r = exp(m - m2);
    let e = exp(s - m2);
    sum = sum * r + e;
    acc = acc * r + e * qkv[j * D3 + 2u * P.D + f];
    m = m2;
  }
  ctx[i * P.D + f] = acc / sum;
}
`;

export function attentionCausal(ctx: GpuContext, a: AttentionArgs): void {
  const { T, D, heads } = a;
  positiveInts('attention', { T, D, heads });
  if (D % heads) throw new WebGpuError('BAD_ARGUMENT', `attention: heads ${heads} must divide D ${D}`);
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'attention: out must not be x');
  need(a.x, T * D * 4, 'attention x');
  need(a.out, T * D * 4, 'attention out');
  const window = a.window ?? 0;
  const dh = D / heads;
  const qkv = ctx.alloc(3 * T * D * 4);
  const mid = ctx.alloc(T * D * 4);
  linear(ctx, { x: a.x, w: a.wqkv, b: a.bqkv, out: qkv, M: T, K: D, N: 3 * D });
  const p = ctx.pipelines.get('attention:causal', () => ATTENTION_CAUSAL_WGSL);
  ctx.dispatch(p, packParams(T, D, dh, f32(1 / Math.sqrt(dh)), Math.min(window, T)), [qkv, mid], ...grid1d(Math.ceil(T * D / 64)));
  linear(ctx, { x: mid, w: a.wo, b: a.bo, out: a.out, M: T, K: D, N: D });
  ctx.free(qkv);
  ctx.free(mid);
}
