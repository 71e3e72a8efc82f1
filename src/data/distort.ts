// Seeded Fashion-MNIST distortions, the specification in models/recipes/fmnist_data.py written again in TypeScript
// (both must change together; test/data-fmnist.test.ts pins values computed by the Python side). Images are
// float32 planes in [0, 1]; all arithmetic is float64 and the result is rounded to float32 once, at the end.
// Pure module: no Node imports.
import { Mulberry32, fillStandardNormal, sampleSeed } from './random.js';

/** σ of the additive Gaussian noise of `fmnist:test:noise`, in [0, 1] pixel units. */
export const NOISE_SIGMA = 0.4;
/** Stream seed of `fmnist:test:noise` (each sample is seeded with sampleSeed(NOISE_SEED, index)). */
export const NOISE_SEED = 0x5eed0001;
/** Blur of `fmnist:test:blur`: binomial(12) taps / 4096, a Gaussian of variance 3 (σ ≈ 1.73 px). Dyadic weights
 *  are exact in binary, so the blur is bit-identical in every language that does the sums in the same order. */
export const BLUR_TAPS: readonly number[] = [1, 12, 66, 220, 495, 792, 924, 792, 495, 220, 66, 12, 1];
export const BLUR_DIVISOR = 4096;

export class DistortError extends Error {
  readonly code = 'BAD_IMAGE';
  constructor(message: string) { super(message); this.name = 'DistortError'; }
}

/** Clean pixels: float32(byte / 255) with the division in float64 (what every image stream starts from). */
export function bytesToUnit(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

export interface NoiseOptions { sigma?: number; seed?: number }

/**
 * Adds N(0, σ²) noise to every pixel (row-major over the whole array, channels included) and clips to [0, 1]:
 * out = float32(clip(p + σ·z, 0, 1)). Sample `index` always gets the same noise for the same seed.
 */
export function addGaussianNoise(pixels: Float32Array, index: number, opts: NoiseOptions = {}): Float32Array {
  const sigma = opts.sigma ?? NOISE_SIGMA;
  const seed = opts.seed ?? NOISE_SEED;
  if (!Number.isInteger(index) || index < 0) throw new DistortError(`noise: sample index must be a non-negative integer, got ${index}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma)) throw new DistortError(`noise: sigma must be finite and ≥ 0, got ${sigma}`);
  const z = fillStandardNormal(new Mulberry32(sampleSeed(seed, index)), new Float64Array(pixels.length));
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i] + sigma * z[i];
    out[i] = Math.min(Math.max(v, 0), 1);
  }
  return out;
}

/**
 * Separable blur of each [H, W] plane of `pixels` ([C, H, W], C = length / (H·W)): a horizontal pass, then a
 * vertical pass over the float64 intermediate, zero padding, each output summed from tap −r to +r.
 */
export function blurImage(pixels: Float32Array, height: number, width: number,
  taps: readonly number[] = BLUR_TAPS, divisor = BLUR_DIVISOR): Float32Array {
  const plane = height * width;
  if (!(height > 0 && width > 0) || pixels.length % plane !== 0) {
    throw new DistortError(`blur: ${pixels.length} pixels is not a whole number of ${height}×${width} planes`);
  }
  if (taps.length % 2 !== 1) throw new DistortError(`blur: the kernel needs an odd number of taps, got ${taps.length}`);
  const w = taps.map((t) => t / divisor);
  const r = (w.length - 1) / 2;
  const tmp = new Float64Array(plane);
  const out = new Float32Array(pixels.length);
  for (let c = 0; c < pixels.length / plane; c++) {
    const base = c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) {
          const xx = x + k - r;
          if (xx >= 0 && xx < width) acc += w[k] * pixels[base + y * width + xx];
        }
        tmp[y * width + x] = acc;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) {
          const yy = y + k - r;
          if (yy >= 0 && yy < height) acc += w[k] * tmp[yy * width + x];
        }
        out[base + y * width + x] = acc;
      }
    }
  }
  return out;
}
