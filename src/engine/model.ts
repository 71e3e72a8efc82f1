// The user-facing model: a parsed .spx file bound to one backend, with the calls the split pipeline needs.
import { parseSpx, type SpxHeader, type SpxModelFile } from '../format/index.js';
import type { Backend } from './backend.js';
import { activationShapeAfter } from './shapes.js';
import { WasmBackend } from './wasm-backend.js';
import { EngineError, type BackendChoice, type ExitResult, type ModelInput, type Tensor } from './types.js';

export interface LoadOptions {
  /** 'wasm' (default), 'webgpu', or 'auto' (WebGPU when an adapter exists, else WASM). */
  backend?: BackendChoice;
  /** A WebGPU entry point (navigator.gpu in browsers; the `webgpu` package's GPU in Node). */
  gpu?: GPU;
}

export interface RunOptions {
  /** First layer to run, 1-based (default 1). With from > 1 the input is the output of layer from − 1. */
  from?: number;
  /** Last layer to run, inclusive (default: the last layer). */
  to?: number;
}

/** The device half's answer for one sample: exit k, and the activation at k when it is offloaded. */
export interface DeviceStep {
  exit: ExitResult;
  activation?: Tensor;
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle ?? (await import('node:crypto')).webcrypto.subtle;
  return new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function createBackend(file: SpxModelFile, opts: LoadOptions): Promise<Backend> {
  const choice = opts.backend ?? 'wasm';
  if (choice === 'wasm') return WasmBackend.create(file);
  const gpu = opts.gpu ?? (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) {
    if (choice === 'auto') return WasmBackend.create(file);
    throw new EngineError('NO_BACKEND', 'WebGPU was asked for but no adapter is available (in Node, see docs/WEBGPU.md)');
  }
  const { WebGpuBackend } = await import('../webgpu/backend.js');
  return WebGpuBackend.create(file, adapter);
}

export class Model {
  readonly header: SpxHeader;
  readonly numLayers: number;
  /** SHA-256 of the model file: the transport binds every offload to it. */
  readonly digest: Uint8Array;
  readonly digestHex: string;
  /** Serializes calls: a backend holds one current activation, so overlapping calls would clobber each other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: SpxModelFile, readonly backend: Backend, digest: Uint8Array) {
    this.header = file.header;
    this.numLayers = file.header.layers.length;
    this.digest = digest;
    this.digestHex = hex(digest);
  }

  get name(): string { return this.header.name; }
  get classes(): string[] { return this.header.classes; }
  get backendName(): string { return this.backend.name; }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private range(from: number, to: number): void {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || to > this.numLayers || from > to) {
      throw new EngineError('BAD_RANGE', `layer range ${from}..${to} is outside 1..${this.numLayers}`);
    }
  }

  /** Runs layers from..to on `input` and returns the output of layer `to`. 1..k then k+1..L equals 1..L exactly. */
  run(input: ModelInput, opts: RunOptions = {}): Promise<Tensor> {
    const from = opts.from ?? 1, to = opts.to ?? this.numLayers;
    return this.serial(async () => {
      this.range(from, to);
      await this.backend.run(input, from, to);
      return this.backend.read();
    });
  }

  /** Exit head k on the output of layer k. */
  exit(k: number, activation: Tensor): Promise<ExitResult> {
    return this.serial(async () => {
      this.range(k, k);
      await this.backend.run(activation, k + 1, k);
      return this.backend.exit(k);
    });
  }

  /**
   * Device half: layers 1..k and exit k. `offload(exit)` decides, from the exit alone, whether the activation at k
   * must leave the device; only then is it read back (on WebGPU that is the only readback besides the probabilities).
   */
  device(input: ModelInput, k: number, offload: (exit: ExitResult) => boolean): Promise<DeviceStep> {
    return this.serial(async () => {
      this.range(1, k);
      await this.backend.run(input, 1, k);
      const exit = await this.backend.exit(k);
      return offload(exit) ? { exit, activation: await this.backend.read() } : { exit };
    });
  }

  /** Cloud half: layers k+1..L on the output of layer k, then the last exit. k = L runs only the last exit. */
  finish(k: number, activation: Tensor): Promise<ExitResult> {
    return this.serial(async () => {
      if (!Number.isInteger(k) || k < 1 || k > this.numLayers) throw new EngineError('BAD_RANGE', `split layer ${k} is outside 1..${this.numLayers}`);
      await this.backend.run(activation, k + 1, this.numLayers);
      return this.backend.exit(this.numLayers);
    });
  }

  /** Every exit 1..L in one pass over the layers (evaluation, confidence matrices). */
  exits(input: ModelInput): Promise<ExitResult[]> {
    return this.serial(async () => {
      const out: ExitResult[] = [];
      for (let k = 1; k <= this.numLayers; k++) {
        await this.backend.run(k === 1 ? input : null, k, k);
        out.push(await this.backend.exit(k));
      }
      return out;
    });
  }

  /** The shape the output of layer k must have; for token models the sequence length is taken from `given`. */
  activationShape(k: number, given: number[]): number[] {
    return activationShapeAfter(this.file, k, given);
  }

  dispose(): void { this.backend.dispose(); }
}

/** Loads a model from the bytes of a .spx file (core entry: works in browsers and Node). */
export async function loadModelBytes(bytes: Uint8Array | ArrayBuffer, opts: LoadOptions = {}): Promise<Model> {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const file = parseSpx(u8);
  const [backend, digest] = await Promise.all([createBackend(file, opts), sha256(u8)]);
  return new Model(file, backend, digest);
}
