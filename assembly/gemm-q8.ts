// Int8 kernels: int8 weights with one scale per output channel, activations quantized on the fly to int16, int32
// accumulation (see docs/KERNELS.md, "The int8 path").
//
// Why int16 activations: i32x4.dot_i16x8_s (8 products of i16 pairs, adjacent products added into 4 i32 lanes) is
// the widest integer multiply-accumulate plain WASM SIMD has, and it takes i16 on both sides anyway. Quantizing the
// activations to as many bits as the accumulator allows makes their rounding error (~2^-14 of the range) negligible
// beside the int8 weights', so an int8 model's accuracy is the accuracy of its int8 weights. The activation range
// qmax is chosen per call so that no i32 lane can overflow: Kp·qmax·128 ≤ 2^31 − 1 (|w| ≤ 128, Kp = K rounded up
// to even); for K ≤ 512 that is the full int16 range.
//
// Both kernels keep dot products of adjacent k in one i32 lane per output, so no horizontal sums are needed:
//   linear: rows of x on the left. The x pair (x[m,k], x[m,k+1]) is one i32, broadcast with v128.load32_splat; the
//           weight panel holds, per k pair, 16 int8 (n0k, n0k+1, n1k, n1k+1, …, n7k+1), widened to two i16x8
//           (columns 0-3, 4-7). Tile: 4 rows × 8 columns, 8 i32x4 accumulators, as the f32 kernel.
//   conv:   weights on the left (4 output channels), output positions as lanes. The weights are widened to int16
//           pairs in scratch once per call and broadcast with v128.load32_splat; the input is quantized into pair
//           rows (the values of k and k+1 at each position side by side). Tile: 4 channels × 8 positions (the
//           conv section below says why this layout).
// The epilogue converts to f32 and applies x-scale · w-scale, the bias and relu/relu6 in registers (GELU afterwards
// over the whole output, with the module's one `gelu`, as the f32 kernels do).
import { add, gelu } from './elementwise';
import { clampAct, loadN, resRow, storeColumn4, storeRowRes } from './gemm';
import { endInside, firstInside } from './conv';

// @ts-ignore: decorator
@inline const NR: i32 = 8;
// @ts-ignore: decorator
@inline const I32_MAX: f64 = 2147483647.0;
/** Output positions per im2col chunk of the int8 conv (bounds its scratch for large images). */
// @ts-ignore: decorator
@inline const CONV_CHUNK: i32 = 256;

// @ts-ignore: decorator
@inline function evenUp(k: i32): i32 { return (k + 1) & ~1; }

// @ts-ignore: decorator
@inline function align16(n: usize): usize { return (n + 15) & ~(<usize>15); }

/** The largest activation code for a dot product over Kp terms that cannot overflow an i32 lane. */
function qmaxFor(Kp: i32): f32 {
  const q = Math.floor(I32_MAX / (<f64>max(Kp, 1) * 128.0));
  return <f32>max(1.0, min(32767.0, q));
}

/** max |x[i]| over n values (NaN is ignored). Four running maxima: one would be a chain of dependent pmax. */
function absMax(x: usize, n: i32): f32 {
  let m = f32x4.splat(0.0), m1 = m, m2 = m, m3 = m;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    m = f32x4.pmax(m, f32x4.abs(v128.load(p)));
    m1 = f32x4.pmax(m1, f32x4.abs(v128.load(p, 16)));
    m2 = f32x4.pmax(m2, f32x4.abs(v128.load(p, 32)));
    m3 = f32x4.pmax(m3, f32x4.abs(v128.load(p, 48)));
  }
  m = f32x4.pmax(f32x4.pmax(m, m1), f32x4.pmax(m2, m3));
  for (; i + 4 <= n; i += 4) m = f32x4.pmax(m, f32x4.abs(v128.load(x + (<usize>i << 2))));
  let r = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; i < n; i++) {
    const a = abs(load<f32>(x + (<usize>i << 2)));
    if (a > r) r = a;
  }
  return r;
}

/**
 * round(v) for |v| < 2^22 as i32 lanes, half to even like f32x4.nearest: adding 1.5·2^23 leaves the rounded integer
 * in the low mantissa bits. Two instructions where trunc_sat_f32x4_s is a long sequence on x86 without AVX-512.
 */
// @ts-ignore: decorator
@inline function roundToI32(v: v128): v128 {
  const magic = f32x4.splat(12582912.0);
  return i32x4.sub(f32x4.add(v, magic), magic);
}

/** 8 values of x · inv rounded to int16. */
// @ts-ignore: decorator
@inline function q8lanes(p: usize, iv: v128): v128 {
  const a = roundToI32(f32x4.mul(v128.load(p), iv));
  const b = roundToI32(f32x4.mul(v128.load(p, 16), iv));
  return i16x8.narrow_i32x4_s(a, b);
}

/** q[i] = round(x[i] · inv) as i16, for n values (|x·inv| ≤ qmax by the callers' choice of inv). */
function quantizeI16(x: usize, q: usize, n: i32, inv: f32): void {
  const iv = f32x4.splat(inv);
  let i = 0;
  for (; i + 8 <= n; i += 8) v128.store(q + (<usize>i << 1), q8lanes(x + (<usize>i << 2), iv));
  for (; i < n; i++) {
    store<i16>(q + (<usize>i << 1), <i16><i32>nearest<f32>(load<f32>(x + (<usize>i << 2)) * inv));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// linear

/** Bytes of the packed int8 `[N, K]` weight: ceil(N/8) panels of (K rounded up to even)×8 bytes. */
export function linear_q8_packed_bytes(K: i32, N: i32): i32 {
  return ((N + NR - 1) / NR) * NR * evenUp(K);
}

/** packed[p][k/2][j][k%2] = wq[(8p + j)·K + k] (int8), zero past N and K. */
export function linear_q8_pack(wq: usize, packed: usize, K: i32, N: i32): void {
  const Kp = evenUp(K);
  const panels = (N + NR - 1) / NR;
  for (let p = 0; p < panels; p++) {
    const dst = packed + <usize>p * <usize>(Kp * NR);
    for (let k = 0; k < Kp; k++) {
      const d = dst + <usize>((k >> 1) * 16 + (k & 1));
      for (let j = 0; j < NR; j++) {
        const n = p * NR + j;
        const v: i8 = n < N && k < K ? load<i8>(wq + <usize>n * <usize>K + <usize>k) : 0;
        store<i8>(d + <usize>(j << 1), v);
      }
    }
  }
}

/** Scratch of linear_q8 for M rows of K: the rows as int16 (K rounded up to even) and one scale per row. */
export function linear_q8_scratch_bytes(M: i32, K: i32): i32 {
  return <i32>(align16(<usize>M * <usize>evenUp(K) * 2) + <usize>M * 4);
}

// R rows (1..4, a compile-time constant at every call) × 8 columns over all k pairs: instantiated per R so the last
// block of a row count that is not a multiple of 4 computes only its real rows (the f32 GEMM's tileRx8 does the same).
// @ts-ignore: decorator
@inline function tileQRx8(R: i32, a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, c: usize, ldc: usize,
  ncols: i32, rowScale: usize, colScale: usize, colBias: usize, act: i32, r: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let kp = 0; kp < pairs; kp++) {
    const wv = v128.load(w);
    const wl = i16x8.extend_low_i8x16_s(wv), wh = i16x8.extend_high_i8x16_s(wv);
    const o = <usize>kp << 2;
    let s = v128.load32_splat(a0 + o);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(s, wl)); c01 = i32x4.add(c01, i32x4.dot_i16x8_s(s, wh));
    if (R > 1) {
      s = v128.load32_splat(a1 + o);
      c10 = i32x4.add(c10, i32x4.dot_i16x8_s(s, wl)); c11 = i32x4.add(c11, i32x4.dot_i16x8_s(s, wh));
    }
    if (R > 2) {
      s = v128.load32_splat(a2 + o);
      c20 = i32x4.add(c20, i32x4.dot_i16x8_s(s, wl)); c21 = i32x4.add(c21, i32x4.dot_i16x8_s(s, wh));
    }
    if (R > 3) {
      s = v128.load32_splat(a3 + o);
      c30 = i32x4.add(c30, i32x4.dot_i16x8_s(s, wl)); c31 = i32x4.add(c31, i32x4.dot_i16x8_s(s, wh));
    }
    w += 16;
  }
  // column scales are padded to a multiple of 8 by the host; the bias is not
  const sw0 = v128.load(colScale), sw1 = v128.load(colScale, 16);
  let b0 = f32x4.splat(0.0), b1 = f32x4.splat(0.0);
  if (colBias != 0) {
    b0 = loadN(colBias, ncols);
    if (ncols > 4) b1 = loadN(colBias + 16, ncols - 4);
  }
  finishRowQ(c, c00, c01, sw0, sw1, b0, b1, load<f32>(rowScale), ncols, act, r);
  if (R > 1) finishRowQ(c + ldc, c10, c11, sw0, sw1, b0, b1, load<f32>(rowScale, 4), ncols, act, resRow(r, 1, ldc));
  if (R > 2) finishRowQ(c + 2 * ldc, c20, c21, sw0, sw1, b0, b1, load<f32>(rowScale, 8), ncols, act, resRow(r, 2, ldc));
  if (R > 3) finishRowQ(c + 3 * ldc, c30, c31, sw0, sw1, b0, b1, load<f32>(rowScale, 12), ncols, act, resRow(r, 3, ldc));
}

function kernelQ4x8(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, c: usize, ldc: usize,
  ncols: i32, rowScale: usize, colScale: usize, colBias: usize, act: i32, r: usize): void {
  tileQRx8(4, a0, a1, a2, a3, w, pairs, c, ldc, ncols, rowScale, colScale, colBias, act, r);
}
function kernelQ3x8(a0: usize, a1: usize, a2: usize, w: usize, pairs: i32, c: usize, ldc: usize,
  ncols: i32, rowScale: usize, colScale: usize, colBias: usize, act: i32, r: usize): void {
  tileQRx8(3, a0, a1, a2, a2, w, pairs, c, ldc, ncols, rowScale, colScale, colBias, act, r);
}
function kernelQ2x8(a0: usize, a1: usize, w: usize, pairs: i32, c: usize, ldc: usize,
  ncols: i32, rowScale: usize, colScale: usize, colBias: usize, act: i32, r: usize): void {
  tileQRx8(2, a0, a1, a1, a1, w, pairs, c, ldc, ncols, rowScale, colScale, colBias, act, r);
}
function kernelQ1x8(a0: usize, w: usize, pairs: i32, c: usize, ldc: usize,
  ncols: i32, rowScale: usize, colScale: usize, colBias: usize, act: i32, r: usize): void {
  tileQRx8(1, a0, a0, a0, a0, w, pairs, c, ldc, ncols, rowScale, colScale, colBias, act, r);
}

// @ts-ignore: decorator
@inline function finishRowQ(c: usize, a0: v128, a1: v128, sw0: v128, sw1: v128, b0: v128, b1: v128, sx: f32,
  ncols: i32, act: i32, r: usize): void {
  const s = f32x4.splat(sx);
  const v0 = clampAct(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a0), f32x4.mul(sw0, s)), b0), act);
  const v1 = clampAct(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a1), f32x4.mul(sw1, s)), b1), act);
  storeQ(c, v0, v1, ncols, r);
}

// The store of the int8 tiles' rows: inlined for 8 columns, a call for a partial last block (smaller tile code).
// @ts-ignore: decorator
@inline function storeQ(c: usize, v0: v128, v1: v128, ncols: i32, r: usize): void {
  if (ncols == 8) {
    if (r != 0) {
      v0 = f32x4.add(v0, v128.load(r));
      v1 = f32x4.add(v1, v128.load(r, 16));
    }
    v128.store(c, v0);
    v128.store(c, v1, 16);
  } else {
    storeQAny(c, v0, v1, ncols, r);
  }
}

function storeQAny(c: usize, v0: v128, v1: v128, ncols: i32, r: usize): void {
  storeRowRes(c, v0, v1, ncols, r);
}

/**
 * out[M,N] = act(x[M,K] · wᵀ · diag(wscale) + b) + res, w int8 packed by linear_q8_pack, wscale N f32 (padded with
 * zeros to a multiple of 8), `b` = 0 means no bias, `res` = 0 no residual. Each row of x is quantized to int16 with
 * its own scale (scratch: linear_q8_scratch_bytes(M, K)). out must not overlap x or res.
 */
export function linear_q8(x: usize, packed: usize, wscale: usize, b: usize, out: usize, M: i32, K: i32, N: i32,
  act: i32, scratch: usize, res: usize): void {
  if (M <= 0 || N <= 0) return;
  const rt: usize = act == 3 ? 0 : res; // with GELU the residual follows the GELU pass
  const Kp = evenUp(K);
  const rowBytes = <usize>Kp << 1;
  const xq = scratch;
  const sx = scratch + align16(<usize>M * rowBytes);
  const qmax = qmaxFor(Kp);
  for (let m = 0; m < M; m++) {
    const row = x + (<usize>m * <usize>K << 2);
    const a = absMax(row, K);
    const q = xq + <usize>m * rowBytes;
    quantizeI16(row, q, K, a > 0 ? qmax / a : 0);
    if (K & 1) store<i16>(q + (<usize>K << 1), 0);
    store<f32>(sx + (<usize>m << 2), a / qmax);
  }
  const panels = (N + NR - 1) / NR;
  const panelBytes = <usize>(Kp * NR);
  const ldc = <usize>N << 2;
  const pairs = Kp >> 1;
  for (let p = 0; p < panels; p++) {
    const j = p * NR;
    const ncols = min(NR, N - j);
    const wp = packed + <usize>p * panelBytes;
    const cs = wscale + (<usize>j << 2);
    const cb = b != 0 ? b + (<usize>j << 2) : 0;
    for (let i = 0; i < M; i += 4) {
      const nrows = min(4, M - i);
      const a0 = xq + <usize>i * rowBytes;
      const tile = <usize>i * ldc + (<usize>j << 2);
      const c = out + tile, r = rt != 0 ? rt + tile : 0, rs = sx + (<usize>i << 2);
      if (nrows == 4) kernelQ4x8(a0, a0 + rowBytes, a0 + 2 * rowBytes, a0 + 3 * rowBytes, wp, pairs, c, ldc, ncols, rs, cs, cb, act, r);
      else if (nrows == 3) kernelQ3x8(a0, a0 + rowBytes, a0 + 2 * rowBytes, wp, pairs, c, ldc, ncols, rs, cs, cb, act, r);
      else if (nrows == 2) kernelQ2x8(a0, a0 + rowBytes, wp, pairs, c, ldc, ncols, rs, cs, cb, act, r);
      else kernelQ1x8(a0, wp, pairs, c, ldc, ncols, rs, cs, cb, act, r);
    }
  }
  if (act == 3) {
    gelu(out, out, M * N);
    if (res != 0) add(out, res, out, M * N);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// conv2d (groups = 1; depthwise and grouped convolutions stay on the f32 kernels)
//
// Weights on the left, output positions as lanes, so the output [OC, P] is stored row by row. The operands are
// laid out once per call so that the inner loop is one broadcast per channel and two loads per k pair:
//   - the int8 weight panel is widened to int16 pairs in scratch (one extend per 4 channels × 2 k: cheap, and the
//     weights stay int8 in memory between calls);
//   - the input is quantized straight into "pair rows": row kp holds, for every position p, the i32 made of the
//     values of k = 2kp and 2kp + 1 at p (channels for a 1×1 conv, im2col rows otherwise).

// @ts-ignore: decorator
@inline function outSizeQ(n: i32, k: i32, stride: i32, pad: i32): i32 { return (n + 2 * pad - k) / stride + 1; }

// @ts-ignore: decorator
@inline function round8(n: i32): i32 { return (n + 7) & ~7; }

/** Bytes of the packed int8 conv weight [OC, C, KH, KW]: ceil(OC/4) panels of (C·KH·KW rounded up to even)×4 bytes. */
export function conv2d_q8_packed_bytes(C: i32, OC: i32, KH: i32, KW: i32): i32 {
  return ((OC + 3) / 4) * 4 * evenUp(C * KH * KW);
}

/** packed[p][k/2][r][k%2] = wq[(4p + r)·K + k], K = C·KH·KW, zero past OC and K. */
export function conv2d_q8_pack(wq: usize, packed: usize, C: i32, OC: i32, KH: i32, KW: i32): void {
  const K = C * KH * KW, Kp = evenUp(K);
  const panels = (OC + 3) / 4;
  for (let p = 0; p < panels; p++) {
    const dst = packed + <usize>p * <usize>(Kp * 4);
    for (let k = 0; k < Kp; k++) {
      const d = dst + <usize>((k >> 1) * 8 + (k & 1));
      for (let r = 0; r < 4; r++) {
        const oc = p * 4 + r;
        const v: i8 = oc < OC && k < K ? load<i8>(wq + <usize>oc * <usize>K + <usize>k) : 0;
        store<i8>(d + <usize>(r << 1), v);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function isDirectQ(KH: i32, KW: i32, stride: i32, pad: i32): bool {
  return KH == 1 && KW == 1 && stride == 1 && pad == 0;
}

/**
 * Scratch of conv2d_q8: the widened weights; the pair rows (all positions for a 1×1/stride 1/no padding conv, else
 * CONV_CHUNK positions of the im2col at a time); for the im2col, the input quantized to int16 first.
 */
export function conv2d_q8_scratch_bytes(C: i32, H: i32, W: i32, OC: i32, KH: i32, KW: i32, stride: i32, pad: i32): i32 {
  const pairs = <usize>(evenUp(C * KH * KW) >> 1);
  const wide = align16(<usize>((OC + 3) / 4) * pairs * 16);
  if (isDirectQ(KH, KW, stride, pad)) return <i32>(wide + pairs * <usize>round8(H * W) * 4);
  return <i32>(wide + align16(<usize>(C * H * W) << 1) + pairs * <usize>CONV_CHUNK * 4);
}

// 4 output channels × NC positions (8, or 4 for a last block of at most 4: a compile-time constant at every call) over
// all k pairs: per pair one or two loads of pair rows, one broadcast per channel. Rows r ≥ nrows are not stored;
// positions ≥ ncols are computed from readable memory and dropped. Each element gets the same operations whatever NC.
// @ts-ignore: decorator
@inline function tileConvQ(NC: i32, w: usize, B: usize, ldb: usize, pairs: i32, c: usize, ldc: usize, nrows: i32, ncols: i32,
  rowScale: usize, rowBias: usize, sx: f32, act: i32, r: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let kp = 0; kp < pairs; kp++) {
    const x0 = v128.load(B);
    const x1 = NC > 4 ? v128.load(B, 16) : x0;
    let s = v128.load32_splat(w);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(s, x0));
    if (NC > 4) c01 = i32x4.add(c01, i32x4.dot_i16x8_s(s, x1));
    s = v128.load32_splat(w, 4);
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(s, x0));
    if (NC > 4) c11 = i32x4.add(c11, i32x4.dot_i16x8_s(s, x1));
    s = v128.load32_splat(w, 8);
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(s, x0));
    if (NC > 4) c21 = i32x4.add(c21, i32x4.dot_i16x8_s(s, x1));
    s = v128.load32_splat(w, 12);
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(s, x0));
    if (NC > 4) c31 = i32x4.add(c31, i32x4.dot_i16x8_s(s, x1));
    w += 16;
    B += ldb;
  }
  finishConvRow(c, c00, c01, sx * load<f32>(rowScale), rowBias != 0 ? load<f32>(rowBias) : 0, ncols, act, r);
  if (nrows > 1) finishConvRow(c + ldc, c10, c11, sx * load<f32>(rowScale, 4), rowBias != 0 ? load<f32>(rowBias, 4) : 0, ncols, act, resRow(r, 1, ldc));
  if (nrows > 2) finishConvRow(c + 2 * ldc, c20, c21, sx * load<f32>(rowScale, 8), rowBias != 0 ? load<f32>(rowBias, 8) : 0, ncols, act, resRow(r, 2, ldc));
  if (nrows > 3) finishConvRow(c + 3 * ldc, c30, c31, sx * load<f32>(rowScale, 12), rowBias != 0 ? load<f32>(rowBias, 12) : 0, ncols, act, resRow(r, 3, ldc));
}

function kernelConvQ(w: usize, B: usize, ldb: usize, pairs: i32, c: usize, ldc: usize, nrows: i32, ncols: i32,
  rowScale: usize, rowBias: usize, sx: f32, act: i32, r: usize): void {
  tileConvQ(8, w, B, ldb, pairs, c, ldc, nrows, ncols, rowScale, rowBias, sx, act, r);
}
function kernelConvQ4(w: usize, B: usize, ldb: usize, pairs: i32, c: usize, ldc: usize, nrows: i32, ncols: i32,
  rowScale: usize, rowBias: usize, sx: f32, act: i32, r: usize): void {
  tileConvQ(4, w, B, ldb, pairs, c, ldc, nrows, ncols, rowScale, rowBias, sx, act, r);
}

// 4 output channels × 1 position, for a last block of 1–3 positions: the widened panel's 4 channels of a k pair are
// one vector, so the channels are the lanes (one load, one broadcast, one dot per pair). The epilogue is
// finishConvRow's per lane (scale sx·rowScale, bias, relu/relu6, residual), the same arithmetic.
function kernelConvQ1(w: usize, B: usize, ldb: usize, pairs: i32, c: usize, ldc: usize, nrows: i32,
  rowScale: usize, rowBias: usize, sx: f32, act: i32, r: usize): void {
  let acc = i32x4.splat(0);
  for (let kp = 0; kp < pairs; kp++) {
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(v128.load32_splat(B), v128.load(w)));
    w += 16;
    B += ldb;
  }
  const s = f32x4.mul(f32x4.splat(sx), v128.load(rowScale));
  const bv = rowBias != 0 ? loadN(rowBias, nrows) : f32x4.splat(0.0);
  storeColumn4(c, ldc, nrows, clampAct(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(acc), s), bv), act), r);
}

// @ts-ignore: decorator
@inline function finishConvRow(c: usize, a0: v128, a1: v128, scale: f32, bias: f32, ncols: i32, act: i32, r: usize): void {
  const s = f32x4.splat(scale), bv = f32x4.splat(bias);
  const v0 = clampAct(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a0), s), bv), act);
  const v1 = clampAct(f32x4.add(f32x4.mul(f32x4.convert_i32x4_s(a1), s), bv), act);
  storeQ(c, v0, v1, ncols, r);
}

/** Pair rows of a 1×1 conv's input: row kp, position p = (q(x[2kp, p]), q(x[2kp + 1, p])); channel C is zero. */
function quantizePairRows(x: usize, dst: usize, ldb: usize, C: i32, HW: i32, inv: f32): void {
  const iv = f32x4.splat(inv);
  const zero = i16x8.splat(0);
  for (let c = 0; c < C; c += 2) {
    const r0 = x + (<usize>c * <usize>HW << 2);
    const two = c + 1 < C;
    const r1 = r0 + (<usize>HW << 2);
    const d = dst + <usize>(c >> 1) * ldb;
    let p = 0;
    for (; p + 8 <= HW; p += 8) {
      const o = <usize>p << 2;
      const q0 = q8lanes(r0 + o, iv);
      const q1 = two ? q8lanes(r1 + o, iv) : zero;
      v128.store(d + o, i16x8.shuffle(q0, q1, 0, 8, 1, 9, 2, 10, 3, 11));
      v128.store(d + o, i16x8.shuffle(q0, q1, 4, 12, 5, 13, 6, 14, 7, 15), 16);
    }
    for (; p < HW; p++) {
      const o = <usize>p << 2;
      store<i16>(d + o, <i16><i32>nearest<f32>(load<f32>(r0 + o) * inv));
      store<i16>(d + o + 2, two ? <i16><i32>nearest<f32>(load<f32>(r1 + o) * inv) : 0);
    }
  }
}

/**
 * Pair rows of the im2col for positions [q0, q0 + nq): row r = (c·KH + kh)·KW + kw goes to pair row r/2, half r%2
 * (`ldb` bytes per pair row); the half past an odd K is zero.
 */
function im2colPairs(xq: usize, col: usize, ldb: usize, C: i32, H: i32, W: i32, KH: i32, KW: i32, stride: i32,
  pad: i32, OW: i32, q0: i32, nq: i32): void {
  const K = C * KH * KW;
  const q1 = q0 + nq;
  if (K & 1) {
    const d = col + <usize>(K >> 1) * ldb + 2;
    for (let t = 0; t < nq; t++) store<i16>(d + (<usize>t << 2), 0);
  }
  for (let c = 0; c < C; c++) {
    const xc = xq + (<usize>(c * H * W) << 1);
    for (let kh = 0; kh < KH; kh++) {
      for (let kw = 0; kw < KW; kw++) {
        const r = (c * KH + kh) * KW + kw;
        let dst = col + <usize>(r >> 1) * ldb + <usize>((r & 1) << 1);
        const lo = firstInside(pad, kw, stride), hi = endInside(W, pad, kw, stride);
        let q = q0;
        let oh = q0 / OW, ow = q0 - oh * OW;
        while (q < q1) {
          const run = min(OW - ow, q1 - q);
          const ih = oh * stride - pad + kh;
          if (ih < 0 || ih >= H) {
            for (let t = 0; t < run; t++) store<i16>(dst + (<usize>t << 2), 0);
          } else {
            const xrow = xc + (<usize>(ih * W) << 1);
            const a = max(ow, min(lo, ow + run)), e = max(a, min(hi, ow + run));
            let t = 0;
            for (; t < a - ow; t++) store<i16>(dst + (<usize>t << 2), 0);
            let src = xrow + (<usize>(a * stride - pad + kw) << 1);
            const step = <usize>stride << 1;
            for (; t < e - ow; t++) {
              store<i16>(dst + (<usize>t << 2), load<i16>(src));
              src += step;
            }
            for (; t < run; t++) store<i16>(dst + (<usize>t << 2), 0);
          }
          dst += <usize>run << 2;
          q += run;
          oh++;
          ow = 0;
        }
      }
    }
  }
}

/**
 * out[OC, OH, OW] = act(conv(x[C, H, W], w) · diag(wscale) + b) + res for groups = 1, w int8 packed by
 * conv2d_q8_pack, wscale OC f32 (padded with zeros to a multiple of 4), res = 0 no residual. The input is quantized
 * to int16 with one scale for the whole tensor (scratch: conv2d_q8_scratch_bytes). out must not overlap x or res.
 */
export function conv2d_q8(x: usize, packed: usize, wscale: usize, b: usize, out: usize, C: i32, H: i32, W: i32,
  OC: i32, KH: i32, KW: i32, stride: i32, pad: i32, act: i32, scratch: usize, res: usize): void {
  const OH = outSizeQ(H, KH, stride, pad), OW = outSizeQ(W, KW, stride, pad);
  if (OH <= 0 || OW <= 0 || OC <= 0) return;
  const HW = H * W, P = OH * OW;
  const rt: usize = act == 3 ? 0 : res; // with GELU the residual follows the GELU pass
  const K = C * KH * KW, Kp = evenUp(K), pairs = Kp >> 1;
  const panels = (OC + 3) / 4;
  // the weight panels as int16 pairs: 8 int8 (4 channels × 2 k) widen to one v128 of 4 i32 pairs
  const wide = scratch;
  const nw = panels * pairs;
  for (let i = 0; i < nw; i++) {
    v128.store(wide + (<usize>i << 4), i16x8.extend_low_i8x16_s(v128.load64_zero(packed + (<usize>i << 3))));
  }
  const rows = wide + align16(<usize>nw << 4);
  const qmax = qmaxFor(Kp);
  const a = absMax(x, C * HW);
  const inv: f32 = a > 0 ? qmax / a : 0;
  const sx = a / qmax;
  const panelBytes = <usize>pairs << 4;
  const ldc = <usize>P << 2;
  if (isDirectQ(KH, KW, stride, pad)) {
    const ldb = <usize>round8(HW) << 2;
    quantizePairRows(x, rows, ldb, C, HW, inv);
    convPanels(wide, panelBytes, rows, ldb, pairs, out, ldc, 0, P, OC, wscale, b, sx, act, rt);
  } else {
    const xq = rows;
    quantizeI16(x, xq, C * HW, inv);
    const col = xq + align16(<usize>(C * HW) << 1);
    const ldb = <usize>CONV_CHUNK << 2;
    for (let q0 = 0; q0 < P; q0 += CONV_CHUNK) {
      const nq = min(CONV_CHUNK, P - q0);
      im2colPairs(xq, col, ldb, C, H, W, KH, KW, stride, pad, OW, q0, nq);
      convPanels(wide, panelBytes, col, ldb, pairs, out, ldc, q0, nq, OC, wscale, b, sx, act, rt);
    }
  }
  if (act == 3) {
    gelu(out, out, OC * P);
    if (res != 0) add(out, res, out, OC * P);
  }
}

/** Every 4-channel panel × 8-position tile of positions [q0, q0 + nq), the pair rows starting at position q0. */
function convPanels(wide: usize, panelBytes: usize, B: usize, ldb: usize, pairs: i32, out: usize, ldc: usize, q0: i32,
  nq: i32, OC: i32, wscale: usize, b: usize, sx: f32, act: i32, res: usize): void {
  // positions outer: the 8 positions' pair rows stay in L1 while every channel panel (all in L1 too) sweeps them
  for (let q = 0; q < nq; q += 8) {
    const ncols = min(8, nq - q);
    const bq = B + (<usize>q << 2);
    for (let oc = 0; oc < OC; oc += 4) {
      const tile = <usize>(q0 + q) * 4 + <usize>oc * ldc;
      const wp = wide + <usize>(oc >> 2) * panelBytes, nr = min(4, OC - oc), rs = wscale + (<usize>oc << 2);
      const rb = b != 0 ? b + (<usize>oc << 2) : 0, r = res != 0 ? res + tile : 0;
      if (ncols > 4) kernelConvQ(wp, bq, ldb, pairs, out + tile, ldc, nr, ncols, rs, rb, sx, act, r);
      else if (ncols == 4) kernelConvQ4(wp, bq, ldb, pairs, out + tile, ldc, nr, ncols, rs, rb, sx, act, r);
      else {
        for (let q = 0; q < ncols; q++) {
          const qo = <usize>q << 2;
          kernelConvQ1(wp, bq + qo, ldb, pairs, out + tile + qo, ldc, nr, rs, rb, sx, act, r != 0 ? r + qo : 0);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// embedding

/** out[t, :] = tokq[ids[t], :] · tokScale[ids[t]] + pos[t, :]: an int8 token table with one scale per token row. */
export function embed_q8(ids: usize, T: i32, tokq: usize, tokScale: usize, pos: usize, D: i32, out: usize): void {
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    const s = f32x4.splat(load<f32>(tokScale + (<usize>id << 2)));
    const src = tokq + <usize>id * <usize>D;
    const pr = pos + (<usize>t * <usize>D << 2);
    const dst = out + (<usize>t * <usize>D << 2);
    let d = 0;
    for (; d + 8 <= D; d += 8) {
      const q = i16x8.extend_low_i8x16_s(v128.load64_zero(src + <usize>d));
      const lo = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q));
      const hi = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q));
      const o = <usize>d << 2;
      v128.store(dst + o, f32x4.add(f32x4.mul(lo, s), v128.load(pr + o)));
      v128.store(dst + o, f32x4.add(f32x4.mul(hi, s), v128.load(pr + o, 16)), 16);
    }
    const sc = f32x4.extract_lane(s, 0);
    for (; d < D; d++) {
      const o = <usize>d << 2;
      store<f32>(dst + o, <f32>load<i8>(src + <usize>d) * sc + load<f32>(pr + o));
    }
  }
}
