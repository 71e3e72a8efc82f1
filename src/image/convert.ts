// A decoded image → the pixels an image model takes: its channel count (gray or RGB) and its H × W, in [0, 1].
//   - alpha: composited over black (0), the background of Fashion-MNIST-like data;
//   - gray from colour: ITU-R BT.601 luma, 0.299 R + 0.587 G + 0.114 B (what PIL's convert('L') computes);
//     colour from gray: the gray value in every channel;
//   - size: a box filter with fractional coverage (each output pixel is the area-weighted mean of the input pixels
//     it covers), which averages properly when shrinking and holds each pixel when enlarging; the aspect ratio is
//     not kept (the image is stretched to H × W), as the training data had no borders to pad with.
// Core module: no Node imports.
import { ImageError, type RawImage } from './types.js';

/** The channel count of a RawImage, checked against its data. */
export function imageChannels(img: RawImage): 1 | 2 | 3 | 4 {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageError('BAD_IMAGE', `image width and height must be positive integers, got ${width}×${height}`);
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ImageError('BAD_IMAGE', `image data must be a Uint8Array or Uint8ClampedArray, got ${Object.prototype.toString.call(data)}`);
  }
  const c = img.channels ?? data.length / (width * height);
  if (![1, 2, 3, 4].includes(c) || data.length !== c * width * height) {
    throw new ImageError('BAD_IMAGE', `image data has ${data.length} values, which is not 1, 2, 3 or 4 channels of ${width}×${height}`
      + (img.channels ? ` (channels says ${img.channels})` : ''));
  }
  return c as 1 | 2 | 3 | 4;
}

/** Planes of `img` in [0, 1] with alpha composited over black, as `outChannels` (1 gray, 3 RGB) planes. */
function toPlanes(img: RawImage, outChannels: number): Float64Array[] {
  const c = imageChannels(img);
  const n = img.width * img.height, d = img.data;
  const color = c >= 3, alpha = c === 2 || c === 4;
  const planes = Array.from({ length: outChannels }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    const a = alpha ? d[i * c + c - 1] / 255 : 1;
    if (outChannels === 1) {
      const v = color ? 0.299 * d[i * c] + 0.587 * d[i * c + 1] + 0.114 * d[i * c + 2] : d[i * c];
      planes[0][i] = (v / 255) * a;
    } else {
      for (let k = 0; k < 3; k++) planes[k][i] = ((color ? d[i * c + k] : d[i * c]) / 255) * a;
    }
  }
  return planes;
}

/** Area-weighted resize of one plane (w × h → W × H). */
export function resizePlane(src: Float64Array, w: number, h: number, W: number, H: number): Float64Array {
  if (w === W && h === H) return src;
  const sx = w / W, sy = h / H;
  // The input columns (rows) each output column (row) covers, with the length of each overlap.
  const spans = (outSize: number, inSize: number, s: number) => Array.from({ length: outSize }, (_, o) => {
    const lo = o * s, hi = Math.min((o + 1) * s, inSize);
    const parts: [number, number][] = [];
    for (let i = Math.floor(lo); i < Math.min(Math.ceil(hi), inSize); i++) {
      const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
      if (overlap > 1e-12) parts.push([i, overlap]);
    }
    return parts;
  });
  const xs = spans(W, w, sx), ys = spans(H, h, sy);
  const tmp = new Float64Array(W * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (const [i, wgt] of xs[x]) acc += wgt * src[y * w + i];
      tmp[y * W + x] = acc / sx;
    }
  }
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let acc = 0;
      for (const [j, wgt] of ys[y]) acc += wgt * tmp[j * W + x];
      out[y * W + x] = acc / sy;
    }
  }
  return out;
}

/** `img` as a model's [C, H, W] float32 pixels in [0, 1] (C = 1 gray or 3 RGB). */
export function imageToPixels(img: RawImage, shape: readonly [number, number, number] | readonly number[]): Float32Array {
  const [C, H, W] = shape;
  if (C !== 1 && C !== 3) throw new ImageError('UNSUPPORTED_IMAGE', `models with ${C} input channels cannot take a picture (1 gray or 3 RGB can)`);
  const planes = toPlanes(img, C).map((p) => resizePlane(p, img.width, img.height, W, H));
  const out = new Float32Array(C * H * W);
  planes.forEach((p, c) => { for (let i = 0; i < H * W; i++) out[c * H * W + i] = Math.min(1, Math.max(0, p[i])); });
  return out;
}

/** The photographic negative of `img` (colour channels v → 255 − v, alpha kept): dark-on-light pictures become the
 *  light-on-dark of Fashion-MNIST-like data. */
export function invertImage(img: RawImage): RawImage & { channels: 1 | 2 | 3 | 4 } {
  const c = imageChannels(img);
  const alpha = c === 2 || c === 4;
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = alpha && i % c === c - 1 ? img.data[i] : 255 - img.data[i];
  return { width: img.width, height: img.height, channels: c, data };
}
