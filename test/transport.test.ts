// Activation codec and wire frame: numerical bounds against float64 references, byte layout, and one precise
// corruption per error code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as zlib from 'node:zlib';
import { rng, randn, type Rng } from './util.js';
import {
  CodecError, DTYPES, decode, encode, fromFloat16Bits, numElements, payloadBytes, toFloat16Bits, validateEncoded,
  type Dtype, type Encoded,
} from '../src/transport/codec.js';
import {
  DTYPE_CODES, FrameError, decodeFrame, decodeResponse, encodeFrame, encodeResponse, frameBytes, fromHex, newRequestId, toHex,
  type FrameErrorCode,
} from '../src/transport/frame.js';
import { crc32 } from '../src/util/crc32.js';

const SHAPES: number[][] = [
  [1], [2], [7], [255], [256], [1000], [2, 3], [3, 5, 7], [16, 14, 14], [64, 14, 14], [64, 128], [13, 1, 17],
  [1, 1, 1, 1, 1, 1, 1, 1], [2, 1, 3, 1, 2, 1, 1, 5], [9, 33], [1, 4097],
];

/** Data with the shapes activations really have: signed normals, ReLU outputs (many exact zeros), odd scales. */
function activation(r: Rng, n: number, kind: number): Float32Array {
  const scale = [1, 1e-3, 37, 1e-30, 1e30][kind % 5];
  const a = randn(r, n, scale);
  if (kind % 3 === 1) for (let i = 0; i < n; i++) a[i] = Math.max(0, a[i]);         // ReLU: ≥ 0, half zeros
  if (kind % 3 === 2) for (let i = 0; i < n; i++) a[i] = -Math.abs(a[i]) - scale;   // all negative, away from 0
  return a;
}

// ------------------------------------------------------------------------------------------- float64 references

function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
// Non-negative finite halves in increasing order (index = bits), with 2^16 standing in for +inf as the next step.
const POS_HALVES = Array.from({ length: 0x7c01 }, (_, h) => (h === 0x7c00 ? 65536 : halfValue(h)));

/** Round-to-nearest-even by search over the value table; -1 for NaN. */
function refToHalf(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00;
  let lo = 0, hi = 0x7c00; // POS_HALVES[lo] ≤ a < POS_HALVES[hi]
  while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (POS_HALVES[mid] <= a) lo = mid; else hi = mid; }
  const d0 = a - POS_HALVES[lo], d1 = POS_HALVES[hi] - a;
  const h = d0 < d1 ? lo : d1 < d0 ? hi : (lo % 2 === 0 ? lo : hi);
  return sign | h;
}

const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
const bitsToF32 = (b: number) => { u32[0] = b; return f32[0]; };
const isHalfNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

// -------------------------------------------------------------------------------------------------------- fp16

test('fp16: all 65,536 halves decode to the float64 formula and re-encode to themselves', () => {
  for (let h = 0; h < 65536; h++) {
    const v = fromFloat16Bits(h), want = halfValue(h);
    if (Number.isNaN(want)) { assert.ok(Number.isNaN(v), `h=${h}`); assert.ok(isHalfNaN(toFloat16Bits(v)), `NaN h=${h}`); continue; }
    assert.ok(Object.is(v, want), `decode ${h.toString(16)}: ${v} vs ${want}`);
    assert.is(toFloat16Bits(v), h, `re-encode ${h.toString(16)}`);
  }
});

test('fp16: ties to even, midpoints ± 1 ulp, subnormals, overflow, specials, random float32 bit patterns', () => {
  const probes: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    const mid = Math.fround((POS_HALVES[h] + POS_HALVES[h + 1]) / 2);
    assert.is(mid, (POS_HALVES[h] + POS_HALVES[h + 1]) / 2, 'midpoints are float32-exact');
    f32[0] = mid; const b = u32[0];
    probes.push(mid, bitsToF32(b + 1), bitsToF32(b - 1), -mid);
  }
  probes.push(0, -0, Infinity, -Infinity, NaN, 65504, 65519.99, 65520, 65536, 1e10, 2 ** -24, 2 ** -25, -(2 ** -25),
    2 ** -25 * 1.0000001, 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -24, 1e-40, -1e-45, 3.4028234663852886e38, 1 / 3);
  const r = rng(11);
  for (let i = 0; i < 200_000; i++) probes.push(bitsToF32(Math.floor(r.next() * 2 ** 32)));
  for (const p of probes) {
    const x = Math.fround(p), got = toFloat16Bits(x), want = refToHalf(x);
    if (want === -1) assert.ok(isHalfNaN(got), `NaN ${x}`);
    else if (got !== want) assert.unreachable(`toFloat16(${x}) = 0x${got.toString(16)}, want 0x${want.toString(16)}`);
  }
});

test('fp16 codec: decode(encode(x)) equals the reference rounding of every element, inf/NaN/−0 kept', () => {
  const r = rng(12);
  for (const shape of SHAPES) {
    const n = numElements(shape);
    const x = activation(r, n, n % 5);
    x[0] = -0; if (n > 3) { x[1] = Infinity; x[2] = NaN; x[3] = -70000; }
    const enc = encode(x, shape, 'fp16');
    assert.is(enc.payload.length, 2 * n);
    const y = decode(enc);
    for (let i = 0; i < n; i++) {
      const want = refToHalf(x[i]);
      const wantV = want === -1 ? NaN : halfValue(want);
      assert.ok(Object.is(y[i], wantV), `${shape}: ${i}: ${x[i]} → ${y[i]}, want ${wantV}`);
      if (want !== -1) assert.is(enc.payload[2 * i] | (enc.payload[2 * i + 1] << 8), want, 'little-endian bits');
    }
  }
});

// ---------------------------------------------------------------------------------------------- f32, int8, int4

test('f32: bit-exact round trip, including NaN payloads, ±inf and −0', () => {
  const r = rng(13);
  for (const shape of SHAPES) {
    const n = numElements(shape);
    const x = activation(r, n, n);
    x[0] = -0; if (n > 2) { x[1] = NaN; x[2] = -Infinity; }
    const enc = encode(x, shape, 'f32');
    assert.equal(enc.params, { kind: 'none' });
    const y = decode(enc);
    assert.equal(new Uint32Array(y.buffer), new Uint32Array(x.buffer));
    const dv = new DataView(enc.payload.buffer);
    for (let i = 0; i < Math.min(n, 8); i++) assert.ok(Object.is(dv.getFloat32(4 * i, true), x[i]), 'little-endian');
  }
});

/** Checks one affine block against its definition: levels, nearest level, ≤ scale/2, exact zero, sane params. */
function checkAffine(x: Float32Array, q: (i: number) => number, y: Float32Array, from: number, to: number, scale: number, zp: number, qmax: number, what: string) {
  let lo = 0, hi = 0;
  for (let i = from; i < to; i++) { lo = Math.min(lo, x[i]); hi = Math.max(hi, x[i]); }
  if (hi === lo) { assert.is(scale, 1, `${what}: zero block scale`); assert.is(zp, 0, `${what}: zero block zp`); }
  else {
    const ideal = (hi - lo) / qmax;
    assert.ok(scale >= ideal && scale <= Math.max(ideal * (1 + 2 ** -22), 1.1754943508222875e-38), `${what}: scale ${scale} vs ${ideal}`);
    assert.ok(Number.isInteger(zp) && zp >= 0 && zp <= qmax, `${what}: zero point ${zp}`);
    assert.ok(Math.abs(zp - -lo / scale) <= 0.5 + 1e-9, `${what}: zero point ${zp} vs ${-lo / scale}`);
  }
  for (let i = from; i < to; i++) {
    const qi = q(i);
    assert.ok(qi >= 0 && qi <= qmax, `${what}: q ${qi}`);
    assert.is(y[i], Math.fround((qi - zp) * scale), `${what}: element ${i} is not its level`);
    const t = x[i] / scale + zp;
    const clampT = Math.min(qmax, Math.max(0, t));
    assert.ok(Math.abs(qi - clampT) <= 0.5 + 1e-6, `${what}: element ${i}: q ${qi} is not the nearest level to ${t}`);
    const err = Math.abs(y[i] - x[i]);
    assert.ok(err <= scale * (0.5 + 1e-6) + 2 ** -23 * Math.abs(x[i]), `${what}: element ${i}: error ${err} > scale/2 = ${scale / 2}`);
    if (x[i] === 0) assert.is(y[i], 0, `${what}: zero must be exact`);
  }
}

test('int8 (per tensor): nearest level, error ≤ scale/2, zero exact, on many shapes and scales', () => {
  const r = rng(14);
  for (const shape of SHAPES) for (let kind = 0; kind < 6; kind++) {
    const n = numElements(shape);
    const x = activation(r, n, kind);
    const enc = encode(x, shape, 'int8');
    assert.is(enc.payload.length, n);
    assert.is(enc.params.kind, 'affine');
    const p = enc.params as { scale: number; zeroPoint: number };
    checkAffine(x, (i) => enc.payload[i], decode(enc), 0, n, p.scale, p.zeroPoint, 255, `int8 ${shape} kind ${kind}`);
  }
});

test('int8: degenerate tensors (all zero, constant positive/negative, single element, tiny subnormal range)', () => {
  for (const [vals, what] of [
    [[0, 0, 0, 0], 'zeros'], [[3.5, 3.5, 3.5], 'const +'], [[-2, -2], 'const −'], [[5], 'single'], [[-7], 'single −'],
    [[1e-45, -1e-45, 0], 'subnormal'], [[3e38, -3e38], 'near max'], [[-0, 0], 'signed zeros'],
  ] as [number[], string][]) {
    const x = new Float32Array(vals);
    for (const dt of ['int8', 'int4', 'int8c'] as Dtype[]) {
      const enc = encode(x, [x.length], dt);
      const y = decode(enc);
      if (dt === 'int8c') {
        const p = enc.params as { scales: Float32Array; zeroPoints: Uint8Array };
        for (let c = 0; c < x.length; c++) checkAffine(x, (i) => enc.payload[i], y, c, c + 1, p.scales[c], p.zeroPoints[c], 255, `${what} ${dt}`);
        // One element per channel sits on a level (a normal float32 range; the scale never drops below 2^-126).
        if (what !== 'subnormal') for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - x[i]) <= 2 ** -22 * Math.abs(x[i]), `${what}: one element per channel lands on its top level`);
      } else {
        const p = enc.params as { scale: number; zeroPoint: number };
        const qmax = dt === 'int8' ? 255 : 15;
        const q = dt === 'int8' ? (i: number) => enc.payload[i] : (i: number) => (enc.payload[i >> 1] >> (4 * (i & 1))) & 15;
        checkAffine(x, q, y, 0, x.length, p.scale, p.zeroPoint, qmax, `${what} ${dt}`);
      }
      for (const v of y) assert.ok(Number.isFinite(v), `${what} ${dt}: finite`);
    }
  }
  // Constant tensors are reproduced (the range [0, c] puts c on the last level).
  assert.is(decode(encode(new Float32Array([3.5, 3.5]), [2], 'int8'))[0], 3.5);
  assert.is(decode(encode(new Float32Array([-2, -2, -2]), [3], 'int4'))[2], -2);
});

test('int8c (per channel, axis 0): every channel its own affine block; beats per tensor on mixed-range channels', () => {
  const r = rng(15);
  for (const shape of SHAPES) {
    const n = numElements(shape), C = shape[0], inner = n / C;
    const x = activation(r, n, n);
    // Channels with wildly different ranges, some all-zero: what per-channel exists for.
    for (let c = 0; c < C; c++) for (let i = 0; i < inner; i++) x[c * inner + i] *= c % 4 === 3 ? 0 : 10 ** ((c % 5) - 2);
    const enc = encode(x, shape, 'int8c');
    assert.is(enc.params.kind, 'per-channel');
    const p = enc.params as { scales: Float32Array; zeroPoints: Uint8Array };
    assert.is(p.scales.length, C);
    const y = decode(enc);
    for (let c = 0; c < C; c++) checkAffine(x, (i) => enc.payload[i], y, c * inner, (c + 1) * inner, p.scales[c], p.zeroPoints[c], 255, `int8c ${shape} ch ${c}`);
    if (C >= 5 && inner >= 8) {
      // Summed relative error per channel: per tensor, the small channels drown in the big ones' scale.
      const yt = decode(encode(x, shape, 'int8'));
      let ec = 0, et = 0;
      for (let c = 0; c < C; c++) {
        let nc = 0, sc = 0, st = 0;
        for (let i = c * inner; i < (c + 1) * inner; i++) { nc += x[i] ** 2; sc += (y[i] - x[i]) ** 2; st += (yt[i] - x[i]) ** 2; }
        if (nc > 0) { ec += sc / nc; et += st / nc; }
      }
      assert.ok(ec < et / 100, `${shape}: per-channel relative error ${ec} should be far below per-tensor ${et}`);
    }
  }
});

test('int4: two values per byte (low nibble first), zero padding nibble, error ≤ scale/2', () => {
  const r = rng(16);
  for (const shape of SHAPES) for (let kind = 0; kind < 3; kind++) {
    const n = numElements(shape);
    const x = activation(r, n, kind);
    const enc = encode(x, shape, 'int4');
    assert.is(enc.payload.length, Math.ceil(n / 2));
    if (n & 1) assert.is(enc.payload[n >> 1] >> 4, 0, 'padding nibble');
    const p = enc.params as { scale: number; zeroPoint: number };
    checkAffine(x, (i) => (enc.payload[i >> 1] >> (4 * (i & 1))) & 15, decode(enc), 0, n, p.scale, p.zeroPoint, 15, `int4 ${shape} kind ${kind}`);
  }
});

test('codec errors: non-finite data for integer codecs, wrong lengths, bad shapes, unknown dtype, inconsistent Encoded', () => {
  const code = (f: () => unknown, c: string) => {
    try { f(); } catch (e) { assert.instance(e, CodecError); assert.is((e as CodecError).code, c, (e as Error).message); return; }
    assert.unreachable(`expected CodecError ${c}`);
  };
  for (const dt of ['int8', 'int8c', 'int4'] as Dtype[]) {
    code(() => encode(new Float32Array([1, NaN, 2]), [3], dt), 'NON_FINITE');
    code(() => encode(new Float32Array([1, 2, Infinity]), [3], dt), 'NON_FINITE');
    code(() => encode(new Float32Array([-Infinity]), [1], dt), 'NON_FINITE');
  }
  code(() => encode(new Float32Array(6), [2, 4], 'f32'), 'BAD_LENGTH');
  code(() => encode(new Float32Array(0), [0], 'int8'), 'BAD_SHAPE');
  code(() => encode(new Float32Array(1), [], 'int8'), 'BAD_SHAPE');
  code(() => encode(new Float32Array(1), [1, 1, 1, 1, 1, 1, 1, 1, 1], 'int8'), 'BAD_SHAPE');
  code(() => encode(new Float32Array(2), [1.5, 2], 'int8'), 'BAD_SHAPE');
  code(() => encode(new Float32Array(2), [2], 'int2' as Dtype), 'BAD_DTYPE');
  const good = encode(new Float32Array([1, -2, 3]), [3], 'int8');
  code(() => decode({ ...good, payload: good.payload.subarray(1) }), 'BAD_LENGTH');
  code(() => decode({ ...good, params: { kind: 'affine', scale: NaN, zeroPoint: 0 } }), 'BAD_PARAMS');
  code(() => decode({ ...good, params: { kind: 'affine', scale: 0.1, zeroPoint: 256 } }), 'BAD_PARAMS');
  code(() => decode({ ...good, params: { kind: 'affine', scale: 0.1, zeroPoint: 0 }, dtype: 'int4' as Dtype }), 'BAD_LENGTH');
  code(() => decode({ ...good, params: { kind: 'none' } }), 'BAD_PARAMS');
  code(() => decode(good, new Float32Array(2)), 'BAD_LENGTH');
  const c = encode(new Float32Array([1, 2, 3, 4]), [2, 2], 'int8c');
  code(() => decode({ ...c, params: { kind: 'per-channel', scales: new Float32Array([1, -1]), zeroPoints: new Uint8Array(2) } }), 'BAD_PARAMS');
  code(() => decode({ ...c, params: { kind: 'per-channel', scales: new Float32Array([1]), zeroPoints: new Uint8Array(1) } }), 'BAD_PARAMS');
  // decode into a caller buffer
  const out = new Float32Array(3);
  assert.is(decode(good, out), out);
  assert.is(payloadBytes('int4', 7), 4);
});

// ------------------------------------------------------------------------------------------------------- frame

const digestOf = (r: Rng) => Uint8Array.from({ length: 32 }, () => r.int(0, 256));

function sampleFrame(r: Rng, dtype: Dtype, shape: number[]) {
  const x = activation(r, numElements(shape), r.int(0, 6));
  return { x, input: { digest: digestOf(r), splitLayer: r.int(0, 65536), tensor: encode(x, shape, dtype), requestId: newRequestId() } };
}

/** Recompute the trailing CRC after a deliberate corruption, so the check under test is the one that fires. */
function reCrc(b: Uint8Array): Uint8Array {
  new DataView(b.buffer, b.byteOffset).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
  return b;
}

function expectFrameError(bytes: Uint8Array, code: FrameErrorCode, what: string, limits?: Parameters<typeof decodeFrame>[1]) {
  try { decodeFrame(bytes, limits); } catch (e) {
    assert.instance(e, FrameError, what);
    assert.is((e as FrameError).code, code, `${what}: ${(e as Error).message}`);
    return;
  }
  assert.unreachable(`${what}: expected FrameError ${code}`);
}

test('frame: round trip for every dtype and shape; exact size; re-encoding gives identical bytes', () => {
  const r = rng(21);
  for (const dtype of DTYPES) for (const shape of SHAPES) {
    const { input } = sampleFrame(r, dtype, shape);
    const bytes = encodeFrame(input);
    assert.is(bytes.length, frameBytes(dtype, shape));
    const f = decodeFrame(bytes);
    assert.is(f.version, 1);
    assert.is(f.requestId, input.requestId);
    assert.equal(f.digest, input.digest);
    assert.is(f.splitLayer, input.splitLayer);
    assert.is(f.tensor.dtype, dtype);
    assert.equal(f.tensor.shape, shape);
    assert.equal(f.tensor.payload, input.tensor.payload);
    const a = decode(f.tensor), b = decode(input.tensor);
    assert.equal(new Uint32Array(a.buffer), new Uint32Array(b.buffer), `${dtype} ${shape}: decoded tensors`);
    assert.equal(encodeFrame({ ...f, tensor: f.tensor }), bytes, `${dtype} ${shape}: re-encode`);
  }
  // A frame inside a larger buffer at an odd offset decodes the same (servers hand us Buffer slices).
  const { input } = sampleFrame(r, 'f32', [3, 5]);
  const bytes = encodeFrame(input);
  const host = new Uint8Array(bytes.length + 7);
  host.set(bytes, 3);
  const f = decodeFrame(host.subarray(3, 3 + bytes.length));
  assert.equal(decode(f.tensor), decode(input.tensor));
});

test('frame: byte layout matches docs/TRANSPORT.md field by field', () => {
  const tensor = encode(new Float32Array([0, 1, -1, 2, 0.5, -3]), [2, 3], 'int8');
  const digest = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i);
  const requestId = '00112233445566778899aabbccddeeff';
  const b = encodeFrame({ digest, splitLayer: 0x0203, tensor, requestId });
  const dv = new DataView(b.buffer);
  assert.equal(Array.from(b.subarray(0, 4)), [0x53, 0x50, 0x58, 0x46]);
  assert.is(dv.getUint16(4, true), 1);
  assert.is(b[6], 3); assert.is(DTYPE_CODES.int8, 3);
  assert.is(b[7], 2);
  assert.equal(Array.from(b.subarray(8, 12)), [0x03, 0x02, 0, 0]);
  assert.is(toHex(b.subarray(12, 28)), requestId);
  assert.equal(b.subarray(28, 60), digest);
  assert.is(dv.getUint32(60, true), 2); assert.is(dv.getUint32(64, true), 3);
  const p = tensor.params as { scale: number; zeroPoint: number };
  assert.is(dv.getFloat32(68, true), p.scale);
  assert.equal(Array.from(b.subarray(72, 76)), [p.zeroPoint, 0, 0, 0]);
  assert.is(dv.getUint32(76, true), 6);
  assert.equal(b.subarray(80, 86), tensor.payload);
  assert.is(b.length, 90);
  // The CRC is zlib's: a Python writer using zlib.crc32 agrees bit for bit.
  const zcrc = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  const want = zcrc ? zcrc(b.subarray(0, 86)) : crc32(b.subarray(0, 86));
  assert.is(dv.getUint32(86, true), want >>> 0);
  // int8c params: C f32 scales then C zero points; fp16 / f32 have none.
  const c = encodeFrame({ digest, splitLayer: 1, tensor: encode(new Float32Array([1, 2, -3, 4, 5, 6]), [3, 2], 'int8c'), requestId });
  assert.is(c.length, 60 + 8 + 15 + 4 + 6 + 4);
  assert.is(new DataView(c.buffer).getUint32(60 + 8 + 15, true), 6);
  assert.is(encodeFrame({ digest, splitLayer: 1, tensor: encode(new Float32Array(5), [5], 'fp16'), requestId }).length, 60 + 4 + 4 + 10 + 4);
  assert.is(encodeFrame({ digest, splitLayer: 1, tensor: encode(new Float32Array(5), [5], 'int4'), requestId }).length, 60 + 4 + 8 + 4 + 3 + 4);
});

test('frame: every error code from one precise corruption', () => {
  const r = rng(22);
  const base = (dtype: Dtype = 'int8', shape = [4, 5]) => encodeFrame(sampleFrame(r, dtype, shape).input);
  const edit = (b: Uint8Array, f: (b: Uint8Array, dv: DataView) => void, crc = true) => {
    const c = b.slice(); f(c, new DataView(c.buffer)); return crc ? reCrc(c) : c;
  };
  const b = base(); // rank 2: dims at 60..67, affine params 68..75, payload length 76, payload 80..99, CRC 100..103
  assert.is(b.length, 104);
  expectFrameError(b.subarray(0, 0), 'TRUNCATED', 'empty');
  for (const cut of [3, 4, 30, 59, 60, 63, 67, 70, 79, 80, 99, 100, 103]) expectFrameError(b.subarray(0, cut), 'TRUNCATED', `cut at ${cut}`);
  expectFrameError(edit(b, (c) => { c[0] = 0x54; }), 'BAD_MAGIC', 'magic');
  expectFrameError(new TextEncoder().encode('{"hello": "json"}'), 'BAD_MAGIC', 'json body');
  expectFrameError(new Uint8Array([0x53, 0x50, 0x59]), 'BAD_MAGIC', 'short wrong magic');
  expectFrameError(edit(b, (_, dv) => dv.setUint16(4, 2, true)), 'BAD_VERSION', 'version 2');
  expectFrameError(edit(b, (_, dv) => dv.setUint16(4, 0, true)), 'BAD_VERSION', 'version 0');
  for (const d of [0, 6, 255]) expectFrameError(edit(b, (c) => { c[6] = d; }), 'BAD_DTYPE', `dtype ${d}`);
  expectFrameError(edit(b, (c) => { c[7] = 0; }), 'BAD_RANK', 'rank 0');
  expectFrameError(edit(b, (c) => { c[7] = 9; }), 'BAD_RANK', 'rank 9');
  expectFrameError(edit(b, (_, dv) => dv.setUint32(64, 0, true)), 'BAD_SHAPE', 'zero dim');
  expectFrameError(edit(b, (_, dv) => { dv.setUint32(60, 0xffffffff, true); dv.setUint32(64, 0xffffffff, true); }), 'TOO_LARGE', 'dims 2^32−1 × 2^32−1');
  expectFrameError(b, 'TOO_LARGE', 'element limit', { maxElements: 19 });
  expectFrameError(b, 'TOO_LARGE', 'byte limit', { maxBytes: 103 });
  decodeFrame(b, { maxElements: 20, maxBytes: 104 }); // exactly at the limits: fine
  // A tiny frame announcing a big (but element-legal) payload: TOO_LARGE by bytes before anything is read.
  expectFrameError(edit(b, (_, dv) => { dv.setUint32(60, 1 << 12, true); dv.setUint32(64, 1 << 12, true); dv.setUint32(76, 1 << 24, true); }), 'TOO_LARGE', 'announced 16 MiB', { maxBytes: 1 << 20 });
  expectFrameError(edit(b, (_, dv) => dv.setUint32(76, 21, true)), 'BAD_LENGTH', 'payload length + 1');
  expectFrameError(edit(b, (_, dv) => dv.setUint32(76, 19, true)), 'BAD_LENGTH', 'payload length − 1');
  expectFrameError(edit(b, (_, dv) => dv.setUint32(76, 0xffffffff, true)), 'BAD_LENGTH', 'payload length 2^32−1');
  const longer = new Uint8Array(b.length + 1); longer.set(b);
  expectFrameError(longer, 'TRAILING', 'one extra byte');
  expectFrameError(edit(b, (c) => { c[85] ^= 0x10; }, false), 'CHECKSUM', 'payload bit flip');
  expectFrameError(edit(b, (c) => { c[101] ^= 1; }, false), 'CHECKSUM', 'CRC bit flip');
  expectFrameError(edit(b, (c) => { c[20] ^= 1; }, false), 'CHECKSUM', 'request id bit flip');
  expectFrameError(edit(b, (c) => { c[10] = 1; }), 'BAD_HEADER', 'reserved header byte');
  expectFrameError(edit(b, (c) => { c[73] = 1; }), 'BAD_HEADER', 'reserved parameter byte');
  for (const s of [NaN, Infinity, -Infinity, 0, -0, -0.5]) expectFrameError(edit(b, (_, dv) => dv.setFloat32(68, s, true)), 'BAD_PARAMS', `scale ${s}`);
  const i4 = base('int4', [3, 3]); // 9 values: 5 payload bytes, last high nibble is padding
  expectFrameError(edit(i4, (c) => { c[72] = 16; }), 'BAD_PARAMS', 'int4 zero point 16');
  expectFrameError(edit(i4, (c) => { c[i4.length - 5] |= 0x30; }), 'BAD_PARAMS', 'int4 padding nibble');
  const pc = base('int8c', [3, 4]); // scales at 68..79, zero points 80..82
  expectFrameError(edit(pc, (_, dv) => dv.setFloat32(72, NaN, true)), 'BAD_PARAMS', 'int8c NaN scale');
  expectFrameError(edit(pc, (_, dv) => dv.setFloat32(76, -1, true)), 'BAD_PARAMS', 'int8c negative scale');
  expectFrameError('not bytes' as unknown as Uint8Array, 'BAD_INPUT', 'string');
  // Encoding refuses what it could not write faithfully.
  const ok = sampleFrame(r, 'int8', [2, 2]).input;
  const encErr = (f: () => unknown, what: string) => {
    try { f(); } catch (e) { assert.instance(e, FrameError); assert.is((e as FrameError).code, 'BAD_INPUT', what); return; }
    assert.unreachable(what);
  };
  encErr(() => encodeFrame({ ...ok, digest: new Uint8Array(31) }), 'short digest');
  encErr(() => encodeFrame({ ...ok, splitLayer: 65536 }), 'split layer 65536');
  encErr(() => encodeFrame({ ...ok, splitLayer: 1.5 }), 'split layer 1.5');
  encErr(() => encodeFrame({ ...ok, requestId: 'xyz' }), 'request id');
  encErr(() => encodeFrame({ ...ok, tensor: { ...ok.tensor, payload: new Uint8Array(3) } }), 'payload length');
  encErr(() => encodeFrame({ ...ok, tensor: { ...ok.tensor, shape: [2, 0] } }), 'zero dim');
});

test('response: JSON round trip and strict checks', () => {
  const requestId = newRequestId();
  assert.match(requestId, /^[0-9a-f]{32}$/);
  assert.is.not(requestId, newRequestId());
  assert.equal(fromHex(requestId)!.length, 16);
  assert.is(fromHex('abc'), null);
  const probs = new Float32Array([0.25, 0.7, 0.05]);
  const text = encodeResponse({ label: 1, probs, confidence: probs[1], layersRun: 3, requestId });
  const a = decodeResponse(text, { numClasses: 3, requestId });
  assert.equal(a.probs, probs);
  assert.is(a.label, 1); assert.is(a.confidence, probs[1]); assert.is(a.layersRun, 3); assert.is(a.requestId, requestId);
  assert.equal(decodeResponse(new TextEncoder().encode(text)).probs, probs);
  const obj = JSON.parse(text);
  const bad = (v: unknown, what: string, expect = {}) => {
    try { decodeResponse(typeof v === 'string' ? v : JSON.stringify(v), expect); } catch (e) {
      assert.instance(e, FrameError); assert.is((e as FrameError).code, 'BAD_RESPONSE', what); return;
    }
    assert.unreachable(what);
  };
  bad('not json', 'not JSON');
  bad([1, 2], 'array');
  bad(null, 'null');
  bad({ ...obj, probs: [] }, 'empty probs');
  bad({ ...obj, probs: [0.5, '0.5'] }, 'string prob');
  bad({ ...obj, probs: [1.5, 0] }, 'prob > 1');
  bad({ ...obj, label: 3 }, 'label out of range');
  bad({ ...obj, label: 0.5 }, 'fractional label');
  bad({ ...obj, confidence: 2 }, 'confidence');
  bad({ ...obj, layersRun: -1 }, 'layersRun');
  bad({ ...obj, requestId: 'zz' }, 'request id format');
  bad(obj, 'class count', { numClasses: 4 });
  bad(obj, 'other request', { requestId: newRequestId() });
  try { decodeResponse(new Uint8Array([0xff, 0xfe])); assert.unreachable('bad UTF-8'); } catch (e) { assert.instance(e, FrameError); }
});

test('validateEncoded accepts exactly what encode produces', () => {
  const r = rng(23);
  for (const dt of DTYPES) for (const shape of SHAPES.slice(0, 8)) {
    const enc: Encoded = encode(activation(r, numElements(shape), 1), shape, dt);
    assert.is(validateEncoded(enc), numElements(shape));
  }
});

test.run();
