// The committed zoo models against what their recipes saved: PyTorch's probabilities at every exit on 32 inputs,
// ONNX Runtime on the ONNX export, and `splitee eval` accuracies on every stream within 0.1 point of the recipe's.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as ort from 'onnxruntime-node';
import { evaluateStream } from '../src/cli/eval.js';
import { createInputEncoder } from '../src/data/prepare.js';
import { openStream } from '../src/data/streams.js';
import { loadModel, packageRoot, type Model } from '../src/node.js';

const ZOO = ['fmnist-cnn', 'sst2-transformer'];

/** One saved PyTorch case: image models keep the preprocessed input and its stream index, text models the sentence and ids. */
interface ParitySample { stream: string; index?: number; label: number; input?: number[]; ids?: number[]; text?: string; probs: number[][] }

/** Both recipes' layouts: {samples:[…]} with a stream per sample, or {stream, cases:[…]}. */
function readParity(name: string): ParitySample[] {
  const raw = readJson<{ samples?: ParitySample[]; cases?: ParitySample[]; stream?: string }>(name, 'parity.json');
  const list = raw.samples ?? raw.cases ?? [];
  return list.map((s) => ({ ...s, stream: s.stream ?? raw.stream! }));
}
interface EvalJson { streams: Record<string, { n: number; exits: { layer: number; accuracy: number; meanConfidence: number }[] }> }

const dir = (name: string) => join(packageRoot, 'models', name);
const readJson = <T>(name: string, file: string): T => JSON.parse(readFileSync(join(dir(name), file), 'utf8')) as T;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function modelInput(m: Model, s: ParitySample): Float32Array | Int32Array {
  if (m.header.input.kind === 'image') return Float32Array.from(s.input!);
  return Int32Array.from(s.ids!);
}

for (const name of ZOO) {
  test(`${name}: the model, its ONNX export and the recipe's outputs are committed`, () => {
    for (const f of [`${name}.spx`, `${name}.onnx`, 'parity.json', 'eval.json', 'README.md']) {
      assert.ok(existsSync(join(dir(name), f)), `models/${name}/${f} is missing`);
    }
  });

  test(`${name}: every exit equals PyTorch on the recipe's 32 inputs (max abs diff ≤ 1e-4)`, async () => {
    const m = await loadModel(name);
    const samples = readParity(name);
    assert.ok(samples.length >= 32, `${samples.length} parity samples`);
    let worst = 0;
    for (const s of samples) {
      const exits = await m.exits(modelInput(m, s));
      assert.is(exits.length, s.probs.length);
      exits.forEach((e, k) => { worst = Math.max(worst, maxAbsDiff(e.probs, s.probs[k])); });
    }
    assert.ok(worst <= 1e-4, `max abs diff vs PyTorch ${worst}`);
  });

  test(`${name}: the data pipeline (stream → preprocess) reproduces the recipe's inputs`, async () => {
    const m = await loadModel(name);
    const encode = createInputEncoder(m.header);
    const byStream = new Map<string, ParitySample[]>();
    for (const s of readParity(name)) byStream.set(s.stream, [...(byStream.get(s.stream) ?? []), s]);
    for (const [streamName, samples] of byStream) {
      const stream = await openStream(streamName);
      for (const s of samples) {
        // Image cases name their stream index; text cases carry the sentence, found in the stream by its text.
        const sample = s.index !== undefined ? stream.samples[s.index] : stream.samples.find((x) => x.input === s.text);
        assert.ok(sample, `${streamName}: case ${s.index ?? JSON.stringify(s.text)} is not in the stream`);
        assert.is(sample!.label, s.label, `${streamName} case label`);
        const x = encode(sample!.input) as Float32Array | Int32Array;
        const want = modelInput(m, s);
        assert.is(x.length, want.length, `${streamName} case input length`);
        assert.ok(maxAbsDiff(x, want) <= 1e-6, `${streamName} case ${s.index ?? JSON.stringify(s.text)}: input differs from the recipe's`);
      }
    }
  });

  test(`${name}: every exit equals ONNX Runtime on the ONNX export (max abs diff ≤ 1e-4)`, async () => {
    const m = await loadModel(name);
    const samples = readParity(name);
    const session = await ort.InferenceSession.create(join(dir(name), `${name}.onnx`), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const inputName = session.inputNames[0];
    let worst = 0;
    for (const s of samples) {
      const x = modelInput(m, s);
      const feed = x instanceof Float32Array
        ? new ort.Tensor('float32', x, [1, ...(m.header.input as { shape: number[] }).shape])
        : new ort.Tensor('int64', BigInt64Array.from(Array.from(x, BigInt)), [1, x.length]);
      const out = await session.run({ [inputName]: feed });
      const exits = await m.exits(x);
      assert.is(session.outputNames.length, exits.length, 'one ONNX output per exit');
      session.outputNames.forEach((o, k) => { worst = Math.max(worst, maxAbsDiff(out[o].data as Float32Array, exits[k].probs)); });
    }
    await session.release();
    assert.ok(worst <= 1e-4, `max abs diff vs ONNX Runtime ${worst}`);
  });

  test(`${name}: splitee eval accuracies equal the recipe's within 0.1 point on every stream`, async () => {
    const m = await loadModel(name);
    const recipe = readJson<EvalJson>(name, 'eval.json');
    const streams = Object.keys(recipe.streams);
    assert.ok(streams.length >= 1);
    for (const streamName of streams) {
      const want = recipe.streams[streamName];
      const got = await evaluateStream(m, await openStream(streamName));
      assert.is(got.n, want.n, `${streamName}: sample count`);
      got.exits.forEach((e, k) => {
        const diff = 100 * Math.abs(e.accuracy - want.exits[k].accuracy); // both fractions; the bound is in points
        assert.ok(diff <= 0.1, `${streamName} exit ${k + 1}: ${(100 * e.accuracy).toFixed(2)}% vs recipe ${(100 * want.exits[k].accuracy).toFixed(2)}%`);
      });
    }
  });
}

test.run();
