// WebGPU against WASM, per model, on this machine: the whole model (every exit 1..L in one pass) and the device
// segment for every split k (layers 1..k + exit k, no offload readback), medians of wall-clock time.
//
// Without a GPU, WebGPU runs on SwiftShader (Chromium's CPU Vulkan driver; docs/WEBGPU.md): those numbers say the
// backend works, not how fast it is on a GPU — SwiftShader emulates every invocation on the CPU. On a machine
// with a GPU, set VK_ICD_FILENAMES to its driver's manifest (or leave it unset when one is installed) and the same
// command measures the GPU; the adapter's name is part of the output.
//
// Usage: node dist/bench/webgpu.js [--json] [--quick] [--tiny]
//   --quick: short budgets; --tiny: the test fixtures instead of the zoo (also the fallback while the zoo is empty).
import { pathToFileURL } from 'node:url';
import { Model, type ModelInput } from '../src/index.js';
import { WebGpuBackend } from '../src/webgpu/backend.js';
import { GpuContext } from '../src/webgpu/context.js';
import { createNodeGpu } from '../src/webgpu/node-gpu.js';
import { measureInterleaved } from './measure.js';
import { benchModels, sampleInputs } from './zoo.js';

export interface WebGpuSegmentRow {
  /** Split layer k (the segment is layers 1..k + exit k). */
  k: number;
  wasmMs: number;
  webgpuMs: number;
}

export interface WebGpuModelRow {
  model: string;
  input: string;
  numLayers: number;
  /** Every exit in one pass. */
  whole: { wasmMs: number; webgpuMs: number };
  segments: WebGpuSegmentRow[];
  /** WebGPU's first call: pipeline compilation and buffer allocation, ms. */
  webgpuFirstCallMs: number;
  /** Max |Δprob| between the backends over every exit on the benched input (a sanity check, not the parity test). */
  maxProbDiff: number;
}

export interface WebGpuBenchResult {
  adapter: string;
  /** True when the adapter is SwiftShader (CPU): correctness, not speed. */
  swiftShader: boolean;
  notes: string[];
  models: WebGpuModelRow[];
}

export interface WebGpuBenchOptions {
  quick?: boolean;
  tiny?: boolean;
  log?: (line: string) => void;
}

function inputOf(s: ReturnType<typeof sampleInputs>[number]): ModelInput {
  return (s.image ?? s.ids)!;
}

export async function benchWebGpu(opts: WebGpuBenchOptions = {}): Promise<WebGpuBenchResult> {
  const log = opts.log ?? (() => undefined);
  const { gpu, notes } = await createNodeGpu();
  const ctx = await GpuContext.create({ gpu });
  const swiftShader = /swiftshader/i.test(ctx.adapterName);
  log(`webgpu bench: adapter ${ctx.adapterName}${swiftShader ? ' (SwiftShader: a CPU driver, numbers are for correctness, not speed)' : ''}`);
  // SwiftShader takes ~100 ms per call on the zoo models: a few calls per task are enough for a median.
  const budget = opts.quick ? { timeMs: 150, rounds: 1, minIterations: 3 } : { timeMs: 900, rounds: 3, minIterations: 5 };
  const models: WebGpuModelRow[] = [];
  for (const bm of await benchModels({ tiny: opts.tiny })) {
    models.push(...await benchOne(bm.name, bm.model, ctx, budget, log));
    bm.model.dispose();
  }
  return { adapter: ctx.adapterName, swiftShader, notes, models };
}

async function benchOne(name: string, wasm: Model, ctx: GpuContext, budget: { timeMs: number; rounds: number; minIterations: number }, log: (l: string) => void): Promise<WebGpuModelRow[]> {
  const gpuModel = new Model(wasm.file, await WebGpuBackend.create(wasm.file, ctx), wasm.digest);
  const rows: WebGpuModelRow[] = [];
  try {
    const L = wasm.numLayers;
    for (const s of sampleInputs(wasm)) {
      const x = inputOf(s);
      let t = performance.now();
      const b = await gpuModel.exits(x);
      const firstMs = performance.now() - t;
      const a = await wasm.exits(x);
      let maxProbDiff = 0;
      a.forEach((e, k) => e.probs.forEach((p, c) => { maxProbDiff = Math.max(maxProbDiff, Math.abs(p - b[k].probs[c])); }));
      const m = (name: string, model: Model, fn: (mod: Model) => Promise<unknown>) => ({ name, fn: () => fn(model) });
      const opts = { ...budget, clock: 'wall' as const, minSampleMs: 0 };
      t = performance.now();
      const whole = await measureInterleaved([m('wasm', wasm, (mod) => mod.exits(x)), m('webgpu', gpuModel, (mod) => mod.exits(x))], opts);
      const segments: WebGpuSegmentRow[] = [];
      for (let k = 1; k <= L; k++) {
        const seg = await measureInterleaved([
          m('wasm', wasm, (mod) => mod.runDevice(x, k, { offload: () => false })),
          m('webgpu', gpuModel, (mod) => mod.runDevice(x, k, { offload: () => false })),
        ], opts);
        segments.push({ k, wasmMs: seg.get('wasm')!.medianMs, webgpuMs: seg.get('webgpu')!.medianMs });
      }
      const row: WebGpuModelRow = {
        model: name, input: s.label, numLayers: L,
        whole: { wasmMs: whole.get('wasm')!.medianMs, webgpuMs: whole.get('webgpu')!.medianMs },
        segments, webgpuFirstCallMs: firstMs, maxProbDiff,
      };
      log(`  ${name} ${s.label}: whole model WASM ${row.whole.wasmMs.toFixed(2)} ms, WebGPU ${row.whole.webgpuMs.toFixed(2)} ms `
        + `(first call ${firstMs.toFixed(0)} ms; max |Δp| ${maxProbDiff.toExponential(1)}; ${((performance.now() - t) / 1000).toFixed(1)} s)`);
      rows.push(row);
    }
  } finally {
    gpuModel.dispose();
  }
  return rows;
}

/** The result as a Markdown table (bench/README.md). */
export function webGpuTable(r: WebGpuBenchResult): string {
  const lines = [`WebGPU adapter: ${r.adapter}${r.swiftShader ? ' — SwiftShader (CPU): correctness, not speed' : ''}`, ''];
  for (const m of r.models) {
    lines.push(`${m.model} (${m.input}), median ms per call`, '', '| segment | WASM | WebGPU | WebGPU / WASM |', '| --- | ---: | ---: | ---: |');
    const row = (name: string, a: number, b: number) => `| ${name} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(b / a).toFixed(1)}× |`;
    lines.push(row('whole model (all exits)', m.whole.wasmMs, m.whole.webgpuMs));
    for (const s of m.segments) lines.push(row(`layers 1..${s.k} + exit ${s.k}`, s.wasmMs, s.webgpuMs));
    lines.push('');
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = new Set(process.argv.slice(2));
  const log = (l: string) => process.stderr.write(`${l}\n`);
  benchWebGpu({ quick: args.has('--quick'), tiny: args.has('--tiny'), log }).then((r) => {
    if (args.has('--json')) console.log(JSON.stringify(r, null, 2));
    else console.log(webGpuTable(r));
  }, (e) => {
    console.error(`bench/webgpu: ${(e as Error)?.stack ?? e}`);
    process.exitCode = 1;
  });
}
