// Correctness of what the bench relies on (no timing is asserted): the ONNX segmenter keeps exactly the nodes an
// exit needs and computes the same values, the peak kernels really do the flops they claim, and splitee and both ONNX
// Runtimes agree on the zoo models at the bench's inputs.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ortNode from 'onnxruntime-node';
import { onnxOutputs, segmentOnnx, OnnxSegmentError } from '../bench/onnx-segment.js';
import { createOrtRunner, ORT_KINDS } from '../bench/ort.js';
import { sampleInputs } from '../bench/zoo.js';
import { loadModel, packageRoot, zooModels } from '../src/node.js';
import { loadKernels } from '../src/wasm/runtime.js';
import { assertClose, randn, rng } from './util.js';

// ---- a minimal ONNX protobuf writer (only what the test graph needs) ----------------------------------------

const te = new TextEncoder();
const varint = (v: number) => { const o: number[] = []; while (v >= 0x80) { o.push((v & 0x7f) | 0x80); v >>>= 7; } o.push(v); return o; };
const cat = (...p: (Uint8Array | number[])[]) => Uint8Array.from(p.flatMap((x) => Array.from(x)));
const bytesField = (no: number, b: Uint8Array) => cat(varint(no * 8 + 2), varint(b.length), b);
const strField = (no: number, s: string) => bytesField(no, te.encode(s));
const intField = (no: number, v: number) => cat(varint(no * 8), varint(v));

function tensorProto(name: string, dims: number[], data: Float32Array) {
  return cat(...dims.map((d) => intField(1, d)), intField(2, 1 /* FLOAT */), strField(8, name),
    bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
}
function valueInfo(name: string, dims: number[]) {
  const shape = cat(...dims.map((d) => bytesField(1, intField(1, d))));
  const tensorType = cat(intField(1, 1), bytesField(2, shape));
  return cat(strField(1, name), bytesField(2, bytesField(1, tensorType)));
}
const node = (op: string, inputs: string[], outputs: string[]) =>
  cat(...inputs.map((i) => strField(1, i)), ...outputs.map((o) => strField(2, o)), strField(3, `${op}_${outputs[0]}`), strField(4, op));

/** x[1,6] → h = relu(x·W1); exit1 = softmax(h·W2); exit2 = softmax((h⊙h)·W3). */
function twoExitModel(W1: Float32Array, W2: Float32Array, W3: Float32Array): Uint8Array {
  const graph = cat(
    bytesField(1, node('MatMul', ['x', 'W1'], ['a'])),
    bytesField(1, node('Relu', ['a'], ['h'])),
    bytesField(1, node('MatMul', ['h', 'W2'], ['l1'])),
    bytesField(1, node('Softmax', ['l1'], ['exit1'])),
    bytesField(1, node('Mul', ['h', 'h'], ['q'])),
    bytesField(1, node('MatMul', ['q', 'W3'], ['l2'])),
    bytesField(1, node('Softmax', ['l2'], ['exit2'])),
    strField(2, 'two-exit'),
    bytesField(5, tensorProto('W1', [6, 6], W1)),
    bytesField(5, tensorProto('W2', [6, 4], W2)),
    bytesField(5, tensorProto('W3', [6, 4], W3)),
    bytesField(11, valueInfo('x', [1, 6])),
    bytesField(12, valueInfo('exit1', [1, 4])),
    bytesField(12, valueInfo('exit2', [1, 4])),
  );
  return cat(intField(1, 8), strField(2, 'splitee-test'), bytesField(7, graph), bytesField(8, cat(strField(1, ''), intField(2, 13))));
}

function reference(x: Float32Array, W1: Float32Array, W2: Float32Array, W3: Float32Array) {
  const h = Array.from({ length: 6 }, (_, j) => Math.max(0, x.reduce((a, xi, i) => a + xi * W1[i * 6 + j], 0)));
  const head = (v: number[], W: Float32Array) => {
    const l = Array.from({ length: 4 }, (_, j) => v.reduce((a, vi, i) => a + vi * W[i * 4 + j], 0));
    const m = Math.max(...l);
    const e = l.map((z) => Math.exp(z - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((z) => z / s);
  };
  return { exit1: head(h, W2), exit2: head(h.map((v) => v * v), W3) };
}

test('segmentOnnx keeps only what an exit needs, and ORT computes the same values on the cut graph', async () => {
  const r = rng(71);
  const W1 = randn(r, 36, 0.8), W2 = randn(r, 24, 0.8), W3 = randn(r, 24, 0.8);
  const model = twoExitModel(W1, W2, W3);
  assert.equal(onnxOutputs(model), ['exit1', 'exit2']);
  const opts = { intraOpNumThreads: 1, interOpNumThreads: 1 };
  const whole = await ortNode.InferenceSession.create(model, opts);
  const cut1 = segmentOnnx(model, ['exit1']);
  const cut2 = segmentOnnx(model, ['exit2']);
  assert.is(cut1.totalNodes, 7);
  assert.is(cut1.nodes, 4); // MatMul, Relu, MatMul W2, Softmax
  assert.is(cut2.nodes, 5); // MatMul, Relu, Mul, MatMul W3, Softmax
  assert.ok(cut1.bytes.length < model.length - 90, 'the unused W3 initializer (96 bytes of data) is dropped');
  const s1 = await ortNode.InferenceSession.create(cut1.bytes, opts);
  const s2 = await ortNode.InferenceSession.create(cut2.bytes, opts);
  assert.equal(s1.outputNames, ['exit1']);
  assert.equal(s2.outputNames, ['exit2']);
  for (let trial = 0; trial < 5; trial++) {
    const x = randn(r, 6, 1.5);
    const ref = reference(x, W1, W2, W3);
    const feed = { x: new ortNode.Tensor('float32', x, [1, 6]) };
    const w = await whole.run(feed);
    const a = await s1.run(feed);
    const b = await s2.run(feed);
    assertClose(a.exit1.data as Float32Array, ref.exit1, 1e-5, 1e-6, 'segment exit1');
    assertClose(b.exit2.data as Float32Array, ref.exit2, 1e-5, 1e-6, 'segment exit2');
    assertClose(w.exit1.data as Float32Array, ref.exit1, 1e-5, 1e-6, 'whole exit1');
  }
  for (const s of [whole, s1, s2]) await s.release();
});

test('segmentOnnx refuses unknown outputs and garbage with a typed error', () => {
  const r = rng(72);
  const model = twoExitModel(randn(r, 36), randn(r, 24), randn(r, 24));
  try { segmentOnnx(model, ['exit3']); assert.unreachable('no error'); } catch (e) {
    assert.instance(e, OnnxSegmentError);
    assert.is((e as OnnxSegmentError).code, 'ONNX_SEGMENT');
  }
  for (const bad of [new Uint8Array([0x3a, 0x05, 0x0a]), new Uint8Array([0x0f]), model.subarray(0, model.length - 7)]) {
    try { segmentOnnx(bad, ['exit1']); assert.unreachable('no error'); } catch (e) { assert.instance(e, OnnxSegmentError); }
  }
});

// ---- the peak kernels do the work they count -------------------------------------------------------------------

test('peak kernels return the float64 sum of the multiply-adds they claim', async () => {
  const kern = await loadKernels();
  const k = kern.exports as unknown as Record<string, (...a: number[]) => number>;
  const bytes = k.peak_buf_bytes();
  assert.ok(bytes >= 512);
  const buf = kern.alloc(bytes);
  const r = rng(73);
  const vals = Float32Array.from({ length: bytes / 4 }, () => r.uniform(0.5, 1.5) * 1e-2);
  kern.f32(buf, vals.length).set(vals);
  const vec = (byteOff: number) => Array.from(vals.subarray(byteOff / 4, byteOff / 4 + 4));
  for (const [name, chains] of [['peak_madd8', 8], ['peak_madd10', 10], ['peak_madd12', 12]] as const) {
    for (const iters of [1, 7, 33]) {
      // Every step j loads u = buf[p + 16j] and adds u·v0 and u·v1 into two chains; the sum over chains and lanes
      // is Σ u·(v0 + v1), whatever the chain assignment.
      const v0 = vec(0), v1 = vec(16);
      let want = 0;
      for (let i = 0; i < iters; i++) {
        const p = (i & 7) * 16;
        for (let j = 0; j < chains; j++) { const u = vec(p + 16 * j); for (let l = 0; l < 4; l++) want += u[l] * (v0[l] + v1[l]); }
      }
      assert.is(k[`${name}_flops_per_iter`](), 2 * chains * 4 * 2, `${name} flops/iter`);
      const got = k[name](buf, iters);
      assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `${name}(${iters}): ${got} vs ${want}`);
    }
  }
  // The single chain: a ← a·m + c, four times per iteration.
  const m = vec(0), c = vec(16);
  const a = [0, 0, 0, 0];
  for (let i = 0; i < 4 * 9; i++) for (let l = 0; l < 4; l++) a[l] = a[l] * m[l] + c[l];
  const want = a.reduce((s, v) => s + v, 0);
  assert.ok(Math.abs(k.peak_madd_chain(buf, 9) - want) <= 1e-5 * want);
  assert.is(k.peak_madd_chain_flops_per_iter(), 32);
});

// ---- splitee and ONNX Runtime agree on the zoo models -----------------------------------------------------------

/** The zoo models the bench compares with ONNX Runtime: each ships its .spx and its .onnx export. */
const BENCH_ZOO = ['fmnist-cnn', 'sst2-transformer'];

test('splitee and both ONNX Runtimes agree on every exit of the zoo models at the bench inputs', async () => {
  for (const name of BENCH_ZOO) {
    assert.ok(zooModels().includes(name), `zoo model ${name} is missing (models/${name}/${name}.spx)`);
    assert.ok(existsSync(join(packageRoot, 'models', name, `${name}.onnx`)), `zoo model ${name} has no ONNX export (models/${name}/${name}.onnx)`);
  }
  for (const name of BENCH_ZOO) {
    const model = await loadModel(name);
    const onnx = new Uint8Array(readFileSync(join(packageRoot, 'models', name, `${name}.onnx`)));
    const outputs = onnxOutputs(onnx);
    assert.is(outputs.length, model.numLayers, `${name}: one ONNX output per exit`);
    const sample = sampleInputs(model).at(-1)!; // the shortest input keeps the test quick
    const ref = await model.exits(sample.image ?? sample.ids!);
    for (const kind of ORT_KINDS) {
      const runner = await createOrtRunner(kind, onnx, model.header, sample);
      const got = await runner.run();
      for (let k = 1; k <= model.numLayers; k++) {
        assertClose(got[outputs[k - 1]], ref[k - 1].probs, 0, 1e-3, `${name} ${kind} exit ${k}`);
      }
      await runner.release();
    }
    // A cut segment computes exit k alone, identically.
    const k = Math.ceil(model.numLayers / 2);
    const cut = segmentOnnx(onnx, [outputs[k - 1]]);
    assert.ok(cut.nodes < cut.totalNodes, `${name}: the segment to exit ${k} is smaller than the whole graph`);
    const seg = await createOrtRunner('ort-node', cut.bytes, model.header, sample);
    assertClose((await seg.run())[outputs[k - 1]], ref[k - 1].probs, 0, 1e-3, `${name} segment ${k}`);
    await seg.release();
    model.dispose();
  }
});

test.run();
