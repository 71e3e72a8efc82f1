// Confidence matrices from real model runs (src/sim/confidence.ts) and `splitee matrix` (src/cli/matrix.ts), on
// small models built in code and a fake Fashion-MNIST folder, so no zoo model or real dataset is needed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModelBytes } from '../src/engine/model.js';
import type { ExitResult, ModelInput } from '../src/engine/types.js';
import { writeSpx, type Op } from '../src/format/index.js';
import { preprocessImage, type ImagePreprocess } from '../src/data/index.js';
import { buildMatrix, confidenceRows, exitAccuracies, type MultiExitModel } from '../src/sim/confidence.js';
import { formatMatrixCsv, parseMatrixCsv, MatrixError, matrixFromSamples } from '../src/sim/index.js';
import { command, checkModelFitsStream } from '../src/cli/matrix.js';
import { UsageError } from '../src/cli/args.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { randn, rng } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-matrix-'));

/** Fashion-MNIST-shaped model: [1, 28, 28] → 3 layers, 10 classes, non-trivial preprocess (mean/std like the zoo's). */
function fmnistShapedModel(seed = 7): Uint8Array {
  const r = rng(seed);
  const tensors: Record<string, { dtype: 'f32'; shape: number[]; data: Float32Array }> = {};
  const f32 = (name: string, shape: number[], scale: number) => {
    tensors[name] = { dtype: 'f32', shape, data: randn(r, shape.reduce((a, b) => a * b, 1), scale) };
    return name;
  };
  const gapExit = (l: number, ch: number): Op[] => [{ op: 'gap' }, { op: 'linear', w: f32(`e${l}.w`, [10, ch], 0.8), b: f32(`e${l}.b`, [10], 0.2) }];
  return writeSpx({
    format: 'splitee-model', name: 'fmnist-shaped', task: 'image-classification',
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    input: { kind: 'image', shape: [1, 28, 28] },
    preprocess: { kind: 'image', scale: 1 / 255, mean: [0.286], std: [0.353] },
    layers: [
      { name: 'c1', ops: [{ op: 'conv2d', w: f32('l1.w', [4, 1, 3, 3], 0.4), b: f32('l1.b', [4], 0.1), stride: 2, pad: 1, act: 'relu' }] },
      { name: 'c2', ops: [{ op: 'conv2d', w: f32('l2.w', [6, 4, 3, 3], 0.3), b: f32('l2.b', [6], 0.1), stride: 2, pad: 1, act: 'relu' }] },
      { name: 'fc', ops: [{ op: 'flatten' }, { op: 'linear', w: f32('l3.w', [12, 294], 0.1), b: f32('l3.b', [12], 0.1), act: 'gelu' }] },
    ],
    exits: [
      { layer: 1, ops: gapExit(1, 4) },
      { layer: 2, ops: gapExit(2, 6) },
      { layer: 3, ops: [{ op: 'linear', w: f32('e3.w', [10, 12], 0.8), b: f32('e3.b', [10], 0.2) }] },
    ],
  }, tensors);
}

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(out.buffer);
  out[2] = 8; out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** A datasets root holding an n-image Fashion-MNIST test split with random pixels and labels. */
function fakeFmnist(root: string, n: number, seed: number): { images: Uint8Array; labels: Uint8Array } {
  const r = rng(seed);
  const images = Uint8Array.from({ length: n * 784 }, () => r.int(0, 256));
  const labels = Uint8Array.from({ length: n }, () => r.int(0, 10));
  const dir = join(root, 'fashion-mnist');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([n, 28, 28], images)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([n], labels)));
  return { images, labels };
}

test('buildMatrix on the tiny image model: every confidence and prediction is exactly model.exits, labels copied', async () => {
  const model = await loadModelBytes(tinyImageModel(3));
  const r = rng(11);
  const samples = Array.from({ length: 13 }, () => ({ label: r.int(0, 5), input: Float32Array.from({ length: 3 * 13 * 11 }, () => r.next()) }));
  const progress: [number, number | undefined][] = [];
  const m = await buildMatrix(model, samples, (x) => x, { numClasses: 5, onProgress: (d, t) => progress.push([d, t]) });
  assert.is(m.L, 4); assert.is(m.n, 13); assert.is(m.numClasses, 5);
  assert.equal(progress.map((p) => p[0]), Array.from({ length: 13 }, (_, i) => i + 1));
  assert.ok(progress.every((p) => p[1] === 13));
  let distinctPreds = new Set<number>();
  for (let i = 0; i < samples.length; i++) {
    const exits = await model.exits(samples[i].input);
    for (let j = 0; j < 4; j++) {
      assert.is(m.conf[i * 4 + j], exits[j].confidence, `sample ${i} exit ${j + 1}`);
      assert.is(m.pred[i * 4 + j], exits[j].label);
      // The confidence is the max probability and the prediction its argmax, computed here independently.
      const probs = exits[j].probs;
      let best = 0;
      for (let c = 1; c < probs.length; c++) if (probs[c] > probs[best]) best = c;
      assert.is(exits[j].label, best);
      assert.is(exits[j].confidence, probs[best]);
      distinctPreds.add(exits[j].label);
    }
    assert.is(m.label[i], samples[i].label);
  }
  assert.ok(distinctPreds.size > 1, 'random weights should not predict one class for everything');
  // CSV round trip is bit-exact.
  const back = parseMatrixCsv(formatMatrixCsv(m), { numClasses: 5 });
  assert.equal(Array.from(back.conf), Array.from(m.conf));
  assert.equal(Array.from(back.pred), Array.from(m.pred));
  assert.equal(Array.from(back.label), Array.from(m.label));
  model.dispose();
});

test('confidenceRows on the tiny text model with its own encoder; limit; sequences of several lengths', async () => {
  const model = await loadModelBytes(tinyTextModel(5, 3));
  const encode = (s: string): ModelInput => Int32Array.from(s.slice(0, 9), (ch) => ch.charCodeAt(0) % 50);
  const r = rng(2);
  const words = ['a', 'good film', 'bad', 'not great at all', 'xyzzy', 'meh!', 'loved it so much', 'q'];
  const samples = words.map((w) => ({ label: r.int(0, 3), input: w }));
  const rows = [];
  for await (const row of confidenceRows(model, samples, encode, { limit: 6, numClasses: 3 })) rows.push(row);
  assert.is(rows.length, 6);
  for (const row of rows) {
    assert.is(row.line, row.i + 2);
    const exits = await model.exits(encode(words[row.i]));
    assert.equal(Array.from(row.confidences), exits.map((e) => e.confidence));
    assert.equal(Array.from(row.predictions), exits.map((e) => e.label));
    assert.is(row.label, samples[row.i].label);
  }
  // Async iterables work too (a stream read lazily).
  async function* gen() { for (const s of samples) yield s; }
  const m = await buildMatrix(model, gen(), encode, { numClasses: 3 });
  assert.is(m.n, words.length);
  assert.is(m.conf[5 * 3 + 2], rows[5].confidences[2]);
  model.dispose();
});

/** A stand-in model whose exits are given per call, to reach the error paths. */
function fakeModel(L: number, make: (call: number) => ExitResult[]): MultiExitModel {
  let call = 0;
  return { numLayers: L, exits: async () => make(call++) };
}
const ex = (confidence: number, label: number): ExitResult => ({ probs: new Float32Array(0), confidence, label });

test('bad model output or labels fail with a MatrixError naming the CSV line', async () => {
  const samples = [0, 1, 2].map((label) => ({ label, input: 0 }));
  const run = (model: MultiExitModel, numClasses?: number, s = samples) => buildMatrix(model, s, () => new Float32Array(1), { numClasses });
  const expectErr = async (p: Promise<unknown>, code: string, line: number) => {
    try { await p; assert.unreachable('should have thrown'); } catch (e) {
      assert.instance(e, MatrixError); assert.is((e as MatrixError).code, code); assert.is((e as MatrixError).line, line);
    }
  };
  await expectErr(run(fakeModel(2, (c) => [ex(0.5, 0), ex(c === 1 ? NaN : 0.9, 1)])), 'BAD_NUMBER', 3);
  await expectErr(run(fakeModel(2, (c) => (c === 2 ? [ex(0.5, 0)] : [ex(0.5, 0), ex(0.6, 1)]))), 'RAGGED', 4);
  await expectErr(run(fakeModel(2, () => [ex(0.5, 0), ex(1.5, 1)])), 'CONF_RANGE', 2);
  await expectErr(run(fakeModel(2, () => [ex(0.5, 0), ex(0.7, 1)]), 2), 'CLASS_RANGE', 4); // label 2 with 2 classes
  await expectErr(run(fakeModel(2, (c) => [ex(0.5, c === 1 ? 7 : 0), ex(0.7, 1)]), 3), 'CLASS_RANGE', 3);
  await expectErr(run(fakeModel(1, () => [ex(0.5, 0)]), undefined, [{ label: -1, input: 0 }]), 'BAD_INT', 2);
  await expectErr(run(fakeModel(1, () => [ex(0.5, 0)]), undefined, []), 'NO_ROWS', 2);
});

test('exitAccuracies: hand-computed', () => {
  const m = matrixFromSamples([
    { confidences: [0.5, 0.9], predictions: [1, 2], label: 2 },
    { confidences: [0.6, 0.8], predictions: [0, 0], label: 0 },
    { confidences: [0.7, 0.7], predictions: [1, 1], label: 2 },
    { confidences: [0.8, 0.6], predictions: [2, 2], label: 2 },
  ]);
  assert.equal(Array.from(exitAccuracies(m)), [0.5, 0.75]);
});

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try { return { code: await command.run(argv), out: lines.join('\n') }; } finally { console.log = log; }
}

async function usageError(argv: string[], pattern: RegExp): Promise<void> {
  try { await capture(argv); assert.unreachable(`should have failed: ${argv.join(' ')}`); } catch (e) {
    assert.instance(e, UsageError, String(e));
    assert.match((e as Error).message, pattern);
  }
}

test('splitee matrix: usage errors before any work', async () => {
  await usageError(['--model', 'nope', '--dataset', 'fmnist:test'], /--out is required/);
  await usageError(['--dataset', 'fmnist:test', '--out', join(tmp, 'x.csv')], /--model is required/);
  await usageError(['--model', 'nope', '--out', join(tmp, 'x.csv')], /--dataset is required/);
  await usageError(['--model', 'nope', '--dataset', 'mnist:test', '--out', join(tmp, 'x.csv')], /unknown --dataset 'mnist:test'.*fmnist:test.*kotzias:amazon/);
  await usageError(['--model', 'nope', '--dataset', 'fmnist:test', '--out', join(tmp, 'x.csv'), '--limit', '-1'], /--limit must be ≥ 1/);
  await usageError(['--model', 'nope', '--dataset', 'fmnist:test', '--out', join(tmp, 'x.csv'), '--backend', 'cuda'], /--backend/);
  await usageError(['--model', 'nope', '--dataset', 'fmnist:test', '--out', join(tmp, 'x.csv'), '--colour'], /unknown option --colour/);
  await usageError(['extra', '--model', 'm', '--dataset', 'fmnist:test', '--out', 'x.csv'], /unexpected argument 'extra'/);
  assert.not.ok(existsSync(join(tmp, 'x.csv')));
  const { code, out } = await capture(['--help']);
  assert.is(code, 0); assert.match(out, /usage: splitee matrix/); assert.match(out, /--out/);
});

test('checkModelFitsStream: input kind and class count', async () => {
  const img = await loadModelBytes(fmnistShapedModel());
  const txt = await loadModelBytes(tinyTextModel());
  const classes10 = Array.from({ length: 10 }, String);
  checkModelFitsStream(img, { kind: 'image', name: 'fmnist:test', classes: classes10 });
  assert.throws(() => checkModelFitsStream(img, { kind: 'text', name: 'sst2:dev', classes: ['n', 'p'] }), /takes images, but stream sst2:dev is text/);
  assert.throws(() => checkModelFitsStream(txt, { kind: 'image', name: 'fmnist:test', classes: ['a', 'b', 'c'] }), /takes text, but stream fmnist:test is images/);
  assert.throws(() => checkModelFitsStream(txt, { kind: 'text', name: 'sst2:dev', classes: ['n', 'p'] }), /3 classes, stream sst2:dev has 2/);
  img.dispose(); txt.dispose();
});

test('splitee matrix end to end on a fake Fashion-MNIST: CSV parses back and equals the model run', async () => {
  const root = join(tmp, 'data');
  const { images, labels } = fakeFmnist(root, 23, 4);
  const bytes = fmnistShapedModel();
  const modelPath = join(tmp, 'fm.spx');
  writeFileSync(modelPath, bytes);
  const out = join(tmp, 'sub', 'dir', 'm.csv');
  const { code, out: stdout } = await capture(['--model', modelPath, '--dataset', 'fmnist:test', '--data-dir', root, '--limit', '17', '--out', out]);
  assert.is(code, 0);
  const m = parseMatrixCsv(readFileSync(out, 'utf8'), { numClasses: 10 });
  assert.is(m.n, 17); assert.is(m.L, 3);
  const model = await loadModelBytes(bytes);
  const pre = model.header.preprocess as unknown as ImagePreprocess;
  const correct = [0, 0, 0];
  for (let i = 0; i < 17; i++) {
    // The stream's pixel: byte / 255 rounded to float32 (docs of src/data/streams.ts), then the model's preprocess.
    const pixels = Float32Array.from(images.subarray(i * 784, (i + 1) * 784), (b) => b / 255);
    const exits = await model.exits(preprocessImage(pixels, pre));
    for (let j = 0; j < 3; j++) {
      assert.is(m.conf[i * 3 + j], exits[j].confidence, `sample ${i} exit ${j + 1}`);
      assert.is(m.pred[i * 3 + j], exits[j].label);
      if (exits[j].label === labels[i]) correct[j]++;
    }
    assert.is(m.label[i], labels[i]);
  }
  const pct = (c: number) => `${(100 * c / 17).toFixed(2)} %`;
  assert.match(stdout, new RegExp(`17 samples × 3 exits`));
  assert.ok(stdout.includes(`accuracy exit 1 ${pct(correct[0])}, exit 3 ${pct(correct[2])}`), stdout);
  model.dispose();

  // A model that does not fit the stream is refused before a file is written.
  const textPath = join(tmp, 'txt.spx');
  writeFileSync(textPath, tinyTextModel());
  const out2 = join(tmp, 'never.csv');
  await usageError(['--model', textPath, '--dataset', 'fmnist:test', '--data-dir', root, '--out', out2], /takes text/);
  assert.not.ok(existsSync(out2));
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
