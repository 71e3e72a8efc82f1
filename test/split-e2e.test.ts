// Split execution end to end with a real server process (`splitee serve` from bin/, on loopback): a stream whose
// decisions equal the simulator's on the same confidences, wrong token (401) and wrong model (409) as typed errors,
// garbage and fuzzed frames (4xx, the server stays up), and the server killed mid-stream (every sample answered
// exactly once, the rest degraded, none lost).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModelBytes, type ExitResult, type Model } from '../src/index.js';
import { CloudError, HttpCloudClient, runStream, type RunResult } from '../src/device/index.js';
import { createPolicy, type CostModel, type Observation, type SplitPolicy } from '../src/policy/index.js';
import { matrixFromSamples, simulate } from '../src/sim/index.js';
import { encode } from '../src/transport/codec.js';
import { encodeFrame } from '../src/transport/frame.js';
import { crc32 } from '../src/util/crc32.js';
import { writeSpx, type Op } from '../src/format/index.js';
import { findDataset } from '../src/data/paths.js';
import { RUN_SUMMARY_KEYS } from '../src/device/runner.js';
import { tinyImageModel } from './fixtures/tiny-models.js';
import { randn, rng } from './util.js';

const BIN = fileURLToPath(new URL('../../bin/splitee.js', import.meta.url));
const TOKEN = 's3cret-token';
const dir = mkdtempSync(join(tmpdir(), 'splitee-e2e-'));
const modelPath = join(dir, 'tiny-image.spx');
const modelBytes = tinyImageModel(1);
writeFileSync(modelPath, modelBytes);

interface Server { url: string; child: ChildProcess; out: () => string; exited: Promise<number | null> }

async function startServer(extra: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [BIN, 'serve', '--model', modelPath, '--port', '0', '--quiet', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const t0 = Date.now();
  while (!/listening on (http:\/\/\S+)/.test(out)) {
    if (child.exitCode !== null || Date.now() - t0 > 8000) { child.kill('SIGKILL'); throw new Error(`server did not start: ${out}${err}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { url: /listening on (http:\/\/\S+)/.exec(out)![1], child, out: () => out + err, exited };
}

function spy(p: SplitPolicy) {
  const seen: Observation[] = [];
  return Object.assign({
    name: p.name, L: p.L, exitRule: p.exitRule, sideExits: p.sideExits,
    chooseArm: (t: number) => p.chooseArm(t),
    observe(o: Observation) { seen.push({ ...o, confidences: o.confidences.slice() }); p.observe(o); },
  }, { seen });
}

let server: Server;
let model: Model;
const r = rng(2024);
const inputs = Array.from({ length: 70 }, () => randn(r, 3 * 13 * 11, 1.5));
const labels = inputs.map((_, i) => (i * 3) % 5);
let rows: ExitResult[][] = [];
// α near the middle of the tiny model's confidences, so samples exit, offload and split at every layer.
const costs: CostModel = { alpha: 0.45, lambda: 0.1, offloadCost: 0.12 };

test.before(async () => {
  [server, model] = await Promise.all([startServer(['--token', TOKEN]), loadModelBytes(modelBytes)]);
  rows = [];
  for (const x of inputs) rows.push(await model.exits(x));
});

test.after(async () => {
  if (server?.child.exitCode === null) { server.child.kill('SIGTERM'); await server.exited; }
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function matrixFrom(conf: (i: number, j: number) => number) {
  const L = model.numLayers;
  return matrixFromSamples(rows.map((ex, i) => ({
    confidences: ex.map((_, j) => conf(i, j + 1)), predictions: ex.map((e) => e.label), label: labels[i],
  })), { numClasses: 5 });
}

async function stream(policyName: string, dtype: 'f32' | 'int8', token = TOKEN): Promise<{ res: RunResult; seen: Observation[] }> {
  const L = model.numLayers;
  const pol = spy(createPolicy(policyName, { L, costs, seed: 3 }));
  const res = await runStream({
    model, samples: inputs.map((input, i) => ({ input, label: labels[i], index: i })), policy: pol, costs, dtype,
    cloud: new HttpCloudClient(server.url, { token }), retry: { retries: 1, baseDelayMs: 5, timeoutMs: 5000 },
  });
  return { res, seen: pol.seen };
}

test('f32 transport over HTTP: decisions, answers and costs equal the simulator on the engine\'s confidence matrix', async () => {
  const L = model.numLayers;
  const m = matrixFrom((i, j) => rows[i][j - 1].confidence);
  for (const name of ['splitee', 'splitee-su']) {
    const { res } = await stream(name, 'f32');
    const sim = simulate(m, createPolicy(name, { L, costs, seed: 3 }), costs, { record: true });
    assert.equal(res.records.map((x) => x.arm), Array.from(sim.arms!), `${name}: arms`);
    assert.is(res.records.filter((x) => x.offloaded).length, sim.offloads);
    assert.is(res.records.filter((x) => x.exited && x.answerLayer < L).length, sim.exits);
    assert.is(res.summary.accuracy, sim.correct / m.n);
    assert.ok(Math.abs(res.summary.cost - sim.totalCost / m.n) < 1e-12);
    assert.ok(sim.offloads > 5 && sim.exits > 5, `offloads ${sim.offloads}, exits ${sim.exits}: the stream exercises both`);
    for (const rec of res.records) {
      // f32 crosses bit-exactly, so the cloud's last exit is the engine's own.
      const want = rec.offloaded ? rows[rec.t][L - 1] : rows[rec.t][rec.answerLayer - 1];
      assert.is(rec.prediction, want.label);
      assert.is(rec.confidence, want.confidence);
      assert.is(rec.degraded, false);
    }
  }
});

test('int8 transport over HTTP: same decisions as the simulator fed the C_L the cloud returned; answers close to f32', async () => {
  const L = model.numLayers;
  const { res, seen } = await stream('splitee', 'int8');
  // The simulator sees C_L only where the device did (offloads, arm L): substitute what the cloud answered there.
  const cloudCL = new Map(seen.filter((o) => !o.exited).map((o) => [o.t, o.confidences[L - 1]!]));
  const m = matrixFrom((i, j) => (j === L && cloudCL.has(i) ? cloudCL.get(i)! : rows[i][j - 1].confidence));
  const sim = simulate(m, createPolicy('splitee', { L, costs }), costs, { record: true });
  assert.equal(res.records.map((x) => x.arm), Array.from(sim.arms!));
  assert.equal(res.records.map((x) => x.offloaded), res.records.map((x) => x.arm < L && m.conf[x.t * L + x.arm - 1] < costs.alpha));
  let same = 0, offl = 0;
  for (const rec of res.records.filter((x) => x.offloaded)) {
    offl++;
    const ref = rows[rec.t][L - 1];
    assert.ok(Math.abs(rec.confidence - ref.confidence) < 0.05, `C_L ${rec.confidence} vs f32 ${ref.confidence}`);
    if (rec.prediction === ref.label) same++;
  }
  assert.ok(offl > 5);
  assert.ok(same >= offl - 2, `${same}/${offl} int8 predictions equal the f32 ones`);
  // Every offload's bytes are one int8 frame of the activation after its split layer.
  assert.is(res.summary.bytesSent, res.records.reduce((a, x) => a + x.frameBytes, 0));
});

test('wrong or missing token: 401 surfaces as a typed CloudError and stops the run', async () => {
  for (const token of ['wrong-token', '']) {
    let err: unknown;
    try { await stream('fixed:1', 'int8', token); } catch (e) { err = e; }
    assert.instance(err, CloudError);
    assert.is((err as CloudError).code, 'UNAUTHORIZED');
    assert.is((err as CloudError).status, 401);
    assert.is((err as CloudError).fatal, true);
  }
});

test('another model file (other weights, same shapes): the server refuses with 409 DIGEST_MISMATCH, healthz tells why', async () => {
  const other = await loadModelBytes(tinyImageModel(7));
  try {
    const cloud = new HttpCloudClient(server.url, { token: TOKEN });
    const h = await cloud.health();
    assert.is(h.digest, model.digestHex);
    assert.is.not(h.digest, other.digestHex);
    let err: unknown;
    try {
      await runStream({ model: other, samples: inputs.slice(0, 5).map((input) => ({ input })), policy: createPolicy('fixed:1', { L: 4, costs: { ...costs, alpha: 1 } }), costs: { ...costs, alpha: 1 }, cloud });
    } catch (e) { err = e; }
    assert.instance(err, CloudError);
    assert.is((err as CloudError).code, 'DIGEST_MISMATCH');
    assert.is((err as CloudError).status, 409);
  } finally { other.dispose(); }
});

test('garbage and 400 fuzzed frames each get a 4xx with a code; the server stays up and keeps answering', async () => {
  const cloud = new HttpCloudClient(server.url, { token: TOKEN });
  const fr = rng(99);
  const act = await model.run(inputs[0], { from: 1, to: 1 });
  const good = encodeFrame({ digest: model.digest, splitLayer: 1, tensor: encode(act.data, act.shape, 'int8') });
  const codes = new Map<string, number>();
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < 400; i++) {
    let body: Uint8Array;
    const kind = i % 4;
    if (kind === 0) body = Uint8Array.from({ length: fr.int(0, 200) }, () => fr.int(0, 256)); // garbage
    else if (kind === 1) body = good.slice(0, fr.int(0, good.length)); // truncated
    else {
      body = good.slice();
      for (let f = 0; f < 1 + fr.int(0, 4); f++) body[fr.int(0, kind === 2 ? 80 : body.length)] ^= 1 << fr.int(0, 8);
      // Half of the header flips get a fixed-up CRC, so they reach the structural checks instead of CHECKSUM.
      if (kind === 2 && i % 8 === 2) new DataView(body.buffer).setUint32(body.length - 4, crc32(body.subarray(0, body.length - 4)), true);
    }
    jobs.push(cloud.infer(body).then(
      () => { codes.set('200', (codes.get('200') ?? 0) + 1); },
      (e: CloudError) => {
        assert.instance(e, CloudError);
        assert.ok(e.status >= 400 && e.status < 500, `${e.code}: status ${e.status}`);
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
      }));
    if (jobs.length >= 8) await Promise.all(jobs.splice(0));
  }
  await Promise.all(jobs);
  // A flip that only changes the activation's values (with the CRC fixed) is a valid frame: those are answered.
  const refused = [...codes].filter(([c]) => c !== '200').reduce((a, [, v]) => a + v, 0);
  assert.ok(refused >= 380, JSON.stringify([...codes]));
  assert.ok(codes.has('CHECKSUM') && codes.has('BAD_MAGIC') && codes.has('TRUNCATED'), JSON.stringify([...codes]));
  const h = await cloud.health();
  assert.ok(h.ok);
  const a = await cloud.infer(good, { numClasses: 5 });
  assert.is(a.layersRun, 3);
});

test('server SIGKILLed mid-stream: every sample answered exactly once, the ones after the kill degraded, none lost', async () => {
  const victim = await startServer();
  const L = model.numLayers;
  const n = 40, killAt = 12;
  const pol = spy(createPolicy('fixed:1', { L, costs: { ...costs, alpha: 1 } })); // α = 1: every sample offloads at 1
  const seenIds: number[] = [];
  const res = await runStream({
    model, samples: inputs.slice(0, n).map((input, i) => ({ input, label: labels[i], index: 500 + i })), policy: pol,
    costs: { ...costs, alpha: 1 }, cloud: new HttpCloudClient(victim.url), dtype: 'int8',
    retry: { retries: 2, baseDelayMs: 5, timeoutMs: 3000 }, breaker: { threshold: 3, cooldownMs: 200 },
    onSample: async (rec) => {
      seenIds.push(rec.index);
      if (seenIds.length === killAt) { victim.child.kill('SIGKILL'); await victim.exited; }
    },
  });
  assert.is(res.records.length, n);
  assert.equal(seenIds.slice().sort((a, b) => a - b), Array.from({ length: n }, (_, i) => 500 + i), 'each id answered once');
  assert.equal(res.records.map((x) => x.index), Array.from({ length: n }, (_, i) => 500 + i));
  for (const rec of res.records) {
    const i = rec.t;
    assert.is(rec.degraded, i >= killAt, `sample ${i} degraded?`);
    assert.is(rec.offloaded, true);
    const want = rec.degraded ? rows[i][0] : rows[i][L - 1];
    if (rec.degraded) {
      assert.is(rec.prediction, want.label, 'degraded: the device\'s exit 1 answers');
      assert.is(rec.confidence, want.confidence);
      assert.ok(['NETWORK', 'CIRCUIT_OPEN'].includes(rec.error!), rec.error);
      assert.is(pol.seen[i].confidences[L - 1], undefined, 'no C_L for a degraded sample');
      assert.is(pol.seen[i].degraded, true);
    } else {
      assert.ok(Math.abs(rec.confidence - want.confidence) < 0.05);
    }
  }
  assert.is(res.summary.answered, n);
  assert.is(res.summary.degraded, n - killAt);
  assert.ok(res.errors.NETWORK >= 3 && res.errors.CIRCUIT_OPEN >= 1, JSON.stringify(res.errors));
});

/** A 3-layer model shaped for Fashion-MNIST ([1, 28, 28] → 10 classes), random weights: lets the CLI run a real stream. */
function fmnistShapedModel(): Uint8Array {
  const g = rng(77);
  const tensors: Record<string, { dtype: 'f32'; shape: number[]; data: Float32Array }> = {};
  const t = (name: string, shape: number[], scale: number) => {
    tensors[name] = { dtype: 'f32', shape, data: randn(g, shape.reduce((a, b) => a * b, 1), scale) };
    return name;
  };
  const exit = (l: number, ch: number): Op[] => [{ op: 'gap' }, { op: 'linear', w: t(`e${l}.w`, [10, ch], 1.5), b: t(`e${l}.b`, [10], 0.2) }];
  return writeSpx({
    format: 'splitee-model', name: 'fmnist-shaped', task: 'image-classification',
    classes: Array.from({ length: 10 }, (_, c) => `c${c}`),
    input: { kind: 'image', shape: [1, 28, 28] },
    preprocess: { kind: 'image', scale: 1, mean: [0.5], std: [0.5] },
    layers: [
      { name: 'c1', ops: [{ op: 'conv2d', w: t('l1.w', [4, 1, 3, 3], 0.5), b: t('l1.b', [4], 0.1), stride: 2, pad: 1, act: 'relu' }] },
      { name: 'c2', ops: [{ op: 'conv2d', w: t('l2.w', [6, 4, 3, 3], 0.3), b: t('l2.b', [6], 0.1), stride: 2, pad: 1, act: 'relu' }] },
      { name: 'c3', ops: [{ op: 'conv2d', w: t('l3.w', [8, 6, 3, 3], 0.3), b: t('l3.b', [8], 0.1), pad: 1, act: 'relu' }] },
    ],
    exits: [{ layer: 1, ops: exit(1, 4) }, { layer: 2, ops: exit(2, 6) }, { layer: 3, ops: exit(3, 8) }],
    provenance: { recipe: 'test/split-e2e.test.ts' },
  }, tensors);
}

function runCli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('`splitee run --json` on a real stream, through `splitee serve` and in-process: the same summary', async () => {
  const usage = await runCli(['run', '--model', modelPath, '--dataset', 'fmnist:test', '--dtype', 'int9']);
  assert.is(usage.code, 2, usage.err);
  assert.match(usage.err, /--dtype must be one of/);
  // Throws DatasetNotFoundError (every place looked, how to get the data) when absent: the test fails with it.
  findDataset('fashion-mnist', [['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'], ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']]);
  const path = join(dir, 'fmnist-shaped.spx');
  writeFileSync(path, fmnistShapedModel());
  const srv = spawn(process.execPath, [BIN, 'serve', '--model', path, '--port', '0', '--quiet', '--token', TOKEN], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  srv.stdout!.on('data', (c) => (out += c));
  const exited = new Promise((res) => srv.on('exit', res));
  try {
    const t0 = Date.now();
    while (!/listening on (\S+)/.test(out) && Date.now() - t0 < 8000) await new Promise((r) => setTimeout(r, 20));
    const url = /listening on (\S+)/.exec(out)![1];
    const common = ['run', '--model', path, '--dataset', 'fmnist:test', '--limit', '60', '--alpha', '0.3', '--json'];
    const [remote, local] = await Promise.all([runCli([...common, '--cloud', url, '--token', TOKEN]), runCli([...common, '--cloud', 'local'])]);
    assert.is(remote.code, 0, remote.err);
    assert.is(local.code, 0, local.err);
    const a = JSON.parse(remote.out), b = JSON.parse(local.out);
    assert.equal(Object.keys(a), [...RUN_SUMMARY_KEYS]);
    assert.is(a.n, 60);
    assert.is(a.answered, 60);
    assert.is(a.degraded, 0);
    assert.ok(a.offloadRate > 0 && a.bytesSent > 0, JSON.stringify(a));
    for (const k of ['n', 'answered', 'degraded', 'accuracy', 'cost', 'offloadRate', 'bytesSent']) assert.is(a[k], b[k], k);
    // The device refuses a cloud serving another model before streaming.
    const wrong = await runCli(['run', '--model', modelPath, '--dataset', 'fmnist:test', '--limit', '5', '--cloud', url]);
    assert.is.not(wrong.code, 0);
    // Measured costs over the real server: the JSON adds what was measured (every layer's time, the link, λ_k, o_k).
    const measured = await runCli([...common, '--cloud', url, '--token', TOKEN, '--costs', 'measured', '--policy', 'splitee-discounted']);
    assert.is(measured.code, 0, measured.err);
    const mj = JSON.parse(measured.out);
    assert.equal(Object.keys(mj), [...RUN_SUMMARY_KEYS, 'measured']);
    assert.is(mj.answered, 60);
    const layers = mj.measured.layerMs.length;
    assert.ok(layers >= 2 && mj.measured.lambda.length === layers, `${layers} layers`);
    // The link is fitted as round trip + bytes / bandwidth: on loopback the fitted round trip may clamp at 0 (noise
    // puts the intercept below it), and on a loaded machine the time may not grow with the frame size at all, which
    // the fit reports as an unresolved (infinite, JSON null) bandwidth; otherwise it must be finite and positive.
    const bw = mj.measured.bandwidthMbit;
    assert.ok(mj.measured.layerMs.every((x: number) => x >= 0) && mj.measured.rttMs >= 0
      && (bw === null || (Number.isFinite(bw) && bw > 0)), JSON.stringify(mj.measured));
    assert.ok(Math.abs(mj.measured.lambda.reduce((x: number, y: number) => x + y, 0) - mj.measured.mu * mj.measured.layerMs.reduce((x: number, y: number) => x + y, 0)) < 1e-9);
    assert.is(mj.measured.offload.length, layers - 1);
    const clash = await runCli([...common, '--cloud', 'local', '--costs', 'measured', '--offload-cost', '0.1']);
    assert.is(clash.code, 2);
    assert.match(clash.err, /--costs measured replaces --offload-cost/);
  } finally {
    srv.kill('SIGTERM');
    await exited;
  }
});

test('SIGTERM: `splitee serve` shuts down gracefully and exits 0', async () => {
  const s = await startServer();
  s.child.kill('SIGTERM');
  assert.is(await s.exited, 0, s.out());
  assert.match(s.out(), /closed after SIGTERM/);
});

test.run();
