// The fused-activation codes every kernel takes (WASM and WGSL alike; docs/KERNELS.md), keyed by the format's names.
import type { Activation } from '../format/index.js';

export const ACT: { readonly [A in Activation]: number } = { none: 0, relu: 1, relu6: 2, gelu: 3 };

/**
 * The standalone activation kernels of assembly/activation-ops.ts (docs/KERNELS.md): `(x, out, n, …params)`, `out`
 * may equal `x`. Pointers are byte offsets into the kernels' memory.
 */
export interface ActivationKernels {
  sigmoid(x: number, out: number, n: number): void;
  tanh(x: number, out: number, n: number): void;
  gelu_tanh(x: number, out: number, n: number): void;
  hardsigmoid(x: number, out: number, n: number, alpha: number, beta: number): void;
  hardswish(x: number, out: number, n: number): void;
  clip(x: number, out: number, n: number, lo: number, hi: number): void;
}

/** The broadcast kernels of assembly/broadcast.ts (docs/KERNELS.md); a pointer of 0 for `w` or `b` means none. */
export interface BroadcastKernels {
  affine(x: number, w: number, b: number, out: number, outer: number, C: number, inner: number): void;
  mul(a: number, b: number, out: number, n: number): void;
}

/** The data-movement kernels of assembly/pad-concat.ts (docs/KERNELS.md). */
export interface CausalAttentionKernels {
  attention_causal_scratch_bytes(T: number, D: number): number;
  attention_causal(x: number, T: number, D: number, heads: number, wqkv: number, bqkv: number, wo: number, bo: number,
    window: number, out: number, scratch: number): void;
}

export interface PoolExcludeKernels {
  avgpool2d_exclude(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
}

export interface PadConcatKernels {
  pad2d(x: number, out: number, C: number, H: number, W: number, top: number, bottom: number, left: number, right: number): void;
  concat(a: number, na: number, b: number, nb: number, out: number): void;
}
