// The one op set every backend implements. A backend holds one "current" activation (on the backend: WASM linear
// memory or a GPU buffer) so the device half can run layers 1..k, look at exit k, and only then decide whether to
// read the activation back for offloading — nothing crosses to JS unless it must.
import type { SpxModelFile } from '../format/index.js';
import type { BackendName, ExitResult, ModelInput, Tensor } from './types.js';

export interface Backend {
  readonly name: BackendName;
  /** Bytes this model holds on the backend: weights, the buffer plan's activations, scratch (WASM: its linear memory). */
  readonly memoryBytes: number;
  /**
   * Runs layers from..to (1-based, inclusive) and leaves the output of layer `to` as the current activation.
   * `input` is the model input when from = 1, the output of layer from−1 otherwise, or null to continue from the
   * current activation (which must then be the output of layer from−1). to = from − 1 only loads `input`.
   */
  run(input: ModelInput | null, from: number, to: number): Promise<void>;
  /** Exit head k on the current activation (which must be the output of layer k); the activation is kept. */
  exit(k: number): Promise<ExitResult>;
  /** Copies the current activation out. */
  read(): Promise<Tensor>;
  /** [min, max] of the current activation, computed on the backend; NaN (WASM) or ±∞ (WebGPU) when it holds a NaN. */
  activationRange(): Promise<[number, number]>;
  /**
   * The current activation quantized on the backend to signed bytes, q = clamp(roundHalfEven(x / scale) + zeroPoint,
   * −128, 127), and only those bytes copied out: a quarter of what read() moves.
   */
  readInt8(scale: number, zeroPoint: number): Promise<{ shape: number[]; data: Int8Array }>;
  /** Frees what the backend holds; the model is unusable afterwards. */
  dispose(): void;
}

export type BackendFactory = (file: SpxModelFile, opts?: { maxMemoryBytes?: number }) => Promise<Backend>;
