// linear: out[M, N] = act(x[M, K] · wᵀ + b), w in PyTorch [N, K] layout (uploaded as is, never repacked).
// Two kernels: the tiled GEMM (gemm-template.ts) for M ≥ 8, and for batch-1 vectors and short sequences (M < 8)
// a GEMV where 64 threads of a workgroup split one output's dot products along K — a 32-row GEMM tile would leave
// 31/32 of its work idle at M = 1, which is exactly the exit heads' case.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { gemmGroups, gemmWgsl } from '../gemm-template.js';
import { ACT_WGSL, actCode, grid1d, need, packParams, positiveInts, type Activation } from '../wgsl.js';

const DECLS = /* wgsl */ `
struct Params { M: u32, K: u32, N: u32, act: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
`;

export const LINEAR_GEMM_WGSL = gemmWgsl({
  decls: DECLS,
  extra: ACT_WGSL,
  M: 'P.M', N: 'P.N', K: 'P.K',
  loadA: 'fn loadA(z: u32, m: u32, k: u32) -> f32 { return x[m * P.K + k]; }',
  loadB: 'fn loadB(z: u32, k: u32, n: u32) -> f32 { return w[n * P.K + k]; }',
  storeC: /* wgsl */ `fn storeC(z: u32, m: u32, n: u32, v: f32) {
    var s = v;
    if (P.hasBias != 0u) { s += bias[n]; }
    out[m * P.N + n] = activate(s, P.act);
  }`,
  bNContiguous: false,
});

/** Largest M the GEMV kernel takes (it keeps one partial sum per row in registers). */
export const GEMV_MAX_M = 7;

export const LINEAR_GEMV_WGSL = /* wgsl */ `
${DECLS}
${ACT_WGSL}
const WG = 64u;
const MAXM = ${GEMV_MAX_M}u;
var<workgroup> red: array<f32, ${64 * GEMV_MAX_M}>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) t: u32) {
  let n = wid.x + wid.y * nwg.x;
  // n is uniform across the workgroup, so this early exit keeps the barriers below in uniform control flow.
  if (n >= P.N) { return; }
  let K = P.K;
  var part: array<f32, ${GEMV_MAX_M}>;
  for (var k = t; k < K; k += WG) {
    let wv = w[n * K + k];
    for (var m = 0u; m < P.M; m++) { part[m] = fma(x[m * K + k], wv, part[m]); }
  }
  for (var m = 0u; m < P.M; m++) { red[m * WG + t] = part[m]; }
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var m = 0u; m < P.M; m++) { red[m * WG + t] += red[m * WG + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < P.M) {
    var v = red[t * WG];
    if (P.hasBias != 0u) { v += bias[n]; }
    out[t * P.N + n] = activate(v, P.act);
  }
}
`;

export interface LinearArgs {
  x: GPUBuffer;
  /** [N, K] f32 */
  w: GPUBuffer;
  /** [N] f32 or null */
  b?: GPUBuffer | null;
  /** [M, N] f32; must not be x */
  out: GPUBuffer;
  M: number;
  K: number;
  N: number;
  act?: Activation | number;
}

export function linear(ctx: GpuContext, a: LinearArgs): void {
  const { M, K, N } = a;
  positiveInts('linear', { M, K, N });
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'linear: out must not be x');
  need(a.x, M * K * 4, 'linear x');
  need(a.w, N * K * 4, 'linear w');
  need(a.out, M * N * 4, 'linear out');
  if (a.b) need(a.b, N * 4, 'linear b');
  const params = packParams(M, K, N, actCode(a.act), a.b ? 1 : 0);
  const buffers = [a.x, a.w, a.b ?? ctx.dummy, a.out];
  if (M <= GEMV_MAX_M) {
    const p = ctx.pipelines.get('linear:gemv', () => LINEAR_GEMV_WGSL);
    ctx.dispatch(p, params, buffers, ...grid1d(N));
  } else {
    const p = ctx.pipelines.get('linear:gemm', () => LINEAR_GEMM_WGSL);
    ctx.dispatch(p, params, buffers, ...gemmGroups(M, N));
  }
}
