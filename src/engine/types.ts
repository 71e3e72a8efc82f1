// Value types that flow along the data path: input → engine → exit head → policy → transport → cloud.

/** A dense f32 activation, batch 1: images [C, H, W], sequences [T, D], vectors [N]. */
export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** What layer 1 takes: a preprocessed image (f32, the model's input shape) or token ids (length 1..maxLen). */
export type ModelInput = Float32Array | Int32Array | Tensor;

/** One exit head's answer. */
export interface ExitResult {
  probs: Float32Array;
  /** max(probs): the SplitEE confidence C_k. */
  confidence: number;
  /** argmax(probs), lowest index on ties. */
  label: number;
}

export type BackendName = 'wasm' | 'webgpu';
export type BackendChoice = BackendName | 'auto';

export class EngineError extends Error {
  constructor(
    readonly code: 'BAD_INPUT' | 'BAD_RANGE' | 'BAD_ACTIVATION' | 'NO_BACKEND' | 'DISPOSED' | 'TOO_LARGE' | 'NO_SIMD',
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
