// A minimal PNG writer for the report's sample thumbnails (28×28 pixels and the like), so a report stays one
// self-contained HTML file with no scripts: the image travels as a data: URL. No compression is attempted (zlib
// "stored" blocks): at these sizes a thumbnail is about a kilobyte either way, and the core may not use Node's zlib.
import { crc32 } from '../util/crc32.js';

export class PngError extends Error {
  readonly code = 'BAD_IMAGE';
  constructor(message: string) { super(message); this.name = 'PngError'; }
}

function adler32(b: Uint8Array): number {
  let a = 1, s = 0;
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

const be32 = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  out.set(be32(data.length), 0);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  out.set(be32(crc32(out.subarray(4, 8 + data.length))), 8 + data.length);
  return out;
}

/** zlib stream of stored blocks (≤ 65,535 bytes each). */
function zlibStored(raw: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(raw.length / 65535));
  const out = new Uint8Array(2 + raw.length + 5 * blocks + 4);
  out[0] = 0x78; out[1] = 0x01;
  let o = 2;
  for (let b = 0; b < blocks; b++) {
    const start = b * 65535, len = Math.min(65535, raw.length - start);
    out[o++] = b === blocks - 1 ? 1 : 0;
    out[o++] = len & 255; out[o++] = len >>> 8;
    out[o++] = ~len & 255; out[o++] = (~len >>> 8) & 255;
    out.set(raw.subarray(start, start + len), o);
    o += len;
  }
  out.set(be32(adler32(raw)), o);
  return out;
}

/**
 * PNG bytes of an 8-bit image, `pixels` row-major interleaved (gray: 1 channel, RGB: 3, RGBA: 4), values 0..255.
 */
export function encodePng(width: number, height: number, channels: 1 | 3 | 4, pixels: ArrayLike<number>): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width * height > 1 << 24) {
    throw new PngError(`image size ${width}×${height} is not supported`);
  }
  if (![1, 3, 4].includes(channels)) throw new PngError(`channels must be 1, 3 or 4, got ${channels}`);
  const stride = width * channels;
  if (pixels.length !== stride * height) throw new PngError(`${width}×${height}×${channels} needs ${stride * height} values, got ${pixels.length}`);
  const raw = new Uint8Array((stride + 1) * height); // each row: filter byte 0 (none), then the row
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < stride; i++) {
      const v = pixels[y * stride + i];
      raw[y * (stride + 1) + 1 + i] = Number.isFinite(v) ? Math.max(0, Math.min(255, Math.round(v))) : 0;
    }
  }
  const ihdr = new Uint8Array(13);
  ihdr.set(be32(width), 0); ihdr.set(be32(height), 4);
  ihdr[8] = 8; ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), chunk('IHDR', ihdr), chunk('IDAT', zlibStored(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** base64 of bytes, without Node's Buffer (btoa exists in browsers, Node ≥ 16, Deno, Bun and Workers). */
export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/**
 * A data: URL of a model-input image: `data` is channel-major [C, H, W] in [0, 1] (the streams' raw pixels), C = 1
 * (gray) or 3 (RGB).
 */
export function imageDataUrl(data: ArrayLike<number>, channels: number, height: number, width: number): string {
  if (channels !== 1 && channels !== 3) throw new PngError(`only gray (1) or RGB (3) images are drawn, got ${channels} channels`);
  if (data.length !== channels * height * width) throw new PngError(`a [${channels}, ${height}, ${width}] image needs ${channels * height * width} values, got ${data.length}`);
  const px = new Uint8Array(channels * height * width);
  const plane = height * width;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const v = data[c * plane + p];
      // Uint8Array stores modulo 256: clamp first, so an out-of-range pixel saturates instead of wrapping.
      px[p * channels + c] = Number.isFinite(v) ? Math.round(Math.max(0, Math.min(1, v)) * 255) : 0;
    }
  }
  return `data:image/png;base64,${toBase64(encodePng(width, height, channels as 1 | 3, px))}`;
}
