// Part 2 of the bench: the kernels against the machine. The ceiling is the measured WASM SIMD multiply-add
// throughput of this process (assembly/peak.ts: independent f32x4 mul+add chains, 8 flops each); the GEMM (linear),
// conv2d and attention kernels are timed at 256/512/1024 square GEMM and at every shape the bench's models use,
// with how often a whole-model pass (all exits) calls each shape, so the table shows where a model's time goes.
import type { Op } from '../src/format/index.js';
import { planBuffers, shapeAt, type PlanStep } from '../src/engine/plan.js';
import { loadKernels, type Kernels, type KernelExports } from '../src/wasm/runtime.js';
import { ACT } from '../src/engine/activations.js';
import { measureInterleaved, type Clock } from './measure.js';
import { gaussian, sampleInputs, type BenchModel } from './zoo.js';

interface PeakExports {
  peak_buf_bytes(): number;
  peak_madd8(buf: number, iters: number): number;
  peak_madd8_flops_per_iter(): number;
  peak_madd10(buf: number, iters: number): number;
  peak_madd10_flops_per_iter(): number;
  peak_madd12(buf: number, iters: number): number;
  peak_madd12_flops_per_iter(): number;
  peak_madd_chain(buf: number, iters: number): number;
  peak_madd_chain_flops_per_iter(): number;
  // The same loops through assembly/simd.ts's madd (fused in the relaxed build, mul+add in the plain one).
  peak_fma8?(buf: number, iters: number): number;
  peak_fma8_flops_per_iter?(): number;
  peak_fma12?(buf: number, iters: number): number;
  peak_fma12_flops_per_iter?(): number;
}

export interface PeakVariant { name: string; chains: number; gflops: number }
export interface PeakResult {
  /** The ceiling: the best multi-chain variant, GFLOP/s (median of its samples). */
  gflops: number;
  variants: PeakVariant[];
}

export interface KernelRow {
  kernel: 'linear' | 'conv2d' | 'attention';
  shape: string;
  /** Where the shape occurs (model, layer Lk or exit Ek), empty for the square GEMMs. */
  uses: string[];
  flops: number;
  ms: number;
  gflops: number;
  peakFraction: number;
  /** Calls per whole-model pass (all exits) of each model using it. */
  callsPerPass: Record<string, number>;
}

export interface KernelBenchOptions {
  timeMs: number; squareTimeMs: number; peakTimeMs: number; clock: Clock; log?: (l: string) => void;
  /** The kernel instance to time (default: a fresh one of the build useWasmKernels chose). */
  kernels?: Kernels;
  /** Square GEMM sizes (default 256, 512, 1024). */
  squareSizes?: number[];
}

export async function measurePeak(kern: Kernels, timeMs: number, clock: Clock = 'cpu'): Promise<PeakResult> {
  const k = kern.exports as unknown as KernelExports & PeakExports;
  const mark = kern.mark();
  const bytes = k.peak_buf_bytes();
  const buf = kern.alloc(bytes);
  const rnd = gaussian(7);
  // Factors near 1e-3 keep 10^8 accumulations finite and far from denormals.
  kern.f32(buf, bytes / 4).set(Float32Array.from({ length: bytes / 4 }, () => 1e-3 * (1 + 0.1 * rnd())));
  const variants: { name: keyof PeakExports & `peak_${string}`; chains: number }[] = [
    { name: 'peak_madd8', chains: 8 }, { name: 'peak_madd10', chains: 10 }, { name: 'peak_madd12', chains: 12 },
    { name: 'peak_madd_chain', chains: 1 },
  ];
  // Only the relaxed build's madd loops differ from the mul+add ones (a fused FMA needs no product register).
  if (kern.build === 'relaxed' && typeof k.peak_fma8 === 'function') variants.push({ name: 'peak_fma8', chains: 8 }, { name: 'peak_fma12', chains: 12 });
  const tasks = variants.map((v) => {
    const fn = (k[v.name] as (b: number, i: number) => number).bind(k);
    const fpi = (k[`${v.name}_flops_per_iter` as keyof PeakExports] as () => number)();
    // ~4e7 flops per call (about a millisecond at peak); the latency-bound chain gets a tenth of that.
    const iters = Math.max(1, Math.round((v.chains > 1 ? 4e7 : 4e6) / fpi));
    let sink = 0;
    return { v, flops: iters * fpi, task: { name: v.name, fn: () => { sink += fn(buf, iters); return sink; } } };
  });
  const t = await measureInterleaved(tasks.map((x) => x.task), { timeMs, rounds: 3, minIterations: 5, clock });
  kern.release(mark);
  const out = tasks.map((x) => ({ name: x.v.name, chains: x.v.chains, gflops: x.flops / (t.get(x.v.name)!.medianMs * 1e6) }));
  return { gflops: Math.max(...out.filter((o) => o.chains > 1).map((o) => o.gflops)), variants: out };
}

// ---- shapes ----------------------------------------------------------------------------------------------------

interface LinearShape { kernel: 'linear'; M: number; K: number; N: number; act: number }
interface ConvShape { kernel: 'conv2d'; C: number; H: number; W: number; OC: number; KH: number; KW: number; stride: number; pad: number; groups: number; act: number }
/** window: the op's local-attention window (0 = global); it changes the work, so it is part of the shape. */
interface AttnShape { kernel: 'attention'; T: number; D: number; heads: number; window: number }
type Shape = LinearShape | ConvShape | AttnShape;

// The fused activation is part of the call the model makes (GELU costs as much as a small GEMM), so it is part of
// the shape; its flops are not counted.
const ACT_NAMES = ['', ' +relu', ' +relu6', ' +gelu'];

function key(s: Shape): string {
  switch (s.kernel) {
    case 'linear': return `${s.M}x${s.K}·${s.K}x${s.N}${ACT_NAMES[s.act]}`;
    case 'conv2d': return `${s.C}x${s.H}x${s.W}→${s.OC} k${s.KH}x${s.KW} s${s.stride} p${s.pad}${s.groups > 1 ? ` g${s.groups}` : ''}${ACT_NAMES[s.act]}`;
    case 'attention': return `T${s.T} D${s.D} h${s.heads}${s.window > 0 ? ` w${s.window}` : ''}`;
  }
}

/** (query, key) pairs attention scores at length T: T² when global, fewer inside a window |i − j| ≤ w. */
function attendedPairs(T: number, w: number): number {
  if (w <= 0 || w >= T - 1) return T * T;
  let n = 0;
  for (let i = 0; i < T; i++) n += Math.min(T - 1, i + w) - Math.max(0, i - w) + 1;
  return n;
}

function flops(s: Shape): number {
  switch (s.kernel) {
    case 'linear': return 2 * s.M * s.K * s.N;
    case 'conv2d': {
      const OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
      return 2 * s.OC * OH * OW * (s.C / s.groups) * s.KH * s.KW;
    }
    // QKV projection, QKᵀ and softmax·V over the attended pairs, output projection (softmax itself not counted).
    case 'attention': return 2 * s.T * s.D * 3 * s.D + 4 * attendedPairs(s.T, s.window) * s.D + 2 * s.T * s.D * s.D;
  }
}

/** Every linear / conv / attention call one all-exits pass of `bm` makes, at each of its bench inputs. */
function modelShapes(bm: BenchModel): { shape: Shape; use: string; model: string }[] {
  const h = bm.model.header;
  const shapeOf = (n: string) => h.tensors[n].shape;
  const plan = planBuffers(bm.model.file);
  const out: { shape: Shape; use: string; model: string }[] = [];
  for (const sample of sampleInputs(bm.model)) {
    const model = `${bm.name} ${sample.label}`;
    const T = sample.ids?.length ?? 0;
    const visit = (steps: PlanStep[], where: string) => {
      for (const st of steps) {
        const op: Op = st.op;
        const cur = shapeAt(st.inShape, st.inVariable, T);
        if (op.op === 'linear') {
          const [N, K] = shapeOf(op.w);
          const M = cur.length === 1 ? 1 : cur[0];
          out.push({ shape: { kernel: 'linear', M, K, N, act: ACT[op.act ?? 'none'] }, use: where, model });
        } else if (op.op === 'conv2d') {
          const [OC, , KH, KW] = shapeOf(op.w);
          out.push({ shape: { kernel: 'conv2d', C: cur[0], H: cur[1], W: cur[2], OC, KH, KW, stride: op.stride ?? 1, pad: op.pad ?? 0, groups: op.groups ?? 1, act: ACT[op.act ?? 'none'] }, use: where, model });
        } else if (op.op === 'attention') {
          out.push({ shape: { kernel: 'attention', T: cur[0], D: cur[1], heads: op.heads, window: op.window ?? 0 }, use: where, model });
        }
      }
    };
    plan.layers.forEach((layer, i) => {
      visit(layer.steps, `L${i + 1}`);
      visit(plan.exits[i].steps, `E${i + 1}`);
    });
  }
  return out;
}

// ---- timing one kernel call --------------------------------------------------------------------------------------

function prepare(kern: Kernels, s: Shape): () => void {
  const k = kern.exports;
  const rnd = gaussian(11);
  const fill = (n: number, scale = 1) => kern.putF32(Float32Array.from({ length: n }, () => scale * rnd()));
  switch (s.kernel) {
    case 'linear': {
      const x = fill(s.M * s.K), w = fill(s.N * s.K, 0.1), b = fill(s.N, 0.1);
      const packed = kern.alloc(k.linear_packed_bytes(s.K, s.N));
      k.linear_pack(w, packed, s.K, s.N);
      const out = kern.alloc(s.M * s.N * 4);
      return () => k.linear(x, packed, b, out, s.M, s.K, s.N, s.act);
    }
    case 'conv2d': {
      const x = fill(s.C * s.H * s.W), w = fill(s.OC * (s.C / s.groups) * s.KH * s.KW, 0.1), b = fill(s.OC, 0.1);
      const packed = kern.alloc(k.conv2d_packed_bytes(s.C, s.OC, s.KH, s.KW, s.groups));
      k.conv2d_pack(w, packed, s.C, s.OC, s.KH, s.KW, s.groups);
      const OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
      const out = kern.alloc(s.OC * OH * OW * 4);
      const scratch = kern.alloc(k.conv2d_scratch_bytes(s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.groups));
      return () => k.conv2d(x, packed, b, out, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.groups, s.act, scratch);
    }
    case 'attention': {
      const { T, D } = s;
      const x = fill(T * D);
      const wqkv = fill(3 * D * D, 0.1), wo = fill(D * D, 0.1), bqkv = fill(3 * D, 0.1), bo = fill(D, 0.1);
      const pq = kern.alloc(k.linear_packed_bytes(D, 3 * D)), po = kern.alloc(k.linear_packed_bytes(D, D));
      k.linear_pack(wqkv, pq, D, 3 * D);
      k.linear_pack(wo, po, D, D);
      const out = kern.alloc(T * D * 4);
      const scratch = kern.alloc(k.attention_scratch_bytes(T, D, s.heads));
      return () => k.attention(x, T, D, s.heads, pq, bqkv, po, bo, 0, s.window, out, scratch);
    }
  }
}

async function timeShape(kern: Kernels, s: Shape, timeMs: number, clock: Clock): Promise<number> {
  const mark = kern.mark();
  const fn = prepare(kern, s);
  const t = await measureInterleaved([{ name: 'k', fn }], { timeMs, rounds: 1, minIterations: 3, clock });
  kern.release(mark);
  return t.get('k')!.medianMs;
}

export interface KernelBenchResult {
  peak: PeakResult;
  /** Peak measured again after the kernels (the ceiling used is the larger of the two). */
  peakAfter: PeakResult;
  gemm: KernelRow[];
  conv: KernelRow[];
  attention: KernelRow[];
}

export async function benchKernels(models: BenchModel[], opts: KernelBenchOptions): Promise<KernelBenchResult> {
  const log = opts.log ?? (() => {});
  const kern = opts.kernels ?? await loadKernels();
  const peak = await measurePeak(kern, opts.peakTimeMs, opts.clock);
  log(`peak: ${peak.variants.map((v) => `${v.name} ${v.gflops.toFixed(1)}`).join(', ')} GFLOP/s`);

  const rows: (KernelRow & { s: Shape })[] = [];
  const add = (s: Shape, use?: string, model?: string) => {
    const id = `${s.kernel} ${key(s)}`;
    let row = rows.find((r) => `${r.kernel} ${r.shape}` === id);
    if (!row) {
      row = { kernel: s.kernel, shape: key(s), uses: [], flops: flops(s), ms: 0, gflops: 0, peakFraction: 0, callsPerPass: {}, s };
      rows.push(row);
    }
    if (use && model) {
      const tag = `${model} ${use}`;
      if (!row.uses.includes(tag)) row.uses.push(tag);
      row.callsPerPass[model] = (row.callsPerPass[model] ?? 0) + 1;
    }
  };
  for (const n of opts.squareSizes ?? [256, 512, 1024]) add({ kernel: 'linear', M: n, K: n, N: n, act: 0 });
  for (const bm of models) for (const { shape, use, model } of modelShapes(bm)) add(shape, use, model);

  for (const row of rows) {
    const square = row.uses.length === 0;
    row.ms = await timeShape(kern, row.s, square ? opts.squareTimeMs : opts.timeMs, opts.clock);
    row.gflops = row.flops / (row.ms * 1e6);
    log(`${row.kernel} ${row.shape}: ${(row.ms * 1000).toFixed(2)} µs, ${row.gflops.toFixed(2)} GFLOP/s`);
  }
  const peakAfter = await measurePeak(kern, opts.peakTimeMs, opts.clock);
  const ceiling = Math.max(peak.gflops, peakAfter.gflops);
  for (const row of rows) row.peakFraction = row.gflops / ceiling;
  const strip = ({ s: _s, ...r }: KernelRow & { s: Shape }): KernelRow => r;
  return {
    peak, peakAfter,
    gemm: rows.filter((r) => r.kernel === 'linear').map(strip),
    conv: rows.filter((r) => r.kernel === 'conv2d').map(strip),
    attention: rows.filter((r) => r.kernel === 'attention').map(strip),
  };
}
