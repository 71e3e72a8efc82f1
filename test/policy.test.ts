// Split policies on a small hand-computed matrix (every arm, accuracy and cost worked out below), the observation
// rules (what each policy may learn from what was seen, degraded samples), and the selection bias of SplitEE-S that
// SplitEE-SU removes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  createPolicy, resolveCosts, PolicyError, SplitEEPolicy, SplitEESPolicy, SplitEESUPolicy, RandomPolicy,
  type Observation, type SplitPolicy,
} from '../src/policy/index.js';
import { matrixFromSamples, runPolicy, simulate, summarize, cumulativeRegret, armRewardTotals, oracleArm, type ConfidenceMatrix } from '../src/sim/index.js';
import { assertClose, rng } from './util.js';

// Every value is a dyadic rational, so every sum below is exact in floating point and ties are real ties.
// α = 0.75, λ = 0.125 (γ = 0.125, 0.25, 0.375), o = 0.25.
//        C1      C2      C3      p1 p2 p3  label
// s0   0.5     0.75    0.875     3  1  1   1
// s1   0.625   0.875   0.9375    0  2  2   2
// s2   0.75    0.5     0.625     1  1  0   1
// s3   0.875   0.5     0.75      2  0  2   2
// s4   0.9375  0.9375  1.0       0  0  0   0
// s5   0.25    0.5     0.5       1  2  3   2
const HAND = matrixFromSamples([
  { confidences: [0.5, 0.75, 0.875], predictions: [3, 1, 1], label: 1 },
  { confidences: [0.625, 0.875, 0.9375], predictions: [0, 2, 2], label: 2 },
  { confidences: [0.75, 0.5, 0.625], predictions: [1, 1, 0], label: 1 },
  { confidences: [0.875, 0.5, 0.75], predictions: [2, 0, 2], label: 2 },
  { confidences: [0.9375, 0.9375, 1.0], predictions: [0, 0, 0], label: 0 },
  { confidences: [0.25, 0.5, 0.5], predictions: [1, 2, 3], label: 2 },
]);
const COSTS = { alpha: 0.75, lambda: 0.125, offloadCost: 0.25 };

function run(name: string, m: ConfidenceMatrix = HAND) {
  const r = runPolicy(m, name, COSTS, { record: true });
  return { r, s: summarize(r, m, COSTS), arms: Array.from(r.arms!) };
}

test('splitee: hand-computed arms, accuracy, cost and regret', () => {
  // t=0..2 initial round, arms 1, 2, 3:
  //   s0 @1: C1 .5 < α → offload, r = C3 − γ1 − o = .875 − .375 = .5, cost .375, answer p3 = 1 ✓
  //   s1 @2: C2 .875 ≥ α → exit,  r = .875 − .25 = .625, cost .25, answer p2 = 2 ✓
  //   s2 @3: r = C3 − γ3 = .625 − .375 = .25, cost .375, answer p3 = 0 ✗
  // t=3, ln 4 = 1.386294, all n = 1, bonus 1.177410: indices 1.677, 1.802, 1.427 → arm 2
  //   s3 @2: C2 .5 < α → offload, r = .75 − .5 = .25, cost .5, p3 = 2 ✓; arm 2: n 2, mean .4375
  // t=4, ln 5 = 1.609438: arm1 .5 + 1.268636 = 1.768636; arm2 .4375 + .897061 = 1.334561;
  //   arm3 .25 + 1.268636 = 1.518636 → arm 1
  //   s4 @1: C1 .9375 → exit, r = .8125, cost .125, p1 = 0 ✓; arm 1: n 2, mean .65625
  // t=5, ln 6 = 1.791759: arm1 .65625 + .946509 = 1.602759; arm2 .4375 + .946509 = 1.384009;
  //   arm3 .25 + 1.338566 = 1.588566 → arm 1
  //   s5 @1: C1 .25 → offload, r = .5 − .375 = .125, cost .375, p3 = 3 ✗
  const { r, s, arms } = run('splitee');
  assert.equal(arms, [1, 2, 3, 2, 1, 1]);
  assert.is(r.correct, 4);
  assert.is(r.totalCost, 2.0);
  assert.is(r.totalReward, 0.5 + 0.625 + 0.25 + 0.25 + 0.8125 + 0.125);
  assert.equal(s.armCounts, [3, 2, 1]);
  assert.is(s.offloadRate, 3 / 6);
  assert.is(s.exitRate, 2 / 6);
  // Oracle = arm 1 (totals below); its rewards .5 .5625 .625 .75 .8125 .125 vs splitee's .5 .625 .25 .25 .8125 .125.
  assert.equal(Array.from(cumulativeRegret(HAND, COSTS, r)), [0, -0.0625, 0.3125, 0.8125, 0.8125, 0.8125]);
});

test('splitee-s: hand-computed arms with side information', () => {
  // t=0 s0 @1: arm1 += .5.
  // t=1 s1 @2 (exit): arm2 += .625. Side: C1 .625 < α needs C3, which an exit at 2 never shows → skipped.
  // t=2 s2 @3: arm3 += .25. Side: arm1 C1 .75 ≥ α → .75 − .125 = .625; arm2 C2 .5 < α, C3 seen → .625 − .5 = .125.
  //   arm1 n 2 mean .5625; arm2 n 2 mean .375; arm3 n 1 mean .25
  // t=3 ln 4: arm1 .5625 + .832555 = 1.395055; arm2 .375 + .832555 = 1.207555; arm3 .25 + 1.177410 = 1.427410 → 3
  //   s3 @3: .75 − .375 = .375 (p3 = 2 ✓). Side: arm1 .875 − .125 = .75; arm2 .75 − .5 = .25.
  //   arm1 n 3 mean .625; arm2 n 3 mean 1/3; arm3 n 2 mean .3125
  // t=4 ln 5: arm1 .625 + .732447 = 1.357447; arm2 .333333 + .732447 = 1.065780; arm3 .3125 + .897061 = 1.209561 → 1
  //   s4 @1 exit .8125. arm1 n 4 mean .671875
  // t=5 ln 6: arm1 .671875 + .669283 = 1.341158; arm2 .333333 + .772821 = 1.106154; arm3 .3125 + .946509 = 1.259009 → 1
  //   s5 @1 offload .125.
  const { r, s, arms } = run('splitee-s');
  assert.equal(arms, [1, 2, 3, 3, 1, 1]);
  assert.is(r.correct, 4);
  assert.is(r.totalCost, 0.375 + 0.25 + 0.375 + 0.375 + 0.125 + 0.375);
  assert.equal(s.armCounts, [3, 1, 2]);
  assert.is(s.offloadRate, 2 / 6);
  assert.is(s.exitRate, 2 / 6);
});

test('splitee-su: hand-computed arms and estimates', () => {
  // Estimate of arm j < L: mean(a_j) + q̂·m̂ with a_j = [C_j ≥ α](C_j − γ_j) + [C_j < α](−γ_j − o), q̂ = share of C_j < α,
  // m̂ = mean C_L over plays at j or L with C_j < α; variance factor (1 − q̂)/n_a + q̂²/n_m.
  // t=0 s0 @1: a1 −.375 (q 1/1), m1 .875.   t=1 s1 @2: a1 −.375 (q 2/2, no m: played at 2, not L); a2 .625.
  // t=2 s2 @3: L += .25; a1 .625 (C1 ≥ α); a2 −.5 (C2 < α, played at L → m2 .625).
  // t=3 ln 4: arm1 mean −.125/3 + (2/3)(.875) = .541667, v = (1/3)/3 + (4/9)/1 = .555556, index 1.419257;
  //   arm2 mean .0625 + .5·.625 = .375, v = .5, index 1.207555; arm3 .25 + 1.177410 = 1.427410 → 3
  //   s3 @3: L += .375; a1 .75; a2 −.5 with m2 += .75.
  // t=4 ln 5: arm1 .15625 + .5·.875 = .59375, v = .375, index 1.370628; arm2 −.125 + (2/3)(.6875) = .333333,
  //   v = 1/3, index 1.065780; arm3 .3125 + .897061 = 1.209561 → 1.   s4 @1: a1 .8125.
  // t=5 ln 6: arm1 .2875 + .4·.875 = .6375, v = .28, index 1.345803; arm2 1.106154; arm3 1.259009 → 1.
  //   s5 @1: a1 −.375, q 3/6, m1 += .5 → m1 = .6875.
  const costs = resolveCosts(COSTS, 3);
  const p = new SplitEESUPolicy(3, costs);
  const r = simulate(HAND, p, costs, { record: true });
  assert.equal(Array.from(r.arms!), [1, 2, 3, 3, 1, 1]);
  // Final estimates: arm1 (−.375 −.375 +.625 +.75 +.8125 −.375)/6 + .5·.6875 = 1.0625/6 + .34375;
  // arm2 (.625 − .5 − .5)/3 + (2/3)(.6875); arm3 (.25 + .375)/2.
  assertClose(p.means(), [1.0625 / 6 + 0.34375, -0.375 / 3 + (2 / 3) * 0.6875, 0.3125], 1e-15, 1e-15, 'su means');
  assert.equal(Array.from(p.counts()), [6, 3, 2]);
});

test('baselines: final, early-exit, fixed:k, oracle on the hand matrix', () => {
  // final: every sample at L: cost .375 each; p3 correct on s0 s1 s3 s4.
  let { r, s, arms } = run('final');
  assert.equal(arms, [3, 3, 3, 3, 3, 3]);
  assert.is(r.correct, 4); assert.is(r.totalCost, 6 * 0.375);
  assert.is(s.offloadRate, 0); assert.is(s.exitRate, 0); assert.is(s.costReduction, 0); assert.is(s.accuracyDrop, 0);
  // early-exit (first layer with C ≥ .75): s0 @2 p2=1 ✓ .25; s1 @2 ✓ .25; s2 @1 p1=1 ✓ .125; s3 @1 ✓ .125;
  // s4 @1 ✓ .125; s5 none → L, p3 = 3 ✗, .375.
  ({ r, s } = run('early-exit'));
  assert.is(r.correct, 5); assert.is(r.totalCost, 1.25); assert.is(s.exitRate, 5 / 6); assert.is(s.offloadRate, 0);
  assert.is(s.accuracyDrop, 4 / 6 - 5 / 6);
  // fixed:2: s0 exit (C2 .75) ✓ .25; s1 exit ✓ .25; s2 offload p3=0 ✗ .5; s3 offload ✓ .5; s4 exit ✓ .25; s5 offload ✗ .5.
  ({ r, s, arms } = run('fixed:2'));
  assert.equal(arms, [2, 2, 2, 2, 2, 2]);
  assert.is(r.correct, 4); assert.is(r.totalCost, 2.25); assert.is(s.offloadRate, 3 / 6); assert.is(s.exitRate, 3 / 6);
  // Totals per arm: arm1 .5+.5625+.625+.75+.8125+.125 = 3.375; arm2 .5+.625+.125+.25+.6875+0 = 2.1875;
  // arm3 .5+.5625+.25+.375+.625+.125 = 2.4375 → oracle = arm 1: s0 s1 s5 offload (.375), s2 s3 s4 exit (.125).
  assert.equal(Array.from(armRewardTotals(HAND, COSTS)), [3.375, 2.1875, 2.4375]);
  assert.is(oracleArm(HAND, COSTS), 1);
  ({ r, s, arms } = run('oracle'));
  assert.equal(arms, [1, 1, 1, 1, 1, 1]);
  assert.is(r.correct, 5); assert.is(r.totalCost, 1.5); assert.is(r.totalReward, 3.375);
  assert.is(s.costReduction, 1 - 0.25 / 0.375);
});

test('per-layer costs replace λ·k by their cumulative sum', () => {
  // γ = .125, .5, 1.0 for layer costs .125 .375 .5. fixed:2 as above: 3 exits at γ2 = .5 and 3 offloads at .5 + .25.
  const costs = { alpha: 0.75, offloadCost: 0.25, perLayerCosts: [0.125, 0.375, 0.5] };
  const r = runPolicy(HAND, 'fixed:2', costs);
  assert.is(r.totalCost, 3 * 0.5 + 3 * 0.75);
  assert.is(summarize(r, HAND, costs).finalLayerCost, 1.0);
  assert.equal(Array.from(resolveCosts(costs, 3).cum), [0, 0.125, 0.5, 1.0]);
});

test('ties go to the lowest arm', () => {
  // Every sample: C = (.5, .75, .875). Arm 1 offloads: .875 − .125 − .25 = .5; arm 2 exits: .75 − .25 = .5;
  // arm 3: .875 − .375 = .5. Equal means and counts after the first round → equal indices → arm 1 every time.
  const m = matrixFromSamples(Array.from({ length: 9 }, () => ({ confidences: [0.5, 0.75, 0.875], predictions: [0, 0, 0], label: 0 })));
  // t=3: all n = 1 → arm 1; t=4: arm 1 has n = 2 (smaller bonus), arms 2 and 3 tie → 2; t=5 → 3; and so on.
  const arms = Array.from(runPolicy(m, 'splitee', COSTS, { record: true }).arms!);
  assert.equal(arms, [1, 2, 3, 1, 2, 3, 1, 2, 3]);
});

const obs = (arm: number, exited: boolean, conf: (number | undefined)[], extra: Partial<Observation> = {}): Observation =>
  ({ t: 0, arm, exited, confidences: conf, ...extra });

test('observation rules: what each policy learns, degraded offloads', () => {
  const costs = resolveCosts({ alpha: 0.75, lambda: 0.125, offloadCost: 0.25 }, 4);
  // A degraded offload at arm 3 (cloud failed: C4 unknown). C1 .875 ≥ α, C2 .5 < α, C3 .25 < α.
  const degraded = obs(3, false, [0.875, 0.5, 0.25, undefined], { degraded: true });
  const s = new SplitEEPolicy(4, costs);
  s.observe(degraded);
  assert.equal(Array.from(s.counts()), [0, 0, 0, 0], 'splitee learns nothing from a degraded offload');
  assert.is(s.chooseArm(0), 1);
  const ss = new SplitEESPolicy(4, costs);
  ss.observe(degraded);
  assert.equal(Array.from(ss.counts()), [1, 0, 0, 0], 'splitee-s: only arm 1 (exits, fully observed)');
  assert.is(ss.means()[0], 0.875 - 0.125);
  const su = new SplitEESUPolicy(4, costs);
  su.observe(degraded);
  assert.equal(Array.from(su.counts()), [1, 1, 1, 0], 'splitee-su: C_j-only parts of arms 1..3');

  // An exit at arm 3 (C3 .875): arm 3 learns .875 − .375; side arm 2 (C2 .5 < α) would need C4 → skipped.
  const exit = obs(3, true, [0.75, 0.5, 0.875, undefined]);
  const s2 = new SplitEESPolicy(4, costs);
  s2.observe(exit);
  assert.equal(Array.from(s2.counts()), [1, 0, 1, 0]);
  const mm = s2.means();
  assert.is(mm[0], 0.75 - 0.125);
  assert.is(mm[2], 0.875 - 0.375);
  assert.ok(Number.isNaN(mm[1]) && Number.isNaN(mm[3]), 'arms without data have no estimate');
});

test('observation rules: an offload that reached the cloud feeds every side arm', () => {
  const costs = resolveCosts({ alpha: 0.75, lambda: 0.125, offloadCost: 0.25 }, 4);
  const s = new SplitEESPolicy(4, costs);
  s.observe(obs(3, false, [0.875, 0.5, 0.25, 0.625]));
  // arm3 offload: .625 − .375 − .25 = 0; arm1 exit .75; arm2 offload .625 − .25 − .25 = .125.
  assert.equal(Array.from(s.counts()), [1, 1, 1, 0]);
  assert.equal(Array.from(s.means()).slice(0, 3), [0.75, 0.125, 0]);
  // Arm L: everything seen.
  const f = new SplitEESPolicy(4, costs);
  f.observe(obs(4, true, [0.25, 0.875, 0.5, 0.625]));
  assert.equal(Array.from(f.means()), [0.625 - 0.125 - 0.25, 0.875 - 0.25, 0.625 - 0.375 - 0.25, 0.625 - 0.5]);
});

test('bad observations and options are typed errors', () => {
  const p = new SplitEEPolicy(3, COSTS);
  for (const bad of [obs(0, true, [1, 1, 1]), obs(4, true, [1, 1, 1]), obs(1.5, true, [1, 1, 1]), obs(1, true, [1, 1])]) {
    try { p.observe(bad); assert.unreachable('accepted ' + JSON.stringify(bad)); } catch (e) {
      assert.instance(e, PolicyError); assert.is((e as PolicyError).code, 'BAD_OBSERVATION');
    }
  }
  const cases: [() => unknown, string][] = [
    [() => new SplitEEPolicy(3, COSTS, { c: -1 }), 'BAD_OPTION'],
    [() => new SplitEEPolicy(3, { ...COSTS, alpha: 1.5 }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(3, { alpha: 0.5, offloadCost: 0.1 }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(3, { alpha: 0.5, offloadCost: -1, lambda: 0.1 }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(3, { alpha: 0.5, offloadCost: 0.1, lambda: 0 }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(3, { alpha: 0.5, offloadCost: 0.1, perLayerCosts: [1, 2] }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(3, { alpha: 0.5, offloadCost: 0.1, perLayerCosts: [1, NaN, 2] }), 'BAD_COSTS'],
    [() => new SplitEEPolicy(0, COSTS), 'BAD_DEPTH'],
    [() => new SplitEEPolicy(3, COSTS).chooseArm(-1), 'BAD_STEP'],
    [() => new SplitEESUPolicy(3, COSTS).chooseArm(NaN), 'BAD_STEP'],
    [() => createPolicy('fixed:4', { L: 3, costs: COSTS }), 'BAD_POLICY'],
    [() => createPolicy('fixed:0', { L: 3, costs: COSTS }), 'BAD_POLICY'],
    [() => createPolicy('ucb', { L: 3, costs: COSTS }), 'BAD_POLICY'],
    [() => createPolicy('oracle', { L: 3, costs: COSTS }), 'NEEDS_MATRIX'],
  ];
  for (const [f, code] of cases) {
    try { f(); assert.unreachable(`no error, expected ${code}`); } catch (e) {
      assert.instance(e, PolicyError); assert.is((e as PolicyError).code, code);
    }
  }
});

test('random is reproducible from its seed and covers every arm', () => {
  const a = new RandomPolicy(5, 42), b = new RandomPolicy(5, 42), c = new RandomPolicy(5, 43);
  const sa = Array.from({ length: 500 }, (_, t) => a.chooseArm(t));
  const sb = Array.from({ length: 500 }, (_, t) => b.chooseArm(t));
  const sc = Array.from({ length: 500 }, (_, t) => c.chooseArm(t));
  assert.equal(sa, sb);
  assert.not.equal(sa, sc);
  const counts = [0, 0, 0, 0, 0];
  for (const k of sa) counts[k - 1]++;
  for (const n of counts) assert.ok(n > 60 && n < 140, `arm frequency ${n} of 500`);
});

/** Plays arms from a seeded uniform draw, but lets `inner` learn: estimates under a known, sample-blind design. */
class Uniform implements SplitPolicy {
  readonly name = 'uniform';
  readonly exitRule = 'split' as const;
  private readonly r = rng(7);
  constructor(readonly inner: SplitPolicy) {}
  get L() { return this.inner.L; }
  get sideExits() { return this.inner.sideExits; }
  chooseArm() { return this.r.int(1, this.L + 1); }
  observe(o: Observation) { this.inner.observe(o); }
}

test('splitee-s is biased where it skips unobserved C_L; splitee-su is not', () => {
  // Easy samples (C = .5, .875, 1) and hard ones (C = .25, .5, .5), half each, α = .75. Arm 1 always offloads:
  // true mean = E C3 − .375 = .75 − .375 = .375. SplitEE-S learns arm 1 from plays at 2 only on hard samples (easy
  // ones exit at 2 and hide C3): (1/3·.375 + 1/6·.125 + 1/3·.375)/(5/6) = .325, 0.05 too low.
  const r = rng(3);
  const m = matrixFromSamples(Array.from({ length: 30000 }, () => (r.next() < 0.5
    ? { confidences: [0.5, 0.875, 1.0], predictions: [0, 0, 0], label: 0 }
    : { confidences: [0.25, 0.5, 0.5], predictions: [1, 1, 1], label: 0 })));
  const truth = Array.from(armRewardTotals(m, COSTS), (x) => x / m.n);
  const costs = resolveCosts(COSTS, 3);
  const s = new SplitEESPolicy(3, costs), su = new SplitEESUPolicy(3, costs);
  simulate(m, new Uniform(s), costs);
  simulate(m, new Uniform(su), costs);
  const es = s.means(), esu = su.means();
  assert.ok(truth[0] - es[0] > 0.04, `splitee-s arm-1 estimate ${es[0]} vs true ${truth[0]}: expected the bias`);
  assertClose(esu, truth, 0, 0.01, 'splitee-su estimates');
  // Arms 2 and L are learned from samples whose C_L visibility does not depend on the sample: both unbiased.
  assertClose(es.subarray(1), truth.slice(1), 0, 0.01, 'splitee-s arms 2, 3');
});

test('without side information splitee-su reduces to splitee exactly', () => {
  // Drive both with observations that reveal only C_arm (and C_L when it was reached): identical data per arm.
  const r = rng(11);
  const costs = resolveCosts({ alpha: 0.6, lambda: 0.07, offloadCost: 0.3 }, 5);
  const a = new SplitEEPolicy(5, costs), b = new SplitEESUPolicy(5, costs);
  for (let t = 0; t < 400; t++) {
    const ka = a.chooseArm(t), kb = b.chooseArm(t);
    assert.is(kb, ka, `t=${t}`);
    const c = Array.from({ length: 5 }, () => r.next());
    const seen: (number | undefined)[] = c.map((x, j) => (j === ka - 1 ? x : undefined));
    const exited = ka === 5 || c[ka - 1] >= 0.6;
    if (!exited || ka === 5) seen[4] = c[4];
    const o = obs(ka, exited, seen, { t });
    a.observe(o); b.observe(o);
  }
  assertClose(b.means(), a.means(), 1e-12, 1e-12, 'means');
});

test.run();
