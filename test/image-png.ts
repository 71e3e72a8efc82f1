// A PNG writer for the image tests, written from the specification independently of src/image/png.ts: every colour
// type and bit depth, each row with its own filter type (chosen by the caller), Adam7 interlacing, PLTE and tRNS.
import { deflateSync } from 'node:zlib';
import { crc32 } from '../src/util/crc32.js';

export interface PngSpec {
  width: number;
  height: number;
  /** 0 gray, 2 RGB, 3 palette, 4 gray + alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  /** Samples at the file's depth, row-major, channels interleaved (palette images: indices). */
  samples: number[];
  interlace?: boolean;
  palette?: number[];
  trns?: number[];
  /** Filter type of row i (of each pass): filters(i) in 0..4. */
  filters?: (row: number) => number;
}

const CH = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;

function chunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'latin1');
  Buffer.from(data).copy(b, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}

function packRow(samples: number[], depth: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((samples.length * depth) / 8));
  samples.forEach((s, i) => {
    if (depth === 16) { out[2 * i] = s >> 8; out[2 * i + 1] = s & 0xff; return; }
    if (depth === 8) { out[i] = s; return; }
    const bit = i * depth;
    out[bit >> 3] |= s << (8 - depth - (bit % 8));
  });
  return out;
}

function filterRow(type: number, row: Uint8Array, prev: Uint8Array | null, bpp: number): Uint8Array {
  const out = new Uint8Array(row.length);
  for (let x = 0; x < row.length; x++) {
    const a = x >= bpp ? row[x - bpp] : 0, b = prev ? prev[x] : 0, c = prev && x >= bpp ? prev[x - bpp] : 0;
    let pred = 0;
    if (type === 1) pred = a;
    else if (type === 2) pred = b;
    else if (type === 3) pred = Math.floor((a + b) / 2);
    else if (type === 4) {
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
    out[x] = (row[x] - pred + 256) & 0xff;
  }
  return out;
}

export function encodePng(s: PngSpec): Uint8Array {
  const ch = CH[s.colorType];
  const bpp = Math.max(1, (ch * s.bitDepth) / 8);
  const passes = s.interlace
    ? [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]]
    : [[0, 0, 1, 1]];
  const parts: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    let prev: Uint8Array | null = null;
    let r = 0;
    for (let y = y0; y < s.height; y += dy) {
      const samples: number[] = [];
      for (let x = x0; x < s.width; x += dx) for (let c = 0; c < ch; c++) samples.push(s.samples[(y * s.width + x) * ch + c]);
      if (samples.length === 0) continue;
      const row = packRow(samples, s.bitDepth);
      const type = s.filters ? s.filters(r++) : 0;
      parts.push(type, ...filterRow(type, row, prev, bpp));
      prev = row;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.bitDepth; ihdr[9] = s.colorType; ihdr[12] = s.interlace ? 1 : 0;
  const chunks = [chunk('IHDR', ihdr)];
  if (s.palette) chunks.push(chunk('PLTE', Uint8Array.from(s.palette)));
  if (s.trns) chunks.push(chunk('tRNS', Uint8Array.from(s.trns)));
  const z = deflateSync(Uint8Array.from(parts));
  // Two IDAT chunks: the decoder must join them.
  const cut = z.length >> 1;
  chunks.push(chunk('IDAT', z.subarray(0, cut)), chunk('IDAT', z.subarray(cut)), chunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ...chunks]));
}

/** An 8-bit gray / RGB / RGBA PNG of `pixels` (no filters, not interlaced): the common case in one call. */
export function simplePng(width: number, height: number, channels: 1 | 2 | 3 | 4, pixels: Uint8Array): Uint8Array {
  const colorType = ({ 1: 0, 2: 4, 3: 2, 4: 6 } as const)[channels];
  return encodePng({ width, height, colorType, bitDepth: 8, samples: Array.from(pixels) });
}
