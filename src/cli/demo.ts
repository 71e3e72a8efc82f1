// `splitee demo`: the embedded default. A zoo model's device half runs here; its cloud half runs in the same process
// behind a real HTTP server on loopback; SplitEE picks the split layer online. Ends with a table against the
// final-layer and early-exit baselines on the same samples and a self-contained HTML report.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStream, type DataStream } from '../data/streams.js';
import { HttpCloudClient } from '../device/cloud.js';
import { runStream, type MeasuredCostModel, type MeasuredCostsReport, type RunnableModel, type SampleRecord } from '../device/runner.js';
import { loadModel, resolveModelPath } from '../node.js';
import { createPolicy } from '../policy/registry.js';
import { DEFAULT_COSTAWARE_C } from '../policy/costaware.js';
import { resolveCosts, type CostModel, type ResolvedCosts } from '../policy/types.js';
import { pickReportSamples, renderDemoReport, type ReportRow } from '../report/html.js';
import { cloudModelFrom } from '../cloud/cloud-model.js';
import { createCloudServer } from '../cloud/server.js';
import { NetworkEmulator } from '../cloud/emulate.js';
import { buildMatrix } from '../sim/confidence.js';
import type { ConfidenceMatrix } from '../sim/matrix.js';
import { runPolicy } from '../sim/simulator.js';
import { summarize } from '../sim/metrics.js';
import { helpText, LIMIT_HELP, limitOption, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { PRECISION_HELP, backendOption, openModel, precisionOption, Progress } from './common.js';
import { checkModelFitsStream } from './matrix.js';
// One source for the demo's defaults, shared with the browser demo so both runs give the same numbers.
import { DEFAULT_STREAMS, DEMO_DEFAULTS, demoCosts } from '../demo/demo-core.js';
import {
  DEFAULT_NETWORK_DEVICE_MS, DEFAULT_NETWORK_SCHEDULE, NetworkScheduleError, parseNetworkPlan, phaseOf, phaseStats, sampleLatencyMs, slowDevice,
  type NetworkPlan, type PhaseStats,
} from '../demo/network.js';


/**
 * The policy of `--network` runs: it prices every split with the measured costs and follows a change of the link
 * within a few samples (docs/POLICIES.md, `splitee-costaware`: within 10 % of the best fixed split of each phase).
 */
const NETWORK_POLICY = 'splitee-costaware';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', default: 'fmnist-cnn', help: 'fmnist-cnn | sst2-transformer | a .spx path' },
  dataset: { type: 'string', help: 'stream (default: fmnist:test for fmnist-cnn, sst2:dev for sst2-transformer)' },
  limit: { type: 'string', default: String(DEMO_DEFAULTS.limit), help: LIMIT_HELP },
  sample: { type: 'boolean', help: 'use the small sample shipped in the package even when the full dataset is installed' },
  backend: { type: 'string', default: 'wasm', help: 'device backend: wasm | webgpu | auto' },
  precision: { type: 'string', default: 'f32', help: `device arithmetic: ${PRECISION_HELP}` },
  policy: { type: 'string', help: `splitee | splitee-s | splitee-su | splitee-discounted | splitee-window | splitee-costaware | early-exit | final | fixed:k | random (default ${DEMO_DEFAULTS.policy}; ${NETWORK_POLICY} with --network)` },
  alpha: { type: 'string', default: String(DEMO_DEFAULTS.alpha), help: 'exit threshold α' },
  lambda: { type: 'string', help: 'device cost per layer λ (default 1/L: the whole network costs 1)' },
  'offload-cost': { type: 'string', help: 'offload cost o (default 0.25·λ·L)' },
  costs: { type: 'string', help: "'constant' (λ per layer, o per offload; the default) or 'measured' (ms on this device and link, × --mu; the default with --network)" },
  mu: { type: 'string', help: 'with measured costs: reward per ms (default 1 / the calibrated whole-network device time)' },
  network: { type: 'string', help: `emulate the link to the cloud half: 'schedule' (${DEFAULT_NETWORK_SCHEDULE}), conditions ("rtt=80ms,bw=2mbit") or steps "<sample>|<share>%|<time>:<conditions>;…"` },
  'device-ms': { type: 'string', help: `run the device half as a slower device would: the whole network takes this many ms longer (default ${DEFAULT_NETWORK_DEVICE_MS} with --network, else 0)` },
  c: { type: 'string', help: `exploration weight (default: the policy's own, 1 for the UCB policies, ${DEFAULT_COSTAWARE_C} for splitee-costaware)` },
  gamma: { type: 'string', help: 'discount of splitee-discounted, in (0, 1]' },
  window: { type: 'string', help: 'window (samples) of splitee-window' },
  seed: { type: 'string', default: String(DEMO_DEFAULTS.seed), help: 'seed (random policy)' },
  'data-dir': { type: 'string', help: 'where the datasets are (else $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets; else the shipped sample)' },
  out: { type: 'string', default: 'reports', help: 'folder for the HTML report' },
  json: { type: 'boolean', help: 'print {"model","dataset","n","accuracy","cost","costReduction","accuracyDrop","offloadRate","bytesSent","report"} (+ "measured" with measured costs, + "phases" with --network)' },
  help: { type: 'boolean', help: 'show this help' },
};

export interface DemoSummary {
  model: string;
  dataset: string;
  /** 'full': the dataset found on disk; 'sample': the sample shipped in the package (no dataset was found). */
  source: 'full' | 'sample';
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
  /** With measured costs: the estimates at the end of the run (λ_k, o_k in reward units; ms; μ). */
  measured?: MeasuredCostsReport;
  /** With --network: per phase of the schedule. */
  phases?: PhaseStats[];
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
    const p = parseArgs(argv, spec, { positionals: [] });
    if (p.options.help) {
      console.log(helpText('usage: splitee demo [--model fmnist-cnn|sst2-transformer|file.spx] [--dataset <stream>] [--limit N] [--sample] [--backend wasm|webgpu|auto] [--json]\n'
        + '       splitee demo --costs measured [--mu M] …\n'
        + '       splitee demo --network schedule|"<schedule>" [--device-ms MS] [--policy P] …\n\n'
        + 'Streams a dataset through SplitEE with the cloud half on loopback. The full dataset is used when found; else the\n'
        + 'sample shipped in the package (1,000 Fashion-MNIST test images, the 872 SST-2 dev sentences); the output says which.\n\n'
        + '--costs measured prices layers and offloads in milliseconds measured on this device and link (docs/POLICIES.md).\n'
        + '--network makes the loopback server delay and throttle the real sockets as the schedule says, with measured costs\n'
        + `and ${NETWORK_POLICY} unless told otherwise, and prints per phase the mean split layer, the offload rate, p50/p95\n`
        + `latency per sample and accuracy. \`schedule\` is ${DEFAULT_NETWORK_SCHEDULE}: 100 Mbit/s and 2 ms,\n`
        + 'then from the middle sample on 1 Mbit/s and 120 ms. A step starts at a sample number ("500"), a share of the stream\n'
        + `("50%") or — every step — a time ("20s"). The device half then runs as a device ${DEFAULT_NETWORK_DEVICE_MS} ms slower on the whole\n`
        + 'network (--device-ms): here it takes well under a millisecond, less than any round trip, and offloading could never pay.', spec));
      return 0;
    }
    const modelName = String(p.options.model);
    const path = resolveModelPath(modelName); // an unknown model is reported as such, before anything else
    const dataset = (p.options.dataset as string | undefined) ?? DEFAULT_STREAMS[modelName];
    if (!dataset) throw new UsageError(`--dataset is required for model '${modelName}' (it is not a zoo model with a default stream)`);
    const limitOpt = limitOption(p);
    const alpha = numberOption(p, 'alpha', { min: 0, max: 1 })!;
    const seed = numberOption(p, 'seed', { integer: true })!;
    const json = Boolean(p.options.json);
    const say = (s: string) => { if (!json) console.log(s); };
    const networkText = p.options.network as string | undefined;
    // A malformed schedule is a usage error, found before anything loads (shares of the stream are checked again on its size).
    if (networkText !== undefined) {
      try { parseNetworkPlan(networkText, Number.MAX_SAFE_INTEGER); } catch (e) {
        if (e instanceof NetworkScheduleError) throw new UsageError(`--network: ${e.message}`);
        throw e;
      }
    }
    const costsKind = String(p.options.costs ?? (networkText !== undefined ? 'measured' : 'constant'));
    if (costsKind !== 'constant' && costsKind !== 'measured') throw new UsageError(`--costs must be 'constant' or 'measured', got '${costsKind}'`);
    const measured = costsKind === 'measured';
    if (measured) {
      for (const o of ['lambda', 'offload-cost']) if (p.options[o] !== undefined) throw new UsageError(`measured costs replace --${o}: give one or the other`);
    } else if (p.options.mu !== undefined) {
      throw new UsageError('--mu converts measured milliseconds: it needs --costs measured');
    }
    const mu = numberOption(p, 'mu', { min: Number.MIN_VALUE });
    const c = numberOption(p, 'c', { min: 0 });
    const gamma = numberOption(p, 'gamma', { min: Number.MIN_VALUE, max: 1 });
    const window = numberOption(p, 'window', { min: 1, integer: true });
    const deviceMs = numberOption(p, 'device-ms', { min: 0 }) ?? (networkText !== undefined ? DEFAULT_NETWORK_DEVICE_MS : 0);
    const policyName = String(p.options.policy ?? (networkText !== undefined ? NETWORK_POLICY : DEMO_DEFAULTS.policy));

    const device = await openModel(path, backendOption(p), precisionOption(p));
    const cloudModel = await loadModel(path);
    let stream: DataStream;
    let plan: NetworkPlan | undefined;
    try {
      stream = await openStream(dataset, {
        dataDir: p.options['data-dir'] as string | undefined, limit: limitOpt, samples: p.options.sample ? 'only' : 'auto',
        model: { input: device.header.input, classes: device.classes },
      });
      if (networkText !== undefined) plan = parseNetworkPlan(networkText, stream.size);
    } catch (err) {
      device.dispose(); cloudModel.dispose();
      if (err instanceof NetworkScheduleError) throw new UsageError(`--network: ${err.message}`);
      throw err;
    }
    checkModelFitsStream(device, stream);
    const { createInputEncoder } = await import('../data/prepare.js');
    const encode = createInputEncoder(device.header);
    const L = device.numLayers;
    const costModel: CostModel = demoCosts({ alpha, lambda: numberOption(p, 'lambda', { min: 0 }), offloadCost: numberOption(p, 'offload-cost', { min: 0 }) }, L);
    const lambda = costModel.lambda!;
    const costs = resolveCosts(costModel, L);
    // A measured run hands the policy each sample's costs; until then it holds the constant ones.
    const policy = createPolicy(policyName, { L, costs: costModel, seed, c, gamma, window });
    const runCosts: CostModel | MeasuredCostModel = measured ? { kind: 'measured', alpha, mu } : costModel;

    // Sample-numbered phases switch the link when the sample before the phase is answered; timed ones run on the
    // emulator's clock from the stream's start.
    const emulator = plan ? new NetworkEmulator(plan.by === 'samples' ? plan.steps[0].conditions : 'rtt=0ms') : undefined;
    const server = await createCloudServer({ model: cloudModelFrom(cloudModel), port: 0, host: '127.0.0.1', emulate: emulator });
    say(`splitee demo: ${device.name} (${L} layers, ${device.backendName}) on ${dataset}, ${stream.size} samples`);
    say(stream.source === 'full'
      ? `data: the full dataset in ${stream.dir}`
      : `data: the sample shipped in the package (${stream.total.toLocaleString('en-US')} samples of ${dataset}, ${stream.dir})`
        + (p.options.sample ? '' : '; no full dataset was found (see --data-dir)'));
    say(measured
      ? `cloud half: ${server.url} (in-process HTTP)   α=${alpha} costs measured (μ ${mu === undefined ? '= 1 / whole-network device time' : `${mu} per ms`}) policy=${policyName}`
      : `cloud half: ${server.url} (in-process HTTP)   α=${alpha} λ=${+lambda.toFixed(4)} o=${+costModel.offloadCost.toFixed(4)} policy=${policyName}`);
    if (plan) {
      say(`network: ${plan.steps.map((s) => `from ${plan!.by === 'samples' ? `sample ${s.fromSample}` : s.from} ${s.conditions}`).join('; ')} (emulated on the server's sockets)`);
    }
    if (deviceMs > 0) say(`device: emulated ${deviceMs} ms slower on the whole network (${+(deviceMs / L).toFixed(3)} ms per layer)`);
    const progress = new Progress(stream.size, 'streaming');
    let costSum = 0;
    const samples = stream.samples as { index: number; label: number; input: Float32Array | string }[];
    let records: SampleRecord[];
    let bytesSent = 0;
    let offloadRate = 0;
    let measuredCosts: MeasuredCostsReport | undefined;
    const phaseIndex: number[] = [];
    const runModel: RunnableModel = slowDevice(device, deviceMs);
    try {
      let streamStart = performance.now();
      if (emulator && plan?.by === 'time') { emulator.set(plan.spec!); streamStart = performance.now(); }
      const result = await runStream({
        model: runModel, samples, encode, policy, costs: runCosts,
        cloud: new HttpCloudClient(server.url),
        onSample: (rec, pr) => {
          costSum += rec.cost;
          if (plan) {
            phaseIndex[rec.t] = phaseOf(plan, rec.t, performance.now() - sampleLatencyMs(rec) - streamStart);
            const next = plan.by === 'samples' ? plan.steps.find((s) => s.fromSample === rec.t + 1) : undefined;
            if (next) emulator!.set(next.conditions);
          }
          const tail = measured
            ? `latency ${sampleLatencyMs(rec).toFixed(1)} ms`
            : `cost saved ${(100 * (1 - costSum / (pr.done * costs.cum[L]))).toFixed(1)}%`;
          progress.update(pr.done, `acc ${(100 * pr.correct / Math.max(1, pr.labelled)).toFixed(1)}%  ${tail}  offload ${(100 * pr.offloaded / pr.done).toFixed(1)}%  arm ${rec.arm}`);
        },
      });
      records = result.records;
      bytesSent = result.summary.bytesSent;
      offloadRate = result.summary.offloadRate;
      measuredCosts = result.measured;
    } finally {
      progress.done();
      await server.close();
    }
    const phases = plan ? phaseStats(plan, records, phaseIndex) : undefined;

    // Baselines on the same samples: every exit of every sample (a what-if run; costs nothing on the live path),
    // priced as the live run ended (the measured values, when measured).
    const bprog = new Progress(samples.length, 'baselines');
    const matrix = await buildMatrix(device, samples, encode, { numClasses: device.classes.length, onProgress: (d) => bprog.update(d) });
    bprog.done();
    const simCosts: ResolvedCosts = measuredCosts ? resolvedFromMeasured(measuredCosts, alpha) : costs;
    const live: ReportRow = {
      name: `${policyName} (live)`,
      accuracy: records.filter((r) => r.correct).length / records.length,
      cost: records.reduce((s, r) => s + r.cost, 0) / records.length,
      offloadRate,
      note: `${records.filter((r) => r.degraded).length} degraded, ${bytesSent} bytes sent`,
    };
    const rows: ReportRow[] = [live];
    for (const name of ['final', 'early-exit', 'oracle', policyName]) {
      const s = summarize(runPolicy(matrix, name, simCosts, { seed, c, gamma, window }), matrix, simCosts);
      rows.push({ name: name === policyName ? `${name} (simulated, f32)` : name, accuracy: s.accuracy, cost: s.cost, offloadRate: s.offloadRate,
        note: name === 'oracle' ? 'best fixed split in hindsight' : name === policyName ? 'same policy on the confidence matrix' : '' });
    }
    const final = rows.find((r) => r.name === 'final')!;
    const finalSeries = baselineSeries(matrix, simCosts, 'final');
    const eeSeries = baselineSeries(matrix, simCosts, 'early-exit');

    const outDir = resolve(String(p.options.out));
    mkdirSync(outDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    // A user stream names a folder or a file (images:/path/to/photos): keep its last part, in characters safe in a file name.
    const streamTag = (dataset.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? dataset).replace(/[^A-Za-z0-9._-]+/g, '-');
    const reportPath = join(outDir, `${device.name.replace(/[^A-Za-z0-9._-]+/g, '-')}-${streamTag}-${stamp}.html`);
    const config: Record<string, string | number> = measured
      ? { policy: policyName, alpha, costs: `measured (μ ${measuredCosts ? `${+measuredCosts.mu.toPrecision(3)} per ms` : 'n/a'})` }
      : { policy: policyName, alpha, lambda, 'offload cost': costModel.offloadCost };
    Object.assign(config, { backend: precisionOption(p) === 'int8' ? `${device.backendName} (int8)` : device.backendName, transport: 'int8 per-tensor', cloud: 'HTTP on loopback (in-process)', seed,
      data: stream.source === 'full' ? 'full dataset' : `sample shipped in the package (${stream.total} samples)` });
    if (plan) config.network = `${plan.steps.map((s) => `${s.from}: ${s.conditions}`).join('; ')} (emulated on the server)`;
    if (deviceMs > 0) config.device = `emulated: ${deviceMs} ms more for the whole network (${+(deviceMs / L).toFixed(3)} ms per layer)`;
    if (c !== undefined) config.c = c;
    if (policyName === 'splitee-discounted' && gamma !== undefined) config.gamma = gamma;
    if (policyName === 'splitee-window' && window !== undefined) config.window = window;
    writeFileSync(reportPath, renderDemoReport({
      title: `splitee demo: ${device.name} on ${dataset}`,
      model: device.name, dataset, n: records.length, numLayers: L, generated: new Date().toISOString(), rows, config,
      costs: measured ? undefined : { alpha, lambda, offloadCost: costModel.offloadCost },
      measured: measuredCosts,
      phases: phases?.map((ph) => ({
        from: ph.from, startSample: ph.fromSample ?? undefined, label: ph.network,
        meanSplit: ph.meanSplit ?? NaN, offloadRate: ph.offloadRate ?? NaN, p50Ms: ph.p50Ms ?? NaN, p95Ms: ph.p95Ms ?? NaN, accuracy: ph.accuracy ?? NaN,
      })),
      dataSource: stream.source === 'full' ? 'the full dataset' : `the ${stream.total.toLocaleString('en-US')}-sample subset shipped in the package`,
      samples: pickReportSamples(records, samples, { classes: stream.classes, numLayers: L, imageShape: stream.kind === 'image' ? stream.shape : undefined }),
      perSample: {
        arm: records.map((r) => r.arm), correct: records.map((r) => (r.correct ? 1 : 0)), cost: records.map((r) => r.cost),
        bytes: records.map((r) => r.bytesSent), exited: records.map((r) => (r.exited ? 1 : 0)),
        latencyMs: records.map(sampleLatencyMs),
        baselineCost: { final: finalSeries.cost, 'early-exit': eeSeries.cost },
        baselineCorrect: { final: finalSeries.correct, 'early-exit': eeSeries.correct },
      },
    }));

    const summary: DemoSummary = {
      model: device.name, dataset, source: stream.source, n: records.length, accuracy: live.accuracy, cost: live.cost,
      costReduction: 1 - live.cost / final.cost, accuracyDrop: final.accuracy - live.accuracy,
      offloadRate, bytesSent, report: reportPath,
    };
    if (measuredCosts) summary.measured = measuredCosts;
    if (phases) summary.phases = phases;
    device.dispose(); cloudModel.dispose();
    if (json) { console.log(JSON.stringify(summary)); return 0; }
    console.log('\n  policy                          accuracy   cost/sample  cost saved  acc drop   offload');
    for (const r of rows) {
      console.log(`  ${r.name.padEnd(30)} ${(100 * r.accuracy).toFixed(2).padStart(7)}%  ${r.cost.toFixed(4).padStart(11)}  ${(100 * (1 - r.cost / final.cost)).toFixed(1).padStart(9)}%  ${(100 * (final.accuracy - r.accuracy)).toFixed(2).padStart(6)} pt  ${r.offloadRate === undefined ? '' : (100 * r.offloadRate).toFixed(1).padStart(6) + '%'}`);
    }
    if (measuredCosts) {
      const mc = measuredCosts;
      const link = mc.rttMs === null ? 'no offload observed' : `${mc.rttMs.toFixed(1)} ms + frame over ${mc.bandwidthMbit !== null && Number.isFinite(mc.bandwidthMbit) ? `${mc.bandwidthMbit.toFixed(2)} Mbit/s` : 'an unresolved bandwidth'}`;
      console.log(`\nmeasured costs at the end (μ ${mc.mu.toPrecision(3)} per ms): layers ${mc.layerMs.map((x) => x.toFixed(2)).join(', ')} ms; link ${link}`);
      console.log(`  λ_k ${mc.lambda.map((x) => x.toFixed(3)).join(', ')}`);
      console.log(`  o_k ${mc.offload.map((x) => x.toFixed(3)).join(', ')}  (k = 1..${L - 1})`);
    }
    if (phases) {
      const f = (x: number | null, d = 1) => (x === null ? 'n/a' : x.toFixed(d));
      console.log('\n  phase  from     network                       samples  mean split  offload   p50 ms   p95 ms  accuracy');
      phases.forEach((ph, i) => {
        console.log(`  ${String(i + 1).padEnd(5)}  ${(ph.fromSample === null ? ph.from : String(ph.fromSample)).padEnd(7)}  ${ph.network.padEnd(28)}  ${String(ph.n).padStart(7)}  ${f(ph.meanSplit, 2).padStart(10)}  ${(ph.offloadRate === null ? 'n/a' : `${(100 * ph.offloadRate).toFixed(1)}%`).padStart(7)}  ${f(ph.p50Ms).padStart(7)}  ${f(ph.p95Ms).padStart(7)}  ${(ph.accuracy === null ? 'n/a' : `${(100 * ph.accuracy).toFixed(2)}%`).padStart(8)}`);
      });
    }
    if (measured) console.log(`\n${policyName}: ${live.cost.toFixed(3)} per sample against ${final.cost.toFixed(3)} for the final layer (${(100 * summary.costReduction).toFixed(1)}% saved) for ${(100 * summary.accuracyDrop).toFixed(2)} points of accuracy; ${bytesSent.toLocaleString('en-US')} bytes offloaded.`);
    else console.log(`\nSplitEE saved ${(100 * summary.costReduction).toFixed(1)}% of the final-layer cost for ${(100 * summary.accuracyDrop).toFixed(2)} points of accuracy; ${bytesSent.toLocaleString('en-US')} bytes offloaded.`);
    console.log(`report: ${reportPath}`);
    return 0;
  },
};

/** The runner's measured estimates as the simulator's costs (to price the baselines as the live run ended). */
function resolvedFromMeasured(m: MeasuredCostsReport, alpha: number): ResolvedCosts {
  const L = m.lambda.length;
  const cum = new Float64Array(L + 1), offloadAt = new Float64Array(L + 1);
  for (let k = 1; k <= L; k++) cum[k] = cum[k - 1] + m.lambda[k - 1];
  for (let k = 1; k < L; k++) offloadAt[k] = m.offload[k - 1];
  return { L, alpha, offloadCost: L > 1 ? offloadAt[1] : 0, cum, offloadAt };
}
