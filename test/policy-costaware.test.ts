// splitee-costaware: its confidence statistics are the unbiased ones, recomputed here from the recorded stream; with
// constant costs its means are SplitEE-SU's; a change of the costs re-prices every arm at once; across a bandwidth
// drop its per-phase latency is within 10 % of the best fixed split of each phase — in the simulator and through the
// live runner (measured costs, fake clock) — where plain SplitEE is not; simulator and runner take the same decisions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModelBytes, type ExitResult } from '../src/index.js';
import {
  CostAwarePolicy, CostEstimator, DEFAULT_COSTAWARE_C, PolicyError, SplitEESUPolicy, costsFromMs, createPolicy, emptyDecision, offloadMs,
  resolveCosts, settle, walkDevice, type CostModel, type ResolvedCosts,
} from '../src/policy/index.js';
import { matrixFromSamples, shuffledOrder, simulate, type ConfidenceMatrix } from '../src/sim/index.js';
import { LocalCloudClient, runStream, type CloudClient, type RunnableModel, type SampleRecord } from '../src/device/index.js';
import { decodeFrame } from '../src/transport/frame.js';
import { decode } from '../src/transport/codec.js';
import { runDrift } from '../bench/reproduce/drift.js';
import { tinyImageModel } from './fixtures/tiny-models.js';
import { randn, rng, type Rng } from './util.js';

const CLASSES = 4;

/**
 * Samples of graded difficulty: an easy sample is confident early, a hard one only late; the last exit is the most
 * confident, and an exit is right with a probability that grows with its confidence.
 */
function driftMatrix(r: Rng, L: number, n: number): ConfidenceMatrix {
  return matrixFromSamples(Array.from({ length: n }, () => {
    const easy = r.next();
    const confidences = Array.from({ length: L }, (_, j) => {
      const c = easy * (0.45 + (0.55 * (j + 1)) / L) + (j === L - 1 ? 0.25 : 0) + r.uniform(-0.1, 0.1);
      return Math.min(1, Math.max(1 / CLASSES, c));
    });
    const label = r.int(0, CLASSES);
    return { confidences, predictions: confidences.map((c) => (r.next() < 0.3 + 0.7 * c ? label : r.int(0, CLASSES))), label };
  }), { numClasses: CLASSES });
}

// The link drops from 100 Mbit/s and 2 ms to 1 Mbit/s and 120 ms; the device runs the whole network in 20 ms.
const FAST = { rttMs: 2, bandwidthMbit: 100 }, SLOW = { rttMs: 120, bandwidthMbit: 1 };
const ALPHA = 0.75;

function msCosts(L: number, bytes: readonly number[], link: { rttMs: number; bandwidthMbit: number }): ResolvedCosts {
  return costsFromMs({ alpha: ALPHA, layerMs: new Array(L).fill(20 / L), offloadMs: bytes.map((b) => offloadMs(b, link)), mu: 1 / 20 });
}

test('simulator, bandwidth drop: per phase within 10 % of the best fixed split, where SplitEE is not; accuracy kept', () => {
  const L = 5, n = 4000, mid = n / 2;
  const m = driftMatrix(rng(7), L, n);
  const bytes = [6000, 3000, 3000, 1500];
  const before = msCosts(L, bytes, FAST), after = msCosts(L, bytes, SLOW);
  const costsAt = (t: number) => (t < mid ? before : after);
  const order = shuffledOrder(n, 3);
  const phases = [[0, mid], [mid, n]] as const;
  const run = (name: string) => {
    const res = simulate(m, createPolicy(name, { L, costs: before }), before, { order, record: true, costsAt });
    return phases.map(([a, b]) => {
      let cost = 0, reward = 0, ok = 0, split = 0;
      for (let t = a; t < b; t++) {
        cost += res.stepCosts![t]; reward += res.rewards![t]; split += res.arms![t];
        const i = res.samples![t];
        if (m.pred[i * L + res.answerLayers![t] - 1] === m.label[i]) ok++;
      }
      return { ms: (20 * cost) / (b - a), reward, accuracy: ok / (b - a), split: split / (b - a) };
    });
  };
  const fixed = Array.from({ length: L }, (_, k) => run(`fixed:${k + 1}`));
  // The best fixed split of each phase in hindsight: the largest reward over that phase.
  const best = [0, 1].map((p) => fixed.reduce((bi, f, k) => (f[p].reward > fixed[bi][p].reward ? k : bi), 0));
  assert.equal(best.map((k) => k + 1), [1, L], 'offload at 1 on the fast link, everything on the device on the slow one');
  const gap = (x: ReturnType<typeof run>) => [0, 1].map((p) => x[p].ms / fixed[best[p]][p].ms - 1);
  const ours = run('splitee-costaware'), plain = run('splitee');
  const g = gap(ours), gp = gap(plain);
  assert.ok(g[0] < 0.1 && g[1] < 0.1, `splitee-costaware: +${(100 * g[0]).toFixed(1)} % / +${(100 * g[1]).toFixed(1)} % over the best fixed split`);
  assert.ok(Math.max(...gp) > 0.1, `splitee: +${(100 * gp[0]).toFixed(1)} % / +${(100 * gp[1]).toFixed(1)} %`);
  // Accuracy within 1 point of the last exit's in each phase.
  for (const p of [0, 1]) assert.ok(fixed[L - 1][p].accuracy - ours[p].accuracy < 0.01, `phase ${p}: accuracy ${ours[p].accuracy} vs ${fixed[L - 1][p].accuracy}`);
  // The split moves deeper within a few hundred samples of the drop.
  const res = simulate(m, createPolicy('splitee-costaware', { L, costs: before }), before, { order, record: true, costsAt });
  let deep = 0;
  for (let t = mid + 10; t < mid + 300; t++) if (res.arms![t] === L) deep++;
  assert.ok(deep / 290 > 0.9, `${deep} of 290 samples at L right after the drop`);
});

test('the reproduction\'s bandwidth drop: splitee-costaware in the table and its sweeps, consistent with each other', () => {
  const L = 5, m = driftMatrix(rng(61), L, 1200);
  const d = runDrift(m, ALPHA, [6000, 3000, 3000, 1500], { repeats: 2, seed: 3 });
  assert.equal(d.phases.map((p) => p.bestArm), [1, L]);
  const row = d.rows.find((r) => r.policy === 'splitee-costaware')!;
  assert.ok(row, 'a row for splitee-costaware');
  row.phases.forEach((p, i) => assert.ok(p.latencyMs < 1.1 * d.phases[i].bestLatencyMs, `phase ${i}: ${p.latencyMs} vs ${d.phases[i].bestLatencyMs} ms`));
  assert.equal(d.costaware.map((x) => x.c), [1, 0.5, 0.25, 0.1, 0]);
  assert.equal(d.probes.map((x) => x.budget), [0, 0.01, 0.02, 0.05]);
  // The default c and ε are the table's row; more exploration costs more regret with constant costs here.
  const atDefault = d.costaware.find((x) => x.c === DEFAULT_COSTAWARE_C)!;
  assert.is(atDefault.regret, row.regret);
  assert.is(d.probes.find((x) => x.budget === 0.02)!.regret, row.regret);
  assert.ok(d.costaware[0].constantRegret > atDefault.constantRegret, `${d.costaware[0].constantRegret} vs ${atDefault.constantRegret}`);
  // The trace gives every sample's costs: probes only add latency after the drop.
  assert.ok(d.probes[3].latencyMs[1] > d.probes[0].latencyMs[1]);
});

test('statistics: the unbiased ones, recomputed from the recorded stream; means priced with the latest costs', () => {
  const L = 4, m = driftMatrix(rng(11), L, 900);
  // Costs that keep several arms in play, so that every kind of update happens.
  const costs = resolveCosts({ alpha: 0.6, lambda: 0.12, offloadCost: 0.15 }, L);
  const pol = new CostAwarePolicy(L, costs, { c: 1 });
  const res = simulate(m, pol, costs, { record: true, order: shuffledOrder(m.n, 5) });
  const armsPlayed = new Set(res.arms);
  assert.ok(armsPlayed.size >= 3, `arms played: ${[...armsPlayed]}`);
  const aN = new Float64Array(L), hiN = new Float64Array(L), hiS = new Float64Array(L), mN = new Float64Array(L), mS = new Float64Array(L);
  let lastN = 0, lastS = 0;
  for (let t = 0; t < m.n; t++) {
    const k = res.arms![t], i = res.samples![t], C = (j: number) => m.conf[i * L + j - 1];
    if (k === L) { lastN++; lastS += C(L); }
    for (let j = 1; j <= Math.min(k, L - 1); j++) {
      aN[j - 1]++;
      if (C(j) >= 0.6) { hiN[j - 1]++; hiS[j - 1] += C(j); }
      // C_L is known for every sample with C_j < α only when the sample was played at j (offloaded) or at L.
      else if (j === k || k === L) { mN[j - 1]++; mS[j - 1] += C(L); }
    }
  }
  const s = pol.confidenceStats();
  for (let j = 0; j < L - 1; j++) {
    assert.ok(Math.abs(s.p[j] - hiN[j] / aN[j]) < 1e-12, `p_${j + 1}`);
    assert.ok(Math.abs(s.h[j] - hiS[j] / aN[j]) < 1e-12, `h_${j + 1}`);
    assert.ok(mN[j] === 0 ? Number.isNaN(s.m[j]) : Math.abs(s.m[j] - mS[j] / mN[j]) < 1e-12, `m_${j + 1}`);
  }
  assert.ok(Math.abs(s.lastExitMean - lastS / lastN) < 1e-12);
  assert.equal(Array.from(pol.counts()), [...Array.from(aN.subarray(0, L - 1)), lastN]);
  // Means: h + q·m − γ − q·o, under whatever costs came last.
  const dear = resolveCosts({ alpha: 0.6, lambda: 0.2, offloadCost: 3 }, L);
  pol.observe({ t: m.n, arm: 1, exited: true, confidences: [0.99, undefined, undefined, undefined], costs: dear });
  const s2 = pol.confidenceStats(), mean = pol.means();
  for (let k = 1; k < L; k++) {
    const q = 1 - s2.p[k - 1];
    const want = s2.h[k - 1] + q * (Number.isNaN(s2.m[k - 1]) ? 1 : s2.m[k - 1]) - dear.cum[k] - q * dear.offloadCost;
    assert.ok(Math.abs(mean[k - 1] - want) < 1e-12, `arm ${k}: ${mean[k - 1]} vs ${want}`);
  }
  assert.ok(Math.abs(mean[L - 1] - (s2.lastExitMean - dear.cum[L])) < 1e-12);
  assert.is(pol.costsInForce(), dear);
});

test('censoring by hand: plays between j and L do not feed m_j; a failed cloud call feeds only p and h', () => {
  const L = 3, costs = resolveCosts({ alpha: 0.7, lambda: 0.1, offloadCost: 0.2 }, L);
  const pol = new CostAwarePolicy(L, costs);
  // Arm 2, offloaded (C_2 = .6 < α), cloud C_L = .9: m_2 learns .9; m_1 does not (its C_1 = .5 < α, but a play at 2
  // shows C_L only because C_2 was low too).
  pol.observe({ t: 0, arm: 2, exited: false, confidences: [0.5, 0.6, 0.9] });
  // Arm L: every exit; C_1 = .8 confident, C_2 = .4 not → m_2 learns .95; arm L learns .95.
  pol.observe({ t: 1, arm: 3, exited: true, confidences: [0.8, 0.4, 0.95] });
  // Arm 1, degraded: C_1 = .2 is counted, C_L is unknown.
  pol.observe({ t: 2, arm: 1, exited: false, degraded: true, confidences: [0.2, undefined, undefined] });
  // Arm 1, offloaded, answered: m_1 learns .7.
  pol.observe({ t: 3, arm: 1, exited: false, confidences: [0.3, undefined, 0.7] });
  const s = pol.confidenceStats();
  assert.equal(Array.from(s.p), [1 / 4, 0]);
  assert.equal(Array.from(s.h), [0.8 / 4, 0]);
  assert.equal(Array.from(s.m), [0.7, (0.9 + 0.95) / 2]);
  assert.is(s.lastExitMean, 0.95);
  assert.equal(Array.from(pol.counts()), [4, 2, 1]);
  // Mean of arm 1 = h + q·m − γ_1 − q·o with q = 3/4.
  assert.ok(Math.abs(pol.means()[0] - (0.2 + 0.75 * 0.7 - 0.1 - 0.75 * 0.2)) < 1e-12);
});

test('constant costs: the same means as SplitEE-SU on the same observations; the first sample plays L', () => {
  const L = 5, m = driftMatrix(rng(13), L, 600), r = rng(14);
  const costs = resolveCosts({ alpha: 0.65, lambda: 0.1, offloadCost: 0.3 }, L);
  const ours = new CostAwarePolicy(L, costs), su = new SplitEESUPolicy(L, costs);
  assert.is(ours.chooseArm(0), L);
  const seen: (number | undefined)[] = new Array(L).fill(undefined), d = emptyDecision(L);
  for (let t = 0; t < m.n; t++) {
    // Arms drawn at random (arm L first), so that every statistic gets data from plays it did not choose.
    const k = t === 0 ? L : r.int(1, L + 1), base = t * L;
    const layer = walkDevice('split', 'every', k, costs.alpha, (j) => m.conf[base + j - 1], seen);
    const off = k < L && m.conf[base + k - 1] < costs.alpha;
    settle(costs, t, k, layer, seen, off ? (r.next() < 0.05 ? null : m.conf[base + L - 1]) : undefined, d);
    ours.observe(d.observation);
    su.observe(d.observation);
  }
  const a = ours.means(), b = su.means();
  for (let k = 0; k < L; k++) assert.ok(Math.abs(a[k] - b[k]) < 1e-12, `arm ${k + 1}: ${a[k]} vs ${b[k]}`);
  assert.equal(Array.from(ours.counts()), Array.from(su.counts()));
});

test('options and errors: default c, typed errors, registry', () => {
  const L = 3, costs: CostModel = { alpha: 0.5, lambda: 0.1, offloadCost: 0.1 };
  const p = createPolicy('splitee-costaware', { L, costs }) as CostAwarePolicy;
  assert.instance(p, CostAwarePolicy);
  assert.is(p.c, DEFAULT_COSTAWARE_C);
  assert.is(p.sideExits, true);
  assert.is((createPolicy('splitee-costaware', { L, costs, c: 2 }) as CostAwarePolicy).c, 2);
  for (const c of [-1, NaN, Infinity]) {
    assert.throws(() => createPolicy('splitee-costaware', { L, costs, c }), (e: PolicyError) => e instanceof PolicyError && e.code === 'BAD_OPTION');
  }
  assert.throws(() => p.chooseArm(-1), (e: PolicyError) => e.code === 'BAD_STEP');
  assert.throws(() => p.observe({ t: 0, arm: 4, exited: true, confidences: [0.1, 0.2, 0.3] }), (e: PolicyError) => e.code === 'BAD_OBSERVATION');
  const other = resolveCosts(costs, 4);
  assert.throws(() => p.observe({ t: 0, arm: 1, exited: true, confidences: [0.9, undefined, undefined], costs: other }), (e: PolicyError) => e.code === 'BAD_COSTS');
});

test('CostEstimator: a faster link at once, a slower one after two slow offloads in a row, a single stall smoothed', () => {
  const r = rng(51);
  const fresh = () => { const e = new CostEstimator(4, { alpha: 0.5, smoothing: 0.1 }); e.observeLayers([5, 5, 5, 5]); return e; };
  const at = (link: { rttMs: number; bandwidthMbit: number }, bytes: number) => offloadMs(bytes, link);
  const feed = (e: CostEstimator, link: { rttMs: number; bandwidthMbit: number }, n: number) => {
    for (let i = 0; i < n; i++) { const bytes = r.int(1000, 20_000); e.observeOffload(1 + (i % 3), bytes, at(link, bytes)); }
  };
  // Slow link, then one fast offload: it cannot be noise; the fit restarts from it (one size: all round trip).
  const a = fresh();
  feed(a, SLOW, 30);
  assert.ok(Math.abs(a.link()!.rttMs - SLOW.rttMs) < 1e-6 && Math.abs(a.link()!.bandwidthMbit - SLOW.bandwidthMbit) < 1e-6);
  a.observeOffload(1, 8000, at(FAST, 8000));
  assert.equal(a.link(), { rttMs: at(FAST, 8000), bandwidthMbit: Infinity });
  // Fast link, one stall of 60 ms: smoothed (weight 0.1), not taken as a slower link.
  const b = fresh();
  feed(b, FAST, 30);
  const before = at(b.link()!, 8000);
  b.observeOffload(1, 8000, 60);
  const after = at(b.link()!, 8000);
  assert.ok(after > before + 1 && after < 12, `one stall: ${before} → ${after} ms`);
  // Normal offloads after it: the first, 3 times faster than the inflated prediction, restarts the fit.
  b.observeOffload(2, 4000, at(FAST, 4000));
  assert.equal(b.link(), { rttMs: at(FAST, 4000), bandwidthMbit: Infinity });
  feed(b, FAST, 20);
  // Then two slow ones in a row: the fit restarts from those two (two sizes: exact).
  b.observeOffload(1, 8000, at(SLOW, 8000));
  assert.ok(b.link()!.rttMs < 20, 'one slow offload is not yet a slower link');
  b.observeOffload(3, 2000, at(SLOW, 2000));
  const l = b.link()!;
  assert.ok(Math.abs(l.rttMs - SLOW.rttMs) < 1e-6 && Math.abs(l.bandwidthMbit - SLOW.bandwidthMbit) < 1e-6, `${l.rttMs} ms, ${l.bandwidthMbit} Mbit/s`);
  // Jumps below a tenth of the whole network's device time (2 ms here) change no decision: smoothed.
  const c = fresh();
  for (let i = 0; i < 20; i++) c.observeOffload(1, 1000, 0.5);
  c.observeOffload(1, 1000, 1.9);
  c.observeOffload(1, 1000, 1.9);
  const m = c.link()!.rttMs;
  assert.ok(m > 0.5 && m < 1, `sub-threshold jumps smoothed: ${m} ms`);
});

// ------------------------------------------------------------------------------ the live runner on a fake clock

/**
 * A model whose exits read the matrix (input = [i]) and a cloud on a link, both on one fake clock: layer j takes
 * 20/L ms, an offload takes the link's round trip plus its frame over the bandwidth. Frames shrink with depth.
 */
function clockedWorld(m: ConfidenceMatrix) {
  const L = m.L, world = { clock: 0, link: FAST };
  const exitOf = (i: number, j: number): ExitResult => {
    const label = m.pred[i * L + j - 1], confidence = m.conf[i * L + j - 1];
    const probs = new Float32Array(CLASSES).fill((1 - confidence) / (CLASSES - 1));
    probs[label] = confidence;
    return { probs, confidence, label };
  };
  const floats = [1500, 750, 750, 375];
  const model: RunnableModel = {
    numLayers: L, digest: new Uint8Array(32).fill(3), classes: Array.from({ length: CLASSES }, (_, c) => `c${c}`),
    async runDevice(input, k, o) {
      const i = (input as Float32Array)[0];
      const confidences: (number | undefined)[] = new Array(L).fill(undefined);
      let exit = exitOf(i, k);
      for (let j = 1; j <= k; j++) {
        world.clock += 20 / L;
        if (o.exits !== 'every') continue;
        exit = exitOf(i, j);
        confidences[j - 1] = exit.confidence;
        if (o.stopAt?.(j, exit) && j < k) return { layer: j, exit, confidences };
      }
      confidences[k - 1] = exit.confidence;
      if (!o.offload(exit)) return { layer: k, exit, confidences };
      const data = new Float32Array(floats[k - 1]).fill(0.25);
      data[0] = i;
      return { layer: k, exit, confidences, activation: { shape: [data.length], data } };
    },
  };
  const cloud: CloudClient = {
    target: 'fake',
    async infer(frame) {
      const f = decodeFrame(frame);
      world.clock += offloadMs(frame.length, world.link);
      const e = exitOf(Math.round(decode(f.tensor)[0]), L);
      return { label: e.label, probs: e.probs, confidence: e.confidence, layersRun: L - f.splitLayer, requestId: f.requestId };
    },
  };
  return { world, model, cloud };
}

test('live runner, measured costs on a fake clock: per phase within 10 % of the best fixed split, where SplitEE is not', async () => {
  const L = 5, n = 1600, mid = n / 2;
  const m = driftMatrix(rng(21), L, n);
  const latency = async (name: string) => {
    const { world, model, cloud } = clockedWorld(m);
    const res = await runStream({
      model, cloud, policy: createPolicy(name, { L, costs: { alpha: ALPHA, lambda: 1 / L, offloadCost: 0.25 } }), dtype: 'f32',
      now: () => world.clock, samples: Array.from({ length: n }, (_, i) => ({ label: m.label[i], input: Float32Array.from([i]) })),
      costs: { kind: 'measured', alpha: ALPHA },
      // The link drops as the sample before the phase is answered, as `splitee demo --network` does.
      onSample: (rec) => { if (rec.t === mid - 1) world.link = SLOW; },
    });
    const ms = (r: SampleRecord) => r.deviceMs + (r.cloudMs ?? 0);
    return [[0, mid], [mid, n]].map(([a, b]) => res.records.slice(a, b).reduce((s, r) => s + ms(r), 0) / (b - a));
  };
  const fixed: number[][] = [];
  for (let k = 1; k <= L; k++) fixed.push(await latency(`fixed:${k}`));
  const best = [0, 1].map((p) => Math.min(...fixed.map((f) => f[p])));
  assert.ok(fixed[0][0] === best[0] && fixed[L - 1][1] === best[1], `fixed latencies ${JSON.stringify(fixed)}`);
  const ours = await latency('splitee-costaware'), plain = await latency('splitee');
  const g = ours.map((x, p) => x / best[p] - 1), gp = plain.map((x, p) => x / best[p] - 1);
  assert.ok(g[0] < 0.1 && g[1] < 0.1, `splitee-costaware: +${(100 * g[0]).toFixed(1)} % / +${(100 * g[1]).toFixed(1)} %`);
  assert.ok(Math.max(...gp) > 0.1, `splitee: +${(100 * gp[0]).toFixed(1)} % / +${(100 * gp[1]).toFixed(1)} %`);
});

test('link probes: none with constant costs; within budget on a slow link; a link that recovers is found again', async () => {
  const L = 5, n = 2400;
  const m = driftMatrix(rng(41), L, n);
  // Constant costs on which everything stays on the device: nothing to refresh, no probe.
  const dear = resolveCosts({ alpha: ALPHA, lambda: 1 / L, offloadCost: 5 }, L);
  const still = new CostAwarePolicy(L, dear);
  const r0 = simulate(m, still, dear, { record: true });
  assert.is(still.probes, 0);
  assert.ok(r0.arms!.slice(100).every((k) => k === L), 'everything on the device');
  // Live, fake clock: fast, slow from 400 on, fast again from 1400 on. Offloads alone measure the link, so without
  // probes nothing shows that it recovered; with them the policy is back to offloading within a few hundred samples.
  const arms = async (probeBudget: number) => {
    const { world, model, cloud } = clockedWorld(m);
    const policy = new CostAwarePolicy(L, { alpha: ALPHA, lambda: 1 / L, offloadCost: 0.25 }, { probeBudget });
    const res = await runStream({
      model, cloud, policy, dtype: 'f32', now: () => world.clock,
      samples: Array.from({ length: n }, (_, i) => ({ label: m.label[i], input: Float32Array.from([i]) })),
      costs: { kind: 'measured', alpha: ALPHA },
      onSample: (rec) => { if (rec.t === 399) world.link = SLOW; if (rec.t === 1399) world.link = FAST; },
    });
    return { arms: res.records.map((r) => r.arm), probes: policy.probes, latency: res.records.map((r) => r.deviceMs + (r.cloudMs ?? 0)) };
  };
  const share1 = (a: number[], from: number, to: number) => a.slice(from, to).filter((k) => k === 1).length / (to - from);
  const on = await arms(0.02), off = await arms(0);
  assert.ok(share1(on.arms, 2000, n) > 0.9, `with probes, arm 1 after the recovery: ${share1(on.arms, 2000, n)}`);
  assert.ok(share1(off.arms, 2000, n) < 0.1, `without probes the policy cannot know: ${share1(off.arms, 2000, n)}`);
  // In the slow phase the probes cost about ε of the whole network (20 ms) per sample, or less.
  const slowMs = (x: typeof on) => x.latency.slice(500, 1400).reduce((a, b) => a + b, 0) / 900;
  assert.ok(on.probes > 0 && slowMs(on) - slowMs(off) < 0.02 * 20 * 1.5, `probes ${on.probes}: ${slowMs(on)} ms vs ${slowMs(off)} ms without`);
});

test('simulator and live runner (real engine, LocalCloudClient): the same arm, answer, cost and reward per sample', async () => {
  const model = await loadModelBytes(tinyImageModel(3));
  try {
    const r = rng(31);
    const inputs = Array.from({ length: 60 }, () => randn(r, 3 * 13 * 11, 1.5));
    const rows = [];
    for (const x of inputs) {
      const ex = await model.exits(x);
      rows.push({ confidences: ex.map((e) => e.confidence), predictions: ex.map((e) => e.label), label: r.int(0, model.classes.length) });
    }
    const m = matrixFromSamples(rows, { numClasses: model.classes.length });
    const all = Array.from(m.conf).sort((a, b) => a - b);
    const costs: CostModel = { alpha: all[Math.floor(all.length / 2)], lambda: 0.1, offloadCost: 0.15 };
    const L = m.L;
    const sim = simulate(m, createPolicy('splitee-costaware', { L, costs }), costs, { record: true });
    const res = await runStream({
      model, samples: inputs.map((x, i) => ({ input: x, label: m.label[i] })), policy: createPolicy('splitee-costaware', { L, costs }),
      costs, cloud: new LocalCloudClient(model), dtype: 'f32',
    });
    let offloads = 0;
    for (const rec of res.records) {
      const t = rec.t;
      assert.is(rec.arm, sim.arms![t], `t=${t}: arm`);
      assert.is(rec.answerLayer, sim.answerLayers![t], `t=${t}: answering exit`);
      assert.is(rec.cost, sim.stepCosts![t], `t=${t}: cost`);
      assert.is(rec.reward, sim.rewards![t], `t=${t}: reward`);
      if (rec.offloaded) offloads++;
    }
    assert.ok(new Set(res.records.map((x) => x.arm)).size >= 2 && offloads > 0, 'more than one arm and some offloads');
  } finally {
    model.dispose();
  }
});

test.run();
