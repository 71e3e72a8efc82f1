// input → preprocess: turns a raw sample into what layer 1 of a given model takes, using only what the model file
// says (its `input` and `preprocess` header), and refuses anything else with an InputError that names what was
// expected and what was given. Safe in browsers.
//
// What each model kind takes (README, "Inputs"):
//   image models ([C, H, W], e.g. fmnist-cnn: 1×28×28 gray):
//     - Float32Array / Float64Array of exactly C·H·W pixels in [0, 1], planes in order (the streams' samples);
//     - Uint8Array / Uint8ClampedArray of exactly C·H·W bytes 0..255 (multiplied by the header's `scale`);
//     - a decoded picture { width, height, data, channels? } of any size (a canvas ImageData, decodeImage's
//       result): converted to C channels and resized to H × W (src/image/convert.ts).
//   token models (e.g. sst2-transformer): a string (the model's own tokenizer runs), or an Int32Array of token ids
//     (1..maxLen of them, each in 0..vocabSize − 1).
import type { SpxHeader } from '../format/index.js';
import type { ModelInput } from '../engine/types.js';
import { imageToPixels } from '../image/convert.js';
import { checkTokenIds, describeValue, InputError, isRawImage } from './check-input.js';
import type { RawImage } from '../image/types.js';
import { preprocessImage, PreprocessError, type ImagePreprocess } from './index.js';
import { createTokenizer } from './tokenizer.js';

export { InputError, checkModelInput, describeValue } from './check-input.js';

export type RawSample = Float32Array | Float64Array | Uint8Array | Uint8ClampedArray | Int32Array | string | RawImage;

function imageWords(shape: readonly number[]): string {
  const [c, h, w] = shape;
  const what = c === 1 ? 'gray' : c === 3 ? 'RGB' : `${c}-channel`;
  return `${c * h * w} ${what} pixels (${c}×${h}×${w})`;
}

/** Checks pixels already at the model's size: the count, then that each is finite (and in [0, 1] for floats). */
function checkPixels(name: string, shape: readonly number[], raw: Float32Array | Float64Array | Uint8Array | Uint8ClampedArray): void {
  const [c, h, w] = shape;
  const n = c * h * w;
  const expected = `${imageWords(shape)} for ${name}`;
  if (raw.length !== n) {
    let hint = '';
    const plane = h * w;
    if (raw.length === 4 * plane) hint = `that is ${c === 4 ? '' : 'RGBA '}${h}×${w} (4 channels); pass { width: ${w}, height: ${h}, data } to convert it, or use predict()`;
    else if (raw.length === 3 * plane && c !== 3) hint = `that is RGB ${h}×${w} (3 channels); pass { width: ${w}, height: ${h}, data } to convert it`;
    else if (raw.length === plane && c !== 1) hint = `that is one ${h}×${w} plane; this model takes ${c} channels`;
    else hint = 'pictures of another size: pass { width, height, data } (or PNG/JPEG bytes to predict()) to resize them';
    throw new InputError(expected, describeValue(raw), hint);
  }
  if (raw instanceof Float32Array || raw instanceof Float64Array) {
    for (let i = 0; i < n; i++) {
      const v = raw[i];
      if (!Number.isFinite(v)) throw new InputError(expected, `${v} at index ${i}`, 'every pixel must be a finite number');
      if (v < -1e-6 || v > 1 + 1e-6) {
        throw new InputError(expected, `${v} at index ${i}`, `float pixels are in [0, 1]${v > 1 && v <= 255 ? ' (bytes 0..255 go in a Uint8Array)' : ''}`);
      }
    }
  }
}

/** Builds the model's input encoder once (the tokenizer's tables are built here, not per sample). */
export function createInputEncoder(header: SpxHeader): (raw: RawSample) => ModelInput {
  const pre = header.preprocess;
  const name = header.name;
  if (header.input.kind === 'image') {
    if (pre.kind !== 'image') throw new PreprocessError(`image model ${name} has a '${pre.kind}' preprocess`);
    const shape = header.input.shape;
    const expected = `an image for ${name}: ${imageWords(shape)}, or a picture { width, height, data }`;
    return (raw) => {
      if (typeof raw === 'string') throw new InputError(expected, describeValue(raw), `${name} takes images, not text`);
      if (raw instanceof Float32Array || raw instanceof Float64Array || raw instanceof Uint8Array || raw instanceof Uint8ClampedArray) {
        checkPixels(name, shape, raw);
        return preprocessImage(raw, pre as unknown as ImagePreprocess);
      }
      if (isRawImage(raw)) {
        let pixels: Float32Array;
        try { pixels = imageToPixels(raw, shape); } catch (e) { throw new InputError(expected, describeValue(raw), (e as Error).message); }
        return preprocessImage(pixels, pre as unknown as ImagePreprocess);
      }
      throw new InputError(expected, describeValue(raw));
    };
  }
  if (pre.kind !== 'tokenizer') throw new PreprocessError(`token model ${name} has a '${pre.kind}' preprocess`);
  const tokenizer = createTokenizer(pre);
  const { maxLen, vocabSize } = header.input;
  const expected = `text for ${name}: a string, or an Int32Array of 1..${maxLen} token ids in 0..${vocabSize - 1}`;
  return (raw) => {
    if (typeof raw === 'string') return tokenizer.encode(raw);
    if (raw instanceof Int32Array) { checkTokenIds(name, maxLen, vocabSize, raw, expected); return raw; }
    throw new InputError(expected, describeValue(raw), ArrayBuffer.isView(raw) || isRawImage(raw) ? `${name} takes text, not pixels` : '');
  };
}

