// JPEG through the optional peer dependency `jpeg-js` (pure JavaScript, so it runs wherever the core does), loaded
// only when a JPEG is actually decoded. Core module: no Node imports.
import { ImageError, MAX_IMAGE_PIXELS, type RawImage } from './types.js';

/** True when `bytes` start with a JPEG start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

interface JpegJs {
  decode(data: Uint8Array, opts: { useTArray: true; formatAsRGBA: boolean; maxResolutionInMP?: number; maxMemoryUsageInMB?: number }):
    { width: number; height: number; data: Uint8Array };
}

// A variable specifier keeps bundlers and tsc from requiring the optional package at build time.
const JPEG_JS = 'jpeg-js';

async function loadJpegJs(): Promise<JpegJs> {
  let mod: { decode?: JpegJs['decode']; default?: Partial<JpegJs> };
  try {
    mod = await import(/* @vite-ignore */ JPEG_JS);
  } catch {
    throw new ImageError('JPEG_DECODER_MISSING', "JPEG images need the optional peer dependency 'jpeg-js': run `npm install jpeg-js` (PNG needs nothing)");
  }
  const decode = mod.decode ?? mod.default?.decode;
  if (typeof decode !== 'function') throw new ImageError('JPEG_DECODER_MISSING', "the installed 'jpeg-js' has no decode()");
  return { decode };
}

/** Decodes a baseline or progressive JPEG to RGB (3 channels, 8-bit). */
export async function decodeJpeg(bytes: Uint8Array): Promise<RawImage & { channels: 3 }> {
  if (!isJpeg(bytes)) throw new ImageError('BAD_IMAGE', 'JPEG: not a JPEG file (no start-of-image marker)');
  const jpeg = await loadJpegJs();
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    throw new ImageError(/resolution|memory/i.test(msg) ? 'IMAGE_TOO_LARGE' : 'BAD_IMAGE', `JPEG: ${msg}`);
  }
  if (!(img.width > 0 && img.height > 0) || img.data.length !== img.width * img.height * 3) throw new ImageError('BAD_IMAGE', 'JPEG: decoded to an empty or inconsistent image');
  return { width: img.width, height: img.height, channels: 3, data: img.data };
}
