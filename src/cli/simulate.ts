// `splitee simulate`: replay a confidence matrix (CSV) through a split policy and report accuracy and cost.
import { readFileSync } from 'node:fs';
import { parseArgs, helpText, numberOption, UsageError, type Command, type OptionSpec } from './args.js';
import { parseMatrixCsv } from '../sim/csv.js';
import { MatrixError } from '../sim/matrix.js';
import { DEFAULT_POLICIES, runAllPolicies } from '../sim/experiment.js';
import { SUMMARY_KEYS, type SimSummary } from '../sim/metrics.js';
import { createPolicy, POLICY_NAMES } from '../policy/registry.js';
import type { CostModel } from '../policy/types.js';

const spec: Record<string, OptionSpec> = {
  matrix: { type: 'string', help: 'confidence matrix CSV: c1..cL,p1..pL,label (required)' },
  policy: { type: 'string', default: 'splitee', help: `${POLICY_NAMES.join(' | ')}; a comma list, or 'all'` },
  alpha: { type: 'string', help: 'exit threshold α in [0, 1] (required)' },
  lambda: { type: 'string', help: 'device cost per layer λ (this or --layer-costs is required)' },
  'layer-costs': { type: 'string', help: 'comma list of L per-layer device costs, instead of λ·k' },
  'offload-cost': { type: 'string', help: 'cost o of sending a sample to the cloud (required)' },
  c: { type: 'string', default: '1', help: 'UCB exploration weight' },
  order: { type: 'string', default: 'file', help: "'file' (one pass in file order) or 'shuffle' (seeded)" },
  seed: { type: 'string', default: '1', help: 'seed of the shuffle and of the random policy' },
  repeats: { type: 'string', default: '1', help: 'passes to average (each with its own seeds)' },
  classes: { type: 'string', help: 'number of classes, to reject out-of-range labels' },
  json: { type: 'boolean', help: 'print JSON (an object; an array for several policies)' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee simulate --matrix file.csv --policy <name> --alpha A --lambda L --offload-cost O '
  + '[--c C] [--order file|shuffle] [--seed S] [--repeats R] [--json]';

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

export const command: Command = {
  summary: 'replay a confidence-matrix CSV through a split policy (SplitEE, baselines) and report accuracy and cost',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const file = p.options.matrix;
    if (typeof file !== 'string' || file === '') throw new UsageError('--matrix is required');
    const alpha = required(p, 'alpha', { min: 0, max: 1 });
    const offloadCost = required(p, 'offload-cost', { min: 0 });
    const c = required(p, 'c', { min: 0 });
    const seed = required(p, 'seed', { integer: true });
    const repeats = required(p, 'repeats', { integer: true, min: 1 });
    const numClasses = numberOption(p, 'classes', { integer: true, min: 1 });
    const order = p.options.order;
    if (order !== 'file' && order !== 'shuffle') throw new UsageError(`--order must be 'file' or 'shuffle', got '${order}'`);

    const lambda = numberOption(p, 'lambda', { min: 0 });
    const layerCostsText = p.options['layer-costs'];
    if ((lambda === undefined) === (layerCostsText === undefined)) throw new UsageError('give exactly one of --lambda and --layer-costs');
    let perLayerCosts: number[] | undefined;
    if (typeof layerCostsText === 'string') {
      perLayerCosts = layerCostsText.split(',').map((s) => {
        const v = Number(s);
        if (s.trim() === '' || !Number.isFinite(v) || v < 0) throw new UsageError(`--layer-costs: '${s}' is not a number ≥ 0`);
        return v;
      });
    }

    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch (e) { throw new UsageError(`cannot read --matrix ${file}: ${(e as Error).message}`); }
    let m;
    try { m = parseMatrixCsv(text, { numClasses }); } catch (e) {
      if (e instanceof MatrixError) e.message = `${file}: ${e.message}`;
      throw e;
    }
    const costs: CostModel = { alpha, offloadCost, lambda, perLayerCosts };

    const policyArg = String(p.options.policy);
    const policies = policyArg === 'all' ? DEFAULT_POLICIES : policyArg.split(',').map((s) => s.trim());
    // Fail on a bad name before simulating anything.
    for (const name of policies) createPolicy(name, { L: m.L, costs, oracleArm: 1 });

    const res = runAllPolicies(m, costs, { policies, c, order, seed, repeats });

    if (p.options.json) {
      const rows = res.rows.map(toJson);
      console.log(JSON.stringify(rows.length === 1 ? rows[0] : rows, null, 2));
      return 0;
    }
    const many = repeats > 1;
    const cell = (mean: number, std: number, f: (x: number) => string) => (many ? `${f(mean)} ± ${f(std)}` : f(mean));
    const f4 = (x: number) => x.toFixed(4);
    const pts = (x: number) => `${(100 * x).toFixed(2)} pt`;
    console.log(`matrix   ${file}: ${m.n} samples, L = ${m.L} exits, ${m.numClasses} classes`);
    console.log(`costs    alpha ${alpha}, ${perLayerCosts ? `layer costs ${perLayerCosts.join(',')}` : `lambda ${lambda}`} (whole network ${res.costs.cum[m.L]}), offload ${offloadCost}; c ${c}`);
    console.log(`order    ${order}${order === 'shuffle' || many ? `, seed ${seed}` : ''}, ${repeats} pass${repeats > 1 ? 'es (mean ± std)' : ''}`);
    console.log(`oracle   best fixed arm in hindsight: ${res.oracleArm}`);
    console.log(`final    last-layer accuracy ${f4(res.rows[0].finalLayerAccuracy)}, cost ${res.rows[0].finalLayerCost}`);
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
