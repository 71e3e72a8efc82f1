// `splitee run`: the live split. Streams a dataset through a split policy on the device engine, offloading to a
// cloud (`splitee serve`, or in-process with --cloud local), and reports accuracy, cost, bytes and latency.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CloudError, HttpCloudClient, type CloudClient } from '../device/cloud.js';
import { LocalCloudClient } from '../device/local-client.js';
import { V2CloudClient, v2BaseUrl } from '../device/v2-client.js';
import { RUN_SUMMARY_KEYS, runStream, type MeasuredCostModel, type RunResult, type SampleRecord } from '../device/runner.js';
import { transportReport, type TransportReport } from '../device/transport-report.js';
import { POLICY_NAMES, SIMULATION_ONLY_POLICIES, createPolicy } from '../policy/registry.js';
import type { CostModel } from '../policy/types.js';
import { DTYPES, type Dtype } from '../transport/codec.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec, type Parsed } from './args.js';
import { MODEL_OPTIONS, Progress, backendOption, openModel, precisionOption, requireString } from './common.js';
import { openModelStream, streamChoice } from './matrix.js';

const spec: Record<string, OptionSpec> = {
  ...MODEL_OPTIONS,
  cloud: { type: 'string', default: 'local', help: "'local' (the cloud half in-process), the URL of `splitee serve` (several, comma-separated: replicas to fail over between), or v2+http://host:port for any KServe v2 / Triton server" },
  token: { type: 'string', help: 'bearer token of the server (else $SPLITEE_TOKEN)' },
  policy: { type: 'string', default: 'splitee', help: `${POLICY_NAMES.filter((n) => !SIMULATION_ONLY_POLICIES.includes(n)).join(' | ')}` },
  alpha: { type: 'string', default: '0.9', help: 'exit threshold α: answer on the device when C_k ≥ α' },
  lambda: { type: 'string', help: 'device cost per layer λ (default 1/L: the whole network costs 1)' },
  'layer-costs': { type: 'string', help: 'comma list of L per-layer device costs, instead of λ·k' },
  'offload-cost': { type: 'string', help: 'cost o of one offload (default 0.25 × the whole network\'s cost, i.e. 0.25·λ·L)' },
  costs: { type: 'string', default: 'constant', help: "'constant' (λ per layer, o per offload) or 'measured' (ms measured on this device and link, × --mu)" },
  mu: { type: 'string', help: 'with --costs measured: reward per ms (default 1 / the calibrated whole-network device time)' },
  c: { type: 'string', help: 'UCB exploration weight (default: the policy\'s own, 1 for splitee)' },
  gamma: { type: 'string', help: 'discount of splitee-discounted, in (0, 1]' },
  window: { type: 'string', help: 'window (samples) of splitee-window' },
  seed: { type: 'string', default: '1', help: 'seed of the random policy' },
  dtype: { type: 'string', default: 'int8', help: `activation on the wire: ${DTYPES.join(' | ')}` },
  retries: { type: 'string', default: '2', help: 'further attempts after a failed cloud call (network, timeout, 5xx)' },
  'timeout-ms': { type: 'string', default: '10000', help: 'deadline of one cloud call' },
  'backoff-ms': { type: 'string', default: '100', help: 'first retry delay; doubles per retry (capped at 2 s), with jitter' },
  'in-flight': { type: 'string', default: '0', help: 'offloads that may await the cloud while the device goes on (0: one sample at a time)' },
  records: { type: 'string', help: 'write one JSON line per sample (arm, exit/offload, prediction, bytes, ms…) to this file' },
  'transport-report': { type: 'boolean', help: 'instead of a run: bytes per offload and last-exit accuracy for every split and dtype' },
  json: { type: 'boolean', help: `print {${RUN_SUMMARY_KEYS.map((k) => `"${k}"`).join(',')}}` },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee run --model <m> --dataset <stream> [--cloud local|<url>] [--token T] [--policy splitee] '
  + '[--alpha A --lambda L --offload-cost O | --costs measured [--mu M]] [--c C] [--seed S] [--dtype int8|int8c|fp16|f32|int4] [--limit N] [--json]\n'
  + '       splitee run --model <m> --dataset <stream> --transport-report [--limit N] [--json]\n\n'
  + 'Each sample: the policy picks a split layer k; layers 1..k run here; if exit k is confident (C_k ≥ α) it answers,\n'
  + 'else the activation after layer k goes to the cloud (a frame, docs/TRANSPORT.md), which answers with the last\n'
  + 'exit. When the cloud fails after the retries the device answers with its exit k (degraded) and the policy learns\n'
  + 'nothing made up. Costs as in `splitee simulate` (docs/POLICIES.md). Ctrl-C stops after the current sample.';

function num(p: Parsed, name: string, o: Parameters<typeof numberOption>[2] = {}): number {
  return numberOption(p, name, o)!;
}

function parseLayerCosts(text: string, L: number): number[] {
  const v = text.split(',').map((s) => {
    const x = Number(s);
    if (s.trim() === '' || !Number.isFinite(x) || x < 0) throw new UsageError(`--layer-costs: '${s}' is not a number ≥ 0`);
    return x;
  });
  if (v.length !== L) throw new UsageError(`--layer-costs has ${v.length} entries, the model has ${L} layers`);
  return v;
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)} %`);
const ms = (x: number | null) => (x === null ? 'n/a' : `${x.toFixed(2)} ms`);

function printTransportReport(r: TransportReport, dataset: string): void {
  console.log(`${r.model} on ${dataset}: ${r.n} samples, last-exit accuracy without transport ${pct(r.referenceAccuracy)}`);
  console.log('\nbytes per offload (whole frame; mean over the samples where the shape varies)');
  console.log(['k', 'shape', ...r.dtypes].map((h, j) => (j === 1 ? h.padEnd(14) : h.padStart(j ? 9 : 3))).join(' '));
  for (const s of r.splits) {
    console.log([String(s.k).padStart(3), JSON.stringify(s.shape).padEnd(14), ...r.dtypes.map((d) => Math.round(s.bytes[d].mean).toLocaleString('en-US').padStart(9))].join(' '));
  }
  console.log('\nlast-exit accuracy change when the activation after layer k crosses in each dtype (points; agreement with f32)');
  console.log(['k', ...r.dtypes].map((h, j) => h.padStart(j ? 18 : 3)).join(' '));
  for (const s of r.splits) {
    const cell = (d: Dtype) => `${(100 * (s.accuracy[d] - r.referenceAccuracy)).toFixed(2)} (${(100 * s.agreement[d]).toFixed(2)}%)`;
    console.log([String(s.k).padStart(3), ...r.dtypes.map((d) => cell(d).padStart(18))].join(' '));
  }
}

export const command: Command = {
  summary: 'stream a dataset through a split policy: device layers here, the rest on a cloud (`serve`, or local)',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    // Every argument is checked before anything slow starts.
    const modelName = requireString(p, 'model');
    const dataset = requireString(p, 'dataset');
    const source = streamChoice(p, dataset);
    const backend = backendOption(p);
    const cloudArg = String(p.options.cloud);
    const cloudUrls = cloudArg === 'local' ? [] : cloudArg.split(',').map((u) => u.trim());
    if (cloudArg !== 'local' && !cloudUrls.every((u) => /^(v2\+)?https?:\/\//i.test(u))) throw new UsageError(`--cloud must be 'local', http(s):// URL(s) (comma-separated replicas) or v2+http(s)://, got '${cloudArg}'`);
    const tokenOpt = p.options.token;
    const token = typeof tokenOpt === 'string' ? tokenOpt : process.env.SPLITEE_TOKEN || undefined;
    const policyName = String(p.options.policy);
    if (policyName === 'oracle') throw new UsageError('--policy oracle needs the whole confidence matrix in advance: use `splitee simulate`');
    if (SIMULATION_ONLY_POLICIES.includes(policyName)) {
      throw new UsageError(`--policy ${policyName} learns from confidences no device computes: it exists for \`splitee simulate\` only`);
    }
    const alpha = num(p, 'alpha', { min: 0, max: 1 });
    const lambdaOpt = numberOption(p, 'lambda', { min: 0 });
    const layerCostsText = p.options['layer-costs'];
    if (lambdaOpt !== undefined && layerCostsText !== undefined) throw new UsageError('give at most one of --lambda and --layer-costs');
    const offloadOpt = numberOption(p, 'offload-cost', { min: 0 });
    const c = numberOption(p, 'c', { min: 0 });
    const costsKind = String(p.options.costs);
    if (costsKind !== 'constant' && costsKind !== 'measured') throw new UsageError(`--costs must be 'constant' or 'measured', got '${costsKind}'`);
    if (costsKind === 'measured') {
      for (const o of ['lambda', 'layer-costs', 'offload-cost']) if (p.options[o] !== undefined) throw new UsageError(`--costs measured replaces --${o}: give one or the other`);
    } else if (p.options.mu !== undefined) {
      throw new UsageError('--mu converts measured milliseconds: it needs --costs measured');
    }
    const mu = numberOption(p, 'mu', { min: Number.MIN_VALUE });
    const gamma = numberOption(p, 'gamma', { min: Number.MIN_VALUE, max: 1 });
    const window = numberOption(p, 'window', { min: 1, integer: true });
    const seed = num(p, 'seed', { integer: true });
    const dtype = String(p.options.dtype) as Dtype;
    if (!DTYPES.includes(dtype)) throw new UsageError(`--dtype must be one of ${DTYPES.join(', ')}, got '${dtype}'`);
    const retries = num(p, 'retries', { integer: true, min: 0, max: 20 });
    const timeoutMs = num(p, 'timeout-ms', { min: 1 });
    const baseDelayMs = num(p, 'backoff-ms', { min: 0 });
    const maxInFlight = num(p, 'in-flight', { integer: true, min: 0, max: 1024 });
    const recordsPath = p.options.records as string | undefined;
    const json = Boolean(p.options.json);

    const model = await openModel(modelName, backend, precisionOption(p));
    try {
      const { stream, encode } = await openModelStream(model, source);
      const L = model.numLayers;
      const samples = stream.samples as { index: number; label: number; input: Float32Array | string }[];

      if (p.options['transport-report']) {
        const progress = new Progress(stream.size, `transport ${model.name} on ${dataset}`);
        const report = await transportReport({ model, samples, encode, onProgress: (d) => progress.update(d) });
        progress.done();
        if (json) console.log(JSON.stringify({ dataset, ...report }));
        else printTransportReport(report, dataset);
        return 0;
      }

      const lambda = layerCostsText === undefined ? (lambdaOpt ?? 1 / L) : undefined;
      const perLayerCosts = typeof layerCostsText === 'string' ? parseLayerCosts(layerCostsText, L) : undefined;
      const whole = perLayerCosts ? perLayerCosts.reduce((a, b) => a + b, 0) : lambda! * L;
      const constant: CostModel = { alpha, offloadCost: offloadOpt ?? 0.25 * whole, lambda, perLayerCosts };
      const costs: CostModel | MeasuredCostModel = costsKind === 'measured' ? { kind: 'measured', alpha, mu } : constant;
      // A measured run hands the policy each sample's costs; until then it holds the constant ones.
      const policy = createPolicy(policyName, { L, costs: constant, c, seed, gamma, window });

      let cloud: CloudClient;
      if (cloudArg === 'local') {
        cloud = new LocalCloudClient(model);
      } else {
        const http = v2BaseUrl(cloudArg)
          ? new V2CloudClient(cloudArg, { model: model.name, numLayers: model.numLayers, digest: model.digestHex, token })
          : new HttpCloudClient(cloudUrls, { token });
        cloud = http;
        // A cloud that runs another model file would answer 409 to every offload: say so before streaming.
        try {
          const h = await http.health({ timeoutMs: Math.min(timeoutMs, 5000) });
          if (h.digest !== model.digestHex) {
            throw new CloudError('DIGEST_MISMATCH', 409, `${cloudArg} serves ${h.model} (sha256 ${h.digest.slice(0, 16)}…), this device runs ${model.name} (sha256 ${model.digestHex.slice(0, 16)}…)`);
          }
        } catch (e) {
          if (e instanceof CloudError && e.fatal) throw e;
          process.stderr.write(`splitee run: warning: ${cloudArg}/healthz: ${(e as Error).message}; offloads will be retried, then answered on the device\n`);
        }
      }

      let fd: number | undefined;
      if (recordsPath) {
        const path = resolve(recordsPath);
        mkdirSync(dirname(path), { recursive: true });
        fd = openSync(path, 'w');
      }
      const ac = new AbortController();
      const onSigint = () => {
        if (ac.signal.aborted) process.exit(130);
        process.stderr.write('\nsplitee run: stopping after the samples in progress (Ctrl-C again to quit now)\n');
        ac.abort();
      };
      process.on('SIGINT', onSigint);
      const progress = new Progress(stream.size, `run ${model.name} → ${cloud.target}`);
      const t0 = Date.now();
      let result: RunResult;
      try {
        result = await runStream({
          model, samples, encode, policy, costs, cloud, dtype, maxInFlight, signal: ac.signal,
          retry: { retries, timeoutMs, baseDelayMs },
          onSample: (r: SampleRecord, pr) => {
            if (fd !== undefined) writeSync(fd, JSON.stringify(r) + '\n');
            const acc = pr.labelled ? `acc ${(100 * pr.correct / pr.labelled).toFixed(2)}%` : '';
            progress.update(pr.done, `${acc} offload ${(100 * pr.offloaded / pr.done).toFixed(1)}% arm ${r.arm}${pr.degraded ? ` degraded ${pr.degraded}` : ''}`);
          },
        });
      } finally {
        progress.done();
        process.off('SIGINT', onSigint);
        if (fd !== undefined) closeSync(fd);
      }
      const s = result.summary;
      if (json) {
        const o: Record<string, unknown> = {};
        for (const k of RUN_SUMMARY_KEYS) o[k] = s[k];
        if (result.measured) o.measured = result.measured;
        console.log(JSON.stringify(o));
        return 0;
      }
      const secs = (Date.now() - t0) / 1000;
      const offloads = result.records.filter((r) => r.offloaded).length;
      console.log(`run      ${model.name} on ${dataset}: ${s.answered}/${s.n} samples answered in ${secs.toFixed(1)} s${result.stopped ? ' (stopped early)' : ''}`);
      console.log(`cloud    ${cloud.target}, activation ${dtype}; policy ${policy.name}`);
      const mc = result.measured;
      if (mc) {
        console.log(`costs    alpha ${alpha}, measured: layers ${mc.layerMs.map((x) => x.toFixed(2)).join(', ')} ms; link ${mc.rttMs === null ? 'not measured' : `${mc.rttMs.toFixed(1)} ms + ${Number.isFinite(mc.bandwidthMbit!) ? `${mc.bandwidthMbit!.toFixed(1)} Mbit/s` : 'unresolved bandwidth'}`}; mu ${mc.mu.toPrecision(3)} per ms`);
        console.log(`         λ_k ${mc.lambda.map((x) => x.toFixed(3)).join(', ')}; o_k ${mc.offload.map((x) => x.toFixed(3)).join(', ')}`);
        console.log(`accuracy ${pct(s.accuracy)}   cost/sample ${s.cost.toFixed(4)} (the whole network costs ${(mc.lambda.reduce((a, b) => a + b, 0)).toFixed(3)})`);
      } else {
        console.log(`costs    alpha ${alpha}, ${perLayerCosts ? `layer costs ${perLayerCosts.join(',')}` : `lambda ${lambda}`} (whole network ${whole}), offload ${constant.offloadCost}`);
        console.log(`accuracy ${pct(s.accuracy)}   cost/sample ${s.cost.toFixed(4)} (${pct(1 - s.cost / whole)} below the whole network)`);
      }
      console.log(`offload  ${pct(s.offloadRate)} of samples, ${s.degraded} degraded; ${s.bytesSent.toLocaleString('en-US')} bytes sent`
        + `${offloads ? ` (${Math.round(s.bytesSent / offloads).toLocaleString('en-US')} per offload)` : ''}`);
      console.log(`latency  device p50 ${ms(s.deviceMsP50)}, p99 ${ms(s.deviceMsP99)}; cloud p50 ${ms(s.cloudMsP50)}, p99 ${ms(s.cloudMsP99)}`);
      console.log(`arms     ${result.armCounts.map((v, k) => `${k + 1}:${v}`).join(' ')}`);
      const errs = Object.entries(result.errors);
      if (errs.length) console.log(`degraded ${errs.map(([k, v]) => `${k} ${v}`).join(', ')}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};
