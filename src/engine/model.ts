// The user-facing model: a parsed .spx file bound to one backend, with the calls the split pipeline needs.
import { parseSpx, type SpxHeader, type SpxModelFile } from '../format/index.js';
import { CodecError, encode, type Encoded } from '../transport/codec.js';
import { checkModelInput } from '../data/check-input.js';
import type { Backend } from './backend.js';
import { activationShapeAfter } from './shapes.js';
import { WasmBackend } from './wasm-backend.js';
import { EngineError, type BackendChoice, type ExitResult, type ModelInput, type Tensor } from './types.js';

export interface LoadOptions {
  /** 'wasm' (default), 'webgpu', or 'auto' (WebGPU when an adapter exists, else WASM). */
  backend?: BackendChoice;
  /** A WebGPU entry point (navigator.gpu in browsers; the `webgpu` package's GPU in Node). */
  gpu?: GPU;
  /**
   * The most memory the model may take on its backend (weights, planned activations, scratch). A model that needs
   * more fails with EngineError TOO_LARGE before anything is allocated. `model.memoryBytes` says what one took.
   */
  maxMemoryBytes?: number;
  /**
   * The arithmetic of the WASM backend: 'f32' (default; int8 weights of a model file are widened to f32 at load, so
   * every backend and runtime computes the same bits) or 'int8' (docs/KERNELS.md, "The int8 path": linear, conv
   * and attention weights stay int8 in memory, activations are quantized to int16 on the fly and products are summed
   * in int32; an f32 model's layer weights with at least 16 products per output are quantized per output channel at
   * load, its exit heads and tiny ops stay f32). WASM only.
   */
  precision?: 'f32' | 'int8';
}

export interface RunOptions {
  /** First layer to run, 1-based (default 1). With from > 1 the input is the output of layer from − 1. */
  from?: number;
  /** Last layer to run, inclusive (default: the last layer). */
  to?: number;
}

export interface DeviceRunOptions {
  /** 'split' (default): only exit k is computed. 'every': exits 1..k, one layer at a time on the backend's activation. */
  exits?: 'split' | 'every';
  /** With exits 'every': true for a layer j < k ends the run at exit j (a cascade); never asked for k. */
  stopAt?: (layer: number, exit: ExitResult) => boolean;
  /** Asked with exit k only: whether the activation at k leaves the device. Only then is it read back. */
  offload: (exit: ExitResult) => boolean;
  /**
   * How an offloaded activation is read back: 'f32' (default) as a Tensor, or 'int8': quantized on the backend
   * (the transport codec's per-tensor affine int8) so only a quarter of the bytes cross.
   */
  readback?: 'f32' | 'int8';
}

/** The device half's answer for one sample. */
export interface DeviceRun {
  /** The layer whose exit answered: k, or the layer where stopAt ended the run. */
  layer: number;
  exit: ExitResult;
  /** Length L: C_j for every exit computed, undefined for the others. */
  confidences: (number | undefined)[];
  /** The activation at k, when offloaded with readback 'f32'. */
  activation?: Tensor;
  /** The activation at k as the transport's int8 encoding, when offloaded with readback 'int8'. */
  encoded?: Encoded;
}

/**
 * The current activation of `backend` as the codec's int8 encoding, quantized where it lives. Decodes within one
 * quantization step of `encode(data, shape, 'int8')` (the parameters are the codec's own; only the rounding of a
 * value within an ulp of a midpoint can differ).
 */
async function readEncodedInt8(backend: Backend): Promise<Encoded> {
  const [lo, hi] = await backend.activationRange();
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new CodecError('NON_FINITE', 'the activation holds a NaN or an infinity: integer codecs need finite values (use f32 or fp16)');
  }
  // Encoding just the two extremes gives exactly the parameters the codec picks for the whole tensor.
  const params = encode(Float32Array.of(lo, hi), [2], 'int8').params as { kind: 'affine'; scale: number; zeroPoint: number };
  // The kernels produce signed bytes; the codec's are unsigned with the zero point 128 higher.
  const { shape, data } = await backend.readInt8(params.scale, params.zeroPoint - 128);
  const payload = new Uint8Array(data.buffer, data.byteOffset, data.length);
  for (let i = 0; i < payload.length; i++) payload[i] ^= 0x80; // two's complement q → q + 128
  return { dtype: 'int8', shape, params: { kind: 'affine', scale: params.scale, zeroPoint: params.zeroPoint }, payload };
}

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  const subtle = globalThis.crypto?.subtle ?? (await import('node:crypto')).webcrypto.subtle;
  return new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function createBackend(file: SpxModelFile, opts: LoadOptions): Promise<Backend> {
  const choice = opts.backend ?? 'wasm';
  const budget = opts.maxMemoryBytes;
  if (budget !== undefined && !(typeof budget === 'number' && budget > 0)) {
    throw new EngineError('BAD_INPUT', `maxMemoryBytes must be a positive number of bytes, got ${String(budget)}`);
  }
  const limits = budget === undefined ? {} : { maxMemoryBytes: budget };
  const precision = opts.precision ?? 'f32';
  if (precision !== 'f32' && precision !== 'int8') {
    throw new EngineError('BAD_INPUT', `precision must be 'f32' or 'int8', got ${String(precision)}`);
  }
  // The int8 kernels are WASM's: asked for int8, 'auto' means WASM.
  if (precision === 'int8') {
    if (choice === 'webgpu') throw new EngineError('BAD_INPUT', "precision 'int8' runs on the WASM backend; use backend 'wasm' (or 'auto')");
    return WasmBackend.create(file, { ...limits, precision });
  }
  if (choice === 'wasm') return WasmBackend.create(file, limits);
  const gpu = opts.gpu ?? (globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined)?.gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!adapter) {
    if (choice === 'auto') return WasmBackend.create(file, limits);
    throw new EngineError('NO_BACKEND', 'WebGPU was asked for but no adapter is available (in Node, see docs/WEBGPU.md)');
  }
  const { WebGpuBackend } = await import('../webgpu/backend.js');
  return WebGpuBackend.create(file, adapter, limits);
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
  /** Bytes the model holds on its backend: weights, the buffer plan's activations, scratch (the device half's memory). */
  get memoryBytes(): number { return this.backend.memoryBytes; }

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
      // A model input gets a typed error naming what was expected (layer outputs are checked by the backend).
      if (from === 1) checkModelInput(this.header, input);
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
   * Device half: layers 1..k and exit k (with exits 'every', every exit 1..k, stopping early where stopAt says so),
   * continuing from the backend's own activation, so nothing crosses to JS but the exits' probabilities and, when
   * `offload(exit k)` says so, the activation at k.
   */
  runDevice(input: ModelInput, k: number, opts: DeviceRunOptions): Promise<DeviceRun> {
    return this.serial(async () => {
      this.range(1, k);
      checkModelInput(this.header, input);
      if (typeof opts?.offload !== 'function') throw new EngineError('BAD_INPUT', 'runDevice needs opts.offload, a function of exit k');
      if (opts.readback !== undefined && opts.readback !== 'f32' && opts.readback !== 'int8') {
        throw new EngineError('BAD_INPUT', `readback must be 'f32' or 'int8', got ${String(opts.readback)}`);
      }
      const confidences: (number | undefined)[] = new Array(this.numLayers).fill(undefined);
      let exit: ExitResult;
      if (opts.exits === 'every') {
        for (let j = 1; ; j++) {
          await this.backend.run(j === 1 ? input : null, j, j);
          exit = await this.backend.exit(j);
          confidences[j - 1] = exit.confidence;
          if (j === k) break;
          if (opts.stopAt?.(j, exit)) return { layer: j, exit, confidences };
        }
      } else {
        await this.backend.run(input, 1, k);
        exit = await this.backend.exit(k);
        confidences[k - 1] = exit.confidence;
      }
      if (!opts.offload(exit)) return { layer: k, exit, confidences };
      if (opts.readback === 'int8') return { layer: k, exit, confidences, encoded: await readEncodedInt8(this.backend) };
      return { layer: k, exit, confidences, activation: await this.backend.read() };
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
      checkModelInput(this.header, input);
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
