// The fused-activation codes every kernel takes (WASM and WGSL alike; docs/KERNELS.md), keyed by the format's names.
import type { Activation } from '../format/index.js';

export const ACT: { readonly [A in Activation]: number } = { none: 0, relu: 1, relu6: 2, gelu: 3 };
