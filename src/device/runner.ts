// The live device scheduler: streams samples through a split policy on a real engine, offloads over a CloudClient,
// and feeds the policy exactly what was observed. It is the simulator's loop (src/sim/simulator.ts) with the
// confidences computed instead of read, so on the same confidences it takes the same decisions; what it adds is
// the network: per-attempt timeouts, bounded retries with exponential backoff, a circuit breaker, and degraded
// answers (the device's own exit, C_L unknown to the policy) when the cloud cannot answer. Core module: no Node
// imports (the browser demo runs it too).
import type { DeviceStep } from '../engine/model.js';
import type { ExitResult, ModelInput, Tensor } from '../engine/types.js';
import { PolicyError, resolveCosts, type CostModel, type Observation, type ResolvedCosts, type SplitPolicy } from '../policy/types.js';
import { realizedReward } from '../policy/ucb.js';
import { encode as encodeTensor, type Dtype } from '../transport/codec.js';
import { encodeFrame, newRequestId, type CloudAnswer } from '../transport/frame.js';
import { CloudError, asCloudError, withDeadline, type CloudClient } from './cloud.js';

/** What the runner needs of a model (the engine's `Model` fits). */
export interface DeviceModel {
  readonly numLayers: number;
  /** SHA-256 of the model file: every frame carries it. */
  readonly digest: Uint8Array;
  readonly classes?: readonly string[];
  /** Layers 1..k and exit k; the activation is read back only when `offload(exit)` says so. */
  device(input: ModelInput, k: number, offload: (exit: ExitResult) => boolean): Promise<DeviceStep>;
  /** Layers from..to (side exits and the cascade step through the layers one at a time). */
  run(input: ModelInput, opts: { from?: number; to?: number }): Promise<Tensor>;
  exit(k: number, activation: Tensor): Promise<ExitResult>;
}

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
}

export interface RunProgress {
  done: number;
  correct: number;
  labelled: number;
  offloaded: number;
  degraded: number;
}

export interface RunStreamOptions<R> {
  model: DeviceModel;
  samples: Iterable<StreamSample<R>> | AsyncIterable<StreamSample<R>>;
  /** Raw sample → model input (createInputEncoder(model.header)); default: the sample is already the input. */
  encode?: (raw: R) => ModelInput;
  policy: SplitPolicy;
  costs: CostModel | ResolvedCosts;
  cloud: CloudClient;
  /** Activation dtype on the wire (default int8). */
  dtype?: Dtype;
  retry?: Partial<RetryOptions>;
  /** false: never skip the cloud. */
  breaker?: Partial<BreakerOptions> | false;
  /**
   * Evaluate every exit 1..k on the device and report C_1..C_k (side information). Default: on for the policies
   * that learn from it (splitee-s, splitee-su), off otherwise (only exit k runs: cheaper, one readback).
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

export class RunError extends Error {
  readonly code: string;
  constructor(code: string, message: string) { super(message); this.name = 'RunError'; this.code = code; }
}

const SIDE_EXIT_POLICIES = new Set(['splitee-s', 'splitee-su']);

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

/** What the device computed for one sample before any network. */
interface DeviceOutcome {
  /** The exit that answers if nothing is offloaded (or when the offload degrades). */
  exit: ExitResult;
  /** Its layer. */
  layer: number;
  /** Exits evaluated, C_j at j − 1. */
  confidences: (number | undefined)[];
  /** Set when the sample must go to the cloud. */
  activation?: Tensor;
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
  const costs = resolveCosts(opts.costs, L);
  const { alpha, cum, offloadCost } = costs;
  const dtype: Dtype = opts.dtype ?? 'int8';
  const retry = checkRetry({ ...DEFAULT_RETRY, ...(opts.retry ?? {}) });
  const breaker = opts.breaker === false ? null : { ...DEFAULT_BREAKER, ...(opts.breaker ?? {}) };
  if (breaker && (!Number.isInteger(breaker.threshold) || breaker.threshold < 1 || !(breaker.cooldownMs >= 0))) {
    throw new RunError('BAD_OPTION', 'breaker.threshold must be an integer ≥ 1 and breaker.cooldownMs ≥ 0');
  }
  const maxInFlight = opts.maxInFlight ?? 0;
  if (!Number.isInteger(maxInFlight) || maxInFlight < 0) throw new RunError('BAD_OPTION', `maxInFlight must be an integer ≥ 0, got ${maxInFlight}`);
  const cascade = policy.exitRule === 'cascade';
  const sideExits = opts.sideExits ?? SIDE_EXIT_POLICIES.has(policy.name);
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

  // ---- device: layers 1..k and the exits the rule needs
  async function onDevice(input: ModelInput, k: number): Promise<DeviceOutcome> {
    const confidences: (number | undefined)[] = new Array(L).fill(undefined);
    if (!cascade && !sideExits) {
      const step = await model.device(input, k, (e) => k < L && e.confidence < alpha);
      confidences[k - 1] = step.exit.confidence;
      return { exit: step.exit, layer: k, confidences, activation: step.activation };
    }
    // One layer at a time, an exit after each: the cascade stops at the first confident exit, side exits go to k.
    let act: ModelInput = input;
    let out: Tensor | undefined, e: ExitResult | undefined;
    for (let j = 1; j <= k; j++) {
      out = await model.run(act, { from: j, to: j });
      e = await model.exit(j, out);
      confidences[j - 1] = e.confidence;
      if (cascade && j < k && e.confidence >= alpha) return { exit: e, layer: j, confidences };
      act = out;
    }
    const offload = k < L && e!.confidence < alpha;
    return { exit: e!, layer: k, confidences, activation: offload ? out : undefined };
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

  async function complete(rec: SampleRecord, obs: Observation): Promise<void> {
    if (records[rec.t] !== undefined) throw new RunError('DUPLICATE', `sample t = ${rec.t} answered twice`); // invariant guard
    rec.reward = realizedReward(costs, obs);
    policy.observe(obs);
    records[rec.t] = rec;
    armCounts[rec.arm - 1]++;
    progress.done++;
    if (rec.correct !== undefined) { progress.labelled++; if (rec.correct) progress.correct++; }
    if (rec.offloaded) progress.offloaded++;
    if (rec.degraded) { progress.degraded++; errors[rec.error ?? 'UNKNOWN'] = (errors[rec.error ?? 'UNKNOWN'] ?? 0) + 1; }
    if (opts.onSample) await opts.onSample(rec, { ...progress });
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
      const k = policy.chooseArm(step);
      if (!Number.isInteger(k) || k < 1 || k > L) throw new PolicyError('BAD_ARM', `policy '${policy.name}' chose arm ${k} at t = ${step}; arms are 1..${L}`);

      const t0 = now();
      const dev = await onDevice(encodeInput(sample.input), k);
      const base: SampleRecord = {
        t: step, index, arm: k, answerLayer: dev.layer, exited: true, offloaded: false, degraded: false,
        prediction: dev.exit.label, confidence: dev.exit.confidence, label,
        correct: label === undefined ? undefined : dev.exit.label === label,
        cost: cum[dev.layer], frameBytes: 0, bytesSent: 0, attempts: 0, deviceMs: 0, confidences: dev.confidences,
      };
      if (!dev.activation) {
        base.deviceMs = now() - t0;
        await complete(base, { t: step, arm: k, exited: true, exitLayer: dev.layer, confidences: dev.confidences.slice() });
        continue;
      }

      // Offload: the activation after layer k crosses in one frame bound to this model file.
      base.exited = false;
      base.offloaded = true;
      base.cost = cum[k] + offloadCost;
      const requestId = newRequestId();
      base.requestId = requestId;
      let frame: Uint8Array | null = null;
      let encodeError: string | undefined;
      try {
        frame = encodeFrame({ digest: model.digest, splitLayer: k, requestId, tensor: encodeTensor(dev.activation.data, dev.activation.shape, dtype) });
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
          confidences[L - 1] = res.answer.confidence;
          base.answerLayer = L;
          base.prediction = res.answer.label;
          base.confidence = res.answer.confidence;
          base.correct = label === undefined ? undefined : res.answer.label === label;
          base.confidences = confidences;
          await complete(base, { t: step, arm: k, exited: false, confidences });
          return;
        }
        // Degraded: the device's own exit k answers; the policy learns only what it really saw (no C_L).
        const err = res.error;
        base.degraded = true;
        base.error = encodeError ?? err?.code ?? 'UNKNOWN';
        await complete(base, { t: step, arm: k, exited: false, degraded: true, confidences });
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
  if (fatal) {
    (fatal as CloudError).partial = result;
    throw fatal;
  }
  return result;
}
