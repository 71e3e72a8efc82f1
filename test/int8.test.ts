// The int8 kernels (linear_q8, conv2d_q8, attention_q8, embed_q8 and their packing) against float64 references, and
// the host's weight quantization (src/engine/int8-weights.ts).
//
// Weights are given as int8 codes with per-channel scales, so the reference computes exactly with the dequantized
// weights (q · scale, in float64) and the unquantized activations. What remains is the documented activation
// quantization (int16 codes, one scale per row of a linear, one per tensor of a conv: s = max|x| / qmax) and f32
// rounding, so every output is held to a bound derived from them:
//   |y − ref| ≤ s · (½ + ε_q) · Σ_k |w_k|  +  2⁻²⁰ · (Σ_k |x_k w_k| + |b|)
// where ε_q covers computing x/s in f32. The bound is tight enough that a wrong scale, bias or weight layout breaks
// it (checked below by running the kernels on deliberately wrong weights), and it is not vacuous: on large random
// cases the worst error is a sizeable fraction of it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { useWasmKernels, wasmRelaxedSimdSupported } from '../src/wasm/runtime.js';
import { parseSpx, writeSpx, type Quant } from '../src/format/index.js';
import { int8Rows, quantizeRows } from '../src/engine/int8-weights.js';
import { kernelHarness } from './kernel-harness.js';
import { convOutSize, refActivation, refConv2d, refLinear, type RefAct } from './reference/gemm-conv-pool.js';
import { rng, randn, type Rng } from './util.js';

// The kernels are tested in the plain SIMD build here and in the relaxed-SIMD build (f32x4.relaxed_madd in the
// GELU and softmax the int8 kernels share) by this same file in a child process (the last test).
const BUILD = process.env.SPLITEE_INT8_TEST_BUILD === 'relaxed' ? 'relaxed' : 'simd';
useWasmKernels(BUILD);
const h = kernelHarness(test, { guard: 8, sentinel: -5555.5 });

test(`the ${BUILD} kernel build is the one under test`, () => {
  assert.is(h.kern.build, BUILD);
});

const ACT_CODE: Record<RefAct, number> = { none: 0, relu: 1, relu6: 2, gelu: 3 };
const ACTS: RefAct[] = ['none', 'relu', 'relu6', 'gelu'];
const EPS_F32 = 2 ** -24;
/** f32 rounding allowance relative to Σ|x·w| + |b| (an int32 → f32 conversion, two products and a sum). */
const F32_SLACK = 2 ** -20;

const evenUp = (k: number) => k + (k & 1);
/** The activation code range for a dot product over K terms (docs/KERNELS.md): no int32 lane can overflow. */
const qmaxFor = (K: number) => Math.max(1, Math.min(32767, Math.floor((2 ** 31 - 1) / (evenUp(K) * 128))));
/** Largest |x/s − q| in steps of s: ½ from rounding, and f32 in computing x·(qmax/max|x|) and dequantizing. */
const stepErr = (qmax: number) => 0.5 + 3 * qmax * EPS_F32;

/** The same for rows already on their quantization grid (gridRows): only f32 in the scale remains. */
const gridErr = (qmax: number) => 4 * qmax * EPS_F32;

/**
 * Rows whose values are integer multiples of their own quantization step (max|x_m| / qmax, one value at ±qmax
 * steps, up to f32 rounding): quantizing them loses nothing but that rounding, so what remains of the int8 path's
 * error is a later stage's own activation quantization (attention's second projection).
 */
function gridRows(r: Rng, M: number, K: number): Float32Array {
  const qmax = qmaxFor(K);
  const x = new Float32Array(M * K);
  for (let m = 0; m < M; m++) {
    const step = Math.fround(10 ** r.uniform(-0.5, 0.5) / qmax);
    for (let k = 0; k < K; k++) x[m * K + k] = Math.max(-qmax, Math.min(qmax, Math.round(r.normal() * qmax / 3))) * step;
    x[m * K + r.int(0, K)] = (r.next() < 0.5 ? -qmax : qmax) * step;
  }
  return x;
}

/** int8 codes [rows, cols]: uniform in [−127, 127], with −128 and 127 in every row to reach the extremes. */
function randomQ8(r: Rng, rows: number, cols: number): Int8Array {
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < q.length; i++) q[i] = r.int(-127, 128);
  for (let n = 0; n < rows; n++) {
    q[n * cols + r.int(0, cols)] = -128;
    q[n * cols + r.int(0, cols)] = 127;
  }
  return q;
}

/** Per-channel scales giving weights of roughly unit-variance outputs; every 7th channel gets scale 0. */
function randomScales(r: Rng, n: number, K: number, zeroEvery = 7): Float32Array {
  const s = new Float32Array(n);
  for (let i = 0; i < n; i++) s[i] = i % zeroEvery === zeroEvery - 1 ? 0 : (0.3 + 1.4 * r.next()) / (127 * Math.sqrt(K / 3));
  return s;
}

/**
 * Activation rows of very different magnitudes (10⁻³ … 10³), one row all zeros (the zero-scale path) when there
 * are at least three, and one with a single large outlier (every other value then falls on a coarse grid).
 */
function randomRows(r: Rng, M: number, K: number, decades = 3, outlier = 1000): Float32Array {
  const x = randn(r, M * K);
  for (let m = 0; m < M; m++) {
    const mag = 10 ** r.uniform(-decades, decades);
    for (let k = 0; k < K; k++) x[m * K + k] *= mag;
  }
  if (M >= 3) x.fill(0, K, 2 * K);
  if (M >= 4 && K > 1) x[3 * K + r.int(0, K)] *= outlier;
  return x;
}

const f32Ptr = (a: ArrayLike<number>) => h.kern.putF32(a);

function putI8(a: Int8Array | ArrayLike<number>): number {
  const p = h.kern.alloc(a.length + 16);
  h.kern.i8(p, a.length).set(a);
  return p;
}

/** `bytes` of scratch (or packed space) filled with garbage, with 64 sentinel bytes after it. */
function fenced(bytes: number, fill: number): { ptr: number; check(what: string): void } {
  const { kern } = h;
  const ptr = kern.alloc(bytes + 64);
  kern.u8(ptr, bytes).fill(fill);
  kern.u8(ptr + bytes, 64).fill(0xa5);
  return { ptr, check: (what) => assert.ok(kern.u8(ptr + bytes, 64).every((v) => v === 0xa5), `${what}: wrote past its ${bytes} bytes`) };
}

function padScales(s: Float32Array, m: number): Float32Array {
  const out = new Float32Array(Math.ceil(s.length / m) * m);
  out.set(s);
  return out;
}

function packLinear(wq: Int8Array, K: number, N: number): number {
  const E = h.kern.exports;
  const bytes = E.linear_q8_packed_bytes(K, N);
  assert.ok(bytes >= K * N, `linear_q8_packed_bytes(${K}, ${N}) = ${bytes} < K·N`);
  const packed = fenced(bytes, 0x3c);
  E.linear_q8_pack(putI8(wq), packed.ptr, K, N);
  packed.check(`linear_q8_pack K=${K} N=${N}`);
  return packed.ptr;
}

/** linear_q8 on NaN-poisoned surroundings, garbage scratch; returns out [M, N]. */
function runLinear(x: Float32Array, wq: Int8Array, ws: Float32Array, b: Float32Array | null, M: number, K: number,
  N: number, act: RefAct): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const E = kern.exports;
    const px = h.putPoisoned(x);
    const packed = packLinear(wq, K, N);
    const pws = f32Ptr(padScales(ws, 8));
    const pb = b ? h.putPoisoned(b) : 0;
    const out = h.guarded(M * N);
    const sBytes = E.linear_q8_scratch_bytes(M, K);
    const scratch = fenced(sBytes, 0x7f);
    E.linear_q8(px, packed, pws, pb, out.ptr, M, K, N, ACT_CODE[act], scratch.ptr);
    scratch.check(`linear_q8 M=${M} K=${K} N=${N}`);
    assert.equal(kern.f32(px, x.length), x, 'x untouched');
    return out.read(`linear_q8 M=${M} K=${K} N=${N}`);
  });
}

interface Checked {
  /** Largest |y − ref| / bound over the outputs. */
  worst: number;
  /** Indices whose error exceeds the bound (at most 5), with what they were. */
  bad: string[];
  outputs: number;
}

/**
 * Compares outputs against (ref, bound) pairs; `pre` is the pre-activation bound (the activation applied after it
 * is 1-Lipschitz except GELU, ≤ 1.13, whose kernel is also accurate to 1e-5 relative).
 */
function compare(got: Float32Array, ref: Float64Array, preBound: Float64Array, act: RefAct): Checked {
  let worst = 0;
  const bad: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const bound = act === 'gelu' ? 1.13 * preBound[i] + 1e-5 * Math.abs(ref[i]) + 1e-30 : preBound[i] + 1e-30;
    const err = Math.abs(got[i] - ref[i]);
    if (!(err <= bound)) { if (bad.length < 5) bad.push(`[${i}] got ${got[i]}, expected ${ref[i]} ± ${bound}`); }
    worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / bound);
  }
  return { worst, bad, outputs: ref.length };
}

/**
 * Float64 linear with the quantization bound of every output (before the activation), and the activated output: the
 * reference linear on the dequantized weights, and on |x| against |w| for Σ|x·w|.
 */
function refLinearQ8(x: ArrayLike<number>, wq: Int8Array, ws: Float32Array, b: ArrayLike<number> | null, M: number,
  K: number, N: number, act: RefAct, onGrid = false): { ref: Float64Array; bound: Float64Array } {
  const qmax = qmaxFor(K);
  const step = onGrid ? gridErr(qmax) : stepErr(qmax);
  const w = Float64Array.from(wq, (q, i) => q * ws[Math.floor(i / K)]);
  const absW = w.map(Math.abs);
  const ref = refLinear(x, w, b, M, K, N, act);
  const sumXW = refLinear(Float64Array.from(x, Math.abs), absW, null, M, K, N, 'none');
  const sumW = new Float64Array(N);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) sumW[n] += absW[n * K + k];
  const bound = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(x[m * K + k]));
    const s = amax / qmax;
    for (let n = 0; n < N; n++) bound[m * N + n] = s * step * sumW[n] + F32_SLACK * (sumXW[m * N + n] + Math.abs(b ? b[n] : 0));
  }
  return { ref, bound };
}

// M = 1..9 (every row remainder of the 4-row tile) and larger; K odd, even, 1, and past 512 (qmax below 32767);
// N below, at and past multiples of 8 (the column panels).
const LINEAR_SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 2, 3], [2, 3, 5], [3, 7, 8], [4, 8, 9], [5, 15, 16], [6, 16, 17], [7, 17, 7], [8, 33, 31], [9, 64, 33],
  [1, 100, 10], [2, 255, 2], [3, 256, 64], [5, 513, 12], [4, 1000, 9], [1, 4099, 3], [9, 37, 70], [17, 45, 23],
  [33, 64, 65], [64, 128, 40], [6, 1, 13], [9, 2, 1], [7, 300, 8], [12, 784, 17],
];

/** Cases whose worst error must reach this share of the bound: a correct kernel's rounding errors do. */
const TIGHT = 0.01;

test('linear_q8: every shape, activation and bias choice within the quantization bound', () => {
  const r = rng(801);
  const failures: string[] = [];
  let tightest = Infinity, cases = 0;
  for (const [i, [M, K, N]] of LINEAR_SHAPES.entries()) {
    const act = ACTS[i % 4];
    const wq = randomQ8(r, N, K);
    const ws = randomScales(r, N, K);
    const b = i % 3 === 2 ? null : randn(r, N, 0.5);
    const x = randomRows(r, M, K);
    const got = runLinear(x, wq, ws, b, M, K, N, act);
    const { ref, bound } = refLinearQ8(x, wq, ws, b, M, K, N, act);
    const c = compare(got, ref, bound, act);
    const what = `M=${M} K=${K} N=${N} act=${act} bias=${b !== null}`;
    if (c.bad.length) failures.push(`${what}: ${c.bad.join('; ')}`);
    // the all-zero row gives exactly act(b) (its scale is 0, so no 0/0)
    if (M >= 3) for (let n = 0; n < N; n++) {
      const e = Math.fround(refActivation(b ? b[n] : 0, act));
      if (act !== 'gelu' && got[N + n] !== e) failures.push(`${what}: zero row, column ${n}: ${got[N + n]} ≠ act(b) = ${e}`);
    }
    if (M * N >= 64 && K >= 8) { tightest = Math.min(tightest, c.worst); cases++; }
  }
  assert.equal(failures, []);
  assert.ok(cases >= 8 && tightest >= TIGHT, `the bound is vacuous: on some large case the worst error is only ${tightest} of it`);
});

test('linear_q8: no int32 overflow at the extremes (all codes ±qmax against ±128 weights)', () => {
  for (const K of [1, 2, 511, 512, 513, 1024, 3000, 4099, 16385]) {
    for (const sign of [1, -1]) {
      const M = 2, N = 9;
      const wq = new Int8Array(N * K).fill(-128);
      for (let k = 0; k < K; k += 2) wq[K + k] = 127; // row 1 alternates: 127, −128
      const ws = new Float32Array(N).fill(1 / (128 * K));
      const x = new Float32Array(M * K).fill(sign * 3.5);
      const got = runLinear(x, wq, ws, null, M, K, N, 'none');
      const { ref, bound } = refLinearQ8(x, wq, ws, null, M, K, N, 'none');
      const c = compare(got, ref, bound, 'none');
      assert.equal(c.bad, [], `K=${K} sign=${sign}`);
    }
  }
});

test('linear_q8: wrong scales, bias or weight layout break the bound (the check can fail)', () => {
  const r = rng(802);
  const M = 5, K = 24, N = 24;
  const wq = randomQ8(r, N, K);
  const ws = randomScales(r, N, K, 1000);
  const b = randn(r, N, 0.5);
  const x = randomRows(r, M, K);
  const { ref, bound } = refLinearQ8(x, wq, ws, b, M, K, N, 'none');
  assert.equal(compare(runLinear(x, wq, ws, b, M, K, N, 'none'), ref, bound, 'none').bad, [], 'the correct call');
  const wsOff = ws.slice(); wsOff[13] *= 1.002;
  const wsShift = ws.slice(); wsShift.copyWithin(0, 1);
  const bShift = b.slice(); bShift.copyWithin(0, 1);
  const bSmall = b.slice(); bSmall[22] += 1e-3;
  const wT = new Int8Array(N * K);
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = wq[n * K + k];
  const wOne = wq.slice(); wOne[7 * K + 5] += wOne[7 * K + 5] === 127 ? -1 : 1;
  const wrong: [string, Float32Array][] = [
    ['one scale 0.2 % off', runLinear(x, wq, wsOff, b, M, K, N, 'none')],
    ['scales shifted by one channel', runLinear(x, wq, wsShift, b, M, K, N, 'none')],
    ['bias shifted by one channel', runLinear(x, wq, ws, bShift, M, K, N, 'none')],
    ['one bias 1e-3 off', runLinear(x, wq, ws, bSmall, M, K, N, 'none')],
    ['weights transposed', runLinear(x, wT, ws, b, M, K, N, 'none')],
    ['one weight code off by one', runLinear(x, wOne, ws, b, M, K, N, 'none')],
  ];
  for (const [what, got] of wrong) assert.ok(compare(got, ref, bound, 'none').bad.length > 0, `${what} passed the check`);
});

// ---------------------------------------------------------------------------------------------------------------
// conv2d_q8


/**
 * Float64 conv (groups 1) with per-output bounds; only in-image taps count (padding is exactly zero): the reference
 * conv on the dequantized weights, and on |x| and an all-ones image against |w| for Σ|x·w| and Σ|w| per output.
 */
function refConvQ8(x: ArrayLike<number>, wq: Int8Array, ws: Float32Array, b: ArrayLike<number> | null,
  [C, H, W, OC, KH, KW, stride, pad]: number[], act: RefAct): { ref: Float64Array; bound: Float64Array } {
  const qmax = qmaxFor(C * KH * KW);
  let amax = 0;
  for (let i = 0; i < C * H * W; i++) amax = Math.max(amax, Math.abs(x[i]));
  const s = amax / qmax;
  const inner = C * KH * KW;
  const w = Float64Array.from(wq, (q, i) => q * ws[Math.floor(i / inner)]);
  const absW = w.map(Math.abs);
  const ref = refConv2d(x, w, b, C, H, W, OC, KH, KW, stride, pad, 1, act);
  const sumW = refConv2d(new Float64Array(C * H * W).fill(1), absW, null, C, H, W, OC, KH, KW, stride, pad, 1, 'none');
  const sumXW = refConv2d(Float64Array.from(x, Math.abs), absW, null, C, H, W, OC, KH, KW, stride, pad, 1, 'none');
  const P = ref.length / OC;
  const bound = sumW.map((sw, o) => s * stepErr(qmax) * sw + F32_SLACK * (sumXW[o] + Math.abs(b ? b[Math.floor(o / P)] : 0)));
  return { ref, bound };
}

function runConv(x: Float32Array, wq: Int8Array, ws: Float32Array, b: Float32Array | null, shape: number[], act: RefAct): Float32Array {
  const [C, H, W, OC, KH, KW, stride, pad] = shape;
  return h.scoped(() => {
    const { kern } = h;
    const E = kern.exports;
    const what = `conv2d_q8 [${shape}]`;
    const px = h.putPoisoned(x);
    const bytes = E.conv2d_q8_packed_bytes(C, OC, KH, KW);
    assert.ok(bytes >= OC * C * KH * KW, `${what}: packed bytes ${bytes}`);
    const packed = fenced(bytes, 0x3c);
    E.conv2d_q8_pack(putI8(wq), packed.ptr, C, OC, KH, KW);
    packed.check(`${what} pack`);
    const pws = f32Ptr(padScales(ws, 4));
    const pb = b ? h.putPoisoned(b) : 0;
    const P = convOutSize(H, KH, stride, pad) * convOutSize(W, KW, stride, pad);
    const out = h.guarded(OC * P);
    const sBytes = E.conv2d_q8_scratch_bytes(C, H, W, OC, KH, KW, stride, pad);
    const scratch = fenced(sBytes, 0x7f);
    E.conv2d_q8(px, packed.ptr, pws, pb, out.ptr, C, H, W, OC, KH, KW, stride, pad, ACT_CODE[act], scratch.ptr);
    scratch.check(what);
    assert.equal(kern.f32(px, x.length), x, `${what}: x untouched`);
    return out.read(what);
  });
}

/** An input [C, H, W] whose channels differ in magnitude by up to 10² (one scale for the whole tensor). */
function randomImage(r: Rng, C: number, H: number, W: number): Float32Array {
  const x = randn(r, C * H * W);
  for (let c = 0; c < C; c++) {
    const mag = 10 ** r.uniform(-1, 1);
    for (let i = c * H * W; i < (c + 1) * H * W; i++) x[i] *= mag;
  }
  return x;
}

// C, H, W, OC, KH, KW, stride, pad
const CONV_SHAPES: number[][] = [
  // 1×1, stride 1, no padding: the direct path (odd C pairs its last channel with a zero row; P not a multiple of 8)
  [16, 7, 7, 33, 1, 1, 1, 0], [3, 5, 5, 5, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 0], [7, 20, 20, 6, 1, 1, 1, 0],
  [5, 17, 19, 9, 1, 1, 1, 0], [64, 7, 7, 16, 1, 1, 1, 0], [32, 3, 3, 7, 1, 1, 1, 0],
  // 1×1 strided or padded: im2col
  [4, 9, 9, 5, 1, 1, 2, 0], [3, 6, 7, 4, 1, 1, 1, 1],
  // 3×3: output positions past one 256-position chunk (784, 272, 529), just under it (255), strides 1 and 2, pads 0–2
  [1, 28, 28, 8, 3, 3, 1, 1], [8, 14, 14, 16, 3, 3, 2, 1], [3, 13, 11, 5, 3, 3, 2, 1], [5, 19, 17, 7, 3, 3, 1, 0],
  [2, 17, 16, 3, 3, 3, 1, 1], [6, 23, 23, 10, 3, 3, 1, 1], [3, 9, 9, 4, 3, 3, 1, 2], [2, 33, 31, 6, 3, 3, 2, 2],
  // KH ≠ KW, 5×5, 7×7
  [5, 6, 8, 7, 2, 3, 1, 0], [4, 11, 9, 5, 1, 5, 1, 2], [3, 17, 15, 4, 5, 3, 2, 1], [2, 12, 30, 3, 3, 1, 1, 1],
  [2, 5, 5, 3, 5, 5, 1, 0], [3, 17, 15, 4, 7, 7, 3, 3],
  // C·KH·KW past 512 (qmax below 32767), odd
  [64, 6, 6, 5, 3, 3, 1, 1], [57, 5, 7, 9, 3, 3, 1, 1],
];

test('conv2d_q8: every path and shape within the quantization bound', () => {
  const r = rng(811);
  const failures: string[] = [];
  let tightest = Infinity, cases = 0;
  for (const [i, shape] of CONV_SHAPES.entries()) {
    const [C, H, W, OC, KH, KW] = shape;
    const act = ACTS[i % 4];
    const K = C * KH * KW;
    const wq = randomQ8(r, OC, K);
    const ws = randomScales(r, OC, K);
    const b = i % 3 === 1 ? null : randn(r, OC, 0.5);
    const x = randomImage(r, C, H, W);
    const got = runConv(x, wq, ws, b, shape, act);
    const { ref, bound } = refConvQ8(x, wq, ws, b, shape, act);
    const c = compare(got, ref, bound, act);
    if (c.bad.length) failures.push(`[${shape}] act=${act} bias=${b !== null}: ${c.bad.join('; ')}`);
    if (c.outputs >= 64 && K >= 8) { tightest = Math.min(tightest, c.worst); cases++; }
  }
  assert.equal(failures, []);
  assert.ok(cases >= 8 && tightest >= TIGHT, `the bound is vacuous: on some large case the worst error is only ${tightest} of it`);
});

test('conv2d_q8: an all-zero input gives act(b) exactly on both paths', () => {
  const r = rng(812);
  for (const shape of [[3, 5, 5, 5, 1, 1, 1, 0], [3, 13, 11, 5, 3, 3, 2, 1]]) {
    const [C, H, W, OC, KH, KW, stride, pad] = shape;
    const K = C * KH * KW;
    const b = randn(r, OC);
    for (const act of ['none', 'relu', 'relu6'] as RefAct[]) {
      const got = runConv(new Float32Array(C * H * W), randomQ8(r, OC, K), randomScales(r, OC, K), b, shape, act);
      const P = convOutSize(H, KH, stride, pad) * convOutSize(W, KW, stride, pad);
      for (let i = 0; i < got.length; i++) {
        assert.is(got[i], Math.fround(refActivation(b[Math.floor(i / P)], act)), `[${shape}] ${act} output ${i}`);
      }
    }
  }
});

test('conv2d_q8: wrong scales, bias or weight layout break the bound (the check can fail)', () => {
  const r = rng(813);
  for (const shape of [[6, 9, 9, 8, 1, 1, 1, 0], [4, 18, 17, 8, 3, 3, 1, 1]]) {
    const [C, H, W, OC, KH, KW] = shape;
    const K = C * KH * KW;
    const wq = randomQ8(r, OC, K);
    const ws = randomScales(r, OC, K, 1000);
    const b = randn(r, OC, 0.5);
    const x = randomImage(r, C, H, W);
    const { ref, bound } = refConvQ8(x, wq, ws, b, shape, 'none');
    assert.equal(compare(runConv(x, wq, ws, b, shape, 'none'), ref, bound, 'none').bad, [], `[${shape}] the correct call`);
    const wsOff = ws.slice(); wsOff[5] *= 1.002;
    const bShift = b.slice(); bShift.copyWithin(0, 1);
    // the weight with its taps in [C, KW, KH] order (transposed kernel window) or its channels swapped
    const wT = new Int8Array(wq.length);
    for (let oc = 0; oc < OC; oc++) for (let c = 0; c < C; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      wT[((oc * C + c) * KH + kh) * KW + kw] = KH === 1 ? wq[((oc * C + (C - 1 - c)) * KH + kh) * KW + kw] : wq[((oc * C + c) * KW + kw) * KH + kh];
    }
    const wOne = wq.slice(); wOne[3 * K + K - 1] += wOne[3 * K + K - 1] === 127 ? -1 : 1;
    const wrong: [string, Float32Array][] = [
      ['one scale 0.2 % off', runConv(x, wq, wsOff, b, shape, 'none')],
      ['bias shifted by one channel', runConv(x, wq, ws, bShift, shape, 'none')],
      ['taps transposed / channels reversed', runConv(x, wT, ws, b, shape, 'none')],
      ['the last weight code of a channel off by one', runConv(x, wOne, ws, b, shape, 'none')],
    ];
    for (const [what, got] of wrong) assert.ok(compare(got, ref, bound, 'none').bad.length > 0, `[${shape}] ${what} passed the check`);
  }
});

// ---------------------------------------------------------------------------------------------------------------
// attention_q8

interface AttnWeights { wqkv: Int8Array; sqkv: Float32Array; bqkv: Float32Array; wo: Int8Array; so: Float32Array; bo: Float32Array }

function attnWeights(r: Rng, D: number): AttnWeights {
  return {
    wqkv: randomQ8(r, 3 * D, D), sqkv: randomScales(r, 3 * D, D, 1000), bqkv: randn(r, 3 * D, 0.1),
    wo: randomQ8(r, D, D), so: randomScales(r, D, D, 1000), bo: randn(r, D, 0.1),
  };
}

function runAttention(x: Float32Array, T: number, D: number, heads: number, w: AttnWeights, mask: Uint8Array | null,
  window: number): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const E = kern.exports;
    const what = `attention_q8 T=${T} D=${D} heads=${heads} window=${window}`;
    const px = h.putPoisoned(x);
    const pq = packLinear(w.wqkv, D, 3 * D), po = packLinear(w.wo, D, D);
    const psq = f32Ptr(padScales(w.sqkv, 8)), pso = f32Ptr(padScales(w.so, 8));
    const pbq = f32Ptr(w.bqkv), pbo = f32Ptr(w.bo);
    let pm = 0;
    if (mask) { pm = kern.alloc(T, 1); kern.u8(pm, T).set(mask); }
    const out = h.guarded(T * D);
    const sBytes = E.attention_q8_scratch_bytes(T, D, heads);
    const scratch = fenced(sBytes, 0x7f);
    E.attention_q8(px, T, D, heads, pq, psq, pbq, po, pso, pbo, pm, window, out.ptr, scratch.ptr);
    scratch.check(what);
    assert.equal(kern.f32(px, x.length), x, `${what}: x untouched`);
    return out.read(what);
  });
}

/**
 * Float64 attention with the dequantized weights, and a bound on every output propagated through it: the q/k/v
 * errors of the first projection (linear_q8's bound per element), the scores they move (by at most Δ per query),
 * the softmax (each probability within a factor e^{±2Δ}), the context, and the second projection's own activation
 * quantization on the perturbed context. f32 rounding of the float path gets 2⁻²⁰ of each sum's magnitude.
 */
function refAttentionQ8(x: Float32Array, T: number, D: number, heads: number, w: AttnWeights, mask: Uint8Array | null,
  window: number, onGrid = false): { ref: Float64Array; bound: Float64Array } {
  const { ref: qkv, bound: e1 } = refLinearQ8(x, w.wqkv, w.sqkv, w.bqkv, T, D, 3 * D, 'none', onGrid);
  const dh = D / heads;
  const visible = (i: number, j: number) => (mask === null || mask[j] !== 0) && (window <= 0 || Math.abs(i - j) <= window);
  const ctx = new Float64Array(T * D), ectx = new Float64Array(T * D);
  const p = new Float64Array(T), ds = new Float64Array(T);
  for (let hd = 0; hd < heads; hd++) {
    for (let i = 0; i < T; i++) {
      let m = -Infinity, delta = 0;
      for (let j = 0; j < T; j++) {
        if (!visible(i, j)) continue;
        let s = 0, d = 0, mag = 0;
        for (let e = 0; e < dh; e++) {
          const qi = i * 3 * D + hd * dh + e, kj = j * 3 * D + D + hd * dh + e;
          s += qkv[qi] * qkv[kj];
          d += Math.abs(qkv[qi]) * e1[kj] + e1[qi] * Math.abs(qkv[kj]) + e1[qi] * e1[kj];
          mag += Math.abs(qkv[qi] * qkv[kj]);
        }
        p[j] = s / Math.sqrt(dh);
        ds[j] = (d + F32_SLACK * mag) / Math.sqrt(dh);
        m = Math.max(m, p[j]);
        delta = Math.max(delta, ds[j]);
      }
      // the f32 softmax (exp polynomial, sum, division) is good to a few ulps: fold it into the score error
      delta += 1e-6;
      let sum = 0;
      for (let j = 0; j < T; j++) { p[j] = visible(i, j) ? Math.exp(p[j] - m) : 0; sum += p[j]; }
      const grow = Math.exp(2 * delta);
      for (let e = 0; e < dh; e++) {
        let c = 0, spread = 0, ev = 0;
        for (let j = 0; j < T; j++) {
          if (!p[j]) continue;
          const vj = j * 3 * D + 2 * D + hd * dh + e;
          const pj = p[j] / sum;
          c += pj * qkv[vj];
          spread += pj * Math.abs(qkv[vj]);
          ev += pj * e1[vj];
        }
        ctx[i * D + hd * dh + e] = c;
        ectx[i * D + hd * dh + e] = (grow - 1) * spread + grow * ev + F32_SLACK * spread;
      }
    }
  }
  const qmax = qmaxFor(D);
  const ref = new Float64Array(T * D), bound = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    let amax = 0;
    for (let k = 0; k < D; k++) amax = Math.max(amax, Math.abs(ctx[t * D + k]) + ectx[t * D + k]);
    const s = amax / qmax;
    for (let n = 0; n < D; n++) {
      let acc = w.bo[n], absW = 0, prop = 0, absXW = 0;
      for (let k = 0; k < D; k++) {
        const wv = w.wo[n * D + k] * w.so[n];
        acc += ctx[t * D + k] * wv;
        absW += Math.abs(wv);
        prop += ectx[t * D + k] * Math.abs(wv);
        absXW += (Math.abs(ctx[t * D + k]) + ectx[t * D + k]) * Math.abs(wv);
      }
      ref[t * D + n] = acc;
      bound[t * D + n] = prop + s * stepErr(qmax) * absW + F32_SLACK * (absXW + Math.abs(w.bo[n]));
    }
  }
  return { ref, bound };
}

test('attention_q8: heads 1/2/4, odd T, windows and masks within the propagated quantization bound', () => {
  const r = rng(821);
  const failures: string[] = [];
  let tightest = Infinity, cases = 0;
  const shapes: [number, number, number][] = [[1, 4, 1], [2, 8, 2], [5, 12, 4], [7, 8, 1], [17, 36, 4], [33, 64, 2], [9, 64, 4], [3, 20, 2], [33, 16, 1]];
  for (const [si, [T, D, heads]] of shapes.entries()) {
    const w = attnWeights(r, D);
    // rows of the scale a layernorm gives (a softmax over scores of 10⁶ is an argmax, and so is its error bound)
    const x = randomRows(r, T, D, 0.5, 10);
    const xg = gridRows(r, T, D);
    // windows: none, 1, 2, 3, T − 1 (= none) and past T; a random key mask on some
    for (const window of [...new Set([0, 1, 2, 3, T - 1, T + 5])]) {
      let mask: Uint8Array | null = null;
      if ((si + window) % 3 === 0 && T > 1) {
        mask = Uint8Array.from({ length: T }, () => (r.next() < 0.6 ? 1 : 0));
        mask[r.int(0, T)] = 1;
      }
      for (const [input, onGrid] of [[x, false], [xg, true]] as const) {
        const got = runAttention(input, T, D, heads, w, mask, window);
        const { ref, bound } = refAttentionQ8(input, T, D, heads, w, mask, window, onGrid);
        const c = compare(got, ref, bound, 'none');
        if (c.bad.length) failures.push(`T=${T} D=${D} heads=${heads} window=${window} mask=${mask ? Array.from(mask).join('') : 'none'} ${onGrid ? 'grid' : 'random'} input: ${c.bad.join('; ')}`);
        if (T * D >= 64) { tightest = Math.min(tightest, c.worst); cases++; }
      }
    }
  }
  assert.equal(failures, []);
  console.log(`  attention_q8: worst error ≥ ${tightest.toExponential(2)} of the bound on each of ${cases} larger cases`);
  assert.ok(cases >= 8 && tightest >= TIGHT / 10, `the attention bound is vacuous: on some case the worst error is only ${tightest} of it`);
});

test('attention_q8: a wrong projection scale or a transposed output weight breaks the bound', () => {
  const r = rng(822);
  const T = 9, D = 16, heads = 2;
  const w = attnWeights(r, D);
  // on-grid input: the first projection is exact, so the bound is the second projection's quantization alone
  const x = gridRows(r, T, D);
  const { ref, bound } = refAttentionQ8(x, T, D, heads, w, null, 0, true);
  assert.equal(compare(runAttention(x, T, D, heads, w, null, 0), ref, bound, 'none').bad, [], 'the correct call');
  const so = w.so.slice(); so[3] *= 1.002;
  const sv = w.sqkv.slice(); sv[2 * D + 5] *= 1.01; // a v channel (it reaches the output through wo: weaker)
  const sq = w.sqkv.slice(); sq.copyWithin(0, 1, D); // the q channels shifted by one
  const woT = new Int8Array(D * D);
  for (let n = 0; n < D; n++) for (let k = 0; k < D; k++) woT[k * D + n] = w.wo[n * D + k];
  const wrong: [string, AttnWeights][] = [['output scale 0.2 % off', { ...w, so }], ['value scale 1 % off', { ...w, sqkv: sv }],
    ['query scales shifted', { ...w, sqkv: sq }], ['output weight transposed', { ...w, wo: woT }]];
  for (const [what, bad] of wrong) assert.ok(compare(runAttention(x, T, D, heads, bad, null, 0), ref, bound, 'none').bad.length > 0, `${what} passed the check`);
});

// ---------------------------------------------------------------------------------------------------------------
// embed_q8

test('embed_q8: tok[id]·scale[id] + pos[t] for every width class, zero-scale rows', () => {
  const r = rng(831);
  for (const D of [1, 3, 4, 7, 8, 9, 16, 17, 64, 65]) {
    for (const T of [1, 2, 5, 17]) {
      const V = 11;
      h.scoped(() => {
        const { kern } = h;
        const tokq = randomQ8(r, V, D);
        const scale = randomScales(r, V, 3, 4);
        const pos = randn(r, (T + 2) * D);
        const ids = Int32Array.from({ length: T }, (_, t) => (t === 0 ? V - 1 : t === 1 ? 0 : r.int(0, V)));
        const pid = kern.alloc(T * 4);
        kern.i32(pid, T).set(ids);
        const out = h.guarded(T * D);
        kern.exports.embed_q8(pid, T, putI8(tokq), h.putPoisoned(scale), h.putPoisoned(pos), D, out.ptr);
        const got = out.read(`embed_q8 D=${D} T=${T}`);
        for (let t = 0; t < T; t++) {
          for (let d = 0; d < D; d++) {
            const qs = tokq[ids[t] * D + d] * scale[ids[t]];
            const e = qs + pos[t * D + d];
            const err = Math.abs(got[t * D + d] - e);
            assert.ok(err <= 2 * EPS_F32 * (Math.abs(qs) + Math.abs(e)), `D=${D} T=${T} [${t}, ${d}] id ${ids[t]}: ${got[t * D + d]}, expected ${e}`);
          }
        }
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------------------
// the host's weight quantization

test('quantizeRows: per-row scale max|row|/127, round trip within half a step, zero rows stay zero', () => {
  const r = rng(841);
  for (const [rows, cols] of [[1, 1], [3, 7], [16, 64], [5, 1], [2, 300]]) {
    const w = randn(r, rows * cols);
    for (let i = 0; i < rows; i++) {
      const mag = 10 ** r.uniform(-4, 3);
      for (let j = 0; j < cols; j++) w[i * cols + j] *= mag;
    }
    if (rows > 2) w.fill(0, cols, 2 * cols); // an all-zero row
    const { q, scales, rows: R, cols: Cn } = quantizeRows(w, rows, cols);
    assert.is(R, rows); assert.is(Cn, cols);
    assert.is(q.length, rows * cols); assert.is(scales.length, rows);
    for (let i = 0; i < rows; i++) {
      let amax = 0, qmax = 0;
      for (let j = 0; j < cols; j++) { amax = Math.max(amax, Math.abs(w[i * cols + j])); qmax = Math.max(qmax, Math.abs(q[i * cols + j])); }
      if (amax === 0) {
        assert.is(scales[i], 0, `row ${i}: zero row scale`);
        assert.ok(q.subarray(i * cols, (i + 1) * cols).every((v) => v === 0), `row ${i}: zero row codes`);
        continue;
      }
      assert.ok(Math.abs(scales[i] - amax / 127) <= 1e-6 * amax / 127, `row ${i}: scale ${scales[i]} vs ${amax / 127}`);
      assert.is(qmax, 127, `row ${i}: the largest |value| maps to 127`);
      for (let j = 0; j < cols; j++) {
        const err = Math.abs(q[i * cols + j] * scales[i] - w[i * cols + j]);
        assert.ok(err <= scales[i] * (0.5 + 1e-5), `[${i}, ${j}]: ${w[i * cols + j]} → ${q[i * cols + j]}·${scales[i]} (error ${err})`);
      }
    }
  }
});

function fileWith(tensors: Record<string, { dtype: 'i8'; shape: number[]; data: Int8Array; quant: Quant } | { dtype: 'f32'; shape: number[]; data: Float32Array }>) {
  const bytes = writeSpx({
    format: 'splitee-model', name: 'int8-rows', task: 'image-classification', classes: ['a', 'b'],
    input: { kind: 'image', shape: [1, 1, 1] }, preprocess: { kind: 'image', scale: 1, mean: [0], std: [1] },
    layers: [{ name: 'l', ops: [{ op: 'flatten' }] }],
    exits: [{ layer: 1, ops: [{ op: 'flatten' }, { op: 'linear', w: 'head' }] }],
  }, { ...tensors, head: { dtype: 'f32', shape: [2, 1], data: Float32Array.of(1, -1) } });
  return { bytes, file: parseSpx(bytes) };
}

test('int8Rows: per-channel int8 used byte for byte; per-tensor (scale, zero point) int8 and f32 requantized per row', () => {
  const r = rng(842);
  const pc = randomQ8(r, 6, 10);
  const pcScales = Array.from(randomScales(r, 6, 10, 4));
  const pt = randomQ8(r, 5, 12);
  pt.fill(9, 24, 36); // row 2 equals the zero point: all zero after dequantization
  const f = randn(r, 4 * 3);
  f.fill(0, 3, 6);
  const { bytes, file } = fileWith({
    pc: { dtype: 'i8', shape: [6, 10], data: pc, quant: { axis: 0, scales: pcScales } },
    pt: { dtype: 'i8', shape: [5, 3, 2, 2], data: pt, quant: { scale: 0.037, zeroPoint: 9 } },
    f: { dtype: 'f32', shape: [4, 3], data: f },
  });

  const a = int8Rows(file, 'pc');
  assert.equal([a.rows, a.cols], [6, 10]);
  assert.equal(Array.from(a.q), Array.from(pc));
  assert.equal(Array.from(a.scales), Array.from(Float32Array.from(pcScales)));
  assert.ok(a.q.buffer === bytes.buffer, 'per-channel codes are a view of the file, not a copy');

  const b = int8Rows(file, 'pt');
  assert.equal([b.rows, b.cols], [5, 12]);
  for (let i = 0; i < 5; i++) {
    let amax = 0;
    for (let j = 0; j < 12; j++) amax = Math.max(amax, Math.abs((pt[i * 12 + j] - 9) * 0.037));
    if (amax === 0) {
      assert.is(b.scales[i], 0, `pt row ${i}: zero row`);
      assert.ok(b.q.subarray(i * 12, (i + 1) * 12).every((v) => v === 0));
      continue;
    }
    assert.ok(Math.abs(b.scales[i] - amax / 127) <= 1e-6 * amax, `pt row ${i}: scale ${b.scales[i]}, expected ${amax / 127}`);
    for (let j = 0; j < 12; j++) {
      const v = (pt[i * 12 + j] - 9) * 0.037;
      assert.ok(Math.abs(b.q[i * 12 + j] * b.scales[i] - v) <= b.scales[i] * (0.5 + 1e-5), `pt [${i}, ${j}]`);
    }
  }
  assert.ok(b.scales[2] === 0, 'the zero-point row is a zero row');

  const c = int8Rows(file, 'f');
  assert.equal([c.rows, c.cols], [4, 3]);
  assert.is(c.scales[1], 0);
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(c.q[i] * c.scales[Math.floor(i / 3)] - f[i]) <= c.scales[Math.floor(i / 3)] * (0.5 + 1e-5), `f [${i}]`);
});

if (BUILD === 'simd') {
  test('every test of this file passes in the relaxed-SIMD build too (child process)', () => {
    // Node 20 has relaxed SIMD only behind a flag; later Node has it on
    const flags = wasmRelaxedSimdSupported() ? [] : ['--experimental-wasm-relaxed-simd'];
    const p = spawnSync(process.execPath, [...flags, fileURLToPath(import.meta.url)], {
      env: { ...process.env, SPLITEE_INT8_TEST_BUILD: 'relaxed', FORCE_COLOR: '0' }, encoding: 'utf8', timeout: 60_000,
    });
    const out = `${p.stdout}${p.stderr}`;
    assert.is(p.status, 0, `the relaxed build failed:\n${out.slice(-4000)}`);
    const total = /Total:\s+(\d+)/.exec(out), passed = /Passed:\s+(\d+)/.exec(out);
    assert.ok(total && passed && total[1] === passed[1] && Number(total[1]) >= 10, `relaxed build: ${out.slice(-600)}`);
  });
}

test.run();
