// The live device runner (src/device) with fake models and fake clouds written here: the same decisions as the
// simulator on the same confidences (every policy), retries with backoff, timeouts, permanent failures answered as
// degraded without a made-up reward, fatal errors, the circuit breaker, pipelining, bytes, the summary, the cloud
// clients' error mapping, and the real engine through LocalCloudClient. Plus the slice-by-8 CRC-32 against zlib.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import zlib from 'node:zlib';
import { loadModelBytes, type ExitResult, type ModelInput, type Tensor } from '../src/index.js';
import { createPolicy, resolveCosts, type CostModel, type Observation, type SplitPolicy, type SplitEEPolicy } from '../src/policy/index.js';
import { matrixFromSamples, simulate, type ConfidenceMatrix } from '../src/sim/index.js';
import { DTYPES, decode, encode, type Dtype } from '../src/transport/codec.js';
import { decodeFrame, encodeFrame, encodeResponse, frameBytes, newRequestId, type CloudAnswer } from '../src/transport/frame.js';
import { crc32 } from '../src/util/crc32.js';
import {
  CloudError, HttpCloudClient, LocalCloudClient, RunError, percentile, runStream, summarizeRecords,
  type CloudClient, type InferOptions, type RunnableModel, type RunStreamOptions, type SampleRecord,
} from '../src/device/index.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { randn, rng, type Rng } from './util.js';

// ------------------------------------------------------------------------------------------------ fakes

const CLASSES = 4;

function randomMatrix(r: Rng, L: number, n: number): ConfidenceMatrix {
  return matrixFromSamples(Array.from({ length: n }, () => {
    const easy = r.next();
    const confidences = Array.from({ length: L }, (_, j) => Math.min(1, Math.max(0, easy * (0.4 + (0.6 * (j + 1)) / L) + r.uniform(-0.15, 0.15))));
    const label = r.int(0, CLASSES);
    const predictions = confidences.map((c) => (r.next() < c ? label : r.int(0, CLASSES)));
    return { confidences, predictions, label };
  }), { numClasses: CLASSES });
}

function exitOf(m: ConfidenceMatrix, i: number, j: number): ExitResult {
  const label = m.pred[i * m.L + j - 1], confidence = m.conf[i * m.L + j - 1];
  const probs = new Float32Array(CLASSES).fill((1 - confidence) / (CLASSES - 1));
  probs[label] = confidence;
  return { probs, confidence, label };
}

/** The activation after layer k of sample i: [3, 5], element 0 = i, element 1 = k, the rest varies. */
function activationOf(i: number, k: number): Tensor {
  const data = new Float32Array(15);
  data[0] = i; data[1] = k;
  for (let e = 2; e < 15; e++) data[e] = Math.sin(i * 7 + k * 3 + e) * 2;
  return { shape: [3, 5], data };
}

const DIGEST = new Uint8Array(32).map((_, i) => i * 7 + 1);

/**
 * A model whose exits read the confidence matrix: input = Float32Array([i]). Runs the device half as the engine's
 * runDevice does (every exit or exit k only, stopAt asked for j < k, offload asked at k only, f32 or int8 readback)
 * and counts what the runner asks.
 */
function fakeModel(m: ConfidenceMatrix) {
  const calls = { runDevice: 0, exitsEvaluated: 0, readbacks: 0, int8Readbacks: 0, modes: new Set<string>() };
  const idOf = (x: ModelInput) => (x instanceof Float32Array ? x[0] : (x as Tensor).data[0]);
  const model: RunnableModel & { calls: typeof calls } = {
    numLayers: m.L, digest: DIGEST, classes: Array.from({ length: CLASSES }, (_, c) => `c${c}`), calls,
    async runDevice(input, k, o) {
      calls.runDevice++;
      calls.modes.add(o.exits ?? 'split');
      const i = idOf(input);
      const confidences: (number | undefined)[] = new Array(m.L).fill(undefined);
      let exit = exitOf(m, i, k);
      if (o.exits === 'every') {
        for (let j = 1; j <= k; j++) {
          exit = exitOf(m, i, j);
          confidences[j - 1] = exit.confidence;
          calls.exitsEvaluated++;
          if (j < k && o.stopAt?.(j, exit)) return { layer: j, exit, confidences };
        }
      } else {
        confidences[k - 1] = exit.confidence;
        calls.exitsEvaluated++;
      }
      if (!o.offload(exit)) return { layer: k, exit, confidences };
      calls.readbacks++;
      const act = activationOf(i, k);
      if (o.readback === 'int8') { calls.int8Readbacks++; return { layer: k, exit, confidences, encoded: encode(act.data, act.shape, 'int8') }; }
      return { layer: k, exit, confidences, activation: act };
    },
  };
  return model;
}

type Behaviour = (call: { i: number; k: number; attempt: number; opts: InferOptions }) => 'ok' | CloudError | Promise<'ok' | CloudError> | 'hang';

/** A cloud that decodes the frame (f32 → the sample id survives) and answers with the matrix's last exit. */
function fakeCloud(m: ConfidenceMatrix, behave: Behaviour = () => 'ok') {
  const attempts = new Map<number, number>();
  let inFlight = 0;
  const cloud: CloudClient & { calls: { i: number; k: number; bytes: number; dtype: Dtype }[]; maxInFlight: number } = {
    target: 'fake', calls: [], maxInFlight: 0,
    async infer(frame, opts = {}) {
      const f = decodeFrame(frame);
      assert.equal(f.digest, DIGEST);
      assert.is(f.requestId, opts.requestId);
      const x = decode(f.tensor);
      const i = Math.round(x[0]), k = f.splitLayer;
      const attempt = (attempts.get(i) ?? 0) + 1;
      attempts.set(i, attempt);
      cloud.calls.push({ i, k, bytes: frame.length, dtype: f.tensor.dtype });
      inFlight++;
      cloud.maxInFlight = Math.max(cloud.maxInFlight, inFlight);
      try {
        const b = await behave({ i, k, attempt, opts });
        if (b === 'hang') {
          return await new Promise<CloudAnswer>((_, reject) => {
            opts.signal?.addEventListener('abort', () => reject(new CloudError('TIMEOUT', 0, 'late', { retryable: true })));
          });
        }
        if (b instanceof CloudError) throw b;
        const e = exitOf(m, i, m.L);
        return { label: e.label, probs: e.probs, confidence: e.confidence, layersRun: m.L - k, requestId: f.requestId };
      } finally { inFlight--; }
    },
  };
  return cloud;
}

/** A policy that records every observation (deep copies) and forwards to the real one. */
function spy(p: SplitPolicy) {
  const seen: Observation[] = [];
  const s: SplitPolicy & { seen: Observation[] } = {
    name: p.name, L: p.L, exitRule: p.exitRule, sideExits: p.sideExits, seen,
    chooseArm: (t) => p.chooseArm(t),
    observe(o) { seen.push({ ...o, confidences: o.confidences.slice() }); p.observe(o); },
  };
  return s;
}

const samplesOf = (m: ConfidenceMatrix) => Array.from({ length: m.n }, (_, i) => ({ index: 1000 + i, label: m.label[i], input: Float32Array.from([i]) }));
const noSleep = async () => undefined;

function base(m: ConfidenceMatrix, costs: CostModel, over: Partial<RunStreamOptions<Float32Array>> = {}): RunStreamOptions<Float32Array> {
  return {
    model: fakeModel(m), samples: samplesOf(m), policy: createPolicy('splitee', { L: m.L, costs }), costs,
    cloud: fakeCloud(m), dtype: 'f32', sleep: noSleep, ...over,
  };
}

function assertEachOnce(records: SampleRecord[], n: number) {
  assert.is(records.length, n);
  const ids = new Set<number>();
  records.forEach((r, t) => {
    assert.ok(r, `record ${t} present`);
    assert.is(r.t, t);
    assert.not.ok(ids.has(r.index), `index ${r.index} answered twice`);
    ids.add(r.index);
  });
  assert.is(ids.size, n);
}

// ------------------------------------------------------------------------------------- decisions = simulator

for (const name of ['splitee', 'splitee-s', 'splitee-su', 'early-exit', 'random', 'fixed:2', 'final']) {
  test(`${name}: arms, exits, offloads, answers and costs equal the simulator's on the same confidences`, async () => {
    const r = rng(name.length * 31 + 7);
    const L = 5, m = randomMatrix(r, L, 240);
    const costs: CostModel = { alpha: 0.62, lambda: 0.07, offloadCost: 0.2 };
    const sim = simulate(m, createPolicy(name, { L, costs, seed: 9 }), costs, { record: true });
    const model = fakeModel(m);
    const res = await runStream(base(m, costs, { model, policy: createPolicy(name, { L, costs, seed: 9 }) }));
    assertEachOnce(res.records, m.n);
    const c = resolveCosts(costs, L);
    let correct = 0, cost = 0, offloads = 0, exits = 0;
    for (const rec of res.records) {
      const i = rec.t;
      assert.is(rec.arm, sim.arms![i], `arm at t = ${i}`);
      assert.is(rec.index, 1000 + i);
      // What the device must have done, written plainly from the matrix.
      const C = (j: number) => m.conf[i * L + j - 1];
      let layer = 0;
      if (name === 'early-exit') { for (let j = 1; j <= L && !layer; j++) if (C(j) >= c.alpha || j === L) layer = j; }
      else if (rec.arm === L || C(rec.arm) >= c.alpha) layer = rec.arm;
      assert.is(rec.offloaded, layer === 0, `offload at t = ${i}`);
      assert.is(rec.exited, layer !== 0);
      assert.is(rec.answerLayer, layer || L);
      assert.is(rec.prediction, m.pred[i * L + (layer || L) - 1]);
      assert.is(rec.cost, layer ? c.cum[layer] : c.cum[rec.arm] + c.offloadCost);
      if (rec.correct) correct++;
      cost += rec.cost;
      if (rec.offloaded) offloads++;
      else if (rec.answerLayer < L) exits++;
      assert.is(rec.degraded, false);
    }
    assert.is(correct, sim.correct);
    assert.is(offloads, sim.offloads);
    assert.is(exits, sim.exits);
    assert.ok(Math.abs(cost - sim.totalCost) < 1e-9);
    assert.equal(res.armCounts, Array.from(sim.armCounts));
    assert.is(res.summary.accuracy, sim.correct / m.n);
    // Side exits only for the policies that learn from them (and the cascade); otherwise exit k alone. One
    // runDevice per sample, a readback only to offload.
    const every = name === 'splitee-s' || name === 'splitee-su' || name === 'early-exit';
    assert.equal([...model.calls.modes], [every ? 'every' : 'split']);
    assert.is(model.calls.runDevice, m.n);
    assert.is(model.calls.readbacks, offloads);
    if (!every) assert.is(model.calls.exitsEvaluated, m.n);
  });
}

test('observations carry exactly what was computed: C_1..C_k (side exits) or C_k, C_L only from the cloud or arm L', async () => {
  const r = rng(5);
  const L = 4, m = randomMatrix(r, L, 120);
  const costs: CostModel = { alpha: 0.55, lambda: 0.1, offloadCost: 0.15 };
  for (const [name, side] of [['splitee', false], ['splitee-su', true]] as const) {
    const pol = spy(createPolicy(name, { L, costs }));
    const res = await runStream(base(m, costs, { policy: pol }));
    assert.is(pol.seen.length, m.n);
    for (const o of pol.seen) {
      const rec = res.records[o.t];
      for (let j = 1; j <= L; j++) {
        const v = o.confidences[j - 1];
        const shown = (j === o.arm) || (side && j < o.arm) || (j === L && (o.arm === L || !o.exited));
        if (shown) assert.is(v, m.conf[o.t * L + j - 1], `${name} t=${o.t} C_${j}`);
        else assert.is(v, undefined, `${name} t=${o.t} C_${j} must be unknown`);
      }
      assert.is(o.exited, rec.exited);
      assert.is(o.degraded ?? false, false);
    }
  }
});

// --------------------------------------------------------------------------------------------- failures

test('retries with exponential backoff (jitter, Retry-After, cap), then success: answered by the cloud, bytes per attempt', async () => {
  const r = rng(6);
  const L = 3, m = randomMatrix(r, L, 30);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 }; // α = 1: every arm < L offloads
  const delays: number[] = [];
  let jitter = 0;
  const cloud = fakeCloud(m, ({ i, attempt }) => {
    if (i === 4 && attempt <= 3) return new CloudError('BUSY', 503, 'busy', attempt === 3 ? { retryAfterMs: 1000 } : {});
    if (i === 7 && attempt === 1) return new CloudError('NETWORK', 0, 'ECONNRESET');
    return 'ok';
  });
  const pol = spy(createPolicy('fixed:1', { L, costs }));
  const res = await runStream(base(m, costs, {
    policy: pol, cloud, retry: { retries: 3, baseDelayMs: 40, maxDelayMs: 300 },
    sleep: async (ms) => { delays.push(ms); }, random: () => [0, 1, 0.5, 0][jitter++ % 4],
  }));
  assertEachOnce(res.records, m.n);
  const r4 = res.records[4], r7 = res.records[7];
  assert.is(r4.attempts, 4);
  assert.is(r4.degraded, false);
  assert.is(r4.answerLayer, L);
  assert.is(r4.bytesSent, 4 * r4.frameBytes);
  assert.is(r4.frameBytes, frameBytes('f32', [3, 5]));
  assert.is(r7.attempts, 2);
  // retry 1: 40·2^0 × (0.5 + 0.5·0) = 20; retry 2: 80 × 1 = 80; retry 3: max(160 × 0.75, Retry-After 1000) capped at 300;
  // sample 7, retry 1: 40 × 0.5 = 20.
  assert.equal(delays, [20, 80, 300, 20]);
  assert.is(res.summary.degraded, 0);
  assert.is(pol.seen[4].confidences[L - 1], m.conf[4 * L + L - 1]);
  const others = res.records.filter((x) => x.t !== 4 && x.t !== 7);
  assert.ok(others.every((x) => x.attempts === 1 && x.bytesSent === x.frameBytes));
  assert.is(res.summary.bytesSent, res.records.reduce((a, x) => a + x.bytesSent, 0));
  assert.is(res.summary.bytesSent, (m.n + 3 + 1) * frameBytes('f32', [3, 5]));
});

test('a cloud that never answers: each attempt times out, retried, then the sample is answered degraded', async () => {
  const r = rng(7);
  const L = 3, m = randomMatrix(r, L, 6);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 };
  const cloud = fakeCloud(m, ({ i }) => (i === 2 ? 'hang' : 'ok'));
  const t0 = performance.now();
  const res = await runStream(base(m, costs, { cloud, policy: createPolicy('fixed:2', { L, costs }), retry: { retries: 1, timeoutMs: 40, baseDelayMs: 1 } }));
  const rec = res.records[2];
  assert.is(rec.degraded, true);
  assert.is(rec.error, 'TIMEOUT');
  assert.is(rec.attempts, 2);
  assert.ok(rec.cloudMs! >= 70, `two 40 ms deadlines took ${rec.cloudMs} ms`);
  assert.ok(performance.now() - t0 < 2000);
  assert.is(rec.prediction, m.pred[2 * L + 1]); // the deepest exit the device computed: exit 2
  assert.is(res.summary.degraded, 1);
  assert.equal(res.errors, { TIMEOUT: 1 });
});

test('permanent failure: every sample answered once, degraded ones by the device, no made-up reward for the policy', async () => {
  const r = rng(8);
  const L = 4, m = randomMatrix(r, L, 160);
  const costs: CostModel = { alpha: 0.6, lambda: 0.05, offloadCost: 0.3 };
  const cloud = fakeCloud(m, ({ i }) => (i >= 40 ? new CloudError('BAD_GATEWAY', 502, 'down') : 'ok'));
  const inner = createPolicy('splitee', { L, costs }) as SplitEEPolicy;
  const pol = spy(inner);
  let countsBefore: number[] = [];
  const res = await runStream(base(m, costs, {
    policy: pol, cloud, retry: { retries: 2, baseDelayMs: 0 }, breaker: false,
    onSample: (rec) => {
      // The played arm's count moves only when its reward was observed.
      const counts = Array.from(inner.counts());
      if (countsBefore.length) {
        const moved = counts.map((c, k) => c - countsBefore[k]);
        assert.is(moved.reduce((a, b) => a + b, 0), rec.reward === undefined ? 0 : 1, `t=${rec.t}`);
        if (rec.reward !== undefined) assert.is(moved[rec.arm - 1], 1);
      }
      countsBefore = counts;
    },
  }));
  assertEachOnce(res.records, m.n);
  const c = resolveCosts(costs, L);
  let degraded = 0;
  for (const rec of res.records) {
    const o = pol.seen[rec.t];
    assert.is(o.t, rec.t);
    if (!rec.degraded) continue;
    degraded++;
    assert.ok(rec.t >= 40);
    assert.is(rec.offloaded, true);
    assert.is(rec.attempts, 3);
    assert.is(rec.error, 'BAD_GATEWAY');
    assert.is(rec.answerLayer, rec.arm);
    assert.is(rec.prediction, m.pred[rec.t * L + rec.arm - 1]);
    assert.is(rec.cost, c.cum[rec.arm] + c.offloadCost);
    assert.is(rec.reward, undefined);
    assert.is(o.degraded, true);
    assert.is(o.exited, false);
    assert.is(o.confidences[L - 1], undefined, 'C_L must stay unknown');
    assert.is(o.confidences[rec.arm - 1], m.conf[rec.t * L + rec.arm - 1]);
  }
  assert.ok(degraded > 10, `${degraded} degraded`);
  assert.is(res.summary.degraded, degraded);
  assert.is(res.summary.answered, m.n);
});

test('a refused frame (422) is not retried; a fatal 401 / 409 stops the run with a typed error unless told to degrade', async () => {
  const r = rng(9);
  const L = 3, m = randomMatrix(r, L, 20);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 };
  const res = await runStream(base(m, costs, { cloud: fakeCloud(m, () => new CloudError('SHAPE_MISMATCH', 422, 'no')), policy: createPolicy('fixed:1', { L, costs }) }));
  assert.ok(res.records.every((x) => x.degraded && x.attempts === 1 && x.error === 'SHAPE_MISMATCH'));

  for (const [code, status] of [['UNAUTHORIZED', 401], ['DIGEST_MISMATCH', 409]] as const) {
    const cloud = fakeCloud(m, ({ i }) => (i >= 5 ? new CloudError(code, status, 'nope') : 'ok'));
    let err: unknown;
    try { await runStream(base(m, costs, { cloud, policy: createPolicy('fixed:1', { L, costs }) })); } catch (e) { err = e; }
    assert.instance(err, CloudError);
    const ce = err as CloudError;
    assert.is(ce.code, code);
    assert.is(ce.status, status);
    assert.is(ce.fatal, true);
    const partial = ce.partial as { records: SampleRecord[]; stopped: boolean };
    assert.is(partial.records.length, 6); // 5 answered by the cloud, the 6th answered degraded, then the stop
    assert.ok(partial.stopped);
    assert.is(partial.records[5].degraded, true);
    assert.is(cloud.calls.length, 6, 'no retries of a fatal error');

    const res2 = await runStream(base(m, costs, { cloud: fakeCloud(m, ({ i }) => (i >= 5 ? new CloudError(code, status, 'nope') : 'ok')), onFatal: 'degrade', breaker: false, policy: createPolicy('fixed:1', { L, costs }) }));
    assert.is(res2.summary.degraded, m.n - 5);
  }
});

test('circuit breaker: after N consecutive failures offloads degrade without a call, then one probe closes it again', async () => {
  const r = rng(10);
  const L = 3, m = randomMatrix(r, L, 40);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 };
  let clock = 0;
  let down = true;
  const cloud = fakeCloud(m, () => (down ? new CloudError('NETWORK', 0, 'ECONNREFUSED') : 'ok'));
  const res = await runStream(base(m, costs, {
    cloud, policy: createPolicy('fixed:1', { L, costs }), now: () => clock, retry: { retries: 1, baseDelayMs: 0 },
    breaker: { threshold: 3, cooldownMs: 100 },
    onSample: (rec) => { clock += 10; if (rec.t === 20) down = false; },
  }));
  assertEachOnce(res.records, m.n);
  const att = res.records.map((x) => x.attempts);
  // t 0..2 fail with 2 attempts each and open the circuit at clock 20 until 120: t 3..11 skip the cloud; t = 12
  // (clock 120) probes, fails, reopens until 220: t 13..21 skip; t = 22 probes with the cloud back up.
  assert.equal(att.slice(0, 3), [2, 2, 2]);
  assert.ok(att.slice(3, 12).every((a) => a === 0));
  assert.is(att[12], 2);
  assert.ok(att.slice(13, 22).every((a) => a === 0));
  assert.ok(res.records.slice(22).every((x) => x.attempts === 1 && !x.degraded));
  assert.is(res.errors.CIRCUIT_OPEN, 18);
  assert.is(res.errors.NETWORK, 4);
  assert.ok(res.records.filter((x) => x.error === 'CIRCUIT_OPEN').every((x) => x.bytesSent === 0 && x.degraded));
});

test('maxInFlight: the device goes on while offloads are pending; answers out of order, each sample once', async () => {
  const r = rng(11);
  const L = 3, m = randomMatrix(r, L, 60);
  const costs: CostModel = { alpha: 0.7, lambda: 0.1, offloadCost: 0.1 };
  const cloud = fakeCloud(m, async ({ i }) => { await new Promise((res) => setTimeout(res, (i * 7) % 5)); return 'ok' as const; });
  const order: number[] = [];
  const res = await runStream(base(m, costs, { cloud, maxInFlight: 3, policy: createPolicy('random', { L, costs, seed: 4 }), onSample: (x) => { order.push(x.t); } }));
  assertEachOnce(res.records, m.n);
  assert.is(order.length, m.n);
  assert.is(new Set(order).size, m.n);
  assert.ok(cloud.maxInFlight > 1 && cloud.maxInFlight <= 4, `max in flight ${cloud.maxInFlight}`);
  assert.ok(order.some((t, j) => j > 0 && t < order[j - 1]), 'some answers arrived out of order');
  // Same arms as the sequential run (random ignores observations).
  const seq = simulate(m, createPolicy('random', { L, costs, seed: 4 }), costs, { record: true });
  assert.equal(res.records.map((x) => x.arm), Array.from(seq.arms!));
});

test('an activation that cannot be quantized (NaN) is answered by the device, degraded, with nothing sent', async () => {
  const r = rng(18);
  const L = 3, m = randomMatrix(r, L, 8);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 };
  const inner = fakeModel(m);
  // The engine's int8 readback refuses a NaN activation (CodecError NON_FINITE); an f32 readback returns it as is.
  const model: RunnableModel = {
    ...inner,
    async runDevice(input, k, o) {
      const poisoned = (input as Float32Array)[0] === 3;
      const step = await inner.runDevice(input, k, poisoned ? { ...o, readback: 'f32' } : o);
      if (poisoned && step.activation) {
        step.activation.data[4] = NaN;
        if (o.readback === 'int8') encode(step.activation.data, step.activation.shape, 'int8');
      }
      return step;
    },
  };
  const pol = spy(createPolicy('fixed:1', { L, costs }));
  const cloud = fakeCloud(m);
  const res = await runStream(base(m, costs, { model, cloud, policy: pol, dtype: 'int8' }));
  const rec = res.records[3];
  assert.is(rec.degraded, true);
  assert.is(rec.error, 'NON_FINITE');
  assert.is(rec.attempts, 0);
  assert.is(rec.bytesSent, 0);
  assert.is(pol.seen[3].confidences[L - 1], undefined);
  assert.is(cloud.calls.length, m.n - 1);
  assert.ok(cloud.calls.every((c) => c.i !== 3));
});

test('measured costs: calibration and online refresh recover the layer times and the link; a bandwidth drop moves the split', async () => {
  // A fake clock: layer j takes LAYER_MS[j − 1]; an offload takes rtt + bytes·8/(Mbit/s·1000). The link drops at t = 150.
  const LAYER_MS = [2, 3, 4, 1], L = 4;
  const r = rng(21), m = randomMatrix(r, L, 400);
  let clock = 0, t = 0;
  const links = [{ rttMs: 2, mbit: 100 }, { rttMs: 100, mbit: 0.5 }];
  const link = () => links[t >= 150 ? 1 : 0];
  const model: RunnableModel = {
    numLayers: L, digest: DIGEST, classes: Array.from({ length: CLASSES }, (_, c) => `c${c}`),
    async runDevice(input, k, o) {
      const i = (input as Float32Array)[0];
      const confidences: (number | undefined)[] = new Array(L).fill(undefined);
      let exit = exitOf(m, i, k);
      if (o.exits === 'every') {
        for (let j = 1; j <= k; j++) {
          clock += LAYER_MS[j - 1];
          exit = exitOf(m, i, j);
          confidences[j - 1] = exit.confidence;
          if (j < k && o.stopAt?.(j, exit)) return { layer: j, exit, confidences };
        }
      } else {
        for (let j = 1; j <= k; j++) clock += LAYER_MS[j - 1];
        confidences[k - 1] = exit.confidence;
      }
      if (!o.offload(exit)) return { layer: k, exit, confidences };
      // Frames grow with the split layer, so the link's round trip and bandwidth can be told apart.
      const data = new Float32Array(100 * k).fill(0.5);
      data[0] = i;
      return { layer: k, exit, confidences, activation: { shape: [100 * k], data } };
    },
  };
  const cloud: CloudClient = {
    target: 'fake',
    async infer(frame) {
      const f = decodeFrame(frame);
      const l = link();
      clock += l.rttMs + (frame.length * 8) / (l.mbit * 1000);
      const e = exitOf(m, Math.round(decode(f.tensor)[0]), L);
      return { label: e.label, probs: e.probs, confidence: e.confidence, layersRun: L - f.splitLayer, requestId: f.requestId };
    },
  };
  const inner = createPolicy('splitee-discounted', { L, costs: { alpha: 0.6, lambda: 0.25, offloadCost: 0.1 } });
  const pol = spy(inner);
  const res = await runStream({
    model, cloud, policy: pol, dtype: 'f32', now: () => clock, sleep: noSleep,
    samples: Array.from({ length: m.n }, (_, i) => ({ label: m.label[i], input: Float32Array.from([i]) })),
    costs: { kind: 'measured', alpha: 0.6, calibration: 2, smoothing: 0.2 },
    onSample: () => { t++; },
  });
  const meas = res.measured!;
  assert.ok(meas, 'the run reports its measured costs');
  // Exact clock: the layer times come back (to rounding); μ = 1 / 10 ms; λ_k = μ·t_k.
  meas.layerMs.forEach((x, j) => assert.ok(Math.abs(x - LAYER_MS[j]) < 1e-9, `layer ${j + 1}: ${x} ms`));
  assert.is(meas.mu, 0.1);
  meas.lambda.forEach((x, j) => assert.ok(Math.abs(x - 0.1 * LAYER_MS[j]) < 1e-9));
  // The link as fitted at the end has moved to the slow one. Once offloading is dear the policy rarely offloads, so
  // fast-link samples still weigh in the fit (its convergence is tested on the estimator itself).
  const offloadsAfter = res.records.filter((x) => x.t >= 150 && x.offloaded).length;
  assert.ok(offloadsAfter >= 5, `${offloadsAfter} offloads after the drop`);
  assert.ok(meas.rttMs! > 60 && meas.rttMs! < 110, `round trip ${meas.rttMs}`);
  assert.ok(meas.bandwidthMbit! < 1, `bandwidth ${meas.bandwidthMbit}`);
  // The policy was fed the costs in force: cheap offloads before the drop, dear after.
  const before = pol.seen.find((o) => o.t === 100)!.costs!, after = pol.seen[pol.seen.length - 1].costs!;
  assert.ok(Math.abs(before.cum[L] - 1) < 1e-9 && Math.abs(after.cum[L] - 1) < 1e-9);
  assert.ok(before.offloadAt![1] < 0.5 && after.offloadAt![1] > 5, `o_1 ${before.offloadAt![1]} → ${after.offloadAt![1]}`);
  // Records carry costs in reward units; the split moves deeper once offloading became dear.
  const meanArm = (a: number, b: number) => res.records.slice(a, b).reduce((x, rec) => x + rec.arm, 0) / (b - a);
  assert.ok(meanArm(300, 400) > meanArm(50, 150) + 1, `mean split ${meanArm(50, 150)} → ${meanArm(300, 400)}`);
  // Calibration must be ≥ 1 pass.
  await runStream({ ...base(m, { alpha: 0.5, lambda: 0.1, offloadCost: 0.1 }), costs: { kind: 'measured', alpha: 0.5, calibration: 0 } })
    .then(() => assert.unreachable(), (e) => assert.is((e as RunError).code, 'BAD_OPTION'));
});

test('signal: stops taking samples; what started is answered and counted', async () => {
  const r = rng(12);
  const L = 3, m = randomMatrix(r, L, 50);
  const costs: CostModel = { alpha: 0.7, lambda: 0.1, offloadCost: 0.1 };
  const ac = new AbortController();
  const res = await runStream(base(m, costs, { signal: ac.signal, onSample: (x) => { if (x.t === 9) ac.abort(); } }));
  assert.ok(res.stopped);
  assert.is(res.records.length, 10);
  assert.is(res.summary.n, 10);
  assert.is(res.summary.answered, 10);
});

test('bytes: every dtype, frame size = frameBytes(dtype, shape), summed in the summary', async () => {
  const r = rng(13);
  const L = 3, m = randomMatrix(r, L, 12);
  const costs: CostModel = { alpha: 1, lambda: 0.1, offloadCost: 0.1 };
  for (const dtype of DTYPES) {
    // The id in element 0 survives the lossy dtypes only roughly: the fake cloud rounds it (ids ≤ 11, error < 0.5).
    const cloud = fakeCloud(m), model = fakeModel(m);
    const res = await runStream(base(m, costs, { cloud, model, dtype, policy: createPolicy('fixed:2', { L, costs }) }));
    assert.ok(cloud.calls.every((c, j) => c.dtype === dtype && c.i === j));
    // int8 is quantized by the model before readback, and that encoding is what crosses; other dtypes read f32.
    assert.is(model.calls.readbacks, m.n);
    assert.is(model.calls.int8Readbacks, dtype === 'int8' ? m.n : 0, dtype);
    const fb = frameBytes(dtype, [3, 5]);
    assert.ok(res.records.every((x) => x.frameBytes === fb && x.bytesSent === fb));
    assert.is(res.summary.bytesSent, m.n * fb);
  }
});

test('summary: percentiles (nearest rank), accuracy over labelled samples, rates', () => {
  assert.is(percentile([], 50), null);
  assert.is(percentile([5], 99), 5);
  const xs = Array.from({ length: 200 }, (_, i) => i + 1);
  assert.is(percentile(xs, 50), 100);
  assert.is(percentile(xs, 99), 198);
  const rec = (o: Partial<SampleRecord>): SampleRecord => ({
    t: 0, index: 0, arm: 1, answerLayer: 1, exited: true, offloaded: false, degraded: false, prediction: 0, confidence: 1,
    cost: 1, frameBytes: 0, bytesSent: 0, attempts: 0, deviceMs: 1, confidences: [], ...o,
  });
  const s = summarizeRecords([
    rec({ correct: true, cost: 0.5, deviceMs: 3 }),
    rec({ correct: false, offloaded: true, exited: false, cloudMs: 10, bytesSent: 100, cost: 1, deviceMs: 1 }),
    rec({ offloaded: true, exited: false, degraded: true, cloudMs: 999, bytesSent: 300, cost: 1.5, deviceMs: 2 }),
    rec({ correct: true, offloaded: true, exited: false, cloudMs: 20, bytesSent: 100, cost: 1, deviceMs: 4 }),
  ]);
  assert.equal(s, {
    n: 4, answered: 4, degraded: 1, accuracy: 2 / 3, cost: 1, offloadRate: 0.75, bytesSent: 500,
    deviceMsP50: 2, deviceMsP99: 4, cloudMsP50: 10, cloudMsP99: 20,
  });
});

test('bad options and a policy of another depth are typed errors', async () => {
  const m = randomMatrix(rng(14), 3, 4);
  const costs: CostModel = { alpha: 0.5, lambda: 0.1, offloadCost: 0.1 };
  for (const over of [{ retry: { retries: -1 } }, { retry: { timeoutMs: 0 } }, { maxInFlight: 1.5 }, { breaker: { threshold: 0 } }] as const) {
    try { await runStream(base(m, costs, over as Partial<RunStreamOptions<Float32Array>>)); assert.unreachable(JSON.stringify(over)); } catch (e) {
      assert.is((e as { code?: string }).code, 'BAD_OPTION');
    }
  }
  try { await runStream(base(m, costs, { policy: createPolicy('splitee', { L: 4, costs }) })); assert.unreachable(); } catch (e) {
    assert.is((e as { code?: string }).code, 'BAD_DEPTH');
  }
});

// ---------------------------------------------------------------------------------------------- clients

test('HttpCloudClient maps statuses to typed errors and checks the answer (fake fetch, no network)', async () => {
  const rid = newRequestId();
  const frame = encodeFrame({ digest: DIGEST, splitLayer: 1, requestId: rid, tensor: encode(Float32Array.from([1, 2, 3]), [3], 'int8') });
  const reply = (status: number, body: string, headers: Record<string, string> = {}) =>
    (async () => new Response(body, { status, headers })) as unknown as typeof fetch;
  const good = encodeResponse({ label: 1, probs: [0.25, 0.75], confidence: 0.75, layersRun: 2, requestId: rid });
  let seen: { url: string; init: RequestInit } | undefined;
  const ok = new HttpCloudClient('http://cloud.test:1234/', {
    token: 'tok', fetch: (async (url: string, init: RequestInit) => { seen = { url, init }; return new Response(good, { status: 200 }); }) as unknown as typeof fetch,
  });
  const a = await ok.infer(frame, { numClasses: 2 });
  assert.is(a.label, 1);
  assert.is(a.confidence, 0.75);
  assert.is(seen!.url, 'http://cloud.test:1234/v1/infer');
  assert.is((seen!.init.headers as Record<string, string>).Authorization, 'Bearer tok');
  assert.is(seen!.init.body, frame);

  const cases: [typeof fetch, string, number, boolean, boolean, number?][] = [
    [reply(401, '{"error":"UNAUTHORIZED","message":"wrong token"}'), 'UNAUTHORIZED', 401, false, true],
    [reply(409, '{"error":"DIGEST_MISMATCH","message":"x"}'), 'DIGEST_MISMATCH', 409, false, true],
    [reply(503, '{"error":"BUSY","message":"x"}', { 'Retry-After': '2' }), 'BUSY', 503, true, false, 2000],
    [reply(504, '{"error":"TIMEOUT"}'), 'TIMEOUT', 504, true, false],
    [reply(400, '{"error":"BAD_MAGIC","message":"x"}'), 'BAD_MAGIC', 400, false, false],
    [reply(502, '<html>bad gateway</html>'), 'HTTP_502', 502, true, false],
    [reply(200, good.replace(rid, 'f'.repeat(32))), 'BAD_RESPONSE', 200, false, false],
    [reply(200, 'not json'), 'BAD_RESPONSE', 200, false, false],
    [(async () => { throw new TypeError('fetch failed'); }) as unknown as typeof fetch, 'NETWORK', 0, true, false],
  ];
  for (const [f, code, status, retryable, fatal, retryAfterMs] of cases) {
    try { await new HttpCloudClient('http://cloud.test', { fetch: f }).infer(frame, { numClasses: 2 }); assert.unreachable(code); } catch (e) {
      assert.instance(e, CloudError, code);
      const ce = e as CloudError;
      assert.is(ce.code, code);
      assert.is(ce.status, status, code);
      assert.is(ce.retryable, retryable, `${code} retryable`);
      assert.is(ce.fatal, fatal, `${code} fatal`);
      assert.is(ce.retryAfterMs, retryAfterMs);
    }
  }
  // A deadline aborts the fetch and reads TIMEOUT, retryable.
  const slow = (async (_u: string, init: RequestInit) => new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))))) as unknown as typeof fetch;
  try { await new HttpCloudClient('http://cloud.test', { fetch: slow }).infer(frame, { timeoutMs: 20 }); assert.unreachable(); } catch (e) {
    assert.is((e as CloudError).code, 'TIMEOUT');
    assert.is((e as CloudError).retryable, true);
  }
  assert.throws(() => new HttpCloudClient('ftp://x'), (e: CloudError) => e.code === 'BAD_URL');
});

// -------------------------------------------------------------------------------------- the real engine

test('real engine + LocalCloudClient: f32 transport reproduces every exit exactly; int8 stays close; refusals are typed', async () => {
  const bytes = tinyImageModel();
  const model = await loadModelBytes(bytes);
  const r = rng(15);
  const inputs = Array.from({ length: 16 }, () => randn(r, 3 * 13 * 11));
  const rows: ExitResult[][] = [];
  for (const x of inputs) rows.push(await model.exits(x));
  const L = model.numLayers;
  const costs: CostModel = { alpha: 1, lambda: 0.25, offloadCost: 0.25 }; // α = 1: every split below L offloads
  for (let k = 1; k < L; k++) {
    for (const dtype of ['f32', 'int8'] as const) {
      const res = await runStream({
        model, samples: inputs.map((input, i) => ({ input, label: i % 5 })), policy: createPolicy(`fixed:${k}`, { L, costs }), costs,
        cloud: new LocalCloudClient(model), dtype,
      });
      res.records.forEach((rec, i) => {
        const last = rows[i][L - 1];
        assert.is(rec.offloaded, true);
        assert.is(rec.confidences[k - 1], rows[i][k - 1].confidence, 'device exit k is the engine\'s');
        if (dtype === 'f32') {
          assert.is(rec.confidence, last.confidence, `k=${k} sample ${i}: f32 transport is exact`);
          assert.is(rec.prediction, last.label);
        } else {
          assert.ok(Math.abs(rec.confidence - last.confidence) < 0.05, `k=${k} int8 C_L ${rec.confidence} vs ${last.confidence}`);
        }
        assert.is(rec.frameBytes, frameBytes(dtype, activationShapeAfter(model, k)));
      });
    }
  }
  // Refusals: another model's digest, a split out of range, garbage.
  const local = new LocalCloudClient(model);
  const t = encode(randn(r, 8 * 13 * 11), [8, 13, 11], 'int8');
  const expect = async (frame: Uint8Array, code: string, status: number) => {
    try { await local.infer(frame); assert.unreachable(code); } catch (e) {
      assert.is((e as CloudError).code, code);
      assert.is((e as CloudError).status, status);
    }
  };
  await expect(encodeFrame({ digest: new Uint8Array(32), splitLayer: 1, tensor: t }), 'DIGEST_MISMATCH', 409);
  await expect(encodeFrame({ digest: model.digest, splitLayer: L, tensor: t }), 'BAD_SPLIT', 422);
  await expect(encodeFrame({ digest: model.digest, splitLayer: 3, tensor: t }), 'SHAPE_MISMATCH', 422);
  await expect(new Uint8Array([1, 2, 3, 4, 5]), 'BAD_MAGIC', 400);
  model.dispose();
});

/** Shape of the output of layer k of a loaded image model (through the CloudModel adapter). */
function activationShapeAfter(model: Awaited<ReturnType<typeof loadModelBytes>>, k: number): number[] {
  return new LocalCloudClient(model).model.inputShapeAfter(k)!;
}

test('real token model: variable sequence lengths cross at every split; side exits from the engine equal exits()', async () => {
  const model = await loadModelBytes(tinyTextModel());
  const r = rng(16);
  const L = model.numLayers;
  const inputs = Array.from({ length: 18 }, (_, i) => Int32Array.from({ length: 1 + (i % 9) }, () => r.int(0, 50)));
  const rows: ExitResult[][] = [];
  for (const x of inputs) rows.push(await model.exits(x));
  const costs: CostModel = { alpha: 0.5, lambda: 0.2, offloadCost: 0.1 };
  const pol = spy(createPolicy('splitee-su', { L, costs }));
  const res = await runStream({ model, samples: inputs.map((input) => ({ input })), policy: pol, costs, cloud: new LocalCloudClient(model), dtype: 'int8c' });
  assertEachOnce(res.records, inputs.length);
  assert.is(res.summary.accuracy, null, 'no labels, no accuracy');
  for (const o of pol.seen) {
    for (let j = 1; j <= o.arm; j++) assert.is(o.confidences[j - 1], rows[o.t][j - 1].confidence, `t=${o.t} C_${j}`);
  }
  for (const rec of res.records.filter((x) => x.offloaded)) {
    const T = inputs[rec.t].length;
    assert.is(rec.frameBytes, frameBytes('int8c', [T, 12]));
    assert.is(rec.answerLayer, L);
  }
  assert.ok(res.records.some((x) => x.offloaded), 'some samples offloaded');
  model.dispose();
});

// -------------------------------------------------------------------------------------------------- CRC

test('crc32 (slice-by-8) equals zlib.crc32 / the bitwise definition on random lengths, offsets and chained seeds', () => {
  const r = rng(17);
  const bitwise = (b: Uint8Array, seed = 0) => {
    let c = ~seed >>> 0;
    for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1; }
    return ~c >>> 0;
  };
  const z = (zlib as { crc32?: (b: Uint8Array, s?: number) => number }).crc32;
  const buf = new Uint8Array(4099).map(() => r.int(0, 256));
  for (let trial = 0; trial < 300; trial++) {
    const off = r.int(0, 9), len = trial < 40 ? trial : r.int(0, buf.length - off);
    const v = buf.subarray(off, off + len);
    const seed = trial % 3 === 0 ? 0 : (r.next() * 2 ** 32) >>> 0;
    const want = z ? z(v, seed) : bitwise(v, seed);
    assert.is(crc32(v, seed), want, `len ${len} off ${off}`);
    if (trial % 50 === 0) assert.is(crc32(v, seed), bitwise(v, seed));
  }
  // Chaining: crc(a ‖ b) = crc(b, crc(a)).
  const a = buf.subarray(0, 1001), b = buf.subarray(1001, 3000);
  assert.is(crc32(b, crc32(a)), crc32(buf.subarray(0, 3000)));
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test.run();
