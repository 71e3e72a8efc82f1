// Checks every backend makes before touching its buffers, so all backends refuse the same inputs with the same errors.
import type { SpxHeader } from '../format/index.js';
import { EngineError } from './types.js';

/** from..to is a valid layer range for Backend.run (to = from − 1 only loads the input). */
export function checkLayerRange(L: number, from: number, to: number): void {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 1 || from > L + 1 || to < from - 1 || to > L) {
    throw new EngineError('BAD_RANGE', `layer range ${from}..${to} is outside 1..${L}`);
  }
}

/** `input` is a valid token sequence for this token model: Int32Array, length 1..maxLen, ids in the vocabulary. */
export function checkTokens(h: SpxHeader, input: unknown): asserts input is Int32Array {
  if (h.input.kind !== 'tokens') throw new EngineError('BAD_INPUT', `${h.name} takes images, not token ids`);
  if (!(input instanceof Int32Array)) throw new EngineError('BAD_INPUT', `${h.name} takes token ids (Int32Array)`);
  const T = input.length;
  if (T < 1 || T > h.input.maxLen) throw new EngineError('BAD_INPUT', `token count ${T} is outside 1..${h.input.maxLen}`);
  for (let i = 0; i < T; i++) {
    const id = input[i];
    if (id < 0 || id >= h.input.vocabSize) throw new EngineError('BAD_INPUT', `token id ${id} at position ${i} is outside 0..${h.input.vocabSize - 1}`);
  }
}

/** Backend.run with a null input continues from the current activation, which must be the output of layer from − 1. */
export function checkContinues(currentLayer: number, from: number): void {
  if (currentLayer !== from - 1) {
    throw new EngineError('BAD_RANGE', `cannot continue at layer ${from}: the current activation is the output of layer ${currentLayer}`);
  }
}
