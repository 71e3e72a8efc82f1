// Activation codec: what crosses a split point is one float32 tensor; the codec trades its bytes for precision.
//
//   f32    4 bytes/element, exact.
//   fp16   2 bytes/element, IEEE binary16 with round-to-nearest-even (subnormals, ±inf and NaN kept).
//   int8   1 byte/element, affine per tensor: value = (q − zeroPoint) × scale, q an unsigned byte (the default).
//   int8c  1 byte/element, affine per channel along axis 0 (one scale and zero point per index of dim 0).
//   int4   ½ byte/element, affine per tensor, q in 0..15, element 2i in the low nibble of byte i, 2i+1 in the high.
//
// Affine ranges always include 0 so that 0 (ReLU's favourite output, and padding) is reproduced exactly, and the
// worst-case error of any in-range element is scale/2. Little-endian bytes throughout (f32 and fp16 payloads).
// Core module: no Node imports.

export type Dtype = 'f32' | 'fp16' | 'int8' | 'int8c' | 'int4';
export const DTYPES: readonly Dtype[] = ['f32', 'fp16', 'int8', 'int8c', 'int4'];

export type QuantParams =
  | { kind: 'none' }
  /** value = (q − zeroPoint) × scale; scale a finite positive float32. */
  | { kind: 'affine'; scale: number; zeroPoint: number }
  /** Per index c of axis 0: value = (q − zeroPoints[c]) × scales[c]. */
  | { kind: 'per-channel'; scales: Float32Array; zeroPoints: Uint8Array };

export interface Encoded {
  dtype: Dtype;
  shape: number[];
  params: QuantParams;
  payload: Uint8Array;
}

export class CodecError extends Error {
  constructor(public code: 'BAD_SHAPE' | 'BAD_DTYPE' | 'NON_FINITE' | 'BAD_PARAMS' | 'BAD_LENGTH', message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

export const MAX_RANK = 8;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Number of elements of `shape`; throws on anything that is not a rank 1..8 list of positive safe integers. */
export function numElements(shape: readonly number[]): number {
  if (!Array.isArray(shape) || shape.length < 1 || shape.length > MAX_RANK) {
    throw new CodecError('BAD_SHAPE', `shape must have rank 1..${MAX_RANK}, got ${JSON.stringify(shape)}`);
  }
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 1 || d > 0xffffffff) throw new CodecError('BAD_SHAPE', `bad dimension ${d} in shape ${JSON.stringify(shape)}`);
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) throw new CodecError('BAD_SHAPE', `shape ${JSON.stringify(shape)} is too large`);
  }
  return n;
}

/** Payload bytes for `n` elements of `dtype`. */
export function payloadBytes(dtype: Dtype, n: number): number {
  switch (dtype) {
    case 'f32': return 4 * n;
    case 'fp16': return 2 * n;
    case 'int8': case 'int8c': return n;
    case 'int4': return Math.ceil(n / 2);
    default: throw new CodecError('BAD_DTYPE', `unknown dtype '${dtype as string}'`);
  }
}

// ---------------------------------------------------------------------------------------------- float16 <-> float32

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of the float32 bit pattern `b`, round-to-nearest-even. */
function f32BitsToF16(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const a = b & 0x7fffffff;
  if (a >= 0x38800000) { // |x| ≥ 2^-14: a normal half, or overflow / inf / NaN
    if (a >= 0x47800000) { // |x| ≥ 2^16
      // Keep NaN a NaN (quiet bit set so a payload that lived only in the low bits cannot turn it into inf).
      return a > 0x7f800000 ? sign | 0x7e00 | ((a >>> 13) & 0x3ff) : sign | 0x7c00;
    }
    // Rebias the exponent (127 → 15) and round to nearest even in one add: 0xfff is just under half an ulp, and
    // the kept LSB tips exact ties upward when odd. A carry out of the mantissa bumps the exponent, and one out of
    // exponent 30 (|x| ≥ 65520) lands exactly on inf: both correct.
    return sign | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13);
  }
  const mant = a & 0x7fffff;
  const e = (a >>> 23) - 112; // ≤ 0 here: the half is subnormal or zero
  if (e < -10) return sign; // below half the smallest subnormal (2^-25): rounds to ±0
  // Subnormal result: the units are 2^-24, value = (mant | implicit 1) × 2^(e − 14 − 10) … shifted right by 14 − e.
  const m = mant | 0x800000;
  const shift = 14 - e; // 14..24
  let q = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (q & 1) !== 0)) q++; // q reaching 0x400 is the smallest normal: correct
  return sign | q;
}

/** float32 value of the binary16 bits `h` (exact: every half is a float32). */
function f16ToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 (every half subnormal is a float32 normal).
  let e = 113, m = mant;
  while ((m & 0x400) === 0) { m <<= 1; e--; }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}

let F16_TABLE: Float32Array | null = null;
/** All 65,536 halves as float32, built on first use (256 KiB): decoding becomes one load per element. */
function f16Table(): Float32Array {
  if (!F16_TABLE) {
    const bits = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = f16ToF32Bits(h);
    F16_TABLE = new Float32Array(bits.buffer);
  }
  return F16_TABLE;
}

/** binary16 bits of `x` (rounded to float32 first, then to half with round-to-nearest-even). */
export function toFloat16Bits(x: number): number {
  f32Scratch[0] = x;
  return f32BitsToF16(u32Scratch[0]);
}

/** The value of binary16 bits `h`. */
export function fromFloat16Bits(h: number): number {
  return f16Table()[h & 0xffff];
}

// ------------------------------------------------------------------------------------------------ affine parameters

const MIN_NORMAL_F32 = 1.1754943508222875e-38;

/** Smallest float32 ≥ x (x positive, finite). */
function f32Up(x: number): number {
  f32Scratch[0] = x;
  if (f32Scratch[0] < x) u32Scratch[0]++;
  return f32Scratch[0];
}

/**
 * Affine parameters for values in [lo, hi] mapped onto 0..qmax, with 0 representable exactly. The scale is a
 * float32 rounded up (so qmax steps cover the range) and never below the smallest normal float32 (so 1/scale is
 * finite); a constant-zero range gets scale 1 and zero point 0.
 */
function affineParams(lo: number, hi: number, qmax: number): { scale: number; zeroPoint: number } {
  if (lo > 0) lo = 0;
  if (hi < 0) hi = 0;
  if (hi === lo) return { scale: 1, zeroPoint: 0 };
  const scale = Math.max(f32Up((hi - lo) / qmax), MIN_NORMAL_F32);
  let zeroPoint = Math.round(-lo / scale);
  if (zeroPoint < 0) zeroPoint = 0; else if (zeroPoint > qmax) zeroPoint = qmax;
  return { scale, zeroPoint };
}

function minMax(data: Float32Array, from: number, to: number): { lo: number; hi: number } {
  // Four independent lanes and selects instead of branches: about twice as fast as the obvious loop in V8.
  let l0 = Infinity, l1 = Infinity, l2 = Infinity, l3 = Infinity;
  let h0 = -Infinity, h1 = -Infinity, h2 = -Infinity, h3 = -Infinity;
  let poison = 0; // v·0 is NaN for a NaN or an infinity, which the comparisons would let slip by
  let i = from;
  for (const end = to - 3; i < end; i += 4) {
    const a = data[i], b = data[i + 1], c = data[i + 2], d = data[i + 3];
    l0 = a < l0 ? a : l0; h0 = a > h0 ? a : h0;
    l1 = b < l1 ? b : l1; h1 = b > h1 ? b : h1;
    l2 = c < l2 ? c : l2; h2 = c > h2 ? c : h2;
    l3 = d < l3 ? d : l3; h3 = d > h3 ? d : h3;
    poison += a * 0 + b * 0 + c * 0 + d * 0;
  }
  for (; i < to; i++) { const a = data[i]; l0 = a < l0 ? a : l0; h0 = a > h0 ? a : h0; poison += a * 0; }
  const lo = Math.min(l0, l1, l2, l3), hi = Math.max(h0, h1, h2, h3);
  if (poison !== 0) {
    // Scan again so the message names the culprit.
    for (let i = from; i < to; i++) if (!Number.isFinite(data[i])) throw new CodecError('NON_FINITE', `element ${i} is ${data[i]}: integer codecs need finite values (use f32 or fp16)`);
  }
  return { lo, hi };
}

function validScale(s: number): boolean {
  return Number.isFinite(s) && s > 0 && Math.fround(s) === s;
}

// -------------------------------------------------------------------------------------------------------- encoding

/** Quantize data[from..to) into out[from..to) as bytes (0..255) with a Uint8ClampedArray: clamps and rounds half to even in one store. */
function quantizeU8(data: Float32Array, from: number, to: number, out: Uint8ClampedArray, scale: number, zeroPoint: number): void {
  const inv = 1 / scale;
  for (let i = from; i < to; i++) out[i] = data[i] * inv + zeroPoint;
}

/**
 * Encode a float32 tensor. `shape` is the logical shape (rank 1..8, positive dims) and must match data.length.
 * The integer dtypes need finite data (CodecError NON_FINITE otherwise); f32 and fp16 carry inf and NaN.
 */
export function encode(data: Float32Array, shape: readonly number[], dtype: Dtype = 'int8'): Encoded {
  const n = numElements(shape);
  if (!(data instanceof Float32Array)) throw new CodecError('BAD_LENGTH', 'data must be a Float32Array');
  if (data.length !== n) throw new CodecError('BAD_LENGTH', `data has ${data.length} elements, shape ${JSON.stringify(shape)} needs ${n}`);
  const shp = shape.slice();
  switch (dtype) {
    case 'f32': {
      const payload = new Uint8Array(4 * n);
      if (LITTLE_ENDIAN) payload.set(new Uint8Array(data.buffer, data.byteOffset, 4 * n));
      else { const dv = new DataView(payload.buffer); for (let i = 0; i < n; i++) dv.setFloat32(4 * i, data[i], true); }
      return { dtype, shape: shp, params: { kind: 'none' }, payload };
    }
    case 'fp16': {
      const payload = new Uint8Array(2 * n);
      const bits = new Uint32Array(data.buffer, data.byteOffset, n);
      if (LITTLE_ENDIAN) {
        const out = new Uint16Array(payload.buffer);
        for (let i = 0; i < n; i++) out[i] = f32BitsToF16(bits[i]);
      } else {
        for (let i = 0; i < n; i++) { const h = f32BitsToF16(bits[i]); payload[2 * i] = h & 0xff; payload[2 * i + 1] = h >>> 8; }
      }
      return { dtype, shape: shp, params: { kind: 'none' }, payload };
    }
    case 'int8': {
      const { lo, hi } = minMax(data, 0, n);
      const { scale, zeroPoint } = affineParams(lo, hi, 255);
      const payload = new Uint8Array(n);
      quantizeU8(data, 0, n, new Uint8ClampedArray(payload.buffer), scale, zeroPoint);
      return { dtype, shape: shp, params: { kind: 'affine', scale, zeroPoint }, payload };
    }
    case 'int8c': {
      const channels = shp[0], inner = n / channels;
      const scales = new Float32Array(channels), zeroPoints = new Uint8Array(channels);
      const payload = new Uint8Array(n);
      const clamped = new Uint8ClampedArray(payload.buffer);
      for (let c = 0; c < channels; c++) {
        const from = c * inner, to = from + inner;
        const { lo, hi } = minMax(data, from, to);
        const { scale, zeroPoint } = affineParams(lo, hi, 255);
        scales[c] = scale; zeroPoints[c] = zeroPoint;
        quantizeU8(data, from, to, clamped, scale, zeroPoint);
      }
      return { dtype, shape: shp, params: { kind: 'per-channel', scales, zeroPoints }, payload };
    }
    case 'int4': {
      const { lo, hi } = minMax(data, 0, n);
      const { scale, zeroPoint } = affineParams(lo, hi, 15);
      const inv = 1 / scale;
      const payload = new Uint8Array((n + 1) >>> 1);
      const q = (v: number) => {
        // floor(t + 0.5) after clamping to [0, 15]: round half up, never out of the nibble.
        let t = v * inv + zeroPoint + 0.5;
        t = t < 0 ? 0 : t > 15 ? 15 : t;
        return t | 0;
      };
      const pairs = n >>> 1;
      for (let i = 0; i < pairs; i++) payload[i] = q(data[2 * i]) | (q(data[2 * i + 1]) << 4);
      if (n & 1) payload[pairs] = q(data[n - 1]);
      return { dtype, shape: shp, params: { kind: 'affine', scale, zeroPoint }, payload };
    }
    default:
      throw new CodecError('BAD_DTYPE', `unknown dtype '${dtype as string}'`);
  }
}

// -------------------------------------------------------------------------------------------------------- decoding

/** Throws CodecError unless `enc` is self-consistent (dtype known, payload length and params fit the shape). */
export function validateEncoded(enc: Encoded): number {
  const n = numElements(enc.shape);
  const want = payloadBytes(enc.dtype, n);
  if (!(enc.payload instanceof Uint8Array) || enc.payload.length !== want) {
    throw new CodecError('BAD_LENGTH', `${enc.dtype} payload for ${n} elements must be ${want} bytes, got ${enc.payload?.length}`);
  }
  const p = enc.params;
  switch (enc.dtype) {
    case 'f32': case 'fp16':
      if (p.kind !== 'none') throw new CodecError('BAD_PARAMS', `${enc.dtype} takes no quantization parameters`);
      break;
    case 'int8': case 'int4': {
      const qmax = enc.dtype === 'int8' ? 255 : 15;
      if (p.kind !== 'affine' || !validScale(p.scale) || !Number.isInteger(p.zeroPoint) || p.zeroPoint < 0 || p.zeroPoint > qmax) {
        throw new CodecError('BAD_PARAMS', `${enc.dtype} needs a finite positive float32 scale and a zero point in 0..${qmax}`);
      }
      if (enc.dtype === 'int4' && (n & 1) && (enc.payload[n >>> 1] & 0xf0) !== 0) {
        throw new CodecError('BAD_PARAMS', 'int4 padding nibble must be 0');
      }
      break;
    }
    case 'int8c': {
      if (p.kind !== 'per-channel' || !(p.scales instanceof Float32Array) || !(p.zeroPoints instanceof Uint8Array) ||
          p.scales.length !== enc.shape[0] || p.zeroPoints.length !== enc.shape[0]) {
        throw new CodecError('BAD_PARAMS', `int8c needs ${enc.shape[0]} scales and zero points (one per index of axis 0)`);
      }
      for (let c = 0; c < p.scales.length; c++) {
        if (!validScale(p.scales[c])) throw new CodecError('BAD_PARAMS', `int8c scale ${c} is ${p.scales[c]}: must be finite and positive`);
      }
      break;
    }
    default:
      throw new CodecError('BAD_DTYPE', `unknown dtype '${enc.dtype as string}'`);
  }
  return n;
}

/** Decode to float32. `out`, when given, must have exactly the element count and is returned. */
export function decode(enc: Encoded, out?: Float32Array): Float32Array {
  const n = validateEncoded(enc);
  if (out && out.length !== n) throw new CodecError('BAD_LENGTH', `out has ${out.length} elements, the tensor ${n}`);
  const res = out ?? new Float32Array(n);
  const src = enc.payload;
  const p = enc.params;
  switch (enc.dtype) {
    case 'f32':
      if (LITTLE_ENDIAN) new Uint8Array(res.buffer, res.byteOffset, 4 * n).set(src); // byte copy: src may be unaligned
      else { const dv = new DataView(src.buffer, src.byteOffset, src.length); for (let i = 0; i < n; i++) res[i] = dv.getFloat32(4 * i, true); }
      break;
    case 'fp16': {
      const t = f16Table();
      if (LITTLE_ENDIAN && (src.byteOffset & 1) === 0) {
        const h = new Uint16Array(src.buffer, src.byteOffset, n);
        for (let i = 0; i < n; i++) res[i] = t[h[i]];
      } else {
        for (let i = 0; i < n; i++) res[i] = t[src[2 * i] | (src[2 * i + 1] << 8)];
      }
      break;
    }
    case 'int8': {
      const { scale, zeroPoint } = p as { scale: number; zeroPoint: number };
      // 256-entry table: one load per element, and each level is computed exactly the same way everywhere.
      const lut = new Float32Array(256);
      for (let q = 0; q < 256; q++) lut[q] = (q - zeroPoint) * scale;
      for (let i = 0; i < n; i++) res[i] = lut[src[i]];
      break;
    }
    case 'int8c': {
      const { scales, zeroPoints } = p as { scales: Float32Array; zeroPoints: Uint8Array };
      const channels = enc.shape[0], inner = n / channels;
      for (let c = 0; c < channels; c++) {
        const s = scales[c], z = zeroPoints[c];
        for (let i = c * inner, end = i + inner; i < end; i++) res[i] = (src[i] - z) * s;
      }
      break;
    }
    case 'int4': {
      const { scale, zeroPoint } = p as { scale: number; zeroPoint: number };
      // One table entry per byte = two output values.
      const lut = new Float32Array(16);
      for (let q = 0; q < 16; q++) lut[q] = (q - zeroPoint) * scale;
      const pairs = n >>> 1;
      for (let i = 0; i < pairs; i++) { const b = src[i]; res[2 * i] = lut[b & 15]; res[2 * i + 1] = lut[b >>> 4]; }
      if (n & 1) res[n - 1] = lut[src[pairs] & 15];
      break;
    }
  }
  return res;
}
