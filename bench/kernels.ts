// Part 2 of the bench: the kernels against the machine. The ceiling is the measured WASM SIMD multiply-add
// throughput of this process (assembly/peak.ts: independent f32x4 mul+add chains, 8 flops each); the GEMM (linear),
// conv2d and attention kernels are timed at 256/512/1024 square GEMM and at every shape the bench's models use,
// with how often a whole-model pass (all exits) calls each shape, so the table shows where a model's time goes.
//
// With `int8`, the int8 path's kernels (linear_q8, conv2d_q8 for groups = 1, attention_q8) are timed too, at the
// shapes the int8 models call them, against two ceilings: the f32 peak above (how they compare with the f32
// kernels) and the integer dot-product peak of bench/int-peak.ts (what bounds them: an i32x4.dot_i16x8_s does 8
// multiply-adds where f32x4.mul + f32x4.add do 4). Their callsPerPass key is `<model> <input> int8`, which also counts
// the f32 kernels the int8 path keeps (depthwise convolutions).
import type { Op } from '../src/format/index.js';
import { planBuffers, shapeAt, type BlockPlan } from '../src/engine/plan.js';
import { loadKernels, type Kernels, type KernelExports } from '../src/wasm/runtime.js';
import { ACT } from '../src/engine/activations.js';
import { fuseResiduals, gapLinearSteps, WasmBackend } from '../src/engine/wasm-backend.js';
import { measureInterleaved, type Clock } from './measure.js';
import { gaussian, sampleInputs, type BenchModel } from './zoo.js';
import { intOpsPerIter, intPeakProbe, intProbeBytes, INT_PEAK_CHAINS } from './int-peak.js';

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

export type KernelName = 'linear' | 'conv2d' | 'attention' | 'linear_q8' | 'conv2d_q8' | 'attention_q8' | 'exit_gap_linear';

export interface KernelRow {
  kernel: KernelName;
  shape: string;
  /** Where the shape occurs (model, layer Lk or exit Ek), empty for the square GEMMs. */
  uses: string[];
  flops: number;
  ms: number;
  gflops: number;
  /** gflops ÷ the f32 multiply-add peak (for the int8 kernels too: their speed against the f32 bound). */
  peakFraction: number;
  /** int8 kernels: GOP/s (2 per multiply-add) ÷ the integer dot-product peak. */
  intPeakFraction?: number;
  /** int8 kernels: of `flops`, those computed in f32 (attention_q8's scores, softmax·V), bounded by the f32 peak. */
  f32Flops?: number;
  /**
   * int8 kernels: the time at the ceilings (integer ops at the integer peak, `f32Flops` at the f32 peak) ÷ the measured
   * time; equals intPeakFraction when nothing is f32.
   */
  boundFraction?: number;
  /** What a row without uses is for (default: a square GEMM). */
  note?: string;
  /** Calls per whole-model pass (all exits) of each model using it. */
  callsPerPass: Record<string, number>;
}

export interface KernelBenchOptions {
  timeMs: number; squareTimeMs: number; peakTimeMs: number; clock: Clock; log?: (l: string) => void;
  /** The kernel instance to time (default: a fresh one of the build useWasmKernels chose). */
  kernels?: Kernels;
  /** Square GEMM sizes (default 256, 512, 1024). */
  squareSizes?: number[];
  /** Also time the int8 kernels at the int8 models' shapes (and 256/512 square linear_q8) against the integer peak. */
  int8?: boolean;
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

/**
 * The integer ceiling: independent `acc += dot_i16x8(u, v)` chains (bench/int-peak.ts), in GOP/s counting a
 * multiply-add as 2 ops like the f32 flops. Measured in its own small module; the kernels' memory is not involved.
 */
export async function measureIntPeak(timeMs: number, clock: Clock = 'cpu'): Promise<PeakResult> {
  const probe = await intPeakProbe();
  const rnd = gaussian(13);
  const n = Math.max(...probe.chains.map(intProbeBytes)) / 2;
  // Small int16 values: the sums stay far from i32 overflow, and no lane is zero.
  new Int16Array(probe.memory.buffer, 0, n).set(Int16Array.from({ length: n }, () => (Math.round(20 * rnd()) | 1)));
  const tasks = probe.chains.map((chains) => {
    const iters = Math.max(1, Math.round(8e7 / intOpsPerIter(chains)));
    let sink = 0;
    return { chains, ops: iters * intOpsPerIter(chains), task: { name: `dot${chains}`, fn: () => { sink = (sink + probe.run(chains, iters)) | 0; return sink; } } };
  });
  const t = await measureInterleaved(tasks.map((x) => x.task), { timeMs, rounds: 3, minIterations: 5, clock });
  const variants = tasks.map((x) => ({ name: `int_dot${x.chains}`, chains: x.chains, gflops: x.ops / (t.get(x.task.name)!.medianMs * 1e6) }));
  return { gflops: Math.max(...variants.map((v) => v.gflops)), variants };
}

// ---- shapes ----------------------------------------------------------------------------------------------------

/** res: the backend fuses the following residual add into the call (docs/KERNELS.md), so the call adds it. */
interface LinearShape { kernel: 'linear' | 'linear_q8'; M: number; K: number; N: number; act: number; res?: boolean }
interface ConvShape { kernel: 'conv2d' | 'conv2d_q8'; C: number; H: number; W: number; OC: number; KH: number; KW: number; stride: number; pad: number; groups: number; act: number; res?: boolean }
/** window: the op's local-attention window (0 = global); it changes the work, so it is part of the shape. */
interface AttnShape { kernel: 'attention' | 'attention_q8'; T: number; D: number; heads: number; window: number; res?: boolean }
/** A CNN exit in one call: gap over [C, HW], linear C → N, softmax. */
interface ExitShape { kernel: 'exit_gap_linear'; C: number; HW: number; N: number }
type Shape = LinearShape | ConvShape | AttnShape | ExitShape;

// The fused activation is part of the call the model makes (GELU costs as much as a small GEMM), so it is part of
// the shape; its flops are not counted.
const ACT_NAMES = ['', ' +relu', ' +relu6', ' +gelu'];

function key(s: Shape): string {
  const res = 'res' in s && s.res ? ' +res' : '';
  switch (s.kernel) {
    case 'linear': case 'linear_q8': return `${s.M}x${s.K}·${s.K}x${s.N}${ACT_NAMES[s.act]}${res}`;
    case 'conv2d': case 'conv2d_q8': return `${s.C}x${s.H}x${s.W}→${s.OC} k${s.KH}x${s.KW} s${s.stride} p${s.pad}${s.groups > 1 ? ` g${s.groups}` : ''}${ACT_NAMES[s.act]}${res}`;
    case 'attention': case 'attention_q8': return `T${s.T} D${s.D} h${s.heads}${s.window > 0 ? ` w${s.window}` : ''}${res}`;
    case 'exit_gap_linear': return `${s.C}x${s.HW}→${s.N} gap+linear+softmax`;
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
    case 'linear': case 'linear_q8': return 2 * s.M * s.K * s.N;
    case 'conv2d': case 'conv2d_q8': {
      const OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
      return 2 * s.OC * OH * OW * (s.C / s.groups) * s.KH * s.KW;
    }
    // QKV projection, QKᵀ and softmax·V over the attended pairs, output projection (softmax itself not counted).
    case 'attention': case 'attention_q8': return 2 * s.T * s.D * 3 * s.D + 4 * attendedPairs(s.T, s.window) * s.D + 2 * s.T * s.D * s.D;
    // the pool's adds and the head's multiply-adds (softmax not counted)
    case 'exit_gap_linear': return s.C * s.HW + 2 * s.C * s.N;
  }
}

/**
 * Every linear / conv / attention call one all-exits pass of `bm` makes, at each of its bench inputs. `int8`: the
 * calls of its int8 path (the model id gets ` int8`), each on the kernel the loaded int8 model really uses: an op
 * runs on the int8 kernels when the backend holds its weight as int8 (docs/KERNELS.md, "The int8 path": not, for
 * example, an f32 model's exit heads and tiny-K ops, nor depthwise convs).
 */
function modelShapes(bm: BenchModel, int8 = false): { shape: Shape; use: string; model: string }[] {
  const h = bm.model.header;
  const backend = int8 ? bm.int8?.backend : undefined;
  if (int8 && !(backend instanceof WasmBackend)) throw new Error(`${bm.name}: no int8 model on the WASM backend to take the int8 calls from`);
  const q8 = (w: string) => !!backend && (backend as WasmBackend).scales(w) !== 0;
  const shapeOf = (n: string) => h.tensors[n].shape;
  const plan = planBuffers(bm.model.file);
  const out: { shape: Shape; use: string; model: string }[] = [];
  for (const sample of sampleInputs(bm.model)) {
    const model = `${bm.name} ${sample.label}${int8 ? ' int8' : ''}`;
    const T = sample.ids?.length ?? 0;
    // the calls the WASM backend makes: residual adds fused into the kernel before them, CNN exits in one call
    const visit = (block: BlockPlan, where: string) => {
      const head = where.startsWith('E') ? gapLinearSteps(block, q8) : null;
      if (head) {
        const [C, H, W] = head.gap.inShape;
        out.push({ shape: { kernel: 'exit_gap_linear', C, HW: H * W, N: shapeOf((head.linear.op as Extract<Op, { op: 'linear' }>).w)[0] }, use: where, model });
        return;
      }
      for (const { st, res: resSlot } of fuseResiduals(block)) {
        const op: Op = st.op;
        const cur = shapeAt(st.inShape, st.inVariable, T);
        const res = resSlot >= 0;
        if (op.op === 'linear') {
          const [N, K] = shapeOf(op.w);
          const M = cur.length === 1 ? 1 : cur[0];
          out.push({ shape: { kernel: q8(op.w) ? 'linear_q8' : 'linear', M, K, N, act: ACT[op.act ?? 'none'], res }, use: where, model });
        } else if (op.op === 'conv2d') {
          const [OC, , KH, KW] = shapeOf(op.w);
          out.push({ shape: { kernel: q8(op.w) ? 'conv2d_q8' : 'conv2d', C: cur[0], H: cur[1], W: cur[2], OC, KH, KW, stride: op.stride ?? 1, pad: op.pad ?? 0, groups: op.groups ?? 1, act: ACT[op.act ?? 'none'], res }, use: where, model });
        } else if (op.op === 'attention') {
          out.push({ shape: { kernel: q8(op.wqkv) ? 'attention_q8' : 'attention', T: cur[0], D: cur[1], heads: op.heads, window: op.window ?? 0, res }, use: where, model });
        }
      }
    };
    plan.layers.forEach((layer, i) => {
      visit(layer, `L${i + 1}`);
      visit(plan.exits[i], `E${i + 1}`);
    });
  }
  return out;
}

// ---- timing one kernel call --------------------------------------------------------------------------------------

// The int8 rows get the f32 rows' weight distribution, 0.1·N(0, 1): int8 codes of standard deviation Q8_STD times a
// scale of 0.1 / Q8_STD. Not only for fairness: the GELU's time depends on its inputs (far out in the negative tail,
// exp underflows into subnormals, which x86 handles slowly), so outputs much larger than a model's would time it
// on inputs no model produces.
const Q8_STD = 40;

/** Random int8 weights [rows, cols] (never all zero) packed by `pack` into a buffer of `bytes`. */
function int8Packed(kern: Kernels, rows: number, cols: number, pack: (w: number, packed: number) => void, bytes: number): number {
  const packed = kern.alloc(bytes);
  const mark = kern.mark();
  const w = kern.alloc(rows * cols);
  const rnd = gaussian(17);
  kern.i8(w, rows * cols).set(Int8Array.from({ length: rows * cols }, () => Math.max(-127, Math.min(127, Math.round(Q8_STD * rnd())))));
  pack(w, packed);
  kern.release(mark);
  return packed;
}

/** Per-output-channel scales as the int8 path stores them: n values, zero-padded to a multiple of `multiple`. */
function scales(kern: Kernels, n: number, multiple: number): number {
  const padded = Math.ceil(n / multiple) * multiple;
  const p = kern.alloc(padded * 4);
  kern.f32(p, padded).set(Float32Array.from({ length: padded }, (_, i) => (i < n ? (0.1 / Q8_STD) * (0.9 + 0.2 * ((i % 7) / 6)) : 0)));
  return p;
}

function prepare(kern: Kernels, s: Shape): () => void {
  const k = kern.exports;
  const rnd = gaussian(11);
  const fill = (n: number, scale = 1) => kern.putF32(Float32Array.from({ length: n }, () => scale * rnd()));
  // the saved operand of a fused residual add (0: none), shaped like the output
  const residual = (n: number) => ('res' in s && s.res ? fill(n) : 0);
  switch (s.kernel) {
    case 'linear': {
      const x = fill(s.M * s.K), w = fill(s.N * s.K, 0.1), b = fill(s.N, 0.1);
      const packed = kern.alloc(k.linear_packed_bytes(s.K, s.N));
      k.linear_pack(w, packed, s.K, s.N);
      const out = kern.alloc(s.M * s.N * 4), res = residual(s.M * s.N);
      return () => k.linear(x, packed, b, out, s.M, s.K, s.N, s.act, res);
    }
    case 'conv2d': {
      const x = fill(s.C * s.H * s.W), w = fill(s.OC * (s.C / s.groups) * s.KH * s.KW, 0.1), b = fill(s.OC, 0.1);
      const packed = kern.alloc(k.conv2d_packed_bytes(s.C, s.OC, s.KH, s.KW, s.groups));
      k.conv2d_pack(w, packed, s.C, s.OC, s.KH, s.KW, s.groups);
      const OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
      const out = kern.alloc(s.OC * OH * OW * 4), res = residual(s.OC * OH * OW);
      const scratch = kern.alloc(k.conv2d_scratch_bytes(s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.groups));
      return () => k.conv2d(x, packed, b, out, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.groups, s.act, scratch, res);
    }
    case 'linear_q8': {
      const x = fill(s.M * s.K), b = fill(s.N, 0.1);
      const packed = int8Packed(kern, s.N, s.K, (w, p) => k.linear_q8_pack(w, p, s.K, s.N), k.linear_q8_packed_bytes(s.K, s.N));
      const ws = scales(kern, s.N, 8);
      const out = kern.alloc(s.M * s.N * 4), res = residual(s.M * s.N);
      const scratch = kern.alloc(k.linear_q8_scratch_bytes(s.M, s.K));
      return () => k.linear_q8(x, packed, ws, b, out, s.M, s.K, s.N, s.act, scratch, res);
    }
    case 'conv2d_q8': {
      const x = fill(s.C * s.H * s.W), b = fill(s.OC, 0.1);
      const K = s.C * s.KH * s.KW;
      const packed = int8Packed(kern, s.OC, K, (w, p) => k.conv2d_q8_pack(w, p, s.C, s.OC, s.KH, s.KW), k.conv2d_q8_packed_bytes(s.C, s.OC, s.KH, s.KW));
      const ws = scales(kern, s.OC, 4);
      const OH = Math.floor((s.H + 2 * s.pad - s.KH) / s.stride) + 1, OW = Math.floor((s.W + 2 * s.pad - s.KW) / s.stride) + 1;
      const out = kern.alloc(s.OC * OH * OW * 4), res = residual(s.OC * OH * OW);
      const scratch = kern.alloc(k.conv2d_q8_scratch_bytes(s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad));
      return () => k.conv2d_q8(x, packed, ws, b, out, s.C, s.H, s.W, s.OC, s.KH, s.KW, s.stride, s.pad, s.act, scratch, res);
    }
    case 'attention_q8': {
      const { T, D } = s;
      const x = fill(T * D), bqkv = fill(3 * D, 0.1), bo = fill(D, 0.1);
      const pq = int8Packed(kern, 3 * D, D, (w, p) => k.linear_q8_pack(w, p, D, 3 * D), k.linear_q8_packed_bytes(D, 3 * D));
      const po = int8Packed(kern, D, D, (w, p) => k.linear_q8_pack(w, p, D, D), k.linear_q8_packed_bytes(D, D));
      const sq = scales(kern, 3 * D, 8), so = scales(kern, D, 8);
      const out = kern.alloc(T * D * 4), res = residual(T * D);
      const scratch = kern.alloc(k.attention_q8_scratch_bytes(T, D, s.heads));
      return () => k.attention_q8(x, T, D, s.heads, pq, sq, bqkv, po, so, bo, 0, s.window, out, scratch, res);
    }
    case 'attention': {
      const { T, D } = s;
      const x = fill(T * D);
      const wqkv = fill(3 * D * D, 0.1), wo = fill(D * D, 0.1), bqkv = fill(3 * D, 0.1), bo = fill(D, 0.1);
      const pq = kern.alloc(k.linear_packed_bytes(D, 3 * D)), po = kern.alloc(k.linear_packed_bytes(D, D));
      k.linear_pack(wqkv, pq, D, 3 * D);
      k.linear_pack(wo, po, D, D);
      const out = kern.alloc(T * D * 4), res = residual(T * D);
      const scratch = kern.alloc(k.attention_scratch_bytes(T, D, s.heads));
      return () => k.attention(x, T, D, s.heads, pq, bqkv, po, bo, 0, s.window, out, scratch, res);
    }
    case 'exit_gap_linear': {
      const x = fill(s.C * s.HW), w = fill(s.N * s.C, 0.1), b = fill(s.N, 0.1);
      const packed = kern.alloc(k.linear_packed_bytes(s.C, s.N));
      k.linear_pack(w, packed, s.C, s.N);
      const feat = kern.alloc(s.C * 4), logits = kern.alloc(s.N * 4), probs = kern.alloc(s.N * 4);
      return () => k.exit_gap_linear(x, s.C, s.HW, packed, b, s.N, feat, logits, probs);
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
  /** The CNN exits in one call (exit_gap_linear). */
  exits: KernelRow[];
  /** With `int8`: the integer dot-product peak (before and after the kernels, GOP/s) and the int8 kernels' rows. */
  intPeak?: { gops: number; before: PeakResult; after: PeakResult };
  int8?: KernelRow[];
}

export async function benchKernels(models: BenchModel[], opts: KernelBenchOptions): Promise<KernelBenchResult> {
  const log = opts.log ?? (() => {});
  const kern = opts.kernels ?? await loadKernels();
  const peak = await measurePeak(kern, opts.peakTimeMs, opts.clock);
  log(`peak: ${peak.variants.map((v) => `${v.name} ${v.gflops.toFixed(1)}`).join(', ')} GFLOP/s`);
  const intPeak = opts.int8 ? await measureIntPeak(opts.peakTimeMs, opts.clock) : undefined;
  if (intPeak) log(`integer dot peak: ${intPeak.variants.map((v) => `${v.name} ${v.gflops.toFixed(1)}`).join(', ')} GOP/s`);

  const rows: (KernelRow & { s: Shape })[] = [];
  const add = (s: Shape, use?: string, model?: string, note?: string) => {
    const id = `${s.kernel} ${key(s)}`;
    let row = rows.find((r) => `${r.kernel} ${r.shape}` === id);
    if (!row) {
      row = { kernel: s.kernel, shape: key(s), uses: [], flops: flops(s), ms: 0, gflops: 0, peakFraction: 0, callsPerPass: {}, s };
      if (s.kernel === 'attention_q8') row.f32Flops = 4 * attendedPairs(s.T, s.window) * s.D;
      if (note) row.note = note;
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
  if (opts.int8) {
    for (const n of (opts.squareSizes ?? [256, 512, 1024]).filter((n) => n <= 512)) add({ kernel: 'linear_q8', M: n, K: n, N: n, act: 0 });
    for (const bm of models) if (bm.int8) for (const { shape, use, model } of modelShapes(bm, true)) add(shape, use, model);
    // The GELU-fused projections (f32 and int8) again without the GELU: the difference is what the activation costs.
    for (const r of [...rows]) {
      if ((r.s.kernel === 'linear_q8' || r.s.kernel === 'linear') && r.s.act === ACT.gelu && r.uses.length) {
        add({ ...r.s, act: 0 }, undefined, undefined, `${r.shape} without the GELU (comparison)`);
      }
    }
  }

  for (const row of rows) {
    const square = row.uses.length === 0;
    row.ms = await timeShape(kern, row.s, square ? opts.squareTimeMs : opts.timeMs, opts.clock);
    row.gflops = row.flops / (row.ms * 1e6);
    log(`${row.kernel} ${row.shape}: ${(row.ms * 1000).toFixed(2)} µs, ${row.gflops.toFixed(2)} GFLOP/s`);
  }
  const peakAfter = await measurePeak(kern, opts.peakTimeMs, opts.clock);
  const ceiling = Math.max(peak.gflops, peakAfter.gflops);
  for (const row of rows) row.peakFraction = row.gflops / ceiling;
  const intPeakAfter = intPeak ? await measureIntPeak(opts.peakTimeMs, opts.clock) : undefined;
  const intCeiling = intPeak && intPeakAfter ? Math.max(intPeak.gflops, intPeakAfter.gflops) : 0;
  for (const row of rows) {
    if (!row.kernel.endsWith('_q8')) continue;
    row.intPeakFraction = row.gflops / intCeiling;
    const f32Part = row.f32Flops ?? 0;
    row.boundFraction = ((row.flops - f32Part) / (intCeiling * 1e6) + f32Part / (ceiling * 1e6)) / row.ms;
  }
  const strip = ({ s: _s, ...r }: KernelRow & { s: Shape }): KernelRow => r;
  return {
    peak, peakAfter,
    gemm: rows.filter((r) => r.kernel === 'linear').map(strip),
    conv: rows.filter((r) => r.kernel === 'conv2d').map(strip),
    attention: rows.filter((r) => r.kernel === 'attention').map(strip),
    exits: rows.filter((r) => r.kernel === 'exit_gap_linear').map(strip),
    ...(intPeak && intPeakAfter ? {
      intPeak: { gops: intCeiling, before: intPeak, after: intPeakAfter },
      int8: (['linear_q8', 'conv2d_q8', 'attention_q8'] as const).flatMap((k) => rows.filter((r) => r.kernel === k)).map(strip),
    } : {}),
  };
}
