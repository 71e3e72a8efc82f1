// bench/reproduce.ts: the α rule and the best fixed split by hand, the report rendered from synthetic matrices (no
// model needed), and the runner's cache and missing-model error on a small model with a fake Fashion-MNIST.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSpx, type Op } from '../src/format/index.js';
import { matrixFromSamples, parseMatrixCsv, type ConfidenceMatrix, type MatrixSample } from '../src/sim/index.js';
import {
  bestFixedArm, cacheCsv, chooseAlpha, float32Text, readCacheCsv, earlyExitAccuracy, headlineMiss, matrixFileName, meetsHeadline, MissingModelsError,
  regretPlotName, renderRegretSvg, renderReport, reproduce, runStreamExperiments, type StreamResult,
} from '../bench/reproduce.js';
import { randn, rng } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-reproduce-'));

// c = (C_1, C_2), p = (p_1, p_2); the last exit is always right.
const hand = matrixFromSamples([
  { confidences: [0.6, 0.9], predictions: [0, 1], label: 1 },
  { confidences: [0.8, 0.95], predictions: [1, 1], label: 1 },
  { confidences: [0.3, 0.7], predictions: [0, 0], label: 0 },
  { confidences: [0.9, 0.6], predictions: [2, 0], label: 0 },
]);

test('earlyExitAccuracy: hand-computed at every interval of α, ≥ at the boundary', () => {
  // α ≤ .3: all exit at 1 (right: samples 2, 3). (.3, .6]: 1, 2, 4 exit (only 2 right) + 3 at the last exit.
  // (.6, .8]: 2, 4 exit (2 right) + 1, 3 last. (.8, .9]: 4 exits (wrong). > .9: nobody exits.
  const expect: [number, number][] = [[0, 0.5], [0.3, 0.5], [0.31, 0.5], [0.6, 0.5], [0.61, 0.75], [0.8, 0.75], [0.85, 0.75], [0.9, 0.75], [0.91, 1], [Infinity, 1]];
  for (const [a, acc] of expect) assert.is(earlyExitAccuracy(hand, a), acc, `α = ${a}`);
});

test('chooseAlpha: smallest grid α within the tolerance of the last exit', () => {
  assert.equal(chooseAlpha(hand), { alpha: 0.91, earlyExitAccuracy: 1, finalAccuracy: 1, met: true });
  assert.equal(chooseAlpha(hand, 0.25), { alpha: 0.61, earlyExitAccuracy: 0.75, finalAccuracy: 1, met: true });
  assert.equal(chooseAlpha(hand, 0.5), { alpha: 0.01, earlyExitAccuracy: 0.5, finalAccuracy: 1, met: true });
  // A grid that never gets there: the largest value, flagged.
  assert.equal(chooseAlpha(hand, 0.01, [0.5, 0.7]), { alpha: 0.7, earlyExitAccuracy: 0.75, finalAccuracy: 1, met: false });
});

test('bestFixedArm: cheapest split within 2 points of the last layer, else the most accurate', () => {
  // α = .7, λ = .5, o = .25: fixed:1 offloads samples 1, 3 (right), exits 2 (right) and 4 (wrong): 3/4 → too lossy.
  assert.is(bestFixedArm(hand, { alpha: 0.7, offloadCost: 0.25, lambda: 0.5 }), 2);
  // α = .95: fixed:1 offloads everything: accuracy 1 at cost .75 < 1.
  assert.is(bestFixedArm(hand, { alpha: 0.95, offloadCost: 0.25, lambda: 0.5 }), 1);
  // o = .6: fixed:1 at α = .95 costs 1.1 > fixed:2's 1.
  assert.is(bestFixedArm(hand, { alpha: 0.95, offloadCost: 0.6, lambda: 0.5 }), 2);
});

test('meetsHeadline / headlineMiss: strict > 50 % and < 2 points', () => {
  assert.ok(meetsHeadline({ costReduction: 0.51, accuracyDrop: 0.019 }));
  assert.not.ok(meetsHeadline({ costReduction: 0.5, accuracyDrop: 0 }));
  assert.not.ok(meetsHeadline({ costReduction: 0.9, accuracyDrop: 0.02 }));
  assert.is(headlineMiss({ costReduction: 0.9, accuracyDrop: 0.001 }), '');
  assert.is(headlineMiss({ costReduction: 0.25, accuracyDrop: 0.03 }), 'cost reduction 25.0 % ≤ 50 % and accuracy drop 3.00 pt ≥ 2 pt');
});

/**
 * L = 4, 3 classes. 'easy': exit 1 is confident (≥ .9) and right on 99.5 % of samples. 'hard': exits 1..3 guess
 * (random class, confidence in [.34, .98]), only the last exit is right (confidence ≥ .99) — so α must sit above
 * every early confidence, every arm < L offloads, and the best the policies can do is split at 1 and offload.
 */
function synthetic(kind: 'easy' | 'hard', n: number, seed: number): ConfidenceMatrix {
  const r = rng(seed);
  const rows: MatrixSample[] = [];
  for (let i = 0; i < n; i++) {
    const label = r.int(0, 3);
    if (kind === 'easy') {
      const wrong = i % 200 === 0; // 3 of 600: exit 1 is 0.5 point below the last exit
      rows.push({ confidences: [0.9 + 0.09 * r.next(), 0.95, 0.97, 0.99], predictions: [wrong ? (label + 1) % 3 : label, label, label, label], label });
    } else {
      rows.push({
        confidences: [0.34 + 0.64 * r.next(), 0.34 + 0.64 * r.next(), 0.34 + 0.64 * r.next(), 0.99 + 0.01 * r.next()],
        predictions: [r.int(0, 3), r.int(0, 3), r.int(0, 3), label], label,
      });
    }
  }
  return matrixFromSamples(rows, { numClasses: 3 });
}

const cfg = { repeats: 3, seed: 5 };
let easy: StreamResult, hard: StreamResult;

test('runStreamExperiments: α, costs, every policy, regret curves', () => {
  easy = runStreamExperiments(synthetic('easy', 600, 1), { model: 'toy-model', stream: 'toy:easy', digest: 'ab'.repeat(32) }, cfg);
  hard = runStreamExperiments(synthetic('hard', 600, 2), { model: 'toy-model', stream: 'toy:hard', digest: 'cd'.repeat(32), splitBytes: [20_000, 10_000, 5_000] }, cfg);
  assert.is(easy.drift, undefined, 'no frame sizes, no bandwidth-drop experiment');
  for (const r of [easy, hard]) {
    assert.is(r.L, 4); assert.is(r.lambda, 0.25); assert.is(r.n, 600);
    assert.equal(r.settings.map((s) => s.offloadCost), [0.1, 0.25, 0.5]);
    for (const s of r.settings) {
      const names = s.rows.map((x) => x.policy);
      assert.equal(names.slice(0, 8), ['splitee', 'splitee-s', 'splitee-su', 'splitee-s-released', 'final', 'early-exit', 'random', 'oracle']);
      assert.is(names[8], `fixed:${s.bestFixedArm}`);
      const fin = s.rows.find((x) => x.policy === 'final')!.mean;
      assert.is(fin.cost, 1); assert.is(fin.costReduction, 0);
      assert.equal(s.regret.map((g) => g.policy), ['splitee', 'splitee-s', 'splitee-su']);
      for (const g of s.regret) assert.is(g.curve.length, 600);
      // The oracle is a fixed arm: its regret against itself is 0.
      assert.is(s.rows.find((x) => x.policy === 'oracle')!.finalRegret, 0);
    }
  }
  // Hard: early exits are right a third of the time, so α must clear every early confidence (all < .98): at .97,
  // about 4.6 % of samples exit early and two thirds of those are wrong (≈ 3 points).
  assert.is(hard.alpha.alpha, 0.98);
  // Easy: exit 1 alone is within 1 point, so the smallest α of the grid already qualifies.
  assert.is(easy.alpha.alpha, 0.01);
  // Every arm < L offloads on 'hard', and the last exit answers: splitting at 1 is the oracle at every o ≤ .5 (reward .99−.25−o > .99−1).
  for (const s of hard.settings) assert.is(s.oracleArm, 1);
  assert.equal(easy.exitAccuracy.slice(1), [1, 1, 1]);
});

test('bandwidth drop on the hard stream: offload at 1 before, everything on the device after; latencies by hand', () => {
  const d = hard.drift!;
  assert.ok(d);
  // 20 ms over 4 layers: μ = 1/20. Offload of a split at 1: 2 ms + 20 kB over 100 Mbit/s = 3.6 ms before, 120 + 160 ms after.
  assert.is(d.mu, 1 / 20);
  assert.ok(Math.abs(d.offloadMs.before[0] - 3.6) < 1e-12 && Math.abs(d.offloadMs.after[0] - 280) < 1e-12);
  // Hard: every arm < L offloads; before, arm 1 (5 + 3.6 ms) is best; after, only arm L avoids the slow link.
  assert.equal(d.phases.map((p) => p.bestArm), [1, 4]);
  assert.ok(Math.abs(d.phases[0].bestLatencyMs - 8.6) < 1e-9, `${d.phases[0].bestLatencyMs}`);
  assert.is(d.phases[1].bestLatencyMs, 20);
  const final = d.rows.find((r) => r.policy === 'final')!;
  assert.equal(final.phases.map((p) => p.latencyMs), [20, 20]);
  assert.equal(final.phases.map((p) => p.meanSplit), [4, 4]);
  // The learners end up deeper after the drop than before.
  for (const name of ['splitee', 'splitee-discounted', 'splitee-window']) {
    const r = d.rows.find((x) => x.policy === name)!;
    assert.ok(r.phases[1].meanSplit > r.phases[0].meanSplit + 1, `${name}: ${r.phases.map((p) => p.meanSplit)}`);
    assert.ok(r.regret > 0);
  }
  assert.equal(d.gamma.map((g) => g.value), [0.98, 0.99, 0.995, 0.998, 0.999, 1]);
  // γ = 1 is SplitEE: the same regret; c = 1 at the defaults is the row of the table.
  assert.is(d.gamma[5].regret, d.rows.find((x) => x.policy === 'splitee')!.regret);
  assert.equal(d.explore.map((e) => `${e.policy}/${e.c}`), ['splitee-discounted/1', 'splitee-discounted/0.5', 'splitee-discounted/0.25', 'splitee-window/1', 'splitee-window/0.5', 'splitee-window/0.25']);
  assert.is(d.explore[0].regret, d.rows.find((x) => x.policy === 'splitee-discounted')!.regret);
});

test('renderReport: headline verdicts, tables, plot links, summary in words', () => {
  const md = renderReport([easy, hard], { command: 'npm run reproduce -- --limit 600', limit: 600, skipped: [{ model: 'toy-model', stream: 'toy:none', reason: 'no data' }] });
  assert.match(md, /^# SplitEE reproduction\n/);
  assert.match(md, /Quick run: only the first 600 samples/);
  assert.match(md, /our choice, not the paper's rule/);
  assert.match(md, /toy-model on toy:none: no data/);
  const section = (title: string) => md.split(/^## /m).find((x) => x.startsWith(title))!;
  const head = section('Headline').split('\n').filter((l) => l.startsWith('| toy-model | toy:'));
  assert.is(head.length, 2);
  const cells = (line: string) => line.split('|').slice(7, -1).map((c) => c.trim());
  // Easy: the device answers almost everything at layer 1 (cost ≈ .25) with ≤ 1 point lost: ✓ everywhere.
  assert.equal(cells(head[0]).map((c) => c[0]), ['✓', '✓', '✓', '✓', '✓', '✓']);
  // Hard at o = .5: even the best split (1, offload all) costs .75 → 25 % reduction: ✗ for both policies.
  assert.equal(cells(head[1]).slice(4).map((c) => c[0]), ['✗', '✗']);
  assert.match(md, /\*\*toy-model on toy:hard\*\* \(α = 0\.98\): splitee [^\n]*misses[^\n]*o = 0\.5 \(cost reduction [0-9.]+ % ≤ 50 %; the oracle \(arm 1\) gets 25\.0 % \/ 0\.00 pt\)/);
  assert.match(md, /\*\*toy-model on toy:easy\*\* \(α = 0\.01\): splitee beats the headline at every offload cost/);
  // Exit 1 within 2 points of the last exit on 'easy' (99.5 % vs 100 %), not on 'hard' (a third right).
  assert.match(md, /\*\*toy-model on toy:easy\*\*[^\n]*Caveat: exit 1 alone is within 2 points of the last exit here \(99\.50 % vs 100\.00 %\)/);
  assert.not.match(md.split('\n').find((l) => l.startsWith('**toy-model on toy:hard**'))!, /Caveat/);
  assert.match(md, /Overall, SplitEE and SplitEE-S meet the paper's headline in \d+ of 12/);
  // One section and one table per (stream, o), each with every policy, and its plot linked.
  for (const r of [easy, hard]) {
    assert.ok(md.includes(`## toy-model on ${r.stream}`));
    for (const s of r.settings) {
      assert.ok(md.includes(`### o = ${s.offloadCost} (${s.factor} × λL)`));
      assert.ok(md.includes(`](${regretPlotName('toy-model', r.stream, s.factor)})`));
      assert.ok(md.includes(`| fixed:${s.bestFixedArm} (best fixed k) |`));
      assert.ok(md.includes(`| oracle (arm ${s.oracleArm}) |`));
    }
  }
  // Faithfulness: the share of the released SplitEE-S's side updates that used an unobserved C_L, per o, and both
  // warm-ups; the shares are the counts' ratio and lie in [0, 1].
  const faith = section('Faithfulness');
  assert.ok(faith, 'faithfulness section');
  for (const r of [easy, hard]) {
    const line = faith.split('\n').find((l) => l.startsWith(`| toy-model | ${r.stream} | ${r.alpha.alpha} |`))!;
    assert.ok(line, `unobserved-share row of ${r.stream}`);
    const shares = line.split('|').slice(4, -1).map((c) => c.trim());
    assert.is(shares.length, 3);
    r.released.unobserved.forEach((u, i) => {
      assert.ok(u.unobserved >= 0 && u.unobserved <= u.sideUpdates);
      assert.is(shares[i], `${(100 * (u.sideUpdates ? u.unobserved / u.sideUpdates : 0)).toFixed(1)} % of ${u.sideUpdates}`);
    });
    assert.equal(r.released.warmups.map((x) => `${x.policy}/${x.warmup}`),
      ['splitee/stream', 'splitee/replay', 'splitee-s/stream', 'splitee-s/replay', 'splitee-s-released/stream', 'splitee-s-released/replay']);
    // The stream-warm-up rows are the main table's numbers at the middle o (same orders, same seeds).
    const mid = r.settings[1].rows;
    for (const p of ['splitee', 'splitee-s', 'splitee-s-released']) {
      assert.is(r.released.warmups.find((x) => x.policy === p && x.warmup === 'stream')!.costReduction, mid.find((x) => x.policy === p)!.mean.costReduction, p);
    }
  }
  // The bandwidth drop: a section for the stream that has one, the sweep and the shipped defaults.
  const drop = section('A bandwidth drop');
  assert.ok(drop.includes('### toy-model on toy:hard'));
  assert.not.ok(drop.includes('### toy-model on toy:easy'));
  assert.match(drop, /\| best fixed per phase \| 8\.6 \(k = 1\) \|/);
  assert.match(drop, /Least regret: γ = [0-9.]+, τ = \d+\. Shipped defaults: γ = 0\.995, τ = 400\./);
  assert.is(regretPlotName('toy-model', 'toy:hard', 0.25), 'regret-toy-model-toy_hard-o0.25.svg');
  assert.is(matrixFileName('fmnist-cnn', 'fmnist:test:noise'), 'fmnist-cnn__fmnist_test_noise.csv');
  // Deterministic: same inputs, same text.
  assert.is(renderReport([easy, hard], { command: 'npm run reproduce -- --limit 600', limit: 600, skipped: [{ model: 'toy-model', stream: 'toy:none', reason: 'no data' }] }), md);
  const svg = renderRegretSvg(hard, hard.settings[2]);
  assert.match(svg, /^<svg/); assert.match(svg, /splitee-su/); assert.match(svg, /toy:hard/);
});

test('float32Text: shortest decimal that reads back as the same float32; cache CSV round trip is bit-exact', () => {
  const r = rng(21);
  for (let i = 0; i < 3000; i++) {
    // Uniform in [0, 1], tiny values and values next to 1 (where confidences pile up).
    const x = Math.fround(i % 3 === 0 ? r.next() : i % 3 === 1 ? r.next() * 1e-6 : 1 - r.next() * 1e-6);
    const s = float32Text(x)!;
    assert.ok(s !== undefined && Math.fround(Number(s)) === x, `${x} → ${s}`);
    const digits = s.replace(/e.*$/, '').replace(/^0\.0*|\./g, '').length;
    // One significant digit fewer never reads back.
    if (digits > 1) assert.is.not(Math.fround(Number(x.toPrecision(digits - 1))), x, `${x}: ${s} is not the shortest`);
  }
  assert.is(float32Text(1), '1'); assert.is(float32Text(0), '0'); assert.is(float32Text(0.5), '0.5');
  assert.is(float32Text(Math.fround(0.1)), '0.1');
  assert.is(float32Text(0.1), undefined); // a float64 that is no float32
  const rows: MatrixSample[] = Array.from({ length: 50 }, () => ({
    confidences: [Math.fround(r.next()), Math.fround(1 - r.next() * 1e-7), Math.fround(r.next() * 1e-9)],
    predictions: [r.int(0, 4), r.int(0, 4), r.int(0, 4)], label: r.int(0, 4),
  }));
  const m = matrixFromSamples(rows);
  const c = cacheCsv(m);
  assert.is(c.confidences, 'float32');
  const back = readCacheCsv(c.text, c.confidences);
  assert.equal(Array.from(back.conf), Array.from(m.conf));
  assert.equal(Array.from(back.pred), Array.from(m.pred)); assert.equal(Array.from(back.label), Array.from(m.label));
  // Without the float32 rounding on read, most values would differ: the rounding is what makes it exact.
  const raw = parseMatrixCsv(c.text);
  assert.ok(Array.from(raw.conf).filter((v, i) => v !== m.conf[i]).length > 50);
  // One float64 confidence: the whole file falls back to full precision, still exact.
  rows[7].confidences = [0.1, 0.2, 0.3];
  const m2 = matrixFromSamples(rows);
  const c2 = cacheCsv(m2);
  assert.is(c2.confidences, 'float64');
  assert.equal(Array.from(readCacheCsv(c2.text, c2.confidences).conf), Array.from(m2.conf));
});

// ---- the runner, on a small Fashion-MNIST-shaped model and a fake dataset folder ----

function fmnistShapedModel(seed: number): Uint8Array {
  const r = rng(seed);
  const tensors: Record<string, { dtype: 'f32'; shape: number[]; data: Float32Array }> = {};
  const f32 = (name: string, shape: number[], scale: number) => {
    tensors[name] = { dtype: 'f32', shape, data: randn(r, shape.reduce((a, b) => a * b, 1), scale) };
    return name;
  };
  const exit = (l: number, ch: number): Op[] => [{ op: 'gap' }, { op: 'linear', w: f32(`e${l}.w`, [10, ch], 0.8), b: f32(`e${l}.b`, [10], 0.2) }];
  return writeSpx({
    format: 'splitee-model', name: 'fm-small', task: 'image-classification', classes: Array.from({ length: 10 }, String),
    input: { kind: 'image', shape: [1, 28, 28] }, preprocess: { kind: 'image', scale: 1 / 255, mean: [0.286], std: [0.353] },
    layers: [
      { name: 'c1', ops: [{ op: 'conv2d', w: f32('l1.w', [4, 1, 3, 3], 0.4), b: f32('l1.b', [4], 0.1), stride: 2, pad: 1, act: 'relu' }] },
      { name: 'c2', ops: [{ op: 'conv2d', w: f32('l2.w', [6, 4, 3, 3], 0.3), b: f32('l2.b', [6], 0.1), stride: 2, pad: 1, act: 'relu' }] },
    ],
    exits: [{ layer: 1, ops: exit(1, 4) }, { layer: 2, ops: exit(2, 6) }],
  }, tensors);
}

function fakeFmnist(root: string, n: number, seed: number): void {
  const r = rng(seed);
  const idx = (dims: number[], data: Uint8Array) => {
    const out = new Uint8Array(4 + 4 * dims.length + data.length);
    const v = new DataView(out.buffer);
    out[2] = 8; out[3] = dims.length;
    dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
    out.set(data, 4 + 4 * dims.length);
    return out;
  };
  const dir = join(root, 'fashion-mnist');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([n, 28, 28], Uint8Array.from({ length: n * 784 }, () => r.int(0, 256)))));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([n], Uint8Array.from({ length: n }, () => r.int(0, 10)))));
}

test('reproduce(): builds, caches by model digest and limit, rebuilds for a new model; missing models named', async () => {
  const data = join(tmp, 'data');
  fakeFmnist(data, 40, 9);
  const modelPath = join(tmp, 'm.spx');
  writeFileSync(modelPath, fmnistShapedModel(1));
  const out = join(tmp, 'reports');
  const logs: string[] = [];
  const opts = { out, limit: 30, dataDir: data, repeats: 2, seed: 1, models: [modelPath], streams: ['fmnist:test', 'fmnist:test:blur'], log: (s: string) => logs.push(s) };
  const first = await reproduce(opts);
  assert.is(first.results.length, 2);
  assert.equal(first.results.map((r) => r.stream), ['fmnist:test', 'fmnist:test:blur']);
  const csv = join(out, 'matrices', 'fmnist-cnn__fmnist_test.csv');
  const m = parseMatrixCsv(readFileSync(csv, 'utf8'));
  assert.is(m.n, 30); assert.is(m.L, 2);
  const meta = JSON.parse(readFileSync(csv.replace(/\.csv$/, '.json'), 'utf8'));
  assert.is(meta.limit, 30); assert.is(meta.digest, first.results[0].digest); assert.is(meta.digest.length, 64);
  assert.is(meta.confidences, 'float32');
  assert.ok(logs.filter((l) => l.includes('built matrix')).length === 2);
  for (const r of first.results) for (const f of [0.1, 0.25, 0.5]) assert.ok(existsSync(join(out, regretPlotName('fmnist-cnn', r.stream, f))));
  const md = readFileSync(join(out, 'reproduce.md'), 'utf8');
  assert.is(md, first.report);
  assert.match(md, /fmnist-cnn on fmnist:test:blur/);

  // Same model and limit: cached, same report.
  logs.length = 0;
  const second = await reproduce(opts);
  assert.is(logs.filter((l) => l.includes('cached matrix')).length, 2);
  assert.is(second.report, first.report);
  // Another limit, or another model: rebuilt.
  logs.length = 0;
  await reproduce({ ...opts, limit: 25, streams: ['fmnist:test'] });
  assert.is(logs.filter((l) => l.includes('built matrix')).length, 1);
  writeFileSync(modelPath, fmnistShapedModel(2));
  logs.length = 0;
  const third = await reproduce({ ...opts, streams: ['fmnist:test'] });
  assert.is(logs.filter((l) => l.includes('built matrix')).length, 1);
  assert.is.not(third.results[0].digest, first.results[0].digest);

  // A missing dataset skips its stream (named in the report) instead of failing the whole run.
  const empty = join(tmp, 'empty');
  mkdirSync(empty);
  const partial = await reproduce({ ...opts, dataDir: empty, limit: 11 });
  assert.equal(partial.skipped.map((s) => s.stream), ['fmnist:test', 'fmnist:test:blur']);
  assert.is(partial.results.length, 0);
  assert.match(partial.report, /\*\*Not run:\*\*\n\* fmnist-cnn on fmnist:test: Fashion-MNIST not found/);

  try {
    await reproduce({ ...opts, models: [join(tmp, 'nope.spx')] });
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, MissingModelsError);
    assert.match((e as Error).message, /nope\.spx/);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
