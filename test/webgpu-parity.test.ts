// WebGPU and WASM give the same per-exit predictions on the zoo models, on at least 1,000 real samples each:
// fmnist-cnn on the first 1,000 of fmnist:test, sst2-transformer on all 872 of sst2:dev plus the first 128 of
// kotzias:imdb. WebGPU runs in Node through dawn.node, on SwiftShader when there is no GPU (docs/WEBGPU.md).
//
// Every exit of every sample is compared: the label must be the same, and every probability within 1e-4. A label
// may differ only where WASM's top two probabilities are within 1e-4 of each other (a near-tie the two float
// orders can split either way); such flips are counted and printed, and there must be none on a clear winner.
//
// The WebGPU side runs SPLITEE_PARITY_STREAMS (default 2) samples at a time, one GpuContext per stream shared by
// every model (pipelines compile once per device). The tiny fixture models run too, and runDevice (every exit, a
// cascade stop, the GPU-quantized int8 readback) is held to the WASM backend's. SPLITEE_PARITY_LIMIT=N caps the
// samples per model (default 1000). No WebGPU adapter, or a missing zoo model, fails with the reason.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Model, createInputEncoder, loadModelBytes, parseSpx, type ExitResult, type ModelInput } from '../src/index.js';
import { WebGpuBackend } from '../src/webgpu/backend.js';
import { GpuContext } from '../src/webgpu/context.js';
import { createNodeGpu } from '../src/webgpu/node-gpu.js';
import { PACKAGE_ROOT } from '../src/demo/server.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { decode, encode } from '../src/transport/codec.js';
import { assertClose, rng } from './util.js';

const PROB_TOL = 1e-4;
const LIMIT = Number(process.env.SPLITEE_PARITY_LIMIT ?? 1000);
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const STREAMS = Math.max(1, Number(process.env.SPLITEE_PARITY_STREAMS ?? 2));

/** One GpuContext per stream, shared by every model: pipelines compile once per device, not once per model. */
const contexts: GpuContext[] = [];
let ctx: GpuContext | undefined;
let setupError: unknown;
try {
  const { gpu } = await createNodeGpu();
  for (let i = 0; i < STREAMS; i++) contexts.push(await GpuContext.create({ gpu }));
  ctx = contexts[0];
} catch (e) {
  setupError = e;
}

export interface ParityStats {
  model: string;
  samples: number;
  exits: number;
  /** Exits whose label differs (each one a near-tie, or the test fails). */
  flips: number;
  maxProbDiff: number;
  /** Wall time of all samples on each backend, ms. */
  wasmMs: number;
  webgpuMs: number;
}

/**
 * Both backends on the same inputs, all exits. The WebGPU side runs STREAMS samples at a time, each stream on its own
 * device (GpuContext): SwiftShader keeps about one core busy per device, so two streams use both cores of a small CI
 * machine. Each sample's result does not depend on the stream that ran it.
 */
async function compare(name: string, bytes: Uint8Array, inputs: readonly ModelInput[]): Promise<ParityStats> {
  const wasm = await loadModelBytes(bytes, { backend: 'wasm' });
  const gpus: Model[] = [];
  const st: ParityStats = { model: name, samples: 0, exits: 0, flips: 0, maxProbDiff: 0, wasmMs: 0, webgpuMs: 0 };
  const clearFlips: string[] = [];
  const check = (i: number, a: ExitResult[], b: ExitResult[]) => {
    assert.is(b.length, a.length);
    for (let k = 0; k < a.length; k++) {
      st.exits++;
      for (let c = 0; c < a[k].probs.length; c++) {
        const d = Math.abs(a[k].probs[c] - b[k].probs[c]);
        if (!(d <= st.maxProbDiff)) st.maxProbDiff = Number.isNaN(d) ? Infinity : d;
      }
      if (a[k].label !== b[k].label) {
        st.flips++;
        const p = a[k].probs;
        const margin = Math.abs(p[a[k].label] - p[b[k].label]);
        const where = `${name} sample ${i} exit ${k + 1}: WASM ${a[k].label} (p ${p[a[k].label]}), WebGPU ${b[k].label} (p ${p[b[k].label]}), margin ${margin.toExponential(2)}`;
        console.log(`  label flip: ${where}`);
        if (margin >= PROB_TOL) clearFlips.push(where);
      }
    }
    st.samples++;
  };
  try {
    let t = performance.now();
    const expected: ExitResult[][] = [];
    for (const x of inputs) expected.push(await wasm.exits(x));
    st.wasmMs = performance.now() - t;
    for (const c of contexts) gpus.push(new Model(parseSpx(bytes), await WebGpuBackend.create(parseSpx(bytes), c), wasm.digest));
    t = performance.now();
    await Promise.all(gpus.map(async (gpu, s) => {
      for (let i = s; i < inputs.length; i += gpus.length) check(i, expected[i], await gpu.exits(inputs[i]));
    }));
    st.webgpuMs = performance.now() - t;
  } finally {
    wasm.dispose();
    for (const g of gpus) g.dispose();
  }
  console.log(`  ${name}: ${st.samples} samples, ${st.exits} exits, ${st.flips} label disagreements, max |Δp| ${st.maxProbDiff.toExponential(2)}; `
    + `WASM ${(st.wasmMs / 1000).toFixed(1)} s, WebGPU (SwiftShader, ${gpus.length} stream${gpus.length > 1 ? 's' : ''}) ${(st.webgpuMs / 1000).toFixed(1)} s`);
  assert.equal(clearFlips, [], 'labels differ where there is no near-tie');
  assert.ok(st.maxProbDiff <= PROB_TOL, `${name}: a probability differs by ${st.maxProbDiff} between WebGPU and WASM`);
  return st;
}

function zooBytes(name: string): Uint8Array | null {
  const path = join(PACKAGE_ROOT, 'models', name, `${name}.spx`);
  return existsSync(path) ? new Uint8Array(readFileSync(path)) : null;
}

/** The stream samples, encoded by the model's own preprocess. */
async function streamInputs(bytes: Uint8Array, streams: [string, number][]): Promise<ModelInput[]> {
  const { openStream } = await import('../src/data/streams.js');
  const probe = await loadModelBytes(bytes);
  const encode = createInputEncoder(probe.header);
  probe.dispose();
  const out: ModelInput[] = [];
  for (const [name, n] of streams) {
    if (n <= 0) continue;
    const s = await openStream(name, { limit: n });
    for (const x of s.samples) out.push(encode(x.input as Float32Array | string));
  }
  return out;
}

test('setup: a WebGPU adapter', () => {
  assert.ok(ctx, `no WebGPU device (${String((setupError as Error)?.message ?? setupError)}): install Chromium's SwiftShader with \`apt-get install chromium\` (see DEVELOPERS.md)`);
  console.log(`  adapter: ${ctx!.adapterName}`);
});

test('tiny fixture models: WebGPU = WASM on every exit of 40 random inputs each', async () => {
  const r = rng(66);
  const images = Array.from({ length: 40 }, () => Float32Array.from({ length: 3 * 13 * 11 }, () => r.uniform(0, 1)));
  await compare('tiny-image', tinyImageModel(), images);
  const tokens = Array.from({ length: 40 }, () => Int32Array.from({ length: r.int(1, 10) }, () => r.int(0, 50)));
  await compare('tiny-text', tinyTextModel(), tokens);
});

test('tiny fixture models: runDevice on WebGPU (every exit, cascade stop, f32 and GPU-quantized int8 readback) = WASM', async () => {
  const r = rng(67);
  for (const [name, bytes, inputs] of [
    ['tiny-image', tinyImageModel(), Array.from({ length: 3 }, () => Float32Array.from({ length: 3 * 13 * 11 }, () => r.uniform(0, 1)))],
    ['tiny-text', tinyTextModel(), Array.from({ length: 3 }, () => Int32Array.from({ length: r.int(1, 10) }, () => r.int(0, 50)))],
  ] as const) {
    const wasm = await loadModelBytes(bytes, { backend: 'wasm' });
    const gpu = new Model(parseSpx(bytes), await WebGpuBackend.create(parseSpx(bytes), ctx!), wasm.digest);
    try {
      for (const x of inputs) {
        for (let k = 1; k <= wasm.numLayers; k++) {
          const a = await wasm.runDevice(x, k, { exits: 'every', offload: () => true });
          const b = await gpu.runDevice(x, k, { exits: 'every', offload: () => true });
          assert.is(b.layer, k);
          for (let j = 0; j < k; j++) assert.ok(Math.abs(a.confidences[j]! - b.confidences[j]!) <= PROB_TOL, `${name} k=${k} C_${j + 1}`);
          assert.equal(b.confidences.slice(k), a.confidences.slice(k));
          assertClose(b.activation!.data, a.activation!.data, 1e-4, 1e-5, `${name} k=${k} activation`);
          const stop = await gpu.runDevice(x, k, { exits: 'every', stopAt: () => true, offload: () => true });
          assert.is(stop.layer, k === 1 ? 1 : 1, 'stops at the first layer');
          const q = await gpu.runDevice(x, k, { offload: () => true, readback: 'int8' });
          const want = encode(b.activation!.data, b.activation!.shape, 'int8');
          assert.equal(q.encoded!.params, want.params, `${name} k=${k}: the codec's parameters`);
          assert.equal(q.encoded!.shape, b.activation!.shape);
          const step = (want.params as { scale: number }).scale;
          const got = decode(q.encoded!), exp = decode(want);
          for (let i = 0; i < got.length; i++) {
            if (Math.abs(got[i] - exp[i]) > step * (1 + 1e-6)) assert.unreachable(`${name} k=${k} element ${i}: ${got[i]} vs ${exp[i]} (step ${step})`);
          }
        }
      }
    } finally {
      wasm.dispose();
      gpu.dispose();
    }
  }
});

test(`fmnist-cnn: WebGPU = WASM on every exit of fmnist:test[0..${LIMIT})`, async () => {
  const bytes = zooBytes('fmnist-cnn');
  assert.ok(bytes, 'zoo model fmnist-cnn is missing (models/fmnist-cnn/fmnist-cnn.spx)');
  const st = await compare('fmnist-cnn', bytes!, await streamInputs(bytes!, [['fmnist:test', LIMIT]]));
  assert.is(st.samples, LIMIT);
});

test(`sst2-transformer: WebGPU = WASM on every exit of sst2:dev + kotzias:imdb (${LIMIT} sentences)`, async () => {
  const bytes = zooBytes('sst2-transformer');
  assert.ok(bytes, 'zoo model sst2-transformer is missing (models/sst2-transformer/sst2-transformer.spx)');
  const dev = Math.min(872, LIMIT);
  const st = await compare('sst2-transformer', bytes!, await streamInputs(bytes!, [['sst2:dev', dev], ['kotzias:imdb', LIMIT - dev]]));
  assert.is(st.samples, LIMIT);
});

test.run();
