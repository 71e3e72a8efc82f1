// f32x4 building blocks shared by the kernels that need exp (softmax in softmax.ts, the activations in
// activation-ops.ts; gelu in elementwise.ts uses only the ln2 split and fmaV). Only what is really the same in all of
// them lives here: the range-reduction constants and e^r on the reduced argument. How each kernel reduces its argument
// and applies 2^k differs on purpose (softmax flushes below −87.33) and stays with the kernel.
import { madd } from './simd';

// exp(y) = 2^k·e^r with k = round(y·log2 e) and r = y − k·ln2, |r| ≲ ln2/2. LN2_HI has 16 significant bits, so k·LN2_HI
// is exact for |k| < 2^8; LN2_LO = ln2 − LN2_HI. Adding ROUND_SHIFT = 1.5·2^23 rounds y·log2 e to the nearest integer
// and leaves that integer in the low mantissa bits (k = bits − 0x4B400000).
// @ts-ignore: decorator
@inline export const LOG2E: f32 = 1.4426950408889634;
// @ts-ignore: decorator
@inline export const LN2_HI: f32 = 0.693145751953125;
// @ts-ignore: decorator
@inline export const LN2_LO: f32 = 1.4286068203094173e-6;
// @ts-ignore: decorator
@inline export const ROUND_SHIFT: f32 = 12582912.0;

// 1/7!, 1/6!, 1/5!, 1/4!, 1/3!, 1/2, 1, each splatted to 4 lanes. A static table read with v128 loads: written as
// f32x4.splat of literals the constants become v128.const in the loop body, which V8 rebuilds from immediates at every
// use (several instructions each); a 16-byte load is one instruction and hits L1.
const EXP_TAYLOR = memory.data<f32>([
  1.984126984126984e-4, 1.984126984126984e-4, 1.984126984126984e-4, 1.984126984126984e-4,
  1.388888888888889e-3, 1.388888888888889e-3, 1.388888888888889e-3, 1.388888888888889e-3,
  8.333333333333333e-3, 8.333333333333333e-3, 8.333333333333333e-3, 8.333333333333333e-3,
  4.1666666666666664e-2, 4.1666666666666664e-2, 4.1666666666666664e-2, 4.1666666666666664e-2,
  0.16666666666666666, 0.16666666666666666, 0.16666666666666666, 0.16666666666666666,
  0.5, 0.5, 0.5, 0.5,
  1.0, 1.0, 1.0, 1.0,
], 16);

// @ts-ignore: decorator
@inline function taylor(i: i32): v128 {
  return v128.load(EXP_TAYLOR + <usize>(i << 4));
}

/** p·t + c, lane-wise (simd.ts's madd: one rounding or two, depending on the build and the CPU). */
// @ts-ignore: decorator
@inline export function fmaV(p: v128, t: v128, c: v128): v128 {
  return madd(p, t, c);
}

/**
 * e^r for the reduced argument |r| ≲ ln2/2: the Taylor series to r⁷ (truncation < 1e−8, below f32 rounding), evaluated
 * in Estrin form (pairs, then r², r⁴): a dependency chain of 3 multiply-adds instead of Horner's 7, so consecutive
 * vectors overlap in the CPU instead of waiting on each other. Callers scale the result by 2^k themselves.
 */
// @ts-ignore: decorator
@inline export function expTaylor4(r: v128): v128 {
  const r2 = f32x4.mul(r, r);
  const r4 = f32x4.mul(r2, r2);
  const p01 = f32x4.add(r, taylor(6));
  const p23 = fmaV(taylor(4), r, taylor(5));
  const p45 = fmaV(taylor(2), r, taylor(3));
  const p67 = fmaV(taylor(0), r, taylor(1));
  return fmaV(fmaV(p67, r2, p45), r4, fmaV(p23, r2, p01));
}
