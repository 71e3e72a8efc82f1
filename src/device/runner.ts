// The live device scheduler: streams samples through a split policy on a real engine, offloads over a CloudClient,
// and feeds the policy exactly what was observed. Where the device stops, whether it offloads, which exit answers,
// the cost, the observation and the reward are decided by src/policy/decision.ts, the same code the simulator runs,
// so on the same confidences both take the same decisions; what the runner adds is the network: per-attempt
// timeouts, bounded retries with exponential backoff, a circuit breaker, and degraded answers (the device's own
// exit, C_L unknown to the policy) when the cloud cannot answer. Core module: no Node imports (the browser demo
// runs it too).
import type { DeviceRun, DeviceRunOptions } from '../engine/model.js';
import type { ModelInput } from '../engine/types.js';
import { deviceExits, offloads, settle, stopsAfter, type CloudOutcome } from '../policy/decision.js';
import { CostEstimator } from '../policy/measured-costs.js';
import { PolicyError, resolveCosts, type CostModel, type ResolvedCosts, type SplitPolicy } from '../policy/types.js';
import { encode as encodeTensor, type Dtype } from '../transport/codec.js';
import { encodeFrame, newRequestId, type CloudAnswer } from '../transport/frame.js';
import { CloudError, asCloudError, withDeadline, type CloudClient } from './cloud.js';

/** What the runner needs of a model (the engine's `Model` fits). */
export interface RunnableModel {
  readonly numLayers: number;
  /** SHA-256 of the model file: every frame carries it. */
  readonly digest: Uint8Array;
  readonly classes?: readonly string[];
  /**
   * The device half, stepwise on the backend's own activation: layers 1..k with exit k (or every exit, stopping
   * where `stopAt` says), the activation read back (as f32, or already int8-encoded) only when `offload` says so.
   */
  runDevice(input: ModelInput, k: number, opts: DeviceRunOptions): Promise<DeviceRun>;
}
/** The former name of RunnableModel. */
export type DeviceModel = RunnableModel;

/** One sample of the stream; `index` is its id (default: its position), `label` is optional (live data has none). */
export interface StreamSample<R> {
  index?: number;
  label?: number;
  input: R;
}

export interface RetryOptions {
  /** Further attempts after the first failed one (default 2). Only retryable failures are retried. */
  retries: number;
  /** Backoff before retry i (1-based): min(maxDelayMs, baseDelayMs·2^(i−1)) × a random factor in [0.5, 1] (default 100). */
  baseDelayMs: number;
  /** Cap of one backoff, also of a server's Retry-After (default 2000). */
  maxDelayMs: number;
  /** Deadline of one attempt (default 10,000 ms). */
  timeoutMs: number;
}
export const DEFAULT_RETRY: Readonly<RetryOptions> = { retries: 2, baseDelayMs: 100, maxDelayMs: 2000, timeoutMs: 10_000 };

export interface BreakerOptions {
  /** Consecutive samples whose cloud call finally failed before the circuit opens (default 5). */
  threshold: number;
  /** While open, offloads degrade at once without a call; after this long one sample probes the cloud (default 5000). */
  cooldownMs: number;
}
export const DEFAULT_BREAKER: Readonly<BreakerOptions> = { threshold: 5, cooldownMs: 5000 };

/** Everything that happened to one sample. */
export interface SampleRecord {
  /** Position in the stream (the t given to the policy). */
  t: number;
  /** The sample's id (`StreamSample.index`, default t). */
  index: number;
  /** Split layer chosen by the policy. */
  arm: number;
  /** The exit that produced the answer: the device's (arm, or an earlier one under the cascade), L from the cloud. */
  answerLayer: number;
  /** Answered on the device by choice (C ≥ α, or arm L). */
  exited: boolean;
  /** Sent to the cloud (including calls that failed). */
  offloaded: boolean;
  /** Offloaded but the cloud did not answer: the device answered with its exit at the arm. */
  degraded: boolean;
  prediction: number;
  /** Confidence of the answering exit. */
  confidence: number;
  label?: number;
  correct?: boolean;
  /** γ_arm (+ o when offloaded), the simulator's cost model. */
  cost: number;
  /** The reward the policy was able to learn for the played arm; undefined when it needed an unobserved C_L. */
  reward?: number;
  /** Bytes of one frame (0 when nothing was encoded). */
  frameBytes: number;
  /** frameBytes × attempts: what was put on the wire for this sample. */
  bytesSent: number;
  /** Cloud calls made (0: no offload, or the circuit was open). */
  attempts: number;
  /** Device time: layers, exits, activation readback and frame encoding. */
  deviceMs: number;
  /** From the first attempt to the answer or the final failure, backoff included (offloads only). */
  cloudMs?: number;
  /** Why the sample degraded (CloudError code of the last attempt, CIRCUIT_OPEN, NON_FINITE, …). */
  error?: string;
  requestId?: string;
  /** C_1..C_L as observed and given to the policy (undefined = not computed). */
  confidences: (number | undefined)[];
}

/** The `splitee run --json` object. Latency percentiles are null when there is nothing to measure. */
export interface RunSummary {
  n: number;
  answered: number;
  degraded: number;
  /** Over the samples that carry a label; null when none does. */
  accuracy: number | null;
  /** Mean cost per sample. */
  cost: number;
  offloadRate: number;
  bytesSent: number;
  deviceMsP50: number | null;
  deviceMsP99: number | null;
  /** Over offloads the cloud answered. */
  cloudMsP50: number | null;
  cloudMsP99: number | null;
}
export const RUN_SUMMARY_KEYS = ['n', 'answered', 'degraded', 'accuracy', 'cost', 'offloadRate', 'bytesSent',
  'deviceMsP50', 'deviceMsP99', 'cloudMsP50', 'cloudMsP99'] as const;

export interface RunResult {
  policy: string;
  L: number;
  summary: RunSummary;
  /** In stream order, one per sample, each exactly once. */
  records: SampleRecord[];
  /** Samples split at each layer (index k − 1 ↔ arm k). */
  armCounts: number[];
  /** Degraded samples per reason. */
  errors: Record<string, number>;
  /** True when the run was stopped (signal) before the stream ended. */
  stopped: boolean;
  /** With measured costs: the estimates at the end of the run. */
  measured?: MeasuredCostsReport;
}

export interface RunProgress {
  done: number;
  correct: number;
  labelled: number;
  offloaded: number;
  degraded: number;
}

export interface RunStreamOptions<R> {
  model: RunnableModel;
  samples: Iterable<StreamSample<R>> | AsyncIterable<StreamSample<R>>;
  /** Raw sample → model input (createInputEncoder(model.header)); default: the sample is already the input. */
  encode?: (raw: R) => ModelInput;
  policy: SplitPolicy;
  /** The paper's constant costs, or `{ kind: 'measured', … }`: milliseconds measured on this device and link. */
  costs: CostModel | ResolvedCosts | MeasuredCostModel;
  cloud: CloudClient;
  /** Activation dtype on the wire (default int8). */
  dtype?: Dtype;
  retry?: Partial<RetryOptions>;
  /** false: never skip the cloud. */
  breaker?: Partial<BreakerOptions> | false;
  /**
   * Evaluate every exit 1..k on the device and report C_1..C_k (side information). Default: the policy's
   * `sideExits` (on for the policies that learn from it), off otherwise (only exit k runs: cheaper, one readback).
   */
  sideExits?: boolean;
  /**
   * Offloads that may still await the cloud when the next sample starts on the device (default 0: strictly one
   * sample at a time, the simulator's order). More overlaps device and network; the policy then chooses before it
   * has observed those samples.
   */
  maxInFlight?: number;
  /**
   * 'throw' (default): a fatal cloud error (401/403 token, 409 another model) stops the run and rejects with that
   * CloudError (its `partial` holds the RunResult so far, the failing sample answered as degraded).
   * 'degrade': treat it like any failure.
   */
  onFatal?: 'throw' | 'degrade';
  /** Class count, to refuse a cloud answer of another size (default model.classes.length). */
  numClasses?: number;
  /** After each answer (stream order when maxInFlight = 0, completion order otherwise); awaited. */
  onSample?: (rec: SampleRecord, progress: RunProgress) => void | Promise<void>;
  /** Stops taking new samples; the ones started are finished and counted. */
  signal?: AbortSignal;
  /** Hooks for tests: clock (ms), sleep, jitter source in [0, 1). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Costs measured as the run goes (docs/POLICIES.md, "Measured costs"): before the first sample, one warm-up pass
 * and `calibration` passes of it time every layer and two offloads per split probe the link (the fastest kept);
 * then each sample's device time and each offload's round trip refresh the estimates (exponential forgetting with
 * weight `smoothing`). Rewards are C − μ·ms, μ = `mu` or 1 / the calibrated whole-network device time. Each sample
 * is decided and rewarded with the costs in force when it started (the policy receives them as `chooseArm`'s second
 * argument and as `Observation.costs`).
 */
export interface MeasuredCostModel {
  kind: 'measured';
  alpha: number;
  /** Reward per ms (default 1 / the calibrated whole-network device time: the whole network costs 1). */
  mu?: number;
  /** Weight of each new measurement in (0, 1] (default 0.1). */
  smoothing?: number;
  /** Timed passes of the first sample before the stream, the fastest per layer kept (default 5; ≥ 1). */
  calibration?: number;
}

/** The costs a measured run ended with (what the estimates converged to). */
export interface MeasuredCostsReport {
  /** Device time of each layer 1..L, ms. */
  layerMs: number[];
  /** Round trip without the payload (latency both ways and the cloud's time), ms; null before any offload. */
  rttMs: number | null;
  /** Bandwidth towards the cloud, Mbit/s (null before any offload; Infinity when the frames' sizes cannot tell). */
  bandwidthMbit: number | null;
  /** Reward per ms. */
  mu: number;
  /** λ_k = μ·(device time of layer k) and o_k = μ·(offload time of a split at k), in reward units. */
  lambda: number[];
  offload: number[];
}

export class RunError extends Error {
  readonly code: string;
  constructor(code: string, message: string) { super(message); this.name = 'RunError'; this.code = code; }
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) { resolve(); return; }
    const done = () => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve(); };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done);
  });
}

/** Nearest-rank percentile of ascending values; null for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const r = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[r - 1];
}

/** Summary of answered samples (also usable on a partial record list). */
export function summarizeRecords(records: readonly SampleRecord[], n = records.length): RunSummary {
  let correct = 0, labelled = 0, degraded = 0, offloaded = 0, cost = 0, costComp = 0, bytes = 0;
  const dev: number[] = [], cloud: number[] = [];
  for (const r of records) {
    if (r.correct !== undefined) { labelled++; if (r.correct) correct++; }
    if (r.degraded) degraded++;
    if (r.offloaded) offloaded++;
    // Neumaier summation, as the simulator does, so equal decisions give bit-equal mean costs on long streams.
    const u = cost + r.cost;
    costComp += Math.abs(cost) >= Math.abs(r.cost) ? (cost - u) + r.cost : (r.cost - u) + cost;
    cost = u;
    bytes += r.bytesSent;
    dev.push(r.deviceMs);
    if (r.offloaded && !r.degraded && r.cloudMs !== undefined) cloud.push(r.cloudMs);
  }
  dev.sort((a, b) => a - b);
  cloud.sort((a, b) => a - b);
  const m = records.length;
  return {
    n,
    answered: m,
    degraded,
    accuracy: labelled ? correct / labelled : null,
    cost: m ? (cost + costComp) / m : 0,
    offloadRate: m ? offloaded / m : 0,
    bytesSent: bytes,
    deviceMsP50: percentile(dev, 50),
    deviceMsP99: percentile(dev, 99),
    cloudMsP50: percentile(cloud, 50),
    cloudMsP99: percentile(cloud, 99),
  };
}

function checkRetry(r: RetryOptions): RetryOptions {
  for (const k of ['retries', 'baseDelayMs', 'maxDelayMs', 'timeoutMs'] as const) {
    const v = r[k];
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v) || (k === 'retries' && !Number.isInteger(v)) || (k === 'timeoutMs' && v <= 0)) {
      throw new RunError('BAD_OPTION', `retry.${k} must be a finite number ≥ 0${k === 'timeoutMs' ? ' and > 0' : ''}${k === 'retries' ? ' (an integer)' : ''}, got ${v}`);
    }
  }
  return r;
}

/**
 * Streams `samples` through `policy` on `model`, offloading to `cloud`. Every sample taken from the stream gets
 * exactly one record; the result's records are in stream order.
 */
export async function runStream<R>(opts: RunStreamOptions<R>): Promise<RunResult> {
  const { model, policy, cloud } = opts;
  const L = model.numLayers;
  if (!Number.isInteger(L) || L < 1) throw new RunError('BAD_MODEL', `model.numLayers must be a positive integer, got ${L}`);
  if (policy.L !== L) throw new PolicyError('BAD_DEPTH', `policy '${policy.name}' was built for L = ${policy.L}, the model has L = ${L} layers`);
  const measuredOpts = 'kind' in opts.costs && opts.costs.kind === 'measured' ? opts.costs : undefined;
  const estimator = measuredOpts ? new CostEstimator(L, measuredOpts) : undefined;
  const calibrationPasses = measuredOpts?.calibration ?? 5;
  if (!Number.isInteger(calibrationPasses) || calibrationPasses < 1) throw new RunError('BAD_OPTION', `calibration must be an integer ≥ 1, got ${calibrationPasses}`);
  const fixedCosts = measuredOpts ? undefined : resolveCosts(opts.costs as CostModel | ResolvedCosts, L);
  const alpha = measuredOpts ? measuredOpts.alpha : fixedCosts!.alpha;
  const dtype: Dtype = opts.dtype ?? 'int8';
  const retry = checkRetry({ ...DEFAULT_RETRY, ...(opts.retry ?? {}) });
  const breaker = opts.breaker === false ? null : { ...DEFAULT_BREAKER, ...(opts.breaker ?? {}) };
  if (breaker && (!Number.isInteger(breaker.threshold) || breaker.threshold < 1 || !(breaker.cooldownMs >= 0))) {
    throw new RunError('BAD_OPTION', 'breaker.threshold must be an integer ≥ 1 and breaker.cooldownMs ≥ 0');
  }
  const maxInFlight = opts.maxInFlight ?? 0;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 0) throw new RunError('BAD_OPTION', `maxInFlight must be an integer ≥ 0, got ${maxInFlight}`);
  if (policy.needsFullRow) {
    throw new RunError('SIMULATION_ONLY', `policy '${policy.name}' learns from confidences no device computes (the last exit of samples that exited early); it can only be simulated`);
  }
  const rule = policy.exitRule;
  const exitsMode = opts.sideExits === undefined ? deviceExits(policy) : deviceExits({ exitRule: rule, sideExits: opts.sideExits });
  const numClasses = opts.numClasses ?? model.classes?.length;
  const onFatal = opts.onFatal ?? 'throw';
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? defaultSleep;
  const random = opts.random ?? Math.random;
  const encodeInput = opts.encode ?? ((raw: R) => raw as unknown as ModelInput);
  const stopSignal = opts.signal;
  // Aborts the cloud calls still running when the run dies (a fatal error, a device failure).
  const internal = new AbortController();

  const records: SampleRecord[] = [];
  const armCounts = new Array<number>(L).fill(0);
  const errors: Record<string, number> = {};
  const progress: RunProgress = { done: 0, correct: 0, labelled: 0, offloaded: 0, degraded: 0 };
  let failures = 0, openUntil = -Infinity;
  let fatal: CloudError | null = null;

  // ---- device: layers 1..k and the exits the rule needs; where it stops and whether it offloads are the
  // decision module's (the simulator's) predicates.
  async function onDevice(input: ModelInput, k: number, stamps?: number[]): Promise<DeviceRun> {
    const run: DeviceRunOptions = {
      exits: exitsMode,
      stopAt: (j, e) => { stamps?.push(now()); return stopsAfter(rule, k, alpha, j, e.confidence); },
      // runDevice asks only at exit k: stopping at k is the only way to reach the offload branch.
      offload: (e) => offloads(k, L, alpha, k, e.confidence),
      // int8 on the wire: quantize where the activation lives, so a quarter of the bytes are read back.
      readback: dtype === 'int8' ? 'int8' : 'f32',
    };
    try {
      return await model.runDevice(input, k, run);
    } catch (e) {
      // A NaN / inf activation cannot be quantized on the backend either: run again with an f32 readback to get the
      // exit; encoding it below fails the same way and the device answers, degraded.
      if (run.readback === 'int8' && (e as { code?: string }).code === 'NON_FINITE') return model.runDevice(input, k, { ...run, readback: 'f32' });
      throw e;
    }
  }

  // ---- cloud: retries, backoff, breaker
  async function toCloud(frame: Uint8Array, requestId: string): Promise<{ answer?: CloudAnswer; error?: CloudError; attempts: number }> {
    let attempts = 0;
    let last: CloudError | undefined;
    if (breaker && now() < openUntil) {
      return { error: new CloudError('CIRCUIT_OPEN', 0, 'the cloud failed repeatedly; skipping it for a while', { retryable: false, fatal: false }), attempts };
    }
    for (let i = 0; i <= retry.retries; i++) {
      if (i > 0) {
        const backoff = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (i - 1)) * (0.5 + 0.5 * random());
        await sleep(Math.min(retry.maxDelayMs, Math.max(backoff, last?.retryAfterMs ?? 0)), internal.signal);
        if (internal.signal.aborted) break;
      }
      attempts++;
      try {
        // The deadline is enforced here too, so a client that ignores timeoutMs cannot stall the stream.
        const answer = await withDeadline((signal) => cloud.infer(frame, { timeoutMs: retry.timeoutMs, requestId, numClasses, signal }),
          retry.timeoutMs, internal.signal);
        failures = 0;
        return { answer, attempts };
      } catch (e) {
        last = asCloudError(e);
        if (last.fatal && onFatal === 'throw') break;
        if (!last.retryable) break;
      }
    }
    // Only availability failures (network, timeouts, 5xx) open the circuit: a sample the cloud refuses (422) says
    // nothing about the next one.
    if (breaker && last?.retryable && ++failures >= breaker.threshold) openUntil = now() + breaker.cooldownMs;
    return { error: last ?? new CloudError('ABORTED', 0, 'the run was stopped', { retryable: false, fatal: false }), attempts };
  }

  /**
   * Settles the sample (the decision module: answer, cost, observation, reward), feeds the policy and records it.
   * `cloud`: the C_L the cloud answered with, null when it did not, undefined when nothing was offloaded.
   */
  async function complete(rec: SampleRecord, costs: ResolvedCosts, layer: number, confidences: (number | undefined)[], cloud: CloudOutcome | undefined): Promise<void> {
    if (records[rec.t] !== undefined) throw new RunError('DUPLICATE', `sample t = ${rec.t} answered twice`); // invariant guard
    const d = settle(costs, rec.t, rec.arm, layer, confidences, cloud);
    rec.answerLayer = d.answerLayer;
    rec.exited = d.exited;
    rec.offloaded = d.offloaded;
    rec.degraded = d.degraded;
    rec.confidence = d.confidence;
    rec.cost = d.cost;
    rec.reward = d.reward;
    rec.confidences = confidences;
    const obs = d.observation;
    policy.observe(obs);
    records[rec.t] = rec;
    armCounts[rec.arm - 1]++;
    progress.done++;
    if (rec.correct !== undefined) { progress.labelled++; if (rec.correct) progress.correct++; }
    if (rec.offloaded) progress.offloaded++;
    if (rec.degraded) { progress.degraded++; errors[rec.error ?? 'UNKNOWN'] = (errors[rec.error ?? 'UNKNOWN'] ?? 0) + 1; }
    if (opts.onSample) await opts.onSample(rec, { ...progress });
  }

  /**
   * Measured costs: times every layer of `input` (`calibrationPasses` passes, each exit evaluated, nothing kept) and
   * probes the link with two offloads of it per split 1..L − 1, the fastest kept (answers discarded; a failed probe
   * teaches nothing).
   */
  async function calibrate(input: ModelInput): Promise<void> {
    const est = estimator!;
    // One untimed pass first: the first run of each kernel pays compilation and allocation, not the device's speed.
    await model.runDevice(input, L, { exits: 'every', stopAt: () => false, offload: () => false });
    // Per layer, the fastest of the passes: other work on the machine only ever adds time.
    const best = new Array<number>(L).fill(Infinity);
    for (let pass = 0; pass < calibrationPasses; pass++) {
      const t0 = now();
      const stamps: number[] = [];
      await model.runDevice(input, L, { exits: 'every', stopAt: () => { stamps.push(now()); return false; }, offload: () => false });
      const end = now();
      let prev = t0;
      stamps.forEach((s, j) => { best[j] = Math.min(best[j], s - prev); prev = s; });
      best[L - 1] = Math.min(best[L - 1], end - prev);
    }
    est.observeLayers(best);
    // Per split, the fastest of two probes: the first call also pays for the connection and the cloud's first run of
    // the model, which would pass for a slow link at that split's frame size.
    const probeMs = new Array<number>(L).fill(Infinity), probeBytes = new Array<number>(L).fill(0);
    for (let pass = 0; pass < 2; pass++) for (let k = 1; k < L; k++) {
      const dev = await model.runDevice(input, k, { exits: 'split', offload: () => true, readback: dtype === 'int8' ? 'int8' : 'f32' })
        .catch(() => undefined);
      if (!dev || (!dev.activation && !dev.encoded)) continue;
      let frame: Uint8Array;
      try {
        frame = encodeFrame({ digest: model.digest, splitLayer: k, requestId: newRequestId(), tensor: dev.encoded ?? encodeTensor(dev.activation!.data, dev.activation!.shape, dtype) });
      } catch { continue; }
      const c0 = now();
      try {
        await withDeadline((signal) => cloud.infer(frame, { timeoutMs: retry.timeoutMs, numClasses, signal }), retry.timeoutMs, internal.signal);
        probeMs[k] = Math.min(probeMs[k], now() - c0);
        probeBytes[k] = frame.length;
      } catch { /* an unreachable cloud shows up in the run itself */ }
    }
    for (let k = 1; k < L; k++) if (probeMs[k] < Infinity) est.observeOffload(k, probeBytes[k], probeMs[k]);
  }

  const pending = new Set<Promise<void>>();
  let failure: unknown = null;
  let t = 0;
  let stopped = false;

  try {
    for await (const sample of opts.samples) {
      if (failure || fatal) break;
      if (stopSignal?.aborted) { stopped = true; break; }
      while (pending.size > maxInFlight) await Promise.race(pending);
      if (failure || fatal) break;

      const step = t++;
      const index = sample.index ?? step;
      const label = sample.label;
      const input = encodeInput(sample.input);
      if (estimator && step === 0) await calibrate(input);
      // This sample is decided and rewarded with the costs in force now.
      const costs = estimator ? estimator.costs() : fixedCosts!;
      const k = policy.chooseArm(step, costs);
      if (!Number.isInteger(k) || k < 1 || k > L) throw new PolicyError('BAD_ARM', `policy '${policy.name}' chose arm ${k} at t = ${step}; arms are 1..${L}`);

      const t0 = now();
      const stamps: number[] | undefined = estimator && exitsMode === 'every' ? [] : undefined;
      const dev = await onDevice(input, k, stamps);
      if (estimator) {
        // Layers timed one by one (side exits, cascade): each but the last, whose time includes any readback.
        if (stamps && stamps.length) {
          const ms: number[] = [];
          let prev = t0;
          for (const s of stamps) { ms.push(s - prev); prev = s; }
          estimator.observeLayers(ms);
        } else if (!dev.activation && !dev.encoded) {
          estimator.observePrefix(dev.layer, now() - t0);
        }
      }
      const base: SampleRecord = {
        t: step, index, arm: k, answerLayer: dev.layer, exited: true, offloaded: false, degraded: false,
        prediction: dev.exit.label, confidence: dev.exit.confidence, label,
        correct: label === undefined ? undefined : dev.exit.label === label,
        cost: 0, frameBytes: 0, bytesSent: 0, attempts: 0, deviceMs: 0, confidences: dev.confidences,
      };
      if (!dev.activation && !dev.encoded) {
        base.deviceMs = now() - t0;
        await complete(base, costs, dev.layer, dev.confidences.slice(), undefined);
        continue;
      }

      // Offload: the activation after layer k crosses in one frame bound to this model file.
      const requestId = newRequestId();
      base.requestId = requestId;
      let frame: Uint8Array | null = null;
      let encodeError: string | undefined;
      try {
        const tensor = dev.encoded ?? encodeTensor(dev.activation!.data, dev.activation!.shape, dtype);
        frame = encodeFrame({ digest: model.digest, splitLayer: k, requestId, tensor });
        base.frameBytes = frame.length;
      } catch (e) {
        // NaN / inf activations cannot be quantized: the device answers itself (degraded, nothing sent).
        encodeError = (e as { code?: string }).code ?? 'ENCODE_FAILED';
      }
      base.deviceMs = now() - t0;

      const finishOffload = async () => {
        const c0 = now();
        const res = frame ? await toCloud(frame, requestId) : { error: undefined, attempts: 0 };
        base.attempts = res.attempts;
        base.bytesSent = base.frameBytes * res.attempts;
        base.cloudMs = now() - c0;
        const confidences = dev.confidences.slice();
        if (res.answer) {
          // One attempt: the time is a round trip (retries would add backoff).
          if (estimator && res.attempts === 1) estimator.observeOffload(k, base.frameBytes, base.cloudMs);
          base.prediction = res.answer.label;
          base.correct = label === undefined ? undefined : res.answer.label === label;
          await complete(base, costs, dev.layer, confidences, res.answer.confidence);
          return;
        }
        // Degraded: the device's own exit k answers; the policy learns only what it really saw (no C_L).
        const err = res.error;
        base.error = encodeError ?? err?.code ?? 'UNKNOWN';
        await complete(base, costs, dev.layer, confidences, null);
        if (err?.fatal && onFatal === 'throw' && !fatal) { fatal = err; internal.abort(); }
      };
      const p: Promise<void> = finishOffload().catch((e) => { failure ??= e; internal.abort(); })
        .finally(() => { pending.delete(p); });
      pending.add(p);
    }
  } catch (e) {
    failure ??= e;
    internal.abort();
  } finally {
    await Promise.allSettled([...pending]);
  }
  if (failure) throw failure;

  const answered = records.filter((r) => r !== undefined);
  if (answered.length !== t) throw new RunError('LOST', `${t} samples started, ${answered.length} answered`); // invariant guard
  const result: RunResult = {
    policy: policy.name, L, summary: summarizeRecords(records, t), records, armCounts, errors,
    stopped: stopped || fatal !== null,
  };
  if (estimator && t > 0) result.measured = measuredReport(estimator);
  if (fatal) {
    (fatal as CloudError).partial = result;
    throw fatal;
  }
  return result;
}

function measuredReport(est: CostEstimator): MeasuredCostsReport {
  const c = est.costs(), link = est.link(), L = est.L;
  const lambda: number[] = [], offload: number[] = [];
  for (let k = 1; k <= L; k++) lambda.push(c.cum[k] - c.cum[k - 1]);
  for (let k = 1; k < L; k++) offload.push(c.offloadAt![k]);
  return {
    layerMs: Array.from(est.layerMs), rttMs: link ? link.rttMs : null, bandwidthMbit: link ? link.bandwidthMbit : null,
    mu: est.rewardPerMs!, lambda, offload,
  };
}
