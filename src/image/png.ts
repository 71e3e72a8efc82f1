// PNG decoder (ISO/IEC 15948): every colour type and bit depth, palettes and tRNS transparency, Adam7 interlacing;
// CRCs are checked. The zlib stream is inflated with DecompressionStream('deflate'), which every target runtime has.
// 16-bit samples are rounded to 8 bits. Core module: no Node imports.
import { crc32 } from '../util/crc32.js';
import { ImageError, MAX_IMAGE_PIXELS, type RawImage } from './types.js';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** True when `bytes` start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

const bad = (msg: string): never => { throw new ImageError('BAD_IMAGE', `PNG: ${msg}`); };

async function inflate(data: Uint8Array, expected: number): Promise<Uint8Array> {
  if (typeof DecompressionStream !== 'function') throw new ImageError('UNSUPPORTED_IMAGE', 'PNG: this runtime has no DecompressionStream');
  let out: Uint8Array;
  try {
    const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate'));
    out = new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    return bad(`the compressed image data is damaged (${(e as Error).message})`);
  }
  if (out.length < expected) bad(`image data is ${out.length} bytes, the header needs ${expected}`);
  return out;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Reverses the per-row filters in place over `rows` rows of `stride` bytes (each preceded by its filter byte). */
function unfilter(buf: Uint8Array, offset: number, rows: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(rows * stride);
  for (let y = 0; y < rows; y++) {
    const type = buf[offset + y * (stride + 1)];
    const src = offset + y * (stride + 1) + 1;
    const row = y * stride, prev = row - stride;
    for (let x = 0; x < stride; x++) {
      const raw = buf[src + x];
      const a = x >= bpp ? out[row + x - bpp] : 0;
      const b = y > 0 ? out[prev + x] : 0;
      const c = x >= bpp && y > 0 ? out[prev + x - bpp] : 0;
      let v: number;
      switch (type) {
        case 0: v = raw; break;
        case 1: v = raw + a; break;
        case 2: v = raw + b; break;
        case 3: v = raw + ((a + b) >> 1); break;
        case 4: v = raw + paeth(a, b, c); break;
        default: return bad(`row ${y} has filter type ${type} (0-4 are defined)`);
      }
      out[row + x] = v & 0xff;
    }
  }
  return out;
}

/** Decodes a PNG file into 8-bit samples: gray (1), gray+alpha (2), RGB (3) or RGBA (4) channels. */
export async function decodePng(bytes: Uint8Array): Promise<RawImage & { channels: 1 | 2 | 3 | 4 }> {
  if (!isPng(bytes)) bad('not a PNG file (the 8-byte signature is missing)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, color = -1, interlace = 0;
  let palette: Uint8Array | undefined, trns: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (!ended) {
    if (pos + 12 > bytes.length) bad('the file ends before the IEND chunk (truncated)');
    const len = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]);
    if (len > 0x7fffffff || pos + 12 + len > bytes.length) bad(`chunk ${JSON.stringify(type)} runs past the end of the file (truncated)`);
    const data = bytes.subarray(pos + 8, pos + 8 + len);
    if (crc32(bytes.subarray(pos + 4, pos + 8 + len)) !== view.getUint32(pos + 8 + len)) bad(`chunk ${JSON.stringify(type)} fails its CRC (damaged file)`);
    if (pos === 8 && type !== 'IHDR') bad('the first chunk must be IHDR');
    switch (type) {
      case 'IHDR': {
        if (len !== 13) bad('IHDR must be 13 bytes');
        const d = new DataView(data.buffer, data.byteOffset, 13);
        width = d.getUint32(0); height = d.getUint32(4); depth = data[8]; color = data[9]; interlace = data[12];
        if (width === 0 || height === 0) bad(`image is ${width}×${height}`);
        if (!(color in CHANNELS)) bad(`colour type ${color} is not defined (0, 2, 3, 4, 6 are)`);
        if (!DEPTHS[color].includes(depth)) bad(`bit depth ${depth} is not allowed with colour type ${color}`);
        if (data[10] !== 0 || data[11] !== 0) bad('unknown compression or filter method');
        if (interlace > 1) bad(`interlace method ${interlace} is not defined`);
        if (width * height > MAX_IMAGE_PIXELS) throw new ImageError('IMAGE_TOO_LARGE', `PNG: ${width}×${height} is more than ${MAX_IMAGE_PIXELS} pixels`);
        break;
      }
      case 'PLTE':
        if (len % 3 !== 0 || len === 0 || len > 768) bad(`PLTE of ${len} bytes`);
        palette = data;
        break;
      case 'tRNS': trns = data; break;
      case 'IDAT': idat.push(data); break;
      case 'IEND': ended = true; break;
      default:
        // Critical chunks (upper-case first letter) we do not know change how the image decodes: refuse them.
        if (type.charCodeAt(0) < 0x61) throw new ImageError('UNSUPPORTED_IMAGE', `PNG: unknown critical chunk ${JSON.stringify(type)}`);
    }
    pos += 12 + len;
  }
  if (idat.length === 0) bad('no IDAT chunk (no image data)');
  if (color === 3 && !palette) bad('a palette image without a PLTE chunk');

  const channels = CHANNELS[color];
  const bitsPerPixel = channels * depth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1]];
  let expected = 0;
  const dims = passes.map(([x0, y0, dx, dy]) => {
    const w = Math.ceil((width - x0) / dx), h = Math.ceil((height - y0) / dy);
    const stride = Math.ceil((w * bitsPerPixel) / 8);
    if (w > 0 && h > 0) expected += h * (stride + 1);
    return { w, h, stride };
  });
  const total = idat.reduce((s, c) => s + c.length, 0);
  const joined = new Uint8Array(total);
  let o = 0;
  for (const c of idat) { joined.set(c, o); o += c.length; }
  const raw = await inflate(joined, expected);

  // Samples at the file's depth → 8 bits, then the palette / transparency expansion.
  const outChannels = (color === 3 ? (trns ? 4 : 3) : color === 0 ? (trns ? 2 : 1) : color === 2 ? (trns ? 4 : 3) : channels) as 1 | 2 | 3 | 4;
  const out = new Uint8Array(width * height * outChannels);
  const maxv = (1 << depth) - 1;
  const key = trns && color !== 3 ? Array.from({ length: trns.length >> 1 }, (_, i) => (trns![2 * i] << 8) | trns![2 * i + 1]) : undefined;
  let offset = 0;
  passes.forEach(([x0, y0, dx, dy], p) => {
    const { w, h, stride } = dims[p];
    if (w <= 0 || h <= 0) return;
    const rows = unfilter(raw, offset, h, stride, bpp);
    offset += h * (stride + 1);
    const sample = (row: number, i: number): number => {
      if (depth === 8) return rows[row + i];
      if (depth === 16) return (rows[row + 2 * i] << 8) | rows[row + 2 * i + 1];
      const bit = i * depth;
      return (rows[row + (bit >> 3)] >> (8 - depth - (bit & 7))) & maxv;
    };
    const to8 = (v: number) => (depth === 16 ? Math.round(v / 257) : depth === 8 ? v : Math.round((v * 255) / maxv));
    for (let y = 0; y < h; y++) {
      const row = y * stride;
      for (let x = 0; x < w; x++) {
        const dst = ((y0 + y * dy) * width + (x0 + x * dx)) * outChannels;
        if (color === 3) {
          const idx = sample(row, x);
          if (3 * idx + 2 >= palette!.length) bad(`palette index ${idx} is outside the ${palette!.length / 3}-entry palette`);
          out[dst] = palette![3 * idx]; out[dst + 1] = palette![3 * idx + 1]; out[dst + 2] = palette![3 * idx + 2];
          if (outChannels === 4) out[dst + 3] = idx < trns!.length ? trns![idx] : 255;
          continue;
        }
        const vals: number[] = [];
        for (let c = 0; c < channels; c++) vals.push(sample(row, x * channels + c));
        for (let c = 0; c < channels; c++) out[dst + c] = to8(vals[c]);
        if (key && channels < outChannels) {
          const transparent = channels === 1 ? vals[0] === key[0] : vals[0] === key[0] && vals[1] === key[1] && vals[2] === key[2];
          out[dst + channels] = transparent ? 0 : 255;
        }
      }
    }
  });
  return { width, height, channels: outChannels, data: out };
}
