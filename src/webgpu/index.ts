// The WebGPU backend's kernels and runtime (browser-safe: nothing here imports Node modules; Node code gets its GPU
// object from ./node-gpu.ts and passes it in).
export { WebGpuError, type WebGpuErrorCode } from './errors.js';
export { acquireDevice, deviceFromAdapter, defaultGpu, type AcquireOptions, type AcquiredDevice } from './device.js';
export { GpuContext } from './context.js';
export { WebGpuBackend } from './backend.js';
export { BufferPool } from './buffer-pool.js';
export { PipelineCache } from './pipeline-cache.js';
export { ACT, type Activation } from './wgsl.js';
export { linear, type LinearArgs } from './ops/linear.js';
export { conv2d, convOutSize, type Conv2dArgs } from './ops/conv2d.js';
export { maxpool2d, type PoolArgs } from './ops/maxpool2d.js';
export { avgpool2d } from './ops/avgpool2d.js';
export { gap } from './ops/gap.js';
export { relu } from './ops/relu.js';
export { relu6 } from './ops/relu6.js';
export { gelu } from './ops/gelu.js';
export { add } from './ops/add.js';
export { layernorm, type LayernormArgs } from './ops/layernorm.js';
export { embed, checkIds, type EmbedArgs } from './ops/embed.js';
export { attention, attentionScratchBytes, type AttentionArgs } from './ops/attention.js';
export { seqmean } from './ops/seqmean.js';
export { exitHead, exitHeadOutBytes, decodeExitHead } from './ops/exit-head.js';
export { quantizeI8, quantizedBytes, type QuantizeArgs } from './ops/quantize-i8.js';
export { minmax } from './ops/minmax.js';
