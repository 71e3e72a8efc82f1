// `splitee demo`: the embedded default. A zoo model's device half runs here; its cloud half runs in the same process
// behind a real HTTP server on loopback; SplitEE picks the split layer online. Ends with a table against the
// final-layer and early-exit baselines on the same samples and a self-contained HTML report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStream, type DataStream } from '../data/streams.js';
import { HttpCloudClient } from '../device/cloud.js';
import { runStream, type SampleRecord } from '../device/runner.js';
import { loadModel, resolveModelPath } from '../node.js';
import { createPolicy } from '../policy/registry.js';
import { resolveCosts, type CostModel, type ResolvedCosts } from '../policy/types.js';
import { renderDemoReport, type ReportRow } from '../report/html.js';
import { cloudModelFrom } from '../cloud/cloud-model.js';
import { createCloudServer } from '../cloud/server.js';
import { buildMatrix } from '../sim/confidence.js';
import type { ConfidenceMatrix } from '../sim/matrix.js';
import { runPolicy } from '../sim/simulator.js';
import { summarize } from '../sim/metrics.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { backendOption, openModel, Progress } from './common.js';
import { checkModelFitsStream } from './matrix.js';
// One source for the demo's defaults, shared with the browser demo so both runs give the same numbers.
import { DEFAULT_STREAMS, DEMO_DEFAULTS, demoCosts } from '../demo/demo-core.js';


const spec: Record<string, OptionSpec> = {
  model: { type: 'string', default: 'fmnist-cnn', help: 'fmnist-cnn | sst2-transformer | a .spx path' },
  dataset: { type: 'string', help: 'stream (default: fmnist:test for fmnist-cnn, sst2:dev for sst2-transformer)' },
  limit: { type: 'string', default: String(DEMO_DEFAULTS.limit), help: 'samples to stream (0: the whole stream)' },
  backend: { type: 'string', default: 'wasm', help: 'device backend: wasm | webgpu | auto' },
  policy: { type: 'string', default: DEMO_DEFAULTS.policy, help: 'splitee | splitee-s | splitee-su | early-exit | final | fixed:k | random' },
  alpha: { type: 'string', default: String(DEMO_DEFAULTS.alpha), help: 'exit threshold α' },
  lambda: { type: 'string', help: 'device cost per layer λ (default 1/L: the whole network costs 1)' },
  'offload-cost': { type: 'string', help: 'offload cost o (default 0.25·λ·L)' },
  seed: { type: 'string', default: String(DEMO_DEFAULTS.seed), help: 'seed (random policy)' },
  'data-dir': { type: 'string', help: 'where the datasets are (else $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets)' },
  out: { type: 'string', default: 'reports', help: 'folder for the HTML report' },
  json: { type: 'boolean', help: 'print {"model","dataset","n","accuracy","cost","costReduction","accuracyDrop","offloadRate","bytesSent","report"}' },
  help: { type: 'boolean', help: 'show this help' },
};

export interface DemoSummary {
  model: string;
  dataset: string;
  n: number;
  accuracy: number;
  cost: number;
  /** 1 − cost / (final-layer cost), on the same samples. */
  costReduction: number;
  /** Final-layer accuracy − accuracy, as a fraction (0.01 = one point). */
  accuracyDrop: number;
  offloadRate: number;
  bytesSent: number;
  report: string;
}

/** Per-sample cost and correctness of a fixed rule over the matrix, for the plots (the totals come from the simulator). */
function baselineSeries(m: ConfidenceMatrix, costs: ResolvedCosts, rule: 'final' | 'early-exit') {
  const L = m.L;
  const cost = new Float64Array(m.n), correct = new Float64Array(m.n);
  for (let i = 0; i < m.n; i++) {
    let j = L;
    if (rule === 'early-exit') {
      for (let k = 1; k < L; k++) if (m.conf[i * L + k - 1] >= costs.alpha) { j = k; break; }
    }
    cost[i] = costs.cum[j];
    correct[i] = m.pred[i * L + j - 1] === m.label[i] ? 1 : 0;
  }
  return { cost, correct };
}

export const command: Command = {
  summary: 'the embedded default: SplitEE on a zoo model with the cloud half on loopback, a table and an HTML report',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) {
      console.log(helpText('usage: splitee demo [--model fmnist-cnn|sst2-transformer] [--dataset <stream>] [--limit N] [--backend wasm|webgpu|auto] [--json]', spec));
      return 0;
    }
    const modelName = String(p.options.model);
    const dataset = (p.options.dataset as string | undefined) ?? DEFAULT_STREAMS[modelName];
    if (!dataset) throw new UsageError(`--dataset is required for model '${modelName}'`);
    const limitOpt = numberOption(p, 'limit', { min: 0, integer: true })!;
    const alpha = numberOption(p, 'alpha', { min: 0, max: 1 })!;
    const seed = numberOption(p, 'seed', { integer: true })!;
    const json = Boolean(p.options.json);
    const say = (s: string) => { if (!json) console.log(s); };

    const path = resolveModelPath(modelName);
    const device = await openModel(path, backendOption(p));
    const cloudModel = await loadModel(path);
    let stream: DataStream;
    try {
      stream = await openStream(dataset, { dataDir: p.options['data-dir'] as string | undefined, limit: limitOpt || undefined });
    } catch (err) {
      device.dispose(); cloudModel.dispose();
      throw err;
    }
    checkModelFitsStream(device, stream);
    const { createInputEncoder } = await import('../data/prepare.js');
    const encode = createInputEncoder(device.header);
    const L = device.numLayers;
    const costModel: CostModel = demoCosts({ alpha, lambda: numberOption(p, 'lambda', { min: 0 }), offloadCost: numberOption(p, 'offload-cost', { min: 0 }) }, L);
    const lambda = costModel.lambda!;
    const costs = resolveCosts(costModel, L);
    const policyName = String(p.options.policy);
    const policy = createPolicy(policyName, { L, costs: costModel, seed });

    const server = await createCloudServer({ model: cloudModelFrom(cloudModel), port: 0, host: '127.0.0.1' });
    say(`splitee demo: ${device.name} (${L} layers, ${device.backendName}) on ${dataset}, ${stream.size} samples`);
    say(`cloud half: ${server.url} (in-process HTTP)   α=${alpha} λ=${+lambda.toFixed(4)} o=${+costModel.offloadCost.toFixed(4)} policy=${policyName}`);
    const progress = new Progress(stream.size, 'streaming');
    let costSum = 0;
    const samples = stream.samples as { index: number; label: number; input: Float32Array | string }[];
    let records: SampleRecord[];
    let bytesSent = 0;
    let offloadRate = 0;
    try {
      const result = await runStream({
        model: device, samples, encode, policy, costs: costModel,
        cloud: new HttpCloudClient(server.url),
        onSample: (rec, pr) => {
          costSum += rec.cost;
          const saved = 1 - costSum / (pr.done * costs.cum[L]);
          progress.update(pr.done, `acc ${(100 * pr.correct / Math.max(1, pr.labelled)).toFixed(1)}%  cost saved ${(100 * saved).toFixed(1)}%  offload ${(100 * pr.offloaded / pr.done).toFixed(1)}%  arm ${rec.arm}`);
        },
      });
      records = result.records;
      bytesSent = result.summary.bytesSent;
      offloadRate = result.summary.offloadRate;
    } finally {
      progress.done();
      await server.close();
    }

    // Baselines on the same samples: every exit of every sample (a what-if run; costs nothing on the live path).
    const bprog = new Progress(samples.length, 'baselines');
    const matrix = await buildMatrix(device, samples, encode, { numClasses: device.classes.length, onProgress: (d) => bprog.update(d) });
    bprog.done();
    const live: ReportRow = {
      name: `${policyName} (live)`,
      accuracy: records.filter((r) => r.correct).length / records.length,
      cost: records.reduce((s, r) => s + r.cost, 0) / records.length,
      offloadRate,
      note: `${records.filter((r) => r.degraded).length} degraded, ${bytesSent} bytes sent`,
    };
    const rows: ReportRow[] = [live];
    for (const name of ['final', 'early-exit', 'oracle', policyName]) {
      const s = summarize(runPolicy(matrix, name, costs, { seed }), matrix, costs);
      rows.push({ name: name === policyName ? `${name} (simulated, f32)` : name, accuracy: s.accuracy, cost: s.cost, offloadRate: s.offloadRate,
        note: name === 'oracle' ? 'best fixed split in hindsight' : name === policyName ? 'same policy on the confidence matrix' : '' });
    }
    const final = rows.find((r) => r.name === 'final')!;
    const finalSeries = baselineSeries(matrix, costs, 'final');
    const eeSeries = baselineSeries(matrix, costs, 'early-exit');

    const outDir = resolve(String(p.options.out));
    mkdirSync(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const reportPath = join(outDir, `${device.name}-${dataset.replace(/:/g, '-')}-${stamp}.html`);
    writeFileSync(reportPath, renderDemoReport({
      title: `splitee demo: ${device.name} on ${dataset}`,
      model: device.name, dataset, n: records.length, numLayers: L, generated: new Date().toISOString(), rows,
      config: { policy: policyName, alpha, lambda, 'offload cost': costModel.offloadCost, backend: device.backendName, transport: 'int8 per-tensor', cloud: 'HTTP on loopback (in-process)', seed },
      perSample: {
        arm: records.map((r) => r.arm), correct: records.map((r) => (r.correct ? 1 : 0)), cost: records.map((r) => r.cost),
        bytes: records.map((r) => r.bytesSent),
        baselineCost: { final: finalSeries.cost, 'early-exit': eeSeries.cost },
        baselineCorrect: { final: finalSeries.correct, 'early-exit': eeSeries.correct },
      },
    }));

    const summary: DemoSummary = {
      model: device.name, dataset, n: records.length, accuracy: live.accuracy, cost: live.cost,
      costReduction: 1 - live.cost / final.cost, accuracyDrop: final.accuracy - live.accuracy,
      offloadRate, bytesSent, report: reportPath,
    };
    device.dispose(); cloudModel.dispose();
    if (json) { console.log(JSON.stringify(summary)); return 0; }
    console.log('\n  policy                          accuracy   cost/sample  cost saved  acc drop   offload');
    for (const r of rows) {
      console.log(`  ${r.name.padEnd(30)} ${(100 * r.accuracy).toFixed(2).padStart(7)}%  ${r.cost.toFixed(4).padStart(11)}  ${(100 * (1 - r.cost / final.cost)).toFixed(1).padStart(9)}%  ${(100 * (final.accuracy - r.accuracy)).toFixed(2).padStart(6)} pt  ${r.offloadRate === undefined ? '' : (100 * r.offloadRate).toFixed(1).padStart(6) + '%'}`);
    }
    console.log(`\nSplitEE saved ${(100 * summary.costReduction).toFixed(1)}% of the final-layer cost for ${(100 * summary.accuracyDrop).toFixed(2)} points of accuracy; ${bytesSent.toLocaleString('en-US')} bytes offloaded.`);
    console.log(`report: ${reportPath}`);
    return 0;
  },
};
