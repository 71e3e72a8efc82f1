// Images for image models: PNG (built in) and JPEG (optional peer `jpeg-js`) decoding, then conversion and resizing
// to the model's input. Core module: no Node imports.
export { ImageError, MAX_IMAGE_PIXELS, type RawImage } from './types.js';
export { decodePng, isPng } from './png.js';
export { decodeJpeg, isJpeg } from './jpeg.js';
export { imageToPixels, imageChannels, invertImage, resizePlane } from './convert.js';

import { decodeJpeg, isJpeg } from './jpeg.js';
import { decodePng, isPng } from './png.js';
import { ImageError, type RawImage } from './types.js';

/** Decodes PNG or JPEG bytes (told apart by their signature). */
export async function decodeImage(bytes: Uint8Array): Promise<RawImage> {
  if (isPng(bytes)) return decodePng(bytes);
  if (isJpeg(bytes)) return decodeJpeg(bytes);
  throw new ImageError('UNSUPPORTED_IMAGE', `not a PNG or JPEG file (starts with ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ') || 'nothing'})`);
}
