// The messages between a WorkerModel (the page's side) and the worker script that holds the engine. Every request
// carries an id; the worker answers each with that id, a value or an error. Typed arrays travel by structured clone
// into the worker (the caller keeps its own) and are transferred back out.
import type { LoadOptions } from '../engine/model.js';
import type { ExitResult, ModelInput, Tensor } from '../engine/types.js';
import type { SpxHeader } from '../format/index.js';
import type { PredictInput, PredictOptions, Prediction } from '../predict.js';
import type { Encoded } from '../transport/codec.js';

export type WorkerRequest =
  | { op: 'load'; source: Uint8Array | string; backend?: LoadOptions['backend']; precision?: LoadOptions['precision'] }
  | { op: 'exits'; input: ModelInput }
  | { op: 'run'; input: ModelInput; from?: number; to?: number }
  | { op: 'exit'; k: number; activation: Tensor }
  | { op: 'finish'; k: number; activation: Tensor }
  | { op: 'device'; input: ModelInput; k: number; exits: 'split' | 'every'; readback: 'f32' | 'int8' }
  | { op: 'predict'; input: PredictInput; opts?: PredictOptions }
  | { op: 'dispose' };

export interface LoadedInfo {
  header: SpxHeader;
  digest: Uint8Array;
  backendName: string;
}

/**
 * The device half as the worker runs it: every exit it computed (exit k alone, or 1..k), and the activation at k read
 * back the way asked. The page applies its own stopAt/offload decisions to this (functions cannot cross threads);
 * when the readback itself failed (a NaN activation cannot be int8-encoded) `readError` says why, and the page
 * raises it only if it decides to offload, as the engine would.
 */
export interface DeviceReply {
  exits: ExitResult[];
  activation?: Tensor;
  encoded?: Encoded;
  readError?: SerializedError;
}

export interface SerializedError { name: string; message: string; code?: string }

export type WorkerResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

export type ReplyOf<R extends WorkerRequest['op']> =
  R extends 'load' ? LoadedInfo :
  R extends 'exits' ? ExitResult[] :
  R extends 'run' ? Tensor :
  R extends 'exit' | 'finish' ? ExitResult :
  R extends 'device' ? DeviceReply :
  R extends 'predict' ? Prediction[] :
  null;

export function serializeError(e: unknown): SerializedError {
  const err = e as { name?: unknown; message?: unknown; code?: unknown } | null;
  return {
    name: typeof err?.name === 'string' ? err.name : 'Error',
    message: typeof err?.message === 'string' ? err.message : String(e),
    ...(typeof err?.code === 'string' ? { code: err.code } : {}),
  };
}
