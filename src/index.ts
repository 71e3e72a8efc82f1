// splitee core entry: runs in browsers and Node alike (no Node-only imports here).

// `LoadOptions.gpu` is typed as WebGPU's `GPU`. Declaring the (empty) interface here lets a consumer compile without
// @webgpu/types (any object is then accepted there); with @webgpu/types loaded, the two declarations merge into the
// full type. Every public declaration file is reached through this one.
declare global {
  interface GPU {}
}
export { loadModelBytes, Model, type LoadOptions, type RunOptions, type DeviceRun, type DeviceRunOptions } from './engine/model.js';
export type { Backend } from './engine/backend.js';
export { EngineError, type Tensor, type ExitResult, type ModelInput, type BackendChoice, type BackendName } from './engine/types.js';
export * from './format/index.js';

import { loadModelBytes, type LoadOptions, type Model } from './engine/model.js';

/**
 * Loads a model from .spx bytes, or (in browsers) from a URL to fetch. The Node entry (`splitee` in Node) also
 * takes file paths and zoo names.
 */
export async function loadModel(source: Uint8Array | ArrayBuffer | string | URL, opts: LoadOptions = {}): Promise<Model> {
  if (typeof source === 'string' || source instanceof URL) {
    const res = await fetch(source);
    if (!res.ok) throw new Error(`could not fetch model ${source}: HTTP ${res.status}`);
    return loadModelBytes(new Uint8Array(await res.arrayBuffer()), opts);
  }
  return loadModelBytes(source, opts);
}

// SplitEE policies, the simulator, confidence matrices, plots; the transport codec and frame (all browser-safe).
export * from './policy/index.js';
export * from './sim/index.js';
export * from './transport/index.js';
export { createInputEncoder, checkModelInput, InputError, type RawSample } from './data/prepare.js';
// One call from a picture or a sentence to named classes, and the image decoding it uses.
export { predict, type Prediction, type PredictOptions, type PredictInput } from './predict.js';
export { decodeImage, decodePng, decodeJpeg, isPng, isJpeg, imageToPixels, ImageError, type RawImage } from './image/index.js';
// The demo samples shipped in the package (decoded here from their bytes; the Node entry also reads them).
export { demoSamples, demoSampleFile, demoSampleUrl, hasDemoSample, parseDemoSample, SampleError, DEMO_SAMPLE_FILES } from './data/samples.js';
export { FMNIST_CLASSES, SENTIMENT_CLASSES, STREAM_NAMES, type StreamName, type DataStream, type ImageStream, type TextStream,
  type ImageSample, type TextSample } from './data/stream-types.js';
export * from './device/index.js';
export { cloudModelFrom } from './cloud/cloud-model.js';
// The cloud half's browser-safe parts: the one frame handler, ONNX tails for standard servers, the network emulator.
export { acceptFrame, handleFrame, CloudRejection, type CloudModel } from './cloud/handler.js';
export { exportTail, exportTails, tritonConfig } from './cloud/onnx-export.js';
export { NetworkEmulator, parseSchedule } from './cloud/emulate.js';
// Bring your own model: multi-exit ONNX files (as torch.onnx.export writes them) to .spx.
export { importOnnx, importOnnxDetailed, OnnxImportError, type ImportOptions, type ImportReport, type OnnxImportErrorCode } from './onnx/index.js';
// Runtimes that compile no WebAssembly from bytes (Cloudflare Workers) hand the kernels over precompiled.
export {
  useCompiledKernels, useWasmKernels, wasmKernelBuild, wasmRelaxedSimdSupported, wasmSimdSupported, WasmKernelError, DEFAULT_WASM_KERNELS,
  type WasmKernelBuild, type WasmKernelChoice,
} from './wasm/runtime.js';
// What this runtime offers the engine (SIMD, relaxed SIMD, threads, WebGPU) and which paths it will take.
export { runtimeFeatures, wasmFeatures, hasWasmSimd, detectRuntime, formatRuntimeFeatures, type RuntimeFeatures,
  type RuntimeFeatureOptions, type WasmFeatures, type EnginePath, type GpuAdapterSummary, type RuntimeName } from './runtime/features.js';
