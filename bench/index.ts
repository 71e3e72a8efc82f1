// `npm run bench` — one run measures, on this machine:
//   1. splitee (f32 and its int8 path) vs onnxruntime-web (WASM, 1 thread, SIMD), onnxruntime-node (CPU EP, 1 thread)
//      and tfjs-backend-wasm on the zoo models: the whole model (all exits) and every device segment (layers 1..k +
//      exit k), medians and ratios;
//   2. the GEMM / conv / attention kernels (f32 and int8) in GFLOP/s at the models' shapes and at square GEMM, as a
//      fraction of the WASM SIMD multiply-add peak (and, for int8, of the integer dot-product peak) measured here;
//   3. transport encode/decode throughput and the policy's decision + update time (bench/transport.ts, policy.ts);
//   4. the WASM linear memory of the device half per model.
// Usage: node dist/bench/index.js [--json] [--quick] [--wall] [--tiny] [--skip parts] [--out results.json] | --render results.json
//   --json: only JSON on stdout (progress always goes to stderr); --quick: short budgets; --wall: time with the wall
//   clock instead of this process's CPU time (see bench/measure.ts); --tiny: the test fixtures instead of the zoo;
//   --out: also save the JSON; --render: print the table of a saved run; --skip relaxed,transport,policy,memory: leave
//   those parts out (the models and kernels always run).
import { cpus, loadavg, totalmem, type as osType, release as osRelease, arch } from 'node:os';
import { readFileSync, writeFileSync } from 'node:fs';
import { benchKernels } from './kernels.js';
import { renderTable, type BenchResult } from './report.js';
import type { Clock } from './measure.js';
import { benchMemory } from './memory.js';
import { benchModel, type ModelResult } from './models.js';
import { ortVersions } from './ort.js';
import { initTfjsWasm } from './tfjs-model.js';
import { benchPolicy } from './policy.js';
import { benchTransport } from './transport.js';
import { benchModels } from './zoo.js';
import { benchRelaxed } from './relaxed.js';

const args = new Set(process.argv.slice(2));
const json = args.has('--json');
const quick = args.has('--quick');
const clock: Clock = args.has('--wall') ? 'wall' : 'cpu';
const log = (line: string) => process.stderr.write(`${line}\n`);
const SKIPPABLE = ['relaxed', 'transport', 'policy', 'memory'] as const;
const skip = new Set(args.has('--skip') ? (process.argv[process.argv.indexOf('--skip') + 1] ?? '').split(',').filter(Boolean) : []);
for (const p of skip) {
  if (!(SKIPPABLE as readonly string[]).includes(p)) {
    process.stderr.write(`--skip: unknown part '${p}' (parts: ${SKIPPABLE.join(', ')})\n`);
    process.exit(2);
  }
}

if (args.has('--render')) {
  // Re-print the table of a saved run (`--out`) without measuring anything.
  const saved = JSON.parse(readFileSync(process.argv[process.argv.indexOf('--render') + 1], 'utf8')) as BenchResult;
  process.stdout.write(`${renderTable(saved)}\n`);
  process.exit(0);
}

const budget = quick
  ? { modelTaskMs: 150, rounds: 2, shapeMs: 60, squareMs: 250, peakMs: 150, transportMs: 30, policyMs: 100 }
  : { modelTaskMs: 900, rounds: 3, shapeMs: 350, squareMs: 1500, peakMs: 600, transportMs: 150, policyMs: 500 };

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model ?? 'unknown';
}

/** Family / model numbers and cache from /proc/cpuinfo: virtual machines often name only the vendor. */
function cpuDetails(): string {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const get = (k: string) => new RegExp(`^${k}\\s*:\\s*(.+)$`, 'm').exec(info)?.[1].trim();
    const parts = [`family ${get('cpu family') ?? '?'} model ${get('model') ?? '?'}`];
    if (get('cache size')) parts.push(`L2 ${get('cache size')}`);
    if (get('cpu MHz')) parts.push(`${Math.round(Number(get('cpu MHz')))} MHz nominal`);
    if (/\bhypervisor\b/.test(get('flags') ?? '')) parts.push('virtual machine');
    return parts.join(', ');
  } catch { return ''; }
}

function cpuFlags(): string[] {
  try {
    const m = /^flags\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m ? m[1].split(/\s+/).filter((f) => /^(avx|avx2|fma|avx512f|sse4_2)$/.test(f)) : [];
  } catch { return []; }
}

const machine = {
  cpu: cpuModel(),
  cpuDetails: cpuDetails(),
  cpuFlags: cpuFlags(),
  cores: cpus().length,
  memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
  os: `${osType()} ${osRelease()} ${arch()}`,
  node: process.version,
  v8: process.versions.v8,
  ...ortVersions(),
  tfjsWasm: (await initTfjsWasm()).version,
  loadAverageAtStart: loadavg().map((v) => +v.toFixed(2)),
};

const t0 = performance.now();
log(`splitee bench${quick ? ' (quick)' : ''}: ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, load ${machine.loadAverageAtStart.join(' ')}`);

const models = await benchModels({ tiny: args.has('--tiny'), int8: true });
if (models.every((m) => !m.onnx)) log(`no zoo model with an ONNX export found: benching ${models.map((m) => m.name).join(', ')} (splitee only)`);

const modelResults: ModelResult[] = [];
for (const bm of models) modelResults.push(...await benchModel(bm, { timeMs: budget.modelTaskMs, rounds: budget.rounds, clock, log }));

const kernels = await benchKernels(models, { timeMs: budget.shapeMs, squareTimeMs: budget.squareMs, peakTimeMs: budget.peakMs, clock, log, int8: true });
let relaxed: Awaited<ReturnType<typeof benchRelaxed>> | undefined;
if (!skip.has('relaxed')) {
  log('relaxed SIMD vs plain SIMD (node with --experimental-wasm-relaxed-simd, headless chromium)…');
  relaxed = await benchRelaxed({ quick, clock, log });
  // The per-model rows carry the relaxed build's time next to the plain build's (spliteeMs).
  for (const r of modelResults) {
    const m = relaxed.node.models.find((x) => x.model === r.name && x.input === r.input);
    (r as typeof r & { spliteeRelaxedMs: number | null }).spliteeRelaxedMs = m ? m.spliteeRelaxedMs : null;
    // The int8 path on the relaxed build. It is timed in the relaxed bench's process (a child started with the flag
    // under Node 20), not in the same rounds as ONNX Runtime: the ratio compares CPU times of two processes.
    const int8Relaxed = m?.spliteeInt8RelaxedMs ?? null;
    Object.assign(r, {
      spliteeInt8RelaxedMs: int8Relaxed,
      int8RelaxedVsOrtNode: int8Relaxed && r.ortNodeMs && r.int8VsOrtNode !== null ? int8Relaxed / r.ortNodeMs : null,
    });
  }
}
if (!skip.has('transport')) log('transport…');
const transport = skip.has('transport') ? [] : await benchTransport({ time: budget.transportMs, clock });
if (!skip.has('policy')) log('policy…');
const policy = skip.has('policy') ? [] : await benchPolicy({ time: budget.policyMs });
const memory = skip.has('memory') ? [] : await benchMemory(models);
const seconds = (performance.now() - t0) / 1000;
const peakGflops = Math.max(kernels.peak.gflops, kernels.peakAfter.gflops);

const result: BenchResult = {
  machine: { ...machine, loadAverageAtEnd: loadavg().map((v) => +v.toFixed(2)) },
  options: { quick, clock, ...budget, ...(skip.size ? { skipped: [...skip] } : {}) },
  seconds: +seconds.toFixed(1),
  models: modelResults,
  peak: { gflops: peakGflops, before: kernels.peak, after: kernels.peakAfter },
  gemm: kernels.gemm,
  conv: kernels.conv,
  attention: kernels.attention,
  exits: kernels.exits,
  intPeak: kernels.intPeak,
  int8: kernels.int8,
  transport,
  policy,
  memory,
  relaxed,
};

if (args.has('--out')) {
  const path = process.argv[process.argv.indexOf('--out') + 1];
  writeFileSync(path, `${JSON.stringify(result, null, 1)}\n`);
  log(`wrote ${path}`);
}
process.stdout.write(json ? `${JSON.stringify(result, null, 1)}\n` : `${renderTable(result)}\n`);
for (const bm of models) { bm.model.dispose(); bm.int8?.dispose(); }
