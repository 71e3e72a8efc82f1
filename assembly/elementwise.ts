// Elementwise kernels (see docs/KERNELS.md): relu, relu6, gelu, add, embed, seqmean.
// Every loop runs 4 lanes of f32x4 at a time and finishes the n % 4 tail with scalars that do the same arithmetic, so
// a result never depends on where an element sits. `out` may equal an input: each element is read before it is written
// and nothing else reads it afterwards.

import { LN2_HI, LN2_LO, fmaV } from './simd-math';

// ---------------------------------------------------------------------------------------------------------------------
// GELU, erf form: gelu(x) = x·Φ(x) = 0.5·x·erfc(−x/√2), f32x4, relative error < 1e−6 for every output in the f32
// normal range.
//
// Everything goes through c = Φ(−|x|) ≤ ½, never 1 + erf, which cancels for negative x (gelu(−9) ≈ −1e−18):
// gelu(x) = x·(1 − c) for x ≥ 0 (no cancellation, 1 − c ∈ [½, 1]) and x·c below. With u = |x|:
//  - c = exp(−u²/2)·F(t), F = ½·erfcx(u/√2), t = (u − L)/(u + L). F is smooth and bounded and the map folds
//    u ∈ [0, 13.2] into t ∈ [−1, 0.68], where a degree-8 polynomial fits F to 1e−7 relative (L = 2.5 is where the
//    degree-8 error is lowest; degree 7 gives ≥ 4e−7).
//  - exp(−u²/2) is where naive f32 loses: u² rounded to f32 is off by up to 4e−6 absolute at x = −9, i.e. a 2e−6
//    relative error after exp. So u² is formed exactly as s + d (u split into a 12-bit head, whose square is exact, and
//    the rest; wasm has no fma) and d joins the reduced argument: u² = r' − 2k·ln2, |r'| ≤ ln2, exp(−r'/2) by a
//    degree-5 polynomial (1.2e−7 relative; degree 6 would give 3e−9 for one more multiply-add that the total
//    error, dominated by f32 rounding, does not need).
//  - gelu = max(x, 0) − u·c, which is x·(1 − c) for x ≥ 0 and x·c below, with no select. P carries a factor 2^−64 and
//    the exponent field gets 2^(k+64), so every factor of u·c stays normal and only the last multiply can round into
//    subnormals: results below the f32 normal range underflow gradually (gelu(−14) is within a few subnormal ulps).
//  - u is clamped to 14.5 (the fit reaches there at 5e−7): below x = −14.5 the result has underflowed to 0, and above
//    +14.5 1 − c is 1 in f32.
// The polynomials are minimax fits for relative error, made for this kernel: a Remez exchange against 30-digit mpmath
// values of F and exp, the coefficients rounded to f32 one at a time, lowest order first, with the remaining ones
// refitted after each rounding (`python3 scripts/gelu-fit.py 8 5 2.5 13.2` reproduces them). In f32 the whole gelu
// stays within 7.1e−7 relative (5.1e−7 with fused multiply-add) on dense sweeps of −13.1..13.1, where the outputs are
// normal, and within 5.3e−7 on −9..9. The tail of the kernel runs
// the same vector code on a partly filled vector, so every path gives the same bits for the same x (a GEMM with fused
// GELU matches this kernel exactly).
// ---------------------------------------------------------------------------------------------------------------------

// @ts-ignore: decorator
@inline const UMAX: f32 = 14.5;
// @ts-ignore: decorator
@inline const ERFCX_L: f32 = 2.5;
// F(t) ≈ Σ F_i tⁱ
// @ts-ignore: decorator
@inline const F0: f32 = 0.14133134484291077;
// @ts-ignore: decorator
@inline const F1: f32 = -0.22806981205940247;
// @ts-ignore: decorator
@inline const F2: f32 = 0.11313503235578537;
// @ts-ignore: decorator
@inline const F3: f32 = -0.02454785257577896;
// @ts-ignore: decorator
@inline const F4: f32 = -0.005117045249789953;
// @ts-ignore: decorator
@inline const F5: f32 = 0.002940813545137644;
// @ts-ignore: decorator
@inline const F6: f32 = 0.0007979132933542132;
// @ts-ignore: decorator
@inline const F7: f32 = -0.0003289355954620987;
// @ts-ignore: decorator
@inline const F8: f32 = -0.0001529860746813938;
// @ts-ignore: decorator
@inline const TWO_M64: f32 = 5.421010862427522e-20;
// 2^−64·exp(−r'/2) ≈ Σ P_i r'ⁱ on |r'| ≤ ln2 (the fitted coefficients times 2^−64, an exact scaling)
// @ts-ignore: decorator
@inline const P0: f32 = 1.0000001192092896 * TWO_M64;
// @ts-ignore: decorator
@inline const P1: f32 = -0.5000001788139343 * TWO_M64;
// @ts-ignore: decorator
@inline const P2: f32 = 0.12499620020389557 * TWO_M64;
// @ts-ignore: decorator
@inline const P3: f32 = -0.020830821245908737 * TWO_M64;
// @ts-ignore: decorator
@inline const P4: f32 = 0.002622199011966586 * TWO_M64;
// @ts-ignore: decorator
@inline const P5: f32 = -0.00026638866984285414 * TWO_M64;
// k = round(−u²·log2(e)/2): adding 1.5·2^23 + 191 rounds to an integer and leaves k + 127 + 64 in the low mantissa
// bits (the constant's own low 9 bits are 0 apart from the 191, so shifting the bits left by 23 gives 2^(k+64)).
// @ts-ignore: decorator
@inline const NLOG2E_2: f32 = -0.7213475204444817;
// @ts-ignore: decorator
@inline const EXP_SHIFT: f32 = 12583103.0;
// 2·ln2 = C1 + C2, C1 with 16 significant bits so k·C1 is exact for |k| < 2^8
// @ts-ignore: decorator
@inline const C1: f32 = 2 * LN2_HI;
// @ts-ignore: decorator
@inline const C2: f32 = 2 * LN2_LO;

// The constants live in one static table read with plain v128 loads. Written as f32x4.splat of literals they become
// v128.const, which V8 rebuilds from immediates on every use (several instructions per constant, 23 constants); a
// 16-byte load is one instruction and hits L1.
// @ts-ignore: decorator
@inline const G_UMAX = 0;
// @ts-ignore: decorator
@inline const G_L = 16;
// @ts-ignore: decorator
@inline const G_F = 32; // F0..F8 at G_F + 16·i
// @ts-ignore: decorator
@inline const G_P = 176; // P0..P5 at G_P + 16·i
// @ts-ignore: decorator
@inline const G_NLOG2E_2 = 272;
// @ts-ignore: decorator
@inline const G_SHIFT = 288;
// @ts-ignore: decorator
@inline const G_C1 = 304;
// @ts-ignore: decorator
@inline const G_C2 = 320;

// 0xFFFFF000 keeps the top 12 significant bits; 0x7FFFFFFF clears the sign (a load: f32x4.abs is 3 instructions in V8)
const GI = memory.data<i32>([-4096, -4096, -4096, -4096, 0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff], 16);

const GC = memory.data<f32>([
  UMAX, UMAX, UMAX, UMAX,
  ERFCX_L, ERFCX_L, ERFCX_L, ERFCX_L,
  F0, F0, F0, F0, F1, F1, F1, F1, F2, F2, F2, F2, F3, F3, F3, F3, F4, F4, F4, F4,
  F5, F5, F5, F5, F6, F6, F6, F6, F7, F7, F7, F7, F8, F8, F8, F8,
  P0, P0, P0, P0, P1, P1, P1, P1, P2, P2, P2, P2, P3, P3, P3, P3, P4, P4, P4, P4, P5, P5, P5, P5,
  NLOG2E_2, NLOG2E_2, NLOG2E_2, NLOG2E_2,
  EXP_SHIFT, EXP_SHIFT, EXP_SHIFT, EXP_SHIFT,
  C1, C1, C1, C1,
  C2, C2, C2, C2,
], 16);

// @ts-ignore: decorator
@inline function gc(off: i32): v128 {
  return v128.load(GC + <usize>off);
}

// F is evaluated as pairs (F_i + F_i+1·t) combined by Horner in t², P by plain Horner. With three vectors interleaved
// (gelu4x3) the CPU has independent work enough: full Estrin form (pairs, then t², t⁴), with shorter dependency chains
// but one more multiply, ran 12–14 % slower; plain Horner for F ran as fast but rounds a little worse near x = −13
// (8e−7 instead of 7e−7).
// @ts-ignore: decorator
@inline function gelu4(x: v128,
  cABS: v128, cHEAD: v128, cUMAX: v128, cL: v128, cNLOG2E_2: v128, cSHIFT: v128, cC1: v128, cC2: v128,
  cF0: v128, cF1: v128, cF2: v128, cF3: v128, cF4: v128, cF5: v128, cF6: v128, cF7: v128, cF8: v128,
  cP0: v128, cP1: v128, cP2: v128, cP3: v128, cP4: v128, cP5: v128): v128 {
  // pmin is one instruction (min needs a NaN fix-up sequence in V8); NaN stays NaN: UMAX < NaN is false.
  const u = f32x4.pmin(v128.and(x, cABS), cUMAX);

  // F(t) = ½·erfcx(u/√2), t = (u − L)/(u + L)
  const t = f32x4.div(f32x4.sub(u, cL), f32x4.add(u, cL));
  const t2 = f32x4.mul(t, t);
  const f01 = fmaV(cF1, t, cF0);
  const f23 = fmaV(cF3, t, cF2);
  const f45 = fmaV(cF5, t, cF4);
  const f67 = fmaV(cF7, t, cF6);
  const f = fmaV(fmaV(fmaV(fmaV(cF8, t2, f67), t2, f45), t2, f23), t2, f01);

  // u² = s + d: uh (u with its low 12 mantissa bits cleared) has 12 significant bits, so s = uh² is exact; ul = u − uh
  // is exact too, and d = ul·(uh + u) (< 2^−10·s) only needs its own f32 rounding. k comes from the rounded u².
  const uh = v128.and(u, cHEAD);
  const s = f32x4.mul(uh, uh);
  const d = f32x4.mul(f32x4.sub(u, uh), f32x4.add(uh, u));
  const kb = fmaV(f32x4.mul(u, u), cNLOG2E_2, cSHIFT);
  const k = f32x4.sub(kb, cSHIFT);
  // r' = u² + 2k·ln2: k·C1 is exact and cancels most of s exactly (Sterbenz), so only d and k·C2 are rounded
  const r = fmaV(k, cC2, f32x4.add(fmaV(k, cC1, s), d));
  const e = fmaV(fmaV(fmaV(fmaV(fmaV(cP5, r, cP4), r, cP3), r, cP2), r, cP1), r, cP0);

  // gelu = max(x, 0) − u·c: x·(1 − c) for x ≥ 0 and x·c below, with no select. P's coefficients carry a factor 2^−64
  // and the shift gives 2^(k+64), so u·c = (e·F)·(u·2^(k+64)) is a product of normal numbers whose last multiply is
  // the only rounding into subnormals: results below the f32 normal range underflow gradually. pmax keeps −0 and NaN.
  const w = f32x4.mul(f32x4.mul(e, f), f32x4.mul(u, i32x4.shl(kb, 23)));
  return f32x4.sub(f32x4.pmax(x, f32x4.splat(0)), w);
}

/**
 * gelu4 on three vectors (x_a, x_b, x_c) with their instructions interleaved, generated from gelu4 statement by
 * statement, so each lane gets exactly gelu4's bits. V8 keeps the wasm instruction order, and one gelu4 is a long
 * dependency chain (the division, then the polynomial) that the CPU only partly overlaps with the next; independent
 * chains side by side fill the gaps. Three per step ran 8 % faster than two in the plain build (four: slower again,
 * register spills); with fused multiply-adds (the relaxed build) the chains are shorter and two ran 7 % faster.
 * The constants come in as arguments (gelu4's too), loaded once before gelu's loop: loaded in the loop body, V8 loads
 * them all at the top of each iteration and then spills most of them to the stack, one store and one reload each.
 */
// @ts-ignore: decorator
@inline function gelu4x3(x_a: v128, x_b: v128, x_c: v128, out: usize,
  cABS: v128, cHEAD: v128, cUMAX: v128, cL: v128, cNLOG2E_2: v128, cSHIFT: v128, cC1: v128, cC2: v128,
  cF0: v128, cF1: v128, cF2: v128, cF3: v128, cF4: v128, cF5: v128, cF6: v128, cF7: v128, cF8: v128,
  cP0: v128, cP1: v128, cP2: v128, cP3: v128, cP4: v128, cP5: v128): void {
  // pmin is one instruction (min needs a NaN fix-up sequence in V8); NaN stays NaN: UMAX < NaN is false.
  const u_a = f32x4.pmin(v128.and(x_a, cABS), cUMAX);
  const u_b = f32x4.pmin(v128.and(x_b, cABS), cUMAX);
  const u_c = f32x4.pmin(v128.and(x_c, cABS), cUMAX);

  // F(t) = ½·erfcx(u/√2), t = (u − L)/(u + L)
  const t_a = f32x4.div(f32x4.sub(u_a, cL), f32x4.add(u_a, cL));
  const t_b = f32x4.div(f32x4.sub(u_b, cL), f32x4.add(u_b, cL));
  const t_c = f32x4.div(f32x4.sub(u_c, cL), f32x4.add(u_c, cL));
  const t2_a = f32x4.mul(t_a, t_a);
  const t2_b = f32x4.mul(t_b, t_b);
  const t2_c = f32x4.mul(t_c, t_c);
  const f01_a = fmaV(cF1, t_a, cF0);
  const f01_b = fmaV(cF1, t_b, cF0);
  const f01_c = fmaV(cF1, t_c, cF0);
  const f23_a = fmaV(cF3, t_a, cF2);
  const f23_b = fmaV(cF3, t_b, cF2);
  const f23_c = fmaV(cF3, t_c, cF2);
  const f45_a = fmaV(cF5, t_a, cF4);
  const f45_b = fmaV(cF5, t_b, cF4);
  const f45_c = fmaV(cF5, t_c, cF4);
  const f67_a = fmaV(cF7, t_a, cF6);
  const f67_b = fmaV(cF7, t_b, cF6);
  const f67_c = fmaV(cF7, t_c, cF6);
  const f_a = fmaV(fmaV(fmaV(fmaV(cF8, t2_a, f67_a), t2_a, f45_a), t2_a, f23_a), t2_a, f01_a);
  const f_b = fmaV(fmaV(fmaV(fmaV(cF8, t2_b, f67_b), t2_b, f45_b), t2_b, f23_b), t2_b, f01_b);
  const f_c = fmaV(fmaV(fmaV(fmaV(cF8, t2_c, f67_c), t2_c, f45_c), t2_c, f23_c), t2_c, f01_c);

  // u² = s + d: uh (u with its low 12 mantissa bits cleared) has 12 significant bits, so s = uh² is exact; ul = u − uh
  // is exact too, and d = ul·(uh + u) (< 2^−10·s) only needs its own f32 rounding. k comes from the rounded u².
  const uh_a = v128.and(u_a, cHEAD);
  const uh_b = v128.and(u_b, cHEAD);
  const uh_c = v128.and(u_c, cHEAD);
  const s_a = f32x4.mul(uh_a, uh_a);
  const s_b = f32x4.mul(uh_b, uh_b);
  const s_c = f32x4.mul(uh_c, uh_c);
  const d_a = f32x4.mul(f32x4.sub(u_a, uh_a), f32x4.add(uh_a, u_a));
  const d_b = f32x4.mul(f32x4.sub(u_b, uh_b), f32x4.add(uh_b, u_b));
  const d_c = f32x4.mul(f32x4.sub(u_c, uh_c), f32x4.add(uh_c, u_c));
  const kb_a = fmaV(f32x4.mul(u_a, u_a), cNLOG2E_2, cSHIFT);
  const kb_b = fmaV(f32x4.mul(u_b, u_b), cNLOG2E_2, cSHIFT);
  const kb_c = fmaV(f32x4.mul(u_c, u_c), cNLOG2E_2, cSHIFT);
  const k_a = f32x4.sub(kb_a, cSHIFT);
  const k_b = f32x4.sub(kb_b, cSHIFT);
  const k_c = f32x4.sub(kb_c, cSHIFT);
  // r' = u² + 2k·ln2: k·C1 is exact and cancels most of s exactly (Sterbenz), so only d and k·C2 are rounded
  const r_a = fmaV(k_a, cC2, f32x4.add(fmaV(k_a, cC1, s_a), d_a));
  const r_b = fmaV(k_b, cC2, f32x4.add(fmaV(k_b, cC1, s_b), d_b));
  const r_c = fmaV(k_c, cC2, f32x4.add(fmaV(k_c, cC1, s_c), d_c));
  const e_a = fmaV(fmaV(fmaV(fmaV(fmaV(cP5, r_a, cP4), r_a, cP3), r_a, cP2), r_a, cP1), r_a, cP0);
  const e_b = fmaV(fmaV(fmaV(fmaV(fmaV(cP5, r_b, cP4), r_b, cP3), r_b, cP2), r_b, cP1), r_b, cP0);
  const e_c = fmaV(fmaV(fmaV(fmaV(fmaV(cP5, r_c, cP4), r_c, cP3), r_c, cP2), r_c, cP1), r_c, cP0);

  // gelu = max(x, 0) − u·c: x·(1 − c) for x ≥ 0 and x·c below, with no select. P's coefficients carry a factor 2^−64
  // and the shift gives 2^(k+64), so u·c = (e·F)·(u·2^(k+64)) is a product of normal numbers whose last multiply is
  // the only rounding into subnormals: results below the f32 normal range underflow gradually. pmax keeps −0 and NaN.
  const w_a = f32x4.mul(f32x4.mul(e_a, f_a), f32x4.mul(u_a, i32x4.shl(kb_a, 23)));
  const w_b = f32x4.mul(f32x4.mul(e_b, f_b), f32x4.mul(u_b, i32x4.shl(kb_b, 23)));
  const w_c = f32x4.mul(f32x4.mul(e_c, f_c), f32x4.mul(u_c, i32x4.shl(kb_c, 23)));
  v128.store(out, f32x4.sub(f32x4.pmax(x_a, f32x4.splat(0)), w_a));
  v128.store(out, f32x4.sub(f32x4.pmax(x_b, f32x4.splat(0)), w_b), 16);
  v128.store(out, f32x4.sub(f32x4.pmax(x_c, f32x4.splat(0)), w_c), 32);
}

export function gelu(x: usize, out: usize, n: i32): void {
  const cABS = v128.load(GI, 16);
  const cHEAD = v128.load(GI);
  const cUMAX = gc(G_UMAX);
  const cL = gc(G_L);
  const cNLOG2E_2 = gc(G_NLOG2E_2);
  const cSHIFT = gc(G_SHIFT);
  const cC1 = gc(G_C1);
  const cC2 = gc(G_C2);
  const cF0 = gc(G_F);
  const cF1 = gc(G_F + 16);
  const cF2 = gc(G_F + 32);
  const cF3 = gc(G_F + 48);
  const cF4 = gc(G_F + 64);
  const cF5 = gc(G_F + 80);
  const cF6 = gc(G_F + 96);
  const cF7 = gc(G_F + 112);
  const cF8 = gc(G_F + 128);
  const cP0 = gc(G_P);
  const cP1 = gc(G_P + 16);
  const cP2 = gc(G_P + 32);
  const cP3 = gc(G_P + 48);
  const cP4 = gc(G_P + 64);
  const cP5 = gc(G_P + 80);
  let i = 0;
  for (; i + 12 <= n; i += 12) {
    const off = <usize>i << 2;
    gelu4x3(v128.load(x + off), v128.load(x + off, 16), v128.load(x + off, 32), out + off,
      cABS, cHEAD, cUMAX, cL, cNLOG2E_2, cSHIFT, cC1, cC2, cF0, cF1, cF2, cF3, cF4, cF5, cF6, cF7, cF8,
      cP0, cP1, cP2, cP3, cP4, cP5);
  }
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, gelu4(v128.load(x + off),
      cABS, cHEAD, cUMAX, cL, cNLOG2E_2, cSHIFT, cC1, cC2, cF0, cF1, cF2, cF3, cF4, cF5, cF6, cF7, cF8,
      cP0, cP1, cP2, cP3, cP4, cP5));
  }
  const rem = n - i;
  if (rem > 0) {
    const p = x + (<usize>i << 2);
    const o = out + (<usize>i << 2);
    let v = f32x4.splat(0);
    v = f32x4.replace_lane(v, 0, load<f32>(p));
    if (rem > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
    if (rem > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
    const g = gelu4(v, cABS, cHEAD, cUMAX, cL, cNLOG2E_2, cSHIFT, cC1, cC2, cF0, cF1, cF2, cF3, cF4, cF5, cF6, cF7, cF8,
      cP0, cP1, cP2, cP3, cP4, cP5);
    v128.store32_lane(o, g, 0);
    if (rem > 1) v128.store32_lane(o, g, 1, 4);
    if (rem > 2) v128.store32_lane(o, g, 2, 8);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

export function relu(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.max(v128.load(x + off), zero));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, max<f32>(load<f32>(x + off), 0));
  }
}

export function relu6(x: usize, out: usize, n: i32): void {
  const zero = f32x4.splat(0);
  const six = f32x4.splat(6);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.min(f32x4.max(v128.load(x + off), zero), six));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, min<f32>(max<f32>(load<f32>(x + off), 0), 6));
  }
}

export function add(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    v128.store(out + off, f32x4.add(v128.load(a + off), v128.load(b + off)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    store<f32>(out + off, load<f32>(a + off) + load<f32>(b + off));
  }
}

/** out[t] = tok[ids[t]] + pos[t], rows of D; ids (i32) are validated by the host. */
export function embed(ids: usize, T: i32, tok: usize, pos: usize, D: i32, out: usize): void {
  const rowBytes = <usize>D << 2;
  for (let t = 0; t < T; t++) {
    const id = load<i32>(ids + (<usize>t << 2));
    add(tok + <usize>id * rowBytes, pos + <usize>t * rowBytes, out + <usize>t * rowBytes, D);
  }
}

/**
 * out[d] = mean over t of x[t, d]. Columns go 4 at a time down all T rows, so out may equal x: out[d..d+3] is written
 * only after every read of those columns, and x[0, d..d+3] is never read again.
 */
export function seqmean(x: usize, out: usize, T: i32, D: i32): void {
  const rowBytes = <usize>D << 2;
  const tv = f32x4.splat(<f32>T);
  let d = 0;
  for (; d + 4 <= D; d += 4) {
    let p = x + (<usize>d << 2);
    let acc = f32x4.splat(0);
    for (let t = 0; t < T; t++) {
      acc = f32x4.add(acc, v128.load(p));
      p += rowBytes;
    }
    v128.store(out + (<usize>d << 2), f32x4.div(acc, tv));
  }
  for (; d < D; d++) {
    let p = x + (<usize>d << 2);
    let acc: f32 = 0;
    for (let t = 0; t < T; t++) {
      acc += load<f32>(p);
      p += rowBytes;
    }
    store<f32>(out + (<usize>d << 2), acc / <f32>T);
  }
}
