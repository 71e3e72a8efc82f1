// The TensorFlow.js WASM peer of the bench (bench/tfjs-model.ts) computes what splitee computes: every exit's
// probabilities, of the whole model and of every device segment 1..k + exit k, within 1e-4 of splitee's on random
// inputs — for fmnist-cnn and for small models that use the ops the zoo does not (grouped conv, padded pools,
// flatten, GELU, seqmean, local attention, sequences shorter than the window). A peer built from other weights must
// fail the same check, so the check can fail.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import { loadModelBytes, writeSpx, type Model } from '../src/index.js';
import { buildTfjsPeer, initTfjsWasm, tfjsParity, TfjsPeerError, TFJS_PARITY_TOLERANCE } from '../bench/tfjs-model.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { randn, rng } from './util.js';

const ROOT = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');

function randomInput(m: Model, r: ReturnType<typeof rng>, T?: number): Float32Array | Int32Array {
  const h = m.header;
  if (h.input.kind === 'image') return randn(r, h.input.shape.reduce((a, b) => a * b, 1), 1);
  const { maxLen, vocabSize } = h.input;
  return Int32Array.from({ length: T ?? maxLen }, () => r.int(0, vocabSize));
}

/** Image model with the ops the zoo lacks: conv with 2 channels per group + GELU, padded avg and max pools, flatten. */
function oddOpsModel(): Uint8Array {
  const r = rng(77);
  const tensors: Parameters<typeof writeSpx>[1] = {};
  const t = (name: string, shape: number[], scale: number) => {
    tensors[name] = { dtype: 'f32', shape, data: randn(r, shape.reduce((a, b) => a * b, 1), scale) };
    return name;
  };
  return writeSpx({
    format: 'splitee-model', name: 'odd-ops', task: 'image-classification', classes: ['a', 'b', 'c'],
    input: { kind: 'image', shape: [4, 9, 7] },
    preprocess: { kind: 'image', scale: 1, mean: [0], std: [1] },
    layers: [
      { name: 'grouped', ops: [{ op: 'conv2d', w: t('g.w', [6, 2, 3, 3], 0.4), b: t('g.b', [6], 0.1), stride: 2, pad: 1, groups: 2, act: 'gelu' }] },
      { name: 'pools', ops: [{ op: 'avgpool2d', k: 3, stride: 1, pad: 1 }, { op: 'maxpool2d', k: 2, stride: 2, pad: 1 }] },
      { name: 'mlp', ops: [{ op: 'flatten' }, { op: 'linear', w: t('m.w', [10, 54], 0.3), b: t('m.b', [10], 0.1), act: 'relu6' }] },
    ],
    exits: [
      { layer: 1, ops: [{ op: 'gap' }, { op: 'linear', w: t('e1.w', [3, 6], 0.6), b: t('e1.b', [3], 0.1) }] },
      { layer: 2, ops: [{ op: 'flatten' }, { op: 'linear', w: t('e2.w', [3, 54], 0.3), b: t('e2.b', [3], 0.1) }] },
      { layer: 3, ops: [{ op: 'linear', w: t('e3.w', [3, 10], 0.6), b: t('e3.b', [3], 0.1) }] },
    ],
  }, tensors);
}

async function checkParity(bytes: Uint8Array, inputs: (m: Model) => (Float32Array | Int32Array)[]) {
  const m = await loadModelBytes(bytes, { backend: 'wasm' });
  const tensorsBefore = tf.memory().numTensors;
  const peer = buildTfjsPeer(m.file);
  let tensorsBuilt = -1;
  try {
    tensorsBuilt = tf.memory().numTensors;
    const xs = inputs(m);
    for (const x of xs) {
      const p = await tfjsParity(m, peer, x);
      assert.is(p.segments.length, m.numLayers);
      assert.ok(p.ok, `${m.name} (input length ${x.length}): max |Δprob| ${p.max} > ${TFJS_PARITY_TOLERANCE} (whole ${p.whole}, segments ${p.segments.join(', ')})`);
      // The exits must be real distributions, not both sides agreeing on garbage.
      const probs = peer.exits(x);
      assert.is(probs.length, m.numLayers);
      for (const pr of probs) {
        assert.is(pr.length, m.header.classes.length);
        assert.ok(Math.abs(pr.reduce((a, b) => a + b, 0) - 1) < 1e-5);
      }
    }
    // A run keeps nothing but the attention masks it caches per sequence length.
    const masks = m.header.layers.flatMap((l) => l.ops).filter((op) => op.op === 'attention' && (op.window ?? 0) > 0).length;
    assert.ok(tf.memory().numTensors - tensorsBuilt <= masks * xs.length, `runs leaked ${tf.memory().numTensors - tensorsBuilt} tensors`);
  } finally {
    peer.dispose();
    m.dispose();
  }
  assert.is(tf.memory().numTensors, tensorsBefore, 'dispose() left tensors behind');
}

test('TensorFlow.js runs its WASM SIMD build on one thread', async () => {
  const info = await initTfjsWasm();
  assert.is(info.backend, 'wasm');
  assert.ok(info.simd);
  assert.is(info.threads, 1);
  assert.is(info.binary, 'tfjs-backend-wasm-simd.wasm');
});

test('fmnist-cnn: every exit of the whole model and of every segment within 1e-4 of splitee', async () => {
  const path = join(ROOT, 'models', 'fmnist-cnn', 'fmnist-cnn.spx');
  assert.ok(existsSync(path), `the zoo model is missing: ${path}`);
  const r = rng(1801);
  await checkParity(new Uint8Array(readFileSync(path)), (m) => [randomInput(m, r), randomInput(m, r)]);
});

test('tiny models and the odd ops: parity at several inputs and sequence lengths', async () => {
  const r = rng(1802);
  await checkParity(tinyImageModel(), (m) => [randomInput(m, r), randomInput(m, r)]);
  await checkParity(oddOpsModel(), (m) => [randomInput(m, r), randomInput(m, r)]);
  // Windows 1 and 3 mask at T = 9; at T = 2 and T = 1 every key is within every window.
  await checkParity(tinyTextModel(2, 3, [1, 0, 3]), (m) => [9, 5, 2, 1].map((T) => randomInput(m, r, T)));
});

test('a peer with other weights fails the parity check', async () => {
  const m = await loadModelBytes(tinyImageModel(1));
  const other = await loadModelBytes(tinyImageModel(5));
  const peer = buildTfjsPeer(other.file);
  try {
    const p = await tfjsParity(m, peer, randomInput(m, rng(3)));
    assert.not.ok(p.ok);
    assert.ok(p.max > 1e-3, `weights from another seed gave max |Δprob| ${p.max}`);
  } finally {
    peer.dispose(); m.dispose(); other.dispose();
  }
});

test('bad inputs and split layers are typed errors', async () => {
  const m = await loadModelBytes(tinyTextModel());
  const peer = buildTfjsPeer(m.file);
  const isPeerError = (code: string) => (e: unknown) => e instanceof TfjsPeerError && e.code === code;
  try {
    assert.throws(() => peer.device(Int32Array.of(1, 2), 0), isPeerError('TFJS_INPUT'));
    assert.throws(() => peer.device(Int32Array.of(1, 2), m.numLayers + 1), isPeerError('TFJS_INPUT'));
    assert.throws(() => peer.exits(new Int32Array(0)), isPeerError('TFJS_INPUT'));
    assert.throws(() => peer.exits(new Int32Array(10)), isPeerError('TFJS_INPUT')); // maxLen is 9
    assert.throws(() => peer.exits(new Float32Array(3)), isPeerError('TFJS_INPUT'));
  } finally {
    peer.dispose();
    m.dispose();
  }
  assert.throws(() => peer.exits(Int32Array.of(1)), isPeerError('TFJS_MODEL'));
});

test.run();
