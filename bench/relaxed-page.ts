// The browser half of the relaxed-SIMD bench (bench/relaxed.ts bundles this file with esbuild and runs it in headless
// Chromium): the same models and kernels on both builds, timed with performance.now() in interleaved rounds.
// Browser code: no Node modules.
import { loadModelBytes } from '../src/index.js';
import { DEFAULT_WASM_KERNELS, loadKernels, useWasmKernels, wasmRelaxedSimdSupported, type Kernels, type WasmKernelBuild } from '../src/wasm/runtime.js';

export interface PageInput { model: string; label: string; spxBase64: string; image?: number[]; ids?: number[] }
export interface PageArgs { inputs: PageInput[]; timeMs: number; squareSizes: number[] }
/** spliteeMs / spliteeRelaxedMs: the fastest batched sample (wall clock: preemption only ever adds); *MedianMs: the median. */
export interface PageModelRow {
  model: string; input: string; spliteeMs: number; spliteeRelaxedMs: number; spliteeMedianMs: number; spliteeRelaxedMedianMs: number; maxProbDiff: number;
}
export interface PageKernelRow { build: WasmKernelBuild; name: string; gflops: number }
export interface PageResult { userAgent: string; relaxedSupported: boolean; models: PageModelRow[]; kernels: PageKernelRow[] }

type Task = { name: string; fn: () => unknown };

/**
 * Median ms per call of each task, after a warm-up: calls are batched so one sample lasts ≥ 5 ms (Chromium's clock is
 * coarsened to 0.1 ms), tasks alternate sample by sample so a burst of load hits all of them.
 */
async function timeInterleaved(tasks: Task[], timeMs: number): Promise<Map<string, { min: number; median: number }>> {
  const batch = new Map<string, number>();
  for (const t of tasks) {
    // Warm-up: the engine compiles WebAssembly with a baseline compiler first and optimizes hot functions in the
    // background; without it, whichever task ran first could be timed partly on baseline code.
    const warm = performance.now();
    for (let i = 0; i < 20 || performance.now() - warm < 250; i++) await t.fn();
    let n = 1;
    for (;;) {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await t.fn();
      if (performance.now() - t0 >= 5 || n >= 1 << 16) break;
      n *= 2;
    }
    batch.set(t.name, n);
  }
  const samples = new Map<string, number[]>(tasks.map((t) => [t.name, []]));
  const end = performance.now() + timeMs * tasks.length;
  let round = 0;
  while (performance.now() < end || round < 5) {
    for (const t of tasks) {
      const n = batch.get(t.name)!;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await t.fn();
      samples.get(t.name)!.push((performance.now() - t0) / n);
    }
    round++;
  }
  const out = new Map<string, { min: number; median: number }>();
  for (const [name, s] of samples) {
    s.sort((a, b) => a - b);
    out.set(name, { min: s[0], median: s[s.length >> 1] });
  }
  return out;
}

function decode(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

interface PeakExports {
  peak_buf_bytes(): number;
  peak_madd8(buf: number, iters: number): number;
  peak_fma8(buf: number, iters: number): number;
  peak_fma12(buf: number, iters: number): number;
}

/** Peak probes and square GEMMs of one build, GFLOP/s (from the fastest batched sample). */
async function kernelRows(k: Kernels, timeMs: number, squareSizes: number[]): Promise<PageKernelRow[]> {
  const e = k.exports as unknown as typeof k.exports & PeakExports;
  const buf = k.alloc(e.peak_buf_bytes());
  k.f32(buf, e.peak_buf_bytes() / 4).set(Float32Array.from({ length: e.peak_buf_bytes() / 4 }, (_, i) => 1e-3 * (1 + 0.01 * (i % 7))));
  let sink = 0;
  const iters = 40_000; // 2 steps × 8 or 12 chains × 8 flops per iteration: ~5–8 MFLOP per call
  const probes: [string, (b: number, i: number) => number, number][] = [['peak_madd8', e.peak_madd8, 128]];
  if (k.build === 'relaxed') probes.push(['peak_fma8', e.peak_fma8, 128], ['peak_fma12', e.peak_fma12, 192]);
  const tasks: Task[] = probes.map(([name, fn]) => ({ name, fn: () => { sink += fn(buf, iters); } }));
  const flops = new Map<string, number>(probes.map(([name, , fpi]) => [name, fpi * iters]));
  for (const n of squareSizes) {
    const x = k.alloc(n * n * 4), w = k.alloc(n * n * 4), y = k.alloc(n * n * 4);
    k.f32(x, n * n).fill(0.5);
    k.f32(w, n * n).fill(0.25);
    const packed = k.alloc(e.linear_packed_bytes(n, n));
    e.linear_pack(w, packed, n, n);
    const name = `linear ${n}x${n}·${n}x${n}`;
    tasks.push({ name, fn: () => e.linear(x, packed, 0, y, n, n, n, 0) });
    flops.set(name, 2 * n * n * n);
  }
  const t = await timeInterleaved(tasks, timeMs);
  if (!Number.isFinite(sink)) throw new Error('peak probe overflowed');
  return tasks.map((task) => ({ build: k.build, name: task.name, gflops: flops.get(task.name)! / (t.get(task.name)!.min * 1e6) }));
}

export async function run(args: PageArgs): Promise<PageResult> {
  const relaxedSupported = wasmRelaxedSimdSupported();
  if (!relaxedSupported) throw new Error(`this browser has no relaxed SIMD (${navigator.userAgent})`);
  const models: PageModelRow[] = [];
  for (const inp of args.inputs) {
    const bytes = decode(inp.spxBase64);
    useWasmKernels('simd');
    const plain = await loadModelBytes(bytes, { backend: 'wasm' });
    useWasmKernels('relaxed');
    const relaxed = await loadModelBytes(bytes, { backend: 'wasm' });
    useWasmKernels(DEFAULT_WASM_KERNELS);
    const x = inp.ids ? Int32Array.from(inp.ids) : Float32Array.from(inp.image!);
    const a = await plain.exits(x), b = await relaxed.exits(x);
    let maxProbDiff = 0;
    a.forEach((ex, j) => ex.probs.forEach((p, c) => { maxProbDiff = Math.max(maxProbDiff, Math.abs(p - b[j].probs[c])); }));
    const t = await timeInterleaved([{ name: 'simd', fn: () => plain.exits(x) }, { name: 'relaxed', fn: () => relaxed.exits(x) }], args.timeMs);
    models.push({
      model: inp.model, input: inp.label, spliteeMs: t.get('simd')!.min, spliteeRelaxedMs: t.get('relaxed')!.min,
      spliteeMedianMs: t.get('simd')!.median, spliteeRelaxedMedianMs: t.get('relaxed')!.median, maxProbDiff,
    });
    plain.dispose();
    relaxed.dispose();
  }
  const kernels = [
    ...await kernelRows(await loadKernels('simd'), args.timeMs, args.squareSizes),
    ...await kernelRows(await loadKernels('relaxed'), args.timeMs, args.squareSizes),
  ];
  return { userAgent: navigator.userAgent, relaxedSupported, models, kernels };
}
