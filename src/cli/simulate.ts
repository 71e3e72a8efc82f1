// `splitee simulate`: replay a confidence matrix (CSV) through a split policy and report accuracy and cost.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs, helpText, numberOption, UsageError, type Command, type OptionSpec } from './args.js';
import { parseMatrixCsv, type ConfidencePrecision } from '../sim/csv.js';
import { MatrixError, type ConfidenceMatrix } from '../sim/matrix.js';
import { DEFAULT_POLICIES, runAllPolicies } from '../sim/experiment.js';
import { SUMMARY_KEYS, type SimSummary } from '../sim/metrics.js';
import { createPolicy, POLICY_NAMES } from '../policy/registry.js';
import { DEFAULT_COSTAWARE_C } from '../policy/costaware.js';
import type { CostModel, ResolvedCosts } from '../policy/types.js';
import { parseCostTrace, traceCosts } from '../sim/cost-trace.js';

const spec: Record<string, OptionSpec> = {
  matrix: { type: 'string', help: 'confidence matrix CSV: c1..cL,p1..pL,label (required)' },
  policy: { type: 'string', default: 'splitee', help: `${POLICY_NAMES.join(' | ')}; a comma list, or 'all'` },
  alpha: { type: 'string', help: 'exit threshold α in [0, 1] (required)' },
  lambda: { type: 'string', help: 'device cost per layer λ (this or --layer-costs is required)' },
  'layer-costs': { type: 'string', help: 'comma list of L per-layer device costs, instead of λ·k' },
  'offload-cost': { type: 'string', help: 'cost o of sending a sample to the cloud (required)' },
  c: { type: 'string', help: `exploration weight (default: the policy's own, 1 for the UCB policies, ${DEFAULT_COSTAWARE_C} for splitee-costaware)` },
  order: { type: 'string', default: 'file', help: "'file' (one pass in file order) or 'shuffle' (seeded)" },
  seed: { type: 'string', default: '1', help: 'seed of the shuffle and of the random policy' },
  repeats: { type: 'string', default: '1', help: 'passes to average (each with its own seeds)' },
  'cost-trace': { type: 'string', help: 'per-sample measured costs, CSV ms1..msL,bytes1..bytes{L-1},rtt_ms,mbit (replaces --lambda/--layer-costs/--offload-cost)' },
  mu: { type: 'string', help: 'with --cost-trace: reward per ms (default 1 / the first row\'s whole-network device time)' },
  gamma: { type: 'string', help: 'discount of splitee-discounted, in (0, 1]' },
  window: { type: 'string', help: 'window (samples) of splitee-window' },
  warmup: { type: 'string', default: 'stream', help: "'stream' (the first L samples play arms 1..L and count) or 'replay' (the released code's: a warm-up pass, then the whole stream)" },
  classes: { type: 'string', help: 'number of classes, to reject out-of-range labels' },
  confidences: { type: 'string', help: "precision the confidences were written in: 'float32' | 'float64' (default: from the file's .json beside it, else float64)" },
  json: { type: 'boolean', help: 'print JSON (an object; an array for several policies)' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee simulate --matrix file.csv --policy <name> --alpha A --lambda L --offload-cost O '
  + '[--c C] [--order file|shuffle] [--seed S] [--repeats R] [--warmup stream|replay] [--confidences float32|float64] [--json]\n'
  + '       splitee simulate --matrix file.csv --cost-trace trace.csv --alpha A [--mu M] [--policy …] [--gamma G] [--window W] …';

function required(p: ReturnType<typeof parseArgs>, name: string, opts: Parameters<typeof numberOption>[2] = {}): number {
  const v = numberOption(p, name, opts);
  if (v === undefined) throw new UsageError(`--${name} is required`);
  return v;
}

/** The JSON object of one policy, keys in the documented order and nothing else. */
function toJson(s: SimSummary): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const k of SUMMARY_KEYS) o[k] = s[k];
  return o;
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** Where the precision a matrix is read with came from. */
export type PrecisionSource = 'option' | 'metadata' | 'default';

/**
 * Reads a matrix CSV with the precision it was written in: `confidences` when given, else the `confidences` field
 * of the JSON file beside it (same name, .json: what `npm run reproduce` writes next to its cached matrices),
 * else float64. Reading a float32 file as float64 moves confidences by less than a float32 step, enough to flip
 * the samples that sit on α.
 */
export function readMatrixFile(file: string, opts: { numClasses?: number; confidences?: ConfidencePrecision } = {}):
  { matrix: ConfidenceMatrix; confidences: ConfidencePrecision; source: PrecisionSource } {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new UsageError(`cannot read --matrix ${file}: ${(e as Error).message}`); }
  let confidences: ConfidencePrecision = 'float64', source: PrecisionSource = 'default';
  if (opts.confidences !== undefined) {
    confidences = opts.confidences; source = 'option';
  } else {
    const metaPath = file.replace(/\.csv$/i, '') + '.json';
    if (metaPath !== file && existsSync(metaPath)) {
      let meta: unknown;
      try { meta = JSON.parse(readFileSync(metaPath, 'utf8')); } catch (e) { throw new UsageError(`${metaPath}: not JSON (${(e as Error).message}); pass --confidences to ignore it`); }
      const c = (meta as { confidences?: unknown } | null)?.confidences;
      if (c !== undefined) {
        if (c !== 'float32' && c !== 'float64') throw new UsageError(`${metaPath}: "confidences" must be "float32" or "float64", got ${JSON.stringify(c)}`);
        confidences = c; source = 'metadata';
      }
    }
  }
  try {
    return { matrix: parseMatrixCsv(text, { numClasses: opts.numClasses, confidences }), confidences, source };
  } catch (e) {
    if (e instanceof MatrixError) e.message = `${file}: ${e.message}`;
    throw e;
  }
}

export const command: Command = {
  summary: 'replay a confidence-matrix CSV through a split policy (SplitEE, baselines) and report accuracy and cost',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const file = p.options.matrix;
    if (typeof file !== 'string' || file === '') throw new UsageError('--matrix is required');
    const alpha = required(p, 'alpha', { min: 0, max: 1 });
    const tracePath = p.options['cost-trace'];
    if (tracePath !== undefined && (typeof tracePath !== 'string' || tracePath === '')) throw new UsageError('--cost-trace needs a file');
    if (tracePath !== undefined) {
      for (const o of ['lambda', 'layer-costs', 'offload-cost']) if (p.options[o] !== undefined) throw new UsageError(`--cost-trace replaces --${o}: give one or the other`);
    } else if (p.options.mu !== undefined) {
      throw new UsageError('--mu converts the milliseconds of a --cost-trace; without one there is nothing to convert');
    }
    const offloadCost = tracePath === undefined ? required(p, 'offload-cost', { min: 0 }) : 0;
    const mu = numberOption(p, 'mu', { min: Number.MIN_VALUE });
    const gamma = numberOption(p, 'gamma', { min: Number.MIN_VALUE, max: 1 });
    const window = numberOption(p, 'window', { min: 1, integer: true });
    const c = numberOption(p, 'c', { min: 0 });
    const seed = required(p, 'seed', { integer: true });
    const repeats = required(p, 'repeats', { integer: true, min: 1 });
    const numClasses = numberOption(p, 'classes', { integer: true, min: 1 });
    const order = p.options.order;
    if (order !== 'file' && order !== 'shuffle') throw new UsageError(`--order must be 'file' or 'shuffle', got '${order}'`);
    const warmup = p.options.warmup;
    if (warmup !== 'stream' && warmup !== 'replay') throw new UsageError(`--warmup must be 'stream' or 'replay', got '${warmup}'`);

    const lambda = numberOption(p, 'lambda', { min: 0 });
    const layerCostsText = p.options['layer-costs'];
    if (tracePath === undefined && (lambda === undefined) === (layerCostsText === undefined)) throw new UsageError('give exactly one of --lambda and --layer-costs');
    let perLayerCosts: number[] | undefined;
    if (typeof layerCostsText === 'string') {
      perLayerCosts = layerCostsText.split(',').map((s) => {
        const v = Number(s);
        if (s.trim() === '' || !Number.isFinite(v) || v < 0) throw new UsageError(`--layer-costs: '${s}' is not a number ≥ 0`);
        return v;
      });
    }

    const precisionOpt = p.options.confidences;
    if (precisionOpt !== undefined && precisionOpt !== 'float32' && precisionOpt !== 'float64') {
      throw new UsageError(`--confidences must be 'float32' or 'float64', got '${precisionOpt}'`);
    }
    const read = readMatrixFile(file, { numClasses, confidences: precisionOpt as ConfidencePrecision | undefined });
    const m = read.matrix;
    let costs: CostModel | ResolvedCosts = { alpha, offloadCost, lambda, perLayerCosts };
    let trace: ReturnType<typeof traceCosts> | undefined;
    if (typeof tracePath === 'string') {
      let text: string;
      try { text = readFileSync(tracePath, 'utf8'); } catch (e) { throw new UsageError(`cannot read --cost-trace ${tracePath}: ${(e as Error).message}`); }
      try {
        trace = traceCosts(parseCostTrace(text, m.L), { alpha, mu });
      } catch (e) {
        if (e instanceof MatrixError) e.message = `${tracePath}: ${e.message}`;
        throw e;
      }
      const steps = m.n;
      if (trace.costs.length < steps) throw new UsageError(`--cost-trace ${tracePath} has ${trace.costs.length} rows, the stream has ${steps} samples: one row per sample is needed`);
      costs = trace.costs[0];
    }

    const policyArg = String(p.options.policy);
    const policies = policyArg === 'all' ? DEFAULT_POLICIES : policyArg.split(',').map((s) => s.trim());
    // Fail on a bad name before simulating anything.
    for (const name of policies) createPolicy(name, { L: m.L, costs, oracleArm: 1, gamma, window });

    const res = runAllPolicies(m, costs, { policies, c, order, seed, repeats, warmup, gamma, window, costsAt: trace?.costsAt });

    if (p.options.json) {
      const rows = res.rows.map(toJson);
      console.log(JSON.stringify(rows.length === 1 ? rows[0] : rows, null, 2));
      return 0;
    }
    const many = repeats > 1;
    const cell = (mean: number, std: number, f: (x: number) => string) => (many ? `${f(mean)} ± ${f(std)}` : f(mean));
    const f4 = (x: number) => x.toFixed(4);
    const pts = (x: number) => `${(100 * x).toFixed(2)} pt`;
    console.log(`matrix   ${file}: ${m.n} samples, L = ${m.L} exits, ${m.numClasses} classes, ${read.confidences} confidences${read.source === 'metadata' ? ' (from its .json)' : ''}`);
    if (trace) console.log(`costs    alpha ${alpha}, cost trace ${tracePath} (${trace.costs.length} rows), mu ${trace.mu} per ms; c ${c}`);
    else console.log(`costs    alpha ${alpha}, ${perLayerCosts ? `layer costs ${perLayerCosts.join(',')}` : `lambda ${lambda}`} (whole network ${res.costs.cum[m.L]}), offload ${offloadCost}; c ${c}`);
    console.log(`order    ${order}${order === 'shuffle' || many ? `, seed ${seed}` : ''}, ${repeats} pass${repeats > 1 ? 'es (mean ± std)' : ''}${warmup === 'replay' ? ', released warm-up (replayed)' : ''}`);
    console.log(`oracle   best fixed arm in hindsight: ${res.oracleArm}`);
    console.log(`final    last-layer accuracy ${f4(res.rows[0].finalLayerAccuracy)}, cost ${trace ? f4(res.rows[0].finalLayerCost) : res.rows[0].finalLayerCost}`);
    const header = ['policy', 'accuracy', 'acc. drop', 'cost/sample', 'cost reduction', 'offloaded', 'exited early'];
    const table = res.stats.map(({ mean: a, std: s }) => [
      a.policy, cell(a.accuracy, s.accuracy, f4), cell(a.accuracyDrop, s.accuracyDrop, pts), cell(a.cost, s.cost, f4),
      cell(a.costReduction, s.costReduction, pct), cell(a.offloadRate, s.offloadRate, pct), cell(a.exitRate, s.exitRate, pct),
    ]);
    const widths = header.map((h, j) => Math.max(h.length, ...table.map((r) => r[j].length)));
    console.log('');
    console.log(header.map((h, j) => h.padEnd(widths[j])).join('  ').trimEnd());
    for (const r of table) console.log(r.map((v, j) => v.padEnd(widths[j])).join('  ').trimEnd());
    console.log('\nsamples split at each layer k' + (many ? ' (mean over passes)' : ''));
    const nameWidth = Math.max(...res.rows.map((r) => r.policy.length));
    for (const r of res.rows) {
      console.log(`  ${r.policy.padEnd(nameWidth)}  ${r.armCounts.map((v, k) => `${k + 1}:${Number.isInteger(v) ? v : v.toFixed(2)}`).join(' ')}`);
    }
    return 0;
  },
};
