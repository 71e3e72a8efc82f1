// The forgetting policies (splitee-discounted, splitee-window): SplitEE exactly when they forget nothing, their
// estimates equal the discounted / windowed averages computed here from the recorded stream, they follow a change
// that plain SplitEE is slow to follow, and bad parameters are typed errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DiscountedUcbPolicy, PolicyError, SlidingWindowUcbPolicy, createPolicy, resolveCosts, type CostModel,
} from '../src/policy/index.js';
import { shuffledOrder, simulate } from '../src/sim/index.js';
import { rng } from './util.js';
import { randomMatrix } from './fixtures/random-matrix.js';

const COSTS: CostModel = { alpha: 0.6, lambda: 0.15, offloadCost: 0.2 };

test('forgetting nothing (γ = 1, τ ≥ n) they are SplitEE, arm for arm', () => {
  const L = 5, m = randomMatrix(rng(1), L, 700);
  const order = shuffledOrder(m.n, 2);
  const ref = simulate(m, createPolicy('splitee', { L, costs: COSTS }), COSTS, { order, record: true });
  const d = simulate(m, createPolicy('splitee-discounted', { L, costs: COSTS, gamma: 1 }), COSTS, { order, record: true });
  const w = simulate(m, createPolicy('splitee-window', { L, costs: COSTS, window: m.n }), COSTS, { order, record: true });
  assert.equal(Array.from(d.arms!), Array.from(ref.arms!));
  assert.equal(Array.from(w.arms!), Array.from(ref.arms!));
  // With forgetting they are other policies.
  const d2 = simulate(m, createPolicy('splitee-discounted', { L, costs: COSTS, gamma: 0.95 }), COSTS, { order, record: true });
  assert.ok(d2.arms!.some((k, t) => k !== ref.arms![t]));
});

test('estimates: discounted and windowed averages of the rewards actually earned, computed independently', () => {
  const L = 4, m = randomMatrix(rng(3), L, 500);
  const gamma = 0.97, tau = 60;
  const dp = new DiscountedUcbPolicy(L, COSTS, { gamma });
  const wp = new SlidingWindowUcbPolicy(L, COSTS, { window: tau });
  const rd = simulate(m, dp, COSTS, { record: true });
  const rw = simulate(m, wp, COSTS, { record: true });
  // Discounted to the last sample t = n − 1: weight γ^(n−1−s).
  const num = new Float64Array(L), den = new Float64Array(L);
  for (let s = 0; s < m.n; s++) { const wgt = gamma ** (m.n - 1 - s); num[rd.arms![s] - 1] += wgt * rd.rewards![s]; den[rd.arms![s] - 1] += wgt; }
  const dm = dp.means(), dc = dp.counts();
  for (let k = 0; k < L; k++) {
    if (den[k] === 0) continue;
    assert.ok(Math.abs(dm[k] - num[k] / den[k]) < 1e-9, `discounted mean of arm ${k + 1}: ${dm[k]} vs ${num[k] / den[k]}`);
    assert.ok(Math.abs(dc[k] - den[k]) < 1e-9, `discounted count of arm ${k + 1}`);
  }
  // Window: the last τ samples only.
  const wsum = new Float64Array(L), wn = new Float64Array(L);
  for (let s = m.n - tau; s < m.n; s++) { wsum[rw.arms![s] - 1] += rw.rewards![s]; wn[rw.arms![s] - 1]++; }
  assert.equal(Array.from(wp.counts()), Array.from(wn));
  const wm = wp.means();
  for (let k = 0; k < L; k++) {
    if (wn[k] === 0) assert.ok(Number.isNaN(wm[k]));
    else assert.ok(Math.abs(wm[k] - wsum[k] / wn[k]) < 1e-9, `window mean of arm ${k + 1}`);
  }
});

test('after the costs change they move to the new best arm sooner than SplitEE', () => {
  // Offloading is cheap for the first 1500 samples (arm 1 is best), then costs 3 per offload (arm L is best).
  const L = 4, m = randomMatrix(rng(5), L, 3000);
  const cheap = resolveCosts({ alpha: 0.7, lambda: 0.2, offloadCost: 0.05 }, L);
  const dear = resolveCosts({ alpha: 0.7, lambda: 0.2, offloadCost: 3 }, L);
  const costsAt = (t: number) => (t < 1500 ? cheap : dear);
  const share = (name: string) => {
    const r = simulate(m, createPolicy(name, { L, costs: cheap }), cheap, { record: true, costsAt });
    // Plays of arm L among the 500 samples after the change.
    let atL = 0;
    for (let t = 1500; t < 2000; t++) if (r.arms![t] === L) atL++;
    return atL / 500;
  };
  const plain = share('splitee'), disc = share('splitee-discounted'), win = share('splitee-window');
  assert.ok(disc > plain + 0.1 && win > plain + 0.1, `arm L after the change: splitee ${plain}, discounted ${disc}, window ${win}`);
  assert.ok(disc > 0.5 && win > 0.5, `the forgetting policies mostly play arm L (discounted ${disc}, window ${win})`);
});

test('bad parameters are typed errors; defaults are documented values', () => {
  const L = 3;
  for (const gamma of [0, -0.5, 1.5, NaN]) {
    assert.throws(() => createPolicy('splitee-discounted', { L, costs: COSTS, gamma }), (e: PolicyError) => e instanceof PolicyError && e.code === 'BAD_OPTION');
  }
  for (const window of [0, 1.5, -3, NaN]) {
    assert.throws(() => createPolicy('splitee-window', { L, costs: COSTS, window }), (e: PolicyError) => e instanceof PolicyError && e.code === 'BAD_OPTION');
  }
  assert.is((createPolicy('splitee-discounted', { L, costs: COSTS }) as DiscountedUcbPolicy).gamma, 0.995);
  assert.is((createPolicy('splitee-window', { L, costs: COSTS }) as SlidingWindowUcbPolicy).window, 400);
  const p = createPolicy('splitee-window', { L, costs: COSTS });
  assert.throws(() => p.observe({ t: 0, arm: 4, exited: true, confidences: [0.1, 0.2, 0.3] }), (e: PolicyError) => e.code === 'BAD_OBSERVATION');
  assert.throws(() => p.chooseArm(-1), (e: PolicyError) => e.code === 'BAD_STEP');
});

test.run();
