// Microbenchmark kernels for bench/: the machine's WASM SIMD multiply-add throughput peak, the ceiling the GEMM and
// conv kernels are measured against (owned by the bench work).
//
// Standard WASM SIMD has no fused multiply-add, so a kernel spends one f32x4.mul and one f32x4.add per 4 madds
// (8 flops). A single chain `a = a·m + c` is bound by the mul+add latency, not by throughput. Here every accumulator
// is its own chain `acc += u·v` whose product depends on no accumulator, so only the add latency (3–4 cycles) lies on
// a chain, and N independent chains keep the mul and add units busy once N ≥ add latency × adds per cycle (6 on
// Zen, 8 on recent Intel).
//
// The u factors are loaded from memory (`buf`, the host fills peak_buf_bytes() with small values) at an address that
// moves with the loop counter, so no compiler can hoist or common the products out of the loop, and loads use the
// load ports, not the float units: every float instruction in the loop is a counted mul or add. Register budget
// (V8 on x64 allocates 15 xmm): the accumulators + 2 invariant v factors + 1 loaded u.

import { madd } from './simd';

/** Bytes `buf` must hold for the peak kernels (32 f32x4). */
export function peak_buf_bytes(): i32 { return 512; }

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** f32 flops per iteration of `peak_madd8`: 2 steps × 8 chains × 4 lanes × (mul + add). */
export function peak_madd8_flops_per_iter(): i32 { return 2 * 8 * 4 * 2; }

/** 8 independent f32x4 multiply-add chains (mul then add); returns their sum so nothing is dead code. */
export function peak_madd8(buf: usize, iters: i32): f32 { return chains8(buf, iters, false); }

// One step of a chain: acc + u·v, as a multiply then an add, or through simd.ts's madd (`fused`, a compile-time
// constant at every call: the inlined probes contain only one of the two).
// @ts-ignore: decorator
@inline function step(acc: v128, u: v128, v: v128, fused: bool): v128 {
  return fused ? madd(u, v, acc) : f32x4.add(acc, f32x4.mul(u, v));
}

// @ts-ignore: decorator
@inline function chains8(buf: usize, iters: i32, fused: bool): f32 {
  const v0 = v128.load(buf, 0);
  const v1 = v128.load(buf, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  for (let i = 0; i < iters; i++) {
    const p = buf + (<usize>(i & 7) << 4); // reads p .. p + 8·16 ≤ 7·16 + 128 < peak_buf_bytes()
    let u = v128.load(p, 0);
    a0 = step(a0, u, v0, fused); a1 = step(a1, u, v1, fused);
    u = v128.load(p, 16);
    a2 = step(a2, u, v0, fused); a3 = step(a3, u, v1, fused);
    u = v128.load(p, 32);
    a4 = step(a4, u, v0, fused); a5 = step(a5, u, v1, fused);
    u = v128.load(p, 48);
    a6 = step(a6, u, v0, fused); a7 = step(a7, u, v1, fused);
    u = v128.load(p, 64);
    a0 = step(a0, u, v0, fused); a1 = step(a1, u, v1, fused);
    u = v128.load(p, 80);
    a2 = step(a2, u, v0, fused); a3 = step(a3, u, v1, fused);
    u = v128.load(p, 96);
    a4 = step(a4, u, v0, fused); a5 = step(a5, u, v1, fused);
    u = v128.load(p, 112);
    a6 = step(a6, u, v0, fused); a7 = step(a7, u, v1, fused);
  }
  return hsum(f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7))));
}

/** f32 flops per iteration of `peak_madd10`: 2 steps × 10 chains × 4 lanes × (mul + add). */
export function peak_madd10_flops_per_iter(): i32 { return 2 * 10 * 4 * 2; }

/** 10 independent f32x4 multiply-add chains: 10 accumulators + 2 factors + load + product = 14 xmm registers. */
export function peak_madd10(buf: usize, iters: i32): f32 {
  const v0 = v128.load(buf, 0);
  const v1 = v128.load(buf, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0), a4 = f32x4.splat(0);
  let a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0), a8 = f32x4.splat(0), a9 = f32x4.splat(0);
  for (let i = 0; i < iters; i++) {
    const p = buf + (<usize>(i & 7) << 4); // reads p .. p + 10·16 ≤ 7·16 + 160 < peak_buf_bytes()
    let u: v128;
    u = v128.load(p, 0);
    a0 = f32x4.add(a0, f32x4.mul(u, v0)); a1 = f32x4.add(a1, f32x4.mul(u, v1));
    u = v128.load(p, 16);
    a2 = f32x4.add(a2, f32x4.mul(u, v0)); a3 = f32x4.add(a3, f32x4.mul(u, v1));
    u = v128.load(p, 32);
    a4 = f32x4.add(a4, f32x4.mul(u, v0)); a5 = f32x4.add(a5, f32x4.mul(u, v1));
    u = v128.load(p, 48);
    a6 = f32x4.add(a6, f32x4.mul(u, v0)); a7 = f32x4.add(a7, f32x4.mul(u, v1));
    u = v128.load(p, 64);
    a8 = f32x4.add(a8, f32x4.mul(u, v0)); a9 = f32x4.add(a9, f32x4.mul(u, v1));
    u = v128.load(p, 80);
    a0 = f32x4.add(a0, f32x4.mul(u, v0)); a1 = f32x4.add(a1, f32x4.mul(u, v1));
    u = v128.load(p, 96);
    a2 = f32x4.add(a2, f32x4.mul(u, v0)); a3 = f32x4.add(a3, f32x4.mul(u, v1));
    u = v128.load(p, 112);
    a4 = f32x4.add(a4, f32x4.mul(u, v0)); a5 = f32x4.add(a5, f32x4.mul(u, v1));
    u = v128.load(p, 128);
    a6 = f32x4.add(a6, f32x4.mul(u, v0)); a7 = f32x4.add(a7, f32x4.mul(u, v1));
    u = v128.load(p, 144);
    a8 = f32x4.add(a8, f32x4.mul(u, v0)); a9 = f32x4.add(a9, f32x4.mul(u, v1));
  }
  const s0 = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), a4);
  const s1 = f32x4.add(f32x4.add(f32x4.add(a5, a6), f32x4.add(a7, a8)), a9);
  return hsum(f32x4.add(s0, s1));
}

/** f32 flops per iteration of `peak_madd12`: 2 steps × 12 chains × 4 lanes × (mul + add). */
export function peak_madd12_flops_per_iter(): i32 { return 2 * 12 * 4 * 2; }

/** 12 independent f32x4 multiply-add chains (enough for longer add latencies; 15 xmm registers live). */
export function peak_madd12(buf: usize, iters: i32): f32 { return chains12(buf, iters, false); }

// @ts-ignore: decorator
@inline function chains12(buf: usize, iters: i32, fused: bool): f32 {
  const v0 = v128.load(buf, 0);
  const v1 = v128.load(buf, 16);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let a8 = f32x4.splat(0), a9 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  for (let i = 0; i < iters; i++) {
    const p = buf + (<usize>(i & 7) << 4); // reads p .. p + 12·16 ≤ 7·16 + 192 < peak_buf_bytes()
    let u: v128;
    u = v128.load(p, 0);
    a0 = step(a0, u, v0, fused); a1 = step(a1, u, v1, fused);
    u = v128.load(p, 16);
    a2 = step(a2, u, v0, fused); a3 = step(a3, u, v1, fused);
    u = v128.load(p, 32);
    a4 = step(a4, u, v0, fused); a5 = step(a5, u, v1, fused);
    u = v128.load(p, 48);
    a6 = step(a6, u, v0, fused); a7 = step(a7, u, v1, fused);
    u = v128.load(p, 64);
    a8 = step(a8, u, v0, fused); a9 = step(a9, u, v1, fused);
    u = v128.load(p, 80);
    a10 = step(a10, u, v0, fused); a11 = step(a11, u, v1, fused);
    u = v128.load(p, 96);
    a0 = step(a0, u, v0, fused); a1 = step(a1, u, v1, fused);
    u = v128.load(p, 112);
    a2 = step(a2, u, v0, fused); a3 = step(a3, u, v1, fused);
    u = v128.load(p, 128);
    a4 = step(a4, u, v0, fused); a5 = step(a5, u, v1, fused);
    u = v128.load(p, 144);
    a6 = step(a6, u, v0, fused); a7 = step(a7, u, v1, fused);
    u = v128.load(p, 160);
    a8 = step(a8, u, v0, fused); a9 = step(a9, u, v1, fused);
    u = v128.load(p, 176);
    a10 = step(a10, u, v0, fused); a11 = step(a11, u, v1, fused);
  }
  const s0 = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(a4, a5));
  const s1 = f32x4.add(f32x4.add(f32x4.add(a6, a7), f32x4.add(a8, a9)), f32x4.add(a10, a11));
  return hsum(f32x4.add(s0, s1));
}

/**
 * The latency-bound single chain `a = a·m + c`, kept as the contrast the bench prints (what a naive "peak" loop
 * measures): 4 steps per iteration, 32 flops.
 */
export function peak_madd_chain_flops_per_iter(): i32 { return 4 * 4 * 2; }

export function peak_madd_chain(buf: usize, iters: i32): f32 {
  const m = v128.load(buf, 0);
  const c = v128.load(buf, 16);
  let a = f32x4.splat(0);
  for (let i = 0; i < iters; i++) {
    a = f32x4.add(f32x4.mul(a, m), c);
    a = f32x4.add(f32x4.mul(a, m), c);
    a = f32x4.add(f32x4.mul(a, m), c);
    a = f32x4.add(f32x4.mul(a, m), c);
  }
  return hsum(a);
}

// The same probes through simd.ts's madd: in the relaxed build one f32x4.relaxed_madd per step (a fused FMA where the
// CPU has one, so a step is one instruction and needs no product register), in the plain build exactly the mul+add
// loops above. FMA latency (4 cycles on Zen 4 and recent Intel) × 2 FMA pipes needs ≥ 8 chains in flight.
export { relaxed_simd_build } from './simd';

/** f32 flops per iteration of `peak_fma8`: 2 steps × 8 chains × 4 lanes × 2. */
export function peak_fma8_flops_per_iter(): i32 { return 2 * 8 * 4 * 2; }

export function peak_fma8(buf: usize, iters: i32): f32 { return chains8(buf, iters, true); }

/** f32 flops per iteration of `peak_fma12`: 2 steps × 12 chains × 4 lanes × 2. */
export function peak_fma12_flops_per_iter(): i32 { return 2 * 12 * 4 * 2; }

/** 12 chains: with a fused madd there is no product temporary, so 12 accumulators + 2 factors + 1 load fit in 15 xmm. */
export function peak_fma12(buf: usize, iters: i32): f32 { return chains12(buf, iters, true); }
