// The binary frame a device sends to the cloud at a split point (layout byte by byte in docs/TRANSPORT.md), and
// the JSON answer that comes back. Decoding is strict and allocation-safe: every size is checked against the
// bytes actually present and against configurable limits before anything is allocated or read, and every defect
// is a FrameError with a `code`. Core module: no Node imports.
import { crc32 } from '../util/crc32.js';
import { CodecError, MAX_RANK, numElements, payloadBytes, validateEncoded, type Dtype, type Encoded, type QuantParams } from './codec.js';

export const FRAME_MAGIC = new Uint8Array([0x53, 0x50, 0x58, 0x46]); // "SPXF"
export const FRAME_VERSION = 1;
/** Fixed part before the dims: magic, version, dtype, rank, split, reserved, request id, digest. */
export const FRAME_HEADER_BYTES = 60;
export const DIGEST_BYTES = 32;
export const REQUEST_ID_BYTES = 16;

export const DTYPE_CODES: Readonly<Record<Dtype, number>> = { f32: 1, fp16: 2, int8: 3, int8c: 4, int4: 5 };
const DTYPE_BY_CODE: readonly (Dtype | undefined)[] = [undefined, 'f32', 'fp16', 'int8', 'int8c', 'int4'];

export type FrameErrorCode =
  | 'BAD_INPUT'     // not a Uint8Array (decode) or an unencodable frame (encode)
  | 'TRUNCATED'     // fewer bytes than the fields announce
  | 'BAD_MAGIC'
  | 'BAD_VERSION'
  | 'BAD_DTYPE'     // unknown dtype code
  | 'BAD_RANK'      // rank 0 or > 8
  | 'BAD_SHAPE'     // a zero dimension
  | 'TOO_LARGE'     // past FrameLimits (elements or bytes)
  | 'BAD_LENGTH'    // payload length ≠ what shape × dtype needs
  | 'TRAILING'      // bytes after the CRC
  | 'CHECKSUM'      // CRC-32 mismatch
  | 'BAD_HEADER'    // a reserved field is not zero
  | 'BAD_PARAMS'    // NaN / inf / ≤ 0 / non-float32 scale, zero point out of range, nonzero padding
  | 'BAD_RESPONSE'; // the cloud's JSON answer is malformed

export class FrameError extends Error {
  constructor(public code: FrameErrorCode, message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export interface FrameLimits {
  /** Most tensor elements a frame may announce (default 2^24 = 16,777,216). */
  maxElements: number;
  /** Most bytes a whole frame may have (default 2^26 = 64 MiB). */
  maxBytes: number;
}
export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = { maxElements: 1 << 24, maxBytes: 1 << 26 };

export interface Frame {
  version: number;
  /** 32 lowercase hex characters (16 bytes). */
  requestId: string;
  /** SHA-256 of the model file the sender runs (32 bytes). */
  digest: Uint8Array;
  /** The device ran layers 1..splitLayer; the cloud runs the rest. */
  splitLayer: number;
  /** The activation. Its payload is a view into the decoded bytes (no copy). */
  tensor: Encoded;
}

export interface FrameInput {
  digest: Uint8Array;
  splitLayer: number;
  tensor: Encoded;
  /** 32 hex characters; a random one when omitted. */
  requestId?: string;
}

// ------------------------------------------------------------------------------------------------------- helpers

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
  return s;
}

/** Bytes of an even-length hex string, or null when it is not one. */
export function fromHex(s: string): Uint8Array | null {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return null;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A fresh random 16-byte request id as 32 hex characters. */
export function newRequestId(): string {
  const b = new Uint8Array(REQUEST_ID_BYTES);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues) c.getRandomValues(b);
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256);
  return toHex(b);
}

function paramsBytes(dtype: Dtype, channels: number): number {
  switch (dtype) {
    case 'int8': case 'int4': return 8;
    case 'int8c': return 5 * channels;
    default: return 0;
  }
}

/** Exact size in bytes of a frame carrying a `dtype` tensor of `shape` (what one offload costs on the wire). */
export function frameBytes(dtype: Dtype, shape: readonly number[]): number {
  const n = numElements(shape);
  return FRAME_HEADER_BYTES + 4 * shape.length + paramsBytes(dtype, shape[0]) + 4 + payloadBytes(dtype, n) + 4;
}

// ------------------------------------------------------------------------------------------------------ encoding

export function encodeFrame(f: FrameInput): Uint8Array {
  const t = f.tensor;
  try { validateEncoded(t); } catch (e) {
    if (e instanceof CodecError) throw new FrameError('BAD_INPUT', `tensor: ${e.message}`);
    throw e;
  }
  if (!(f.digest instanceof Uint8Array) || f.digest.length !== DIGEST_BYTES) throw new FrameError('BAD_INPUT', `digest must be ${DIGEST_BYTES} bytes`);
  if (!Number.isInteger(f.splitLayer) || f.splitLayer < 0 || f.splitLayer > 0xffff) throw new FrameError('BAD_INPUT', `splitLayer must be an integer in 0..65535, got ${f.splitLayer}`);
  const rid = fromHex(f.requestId ?? newRequestId());
  if (!rid || rid.length !== REQUEST_ID_BYTES) throw new FrameError('BAD_INPUT', `requestId must be ${2 * REQUEST_ID_BYTES} hex characters`);

  const total = frameBytes(t.dtype, t.shape);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  out.set(FRAME_MAGIC, 0);
  dv.setUint16(4, FRAME_VERSION, true);
  out[6] = DTYPE_CODES[t.dtype];
  out[7] = t.shape.length;
  dv.setUint16(8, f.splitLayer, true);
  // bytes 10..11 reserved, zero
  out.set(rid, 12);
  out.set(f.digest, 28);
  let o = FRAME_HEADER_BYTES;
  for (const d of t.shape) { dv.setUint32(o, d, true); o += 4; }
  const p = t.params;
  if (p.kind === 'affine') {
    dv.setFloat32(o, p.scale, true);
    out[o + 4] = p.zeroPoint; // bytes o+5..o+7 reserved, zero
    o += 8;
  } else if (p.kind === 'per-channel') {
    for (let c = 0; c < p.scales.length; c++) { dv.setFloat32(o, p.scales[c], true); o += 4; }
    out.set(p.zeroPoints, o); o += p.zeroPoints.length;
  }
  dv.setUint32(o, t.payload.length, true); o += 4;
  out.set(t.payload, o); o += t.payload.length;
  dv.setUint32(o, crc32(out.subarray(0, o)), true);
  return out;
}

// ------------------------------------------------------------------------------------------------------ decoding

function checkLimits(limits: Partial<FrameLimits> | undefined): FrameLimits {
  const l = { ...DEFAULT_FRAME_LIMITS, ...(limits ?? {}) };
  for (const k of ['maxElements', 'maxBytes'] as const) {
    if (!Number.isSafeInteger(l[k]) || l[k] < 1) throw new FrameError('BAD_INPUT', `limit ${k} must be a positive integer`);
  }
  return l;
}

/**
 * From the first bytes of a frame (as they arrive), the total size its header announces, so that a receiver can
 * refuse an oversized frame before buffering or decoding it. Returns null while `prefix` is too short to tell, and
 * undefined when the prefix is not a well-formed frame start (decodeFrame on the whole body names the defect).
 * Throws FrameError TOO_LARGE when the announced elements or bytes pass `limits`, exactly as decodeFrame would.
 */
export function peekFrameSize(prefix: Uint8Array, limits?: Partial<FrameLimits>): number | null | undefined {
  const lim = checkLimits(limits);
  const len = prefix.length;
  for (let i = 0; i < 4 && i < len; i++) if (prefix[i] !== FRAME_MAGIC[i]) return undefined;
  if (len < FRAME_HEADER_BYTES) return null;
  const dv = new DataView(prefix.buffer, prefix.byteOffset, len);
  const dtype = DTYPE_BY_CODE[prefix[6]];
  const rank = prefix[7];
  if (dv.getUint16(4, true) !== FRAME_VERSION || !dtype || rank < 1 || rank > MAX_RANK) return undefined;
  if (len < FRAME_HEADER_BYTES + 4 * rank) return null;
  let n = 1;
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) {
    const d = dv.getUint32(FRAME_HEADER_BYTES + 4 * i, true);
    if (d === 0) return undefined;
    n *= d;
    if (n > lim.maxElements) throw new FrameError('TOO_LARGE', `tensor has more than ${lim.maxElements} elements`);
    shape.push(d);
  }
  const total = frameBytes(dtype, shape);
  if (total > lim.maxBytes) throw new FrameError('TOO_LARGE', `frame would be ${total} bytes, limit ${lim.maxBytes}`);
  return total;
}

/**
 * Parse and verify a frame. Throws FrameError on anything malformed; never allocates more than the frame's own
 * (limit-checked) parameter arrays. Check order: structure and sizes, then the CRC, then the values of reserved
 * fields and parameters (so a flipped bit reads CHECKSUM and a sender bug reads BAD_PARAMS / BAD_HEADER).
 */
export function decodeFrame(bytes: Uint8Array, limits?: Partial<FrameLimits>): Frame {
  const lim = checkLimits(limits);
  if (!(bytes instanceof Uint8Array)) throw new FrameError('BAD_INPUT', 'frame must be a Uint8Array');
  const len = bytes.length;
  if (len > lim.maxBytes) throw new FrameError('TOO_LARGE', `frame is ${len} bytes, limit ${lim.maxBytes}`);
  for (let i = 0; i < 4 && i < len; i++) {
    if (bytes[i] !== FRAME_MAGIC[i]) throw new FrameError('BAD_MAGIC', 'not a splitee frame (bad magic)');
  }
  if (len < FRAME_HEADER_BYTES) throw new FrameError('TRUNCATED', `frame is ${len} bytes, the fixed header alone is ${FRAME_HEADER_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const version = dv.getUint16(4, true);
  if (version !== FRAME_VERSION) throw new FrameError('BAD_VERSION', `frame version ${version}, this reader speaks ${FRAME_VERSION}`);
  const dtype = DTYPE_BY_CODE[bytes[6]];
  if (!dtype) throw new FrameError('BAD_DTYPE', `unknown dtype code ${bytes[6]}`);
  const rank = bytes[7];
  if (rank < 1 || rank > MAX_RANK) throw new FrameError('BAD_RANK', `rank ${rank}, must be 1..${MAX_RANK}`);
  let o = FRAME_HEADER_BYTES;
  if (len < o + 4 * rank) throw new FrameError('TRUNCATED', 'frame ends inside the shape');
  const shape: number[] = [];
  let n = 1;
  for (let i = 0; i < rank; i++, o += 4) {
    const d = dv.getUint32(o, true);
    if (d === 0) throw new FrameError('BAD_SHAPE', `dimension ${i} is 0`);
    n *= d; // every factor ≤ 2^32 and n ≤ maxElements ≤ 2^53 before it: exact
    if (n > lim.maxElements) throw new FrameError('TOO_LARGE', `tensor has more than ${lim.maxElements} elements`);
    shape.push(d);
  }
  const pBytes = paramsBytes(dtype, shape[0]);
  const want = payloadBytes(dtype, n);
  // What the dims announce, checked before the fields that follow them (as peekFrameSize does on a prefix).
  const announced = o + pBytes + 4 + want + 4;
  if (announced > lim.maxBytes) throw new FrameError('TOO_LARGE', `frame would be ${announced} bytes, limit ${lim.maxBytes}`);
  const paramsAt = o;
  o += pBytes;
  if (len < o + 4) throw new FrameError('TRUNCATED', 'frame ends inside the quantization parameters');
  const payloadLen = dv.getUint32(o, true);
  o += 4;
  if (payloadLen !== want) throw new FrameError('BAD_LENGTH', `payload length ${payloadLen}, ${dtype} × ${JSON.stringify(shape)} needs ${want}`);
  const total = o + payloadLen + 4;
  if (total > lim.maxBytes) throw new FrameError('TOO_LARGE', `frame would be ${total} bytes, limit ${lim.maxBytes}`);
  if (len < total) throw new FrameError('TRUNCATED', `frame is ${len} bytes, its fields need ${total}`);
  if (len > total) throw new FrameError('TRAILING', `${len - total} bytes after the CRC`);
  const crc = dv.getUint32(total - 4, true);
  if (crc32(bytes.subarray(0, total - 4)) !== crc) throw new FrameError('CHECKSUM', 'CRC-32 mismatch: the frame was corrupted');

  if (dv.getUint16(10, true) !== 0) throw new FrameError('BAD_HEADER', 'reserved header bytes 10..11 must be 0');
  let params: QuantParams = { kind: 'none' };
  if (dtype === 'int8' || dtype === 'int4') {
    const scale = dv.getFloat32(paramsAt, true);
    const zeroPoint = bytes[paramsAt + 4];
    const qmax = dtype === 'int8' ? 255 : 15;
    if (!(Number.isFinite(scale) && scale > 0)) throw new FrameError('BAD_PARAMS', `scale ${scale} must be finite and positive`);
    if (zeroPoint > qmax) throw new FrameError('BAD_PARAMS', `zero point ${zeroPoint} out of 0..${qmax}`);
    if (bytes[paramsAt + 5] | bytes[paramsAt + 6] | bytes[paramsAt + 7]) throw new FrameError('BAD_HEADER', 'reserved parameter bytes must be 0');
    params = { kind: 'affine', scale, zeroPoint };
  } else if (dtype === 'int8c') {
    const c = shape[0];
    const scales = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      const s = dv.getFloat32(paramsAt + 4 * i, true);
      if (!(Number.isFinite(s) && s > 0)) throw new FrameError('BAD_PARAMS', `channel ${i} scale ${s} must be finite and positive`);
      scales[i] = s;
    }
    params = { kind: 'per-channel', scales, zeroPoints: bytes.slice(paramsAt + 4 * c, paramsAt + 5 * c) };
  }
  const payload = bytes.subarray(o, o + payloadLen);
  if (dtype === 'int4' && (n & 1) && (payload[payloadLen - 1] & 0xf0) !== 0) throw new FrameError('BAD_PARAMS', 'int4 padding nibble must be 0');
  return {
    version,
    requestId: toHex(bytes.subarray(12, 28)),
    digest: bytes.slice(28, 60),
    splitLayer: dv.getUint16(8, true),
    tensor: { dtype, shape, params, payload },
  };
}

// ------------------------------------------------------------------------------------------------------ response

/** The cloud's answer to one frame. */
export interface CloudAnswer {
  label: number;
  probs: Float32Array;
  /** max(probs) at the last exit (C_L). */
  confidence: number;
  /** Layers the cloud ran: L − splitLayer. */
  layersRun: number;
  requestId: string;
}

/** JSON text of an answer (probs as a plain array of numbers). */
export function encodeResponse(a: CloudAnswer | (Omit<CloudAnswer, 'probs'> & { probs: ArrayLike<number> })): string {
  return JSON.stringify({ label: a.label, probs: Array.from(a.probs), confidence: a.confidence, layersRun: a.layersRun, requestId: a.requestId });
}

/**
 * Parse and check a cloud answer (JSON text or its UTF-8 bytes). `expect` pins the class count and the request id
 * the caller sent, so an answer to somebody else's request is refused.
 */
export function decodeResponse(body: string | Uint8Array, expect: { numClasses?: number; requestId?: string } = {}): CloudAnswer {
  const bad = (why: string): never => { throw new FrameError('BAD_RESPONSE', `cloud answer: ${why}`); };
  let v: unknown;
  try {
    v = JSON.parse(typeof body === 'string' ? body : new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch { return bad('not JSON'); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('not an object');
  const o = v as Record<string, unknown>;
  if (!Array.isArray(o.probs) || o.probs.length < 1) return bad('probs must be a non-empty array');
  const probs = new Float32Array(o.probs.length);
  for (let i = 0; i < probs.length; i++) {
    const p = o.probs[i];
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) return bad(`probs[${i}] is not a probability`);
    probs[i] = p;
  }
  if (expect.numClasses !== undefined && probs.length !== expect.numClasses) bad(`${probs.length} probs, expected ${expect.numClasses}`);
  if (!Number.isInteger(o.label) || (o.label as number) < 0 || (o.label as number) >= probs.length) bad('label out of range');
  if (typeof o.confidence !== 'number' || !(o.confidence >= 0 && o.confidence <= 1)) bad('confidence is not in [0, 1]');
  if (!Number.isInteger(o.layersRun) || (o.layersRun as number) < 0) bad('layersRun is not a non-negative integer');
  if (typeof o.requestId !== 'string' || !/^[0-9a-f]{32}$/.test(o.requestId)) bad('requestId is not 32 hex characters');
  if (expect.requestId !== undefined && o.requestId !== expect.requestId.toLowerCase()) bad('answer is for another request');
  return { label: o.label as number, probs, confidence: o.confidence as number, layersRun: o.layersRun as number, requestId: o.requestId as string };
}
