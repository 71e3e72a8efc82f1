// The per-sample decision (src/policy/decision.ts) by hand, and its two drivers held to it: the simulator on a
// confidence matrix and the live runner on the real engine (tiny models, LocalCloudClient, f32 transport) take the
// same arm, answer with the same exit, pay the same cost and learn the same reward, sample for sample.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModelBytes, type Model } from '../src/index.js';
import { LocalCloudClient, RunError, runStream } from '../src/device/index.js';
import {
  createPolicy, deviceExits, emptyDecision, offloads, resolveCosts, settle, stopsAfter, walkDevice, type CostModel,
} from '../src/policy/index.js';
import { matrixFromSamples, simulate, type ConfidenceMatrix } from '../src/sim/index.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { randn, rng } from './util.js';

test('stopsAfter / offloads / walkDevice: split and cascade by hand', () => {
  // C = .3, .8, .6, .9 (L = 4), α = .7.
  const C = [0.3, 0.8, 0.6, 0.9];
  const conf = (j: number) => C[j - 1];
  const seen: (number | undefined)[] = new Array(4).fill(0.5);
  // Split, exit k only: stops at k, C_k alone revealed.
  assert.is(walkDevice('split', 'split', 3, 0.7, conf, seen), 3);
  assert.equal(seen, [undefined, undefined, 0.6, undefined]);
  assert.is(offloads(3, 4, 0.7, 3, 0.6), true);
  // Split with side exits: still stops at k (C_2 ≥ α does not stop a split), C_1..C_3 revealed.
  assert.is(walkDevice('split', 'every', 3, 0.7, conf, seen), 3);
  assert.equal(seen, [0.3, 0.8, 0.6, undefined]);
  // Cascade: stops at the first confident exit, 2, and does not offload from there.
  assert.is(walkDevice('cascade', 'every', 4, 0.7, conf, seen), 2);
  assert.equal(seen, [0.3, 0.8, undefined, undefined]);
  assert.is(offloads(4, 4, 0.7, 2, 0.8), false);
  assert.is(stopsAfter('cascade', 4, 0.7, 1, 0.3), false);
  assert.is(stopsAfter('split', 4, 0.7, 2, 0.99), false);
  assert.is(stopsAfter('split', 4, 0.7, 4, 0.1), true);
  // Arm L never offloads; a confident split exit never offloads; exactly α is confident.
  assert.is(offloads(4, 4, 0.7, 4, 0.1), false);
  assert.is(offloads(2, 4, 0.7, 2, 0.7), false);
  assert.is(offloads(2, 4, 0.7, 2, 0.6999), true);
  assert.is(deviceExits({ exitRule: 'cascade', sideExits: false }), 'every');
  assert.is(deviceExits({ exitRule: 'split', sideExits: true }), 'every');
  assert.is(deviceExits({ exitRule: 'split', sideExits: false }), 'split');
});

test('settle: answer, cost, observation and reward of every outcome, by hand', () => {
  const costs = resolveCosts({ alpha: 0.7, lambda: 0.125, offloadCost: 0.25 }, 4);
  // Exit on the device at k = 2 (C_2 = .8): cost 2λ = .25, reward .8 − .25.
  let d = settle(costs, 5, 2, 2, [undefined, 0.8, undefined, undefined], undefined);
  assert.equal([d.answerLayer, d.exited, d.offloaded, d.degraded, d.cost, d.confidence], [2, true, false, false, 0.25, 0.8]);
  assert.is(d.reward, 0.8 - 0.25);
  assert.is(d.earned, d.reward);
  assert.equal([d.observation.t, d.observation.arm, d.observation.exitLayer], [5, 2, 2]);
  // Offload at k = 1 (C_1 = .3), the cloud answers C_L = .95: cost λ + o, reward .95 − λ − o, C_L shown.
  const seen = [0.3, undefined, undefined, undefined];
  d = settle(costs, 6, 1, 1, seen, 0.95);
  assert.equal([d.answerLayer, d.exited, d.offloaded, d.degraded, d.cost, d.confidence], [4, false, true, false, 0.125 + 0.25, 0.95]);
  assert.is(d.reward, 0.95 - 0.125 - 0.25);
  assert.equal(d.observation.confidences, [0.3, undefined, undefined, 0.95]);
  assert.is(d.observation.exitLayer, undefined);
  // The same offload, the cloud failed: the device's exit 1 answers, the offload is paid, nothing to learn.
  d = settle(costs, 7, 1, 1, [0.3, undefined, undefined, undefined], null);
  assert.equal([d.answerLayer, d.exited, d.offloaded, d.degraded, d.cost, d.confidence], [1, false, true, true, 0.375, 0.3]);
  assert.is(d.reward, undefined);
  assert.is(d.earned, 0.3 - 0.125 - 0.25);
  assert.is(d.observation.degraded, true);
  // Cascade exit at 2 while playing arm 4: cost γ_2, not γ_4.
  d = settle(costs, 8, 4, 2, [0.3, 0.8, undefined, undefined], undefined);
  assert.equal([d.answerLayer, d.exited, d.cost], [2, true, 0.25]);
  // Arm L: answered on the device at L whatever its confidence.
  d = settle(costs, 9, 4, 4, [undefined, undefined, undefined, 0.2], undefined, emptyDecision(4));
  assert.equal([d.answerLayer, d.exited, d.offloaded, d.cost], [4, true, false, 0.5]);
  assert.is(d.reward, 0.2 - 0.5);
});

/** Every exit of every input on the engine, as a matrix (labels drawn at random: accuracy must agree too). */
async function engineMatrix(model: Model, inputs: (Float32Array | Int32Array)[], seed: number): Promise<ConfidenceMatrix> {
  const r = rng(seed);
  const classes = model.classes.length;
  const rows = [];
  for (const x of inputs) {
    const ex = await model.exits(x);
    rows.push({ confidences: ex.map((e) => e.confidence), predictions: ex.map((e) => e.label), label: r.int(0, classes) });
  }
  return matrixFromSamples(rows, { numClasses: classes });
}

/** The median of every confidence of the matrix, so that exits and offloads both happen. */
function medianConfidence(m: ConfidenceMatrix): number {
  const all = Array.from(m.conf).sort((a, b) => a - b);
  return all[Math.floor(all.length / 2)];
}

const POLICIES = ['splitee', 'splitee-s', 'splitee-su', 'splitee-costaware', 'early-exit', 'random', 'fixed:1', 'fixed:2', 'final'];

for (const [kind, make, input] of [
  ['image', tinyImageModel, (r: ReturnType<typeof rng>) => randn(r, 3 * 13 * 11, 1.5)],
  ['token', tinyTextModel, (r: ReturnType<typeof rng>) => Int32Array.from({ length: 1 + r.int(0, 9) }, () => r.int(0, 50))],
] as const) {
  test(`simulator and live runner (${kind} model, LocalCloudClient): same arm, answer, cost and reward per sample`, async () => {
    const model = await loadModelBytes(make(3));
    try {
      const r = rng(kind.length * 11);
      const inputs = Array.from({ length: 48 }, () => input(r));
      const m = await engineMatrix(model, inputs, 99);
      const L = m.L;
      const costs: CostModel = { alpha: medianConfidence(m), lambda: 0.1, offloadCost: 0.15 };
      let offloadsSeen = 0, exitsSeen = 0;
      for (const name of POLICIES) {
        const sim = simulate(m, createPolicy(name, { L, costs, seed: 4 }), costs, { record: true });
        const res = await runStream({
          model, samples: inputs.map((x, i) => ({ input: x, label: m.label[i] })), policy: createPolicy(name, { L, costs, seed: 4 }),
          costs, cloud: new LocalCloudClient(model), dtype: 'f32',
        });
        assert.is(res.records.length, m.n);
        for (const rec of res.records) {
          const t = rec.t, at = `${name} t=${t}`;
          assert.is(rec.arm, sim.arms![t], `${at}: arm`);
          assert.is(rec.answerLayer, sim.answerLayers![t], `${at}: answering exit`);
          assert.is(rec.cost, sim.stepCosts![t], `${at}: cost`);
          assert.is(rec.reward, sim.rewards![t], `${at}: reward`);
          assert.is(rec.prediction, m.pred[t * L + rec.answerLayer - 1], `${at}: prediction`);
          assert.is(rec.degraded, false);
          if (rec.offloaded) offloadsSeen++; else if (rec.answerLayer < L) exitsSeen++;
        }
        assert.is(res.summary.accuracy, sim.correct / m.n, `${name}: accuracy`);
        assert.equal(res.armCounts, Array.from(sim.armCounts), `${name}: arm counts`);
      }
      assert.ok(offloadsSeen > 20 && exitsSeen > 20, `both branches exercised (${offloadsSeen} offloads, ${exitsSeen} early exits)`);
    } finally {
      model.dispose();
    }
  });
}

test('a simulation-only policy (splitee-s-released) is refused by the live runner with a typed error', async () => {
  const model = await loadModelBytes(tinyImageModel(1));
  try {
    const costs: CostModel = { alpha: 0.5, lambda: 0.1, offloadCost: 0.1 };
    const policy = createPolicy('splitee-s-released', { L: model.numLayers, costs });
    await runStream({ model, samples: [{ input: randn(rng(1), 3 * 13 * 11) }], policy, costs, cloud: new LocalCloudClient(model) })
      .then(() => assert.unreachable('must refuse'), (e) => {
        assert.instance(e, RunError);
        assert.is((e as RunError).code, 'SIMULATION_ONLY');
      });
  } finally {
    model.dispose();
  }
});

test.run();
