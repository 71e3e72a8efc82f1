// splitee core entry: runs in browsers and Node alike (no Node-only imports here).
export { loadModelBytes, Model, type LoadOptions, type RunOptions, type DeviceStep } from './engine/model.js';
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
export { createInputEncoder, type RawSample } from './data/prepare.js';
export * from './device/index.js';
export { cloudModelFrom } from './cloud/cloud-model.js';
