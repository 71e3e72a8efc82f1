// Node entry: everything in the core, plus loading models by file path or zoo name.
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { loadModelBytes, type LoadOptions, type Model } from './engine/model.js';

export * from './index.js';
export { createCloudServer, closeOnSignals } from './cloud/server.js';
export { onnxRuntimeCloudModel, OnnxRuntimeMissingError } from './cloud/onnxruntime-node.js';
export { readDemoSamples, demoSamplePath } from './data/samples-node.js';
export { openStream, DatasetNotFoundError, UnknownStreamError, DataError, type OpenStreamOptions } from './data/streams.js';

/** The package root (dist/src/node.js → ../..). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
const zooDir = join(packageRoot, 'models');

/** Names of the models shipped in models/ (folders holding <name>/<name>.spx). */
export function zooModels(): string[] {
  if (!existsSync(zooDir)) return [];
  return readdirSync(zooDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(zooDir, d.name, `${d.name}.spx`)))
    .map((d) => d.name)
    .sort();
}

export class ModelNotFoundError extends Error {
  readonly code = 'MODEL_NOT_FOUND';
  constructor(message: string) { super(message); this.name = 'ModelNotFoundError'; }
}

/** A zoo name (`fmnist-cnn`) or a path to a .spx file → an absolute path. */
export function resolveModelPath(nameOrPath: string): string {
  if (existsSync(nameOrPath) && !nameOrPath.endsWith('/')) return resolve(nameOrPath);
  const zoo = join(zooDir, nameOrPath, `${nameOrPath}.spx`);
  if (/^[\w.-]+$/.test(nameOrPath) && existsSync(zoo)) return zoo;
  const names = zooModels();
  throw new ModelNotFoundError(`no model file '${nameOrPath}' and no zoo model of that name (zoo: ${names.length ? names.join(', ') : 'empty'})`);
}

/** WebGPU was asked for in Node, but the optional peer dependency that provides it there is not installed. */
export class WebGpuPackageMissingError extends Error {
  readonly code = 'WEBGPU_PACKAGE_MISSING';
  constructor() {
    super("WebGPU in Node needs the optional peer dependency 'webgpu' (Dawn for Node): run `npm install webgpu`, "
      + 'or use the WASM backend (the default)');
    this.name = 'WebGpuPackageMissingError';
  }
}

/**
 * In Node, `backend: 'webgpu' | 'auto'` without a `gpu` gets one from the `webgpu` package when it is installed:
 * 'webgpu' fails with WebGpuPackageMissingError when it is not, 'auto' quietly runs on WASM.
 */
async function withNodeGpu(opts: LoadOptions): Promise<LoadOptions> {
  if (!opts.backend || opts.backend === 'wasm' || opts.gpu || (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) return opts;
  try {
    const { createNodeGpu } = await import('./webgpu/node-gpu.js');
    return { ...opts, gpu: (await createNodeGpu()).gpu };
  } catch (err) {
    if (opts.backend === 'auto') return opts;
    const e = err as { code?: string; message?: string };
    if ((e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') && /'webgpu'/.test(String(e.message))) throw new WebGpuPackageMissingError();
    throw err;
  }
}

/** Loads a model from bytes, a file path or a zoo name. */
export async function loadModel(source: Uint8Array | ArrayBuffer | string, opts: LoadOptions = {}): Promise<Model> {
  if (typeof source === 'string') return loadModelBytes(await readFile(resolveModelPath(source)), await withNodeGpu(opts));
  return loadModelBytes(source, await withNodeGpu(opts));
}
