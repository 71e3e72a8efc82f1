// Reader of `.spx` model files (docs/FORMAT.md). Validation order matters for both the error a user sees and for
// safety: every length is checked against the file's real size before anything proportional to a claimed size is
// allocated, so a hostile or corrupted file costs at most a pass over its own bytes.
//
//   preamble (size limit, magic, version, header length) → header bytes present → UTF-8 + JSON → dataLength →
//   file size (TRUNCATED / trailing bytes) → CRC → header fields → tensors table → ops and shapes.
//
// A header that fails to decode, or whose dataLength is unusable, is reported as CHECKSUM when the CRC does not
// match either: a flipped bit is then the likelier story than a writer bug.
import { crc32 } from '../util/crc32.js';
import { SpxError } from './errors.js';
import { analyzeModel, describe, elementCount, fmtShape, inputShape, type InferredShapes } from './shapes.js';
import {
  BYTES_PER_ELEMENT, SPX_ALIGN, SPX_LIMITS, SPX_MAGIC, SPX_PREAMBLE_BYTES, SPX_VERSION_MAJOR,
  type Preprocess, type Quant, type SpxHeader, type SpxInput, type TensorEntry,
} from './types.js';

export interface SpxModelFile {
  /** The validated header; ops carry every default (stride, pad, groups, act, eps) explicitly. */
  header: SpxHeader;
  version: { major: number; minor: number };
  /** The bytes given to parseSpx (not copied). */
  bytes: Uint8Array;
  /** Offset of the data region in `bytes`: align64(16 + header length). */
  dataOffset: number;
  shapes: InferredShapes;
  /** A fresh f32 copy of a tensor; int8 tensors are dequantized (value = q·scale, rounded once to f32). */
  tensor(name: string): Float32Array;
  /** The tensor's stored bytes, a view into `bytes` (no copy). */
  tensorBytes(name: string): Uint8Array;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const get = (o: Obj, k: string): unknown => (has(o, k) ? o[k] : undefined);
const align64 = (n: number) => Math.ceil(n / SPX_ALIGN) * SPX_ALIGN;
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
let utf8: TextDecoder | undefined; // fatal: malformed UTF-8 throws instead of becoming U+FFFD

/** Parses and fully validates a model file. Throws only SpxError. */
export function parseSpx(bytes: Uint8Array): SpxModelFile {
  if (!(bytes instanceof Uint8Array)) throw new SpxError('BAD_HEADER', `parseSpx needs a Uint8Array, got ${describe(bytes)}`);
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof SpxError) throw e;
    // Only a bug (or the engine running out of memory) lands here; keep the promise of one error type.
    throw new SpxError('BAD_HEADER', `internal error while reading the model file: ${String(e)}`, { cause: e });
  }
}

function parse(bytes: Uint8Array): SpxModelFile {
  const n = bytes.length;
  if (n > SPX_LIMITS.fileBytes) throw new SpxError('TOO_LARGE', `file has ${n} bytes, more than the 1 GiB limit`);
  const magicSeen = bytes.subarray(0, Math.min(4, n));
  if (magicSeen.some((b, i) => b !== SPX_MAGIC[i])) {
    throw new SpxError('BAD_MAGIC', `not a .spx model file: starts with ${hex(magicSeen)}, expected 53 50 58 00 ("SPX\\0")`);
  }
  if (n < SPX_PREAMBLE_BYTES) throw new SpxError('TRUNCATED', `file has ${n} bytes, the preamble alone needs ${SPX_PREAMBLE_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const major = dv.getUint16(4, true), minor = dv.getUint16(6, true);
  if (major !== SPX_VERSION_MAJOR) {
    throw new SpxError('BAD_VERSION', `file format version ${major}.${minor}; this reader understands major version ${SPX_VERSION_MAJOR}`);
  }
  const H = dv.getUint32(8, true);
  if (H > SPX_LIMITS.headerBytes) throw new SpxError('TOO_LARGE', `header length ${H} bytes is past the 16 MiB limit`);
  if (H < 2) throw new SpxError('BAD_HEADER', `header length ${H} bytes is too small to hold a JSON object`);
  if (SPX_PREAMBLE_BYTES + H > n) {
    throw new SpxError('TRUNCATED', `file has ${n} bytes, its ${H}-byte header alone needs ${SPX_PREAMBLE_BYTES + H}`);
  }
  const storedCrc = dv.getUint32(12, true);
  let actualCrc: number | undefined;
  const crcMatches = () => (actualCrc ??= crc32(bytes.subarray(SPX_PREAMBLE_BYTES))) === storedCrc;
  const unreadable = (msg: string, cause?: unknown): never => {
    if (!crcMatches()) throw new SpxError('CHECKSUM', `checksum mismatch: the file is corrupted (${msg})`, { cause });
    throw new SpxError('BAD_HEADER', msg, { cause });
  };

  let text = '';
  try {
    text = (utf8 ??= new TextDecoder('utf-8', { fatal: true })).decode(bytes.subarray(SPX_PREAMBLE_BYTES, SPX_PREAMBLE_BYTES + H));
  } catch (e) {
    unreadable('header is not valid UTF-8', e);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    unreadable(`header is not valid JSON: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (!isObj(raw)) unreadable(`header must be a JSON object, got ${describe(raw)}`);
  const h = raw as Obj;

  const dl = get(h, 'dataLength');
  if (typeof dl === 'number' && dl > SPX_LIMITS.fileBytes) {
    throw new SpxError('TOO_LARGE', `header.dataLength ${dl} is past the 1 GiB file limit`);
  }
  if (typeof dl !== 'number' || !Number.isInteger(dl) || dl < 0) {
    unreadable(`header.dataLength must be a non-negative integer, got ${describe(dl)}`);
  }
  const dataLength = dl as number;
  const dataOffset = align64(SPX_PREAMBLE_BYTES + H);
  const expected = dataOffset + dataLength;
  if (expected > SPX_LIMITS.fileBytes) throw new SpxError('TOO_LARGE', `file would be ${expected} bytes, more than the 1 GiB limit`);
  if (n < expected) {
    throw new SpxError('TRUNCATED', `file has ${n} bytes, the header says it ends at ${expected} (data region ${dataLength} bytes at ${dataOffset})`);
  }
  if (n > expected) unreadable(`file has ${n - expected} bytes after the end of the data region (${expected}); header.dataLength is wrong`);
  if (!crcMatches()) {
    const h8 = (x: number) => x.toString(16).padStart(8, '0');
    throw new SpxError('CHECKSUM', `checksum mismatch: stored ${h8(storedCrc)}, computed ${h8(actualCrc!)}; the file is corrupted`);
  }
  for (let i = SPX_PREAMBLE_BYTES + H; i < dataOffset; i++) {
    if (bytes[i] !== 0) throw new SpxError('BAD_HEADER', `byte ${i}, in the padding between the header and the data region, is not zero`);
  }

  const fields = headerFields(h);
  const tensors = tensorTable(get(h, 'tensors'), dataLength);
  const tensorShapes: Record<string, number[]> = Object.create(null);
  for (const [name, t] of Object.entries(tensors)) tensorShapes[name] = t.shape;
  const { shapes, layers, exits } = analyzeModel({ ...fields, layers: get(h, 'layers'), exits: get(h, 'exits') } as never, tensorShapes);

  const header = { ...h, ...fields, layers, exits, tensors, dataLength } as SpxHeader;
  const view = (name: string): { t: TensorEntry; at: number } => {
    if (typeof name !== 'string' || !has(tensors, name)) throw new SpxError('BAD_TENSOR', `no tensor named ${describe(name)} in this model`);
    const t = tensors[name];
    return { t, at: dataOffset + t.offset };
  };
  return {
    header,
    version: { major, minor },
    bytes,
    dataOffset,
    shapes,
    tensorBytes(name) {
      const { t, at } = view(name);
      return bytes.subarray(at, at + t.length);
    },
    tensor(name) {
      const { t, at } = view(name);
      return decodeTensor(bytes, at, t);
    },
  };
}

function decodeTensor(bytes: Uint8Array, at: number, t: TensorEntry): Float32Array {
  const count = t.length / BYTES_PER_ELEMENT[t.dtype];
  const out = new Float32Array(count);
  if (t.dtype === 'f32') {
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(bytes.subarray(at, at + t.length));
    } else {
      const dv = new DataView(bytes.buffer, bytes.byteOffset + at, t.length);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
    }
    return out;
  }
  const q = new Int8Array(bytes.buffer, bytes.byteOffset + at, count);
  const quant = t.quant!;
  if ('scales' in quant) {
    const channels = t.shape[0], inner = count / channels;
    for (let c = 0; c < channels; c++) {
      const s = quant.scales[c];
      for (let i = c * inner, end = i + inner; i < end; i++) out[i] = q[i] * s;
    }
  } else {
    const { scale, zeroPoint } = quant;
    for (let i = 0; i < count; i++) out[i] = (q[i] - zeroPoint) * scale;
  }
  return out;
}

function str(h: Obj, k: string): string {
  const v = get(h, k);
  if (typeof v !== 'string') throw new SpxError('BAD_HEADER', `header.${k} must be a string, got ${describe(v)}`);
  return v;
}

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The top-level fields other than layers, exits, tensors and dataLength, validated. */
function headerFields(h: Obj): Pick<SpxHeader, 'format' | 'name' | 'task' | 'classes' | 'input' | 'preprocess' | 'provenance'> {
  const format = str(h, 'format');
  if (format !== 'splitee-model') throw new SpxError('BAD_HEADER', `header.format must be "splitee-model", got ${describe(format)}`);
  const name = str(h, 'name');
  const task = str(h, 'task');
  const classes = get(h, 'classes');
  if (!Array.isArray(classes) || classes.length < 1) {
    throw new SpxError('BAD_HEADER', `header.classes must be a non-empty array of strings, got ${describe(classes)}`);
  }
  classes.forEach((c, i) => {
    if (typeof c !== 'string') throw new SpxError('BAD_HEADER', `header.classes[${i}] must be a string, got ${describe(c)}`);
  });
  const rawInput = get(h, 'input');
  const inp = inputShape(rawInput);
  const input: SpxInput = inp.tokens
    ? { ...(rawInput as Obj), kind: 'tokens', maxLen: inp.shape[0], vocabSize: inp.vocabSize }
    : { ...(rawInput as Obj), kind: 'image', shape: inp.shape as [number, number, number] };
  const wantTask = inp.tokens ? 'text-classification' : 'image-classification';
  if (task !== wantTask) throw new SpxError('BAD_HEADER', `header.task is ${describe(task)} but the input is ${input.kind}: expected "${wantTask}"`);

  const pre = get(h, 'preprocess');
  if (!isObj(pre)) throw new SpxError('BAD_HEADER', `header.preprocess must be an object, got ${describe(pre)}`);
  const wantPre = inp.tokens ? 'tokenizer' : 'image';
  if (get(pre, 'kind') !== wantPre) {
    throw new SpxError('BAD_HEADER', `header.preprocess.kind is ${describe(get(pre, 'kind'))}, expected "${wantPre}" for ${input.kind} input`);
  }
  if (wantPre === 'image') {
    const C = inp.shape[0];
    if (!finite(get(pre, 'scale'))) throw new SpxError('BAD_HEADER', `header.preprocess.scale must be a finite number, got ${describe(get(pre, 'scale'))}`);
    for (const k of ['mean', 'std']) {
      const a = get(pre, k);
      if (!Array.isArray(a) || (a.length !== 1 && a.length !== C) || !a.every(finite) || (k === 'std' && a.some((s) => s === 0))) {
        throw new SpxError('BAD_HEADER', `header.preprocess.${k} must be 1 or ${C} (channels) finite numbers${k === 'std' ? ', none zero' : ''}`);
      }
    }
  }
  const provenance = get(h, 'provenance');
  if (provenance !== undefined && !isObj(provenance)) {
    throw new SpxError('BAD_HEADER', `header.provenance must be an object when present, got ${describe(provenance)}`);
  }
  return {
    format: 'splitee-model', name, task: task as SpxHeader['task'], classes: classes as string[], input,
    preprocess: pre as Preprocess, ...(provenance === undefined ? {} : { provenance: provenance as Obj }),
  };
}

function tensorTable(raw: unknown, dataLength: number): Record<string, TensorEntry> {
  if (!isObj(raw)) throw new SpxError('BAD_HEADER', `header.tensors must be an object, got ${describe(raw)}`);
  const out: Record<string, TensorEntry> = Object.create(null);
  const names = Object.keys(raw);
  for (const name of names) out[name] = tensorEntry(name, raw[name], dataLength);
  // Sort by offset and compare neighbours: with non-empty tensors, any overlap shows up between neighbours.
  const byOffset = names.slice().sort((a, b) => out[a].offset - out[b].offset);
  for (let i = 1; i < byOffset.length; i++) {
    const a = out[byOffset[i - 1]], b = out[byOffset[i]];
    if (a.offset + a.length > b.offset) {
      throw new SpxError('BAD_TENSOR',
        `tensors '${byOffset[i - 1]}' (bytes ${a.offset}..${a.offset + a.length}) and '${byOffset[i]}' (bytes ${b.offset}..${b.offset + b.length}) overlap`);
    }
  }
  return out;
}

function tensorEntry(name: string, raw: unknown, dataLength: number): TensorEntry {
  const where = `tensor '${name}'`;
  const bad = (msg: string): never => { throw new SpxError('BAD_TENSOR', `${where}: ${msg}`); };
  if (!isObj(raw)) bad(`entry must be an object, got ${describe(raw)}`);
  const e = raw as Obj;
  const dtype = get(e, 'dtype');
  if (dtype !== 'f32' && dtype !== 'i8') bad(`unknown dtype ${describe(dtype)} (expected "f32" or "i8")`);
  const rawShape = get(e, 'shape');
  if (!Array.isArray(rawShape) || rawShape.length < 1) bad(`shape must be a non-empty array, got ${describe(rawShape)}`);
  const shape = (rawShape as unknown[]).map((d, i) => {
    if (typeof d !== 'number' || Number.isNaN(d)) return bad(`shape[${i}] must be a positive integer, got ${describe(d)}`);
    if (d > SPX_LIMITS.elements) throw new SpxError('TOO_LARGE', `${where}: shape[${i}] = ${d} is past the 2^28 element limit`);
    if (!Number.isInteger(d) || d < 1) bad(`shape[${i}] must be a positive integer, got ${d}`);
    return d;
  });
  const count = elementCount(shape, where);
  const offset = get(e, 'offset'), length = get(e, 'length');
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) bad(`offset must be a non-negative integer, got ${describe(offset)}`);
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0) bad(`length must be a non-negative integer, got ${describe(length)}`);
  const off = offset as number, len = length as number;
  const bpe = BYTES_PER_ELEMENT[dtype as 'f32' | 'i8'];
  if (len !== count * bpe) bad(`length ${len} bytes, but ${fmtShape(shape)} ${dtype} needs ${count * bpe}`);
  if (off % SPX_ALIGN !== 0) bad(`offset ${off} is not a multiple of ${SPX_ALIGN}`);
  if (off + len > dataLength) bad(`bytes ${off}..${off + len} lie outside the ${dataLength}-byte data region`);
  const entry: TensorEntry = { dtype: dtype as 'f32' | 'i8', shape, offset: off, length: len };
  const quant = get(e, 'quant');
  if (dtype === 'f32') {
    if (quant !== undefined) bad('an f32 tensor must not carry quant');
    return entry;
  }
  entry.quant = quantOf(quant, shape, bad);
  return entry;
}

function quantOf(q: unknown, shape: number[], bad: (m: string) => never): Quant {
  if (!isObj(q)) return bad(`an i8 tensor needs quant { axis: 0, scales } or { scale, zeroPoint }, got ${describe(q)}`);
  if (has(q, 'scales')) {
    const axis = get(q, 'axis');
    if (axis !== undefined && axis !== 0) bad(`quant.axis must be 0, got ${describe(axis)}`);
    const scales = get(q, 'scales');
    if (!Array.isArray(scales) || scales.length !== shape[0]) {
      bad(`quant.scales must hold ${shape[0]} numbers (one per index of axis 0), got ${Array.isArray(scales) ? scales.length : describe(scales)}`);
    }
    (scales as unknown[]).forEach((s, i) => { if (!finite(s)) bad(`quant.scales[${i}] must be a finite number, got ${describe(s)}`); });
    return { axis: 0, scales: (scales as number[]).slice() };
  }
  const scale = get(q, 'scale'), zp = get(q, 'zeroPoint');
  if (!finite(scale)) bad(`quant.scale must be a finite number, got ${describe(scale)}`);
  if (typeof zp !== 'number' || !Number.isInteger(zp) || zp < -128 || zp > 127) bad(`quant.zeroPoint must be an integer in −128..127, got ${describe(zp)}`);
  return { scale: scale as number, zeroPoint: zp as number };
}
