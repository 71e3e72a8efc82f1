// Correctness of what the bench relies on (no timing is asserted): the ONNX segmenter keeps exactly the nodes an
// exit needs and computes the same values, the peak kernels (f32 and the integer dot probe) really do the work they
// claim, splitee and both ONNX Runtimes agree on the zoo models at the bench's inputs, and the int8 path's fields
// (model rows, segments, kernel rows) are present, finite and held to the f32 path.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ortNode from 'onnxruntime-node';
import { onnxOutputs, segmentOnnx, OnnxSegmentError } from '../bench/onnx-segment.js';
import { createOrtRunner, ORT_KINDS } from '../bench/ort.js';
import { benchModels, sampleInputs } from '../bench/zoo.js';
import { intOpsPerIter, intPeakModuleBytes, intPeakProbe, intProbeBytes } from '../bench/int-peak.js';
import { benchModel, INT8_PARITY_TOLERANCE, type ModelResult } from '../bench/models.js';
import { benchKernels } from '../bench/kernels.js';
import { INT8_ACCURACY_BUDGET_POINTS, withInt8Field, type Int8Accuracy } from '../bench/int8-accuracy.js';
import { planBuffers } from '../src/engine/plan.js';
import { gapLinearSteps, WasmBackend } from '../src/engine/wasm-backend.js';
import { loadModel, packageRoot, zooModels } from '../src/node.js';
import { tinyImageModel } from './fixtures/tiny-models.js';
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

test('the integer peak probe returns the wrapping int32 sum of the dot products it claims', async () => {
  const chains = [2, 4, 6, 8, 12];
  assert.ok(WebAssembly.validate(intPeakModuleBytes(chains)), 'the hand-built module validates');
  const probe = await intPeakProbe(chains);
  const r = rng(74);
  const n = intProbeBytes(12) / 2;
  for (const scale of [30, 3000]) { // 3000: sums that overflow i32 and must wrap the same way
    const v = new Int16Array(probe.memory.buffer, 0, n);
    for (let i = 0; i < n; i++) v[i] = r.int(-scale, scale + 1);
    for (const c of chains) {
      assert.is(intOpsPerIter(c), c * 32, `dot${c}: ops per iteration`);
      for (const iters of [0, 1, 3, 8, 11]) {
        // Iteration i loads u_j at int16 offset 8·(i & 7) + 8j and adds dot(u_j, v0) + dot(u_j, v1) over 8 lanes.
        let want = 0n;
        for (let i = 0; i < iters; i++) {
          const p = 8 * (i & 7);
          for (let j = 0; j < c; j++) for (let l = 0; l < 8; l++) want += BigInt(v[p + 8 * j + l] * (v[l] + v[8 + l]));
        }
        assert.is(probe.run(c, iters), Number(BigInt.asIntN(32, want)), `dot${c}(${iters}) at scale ${scale}`);
      }
    }
  }
  let threw = false;
  try { await intPeakProbe([3]); } catch (e) { threw = e instanceof RangeError; }
  assert.ok(threw, 'an odd chain count is refused');
});

// ---- the int8 path in the bench -----------------------------------------------------------------------------------

const finitePositive = (v: number | null | undefined, what: string) => assert.ok(typeof v === 'number' && Number.isFinite(v) && v > 0, `${what}: ${v}`);

test('benchModel times the int8 path on the whole model and every segment, held to the f32 path', async () => {
  const models = await benchModels({ tiny: true, int8: true });
  assert.is(models.length, 2);
  const opts = { timeMs: 20, rounds: 1, clock: 'cpu' as const };
  for (const bm of models) {
    assert.ok(bm.int8, `${bm.name}: the int8 model is loaded`);
    const rows: ModelResult[] = await benchModel(bm, opts);
    assert.ok(rows.length >= 1);
    for (const res of rows) {
      const x = sampleInputs(bm.model).find((s) => s.label === res.input)!;
      const input = x.image ?? x.ids!;
      // The parity the bench reports, recomputed here from the two models' exits and segments.
      const f = await bm.model.exits(input), q = await bm.int8!.exits(input);
      let d = 0;
      f.forEach((e, k) => e.probs.forEach((p, c) => { d = Math.max(d, Math.abs(p - q[k].probs[c])); }));
      for (let k = 1; k <= bm.model.numLayers; k++) {
        const seg = (await bm.int8!.runDevice(input, k, { offload: () => false })).exit;
        seg.probs.forEach((p, c) => { d = Math.max(d, Math.abs(p - f[k - 1].probs[c])); });
      }
      const par = res.int8Parity;
      assert.ok(par, `${bm.name} ${res.input}: int8 parity reported`);
      assert.ok(par!.maxAbsDiff > 0, 'int8 and f32 differ somewhat (the int8 path really ran)');
      assert.ok(Math.abs(par!.maxAbsDiff - d) <= 1e-7, `reported ${par!.maxAbsDiff} vs ${d}`);
      assert.ok(par!.maxAbsDiff <= INT8_PARITY_TOLERANCE && par!.ok, `${bm.name}: ${par!.maxAbsDiff}`);
      assert.is(par!.tolerance, INT8_PARITY_TOLERANCE);
      finitePositive(res.spliteeInt8Ms, 'whole-model int8 ms');
      finitePositive(res.int8VsF32, 'int8 ÷ f32');
      finitePositive(res.int8VsTfjsWasm, 'int8 ÷ tfjs');
      assert.ok(Math.abs(res.int8VsF32! - res.spliteeInt8Ms! / res.spliteeMs) < 1e-12);
      // No ONNX export for the fixtures: no ORT ratios.
      assert.is(res.int8VsOrtNode, null);
      assert.is(res.segments.length, bm.model.numLayers);
      for (const s of res.segments) {
        finitePositive(s.spliteeInt8Ms, `segment ${s.k} int8 ms`);
        finitePositive(s.int8VsF32, `segment ${s.k} int8 ÷ f32`);
        assert.is(s.int8VsOrtNode, null);
      }
    }
  }
  for (const bm of models) { bm.model.dispose(); bm.int8!.dispose(); }
});

test('an int8 peer computing something else fails the int8 parity check and gets no ratios', async () => {
  const [img] = await benchModels({ tiny: true });
  // The same fixture drawn with another seed: same shapes, other weights, on the int8 path.
  const other = await loadModel(tinyImageModel(9), { precision: 'int8' });
  const res = (await benchModel({ ...img, int8: other }, { timeMs: 10, rounds: 1, clock: 'cpu' }))[0];
  assert.ok(res.int8Parity && !res.int8Parity.ok, `parity should fail: ${JSON.stringify(res.int8Parity)}`);
  assert.ok(res.int8Parity!.maxAbsDiff > INT8_PARITY_TOLERANCE);
  assert.is(res.int8VsF32, null);
  assert.is(res.int8VsTfjsWasm, null);
  for (const s of res.segments) assert.is(s.int8VsF32, null);
  finitePositive(res.spliteeInt8Ms, 'the time is still reported');
  img.model.dispose(); other.dispose();
});

test('the kernel table has an int8 row for every int8 kernel call of the int8 models, against the integer peak', async () => {
  const models = await benchModels({ tiny: true, int8: true });
  const k = await benchKernels(models, { timeMs: 5, squareTimeMs: 5, peakTimeMs: 20, clock: 'cpu', int8: true, squareSizes: [24] });
  assert.ok(k.intPeak && k.int8, 'int8 results present');
  finitePositive(k.intPeak!.gops, 'integer peak');
  for (const row of k.int8!) {
    assert.ok(row.kernel.endsWith('_q8'), row.kernel);
    finitePositive(row.ms, `${row.kernel} ${row.shape} ms`);
    finitePositive(row.intPeakFraction, `${row.kernel} ${row.shape} %int`);
    assert.ok(Math.abs(row.intPeakFraction! - row.gflops / k.intPeak!.gops) < 1e-9);
    finitePositive(row.boundFraction, `${row.kernel} ${row.shape} %bound`);
    if (row.kernel === 'attention_q8') {
      assert.ok(row.f32Flops! > 0 && row.f32Flops! < row.flops, 'attention_q8: scores and context are its f32 part');
      assert.ok(row.boundFraction! > row.intPeakFraction!, 'its f32 part is bounded by the lower f32 peak');
    } else {
      assert.ok(Math.abs(row.boundFraction! - row.intPeakFraction!) < 1e-9);
    }
    // Every GELU-fused int8 projection has its comparison row without the GELU.
    if (row.shape.endsWith(' +gelu') && row.uses.length) {
      assert.ok(k.int8!.some((r) => r.kernel === row.kernel && r.shape === row.shape.replace(' +gelu', '')), `${row.shape}: comparison row`);
    }
  }
  assert.ok(k.int8!.some((r) => r.shape.endsWith(' +gelu')), 'the text fixture has a GELU projection');
  assert.ok(k.int8!.some((r) => r.kernel === 'linear_q8' && r.uses.length === 0 && r.shape === '24x24·24x24'), 'square linear_q8');
  // Calls per int8 pass, counted from the plan here: every linear, conv and attention op once, on the int8 kernel
  // exactly when the loaded int8 model holds its weight as int8.
  let q8Ops = 0, f32Ops = 0;
  for (const bm of models) {
    const backend = bm.int8!.backend as WasmBackend;
    for (const s of sampleInputs(bm.model)) {
      const id = `${bm.name} ${s.label} int8`;
      const want: Record<string, number> = {};
      const plan = planBuffers(bm.model.file);
      for (const block of [...plan.layers, ...plan.exits]) {
        // a CNN exit is one exit_gap_linear call (f32)
        if (plan.exits.includes(block) && gapLinearSteps(block, (w) => backend.scales(w) !== 0)) {
          f32Ops++;
          want.exit_gap_linear = (want.exit_gap_linear ?? 0) + 1;
          continue;
        }
        for (const st of block.steps) {
          const op = st.op;
          const w = op.op === 'linear' || op.op === 'conv2d' ? op.w : op.op === 'attention' ? op.wqkv : undefined;
          if (!w) continue;
          const int8 = backend.scales(w) !== 0;
          if (int8) q8Ops++; else f32Ops++;
          const name = `${op.op}${int8 ? '_q8' : ''}`;
          want[name] = (want[name] ?? 0) + 1;
        }
      }
      const got: Record<string, number> = {};
      for (const row of [...k.gemm, ...k.conv, ...k.attention, ...k.exits, ...k.int8!]) if (row.callsPerPass[id]) got[row.kernel] = (got[row.kernel] ?? 0) + row.callsPerPass[id];
      assert.equal(got, want, id);
    }
  }
  assert.ok(q8Ops > 0 && f32Ops > 0, `the fixtures exercise both kinds of call (${q8Ops} int8, ${f32Ops} f32)`);
  for (const bm of models) { bm.model.dispose(); bm.int8!.dispose(); }
});

test('the int8 accuracy field is appended to eval.json, replaced on a rerun, and the rest kept byte for byte', () => {
  // The recipes' layout: one-space indent, escaped non-ASCII, numbers as Python prints them.
  const recipe = '{\n "model": "m",\n "units": "a \\u2026 b",\n "streams": {\n  "s": {\n   "n": 3,\n   "exits": [\n    {\n     "accuracy": 1e-05\n    }\n   ]\n  }\n }\n}\n';
  const r = (delta: number): Int8Accuracy => ({
    model: 'm', what: 'test', budgetPoints: INT8_ACCURACY_BUDGET_POINTS, maxAbsDeltaPoints: Math.abs(delta), withinBudget: Math.abs(delta) <= 0.3,
    streams: { s: { n: 3, maxAbsDeltaPoints: Math.abs(delta), exits: [{ layer: 1, f32: 0.5, int8: 0.5 + delta / 100, deltaPoints: delta, f32Confidence: 0.7, int8Confidence: 0.7 }] } },
  });
  const once = withInt8Field(recipe, r(0.25));
  assert.ok(once.startsWith(recipe.slice(0, recipe.lastIndexOf('\n}'))), 'the recipe text is kept as it was');
  const parsed = JSON.parse(once) as { streams: unknown; int8: Int8Accuracy; units: string };
  assert.equal(parsed.streams, JSON.parse(recipe).streams);
  assert.is(parsed.units, 'a \u2026 b');
  assert.is(parsed.int8.streams.s.exits[0].deltaPoints, 0.25);
  const twice = withInt8Field(once, r(-0.5));
  assert.is(twice.slice(0, recipe.lastIndexOf('\n}')), recipe.slice(0, recipe.lastIndexOf('\n}')));
  const p2 = JSON.parse(twice) as { int8: Int8Accuracy };
  assert.is(p2.int8.streams.s.exits[0].deltaPoints, -0.5);
  assert.is(p2.int8.withinBudget, false);
  assert.is((twice.match(/"int8": \{/g) ?? []).length, 1, 'replaced, not added again');
  assert.throws(() => withInt8Field('[1, 2]\n', r(0)));
});

test('the zoo eval.json files carry the int8 path\'s per-exit accuracy on every stream they evaluate', () => {
  for (const name of BENCH_ZOO) {
    const j = JSON.parse(readFileSync(join(packageRoot, 'models', name, 'eval.json'), 'utf8')) as {
      streams: Record<string, { n: number; exits: { accuracy: number }[] }>; int8?: Int8Accuracy;
    };
    assert.ok(j.int8, `${name}: eval.json has no int8 field (node dist/bench/int8-accuracy.js --write)`);
    assert.equal(Object.keys(j.int8!.streams).sort(), Object.keys(j.streams).sort(), `${name}: the same streams`);
    let worst = 0;
    for (const [s, v] of Object.entries(j.int8!.streams)) {
      assert.is(v.n, j.streams[s].n, `${name} ${s}: full stream`);
      assert.is(v.exits.length, j.streams[s].exits.length);
      for (const e of v.exits) {
        assert.ok(Math.abs(e.deltaPoints - 100 * (e.int8 - e.f32)) < 1e-3, `${name} ${s} exit ${e.layer}: Δ`);
        // The f32 column is splitee's f32 path, which the zoo test holds to the recipe within 0.1 point.
        assert.ok(Math.abs(e.f32 - j.streams[s].exits[e.layer - 1].accuracy) <= 0.001 + 1e-9, `${name} ${s} exit ${e.layer}: f32 vs recipe`);
        worst = Math.max(worst, Math.abs(e.deltaPoints));
      }
      assert.ok(Math.abs(v.maxAbsDeltaPoints - Math.max(...v.exits.map((e) => Math.abs(e.deltaPoints)))) < 1e-9);
    }
    assert.ok(Math.abs(j.int8!.maxAbsDeltaPoints - worst) < 1e-9);
    assert.is(j.int8!.withinBudget, worst <= INT8_ACCURACY_BUDGET_POINTS + 1e-9);
  }
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
