// Writer of `.spx` model files. Byte-for-byte the same layout as models/recipes/spx.py for the same input:
//   - tensors are laid out in the iteration order of `tensors`, each at the next multiple of 64, with zero gaps;
//     dataLength ends at the last tensor's last byte;
//   - the header is compact JSON (JSON.stringify, no spaces) with the known fields first in the order of
//     docs/FORMAT.md (format, name, task, classes, input, preprocess, layers, exits, tensors, dataLength,
//     provenance), then any other field in its own order; a tensor entry is {dtype, shape, offset, length, quant?}.
// The writer checks what it needs to lay the file out (sizes, finite numbers) but not the model's semantics: tests
// use it to build deliberately invalid models, and parseSpx is the judge.
import { crc32 } from '../util/crc32.js';
import { SpxError } from './errors.js';
import {
  SPX_ALIGN, SPX_LIMITS, SPX_MAGIC, SPX_PREAMBLE_BYTES, SPX_VERSION_MAJOR, SPX_VERSION_MINOR,
  type Quant, type QuantPerChannel, type SpxHeader, type TensorEntry,
} from './types.js';

export type WriterTensor =
  | { dtype: 'f32'; shape: number[]; data: Float32Array }
  | { dtype: 'i8'; shape: number[]; data: Int8Array; quant: Quant };

export type QuantizedTensor = { dtype: 'i8'; shape: number[]; data: Int8Array; quant: QuantPerChannel };

const align64 = (n: number) => Math.ceil(n / SPX_ALIGN) * SPX_ALIGN;
const KNOWN_ORDER = ['format', 'name', 'task', 'classes', 'input', 'preprocess', 'layers', 'exits', 'tensors', 'dataLength', 'provenance'];

function checkShape(name: string, shape: unknown, count: number): number[] {
  if (!Array.isArray(shape) || shape.length < 1 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new SpxError('BAD_TENSOR', `tensor '${name}': shape must be a non-empty array of positive integers`);
  }
  let n = 1;
  for (const d of shape) n *= d;
  if (n > SPX_LIMITS.elements) throw new SpxError('TOO_LARGE', `tensor '${name}': more than 2^28 elements`);
  if (n !== count) throw new SpxError('BAD_TENSOR', `tensor '${name}': shape [${shape.join(', ')}] has ${n} elements, data has ${count}`);
  return shape.slice();
}

function quantEntry(name: string, q: Quant, shape: number[]): Quant {
  if (q && 'scales' in q) {
    if (q.scales.length !== shape[0]) throw new SpxError('BAD_TENSOR', `tensor '${name}': ${q.scales.length} scales for ${shape[0]} channels`);
    return { axis: 0, scales: Array.from(q.scales) };
  }
  if (q && 'scale' in q) return { scale: q.scale, zeroPoint: q.zeroPoint };
  throw new SpxError('BAD_TENSOR', `tensor '${name}': an i8 tensor needs quant`);
}

function assertFinite(v: unknown, path: string, seen: Set<unknown>): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SpxError('BAD_HEADER', `${path} is ${v}: JSON cannot hold it`);
  } else if (typeof v === 'object' && v !== null) {
    if (seen.has(v)) throw new SpxError('BAD_HEADER', `${path} refers back to itself`);
    seen.add(v);
    for (const [k, x] of Object.entries(v)) assertFinite(x, `${path}.${k}`, seen);
    seen.delete(v);
  }
}

/**
 * Low level: the file for a complete header object (tensors and dataLength already filled in, serialized as is)
 * and its data region. Tools that rewrite a header use it; most code wants writeSpx.
 */
export function encodeSpx(header: object, data: Uint8Array): Uint8Array {
  assertFinite(header, 'header', new Set());
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    throw new SpxError('BAD_HEADER', `header cannot be serialized: ${String(e)}`, { cause: e });
  }
  const text = new TextEncoder().encode(json);
  if (text.length > SPX_LIMITS.headerBytes) throw new SpxError('TOO_LARGE', `header is ${text.length} bytes, past the 16 MiB limit`);
  const dataOffset = align64(SPX_PREAMBLE_BYTES + text.length);
  const total = dataOffset + data.length;
  if (total > SPX_LIMITS.fileBytes) throw new SpxError('TOO_LARGE', `file would be ${total} bytes, past the 1 GiB limit`);
  const out = new Uint8Array(total);
  out.set(SPX_MAGIC, 0);
  const dv = new DataView(out.buffer);
  dv.setUint16(4, SPX_VERSION_MAJOR, true);
  dv.setUint16(6, SPX_VERSION_MINOR, true);
  dv.setUint32(8, text.length, true);
  out.set(text, SPX_PREAMBLE_BYTES);
  out.set(data, dataOffset);
  dv.setUint32(12, crc32(out.subarray(SPX_PREAMBLE_BYTES)), true);
  return out;
}

/** Lays out the tensors (64-aligned, in the order given), fills `tensors` and `dataLength`, and encodes the file. */
export function writeSpx(header: Omit<SpxHeader, 'tensors' | 'dataLength'>, tensors: Record<string, WriterTensor>): Uint8Array {
  const table: Record<string, TensorEntry> = {};
  const placed: { at: number; bytes: Uint8Array; f32: boolean }[] = [];
  let end = 0;
  for (const name of Object.keys(tensors)) {
    const t = tensors[name];
    if (t.dtype !== 'f32' && t.dtype !== 'i8') throw new SpxError('BAD_TENSOR', `tensor '${name}': unknown dtype ${String((t as { dtype: unknown }).dtype)}`);
    const isF32 = t.dtype === 'f32';
    if (isF32 ? !(t.data instanceof Float32Array) : !(t.data instanceof Int8Array)) {
      throw new SpxError('BAD_TENSOR', `tensor '${name}': ${t.dtype} data must be a ${isF32 ? 'Float32Array' : 'Int8Array'}`);
    }
    const shape = checkShape(name, t.shape, t.data.length);
    const offset = align64(end);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const entry: TensorEntry = { dtype: t.dtype, shape, offset, length: bytes.length };
    if (t.dtype === 'i8') entry.quant = quantEntry(name, t.quant, shape);
    // Object.defineProperty keeps a tensor named "__proto__" an ordinary entry.
    Object.defineProperty(table, name, { value: entry, enumerable: true, writable: true, configurable: true });
    placed.push({ at: offset, bytes, f32: isF32 });
    end = offset + bytes.length;
    if (end > SPX_LIMITS.fileBytes) throw new SpxError('TOO_LARGE', `tensors past '${name}' exceed the 1 GiB file limit`);
  }
  const data = new Uint8Array(end);
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (const p of placed) {
    data.set(p.bytes, p.at);
    if (!littleEndian && p.f32) swap32(data, p.at, p.bytes.length); // the format is little-endian
  }

  const h = header as unknown as Record<string, unknown>;
  const full: Record<string, unknown> = {};
  const put = (k: string, v: unknown) => { if (v !== undefined) Object.defineProperty(full, k, { value: v, enumerable: true, writable: true, configurable: true }); };
  for (const k of KNOWN_ORDER) {
    if (k === 'tensors') put(k, table);
    else if (k === 'dataLength') put(k, end);
    else put(k, h[k]);
  }
  for (const k of Object.keys(h)) if (!KNOWN_ORDER.includes(k)) put(k, h[k]);
  return encodeSpx(full, data);
}

function swap32(d: Uint8Array, at: number, len: number): void {
  for (let i = at; i < at + len; i += 4) {
    let t = d[i]; d[i] = d[i + 3]; d[i + 3] = t;
    t = d[i + 1]; d[i + 1] = d[i + 2]; d[i + 2] = t;
  }
}

/** Round half to even, like torch.round and Python's round (and the quantize_i8 kernel). */
export function roundHalfEven(v: number): number {
  let r = Math.round(v); // half rounds up; r − v is exact here, so the tie test is exact
  if (r - v === 0.5 && r % 2 !== 0) r -= 1;
  return r;
}

/**
 * Symmetric per-output-channel int8 quantization of a weight whose axis 0 is the output channel:
 * scale[c] = max|w[c, …]| / 127 (in float64), q = clamp(roundHalfEven(w / scale), −127, 127), q = 0 where scale = 0.
 * models/recipes/spx.py's quantize_per_channel computes the same q and scales bit for bit.
 */
export function quantizeWeightPerChannel(shape: number[], data: Float32Array): QuantizedTensor {
  const s = checkShape('(quantize)', shape, data.length);
  const channels = s[0], inner = data.length / channels;
  const q = new Int8Array(data.length);
  const scales: number[] = [];
  for (let c = 0; c < channels; c++) {
    let maxAbs = 0;
    for (let i = c * inner; i < (c + 1) * inner; i++) {
      const a = Math.abs(data[i]);
      if (!Number.isFinite(a)) throw new SpxError('BAD_TENSOR', `quantize: element ${i} is ${data[i]}`);
      if (a > maxAbs) maxAbs = a;
    }
    const scale = maxAbs / 127;
    scales.push(scale);
    if (scale === 0) continue;
    for (let i = c * inner; i < (c + 1) * inner; i++) {
      q[i] = Math.max(-127, Math.min(127, roundHalfEven(data[i] / scale)));
    }
  }
  return { dtype: 'i8', shape: s, data: q, quant: { axis: 0, scales } };
}
