// The idx format of (Fashion-)MNIST (Node side: gunzip through node:zlib). Layout: two zero bytes, a type byte
// (0x08 = uint8, the only type these datasets use), a dimension count, one big-endian uint32 per dimension, then
// the row-major data. Everything is checked before use: a damaged download must fail loudly, not train on garbage.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { DataError } from './paths.js';

export class IdxError extends DataError {
  constructor(code: 'IDX_TRUNCATED' | 'IDX_BAD_MAGIC' | 'IDX_UNSUPPORTED' | 'IDX_LENGTH' | 'IDX_GZIP' | 'IDX_SHAPE', message: string) {
    super(code, message);
    this.name = 'IdxError';
  }
}

export interface IdxArray { dims: number[]; data: Uint8Array }

const MAX_ELEMENTS = 2 ** 31 - 1;

/** Parses an idx file's bytes (gzip-compressed or not). `what` names the source in error messages. */
export function parseIdx(bytes: Uint8Array, what = 'idx data'): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      const b = gunzipSync(raw);
      raw = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      throw new IdxError('IDX_GZIP', `${what}: gzip stream is damaged (${(e as Error).message})`);
    }
  }
  if (raw.length < 4) throw new IdxError('IDX_TRUNCATED', `${what}: ${raw.length} bytes, shorter than the 4-byte idx magic`);
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new IdxError('IDX_BAD_MAGIC', `${what}: not an idx file (magic ${hex(raw.subarray(0, 4))}, expected 00 00 08 0N)`);
  }
  if (raw[2] !== 0x08) throw new IdxError('IDX_UNSUPPORTED', `${what}: idx element type 0x${raw[2].toString(16)} (only 0x08, uint8, is supported)`);
  const ndim = raw[3];
  if (ndim < 1 || ndim > 4) throw new IdxError('IDX_BAD_MAGIC', `${what}: ${ndim} dimensions (expected 1 to 4)`);
  const headerLen = 4 + 4 * ndim;
  if (raw.length < headerLen) throw new IdxError('IDX_TRUNCATED', `${what}: ${raw.length} bytes, the header alone needs ${headerLen}`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let n = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    n *= d;
  }
  if (n > MAX_ELEMENTS) throw new IdxError('IDX_LENGTH', `${what}: dims ${dims.join('×')} are implausibly large`);
  const body = raw.length - headerLen;
  if (body !== n) {
    throw new IdxError(body < n ? 'IDX_TRUNCATED' : 'IDX_LENGTH',
      `${what}: dims ${dims.join('×')} need ${n} data bytes, the file has ${body}`);
  }
  return { dims, data: raw.subarray(headerLen) };
}

/** Reads and parses an idx file; `expectDims` (null = any size) adds a shape check. */
export async function readIdxFile(path: string, expectDims?: (number | null)[]): Promise<IdxArray> {
  const arr = parseIdx(new Uint8Array(await readFile(path)), path);
  if (expectDims && (arr.dims.length !== expectDims.length || expectDims.some((d, i) => d !== null && d !== arr.dims[i]))) {
    throw new IdxError('IDX_SHAPE', `${path}: dims ${arr.dims.join('×')}, expected ${expectDims.map((d) => d ?? 'N').join('×')}`);
  }
  return arr;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (v) => v.toString(16).padStart(2, '0')).join(' ');
}
