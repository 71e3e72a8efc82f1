// The engine end to end on small assembled models: every exit against the float64 reference, and splitting at every
// layer k (1..k on one model instance, k+1..L on another, as device and cloud do) gives exactly the 1..L result.
// The text model also comes with local attention (windows 1 and 2 in layers 1 and 2, global in layer 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EngineError, loadModelBytes, parseSpx, writeSpx, type Model, type Op } from '../src/index.js';
import { CodecError, decode, encode } from '../src/transport/codec.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { refForward } from './reference/model.js';
import { assertClose, randn, rng } from './util.js';

const imageBytes = tinyImageModel();
const textBytes = tinyTextModel();
const windowedBytes = tinyTextModel(2, 3, [1, 2, 0]);

function imageInputs(n: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => randn(r, 3 * 13 * 11));
}
function tokenInputs(n: number, seed: number): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => Int32Array.from({ length: 1 + (i % 9) }, () => r.int(0, 50)));
}

const same = (a: Float32Array, b: Float32Array, what: string) => {
  assert.is(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.unreachable(`${what}: element ${i} ${a[i]} ≠ ${b[i]}`);
};

for (const [kind, bytes, inputs] of [
  ['image', imageBytes, imageInputs(6, 11)],
  ['text', textBytes, tokenInputs(9, 12)],
  ['windowed text', windowedBytes, tokenInputs(9, 13)],
] as const) {
  test(`${kind}: every exit matches the float64 reference`, async () => {
    const m = await loadModelBytes(bytes);
    const file = parseSpx(bytes);
    for (const input of inputs) {
      const got = await m.exits(input);
      const want = refForward(file, input);
      assert.is(got.length, m.numLayers);
      got.forEach((e, k) => {
        assertClose(e.probs, want[k], 1e-5, 1e-6, `exit ${k + 1}`);
        let best = 0;
        for (let i = 1; i < want[k].length; i++) if (want[k][i] > want[k][best]) best = i;
        assert.is(e.label, best, `exit ${k + 1} label`);
        assert.ok(Math.abs(e.confidence - want[k][best]) < 1e-6, `exit ${k + 1} confidence`);
      });
    }
  });

  test(`${kind}: splitting at every layer gives exactly the unsplit result`, async () => {
    const device = await loadModelBytes(bytes);
    const cloud = await loadModelBytes(bytes);
    const L = device.numLayers;
    for (const input of inputs) {
      const whole = await device.run(input);
      const all = await device.exits(input);
      for (let k = 1; k <= L; k++) {
        const head = await device.run(input, { to: k });
        if (k < L) {
          const tail = await cloud.run(head, { from: k + 1 });
          assert.equal(tail.shape, whole.shape);
          same(tail.data, whole.data, `split at ${k}`);
        }
        const ek = await cloud.exit(k, head);
        same(ek.probs, all[k - 1].probs, `exit ${k} on a transferred activation`);
        const step = await device.runDevice(input, k, { offload: (e) => e.confidence < 2 });
        same(step.exit.probs, all[k - 1].probs, `device step exit ${k}`);
        same(step.activation!.data, head.data, `device step activation ${k}`);
        const fin = await cloud.finish(k, step.activation!);
        same(fin.probs, all[L - 1].probs, `cloud finish from ${k}`);
      }
    }
  });
}

test('windowed text model: the windows are in the file and change the result (same weights as the global model)', async () => {
  const file = parseSpx(windowedBytes);
  assert.equal(file.header.layers.map((l) => l.ops.find((o) => o.op === 'attention')).map((o) => o?.op === 'attention' && o.window), [1, 2, 0]);
  assert.ok(!new TextDecoder().decode(textBytes.subarray(16, 16 + new DataView(textBytes.buffer, textBytes.byteOffset).getUint32(8, true))).includes('window'));
  const windowed = await loadModelBytes(windowedBytes), global = await loadModelBytes(textBytes);
  // tokens 0 and 8 are 8 apart: beyond every window of layers 1–2, so the results must differ from global attention
  const input = Int32Array.of(3, 41, 7, 19, 0, 33, 12, 48, 25);
  const a = await windowed.exits(input), b = await global.exits(input);
  for (let k = 0; k < 3; k++) {
    assert.ok(a[k].probs.some((p, i) => Math.abs(p - b[k].probs[i]) > 1e-4), `exit ${k + 1} differs from the global model`);
  }
  // a single token sees only itself whatever the window: identical to the global model bit for bit
  const one = Int32Array.of(17);
  const c = await windowed.exits(one), d = await global.exits(one);
  for (let k = 0; k < 3; k++) assert.equal(Array.from(c[k].probs), Array.from(d[k].probs), `T = 1, exit ${k + 1}`);
});

test('runDevice reads the activation back only when asked, and asks about exit k only', async () => {
  const m = await loadModelBytes(imageBytes);
  const asked: number[] = [];
  const all = await m.exits(imageInputs(1, 3)[0]);
  for (const exits of ['split', 'every'] as const) {
    asked.length = 0;
    const run = await m.runDevice(imageInputs(1, 3)[0], 3, { exits, offload: (e) => { asked.push(e.confidence); return false; } });
    assert.is(run.activation, undefined);
    assert.is(run.encoded, undefined);
    assert.equal(asked, [all[2].confidence], `${exits}: offload asked once, with exit 3`);
  }
});

for (const [kind, bytes, inputs] of [
  ['image', imageBytes, imageInputs(4, 21)],
  ['text', textBytes, tokenInputs(5, 22)],
] as const) {
  test(`${kind}: runDevice with every exit equals exits() and run(), and stopAt ends the run there`, async () => {
    const m = await loadModelBytes(bytes);
    const L = m.numLayers;
    for (const input of inputs) {
      const all = await m.exits(input);
      for (let k = 1; k <= L; k++) {
        const head = await m.run(input, { to: k });
        const run = await m.runDevice(input, k, { exits: 'every', offload: () => true });
        assert.is(run.layer, k);
        same(run.exit.probs, all[k - 1].probs, `every, exit ${k}`);
        assert.equal(run.confidences, all.map((e, j) => (j < k ? e.confidence : undefined)), `every, confidences to ${k}`);
        assert.equal(run.activation!.shape, head.shape);
        same(run.activation!.data, head.data, `every, activation ${k}`);
        const split = await m.runDevice(input, k, { offload: () => false });
        assert.equal(split.confidences, all.map((e, j) => (j === k - 1 ? e.confidence : undefined)), `split, confidences ${k}`);
        for (let stop = 1; stop < k; stop++) {
          let offloadAsked = false;
          const c = await m.runDevice(input, k, { exits: 'every', stopAt: (j) => j === stop, offload: () => (offloadAsked = true) });
          assert.is(c.layer, stop);
          same(c.exit.probs, all[stop - 1].probs, `stop at ${stop}`);
          assert.equal(c.confidences, all.map((e, j) => (j < stop ? e.confidence : undefined)));
          assert.ok(!offloadAsked && c.activation === undefined && c.encoded === undefined, 'a stopped run offloads nothing');
        }
        // stopAt is never asked about k itself: the run then goes to the offload decision.
        const last = await m.runDevice(input, k, { exits: 'every', stopAt: (j) => j === k, offload: () => false });
        assert.is(last.layer, k);
      }
    }
  });

  test(`${kind}: int8 readback is quantized on the backend and decodes within one step of the codec's encoding`, async () => {
    const m = await loadModelBytes(bytes);
    for (const input of inputs) {
      for (let k = 1; k <= m.numLayers; k++) {
        const head = await m.run(input, { to: k });
        for (const exits of ['split', 'every'] as const) {
          const run = await m.runDevice(input, k, { exits, offload: () => true, readback: 'int8' });
          assert.is(run.activation, undefined);
          const enc = run.encoded!;
          const want = encode(head.data, head.shape, 'int8');
          assert.is(enc.dtype, 'int8');
          assert.equal(enc.shape, head.shape);
          assert.equal(enc.params, want.params, `k=${k}: the codec's own scale and zero point`);
          assert.is(enc.payload.length, head.data.length, 'one byte per value');
          const got = decode(enc), exp = decode(want);
          const step = (want.params as { scale: number }).scale;
          let differ = 0;
          for (let i = 0; i < got.length; i++) {
            if (Math.abs(got[i] - exp[i]) > step * (1 + 1e-6)) assert.unreachable(`k=${k} element ${i}: ${got[i]} vs ${exp[i]} (step ${step})`);
            if (got[i] !== exp[i]) differ++;
            // and within half a step (plus rounding) of the true value
            assert.ok(Math.abs(got[i] - head.data[i]) <= step * 0.5 * (1 + 1e-5), `k=${k} element ${i} off the true value`);
          }
          assert.ok(differ <= Math.max(1, got.length / 100), `k=${k}: ${differ} of ${got.length} values rounded differently`);
        }
      }
    }
  });
}

test('calls overlapping in time are serialized and stay correct', async () => {
  const m = await loadModelBytes(textBytes);
  const inputs = tokenInputs(6, 5);
  const sequential: Awaited<ReturnType<Model["exits"]>>[] = [];
  for (const x of inputs) sequential.push(await m.exits(x));
  const concurrent = await Promise.all(inputs.map((x) => m.exits(x)));
  concurrent.forEach((c, i) => c.forEach((e, k) => same(e.probs, sequential[i][k].probs, `sample ${i} exit ${k + 1}`)));
});

async function rejects(p: Promise<unknown>, code: string) {
  try { await p; } catch (e) {
    assert.instance(e, EngineError);
    assert.is((e as EngineError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected EngineError ${code}`);
}

test('bad ranges, shapes and tokens are typed errors', async () => {
  const img: Model = await loadModelBytes(imageBytes);
  const txt: Model = await loadModelBytes(textBytes);
  const x = imageInputs(1, 4)[0];
  await rejects(img.run(x, { from: 0 }), 'BAD_RANGE');
  await rejects(img.run(x, { to: 5 }), 'BAD_RANGE');
  await rejects(img.run(x, { from: 3, to: 2 }), 'BAD_RANGE');
  await rejects(img.run(new Float32Array(10)), 'BAD_INPUT'); // a model input of the wrong length
  await rejects(img.run({ shape: [8, 13, 10], data: new Float32Array(8 * 13 * 10) }, { from: 2 }), 'BAD_ACTIVATION');
  await rejects(img.exit(2, { shape: [12, 3, 3], data: new Float32Array(108) }), 'BAD_ACTIVATION');
  await rejects(img.run(new Int32Array(3)), 'BAD_INPUT');
  await rejects(txt.run(new Int32Array(0)), 'BAD_INPUT');
  await rejects(txt.run(new Int32Array(10)), 'BAD_INPUT');
  await rejects(txt.run(Int32Array.of(1, 50)), 'BAD_INPUT');
  await rejects(txt.run(Int32Array.of(-1)), 'BAD_INPUT');
  await rejects(txt.finish(1, { shape: [10, 12], data: new Float32Array(120) }), 'BAD_ACTIVATION');
  await rejects(txt.finish(1, { shape: [4, 11], data: new Float32Array(44) }), 'BAD_ACTIVATION');
  await rejects(img.runDevice(x, 0, { offload: () => true }), 'BAD_RANGE');
  await rejects(img.runDevice(x, 5, { offload: () => true }), 'BAD_RANGE');
  await rejects(img.runDevice(x, 2, undefined as never), 'BAD_INPUT');
  await rejects(img.runDevice(x, 2, { offload: () => true, readback: 'fp16' as never }), 'BAD_INPUT');
  // After errors the model still answers correctly.
  const a = await img.exits(x);
  const b = await (await loadModelBytes(imageBytes)).exits(x);
  a.forEach((e, k) => same(e.probs, b[k].probs, `exit ${k + 1} after errors`));
});

test('maxMemoryBytes: the plan says exactly what a model will take, and a model over the budget fails before allocating', async () => {
  for (const bytes of [imageBytes, textBytes, windowedBytes]) {
    const m = await loadModelBytes(bytes);
    assert.ok(m.memoryBytes > 0 && m.memoryBytes % 65536 === 0, `${m.memoryBytes} bytes of WASM memory`);
    const fits = await loadModelBytes(bytes, { maxMemoryBytes: m.memoryBytes });
    assert.is(fits.memoryBytes, m.memoryBytes, 'the planned size is the size it takes');
    await rejects(loadModelBytes(bytes, { maxMemoryBytes: m.memoryBytes - 1 }), 'TOO_LARGE');
    await rejects(loadModelBytes(bytes, { maxMemoryBytes: 1000 }), 'TOO_LARGE');
  }
  await rejects(loadModelBytes(imageBytes, { maxMemoryBytes: 0 }), 'BAD_INPUT');
  await rejects(loadModelBytes(imageBytes, { maxMemoryBytes: Number.NaN }), 'BAD_INPUT');
});

test('a small file whose declared shapes need more than a WASM memory holds is TOO_LARGE, at once', async () => {
  // 16384 × 16383 pixels (just under the format's 2^28 elements), and every elementwise op after a save needs a new
  // 1 GiB buffer: five of them are more than 4 GiB. The file itself is a few hundred bytes.
  const r = rng(77);
  const H = 16384, W = 16383;
  const layer: Op[] = [];
  for (const [i, act] of (['relu', 'relu6', 'gelu', 'relu', 'relu6'] as const).entries()) layer.push({ op: 'save', name: `s${i}` }, { op: act });
  const bytes = writeSpx({
    format: 'splitee-model', name: 'huge', task: 'image-classification', classes: ['a', 'b'],
    input: { kind: 'image', shape: [1, H, W] }, preprocess: { kind: 'image', scale: 1, mean: [0], std: [1] },
    layers: [{ name: 'l1', ops: layer }],
    exits: [{ layer: 1, ops: [{ op: 'gap' }, { op: 'linear', w: 'w' }] }],
  }, { w: { dtype: 'f32', shape: [2, 1], data: randn(r, 2) } });
  assert.ok(bytes.length < 2000);
  const before = process.memoryUsage().arrayBuffers;
  const t = performance.now();
  await rejects(loadModelBytes(bytes), 'TOO_LARGE');
  assert.ok(performance.now() - t < 5000, 'refused without touching gigabytes');
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20, 'nothing large was allocated');
});

test('int8 readback of an activation holding an infinity is a NON_FINITE codec error, as encode() would give', async () => {
  const bytes = writeSpx({
    format: 'splitee-model', name: 'overflow', task: 'image-classification', classes: ['a', 'b'],
    input: { kind: 'image', shape: [2, 1, 1] }, preprocess: { kind: 'image', scale: 1, mean: [0], std: [1] },
    layers: [{ name: 'l1', ops: [{ op: 'flatten' }, { op: 'linear', w: 'big' }] }],
    exits: [{ layer: 1, ops: [{ op: 'linear', w: 'e' }] }],
  }, {
    big: { dtype: 'f32', shape: [3, 2], data: Float32Array.of(3e38, 3e38, 1, -1, 0.5, 0.25) },
    e: { dtype: 'f32', shape: [2, 3], data: Float32Array.of(0, 1, 0, 0, 0, 1) },
  });
  const m = await loadModelBytes(bytes);
  const x = Float32Array.of(2, 3);
  const f32 = await m.runDevice(x, 1, { offload: () => true });
  assert.is(f32.activation!.data[0], Infinity);
  try {
    await m.runDevice(x, 1, { offload: () => true, readback: 'int8' });
    assert.unreachable('an infinite activation was quantized');
  } catch (e) {
    assert.instance(e, CodecError);
    assert.is((e as CodecError).code, 'NON_FINITE');
  }
  // The model is still usable afterwards.
  assert.is((await m.runDevice(x, 1, { offload: () => false })).layer, 1);
});

test('a runtime whose WebAssembly has no SIMD gets NO_SIMD at load, not a crash', async () => {
  const validate = WebAssembly.validate;
  // What a runtime without SIMD answers for the probe module (and would fail to compile the kernels with).
  (WebAssembly as { validate: typeof validate }).validate = () => false;
  try {
    await rejects(loadModelBytes(imageBytes), 'NO_SIMD');
  } finally {
    (WebAssembly as { validate: typeof validate }).validate = validate;
  }
  assert.ok((await loadModelBytes(imageBytes)).numLayers > 0, 'loads again once SIMD is there');
});

test('the model digest is the SHA-256 of the file', async () => {
  const m = await loadModelBytes(imageBytes);
  const { createHash } = await import('node:crypto');
  assert.is(m.digestHex, createHash('sha256').update(imageBytes).digest('hex'));
  const other = await loadModelBytes(tinyImageModel(7));
  assert.is.not(other.digestHex, m.digestHex);
});

test.run();
