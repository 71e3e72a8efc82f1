// The int8 path on whole models: the zoo's fmnist-cnn (f32 weights, quantized per output channel at load) and
// sst2-transformer (int8 weights used as stored) with precision 'int8' against the default f32 path, on every exit
// of the embedded demo samples (1,000 Fashion-MNIST test images, the 872 SST-2 dev sentences): per-exit accuracy
// moves by at most 0.3 points; and the load options, memory, layer ranges and the device half under int8.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { demoSampleFile, demoSamples } from '../src/data/samples.js';
import { createInputEncoder, EngineError, loadModelBytes, type ModelInput } from '../src/index.js';
import { decode, encode } from '../src/transport/codec.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODELS = ['fmnist-cnn', 'sst2-transformer'] as const;
/** The largest change of any exit's accuracy on a stream that the int8 path may make (percentage points). */
const MAX_ACCURACY_POINTS = 0.3;

const modelBytes = (name: string) => new Uint8Array(readFileSync(join(ROOT, 'models', name, `${name}.spx`)));

async function samples(name: string): Promise<{ inputs: ModelInput[]; labels: number[] }> {
  const stream = await demoSamples(name, new Uint8Array(readFileSync(join(ROOT, demoSampleFile(name)))));
  const header = (await loadModelBytes(modelBytes(name))).header;
  const encode = createInputEncoder(header);
  return { inputs: stream.samples.map((s) => encode(s.input as Float32Array | string)), labels: stream.samples.map((s) => s.label) };
}

async function rejects(p: Promise<unknown>, code: string, what: string) {
  try { await p; } catch (e) {
    assert.instance(e, EngineError, `${what}: ${(e as Error).message}`);
    assert.is((e as EngineError).code, code, `${what}: ${(e as Error).message}`);
    return;
  }
  assert.unreachable(`${what}: resolved, expected EngineError ${code}`);
}

for (const name of MODELS) {
  test(`${name}: int8 vs f32 on every exit of the demo samples (accuracy within ${MAX_ACCURACY_POINTS} points)`, async () => {
    const { inputs, labels } = await samples(name);
    assert.ok(inputs.length >= 800, `${name}: only ${inputs.length} demo samples`);
    const f32 = await loadModelBytes(modelBytes(name));
    const q8 = await loadModelBytes(modelBytes(name), { precision: 'int8' });
    try {
      const L = f32.numLayers;
      const correct32 = new Array(L).fill(0), correct8 = new Array(L).fill(0), agree = new Array(L).fill(0);
      const maxDp = new Array(L).fill(0);
      for (let i = 0; i < inputs.length; i++) {
        const a = await f32.exits(inputs[i]), b = await q8.exits(inputs[i]);
        for (let k = 0; k < L; k++) {
          if (a[k].label === labels[i]) correct32[k]++;
          if (b[k].label === labels[i]) correct8[k]++;
          if (a[k].label === b[k].label) agree[k]++;
          for (let c = 0; c < a[k].probs.length; c++) maxDp[k] = Math.max(maxDp[k], Math.abs(a[k].probs[c] - b[k].probs[c]));
          assert.ok(b[k].probs.every(Number.isFinite), `sample ${i} exit ${k + 1}: non-finite int8 probabilities`);
        }
      }
      const n = inputs.length;
      const pts = (c: number) => (100 * c) / n;
      const rows = correct32.map((_, k) => ({
        exit: k + 1, f32: pts(correct32[k]), int8: pts(correct8[k]), diff: pts(correct8[k] - correct32[k]),
        agree: pts(agree[k]), maxDp: maxDp[k],
      }));
      console.log(`  ${name} (${n} samples): exit, accuracy f32 → int8 (points), label agreement, max |Δp|`);
      for (const r of rows) {
        console.log(`    exit ${r.exit}: ${r.f32.toFixed(2)} → ${r.int8.toFixed(2)} (${r.diff >= 0 ? '+' : ''}${r.diff.toFixed(2)}), agree ${r.agree.toFixed(2)} %, max |Δp| ${r.maxDp.toExponential(2)}`);
      }
      const over = rows.filter((r) => Math.abs(r.diff) > MAX_ACCURACY_POINTS + 1e-9);
      assert.equal(over.map((r) => `exit ${r.exit}: ${r.diff.toFixed(2)} points`), [], `${name}: accuracy moved more than ${MAX_ACCURACY_POINTS} points`);
      // int8 changes the answers a little, not a lot: most labels agree on every exit (a broken path would not)
      for (const r of rows) assert.ok(r.agree >= 97, `${name} exit ${r.exit}: only ${r.agree.toFixed(2)} % of labels agree with f32`);
    } finally {
      f32.dispose();
      q8.dispose();
    }
  });
}

test('sst2-transformer: int8 weights stay int8 (memoryBytes smaller than with f32)', async () => {
  const f32 = await loadModelBytes(modelBytes('sst2-transformer'));
  const q8 = await loadModelBytes(modelBytes('sst2-transformer'), { precision: 'int8' });
  try {
    console.log(`  sst2-transformer memoryBytes: f32 ${f32.memoryBytes}, int8 ${q8.memoryBytes}`);
    // 0.44 MiB of int8 weights vs 1.76 MiB widened to f32: at least 1 MiB less
    assert.ok(q8.memoryBytes + 2 ** 20 <= f32.memoryBytes, `int8 ${q8.memoryBytes} bytes vs f32 ${f32.memoryBytes}`);
  } finally {
    f32.dispose();
    q8.dispose();
  }
});

test('maxMemoryBytes in int8: the planned size is exactly what the model takes; one byte less is TOO_LARGE', async () => {
  const files: [string, Uint8Array][] = [
    ...MODELS.map((n): [string, Uint8Array] => [n, modelBytes(n)]),
    ['tiny-image', tinyImageModel()], ['tiny-text', tinyTextModel()], ['tiny-text windowed', tinyTextModel(2, 3, [1, 2, 0])],
  ];
  for (const [what, bytes] of files) {
    const m = await loadModelBytes(bytes, { precision: 'int8' });
    const planned = m.memoryBytes;
    m.dispose();
    const fits = await loadModelBytes(bytes, { precision: 'int8', maxMemoryBytes: planned });
    assert.is(fits.memoryBytes, planned, `${what}: the planned size is the size it takes`);
    fits.dispose();
    await rejects(loadModelBytes(bytes, { precision: 'int8', maxMemoryBytes: planned - 1 }), 'TOO_LARGE', `${what} one byte under`);
  }
});

test('precision: int8 is WASM only; anything but f32 and int8 is BAD_INPUT', async () => {
  const bytes = modelBytes('fmnist-cnn');
  await rejects(loadModelBytes(bytes, { backend: 'webgpu', precision: 'int8' }), 'BAD_INPUT', "webgpu + 'int8'");
  for (const bad of ['fp16', 'INT8', 'int4', '', 8, {}]) {
    await rejects(loadModelBytes(bytes, { precision: bad as never }), 'BAD_INPUT', `precision ${JSON.stringify(bad)}`);
  }
  // 'auto' with int8 is the WASM backend; precision 'f32' and no precision are the same model
  const auto = await loadModelBytes(bytes, { backend: 'auto', precision: 'int8' });
  assert.is(auto.backendName, 'wasm');
  auto.dispose();
});

for (const name of MODELS) {
  test(`${name} int8: run(1..k) then run(k+1..L) equals run(1..L); the device half with int8 readback`, async () => {
    const { inputs } = await samples(name);
    const m = await loadModelBytes(modelBytes(name), { precision: 'int8' });
    try {
      const L = m.numLayers;
      for (const x of inputs.slice(0, 3)) {
        const whole = await m.run(x);
        const all = await m.exits(x);
        for (let k = 1; k < L; k++) {
          const head = await m.run(x, { to: k });
          const tail = await m.run(head, { from: k + 1 });
          assert.equal(tail.shape, whole.shape);
          assert.ok(tail.data.every((v, i) => Object.is(v, whole.data[i])), `k=${k}: split run differs from the whole run`);
          // the cloud half on the activation equals the device's own exit L
          const fin = await m.finish(k, head);
          assert.equal(Array.from(fin.probs), Array.from(all[L - 1].probs), `finish(${k})`);
        }
        for (let k = 1; k <= L; k++) {
          const head = await m.run(x, { to: k });
          const every = await m.runDevice(x, k, { exits: 'every', offload: () => false });
          assert.equal(every.confidences, all.map((e, j) => (j < k ? e.confidence : undefined)), `runDevice every, confidences to ${k}`);
          const run = await m.runDevice(x, k, { offload: () => true, readback: 'int8' });
          assert.equal(Array.from(run.exit.probs), Array.from(all[k - 1].probs), `runDevice exit ${k}`);
          const enc = run.encoded!;
          assert.ok(enc && run.activation === undefined, `k=${k}: int8 readback gives the encoding only`);
          const want = encode(head.data, head.shape, 'int8');
          assert.equal(enc.shape, head.shape);
          assert.equal(enc.params, want.params, `k=${k}: the codec's own scale and zero point`);
          const got = decode(enc);
          const step = (want.params as { scale: number }).scale;
          for (let i = 0; i < got.length; i++) {
            assert.ok(Math.abs(got[i] - head.data[i]) <= step * 0.5 * (1 + 1e-5), `k=${k} element ${i}: ${got[i]} vs ${head.data[i]} (step ${step})`);
          }
        }
      }
    } finally {
      m.dispose();
    }
  });
}

test('an int8 model and an f32 model of the same file differ (the option is not ignored)', async () => {
  for (const name of MODELS) {
    const { inputs } = await samples(name);
    const a = await loadModelBytes(modelBytes(name));
    const b = await loadModelBytes(modelBytes(name), { precision: 'f32' });
    const c = await loadModelBytes(modelBytes(name), { precision: 'int8' });
    try {
      const pa = await a.exits(inputs[0]), pb = await b.exits(inputs[0]), pc = await c.exits(inputs[0]);
      assert.equal(pa.map((e) => Array.from(e.probs)), pb.map((e) => Array.from(e.probs)), `${name}: default and 'f32' are the same`);
      assert.ok(pa.some((e, k) => e.probs.some((p, j) => p !== pc[k].probs[j])), `${name}: 'int8' computed the same bits as f32`);
    } finally {
      a.dispose(); b.dispose(); c.dispose();
    }
  }
});

test.run();

