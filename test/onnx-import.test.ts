// importOnnx on models exported by torch.onnx.export (test/fixtures/onnx, made by models/recipes/onnx_fixtures.py)
// and on the zoo's own ONNX exports: every exit of the imported .spx against ONNX Runtime on the ONNX file itself,
// on seeded random inputs (token models at several lengths), and refusals of what the op set cannot express.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { importOnnx, importOnnxDetailed, OnnxImportError, type ImportOptions } from '../src/onnx/index.js';
import { loadModelBytes, parseSpx, type Op, type SpxHeader } from '../src/index.js';
import { loadModel, packageRoot } from '../src/node.js';
import { rng, type Rng } from './util.js';

const fixture = (name: string) => new Uint8Array(readFileSync(join(packageRoot, 'test', 'fixtures', 'onnx', `${name}.onnx`)));
const zooOnnx = (name: string) => new Uint8Array(readFileSync(join(packageRoot, 'models', name, `${name}.onnx`)));

function softmax(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function randomInput(h: SpxHeader, r: Rng, T?: number): Float32Array | Int32Array {
  if (h.input.kind === 'image') {
    const n = h.input.shape[0] * h.input.shape[1] * h.input.shape[2];
    return Float32Array.from({ length: n }, () => r.normal());
  }
  const vocab = h.input.vocabSize;
  return Int32Array.from({ length: T ?? h.input.maxLen }, () => r.int(0, vocab));
}

/** ONNX Runtime's probabilities at every exit (softmax of the logits, or the outputs when they are probabilities). */
async function ortProbs(session: ort.InferenceSession, h: SpxHeader, input: Float32Array | Int32Array, outputs: string[]): Promise<number[][]> {
  const feed = input instanceof Float32Array
    ? new ort.Tensor('float32', input, [1, ...(h.input.kind === 'image' ? h.input.shape : [])])
    : new ort.Tensor('int64', BigInt64Array.from(input, (v) => BigInt(v)), [1, input.length]);
  const feeds: Record<string, ort.Tensor> = { [session.inputNames[0]]: feed };
  const mask = h.provenance?.maskInput as { name: string; type: string; pinnedTo: number } | undefined;
  if (mask) feeds[mask.name] = maskTensor(mask, input.length);
  const res = await session.run(feeds);
  return session.outputNames.map((o, k) => {
    const z = Array.from(res[o].data as Float32Array);
    return outputs[k] === 'probabilities' ? z : softmax(z);
  });
}

/** The attention-mask input saying "no padding" for a sequence of T tokens, as the importer pinned it. */
function maskTensor(m: { type: string; pinnedTo: number }, T: number): ort.Tensor {
  if (m.type === 'bool') return new ort.Tensor('bool', new Uint8Array(T).fill(m.pinnedTo), [1, T]);
  if (m.type === 'int64') return new ort.Tensor('int64', new BigInt64Array(T).fill(BigInt(m.pinnedTo)), [1, T]);
  if (m.type === 'int32') return new ort.Tensor('int32', new Int32Array(T).fill(m.pinnedTo), [1, T]);
  return new ort.Tensor('float32', new Float32Array(T).fill(m.pinnedTo), [1, T]);
}

/** Imports `bytes`, then checks every exit against ONNX Runtime on `trials` random inputs; returns the worst |Δp|. */
async function checkAgainstOrt(bytes: Uint8Array, seed: number, trials: number, opts: ImportOptions = {}): Promise<{ header: SpxHeader; worst: number }> {
  const rep = importOnnxDetailed(bytes, opts);
  const model = await loadModelBytes(rep.bytes);
  const session = await ort.InferenceSession.create(bytes);
  const r = rng(seed);
  let worst = 0;
  try {
    for (let t = 0; t < trials; t++) {
      const h = rep.header;
      // Token models: the pinned longest length, then shorter random ones (the .spx runs any length ≤ maxLen).
      const T = h.input.kind === 'tokens' ? (t === 0 ? h.input.maxLen : r.int(1, h.input.maxLen + 1)) : undefined;
      const input = randomInput(h, r, T);
      const want = await ortProbs(session, h, input, rep.outputs);
      const got = await model.exits(input);
      assert.is(got.length, want.length, 'number of exits');
      got.forEach((e, k) => {
        assert.is(e.probs.length, want[k].length);
        for (let i = 0; i < want[k].length; i++) worst = Math.max(worst, Math.abs(e.probs[i] - want[k][i]));
      });
    }
  } finally {
    model.dispose();
    await session.release();
  }
  return { header: rep.header, worst };
}

const opsOf = (ops: Op[]) => ops.map((o) => o.op).join(' ');
const allOps = (h: SpxHeader) => [...h.layers, ...h.exits].flatMap((b) => b.ops);

test('MobileNetV2-style CNN: BatchNorm folded, ReLU6 fused, depthwise and residual blocks, 3 exits within 1e-4 of ONNX Runtime', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('mbv2'), 1, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.is(h.layers.length, 3);
  const ops = allOps(h);
  const convs = ops.filter((o): o is Extract<Op, { op: 'conv2d' }> => o.op === 'conv2d');
  assert.is(convs.length, 17, 'every Conv (and its BatchNorm) is one conv2d');
  assert.ok(convs.some((c) => c.groups !== undefined && c.groups > 1), 'depthwise convolutions kept their groups');
  assert.ok(convs.filter((c) => c.act === 'relu6').length === 12, 'Clip(0, 6) fused as relu6');
  assert.is(ops.filter((o) => o.op === 'add').length, 3, 'three residual adds');
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['gap linear', 'gap linear', 'gap linear']);
  assert.equal(h.input, { kind: 'image', shape: [3, 16, 16] });
});

test('LeNet-style net: max/avg pools (padding folded from Pad), Gemm exits on flattened maps, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('lenet'), 2, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), ['conv2d maxpool2d', 'conv2d avgpool2d', 'conv2d maxpool2d']);
  const avg = h.layers[1].ops[1] as Extract<Op, { op: 'avgpool2d' }>;
  assert.equal([avg.k, avg.stride, avg.pad], [3, 2, 1]);
  const mp = h.layers[2].ops[1] as Extract<Op, { op: 'maxpool2d' }>;
  assert.equal([mp.k, mp.stride, mp.pad], [3, 2, 1]);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['flatten linear linear', 'flatten linear', 'flatten linear']);
});

test('post-LN BERT-style encoder (decomposed LayerNorm, separate Q/K/V, first-token pooler exits), all lengths, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('bert_post_ln'), 3, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  // Its Hugging Face-style attention_mask input is pinned to "every token is real" (ones).
  assert.equal(h.provenance!.maskInput, { name: 'attention_mask', type: 'int64', pinnedTo: 1, meaning: (h.provenance!.maskInput as { meaning: string }).meaning });
  assert.equal(h.input, { kind: 'tokens', maxLen: 16, vocabSize: 60 });
  assert.is(h.layers.length, 3);
  assert.is(opsOf(h.layers[0].ops), 'embed layernorm save attention add layernorm save linear linear add layernorm');
  const att = h.layers[0].ops.find((o) => o.op === 'attention') as Extract<Op, { op: 'attention' }>;
  assert.is(att.heads, 4);
  assert.is(att.window, 0);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['seqfirst linear linear', 'seqfirst linear linear', 'seqfirst linear linear']);
  const ln = h.layers[0].ops[1] as Extract<Op, { op: 'layernorm' }>;
  assert.is(ln.eps, 1e-12);
});

test('pre-LN encoder (LayerNormalization op, fused QKV + Split, mean-pool exits), all lengths, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('pre_ln'), 4, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.is(opsOf(h.layers[1].ops), 'save layernorm attention add save layernorm linear linear add');
  assert.equal(h.exits.map((e) => opsOf(e.ops)), Array(3).fill('seqmean layernorm linear'));
  const att = h.layers[0].ops.find((o) => o.op === 'attention') as Extract<Op, { op: 'attention' }>;
  assert.is(att.heads, 3);
});

test('nn.TransformerEncoderLayer blocks (nn.MultiheadAttention export, key-padding mask input), softmax exits recognised, within 1e-4', async () => {
  const rep = importOnnxDetailed(fixture('torch_encoder'));
  assert.equal(rep.outputs, ['probabilities', 'probabilities']);
  // PyTorch's key_padding_mask (True = padding) is pinned to all false.
  assert.equal((rep.header.provenance!.maskInput as { type: string; pinnedTo: number }).pinnedTo, 0);
  assert.equal((rep.header.provenance!.maskInput as { type: string }).type, 'bool');
  assert.is(rep.header.provenance!.outputs, 'probabilities');
  assert.ok(!allOps(rep.header).some((o) => (o.op as string) === 'softmax'));
  const { worst } = await checkAgainstOrt(fixture('torch_encoder'), 5, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
});

test('nn.TransformerEncoderLayer in the sequence-first layout ([T, 1, D]): mean and first-token exits, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('seq_first'), 10, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['seqmean linear', 'seqfirst linear']);
  assert.is(opsOf(h.layers[1].ops), 'save layernorm attention add save layernorm linear linear add');
});

test('a graph written with onnx.helper: Pad folded into Conv, SAME padding, BatchNorm, Clip bounds as inputs, MatMul+Add, Gemm alpha/beta', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('handmade'), 12, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  const c1 = h.layers[0].ops[0] as Extract<Op, { op: 'conv2d' }>;
  assert.equal([c1.stride, c1.pad, c1.act], [2, 1, 'relu6']);
  const c2 = h.layers[1].ops[0] as Extract<Op, { op: 'conv2d' }>;
  assert.equal([c2.stride, c2.pad, c2.act], [1, 1, 'relu']);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['gap linear', 'gap linear']);
  assert.match(String((h.provenance!.source as { producer: string }).producer), /onnx\.helper/);
});

test('BERT-style encoder with the Tanh pooler: tanh between the exit linears, all lengths, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('bert_tanh'), 13, 6);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['seqfirst linear tanh linear', 'seqfirst linear tanh linear']);
});

test('GELU in its tanh approximation, as the exporter writes it out (Mul/Add/Tanh), is one gelu_tanh, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('gelu_tanh'), 14, 6);
  // The fixture's large logits put the erf form ~2e-4 away: 1e-5 tells the two apart.
  assert.ok(worst <= 1e-5, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), ['conv2d', 'conv2d gelu_tanh']);
});

test('HardSwish (opset 14 node, and HardSigmoid + Mul before it), Sigmoid, HardSigmoid, Clip with any bounds, Tanh, within 1e-4', async () => {
  const hs = await checkAgainstOrt(fixture('hardswish'), 15, 6);
  assert.ok(hs.worst <= 1e-4, `max |Δprob| ${hs.worst}`);
  assert.equal(hs.header.layers.map((l) => opsOf(l.ops)), ['conv2d', 'conv2d hardswish']);
  const { header: h, worst } = await checkAgainstOrt(fixture('activations'), 16, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), ['conv2d hardswish sigmoid', 'conv2d hardsigmoid clip', 'conv2d tanh clip']);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['clip gap linear', 'gap tanh linear', 'gap linear']);
  assert.equal(h.layers[1].ops[1], { op: 'hardsigmoid', alpha: 0.16666667, beta: 0.5 });
  assert.equal(h.layers[1].ops[2], { op: 'clip', min: 0.45, max: 0.55 });
  assert.equal(h.layers[2].ops[2], { op: 'clip', max: 0.2 });
  assert.equal(h.exits[0].ops[0], { op: 'clip', min: 0.5 });
});

test('SiLU, squeeze-and-excitation, a standalone BatchNorm, per-channel and scalar constants: mul and affine, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('se_silu'), 17, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), [
    'conv2d save sigmoid mul', // x · σ(x)
    'conv2d save gap linear linear hardsigmoid mul maxpool2d affine', // SE: 1×1 convs on the pooled vector are linears; BatchNorm
    'conv2d affine save sigmoid mul', // x · gamma + beta merged into one affine
  ]);
  assert.equal(h.exits.map((e) => opsOf(e.ops)), ['gap affine linear', 'gap linear', 'gap linear']);
  const se = h.layers[1].ops;
  assert.equal([se[1], se[6]], [{ op: 'save', name: 'm0' }, { op: 'mul', name: 'm0' }]);
  assert.is((se[3] as Extract<Op, { op: 'linear' }>).act, 'relu');
  const scalar = h.exits[0].ops[1] as Extract<Op, { op: 'affine' }>;
  assert.equal(h.tensors[scalar.w!].shape, [1], 'x · 2 − 0.1 is one scale and one shift');
  const bn = se[8] as Extract<Op, { op: 'affine' }>;
  assert.equal([h.tensors[bn.w!].shape, h.tensors[bn.b!].shape], [[8], [8]]);
});

test('channel concatenation with a branch (both orders), asymmetric zero Pad, Conv with unequal paddings, AvgPool count_include_pad=False, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('pad_concat'), 18, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), ['conv2d save conv2d concat', 'pad conv2d save pad conv2d concat', 'pad maxpool2d affine avgpool2d']);
  const [l1, l2, l3] = h.layers.map((l) => l.ops);
  assert.equal(l1[3], { op: 'concat', name: 'c0' }, 'torch.cat([x, f(x)]): the saved input first');
  assert.equal(l2[5], { op: 'concat', name: 'c0', xFirst: true }, 'torch.cat([f(x), x])');
  assert.equal(l2[0], { op: 'pad', top: 0, bottom: 1, left: 0, right: 1 }, 'F.pad(x, (0, 1, 0, 1))');
  assert.equal(l2[3], { op: 'pad', top: 1, bottom: 1, left: 2, right: 2 }, 'padding=(1, 2) of a Conv');
  assert.equal(l3[0], { op: 'pad', top: 2, bottom: 1, left: 1, right: 0 }, 'F.pad before a MaxPool stays a pad (its zeros take part in the max)');
  assert.equal(l3[3], { op: 'avgpool2d', k: 3, stride: 2, pad: 1, excludePad: true }, 'count_include_pad=False');
});

test('dilated convolutions (also depthwise, unequal per axis) as convolutions with zeros between the taps, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('dilated'), 19, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  assert.equal(h.layers.map((l) => opsOf(l.ops)), ['conv2d conv2d', 'pad conv2d']);
  const shapeOf = (op: Op) => h.tensors[(op as Extract<Op, { op: 'conv2d' }>).w].shape;
  assert.equal(shapeOf(h.layers[0].ops[0]), [6, 2, 5, 5], '3×3 at dilation 2');
  assert.equal(shapeOf(h.layers[0].ops[1]), [6, 1, 7, 7], 'depthwise 3×3 at dilation 3');
  assert.equal(shapeOf(h.layers[1].ops[1]), [4, 6, 5, 4], '3×2 at dilation (2, 3)');
});

test('attention under a causal mask (masked_fill of triu by −∞) is attention with causal: true, all lengths, within 1e-4', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('causal'), 20, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
  const att = h.layers[1].ops.find((o) => o.op === 'attention') as Extract<Op, { op: 'attention' }>;
  assert.equal([att.causal, att.window], [true, 0]);
});

test('the zoo ONNX exports import to the exits of the zoo .spx files (within 1e-5) and of ONNX Runtime', async () => {
  for (const name of ['fmnist-cnn', 'sst2-transformer']) {
    const onnx = zooOnnx(name);
    const zoo = await loadModel(join(packageRoot, 'models', name, `${name}.spx`));
    const rep = importOnnxDetailed(onnx, { name, classes: zoo.classes, preprocess: zoo.header.preprocess });
    const h = rep.header;
    assert.is(h.layers.length, zoo.numLayers, `${name}: one layer per exit`);
    // Same ops, layer by layer and exit by exit (tensor names aside).
    // Tensor and save-slot names differ; every other field (defaults filled in by the reader) must agree.
    const strip = (ops: Op[]) => ops.map((o) => JSON.stringify(Object.fromEntries(Object.entries(o).filter(([k, v]) => typeof v !== 'string' || k === 'op' || k === 'act'))));
    h.layers.forEach((l, k) => assert.equal(strip(l.ops), strip(zoo.header.layers[k].ops), `${name} layer ${k + 1}`));
    h.exits.forEach((e, k) => assert.equal(strip(e.ops), strip(zoo.header.exits[k].ops), `${name} exit ${k + 1}`));
    const mine = await loadModelBytes(rep.bytes);
    const r = rng(6);
    let worst = 0;
    for (let t = 0; t < 4; t++) {
      const input = randomInput(h, r, h.input.kind === 'tokens' ? [h.input.maxLen, 1, 7, 23][t] : undefined);
      const a = await mine.exits(input), b = await zoo.exits(input);
      a.forEach((e, k) => { for (let i = 0; i < e.probs.length; i++) worst = Math.max(worst, Math.abs(e.probs[i] - b[k].probs[i])); });
    }
    assert.ok(worst <= 1e-5, `${name}: max |Δprob| vs the zoo .spx ${worst}`);
    mine.dispose();
    zoo.dispose();
    const o = await checkAgainstOrt(onnx, 7, 2, { name });
    assert.ok(o.worst <= 1e-4, `${name}: max |Δprob| vs ONNX Runtime ${o.worst}`);
  }
});

test('sst2-transformer: the local attention masks become windows 2, 4, 8, 16 then global', () => {
  const h = parseSpx(importOnnx(zooOnnx('sst2-transformer'))).header;
  const windows = h.layers.map((l) => (l.ops.find((o) => o.op === 'attention') as Extract<Op, { op: 'attention' }>).window);
  assert.equal(windows, [2, 4, 8, 16, 0, 0]);
});

test('--quantize int8: weight matrices stored per-channel int8, exits close to the f32 import', async () => {
  const bytes = fixture('pre_ln');
  const f = importOnnx(bytes), q = importOnnx(bytes, { quantize: 'int8' });
  const hq = parseSpx(q).header;
  const dtypes = Object.entries(hq.tensors).map(([n, t]) => [n, t.dtype]);
  const weights = allOps(hq).flatMap((o) => (o.op === 'linear' ? [o.w] : o.op === 'attention' ? [o.wqkv, o.wo] : o.op === 'embed' ? [o.tok] : []));
  for (const [n, dt] of dtypes) assert.is(dt, weights.includes(n as string) ? 'i8' : 'f32', `tensor ${n}`);
  assert.ok(q.length < f.length, 'int8 file is smaller');
  assert.is(hq.provenance!.weights, 'int8 per-channel');
  const mf = await loadModelBytes(f), mq = await loadModelBytes(q);
  const r = rng(8);
  let worst = 0;
  for (let t = 0; t < 3; t++) {
    const input = randomInput(hq, r);
    const a = await mf.exits(input), b = await mq.exits(input);
    a.forEach((e, k) => { for (let i = 0; i < e.probs.length; i++) worst = Math.max(worst, Math.abs(e.probs[i] - b[k].probs[i])); });
  }
  assert.ok(worst > 0 && worst < 0.05, `int8 vs f32 max |Δprob| ${worst}`);
});

test('header: classes, name, provenance with the source digest, opset and producer', () => {
  const bytes = fixture('lenet');
  const h = parseSpx(importOnnx(bytes, { name: 'my-lenet', classes: ['a', 'b', 'c', 'd'], provenance: { file: 'lenet.onnx' } })).header;
  assert.is(h.name, 'my-lenet');
  assert.equal(h.classes, ['a', 'b', 'c', 'd']);
  assert.is(h.task, 'image-classification');
  const src = h.provenance!.source as Record<string, unknown>;
  assert.match(String(src.sha256), /^[0-9a-f]{64}$/);
  assert.is(src.bytes, bytes.length);
  assert.is(src.opset, 16);
  assert.match(String(src.producer), /^pytorch /);
  assert.is(h.provenance!.file, 'lenet.onnx');
  assert.is(h.provenance!.outputs, 'logits');
  const dflt = parseSpx(importOnnx(bytes)).header;
  assert.equal(dflt.classes, ['0', '1', '2', '3']);
});

function refusal(fn: () => unknown): OnnxImportError {
  try {
    fn();
  } catch (e) {
    if (e instanceof OnnxImportError) return e;
    throw e;
  }
  throw new Error('expected an OnnxImportError');
}

test('refusals name the node, its op type and why', () => {
  const lstm = refusal(() => importOnnx(fixture('lstm')));
  assert.is(lstm.code, 'UNSUPPORTED_OP');
  assert.is(lstm.opType, 'LSTM');
  assert.match(lstm.message, /LSTM/);
  const down = refusal(() => importOnnx(fixture('downsample')));
  assert.is(down.code, 'UNSUPPORTED_OP');
  assert.is(down.opType, 'Add');
  assert.match(down.message, /shortcut is computed/);
});

test('bad options are typed errors', () => {
  const bytes = fixture('lenet');
  assert.is(refusal(() => importOnnx(bytes, { classes: ['a', 'b'] })).code, 'BAD_OPTION');
  assert.is(refusal(() => importOnnx(bytes, { quantize: 'int4' as 'int8' })).code, 'BAD_OPTION');
  assert.is(refusal(() => importOnnx(bytes, { inputKind: 'tokens' })).code, 'UNSUPPORTED');
  assert.is(refusal(() => importOnnx(fixture('pre_ln'), { maxLen: 0 })).code, 'BAD_OPTION');
  // A longer pinned length than the position table is refused by the .spx reader's rule (pos rows ≥ maxLen).
  const longer = refusal(() => importOnnx(fixture('pre_ln'), { maxLen: 13 }));
  assert.ok(['CORRUPT', 'UNSUPPORTED_OP', 'DYNAMIC_SHAPE'].includes(longer.code), longer.message);
});

test('a shorter pinned maxLen still gives ONNX Runtime\'s exits', async () => {
  const { header: h, worst } = await checkAgainstOrt(fixture('pre_ln'), 9, 4, { maxLen: 8 });
  assert.is(h.input.kind === 'tokens' && h.input.maxLen, 8);
  assert.ok(worst <= 1e-4, `max |Δprob| ${worst}`);
});

test.run();
