// The cloud half's acceptance chain, written once: frame bytes in, a checked answer (or a typed rejection carrying
// the HTTP status and error code of docs/TRANSPORT.md) out. The node:http server (./server.ts), the KServe v2 routes
// and the in-process LocalCloudClient (src/device/local-client.ts) all call it, so a bad frame fails the same way
// everywhere. Core module: no Node imports (the device side runs it in browsers).
import { decode } from '../transport/codec.js';
import { FrameError, decodeFrame, toHex, type CloudAnswer, type Frame, type FrameLimits } from '../transport/frame.js';

/** What the cloud half needs from a model: the engine's cloud half (cloudModelFrom) implements this. */
export interface CloudModel {
  name: string;
  /** SHA-256 of the model file (32 bytes); frames carrying another digest are refused. */
  digest: Uint8Array;
  numLayers: number;
  /**
   * Run layers fromLayer+1..L and the last exit on the activation after layer `fromLayer`. `signal` aborts when the
   * request times out or the client goes away (a model may ignore it; the server stops waiting either way).
   */
  finish(fromLayer: number, activation: { shape: number[]; data: Float32Array }, signal?: AbortSignal):
    Promise<{ probs: Float32Array; label: number; confidence: number }>;
  /** Expected activation shape after layer k, or null when it varies (token models: [T, D], T ≤ maxLen). */
  inputShapeAfter(k: number): number[] | null;
}

/**
 * A request the cloud refuses (4xx: the client's fault, never worth retrying) or could not answer (5xx). `status` is
 * the HTTP status the server answers with, `code` the machine-readable error of the `{error, message}` body.
 */
export class CloudRejection extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'CloudRejection';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/**
 * Largest |x| accepted in an activation (default). Trained networks' activations are many orders of magnitude
 * smaller; an int8 frame with scale 1e36 or an f32 one holding ±1e38 is finite but overflows the next layer's sums,
 * and the resulting NaN would otherwise look like the server's fault (500, retried by the device).
 */
export const DEFAULT_MAX_ABS_ACTIVATION = 1e9;

export interface AcceptOptions {
  limits?: Partial<FrameLimits>;
  /** Activations with an element of larger magnitude are refused (422 OUT_OF_RANGE). */
  maxAbsActivation?: number;
}

/** A frame that passed every check before the model: run it once with `run`. */
export interface AcceptedFrame {
  frame: Frame;
  requestId: string;
  splitLayer: number;
  /** The decoded activation the model will see. */
  shape: number[];
  data: Float32Array;
  /** Layers k+1..L and the last exit; rejects with CloudRejection (422 for input errors, 500 otherwise). */
  run(signal?: AbortSignal): Promise<CloudAnswer>;
}

/** Constant-time equality of two byte strings of the same public length (no Node crypto here). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The HTTP status of a FrameError: 413 for limits, 400 for anything else malformed. */
export function frameErrorStatus(e: FrameError): number {
  return e.code === 'TOO_LARGE' ? 413 : 400;
}

/**
 * Checks of the decoded tensor that do not depend on where it came from (a binary frame or a v2 tensor): split
 * range, shape, finiteness and magnitude. Throws CloudRejection.
 */
export function checkActivation(model: CloudModel, k: number, shape: readonly number[], data: Float32Array | null,
  maxAbs = DEFAULT_MAX_ABS_ACTIVATION): void {
  if (!Number.isInteger(k) || k < 1 || k >= model.numLayers) throw new CloudRejection(422, 'BAD_SPLIT', `split layer ${k} is not in 1..${model.numLayers - 1}`);
  const want = model.inputShapeAfter(k);
  if (want && !sameShape(want, shape)) {
    throw new CloudRejection(422, 'SHAPE_MISMATCH', `activation after layer ${k} must be ${JSON.stringify(want)}, got ${JSON.stringify(shape)}`);
  }
  if (!data) return;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) throw new CloudRejection(422, 'NON_FINITE', `activation element ${i} is ${v}`);
    if (v > maxAbs || v < -maxAbs) throw new CloudRejection(422, 'OUT_OF_RANGE', `activation element ${i} is ${v}, beyond ±${maxAbs}`);
  }
}

/**
 * Runs the model on a checked activation and checks its result. An engine error with a `code` is about the input
 * it got (422 with that code); any other throw or a malformed result is the server's fault (500 MODEL_ERROR); a
 * result that is not finite came from a finite input overflowing inside the network (422 OUT_OF_RANGE).
 */
export async function runChecked(model: CloudModel, k: number, shape: number[], data: Float32Array, requestId: string,
  signal?: AbortSignal): Promise<CloudAnswer> {
  let out: Awaited<ReturnType<CloudModel['finish']>>;
  try {
    out = await model.finish(k, { shape, data }, signal);
  } catch (e) {
    if (e instanceof CloudRejection) throw e;
    const err = e as Error & { code?: unknown };
    if (typeof err?.code === 'string') throw new CloudRejection(422, err.code, err.message);
    throw new CloudRejection(500, 'MODEL_ERROR', `model failed: ${err?.message ?? String(e)}`);
  }
  const probs = out?.probs;
  if (!(probs instanceof Float32Array) || probs.length < 1) throw new CloudRejection(500, 'MODEL_ERROR', 'model returned a malformed result');
  for (let i = 0; i < probs.length; i++) {
    if (Number.isNaN(probs[i])) throw new CloudRejection(422, 'OUT_OF_RANGE', `the activation overflowed in layers ${k + 1}..${model.numLayers}`);
  }
  if (!Number.isInteger(out.label) || out.label < 0 || out.label >= probs.length || !(out.confidence >= 0 && out.confidence <= 1) ||
      probs.some((p) => !(p >= 0 && p <= 1))) {
    throw new CloudRejection(500, 'MODEL_ERROR', 'model returned a malformed result');
  }
  return { label: out.label, probs, confidence: out.confidence, layersRun: model.numLayers - k, requestId };
}

/**
 * Every check before the model, in the documented order: frame structure and limits (400 / 413), digest (409, in
 * constant time), split range and shape (422), then the decoded values (422 NON_FINITE / OUT_OF_RANGE).
 */
export function acceptFrame(model: CloudModel, body: Uint8Array, opts: AcceptOptions = {}): AcceptedFrame {
  let frame: Frame;
  try {
    frame = decodeFrame(body, opts.limits);
  } catch (e) {
    if (e instanceof FrameError) throw new CloudRejection(frameErrorStatus(e), e.code, e.message);
    throw e;
  }
  if (!sameBytes(frame.digest, model.digest)) {
    throw new CloudRejection(409, 'DIGEST_MISMATCH', `frame is for model ${toHex(frame.digest)}, this cloud runs ${model.name} (${toHex(model.digest)})`);
  }
  const k = frame.splitLayer;
  checkActivation(model, k, frame.tensor.shape, null);
  const data = decode(frame.tensor);
  checkActivation(model, k, frame.tensor.shape, data, opts.maxAbsActivation);
  const shape = frame.tensor.shape.slice();
  return {
    frame, requestId: frame.requestId, splitLayer: k, shape, data,
    run: (signal) => runChecked(model, k, shape, data, frame.requestId, signal),
  };
}

/** acceptFrame then run: the whole chain for callers that hold no slot (the in-process client). */
export function handleFrame(model: CloudModel, body: Uint8Array, opts: AcceptOptions & { signal?: AbortSignal } = {}): Promise<CloudAnswer> {
  try {
    return acceptFrame(model, body, opts).run(opts.signal);
  } catch (e) {
    return Promise.reject(e);
  }
}

/** Checks a CloudModel once, when a server or client is built around it. */
export function checkCloudModel(model: CloudModel): void {
  if (!model || !(model.digest instanceof Uint8Array) || model.digest.length !== 32) throw new TypeError('model.digest must be 32 bytes');
  if (!Number.isInteger(model.numLayers) || model.numLayers < 1) throw new TypeError('model.numLayers must be a positive integer');
}
