// The engine end to end on small assembled models: every exit against the float64 reference, and splitting at every
// layer k (1..k on one model instance, k+1..L on another, as device and cloud do) gives exactly the 1..L result.
// The text model also comes with local attention (windows 1 and 2 in layers 1 and 2, global in layer 3).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EngineError, loadModelBytes, parseSpx, type Model } from '../src/index.js';
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
        const step = await device.device(input, k, (e) => e.confidence < 2);
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

test('device step reads the activation back only when asked', async () => {
  const m = await loadModelBytes(imageBytes);
  const step = await m.device(imageInputs(1, 3)[0], 2, () => false);
  assert.is(step.activation, undefined);
});

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
  await rejects(img.run(new Float32Array(10)), 'BAD_ACTIVATION');
  await rejects(img.run({ shape: [8, 13, 10], data: new Float32Array(8 * 13 * 10) }, { from: 2 }), 'BAD_ACTIVATION');
  await rejects(img.exit(2, { shape: [12, 3, 3], data: new Float32Array(108) }), 'BAD_ACTIVATION');
  await rejects(img.run(new Int32Array(3)), 'BAD_INPUT');
  await rejects(txt.run(new Int32Array(0)), 'BAD_INPUT');
  await rejects(txt.run(new Int32Array(10)), 'BAD_INPUT');
  await rejects(txt.run(Int32Array.of(1, 50)), 'BAD_INPUT');
  await rejects(txt.run(Int32Array.of(-1)), 'BAD_INPUT');
  await rejects(txt.finish(1, { shape: [10, 12], data: new Float32Array(120) }), 'BAD_ACTIVATION');
  await rejects(txt.finish(1, { shape: [4, 11], data: new Float32Array(44) }), 'BAD_ACTIVATION');
  // After errors the model still answers correctly.
  const a = await img.exits(x);
  const b = await (await loadModelBytes(imageBytes)).exits(x);
  a.forEach((e, k) => same(e.probs, b[k].probs, `exit ${k + 1} after errors`));
});

test('the model digest is the SHA-256 of the file', async () => {
  const m = await loadModelBytes(imageBytes);
  const { createHash } = await import('node:crypto');
  assert.is(m.digestHex, createHash('sha256').update(imageBytes).digest('hex'));
  const other = await loadModelBytes(tinyImageModel(7));
  assert.is.not(other.digestHex, m.digestHex);
});

test.run();
