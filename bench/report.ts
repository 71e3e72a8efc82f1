// The human-readable table of one bench run (bench/index.ts prints it; `--render results.json` re-prints a saved run).
import type { MemoryRow } from './memory.js';
import type { ModelResult } from './models.js';
import type { TransportBenchRow } from './transport.js';
import type { KernelRow, PeakResult } from './kernels.js';
import { relaxedTable, type RelaxedBenchResult } from './relaxed.js';

export interface BenchResult {
  machine: {
    cpu: string; cpuDetails: string; cpuFlags: string[]; cores: number; memoryGiB: number; os: string; node: string; v8: string;
    onnxruntimeWeb: string; onnxruntimeNode: string; tfjsWasm?: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[];
  };
  options: { quick: boolean; clock: 'cpu' | 'wall' } & Record<string, unknown>;
  seconds: number;
  models: ModelResult[];
  peak: { gflops: number; before: PeakResult; after: PeakResult };
  gemm: KernelRow[];
  conv: KernelRow[];
  attention: KernelRow[];
  /** The CNN exits in one call, exit_gap_linear (absent in older runs). */
  exits?: KernelRow[];
  /** The integer dot-product peak (bench/int-peak.ts), GOP/s, and the int8 path's kernels (absent in older runs). */
  intPeak?: { gops: number; before: PeakResult; after: PeakResult };
  int8?: KernelRow[];
  transport: TransportBenchRow[];
  policy: { name: string; nsPerSample: number }[];
  memory: MemoryRow[];
  /** The relaxed-SIMD build against the plain one (bench/relaxed.ts), in Node and in headless Chromium. */
  relaxed?: RelaxedBenchResult;
}

/**
 * The time an int8 all-exits pass of `id` (`<model> <input>`) would take if every kernel ran at its ceiling: the
 * int8 kernels' ops at the integer dot-product peak, the f32 kernels it keeps (depthwise convolutions) at the f32 peak.
 */
export function int8BoundMs(r: BenchResult, id: string): number {
  let ms = 0;
  for (const k of [...r.gemm, ...r.conv, ...r.attention, ...(r.exits ?? []), ...(r.int8 ?? [])]) {
    const calls = k.callsPerPass[`${id} int8`] ?? 0;
    if (!calls) continue;
    const f32Part = k.kernel.endsWith('_q8') ? k.f32Flops ?? 0 : k.flops;
    ms += calls * ((k.flops - f32Part) / ((r.intPeak?.gops ?? NaN) * 1e6) + f32Part / (r.peak.gflops * 1e6));
  }
  return ms;
}

export function renderTable(r: BenchResult): string {
  const out: string[] = [];
  const f = (v: number | null | undefined, d = 3) => (v === null || v === undefined ? '-' : v.toFixed(d));
  const row = (cells: string[], widths: number[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' ');
  out.push(`machine: ${r.machine.cpu} (${r.machine.cpuDetails}; ${r.machine.cpuFlags.join(' ')}), ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.os}`);
  out.push(`         node ${r.machine.node} (V8 ${r.machine.v8}), onnxruntime-web ${r.machine.onnxruntimeWeb}, onnxruntime-node ${r.machine.onnxruntimeNode}, tfjs-backend-wasm ${r.machine.tfjsWasm ?? '-'}`);
  out.push(`         load average ${r.machine.loadAverageAtStart.join(' ')} at start, ${r.machine.loadAverageAtEnd.join(' ')} at end; ${r.seconds.toFixed(0)} s${r.options.quick ? ' (--quick)' : ''}`);
  out.push('');
  out.push(`1. latency, median ms (${r.options.clock === 'cpu' ? 'process CPU time' : 'wall clock'}); x/web = splitee ÷ onnxruntime-web, x/node = splitee ÷ onnxruntime-node, x/tfjs = splitee ÷ TensorFlow.js WASM (XNNPACK, SIMD, 1 thread) (< 1: splitee faster)`);
  out.push('   int8 = splitee\'s int8 path (precision \'int8\': int8 weights, int16 activations, int32 sums), i8/node = int8 ÷ onnxruntime-node, i8/f32 = int8 ÷ splitee f32');
  out.push('   "all exits" = the whole model computing every exit (the ONNX export\'s graph); "1..k" = device segment,');
  out.push('   layers 1..k + exit k (ORT: the export cut to the nodes exit k needs)');
  const w1 = [26, 12, 9, 9, 9, 9, 9, 6, 6, 6, 7, 6, 7];
  out.push(row(['model', 'part', 'splitee', 'int8', 'ort-web', 'ort-node', 'tfjs-wasm', 'x/web', 'x/node', 'x/tfjs', 'i8/node', 'i8/f32', 'nodes'], w1));
  for (const m of r.models) {
    // Runs saved before the int8 path have no int8 fields.
    const i8 = (x: { spliteeInt8Ms?: number | null; int8VsOrtNode?: number | null; int8VsF32?: number | null }) => [f(x.spliteeInt8Ms), f(x.int8VsOrtNode, 2), f(x.int8VsF32, 2)];
    const [mi, mn, mf] = i8(m);
    out.push(row([`${m.name} ${m.input}`, 'all exits', f(m.spliteeMs), mi, f(m.ortWebMs), f(m.ortNodeMs), f(m.tfjsWasmMs), f(m.vsOrtWeb, 2), f(m.vsOrtNode, 2), f(m.vsTfjsWasm, 2), mn, mf, ''], w1));
    for (const s of m.segments) {
      const [si, sn, sf] = i8(s);
      out.push(row(['', `1..${s.k}`, f(s.spliteeMs), si, f(s.ortWebMs), f(s.ortNodeMs), f(s.tfjsWasmMs), f(s.vsOrtWeb, 2), f(s.vsOrtNode, 2), f(s.vsTfjsWasm, 2), sn, sf, s.onnxNodes ?? ''], w1));
    }
    if (m.parity) out.push(`  parity (max |Δprob| over all exits): ort-web ${m.parity.ortWeb.toExponential(1)}, ort-node ${m.parity.ortNode.toExponential(1)}${m.parity.ok ? '' : '  MISMATCH: ratios withheld'}`);
    if (m.tfjsParity) out.push(`  parity with tfjs-wasm (max |Δprob| over every exit and segment): ${m.tfjsParity.maxAbsDiff.toExponential(1)}${m.tfjsParity.ok ? '' : '  MISMATCH: ratios withheld'}`);
    if (m.int8Parity) {
      out.push(`  int8 vs f32 (max |Δprob| over every exit and segment): ${m.int8Parity.maxAbsDiff.toExponential(1)} (tolerance ${m.int8Parity.tolerance}), ` +
        `${m.int8Parity.samePredictions ? 'same' : 'different'} predicted classes${m.int8Parity.ok ? '' : '  MISMATCH: int8 ratios withheld'}`);
    }
    const rx = m as ModelResult & { spliteeInt8RelaxedMs?: number | null; int8RelaxedVsOrtNode?: number | null };
    if (rx.spliteeInt8RelaxedMs) {
      out.push(`  int8 on the relaxed-SIMD build (section 6's process): ${f(rx.spliteeInt8RelaxedMs)} ms, ÷ ort-node ${f(rx.int8RelaxedVsOrtNode, 2)}`);
    }
  }
  out.push('');
  out.push(`2. kernels vs the measured WASM SIMD mul+add peak: ${r.peak.gflops.toFixed(1)} GFLOP/s ` +
    `(${[...r.peak.before.variants].map((v) => `${v.chains === 1 ? '1 chain' : `${v.chains} chains`} ${v.gflops.toFixed(1)}`).join(', ')}; after: ${r.peak.after.gflops.toFixed(1)})`);
  if (r.intPeak) {
    out.push(`   int8 kernels (_q8) also vs the integer dot-product peak (i32x4.dot_i16x8_s + i32x4.add chains, 2 ops per multiply-add): ${r.intPeak.gops.toFixed(1)} GOP/s ` +
      `(${r.intPeak.before.variants.map((v) => `${v.chains} chains ${v.gflops.toFixed(1)}`).join(', ')}; after: ${r.intPeak.after.gflops.toFixed(1)}); %peak = share of the f32 peak,`);
    out.push('   %int = share of the integer peak, %bnd = time at the ceilings ÷ time (attention_q8: projections int8, scores and softmax·V f32)');
  }
  const w2 = [12, 40, 9, 8, 6, 5, 5, 6];
  out.push(`${row(['kernel', 'shape', 'µs', 'GFLOP/s', '%peak', '%int', '%bnd', 'calls'], w2)}  used by`);
  const us = (ms: number) => { const v = ms * 1000; return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); };
  const kr = (k: KernelRow) => {
    const calls = Object.values(k.callsPerPass).join('/');
    // "model L1", "model L2", "model E1" → "model: L1 L2 E1"
    const byModel = new Map<string, string[]>();
    for (const u of k.uses) {
      const at = u.lastIndexOf(' ');
      const m = u.slice(0, at);
      byModel.set(m, [...(byModel.get(m) ?? []), u.slice(at + 1)]);
    }
    const uses = k.uses.length ? [...byModel].map(([m, w]) => `${m}: ${w.join(' ')}`).join('; ') : k.note ?? 'square GEMM';
    const pct = (v: number | undefined) => (v === undefined ? '' : (100 * v).toFixed(0));
    out.push(`${row([k.kernel, k.shape, us(k.ms), f(k.gflops, 2), (100 * k.peakFraction).toFixed(0), pct(k.intPeakFraction), pct(k.boundFraction), calls], w2)}  ${uses}`);
  };
  const allRows = [...r.gemm, ...r.conv, ...r.attention, ...(r.exits ?? []), ...(r.int8 ?? [])];
  for (const k of allRows) kr(k);
  // Where a whole-model pass spends its time: kernel time × calls, against the measured pass.
  for (const m of r.models) {
    const id = `${m.name} ${m.input}`;
    const sum = allRows.reduce((a, k) => a + (k.callsPerPass[id] ?? 0) * k.ms, 0);
    out.push(`   ${id}: linear/conv/attention/exit kernels ≈ ${sum.toFixed(3)} ms of the ${m.spliteeMs.toFixed(3)} ms all-exits pass (rest: other ops + overhead)`);
    if (r.int8 && m.spliteeInt8Ms) {
      const sum8 = allRows.reduce((a, k) => a + (k.callsPerPass[`${id} int8`] ?? 0) * k.ms, 0);
      const bound = int8BoundMs(r, id);
      out.push(`   ${id} int8: linear/conv/attention/exit kernels ≈ ${sum8.toFixed(3)} ms of the ${m.spliteeInt8Ms.toFixed(3)} ms int8 all-exits pass; ` +
        `at the peaks ${bound.toFixed(3)} ms (int8 kernels at the integer peak, f32 ones at the f32 peak) = ${(100 * bound / m.spliteeInt8Ms).toFixed(0)} % of it`);
    }
  }
  out.push('');
  const skipped = new Set((r.options.skipped as string[] | undefined) ?? []);
  out.push(`3. transport, GB/s of f32 input (frame = codec + header + CRC-32)${skipped.has('transport') ? ': skipped' : ''}`);
  const w3 = [10, 6, 9, 8, 8, 10, 10];
  out.push(row(['shape', 'dtype', 'frame B', 'encode', 'decode', 'frame enc', 'frame dec'], w3));
  for (const t of r.transport) out.push(row([t.shape, t.dtype, String(t.frameBytes), f(t.encodeGBps, 2), f(t.decodeGBps, 2), f(t.frameEncodeGBps, 2), f(t.frameDecodeGBps, 2)], w3));
  out.push('');
  out.push(`4. policy decision + update, L = 12: ${skipped.has('policy') ? 'skipped' : r.policy.map((p) => `${p.name} ${p.nsPerSample.toFixed(0)} ns`).join(', ')}`);
  out.push('');
  out.push(`5. device-half memory (WASM linear memory after load = peak; nothing is allocated while running)${skipped.has('memory') ? ': skipped' : ''}`);
  for (const m of r.memory) {
    out.push(`   ${m.name.padEnd(22)} ${(m.wasmBytes / 2 ** 20).toFixed(2).padStart(7)} MiB  (f32 weights ${(m.weightBytesF32 / 2 ** 20).toFixed(2)} MiB, .spx ${(m.spxBytes / 2 ** 20).toFixed(2)} MiB` +
      `${m.onnxBytes ? `, .onnx ${(m.onnxBytes / 2 ** 20).toFixed(2)} MiB` : ''})${m.grewWhileRunning ? '  GREW WHILE RUNNING' : ''}`);
    if (m.int8) out.push(`   ${`${m.name} int8`.padEnd(22)} ${(m.int8.wasmBytes / 2 ** 20).toFixed(2).padStart(7)} MiB  (int8 path)${m.int8.grewWhileRunning ? '  GREW WHILE RUNNING' : ''}`);
  }
  if (r.relaxed) out.push('', `6. ${relaxedTable(r.relaxed)}`);
  return out.join('\n');
}
