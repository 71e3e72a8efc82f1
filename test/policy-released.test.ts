// Faithfulness to the authors' released code (Div290/SplitEE: SplitEE.py, SplitEE_S.py), re-expressed here as a
// plain loop over a confidence matrix: with the released warm-up (`warmup: 'replay'`), `splitee` and
// `splitee-s-released` choose the same arm as that loop sample for sample; `splitee-s` differs exactly where the
// released code uses a C_L nobody observed, and the released variant counts those updates.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createPolicy, PolicyError, SplitEESReleasedPolicy, type CostModel } from '../src/policy/index.js';
import { matrixFromSamples, shuffledOrder, simulate, type ConfidenceMatrix } from '../src/sim/index.js';
import { rng } from './util.js';
import { randomMatrix } from './fixtures/random-matrix.js';

/**
 * The released algorithm: warm-up plays arm j on the j-th sample (reward only, no side information, not counted),
 * then every sample from the first, t = 0, 1, …: the arm with the largest mean + c·sqrt(ln(t+1)/n) (first on ties);
 * with side information every arm below it is also updated with the reward the matrix gives it, C_L included.
 */
function releasedArms(m: ConfidenceMatrix, order: Int32Array, costs: { alpha: number; lambda: number; offloadCost: number }, side: boolean, c = 1) {
  const L = m.L, { alpha, lambda, offloadCost: o } = costs;
  const C = (i: number, j: number) => m.conf[i * L + j - 1];
  const reward = (i: number, j: number) => (j < L
    ? (C(i, j) >= alpha ? C(i, j) - lambda * j : C(i, L) - o - lambda * j)
    : C(i, L) - lambda * j);
  const sum = new Array<number>(L + 1).fill(0), cnt = new Array<number>(L + 1).fill(0);
  for (let j = 1; j <= L; j++) { sum[j] = reward(order[j - 1], j); cnt[j] = 1; }
  const arms: number[] = [];
  let sideUpdates = 0, unobserved = 0;
  for (let t = 0; t < order.length; t++) {
    const i = order[t];
    let best = -1, bestUcb = -Infinity;
    for (let j = 1; j <= L; j++) {
      const u = sum[j] / cnt[j] + c * Math.sqrt(Math.log(t + 1) / cnt[j]);
      if (u > bestUcb) { bestUcb = u; best = j; }
    }
    if (side) {
      const sawLast = best === L || C(i, best) < alpha;
      for (let j = 1; j < best; j++) {
        sum[j] += reward(i, j); cnt[j]++;
        sideUpdates++;
        if (C(i, j) < alpha && !sawLast) unobserved++;
      }
    }
    sum[best] += reward(i, best); cnt[best]++;
    arms.push(best);
  }
  return { arms, sideUpdates, unobserved };
}

const SETTINGS: { L: number; costs: { alpha: number; lambda: number; offloadCost: number } }[] = [
  { L: 5, costs: { alpha: 0.6, lambda: 0.2, offloadCost: 0.3 } },
  { L: 7, costs: { alpha: 0.72, lambda: 1 / 7, offloadCost: 0.1 } },
  { L: 3, costs: { alpha: 0.5, lambda: 0.05, offloadCost: 0.5 } },
];

test('with the released warm-up, splitee and splitee-s-released choose the released code\'s arm at every sample', () => {
  let unobserved = 0;
  SETTINGS.forEach(({ L, costs }, s) => {
    const r = rng(40 + s);
    const m = randomMatrix(r, L, 900);
    const order = shuffledOrder(m.n, 7 + s);
    for (const [name, side] of [['splitee', false], ['splitee-s-released', true]] as const) {
      const ref = releasedArms(m, order, costs, side);
      const policy = createPolicy(name, { L, costs });
      const sim = simulate(m, policy, costs, { order, record: true, warmup: 'replay' });
      assert.equal(Array.from(sim.arms!), ref.arms, `${name}, L = ${L}`);
      if (side) {
        const p = policy as SplitEESReleasedPolicy;
        // The warm-up gives no side information, so the counts are the stream's.
        assert.is(p.sideUpdateCount, ref.sideUpdates, 'side updates');
        assert.is(p.unobservedUpdateCount, ref.unobserved, 'updates with an unobserved C_L');
        assert.ok(ref.unobserved < ref.sideUpdates, `not all (${ref.unobserved} of ${ref.sideUpdates})`);
        unobserved += ref.unobserved;
      }
    }
  });
  assert.ok(unobserved > 0, 'some side updates used an unobserved C_L');
});

test('our warm-up differs from the released one only in the first samples: the stream counts them once', () => {
  const { L, costs } = SETTINGS[0];
  const m = randomMatrix(rng(50), L, 400);
  const order = shuffledOrder(m.n, 3);
  const ours = simulate(m, createPolicy('splitee', { L, costs }), costs, { order, record: true });
  const replay = simulate(m, createPolicy('splitee', { L, costs }), costs, { order, record: true, warmup: 'replay' });
  assert.equal(Array.from(ours.arms!.subarray(0, L)), [1, 2, 3, 4, 5], 'ours: arms 1..L on the first L samples, counted');
  assert.is(ours.n, m.n);
  assert.is(replay.n, m.n, 'replay: the warm-up samples are not counted, the whole stream is');
  assert.is(replay.arms!.length, m.n);
});

test('splitee-s differs from the released SplitEE-S: it skips side updates whose C_L was not observed', () => {
  const { L, costs } = SETTINGS[1];
  const m = randomMatrix(rng(60), L, 900);
  const order = shuffledOrder(m.n, 11);
  const ours = simulate(m, createPolicy('splitee-s', { L, costs }), costs, { order, record: true, warmup: 'replay' });
  const released = simulate(m, createPolicy('splitee-s-released', { L, costs }), costs, { order, record: true, warmup: 'replay' });
  const differ = ours.arms!.filter((k, t) => k !== released.arms![t]).length;
  assert.ok(differ > 0, 'the unobserved C_L changes some choices');
  // Fed only what a device sees, the released variant refuses to learn instead of inventing C_L.
  const p = createPolicy('splitee-s-released', { L, costs });
  assert.throws(() => p.observe({ t: 0, arm: 3, exited: true, confidences: [0.1, 0.2, 0.9, undefined, undefined, undefined, undefined] }),
    (e: PolicyError) => e instanceof PolicyError && e.code === 'NEEDS_FULL_ROW');
  assert.is(p.needsFullRow, true);
  assert.is(createPolicy('splitee-s', { L, costs }).needsFullRow ?? false, false);
  // Where nothing is hidden (every sample offloads or runs to L), the two are the same policy.
  const allHard: CostModel = { ...costs, alpha: 1 };
  const hard = matrixFromSamples(Array.from({ length: 200 }, (_, i) => ({ confidences: Array.from({ length: L }, (_, j) => (j === L - 1 ? 0.99 : 0.3 + 0.001 * ((i * 7 + j) % 50))), predictions: new Array(L).fill(0), label: 0 })));
  const a = simulate(hard, createPolicy('splitee-s', { L, costs: allHard }), allHard, { record: true });
  const b = simulate(hard, createPolicy('splitee-s-released', { L, costs: allHard }), allHard, { record: true });
  assert.equal(Array.from(a.arms!), Array.from(b.arms!));
});

test.run();
