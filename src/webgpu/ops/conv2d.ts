// conv2d: x[C, H, W] → out[OC, OH, OW], weight in PyTorch [OC, C/groups, KH, KW] layout, zero padding, fused bias and
// activation. Ordinary and grouped convolutions run as an implicit GEMM per group (gemm-template.ts):
// C_g[OC/g, OH·OW] = W_g[OC/g, (C/g)·KH·KW] · im2col_g[(C/g)·KH·KW, OH·OW], where the im2col matrix is never
// materialised: loadB computes the input address (or the zero of the padding) on the fly. Depthwise convolutions
// (one input channel per group) have nothing to share through workgroup memory and run one thread per output.
import type { GpuContext } from '../context.js';
import { WebGpuError } from '../errors.js';
import { gemmGroups, gemmWgsl } from '../gemm-template.js';
import { ACT_WGSL, actCode, grid1d, need, packParams, positiveInts, type Activation } from '../wgsl.js';

const DECLS = /* wgsl */ `
struct Params {
  C: u32, H: u32, W: u32, OC: u32,
  KH: u32, KW: u32, stride: u32, pad: u32,
  groups: u32, OH: u32, OW: u32, act: u32,
  hasBias: u32, Cg: u32, OCg: u32, Kg: u32,
}
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
`;

export const CONV2D_GEMM_WGSL = gemmWgsl({
  decls: DECLS,
  extra: ACT_WGSL,
  M: 'P.OCg', N: 'P.OH * P.OW', K: 'P.Kg',
  // Row m of group z's weight matrix is output channel z·OCg + m, whose Kg weights are contiguous.
  loadA: 'fn loadA(z: u32, m: u32, k: u32) -> f32 { return w[(z * P.OCg + m) * P.Kg + k]; }',
  loadB: /* wgsl */ `fn loadB(z: u32, k: u32, n: u32) -> f32 {
    let khw = P.KH * P.KW;
    let c = k / khw;
    let r = k - c * khw;
    let kh = r / P.KW;
    let kw = r - kh * P.KW;
    let oh = n / P.OW;
    let ow = n - oh * P.OW;
    let ih = i32(oh * P.stride + kh) - i32(P.pad);
    let iw = i32(ow * P.stride + kw) - i32(P.pad);
    if (ih < 0 || iw < 0 || ih >= i32(P.H) || iw >= i32(P.W)) { return 0.0; }
    return x[((z * P.Cg + c) * P.H + u32(ih)) * P.W + u32(iw)];
  }`,
  storeC: /* wgsl */ `fn storeC(z: u32, m: u32, n: u32, v: f32) {
    let oc = z * P.OCg + m;
    var s = v;
    if (P.hasBias != 0u) { s += bias[oc]; }
    out[oc * P.OH * P.OW + n] = activate(s, P.act);
  }`,
  bNContiguous: true,
});

export const CONV2D_DEPTHWISE_WGSL = /* wgsl */ `
${DECLS}
${ACT_WGSL}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  let P_ = P.OH * P.OW;
  if (i >= P.OC * P_) { return; }
  let oc = i / P_;
  let p = i - oc * P_;
  let oh = p / P.OW;
  let ow = p - oh * P.OW;
  let c = oc / P.OCg;           // Cg == 1: group index = input channel
  let ih0 = i32(oh * P.stride) - i32(P.pad);
  let iw0 = i32(ow * P.stride) - i32(P.pad);
  var s = 0.0;
  for (var kh = 0u; kh < P.KH; kh++) {
    let ih = ih0 + i32(kh);
    if (ih < 0 || ih >= i32(P.H)) { continue; }
    for (var kw = 0u; kw < P.KW; kw++) {
      let iw = iw0 + i32(kw);
      if (iw < 0 || iw >= i32(P.W)) { continue; }
      s = fma(x[(c * P.H + u32(ih)) * P.W + u32(iw)], w[(oc * P.KH + kh) * P.KW + kw], s);
    }
  }
  if (P.hasBias != 0u) { s += bias[oc]; }
  out[i] = activate(s, P.act);
}
`;

export interface Conv2dArgs {
  /** [C, H, W] */
  x: GPUBuffer;
  /** [OC, C/groups, KH, KW] */
  w: GPUBuffer;
  /** [OC] or null */
  b?: GPUBuffer | null;
  /** [OC, OH, OW]; must not be x */
  out: GPUBuffer;
  C: number; H: number; W: number; OC: number; KH: number; KW: number;
  stride?: number; pad?: number; groups?: number;
  act?: Activation | number;
}

/** Output spatial size of a conv or pool window: floor((H + 2·pad − K)/stride) + 1. */
export function convOutSize(H: number, K: number, stride: number, pad: number): number {
  return Math.floor((H + 2 * pad - K) / stride) + 1;
}

/** Runs the convolution; returns the output shape [OC, OH, OW]. */
export function conv2d(ctx: GpuContext, a: Conv2dArgs): [number, number, number] {
  const { C, H, W, OC, KH, KW } = a;
  const stride = a.stride ?? 1, pad = a.pad ?? 0, groups = a.groups ?? 1;
  positiveInts('conv2d', { C, H, W, OC, KH, KW, stride, groups });
  if (!Number.isInteger(pad) || pad < 0) throw new WebGpuError('BAD_ARGUMENT', `conv2d: pad = ${pad}`);
  if (C % groups || OC % groups) throw new WebGpuError('BAD_ARGUMENT', `conv2d: groups ${groups} must divide C ${C} and OC ${OC}`);
  const OH = convOutSize(H, KH, stride, pad), OW = convOutSize(W, KW, stride, pad);
  if (OH < 1 || OW < 1) throw new WebGpuError('BAD_ARGUMENT', `conv2d: kernel ${KH}×${KW} does not fit ${H}×${W} with pad ${pad}`);
  if (a.out === a.x) throw new WebGpuError('BAD_ARGUMENT', 'conv2d: out must not be x');
  const Cg = C / groups, OCg = OC / groups, Kg = Cg * KH * KW;
  need(a.x, C * H * W * 4, 'conv2d x');
  need(a.w, OC * Kg * 4, 'conv2d w');
  need(a.out, OC * OH * OW * 4, 'conv2d out');
  if (a.b) need(a.b, OC * 4, 'conv2d b');
  const params = packParams(C, H, W, OC, KH, KW, stride, pad, groups, OH, OW, actCode(a.act), a.b ? 1 : 0, Cg, OCg, Kg);
  const buffers = [a.x, a.w, a.b ?? ctx.dummy, a.out];
  if (Cg === 1) {
    const p = ctx.pipelines.get('conv2d:depthwise', () => CONV2D_DEPTHWISE_WGSL);
    ctx.dispatch(p, params, buffers, ...grid1d(Math.ceil(OC * OH * OW / 64)));
  } else {
    const p = ctx.pipelines.get('conv2d:gemm', () => CONV2D_GEMM_WGSL);
    ctx.dispatch(p, params, buffers, ...gemmGroups(OCg, OH * OW, groups));
  }
  return [OC, OH, OW];
}
