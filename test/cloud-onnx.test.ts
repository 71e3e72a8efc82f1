// The cloud half as standard ONNX: every exported tail of both zoo models, in all four input types, run by
// onnxruntime-node on real activations, equals our engine's tail on the same decoded activation (within 1e-4); the
// server on `--engine onnxruntime` answers like the WASM engine; the Triton repository and the CLI.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModel, openStream, resolveModelPath, type Model } from '../src/node.js';
import { createInputEncoder } from '../src/index.js';
import { OnnxExportError, exportTail, exportTails, tritonConfig, type TailInput } from '../src/cloud/onnx-export.js';
import { onnxRuntimeCloudModel } from '../src/cloud/onnxruntime-node.js';
import { importOnnx } from '../src/onnx/index.js';
import { parseSpx } from '../src/format/index.js';
import { rng } from './util.js';
import { createCloudServer } from '../src/cloud/server.js';
import { HttpCloudClient } from '../src/device/cloud.js';
import { LocalCloudClient } from '../src/device/local-client.js';
import { decode, encode } from '../src/transport/codec.js';
import { encodeFrame } from '../src/transport/frame.js';

const ZOO: [string, string][] = [['fmnist-cnn', 'fmnist:test'], ['sst2-transformer', 'sst2:dev']];
const BIN = new URL('../../bin/splitee.js', import.meta.url).pathname;

async function realActivations(model: Model, dataset: string, k: number, n: number) {
  const stream = await openStream(dataset, { limit: 40, samples: 'auto' });
  const enc = createInputEncoder(model.header);
  const out = [];
  // Spread over the stream, so that token models see several lengths.
  for (let i = 0; i < n; i++) {
    const s = stream.samples[(i * 13) % stream.samples.length];
    out.push(await model.run(enc(s.input as never), { from: 1, to: k }));
  }
  return out;
}

function feeds(input: TailInput, data: Float32Array, shape: number[]): { feeds: Record<string, ort.Tensor>; seen: Float32Array } {
  if (input === 'uint8' || input === 'int8') {
    const e = encode(data, shape, 'int8');
    if (e.params.kind !== 'affine') throw new Error('int8 is affine');
    const seen = decode(e);
    if (input === 'uint8') {
      return { seen, feeds: { activation: new ort.Tensor('uint8', e.payload, shape), scale: new ort.Tensor('float32', Float32Array.of(e.params.scale), [1]), zero_point: new ort.Tensor('uint8', Uint8Array.of(e.params.zeroPoint), [1]) } };
    }
    // INT8: the same levels shifted by 128 (q − zp is unchanged).
    const q = Int8Array.from(e.payload, (b) => b - 128);
    return { seen, feeds: { activation: new ort.Tensor('int8', q, shape), scale: new ort.Tensor('float32', Float32Array.of(e.params.scale), [1]), zero_point: new ort.Tensor('int8', Int8Array.of(e.params.zeroPoint - 128), [1]) } };
  }
  if (input === 'fp16') {
    const e = encode(data, shape, 'fp16');
    return { seen: decode(e), feeds: { activation: new ort.Tensor('float16', new Uint16Array(e.payload.buffer.slice(e.payload.byteOffset, e.payload.byteOffset + e.payload.length)), shape) } };
  }
  return { seen: data, feeds: { activation: new ort.Tensor('float32', data, shape) } };
}

for (const [name, dataset] of ZOO) {
  test(`${name}: every tail in every input type on onnxruntime-node equals the engine's tail within 1e-4`, async () => {
    const bytes = new Uint8Array(readFileSync(resolveModelPath(name)));
    const model = await loadModel(bytes);
    try {
      const L = model.numLayers;
      const tails = exportTails(bytes, ['uint8', 'int8', 'f32', 'fp16'], model.digestHex);
      assert.is(tails.length, 4 * (L - 1));
      let worst = 0, compared = 0;
      for (const t of tails) {
        const session = await ort.InferenceSession.create(t.onnx, { intraOpNumThreads: 1 });
        try {
          assert.equal(session.inputNames, t.input === 'uint8' || t.input === 'int8' ? ['activation', 'scale', 'zero_point'] : ['activation']);
          assert.equal(session.outputNames, ['probs', 'label', 'confidence']);
          for (const act of await realActivations(model, dataset, t.k, 3)) {
            const { feeds: f, seen } = feeds(t.input, act.data, act.shape);
            const want = await model.finish(t.k, { shape: act.shape, data: seen });
            const got = await session.run(f);
            const probs = got.probs.data as Float32Array;
            assert.is(probs.length, want.probs.length);
            for (let c = 0; c < probs.length; c++) worst = Math.max(worst, Math.abs(probs[c] - want.probs[c]));
            assert.ok(Math.abs((got.confidence.data as Float32Array)[0] - want.confidence) < 1e-4);
            // A near-tie may flip the argmax within tolerance; otherwise the labels agree.
            const sorted = Array.from(want.probs).sort((a, b) => b - a);
            if (sorted[0] - sorted[1] > 1e-4) assert.is(Number((got.label.data as BigInt64Array)[0]), want.label, `${t.name}`);
            compared++;
          }
        } finally { await session.release(); }
      }
      assert.ok(worst < 1e-4, `max |Δprob| ${worst}`);
      assert.is(compared, 3 * tails.length);
    } finally { model.dispose(); }
  });
}

test('the server on onnxruntime answers like the WASM engine (within 1e-4), with the same checks', async () => {
  const bytes = new Uint8Array(readFileSync(resolveModelPath('fmnist-cnn')));
  const model = await loadModel(bytes);
  const ortModel = await onnxRuntimeCloudModel(bytes, model.digest);
  const server = await createCloudServer({ model: ortModel, port: 0 });
  try {
    const remote = new HttpCloudClient(server.url);
    const local = new LocalCloudClient(model);
    for (let k = 1; k < model.numLayers; k++) {
      for (const act of await realActivations(model, 'fmnist:test', k, 2)) {
        const frame = encodeFrame({ digest: model.digest, splitLayer: k, tensor: encode(act.data, act.shape, 'int8') });
        const a = await remote.infer(frame), b = await local.infer(frame);
        for (let c = 0; c < a.probs.length; c++) assert.ok(Math.abs(a.probs[c] - b.probs[c]) < 1e-4, `k=${k} class ${c}`);
        assert.is(a.layersRun, b.layersRun);
      }
    }
    const wrong = encodeFrame({ digest: model.digest, splitLayer: 2, tensor: encode(new Float32Array(10).fill(1), [10], 'int8') });
    const err = await remote.infer(wrong).then(() => null, (e) => e);
    assert.is(err.status, 422); assert.is(err.code, 'SHAPE_MISMATCH');
  } finally {
    await server.close({ graceMs: 200 });
    await ortModel.dispose();
    model.dispose();
  }
});

test('Triton repository and the export CLI; a bad split point is a typed error', () => {
  const bytes = new Uint8Array(readFileSync(resolveModelPath('sst2-transformer')));
  const t = exportTail(bytes, 3, 'int8', 'ab'.repeat(32));
  const cfg = tritonConfig(t);
  assert.match(cfg, /name: "sst2-transformer\.tail-3-int8"/);
  assert.match(cfg, /platform: "onnxruntime_onnx"/);
  assert.match(cfg, /name: "activation" data_type: TYPE_INT8 dims: \[ -1, \d+ \]/);
  assert.match(cfg, /name: "zero_point" data_type: TYPE_INT8/);
  assert.throws(() => exportTail(bytes, 0), (e: unknown) => e instanceof OnnxExportError && e.code === 'BAD_SPLIT');
  assert.throws(() => exportTail(bytes, 6), (e: unknown) => e instanceof OnnxExportError && e.code === 'BAD_SPLIT');
  const dir = mkdtempSync(join(tmpdir(), 'splitee-export-'));
  try {
    const out = execFileSync(process.execPath, [BIN, 'export', '--model', 'fmnist-cnn', '--tails', '--out', join(dir, 'onnx'), '--triton', join(dir, 'repo'), '--inputs', 'uint8,f32', '--json'], { encoding: 'utf8' });
    const j = JSON.parse(out) as { digest: string; tails: { name: string }[] };
    assert.is(j.tails.length, 12);
    assert.is(j.digest, createHash('sha256').update(readFileSync(resolveModelPath('fmnist-cnn'))).digest('hex'));
    for (const k of [1, 6]) {
      assert.ok(existsSync(join(dir, 'onnx', `fmnist-cnn.tail-${k}.onnx`)));
      assert.ok(existsSync(join(dir, 'repo', `fmnist-cnn.tail-${k}-f32`, '1', 'model.onnx')));
      assert.match(readFileSync(join(dir, 'repo', `fmnist-cnn.tail-${k}`, 'config.pbtxt'), 'utf8'), /TYPE_UINT8/);
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('tails of imported models (pad, concat, affine, mul, the new activations, pools that exclude padding) on ORT equal the engine; causal attention is refused', async () => {
  const fixtures = new URL('../../test/fixtures/onnx/', import.meta.url).pathname;
  // pad_concat ends in an average pool with count_include_pad = 0 (the exported tail must average like the engine)
  // after pads, concats and an affine; se_silu multiplies by saved tensors (SiLU, a per-channel gate); activations
  // has the elementwise ops.
  for (const fixture of ['pad_concat', 'se_silu', 'activations']) {
    const bytes = importOnnx(new Uint8Array(readFileSync(join(fixtures, `${fixture}.onnx`))));
    const file = parseSpx(bytes);
    if (fixture === 'pad_concat') assert.ok(file.header.layers.some((l) => l.ops.some((o) => o.op === 'avgpool2d' && (o as { excludePad?: boolean }).excludePad)), 'fixture has an excludePad pool');
    const model = await loadModel(bytes);
    try {
      const r = rng(11);
      const shape = file.header.input.kind === 'image' ? file.header.input.shape : null;
      assert.ok(shape, `${fixture} is an image model`);
      const [c, h, w] = shape!;
      let compared = 0;
      for (const t of exportTails(bytes, ['f32'], model.digestHex)) {
        // ORT's Pad fusion folds the asymmetric Pad into the next MaxPool and then refuses its own pads (≥ kernel):
        // the graph is valid ONNX, so run it unoptimized.
        const session = await ort.InferenceSession.create(t.onnx, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
        try {
          for (let i = 0; i < 3; i++) {
            const x = Float32Array.from({ length: c * h * w }, () => r.normal());
            const act = await model.run(x, { from: 1, to: t.k });
            const want = await model.finish(t.k, act);
            const got = (await session.run(feeds('f32', act.data, act.shape).feeds)).probs.data as Float32Array;
            for (let j = 0; j < got.length; j++) assert.ok(Math.abs(got[j] - want.probs[j]) < 1e-4, `${fixture} ${t.name} prob ${j}: ${got[j]} vs ${want.probs[j]}`);
            compared++;
          }
        } finally { await session.release(); }
      }
      assert.ok(compared > 0);
    } finally { model.dispose(); }
  }
  const causal = importOnnx(new Uint8Array(readFileSync(join(fixtures, 'causal.onnx'))), { inputKind: 'tokens' });
  const L = parseSpx(causal).header.layers.length;
  assert.throws(() => exportTail(parseSpx(causal), 1, 'f32', '00'), (e: unknown) => e instanceof OnnxExportError && /causal/.test((e as Error).message));
  assert.ok(L > 1);
});


test("serve --engine onnxruntime on an imported model with an asymmetric Pad before a MaxPool: every split's tail loads and equals the engine", async () => {
  const fixtures = new URL('../../test/fixtures/onnx/', import.meta.url).pathname;
  const bytes = importOnnx(new Uint8Array(readFileSync(join(fixtures, 'pad_concat.onnx'))));
  const file = parseSpx(bytes);
  assert.ok(file.header.layers.some((l) => l.ops.some((o) => o.op === 'pad')), 'fixture has a pad op');
  const model = await loadModel(bytes);
  const cloud = await onnxRuntimeCloudModel(bytes, model.digest);
  try {
    const r = rng(5);
    const [c, h, w] = file.header.input.kind === 'image' ? file.header.input.shape : [0, 0, 0];
    for (let k = 1; k < model.numLayers; k++) {
      const x = Float32Array.from({ length: c * h * w }, () => r.normal());
      const act = await model.run(x, { from: 1, to: k });
      const want = await model.finish(k, act);
      const got = await cloud.finish(k, act);
      assert.is(got.label, want.label, `split ${k}: label`);
      for (let j = 0; j < got.probs.length; j++) assert.ok(Math.abs(got.probs[j] - want.probs[j]) < 1e-4, `split ${k} prob ${j}: ${got.probs[j]} vs ${want.probs[j]}`);
    }
  } finally {
    await cloud.dispose();
    model.dispose();
  }
});

test.run();
