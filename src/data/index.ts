// src/data, the part that is safe everywhere (no Node imports): the image preprocess the engine applies, and the
// seeded distortions. The file-reading side (dataset paths, idx, named streams) is Node-only and lives in
// ./streams.js (which re-exports ./paths.js and ./idx.js); import it from Node entry points (CLI, tests, benches).
export { NOISE_SIGMA, NOISE_SEED, BLUR_TAPS, BLUR_DIVISOR, DistortError, bytesToUnit, addGaussianNoise, blurImage,
  type NoiseOptions } from './distort.js';
export { Mulberry32, sampleSeed, fillStandardNormal } from './random.js';
export type { StreamName, DataStream, ImageStream, TextStream, ImageSample, TextSample, OpenStreamOptions } from './streams.js';

/** The header's `preprocess` for images (docs/FORMAT.md). */
export interface ImagePreprocess { kind: 'image'; scale: number; mean: number[]; std: number[] }

export class PreprocessError extends Error {
  readonly code = 'BAD_PREPROCESS';
  constructor(message: string) { super(message); this.name = 'PreprocessError'; }
}

/**
 * Normalises an image [C, H, W] for the model: y = float32((x − mean[c]) / std[c]) in float64, as the recipe does.
 * x is the pixel in [0, 1] units: a Float32Array/Float64Array is taken to be in those units already (the streams'
 * samples), while raw bytes (Uint8Array / Uint8ClampedArray, e.g. from a canvas) are first multiplied by `scale`.
 * C is mean.length; one mean/std pair applies to the whole array.
 */
export function preprocessImage(pixels: Float32Array | Float64Array | Uint8Array | Uint8ClampedArray,
  preprocess: ImagePreprocess): Float32Array {
  const p = preprocess as Partial<ImagePreprocess> | undefined;
  if (!p || p.kind !== 'image') throw new PreprocessError(`image preprocess expected, got kind '${p?.kind}'`);
  const { mean, std, scale } = p;
  if (!Array.isArray(mean) || !Array.isArray(std) || mean.length === 0 || mean.length !== std.length) {
    throw new PreprocessError('preprocess.mean and preprocess.std must be non-empty arrays of equal length');
  }
  if (std.some((s) => !(typeof s === 'number' && Number.isFinite(s) && s !== 0)) || mean.some((m) => !Number.isFinite(m))) {
    throw new PreprocessError('preprocess.mean must be finite and preprocess.std finite and non-zero');
  }
  const raw = pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray;
  if (raw && !(typeof scale === 'number' && Number.isFinite(scale) && scale > 0)) {
    throw new PreprocessError(`preprocess.scale must be a positive number for byte pixels, got ${scale}`);
  }
  const c = mean.length;
  if (pixels.length % c !== 0) throw new PreprocessError(`${pixels.length} pixels do not split into ${c} channels`);
  const plane = pixels.length / c;
  const out = new Float32Array(pixels.length);
  for (let ch = 0; ch < c; ch++) {
    const m = mean[ch], s = std[ch];
    for (let i = ch * plane; i < (ch + 1) * plane; i++) {
      const x = raw ? pixels[i] * (scale as number) : pixels[i];
      out[i] = (x - m) / s;
    }
  }
  return out;
}
