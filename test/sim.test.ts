// The simulator against an independent per-sample reference on random matrices, properties every policy must keep
// (costs, counts, oracle ≥ every fixed arm, no policy ever learning from an unobserved C_L), determinism, regret and
// the experiment runner.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createPolicy, resolveCosts, type CostModel, type SplitPolicy } from '../src/policy/index.js';
import {
  armRewardTotals, cumulativeRegret, deriveSeed, matrixFromSamples, oracleArm, runAllPolicies, runPolicy, shuffledOrder,
  simulate, summarize, type ConfidenceMatrix,
} from '../src/sim/index.js';
import { rng, type Rng } from './util.js';

function randomMatrix(r: Rng, L: number, n: number): ConfidenceMatrix {
  // Confidence tends to grow with depth, as in a real multi-exit network, with plenty of noise around α.
  return matrixFromSamples(Array.from({ length: n }, () => {
    const easy = r.next();
    const confidences = Array.from({ length: L }, (_, j) => Math.min(1, Math.max(0, easy * (0.4 + (0.6 * (j + 1)) / L) + r.uniform(-0.15, 0.15))));
    const label = r.int(0, 4);
    const predictions = confidences.map((c) => (r.next() < c ? label : r.int(0, 4)));
    return { confidences, predictions, label };
  }));
}

function randomCosts(r: Rng, L: number): CostModel {
  const alpha = r.uniform(0.3, 0.95), offloadCost = r.uniform(0, 1);
  return r.next() < 0.3
    ? { alpha, offloadCost, perLayerCosts: Array.from({ length: L }, () => r.uniform(0.01, 0.3)) }
    : { alpha, offloadCost, lambda: r.uniform(0.01, 0.3) };
}

/** Independent reference: what a device does with sample i at arm k (split or cascade), written plainly. */
function reference(m: ConfidenceMatrix, costsIn: CostModel, i: number, k: number, cascade: boolean) {
  const L = m.L, c = resolveCosts(costsIn, L);
  const C = (j: number) => m.conf[i * L + j - 1], P = (j: number) => m.pred[i * L + j - 1];
  let layer = 0;
  if (cascade) { for (let j = 1; j <= k && !layer; j++) if (C(j) >= c.alpha) layer = j; if (!layer && k === L) layer = L; }
  else if (k === L || C(k) >= c.alpha) layer = k;
  if (layer) return { cost: c.cum[layer], correct: P(layer) === m.label[i], reward: C(layer) - c.cum[layer], offload: false, exit: layer < L };
  return { cost: c.cum[k] + c.offloadCost, correct: P(L) === m.label[i], reward: C(L) - c.cum[k] - c.offloadCost, offload: true, exit: false };
}

const LEARNERS = ['splitee', 'splitee-s', 'splitee-su'];

test('simulator matches the per-sample reference for every policy on random matrices', () => {
  const r = rng(101);
  for (let trial = 0; trial < 40; trial++) {
    const L = r.int(1, 10), n = r.int(1, 90);
    const m = randomMatrix(r, L, n), costs = randomCosts(r, L);
    const order = trial % 2 ? shuffledOrder(n, trial) : undefined;
    const cum = resolveCosts(costs, L).cum;
    const names = [...LEARNERS, 'final', 'early-exit', 'random', 'oracle', ...Array.from({ length: L }, (_, k) => `fixed:${k + 1}`)];
    for (const name of names) {
      const res = runPolicy(m, name, costs, { order, record: true, seed: trial });
      const what = `trial ${trial} L=${L} n=${n} ${name}`;
      let cost = 0, correct = 0, reward = 0, offloads = 0, exits = 0;
      for (let t = 0; t < n; t++) {
        const e = reference(m, costs, res.samples![t], res.arms![t], name === 'early-exit');
        cost += e.cost; correct += +e.correct; reward += e.reward; offloads += +e.offload; exits += +e.exit;
        assert.ok(e.cost >= 0, `${what}: negative cost`);
        assert.ok(Math.abs(res.rewards![t] - e.reward) < 1e-12, `${what}: reward at t=${t}`);
      }
      assert.ok(Math.abs(res.totalCost - cost) < 1e-9, `${what}: cost ${res.totalCost} vs ${cost}`);
      assert.is(res.correct, correct, what);
      assert.is(res.offloads, offloads, what);
      assert.is(res.exits, exits, what);
      assert.ok(Math.abs(res.totalReward - reward) < 1e-9, what);
      assert.is(res.armCounts.reduce((a, b) => a + b, 0), n, `${what}: arm counts sum`);
      assert.equal(Array.from(res.samples!).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), `${what}: each sample once`);
      const s = summarize(res, m, costs);
      assert.ok(s.cost >= cum[1] - 1e-12 && s.cost <= cum[L] + (costs.offloadCost) + 1e-12, `${what}: mean cost ${s.cost} out of [γ1, γL + o]`);
      assert.ok(s.accuracy >= 0 && s.accuracy <= 1 && s.offloadRate + s.exitRate <= 1 + 1e-12, what);
      if (name === 'final') { assert.is(s.accuracy, s.finalLayerAccuracy); assert.ok(Math.abs(s.costReduction) < 1e-12); }
      if (name === 'early-exit') assert.is(s.offloadRate, 0);
    }
  }
});

test('oracle: total reward ≥ every fixed arm, zero regret, regret of fixed arms = total gap', () => {
  const r = rng(202);
  for (let trial = 0; trial < 30; trial++) {
    const L = r.int(1, 13), n = r.int(1, 150);
    const m = randomMatrix(r, L, n), costs = randomCosts(r, L);
    const order = shuffledOrder(n, trial);
    const oracle = runPolicy(m, 'oracle', costs, { order, record: true });
    const totals = armRewardTotals(m, costs);
    const best = oracleArm(m, costs);
    for (let k = 1; k <= L; k++) {
      const fixed = runPolicy(m, `fixed:${k}`, costs, { order, record: true });
      assert.ok(oracle.totalReward >= fixed.totalReward - 1e-9, `trial ${trial}: oracle ${oracle.totalReward} < fixed:${k} ${fixed.totalReward}`);
      assert.ok(totals[best - 1] >= totals[k - 1]);
      const curve = cumulativeRegret(m, costs, fixed);
      assert.ok(Math.abs(curve[n - 1] - (totals[best - 1] - totals[k - 1])) < 1e-9, `fixed:${k} final regret`);
    }
    for (const v of cumulativeRegret(m, costs, oracle)) assert.ok(Math.abs(v) < 1e-9, 'oracle regret is 0');
  }
});

test('no learner ever uses a C_L it did not observe', () => {
  // Rerun after replacing C_L by random values on exactly the samples whose C_L the run never revealed (early exits
  // at k < L): the arms chosen and the final estimates must not change.
  const r = rng(303);
  for (let trial = 0; trial < 25; trial++) {
    const L = r.int(2, 10), n = r.int(10, 200);
    const m = randomMatrix(r, L, n), costs = randomCosts(r, L);
    const alpha = costs.alpha;
    for (const name of LEARNERS) {
      const p1 = createPolicy(name, { L, costs }) as SplitPolicy & { means(): Float64Array };
      const a = simulate(m, p1, costs, { record: true });
      const conf = m.conf.slice();
      let hidden = 0;
      for (let t = 0; t < n; t++) {
        const k = a.arms![t], i = a.samples![t];
        if (k < L && m.conf[i * L + k - 1] >= alpha) { conf[i * L + L - 1] = r.next(); hidden++; }
      }
      const m2 = { ...m, conf };
      const p2 = createPolicy(name, { L, costs }) as SplitPolicy & { means(): Float64Array };
      const b = simulate(m2, p2, costs, { record: true });
      assert.equal(Array.from(b.arms!), Array.from(a.arms!), `${name} trial ${trial}: arms changed (${hidden} hidden C_L)`);
      const e1 = p1.means(), e2 = p2.means();
      for (let k = 0; k < L; k++) assert.ok(Object.is(e1[k], e2[k]), `${name} trial ${trial}: estimate of arm ${k + 1} changed`);
    }
  }
});

test('cloud failures: the policy sees C_L unknown, the device answers with its own exit', () => {
  const r = rng(404);
  const L = 4, n = 300;
  const m = randomMatrix(r, L, n), costs: CostModel = { alpha: 0.7, lambda: 0.1, offloadCost: 0.3 };
  const fails = (t: number) => t % 3 === 0;
  const res = runPolicy(m, 'fixed:2', costs, { cloudFails: fails, record: true });
  let correct = 0, degraded = 0, cost = 0;
  for (let t = 0; t < n; t++) {
    const i = t, c2 = m.conf[i * L + 1];
    const off = c2 < 0.7;
    if (off && fails(t)) degraded++;
    const layer = off && !fails(t) ? L : 2;
    if (m.pred[i * L + layer - 1] === m.label[i]) correct++;
    cost += off ? 0.2 + 0.3 : 0.2;
  }
  assert.ok(degraded > 10);
  assert.is(res.degraded, degraded);
  assert.is(res.correct, correct);
  assert.ok(Math.abs(res.totalCost - cost) < 1e-9);
  // SplitEE learns only from non-degraded samples: its arm counts ≥ its update counts, the gap = failed offloads.
  const costsR = resolveCosts(costs, L);
  const p = createPolicy('splitee', { L, costs: costsR }) as SplitPolicy & { counts(): Float64Array };
  const s = simulate(m, p, costsR, { cloudFails: fails });
  const updates = p.counts().reduce((a, b) => a + b, 0);
  assert.is(updates, n - s.degraded);
});

test('determinism: same seed, same run; another seed, another order', () => {
  const r = rng(505);
  const m = randomMatrix(r, 6, 120), costs = randomCosts(r, 6);
  const a = runAllPolicies(m, costs, { order: 'shuffle', seed: 9, repeats: 3 });
  const b = runAllPolicies(m, costs, { order: 'shuffle', seed: 9, repeats: 3 });
  assert.equal(a.rows, b.rows);
  for (let i = 0; i < a.regret.length; i++) assert.equal(Array.from(a.regret[i].curve), Array.from(b.regret[i].curve));
  const c = runAllPolicies(m, costs, { order: 'shuffle', seed: 10, repeats: 3 });
  assert.not.equal(a.regret.map((x) => Array.from(x.curve)), c.regret.map((x) => Array.from(x.curve)));
  assert.not.equal(Array.from(shuffledOrder(50, 1)), Array.from(shuffledOrder(50, 2)));
  assert.equal(Array.from(shuffledOrder(50, 1)), Array.from(shuffledOrder(50, 1)));
  assert.not.equal(deriveSeed(1, 0, 0), deriveSeed(1, 0, 1));
  assert.not.equal(deriveSeed(1, 0, 0), deriveSeed(1, 1, 0));
});

test('runAllPolicies: rows, oracle, regret curves, repeats', () => {
  const r = rng(606);
  const m = randomMatrix(r, 5, 200), costs = randomCosts(r, 5);
  const res = runAllPolicies(m, costs, { policies: ['splitee', 'final', 'oracle', 'fixed:2'], order: 'shuffle', seed: 3, repeats: 4 });
  assert.equal(res.rows.map((x) => x.policy), ['splitee', 'final', 'oracle', 'fixed:2']);
  assert.is(res.oracleArm, oracleArm(m, costs));
  for (const row of res.rows) {
    assert.is(row.n, 200);
    assert.ok(Math.abs(row.armCounts.reduce((a, b) => a + b, 0) - 200) < 1e-9);
  }
  const totals = armRewardTotals(m, costs);
  const curve = (name: string) => res.regret.find((x) => x.policy === name)!.curve;
  assert.is(curve('oracle').length, 200);
  for (const v of curve('oracle')) assert.ok(Math.abs(v) < 1e-9);
  // A fixed arm's regret after the whole pass does not depend on the order: the total gap, whatever the shuffle.
  assert.ok(Math.abs(curve('fixed:2')[199] - (totals[res.oracleArm - 1] - totals[1])) < 1e-9);
  // Deterministic policies in file order: every repeat identical, std 0.
  const fileRes = runAllPolicies(m, costs, { policies: ['splitee'], repeats: 3 });
  const single = summarize(runPolicy(m, 'splitee', costs), m, costs);
  assert.equal(fileRes.rows[0], single);
  assert.is(fileRes.stats[0].std.accuracy, 0);
});

test.run();
