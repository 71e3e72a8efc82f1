// Input checks with no dependencies, so the engine can run them before touching its buffers: InputError names what
// the model expected and what it was given. Core module: no Node imports.
import type { SpxHeader } from '../format/types.js';
import { EngineError, type ModelInput, type Tensor } from '../engine/types.js';
import type { RawImage } from '../image/types.js';

/**
 * A sample that is not what the model takes. `expected` and `got` say what each was, in words. An EngineError with
 * code BAD_INPUT, so callers that catch the engine's errors catch this one too.
 */
export class InputError extends EngineError {
  constructor(readonly expected: string, readonly got: string, detail = '') {
    super('BAD_INPUT', `expected ${expected}, got ${got}${detail ? `: ${detail}` : ''}`);
    this.name = 'InputError';
  }
}

/** A short description of any value, for error messages. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') return `a string (${v.length} characters)`;
  if (typeof v !== 'object') return `a ${typeof v}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of ${(v as unknown as { length?: number }).length ?? v.byteLength} values`;
  if (Array.isArray(v)) return `an Array of ${v.length} values`;
  if (isRawImage(v)) return `a ${v.width}×${v.height} image`;
  return `an object (${Object.prototype.toString.call(v).slice(8, -1)})`;
}

export function isRawImage(v: unknown): v is RawImage {
  return typeof v === 'object' && v !== null && 'width' in v && 'height' in v && 'data' in v;
}

export function checkTokenIds(name: string, maxLen: number, vocabSize: number, ids: Int32Array, expected: string): void {
  if (ids.length < 1 || ids.length > maxLen) throw new InputError(expected, describeValue(ids), `${name} takes 1 to ${maxLen} tokens`);
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocabSize) throw new InputError(expected, `token id ${ids[i]} at position ${i}`, `ids are 0..${vocabSize - 1}`);
  }
}

/**
 * Checks what Model.run / exits / runDevice take as the input of layer 1 (already preprocessed): for image models a
 * Float32Array of C·H·W finite values (or a Tensor of shape [C, H, W]); for token models an Int32Array of 1..maxLen
 * ids in the vocabulary. Throws InputError naming what was expected and what was given.
 */
export function checkModelInput(header: SpxHeader, input: ModelInput | unknown): void {
  const name = header.name;
  const data = (typeof input === 'object' && input !== null && !ArrayBuffer.isView(input) && 'data' in input && 'shape' in input)
    ? (input as Tensor).data : input;
  if (header.input.kind === 'image') {
    const [c, h, w] = header.input.shape;
    const expected = `a preprocessed image for ${name}: a Float32Array of ${c * h * w} values (${c}×${h}×${w}); createInputEncoder(model.header) makes one from pixels or a picture`;
    if (!(data instanceof Float32Array)) throw new InputError(expected, describeValue(input));
    if (data.length !== c * h * w) throw new InputError(expected, describeValue(input));
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw new InputError(expected, `${data[i]} at index ${i}`, 'every value must be finite');
    return;
  }
  const { maxLen, vocabSize } = header.input;
  const expected = `token ids for ${name}: an Int32Array of 1..${maxLen} ids in 0..${vocabSize - 1}; createInputEncoder(model.header) tokenizes text`;
  if (!(data instanceof Int32Array)) throw new InputError(expected, describeValue(input));
  checkTokenIds(name, maxLen, vocabSize, data, expected);
}
