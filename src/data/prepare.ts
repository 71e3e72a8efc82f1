// input → preprocess: turns a raw sample (image pixels in [0, 1], or a sentence) into what layer 1 of a given model
// takes, using only what the model file says (its `preprocess` header). Safe in browsers.
import type { SpxHeader } from '../format/index.js';
import type { ModelInput } from '../engine/types.js';
import { preprocessImage, PreprocessError, type ImagePreprocess } from './index.js';
import { createTokenizer } from './tokenizer.js';

export type RawSample = Float32Array | Uint8Array | Uint8ClampedArray | string;

/** Builds the model's input encoder once (the tokenizer's tables are built here, not per sample). */
export function createInputEncoder(header: SpxHeader): (raw: RawSample) => ModelInput {
  const pre = header.preprocess;
  if (header.input.kind === 'image') {
    if (pre.kind !== 'image') throw new PreprocessError(`image model ${header.name} has a '${pre.kind}' preprocess`);
    return (raw) => {
      if (typeof raw === 'string') throw new PreprocessError(`${header.name} takes images, not text`);
      return preprocessImage(raw, pre as unknown as ImagePreprocess);
    };
  }
  if (pre.kind !== 'tokenizer') throw new PreprocessError(`token model ${header.name} has a '${pre.kind}' preprocess`);
  const tokenizer = createTokenizer(pre);
  return (raw) => {
    if (typeof raw !== 'string') throw new PreprocessError(`${header.name} takes text, not pixels`);
    return tokenizer.encode(raw);
  };
}
