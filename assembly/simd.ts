// The one f32x4 multiply-add every hot kernel goes through.
//
// The module is compiled twice from the same source (docs/KERNELS.md, "Two builds"): the plain build (`--enable
// simd`) and the relaxed build (`--enable relaxed-simd` too). ASC_FEATURE_RELAXED_SIMD is a compile-time constant, so
// each build contains exactly one of the two bodies below, inlined; there is no branch at run time.
//
// f32x4.relaxed_madd lets the engine pick a fused multiply-add (one rounding: x86 FMA3, ARM NEON fmla) or a multiply
// then an add (two roundings, the plain build's bits). Fused is one instruction instead of two and rounds once, so
// results may differ from the plain build in the last bits, never by more than the plain build's own rounding error.

/** a·b + c, lane-wise. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Whether this build's kernels use relaxed SIMD (the host checks it after choosing a binary). */
export function relaxed_simd_build(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
