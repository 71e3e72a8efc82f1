// splitee WASM kernels: one module, no imports, no allocation. These exports are the ABI (docs/KERNELS.md,
// KernelExports in src/wasm/runtime.ts) plus the peak probes the benchmark measures; helpers the kernels share
// between files (gemm.ts's packing and micro-kernel, softmax.ts) stay internal.
export { linear_packed_bytes, linear_pack, linear } from './gemm';
export { conv2d_packed_bytes, conv2d_pack, conv2d_scratch_bytes, conv2d } from './conv';
export { maxpool2d, avgpool2d, gap } from './pool';
export { relu, relu6, gelu, add, embed, seqmean } from './elementwise';
export { layernorm } from './norm';
export { exit_head, exit_gap_linear } from './exit';
export { attention_scratch_bytes, attention, attention_q8_scratch_bytes, attention_q8 } from './attention';
export { linear_q8_packed_bytes, linear_q8_pack, linear_q8_scratch_bytes, linear_q8, conv2d_q8_packed_bytes, conv2d_q8_pack,
  conv2d_q8_scratch_bytes, conv2d_q8, embed_q8 } from './gemm-q8';
export { minmax, quantize_i8 } from './quant';
export { sigmoid, tanh, gelu_tanh, hardsigmoid, hardswish, clip } from './activation-ops';
export { affine, mul } from './broadcast';
export { pad2d, concat } from './pad-concat';
export { avgpool2d_exclude } from './pool-exclude';
export { attention_causal_scratch_bytes, attention_causal } from './attention-causal';
export * from './peak';
