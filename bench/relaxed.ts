// The two kernel builds side by side (docs/KERNELS.md, "Two builds"): the plain SIMD build and the relaxed-SIMD build
// (f32x4.relaxed_madd, a fused multiply-add on CPUs that have one), on the same models and kernels,
//   - in Node: Node 20 has relaxed SIMD only behind --experimental-wasm-relaxed-simd, so when this process lacks it the
//     Node half runs in a child started with the flag; timed with process CPU time like the rest of the bench;
//   - in headless Chromium (which ships relaxed SIMD): bench/relaxed-page.ts bundled with esbuild, wall clock.
// Per model and input: spliteeMs (plain) and spliteeRelaxedMs, and the largest probability difference between the
// builds; per build: the measured multiply-add peak, square GEMM and the models' GEMM shapes as a share of it.
//
// Usage: node dist/bench/relaxed.js [--quick] [--json] [--out file.json] [--no-chromium]
//   (bench/index.ts calls benchRelaxed; --node-only is the child's own mode.)
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Model } from '../src/engine/model.js';
import { WasmBackend } from '../src/engine/wasm-backend.js';
import { packageRoot, zooModels } from '../src/node.js';
import { DEFAULT_WASM_KERNELS, loadKernels, useWasmKernels, wasmRelaxedSimdSupported, type WasmKernelBuild } from '../src/wasm/runtime.js';
import { benchKernels, type KernelBenchResult, type KernelRow } from './kernels.js';
import { measureInterleaved, type Clock } from './measure.js';
import { benchModels, sampleInputs, type BenchModel } from './zoo.js';
import type { PageArgs, PageResult } from './relaxed-page.js';

export interface RelaxedModelRow {
  model: string;
  input: string;
  spliteeMs: number;
  spliteeRelaxedMs: number;
  /** spliteeRelaxedMs ÷ spliteeMs (< 1: the relaxed build is faster). */
  ratio: number;
  /** Largest |Δ probability| between the builds over every exit. */
  maxProbDiff: number;
  /** The pass's linear/conv/attention flops ÷ the build's peak: the time the pass would take at the peak, ms. */
  peakBoundMs?: number;
  /**
   * The int8 path (precision 'int8') on each build, timed in the same interleaved rounds. Its integer kernels are the
   * same in both builds; the f32 parts it keeps (depthwise convolutions, GELU, norms, softmax) use the build's madd.
   */
  spliteeInt8Ms?: number;
  spliteeInt8RelaxedMs?: number;
  /** Largest |Δ probability| between the int8 path on the two builds. */
  int8MaxProbDiff?: number;
}

export interface RelaxedBuildKernels {
  build: WasmKernelBuild;
  peakGflops: number;
  peakVariants: { name: string; chains: number; gflops: number }[];
  gemm: KernelRow[];
  conv: KernelRow[];
  attention: KernelRow[];
  /** The CNN exits in one call (absent in older runs). */
  exits?: KernelRow[];
}

export interface RelaxedNodeResult {
  node: string;
  v8: string;
  flag: string | null;
  models: RelaxedModelRow[];
  kernels: RelaxedBuildKernels[];
}

export interface RelaxedChromiumResult extends PageResult {
  version: string;
}

export interface RelaxedBenchResult {
  node: RelaxedNodeResult;
  chromium: RelaxedChromiumResult | { error: string };
}

export interface RelaxedBenchOptions { quick?: boolean; clock?: Clock; chromium?: boolean; log?: (l: string) => void }

const FLAG = '--experimental-wasm-relaxed-simd';
const SELF = fileURLToPath(import.meta.url);

function budgets(quick: boolean) {
  return quick
    ? { modelTaskMs: 150, rounds: 2, shapeMs: 40, squareMs: 150, peakMs: 120, pageMs: 150 }
    : { modelTaskMs: 700, rounds: 3, shapeMs: 200, squareMs: 600, peakMs: 400, pageMs: 600 };
}

function inputOf(s: ReturnType<typeof sampleInputs>[number]): Float32Array | Int32Array {
  return s.ids ?? s.image!;
}

/** Flops of one all-exits pass of `model` (its kernel rows × calls per pass). */
function passFlops(k: RelaxedBuildKernels, model: string): number {
  let f = 0;
  for (const r of [...k.gemm, ...k.conv, ...k.attention, ...(k.exits ?? [])]) f += r.flops * (r.callsPerPass[model] ?? 0);
  return f;
}

/** Each row's fastest run, and the highest peak; %peak recomputed against that peak. */
function bestOf(build: WasmKernelBuild, runs: KernelBenchResult[]): RelaxedBuildKernels {
  const peaks = runs.flatMap((r) => [r.peak, r.peakAfter]);
  const best = peaks.reduce((a, c) => (c.gflops > a.gflops ? c : a));
  const rows = (pick: (r: KernelBenchResult) => KernelRow[]) => pick(runs[0]).map((row, i) => {
    const fastest = runs.map((r) => pick(r)[i]).reduce((a, c) => (c.ms < a.ms ? c : a));
    return { ...fastest, peakFraction: fastest.gflops / best.gflops };
  });
  return { build, peakGflops: best.gflops, peakVariants: best.variants, gemm: rows((r) => r.gemm), conv: rows((r) => r.conv), attention: rows((r) => r.attention), exits: rows((r) => r.exits) };
}

/** The Node half; needs a process with relaxed SIMD. */
export async function benchRelaxedNode(opts: RelaxedBenchOptions = {}): Promise<RelaxedNodeResult> {
  const log = opts.log ?? (() => undefined);
  const clock = opts.clock ?? 'cpu';
  const b = budgets(!!opts.quick);
  if (!wasmRelaxedSimdSupported()) throw new Error(`this Node (${process.version}) has no relaxed SIMD: run it with ${FLAG}`);
  useWasmKernels('simd');
  const plain: BenchModel[] = await benchModels({ int8: true });
  const models: RelaxedModelRow[] = [];
  const kernels: RelaxedBuildKernels[] = [];
  try {
    useWasmKernels('relaxed');
    for (const bm of plain) {
      const relaxed = new Model(bm.model.file, await WasmBackend.create(bm.model.file), bm.model.digest);
      const relaxedInt8 = new Model(bm.model.file, await WasmBackend.create(bm.model.file, { precision: 'int8' }), bm.model.digest);
      const plainInt8 = bm.int8!;
      const diff = (a: { probs: Float32Array }[], r: { probs: Float32Array }[]) => {
        let d = 0;
        a.forEach((e, j) => e.probs.forEach((p, c) => { d = Math.max(d, Math.abs(p - r[j].probs[c])); }));
        return d;
      };
      try {
        for (const s of sampleInputs(bm.model)) {
          const x = inputOf(s);
          const maxProbDiff = diff(await bm.model.exits(x), await relaxed.exits(x));
          const int8MaxProbDiff = diff(await plainInt8.exits(x), await relaxedInt8.exits(x));
          const t = await measureInterleaved([
            { name: 'simd', fn: () => bm.model.exits(x) },
            { name: 'relaxed', fn: () => relaxed.exits(x) },
            { name: 'simd-int8', fn: () => plainInt8.exits(x) },
            { name: 'relaxed-int8', fn: () => relaxedInt8.exits(x) },
          ], { timeMs: b.modelTaskMs, rounds: b.rounds, clock });
          const row: RelaxedModelRow = {
            model: bm.name, input: s.label, spliteeMs: t.get('simd')!.medianMs, spliteeRelaxedMs: t.get('relaxed')!.medianMs,
            ratio: t.get('relaxed')!.medianMs / t.get('simd')!.medianMs, maxProbDiff,
            spliteeInt8Ms: t.get('simd-int8')!.medianMs, spliteeInt8RelaxedMs: t.get('relaxed-int8')!.medianMs, int8MaxProbDiff,
          };
          log(`relaxed bench (node): ${bm.name} ${s.label}: simd ${row.spliteeMs.toFixed(3)} ms, relaxed ${row.spliteeRelaxedMs.toFixed(3)} ms (×${row.ratio.toFixed(2)}), max |Δp| ${maxProbDiff.toExponential(1)}; ` +
            `int8 simd ${row.spliteeInt8Ms!.toFixed(3)} ms, relaxed ${row.spliteeInt8RelaxedMs!.toFixed(3)} ms, max |Δp| ${int8MaxProbDiff.toExponential(1)}`);
          models.push(row);
        }
      } finally {
        relaxed.dispose();
        relaxedInt8.dispose();
      }
    }
    // The kernel table times one build's shapes one after the other; running it twice per build, alternating, and
    // keeping each row's faster pass keeps a burst of load on the machine from landing on one build only.
    const runs: Record<WasmKernelBuild, KernelBenchResult[]> = { simd: [], relaxed: [] };
    for (const build of ['simd', 'relaxed', 'simd', 'relaxed'] as const) {
      runs[build].push(await benchKernels(plain, {
        timeMs: b.shapeMs / 2, squareTimeMs: b.squareMs / 2, peakTimeMs: b.peakMs / 2, clock, kernels: await loadKernels(build),
        squareSizes: [256, 512],
        log: (l) => log(`relaxed bench (node, ${build} kernels): ${l}`),
      }));
    }
    for (const build of ['simd', 'relaxed'] as const) kernels.push(bestOf(build, runs[build]));
  } finally {
    useWasmKernels(DEFAULT_WASM_KERNELS);
    for (const bm of plain) { bm.model.dispose(); bm.int8?.dispose(); }
  }
  for (const row of models) {
    const k = kernels.find((x) => x.build === 'relaxed')!;
    row.peakBoundMs = passFlops(k, `${row.model} ${row.input}`) / (k.peakGflops * 1e6);
  }
  return { node: process.version, v8: process.versions.v8, flag: process.execArgv.includes(FLAG) ? FLAG : null, models, kernels };
}

/** The Node half in this process when it has relaxed SIMD, else in a child started with the flag. */
async function nodeHalf(opts: RelaxedBenchOptions): Promise<RelaxedNodeResult> {
  if (wasmRelaxedSimdSupported()) return benchRelaxedNode(opts);
  const args = [FLAG, SELF, '--node-only', '--json', ...(opts.quick ? ['--quick'] : []), ...(opts.clock === 'wall' ? ['--wall'] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  if (opts.log) for (const l of r.stderr.split('\n')) if (l) opts.log(l);
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-1500)}`);
  return JSON.parse(r.stdout) as RelaxedNodeResult;
}

/** The browser half: headless Chromium, the page bundle, the zoo models' bench inputs. */
export async function benchRelaxedChromium(opts: RelaxedBenchOptions = {}): Promise<RelaxedChromiumResult> {
  const log = opts.log ?? (() => undefined);
  const b = budgets(!!opts.quick);
  const esbuild = await import('esbuild');
  const bundle = await esbuild.build({
    entryPoints: [join(packageRoot, 'dist', 'bench', 'relaxed-page.js')], bundle: true, write: false, format: 'iife',
    globalName: 'spliteeRelaxedBench', platform: 'browser', target: 'es2022', logLevel: 'silent',
    external: ['node:*'], // the engine's node:crypto fallback is never reached in a browser (it has crypto.subtle)
  });
  const inputs: PageArgs['inputs'] = [];
  for (const name of zooModels()) {
    const bytes = readFileSync(join(packageRoot, 'models', name, `${name}.spx`));
    const probe = (await benchModels()).find((m) => m.name === name)!;
    for (const s of sampleInputs(probe.model)) {
      inputs.push({ model: name, label: s.label, spxBase64: bytes.toString('base64'), ...(s.ids ? { ids: Array.from(s.ids) } : { image: Array.from(s.image!) }) });
    }
    probe.model.dispose();
  }
  const { launchChromium } = await import('../src/demo/chromium.js');
  const browser = await launchChromium(['--disable-gpu']);
  try {
    const version = browser.version();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // A secure context (loopback, answered here: no server) so the engine finds crypto.subtle for a model's digest.
    await page.route('http://127.0.0.1/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>splitee relaxed bench</title>' }));
    await page.goto('http://127.0.0.1/');
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    log(`relaxed bench (chromium ${version}): ${inputs.length} model inputs, both builds`);
    const args: PageArgs = { inputs, timeMs: b.pageMs, squareSizes: [256, 512] };
    const result = await page.evaluate(async (a) => (globalThis as unknown as { spliteeRelaxedBench: { run(x: PageArgs): Promise<PageResult> } }).spliteeRelaxedBench.run(a), args);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    for (const m of result.models) log(`relaxed bench (chromium): ${m.model} ${m.input}: simd ${m.spliteeMs.toFixed(3)} ms, relaxed ${m.spliteeRelaxedMs.toFixed(3)} ms`);
    return { version, ...result };
  } finally {
    await browser.close();
  }
}

export async function benchRelaxed(opts: RelaxedBenchOptions = {}): Promise<RelaxedBenchResult> {
  const node = await nodeHalf(opts);
  let chromium: RelaxedBenchResult['chromium'];
  if (opts.chromium === false) chromium = { error: 'not run (--no-chromium)' };
  else {
    try {
      chromium = await benchRelaxedChromium(opts);
    } catch (e) {
      chromium = { error: (e as Error).message };
    }
  }
  return { node, chromium };
}

const f3 = (v: number) => v.toFixed(3);
const pct = (v: number) => `${Math.round(100 * v)}`;

export function relaxedTable(r: RelaxedBenchResult): string {
  const out: string[] = [];
  const n = r.node;
  out.push(`relaxed SIMD vs plain SIMD builds, median ms per all-exits pass (x = relaxed ÷ simd; < 1: relaxed faster)`);
  out.push(`node ${n.node} (V8 ${n.v8}${n.flag ? `, ${n.flag}` : ''}), process CPU time:`);
  out.push(`${'model'.padEnd(26)} ${'simd'.padStart(8)} ${'relaxed'.padStart(8)} ${'x'.padStart(5)} ${'bound'.padStart(7)} ${'%bound'.padStart(6)}  max|Δp|`);
  for (const m of n.models) {
    const bound = m.peakBoundMs ?? NaN;
    out.push(`${`${m.model} ${m.input}`.padEnd(26)} ${f3(m.spliteeMs).padStart(8)} ${f3(m.spliteeRelaxedMs).padStart(8)} ${m.ratio.toFixed(2).padStart(5)} ${f3(bound).padStart(7)} ${pct(bound / m.spliteeRelaxedMs).padStart(6)}  ${m.maxProbDiff.toExponential(1)}`);
  }
  out.push(`  bound = the pass's linear/conv/attention/exit flops at the relaxed build's measured peak; %bound = bound ÷ relaxed time`);
  if (n.models.some((m) => m.spliteeInt8Ms !== undefined)) {
    out.push(`int8 path on each build (its integer kernels are the same; the f32 parts it keeps use the build's madd):`);
    for (const m of n.models) {
      if (m.spliteeInt8Ms === undefined || m.spliteeInt8RelaxedMs === undefined) continue;
      out.push(`${`${m.model} ${m.input} int8`.padEnd(26)} ${f3(m.spliteeInt8Ms).padStart(8)} ${f3(m.spliteeInt8RelaxedMs).padStart(8)} ${(m.spliteeInt8RelaxedMs / m.spliteeInt8Ms).toFixed(2).padStart(5)}  ${' '.repeat(14)}  ${(m.int8MaxProbDiff ?? NaN).toExponential(1)}`);
    }
  }
  for (const k of n.kernels) {
    out.push(`${k.build} build: peak ${k.peakGflops.toFixed(1)} GFLOP/s (${k.peakVariants.map((v) => `${v.name.replace('peak_', '')} ${v.gflops.toFixed(1)}`).join(', ')})`);
  }
  const byShape = new Map<string, Partial<Record<WasmKernelBuild, KernelRow>>>();
  for (const k of n.kernels) for (const row of [...k.gemm, ...k.conv, ...k.attention, ...(k.exits ?? [])]) {
    const id = `${row.kernel} ${row.shape}`;
    byShape.set(id, { ...byShape.get(id), [k.build]: row });
  }
  out.push(`${'kernel shape'.padEnd(46)} ${'simd µs'.padStart(8)} ${'%peak'.padStart(5)} ${'relaxed µs'.padStart(10)} ${'%peak'.padStart(5)} ${'x'.padStart(5)}`);
  for (const [id, rows] of byShape) {
    const s = rows.simd, x = rows.relaxed;
    if (!s || !x) continue;
    out.push(`${id.padEnd(46)} ${(s.ms * 1000).toFixed(2).padStart(8)} ${pct(s.peakFraction).padStart(5)} ${(x.ms * 1000).toFixed(2).padStart(10)} ${pct(x.peakFraction).padStart(5)} ${(x.ms / s.ms).toFixed(2).padStart(5)}`);
  }
  out.push(`  %peak: of each build's own measured peak`);
  if ('error' in r.chromium) out.push(`chromium: ${r.chromium.error}`);
  else {
    const c = r.chromium;
    out.push(`chromium ${c.version} (headless, wall clock: fastest batched sample, median in brackets):`);
    for (const m of c.models) {
      out.push(`${`${m.model} ${m.input}`.padEnd(26)} ${f3(m.spliteeMs).padStart(8)} ${f3(m.spliteeRelaxedMs).padStart(8)} ${(m.spliteeRelaxedMs / m.spliteeMs).toFixed(2).padStart(5)}  `
        + `[${f3(m.spliteeMedianMs)} ${f3(m.spliteeRelaxedMedianMs)}]  max|Δp| ${m.maxProbDiff.toExponential(1)}`);
    }
    for (const build of ['simd', 'relaxed'] as const) {
      const rows = c.kernels.filter((k) => k.build === build);
      const peak = Math.max(...rows.filter((k) => k.name.startsWith('peak_')).map((k) => k.gflops));
      out.push(`${build} build: ${rows.map((k) => `${k.name.replace('peak_', '')} ${k.gflops.toFixed(1)}${k.name.startsWith('linear') ? ` (${pct(k.gflops / peak)} %)` : ''}`).join(', ')} GFLOP/s`);
    }
  }
  return out.join('\n');
}

// ---- command line ------------------------------------------------------------------------------------------------

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = new Set(process.argv.slice(2));
  const opts: RelaxedBenchOptions = {
    quick: args.has('--quick'), clock: args.has('--wall') ? 'wall' : 'cpu', chromium: !args.has('--no-chromium'),
    log: (l) => process.stderr.write(`${l}\n`),
  };
  if (args.has('--node-only')) {
    process.stdout.write(`${JSON.stringify(await benchRelaxedNode(opts))}\n`);
  } else {
    const r = await benchRelaxed(opts);
    const outIdx = process.argv.indexOf('--out');
    if (outIdx > 0) writeFileSync(process.argv[outIdx + 1], JSON.stringify(r, null, 2));
    process.stdout.write(args.has('--json') ? `${JSON.stringify(r)}\n` : `${relaxedTable(r)}\n`);
  }
}
