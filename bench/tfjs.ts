// splitee against TensorFlow.js's WASM backend (XNNPACK, SIMD, one thread) on the same models with the same weights:
// the whole model (every exit in one pass, splitee's `exits`) and every device segment (layers 1..k + exit k,
// splitee's `runDevice`). The peer is built op by op from the parsed .spx file (bench/tfjs-model.ts). Before anything
// is timed, every exit's probabilities are compared with splitee's on the same input; a runner that differs by more
// than TFJS_PARITY_TOLERANCE gets no ratio.
//
// Standalone: node dist/bench/tfjs.js [--json] [--quick] [--wall] [--tiny]
//   prints one row per model input and segment, with splitee measured in the same interleaved rounds.
import { pathToFileURL } from 'node:url';
import type { Model } from '../src/node.js';
import { measureInterleaved, type Clock, type TaskFn } from './measure.js';
import { buildTfjsPeer, initTfjsWasm, tfjsParity, type TfjsInfo, type TfjsParity } from './tfjs-model.js';
import { benchModels, sampleInputs, type BenchModel, type SampleInput } from './zoo.js';

export { TFJS_PARITY_TOLERANCE, tfjsParity, type TfjsParity } from './tfjs-model.js';

export interface TfjsBenchOptions {
  /** Time budget per task (one runtime on one segment), ms. */
  timeMs: number;
  rounds: number;
  clock: Clock;
  log?: (line: string) => void;
}

export interface TfjsSegmentRow {
  k: number;
  spliteeMs: number;
  tfjsWasmMs: number;
  /** splitee / tfjs-wasm: below 1 means splitee is faster; null when parity failed. */
  vsTfjsWasm: number | null;
  /** Max |Δprob| of exit k between the two. */
  maxAbsDiff: number;
}

export interface TfjsModelRow {
  name: string;
  input: string;
  layers: number;
  /** Whole model (all L exits), median ms. */
  spliteeMs: number;
  tfjsWasmMs: number;
  vsTfjsWasm: number | null;
  /** Max |Δprob| over every exit of the whole model and of every segment. */
  parity: { maxAbsDiff: number; ok: boolean };
  segments: TfjsSegmentRow[];
}

/** The model's input in splitee's form (the same typed array both runtimes get). */
export const engineInput = (s: SampleInput): Float32Array | Int32Array => s.image ?? s.ids!;

/**
 * The peer's timed calls for one model input, for a bench that interleaves them with its own tasks (bench/models.ts):
 * `whole` is every exit in one pass, `segment(k)` layers 1..k + exit k; `parity` was checked before returning.
 */
export interface TfjsTasks {
  info: TfjsInfo;
  parity: TfjsParity;
  whole: TaskFn;
  segment(k: number): TaskFn;
  dispose(): void;
}

export async function createTfjsTasks(model: Model, sample: SampleInput): Promise<TfjsTasks> {
  const info = await initTfjsWasm();
  const peer = buildTfjsPeer(model.file);
  try {
    const x = engineInput(sample);
    const parity = await tfjsParity(model, peer, x);
    return { info, parity, whole: () => peer.exits(x), segment: (k) => () => peer.device(x, k), dispose: () => peer.dispose() };
  } catch (e) {
    peer.dispose();
    throw e;
  }
}

/** splitee and tfjs-wasm side by side on every input of one bench model, interleaved in the same rounds. */
export async function benchTfjs(bm: BenchModel, opts: TfjsBenchOptions): Promise<TfjsModelRow[]> {
  const log = opts.log ?? (() => {});
  const model = bm.model;
  const L = model.numLayers;
  const rows: TfjsModelRow[] = [];
  for (const sample of sampleInputs(model)) {
    const x = engineInput(sample);
    const label = `${bm.name} ${sample.label}`;
    const t = await createTfjsTasks(model, sample);
    try {
      const { parity } = t;
      log(`${label}: parity with tfjs-wasm over every exit and segment: ${parity.max.toExponential(2)}${parity.ok ? '' : '  MISMATCH: ratios withheld'}`);
      const ratio = (a: number, b: number) => (parity.ok && b > 0 ? a / b : null);
      const w = await measureInterleaved([{ name: 'splitee', fn: () => model.exits(x) }, { name: 'tfjs-wasm', fn: t.whole }], opts);
      const row: TfjsModelRow = {
        name: bm.name, input: sample.label, layers: L,
        spliteeMs: w.get('splitee')!.medianMs, tfjsWasmMs: w.get('tfjs-wasm')!.medianMs, vsTfjsWasm: null,
        parity: { maxAbsDiff: parity.max, ok: parity.ok }, segments: [],
      };
      row.vsTfjsWasm = ratio(row.spliteeMs, row.tfjsWasmMs);
      log(`${label}: whole model  splitee ${row.spliteeMs.toFixed(3)} ms  tfjs-wasm ${row.tfjsWasmMs.toFixed(3)} ms`);
      for (let k = 1; k <= L; k++) {
        const st = await measureInterleaved([{ name: 'splitee', fn: () => model.runDevice(x, k, { offload: () => false }) }, { name: 'tfjs-wasm', fn: t.segment(k) }], opts);
        const s = st.get('splitee')!.medianMs, f = st.get('tfjs-wasm')!.medianMs;
        row.segments.push({ k, spliteeMs: s, tfjsWasmMs: f, vsTfjsWasm: ratio(s, f), maxAbsDiff: parity.segments[k - 1] });
        log(`${label}: segment 1..${k}  splitee ${s.toFixed(3)} ms  tfjs-wasm ${f.toFixed(3)} ms`);
      }
      rows.push(row);
    } finally {
      t.dispose();
    }
  }
  return rows;
}

/** The standalone table: one line per whole model and per segment. */
export function renderTfjsTable(rows: TfjsModelRow[], info: TfjsInfo): string {
  const out = [
    `splitee (WASM) vs TensorFlow.js ${info.version} WASM backend (${info.binary}, XNNPACK, ${info.threads} thread): median ms per inference, every exit of the part computed`,
    '',
    '| model | input | part | splitee | tfjs-wasm | splitee / tfjs-wasm | max abs diff |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: |',
  ];
  const r = (v: number | null) => (v === null ? 'n/a (parity)' : v.toFixed(2));
  for (const row of rows) {
    out.push(`| ${row.name} | ${row.input} | whole (${row.layers} exits) | ${row.spliteeMs.toFixed(3)} | ${row.tfjsWasmMs.toFixed(3)} | ${r(row.vsTfjsWasm)} | ${row.parity.maxAbsDiff.toExponential(1)} |`);
    for (const s of row.segments) {
      out.push(`| ${row.name} | ${row.input} | layers 1..${s.k} + exit ${s.k} | ${s.spliteeMs.toFixed(3)} | ${s.tfjsWasmMs.toFixed(3)} | ${r(s.vsTfjsWasm)} | ${s.maxAbsDiff.toExponential(1)} |`);
    }
  }
  return out.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const args = new Set(argv);
  const quick = args.has('--quick');
  const clock: Clock = args.has('--wall') ? 'wall' : 'cpu';
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const info = await initTfjsWasm();
  log(`tfjs-wasm ${info.version}: ${info.binary}, SIMD ${info.simd}, ${info.threads} thread`);
  const models = await benchModels({ tiny: args.has('--tiny') });
  const rows: TfjsModelRow[] = [];
  try {
    for (const bm of models) rows.push(...await benchTfjs(bm, { timeMs: quick ? 150 : 900, rounds: quick ? 2 : 3, clock, log }));
  } finally {
    for (const bm of models) bm.model.dispose();
  }
  process.stdout.write(args.has('--json') ? `${JSON.stringify({ tfjs: info, clock, models: rows }, null, 1)}\n` : `${renderTfjsTable(rows, info)}\n`);
  if (rows.some((r) => !r.parity.ok)) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e) => { process.stderr.write(`${(e as Error).stack ?? e}\n`); process.exit(1); });
}
