// The engine's `Model` as the cloud half the server (and the in-process LocalCloudClient) runs: layers k+1..L and
// the last exit on the activation after layer k. No Node imports, unlike the server: the device side
// (src/device/local-client.ts) uses this adapter in browsers too.
import type { Model } from '../engine/model.js';
import { fixedShapeAfter } from '../engine/shapes.js';
import { EngineError } from '../engine/types.js';
import type { CloudModel } from './handler.js';

/** What the adapter needs of a model (the engine's `Model` fits). */
export type EngineModel = Pick<Model, 'name' | 'digest' | 'numLayers' | 'file' | 'finish' | 'activationShape'>;

/**
 * Wraps an engine model as a CloudModel: digest = SHA-256 of its .spx bytes, finish = the engine's finish after a
 * shape check, inputShapeAfter(k) = the fixed shape of the output of layer k, or null for token models (their
 * sequence length T varies per sample; finish then checks [T, …] against the model).
 */
export function cloudModelFrom(model: EngineModel): CloudModel {
  return {
    name: model.name,
    digest: model.digest,
    numLayers: model.numLayers,
    inputShapeAfter(k: number): number[] | null {
      return fixedShapeAfter(model.file, k);
    },
    async finish(k, activation, signal) {
      // The model serializes its calls: a request that timed out while queued need not run at all.
      if (signal?.aborted) throw new EngineError('BAD_INPUT', 'request was aborted before the model started');
      if (!Number.isInteger(k) || k < 1 || k > model.numLayers) throw new EngineError('BAD_RANGE', `split layer ${k} is outside 1..${model.numLayers}`);
      // Throws EngineError BAD_ACTIVATION (→ 422) on a wrong shape, including a token count past maxLen.
      model.activationShape(k, activation.shape);
      const out = await model.finish(k, activation);
      return { probs: out.probs, label: out.label, confidence: out.confidence };
    },
  };
}
