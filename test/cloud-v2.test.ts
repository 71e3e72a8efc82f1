// The KServe v2 / Open Inference Protocol routes: requests written by hand from the protocol's documentation (JSON
// tensors and the binary tensor extension) get the same answer as /v1/infer on the equivalent frame; health,
// metadata and readiness routes; errors; and the device's V2CloudClient equals HttpCloudClient on every dtype.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn } from './util.js';
import { CLASSES, DIGEST, L, fakeModel } from './cloud-fake.js';
import { createCloudServer, type CloudServer } from '../src/cloud/server.js';
import { cloudModelFrom } from '../src/cloud/cloud-model.js';
import { loadModel, openStream } from '../src/node.js';
import { createInputEncoder } from '../src/index.js';
import { createPolicy } from '../src/policy/registry.js';
import { runStream } from '../src/device/runner.js';
import { CloudError, HttpCloudClient } from '../src/device/cloud.js';
import { V2CloudClient, v2BaseUrl } from '../src/device/v2-client.js';
import { DTYPES, encode, type Encoded } from '../src/transport/codec.js';
import { encodeFrame, newRequestId, toHex } from '../src/transport/frame.js';

const r = rng(1503);

async function withServer(body: (s: CloudServer) => Promise<void>) {
  const s = await createCloudServer({ model: fakeModel(), port: 0 });
  try { await body(s); } finally { await s.close({ graceMs: 200 }); }
}

async function v1(s: CloudServer, tensor: Encoded, k: number) {
  const res = await fetch(`${s.url}/v1/infer`, { method: "POST", body: encodeFrame({ digest: DIGEST, splitLayer: k, tensor }) as Uint8Array<ArrayBuffer> });
  assert.is(res.status, 200);
  return await res.json() as { label: number; probs: number[]; confidence: number; layersRun: number };
}

const postJson = (s: CloudServer, path: string, text: string) => fetch(`${s.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: text });

test('a JSON request written from the protocol documentation gets /v1/infer\'s answer', async () => {
  await withServer(async (s) => {
    // UINT8 activation + scale + zero point, as DequantizeLinear takes them; the same levels in a v1 frame.
    const q = [12, 200, 0, 255, 77, 128, 3, 90];
    const text = `{
      "id": "42",
      "inputs": [
        { "name": "activation", "shape": [8], "datatype": "UINT8", "data": [12, 200, 0, 255, 77, 128, 3, 90] },
        { "name": "scale", "shape": [1], "datatype": "FP32", "data": [0.0125] },
        { "name": "zero_point", "shape": [1], "datatype": "UINT8", "data": [128] }
      ],
      "outputs": [ { "name": "probs" }, { "name": "label" }, { "name": "confidence" } ]
    }`;
    const res = await postJson(s, '/v2/models/fake-4.tail-2/infer', text);
    assert.is(res.status, 200);
    const got = await res.json() as { model_name: string; model_version: string; id: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
    assert.is(got.model_name, 'fake-4.tail-2');
    assert.is(got.id, '42');
    assert.equal(got.outputs.map((o) => [o.name, o.datatype, o.shape]), [['probs', 'FP32', [CLASSES]], ['label', 'INT64', [1]], ['confidence', 'FP32', [1]]]);
    const want = await v1(s, { dtype: 'int8', shape: [8], params: { kind: 'affine', scale: Math.fround(0.0125), zeroPoint: 128 }, payload: Uint8Array.from(q) }, 2);
    assert.equal(got.outputs[0].data, want.probs);
    assert.is(got.outputs[1].data[0], want.label);
    assert.is(got.outputs[2].data[0], want.confidence);

    // Nested row-major data for a [4, 3, 3] tail-1 input, and a signed INT8 activation: (q − zp) × scale again.
    const qs = Array.from({ length: 36 }, () => r.int(-128, 128));
    const nested = [0, 1, 2, 3].map((c) => [0, 1, 2].map((h) => [0, 1, 2].map((w) => qs[c * 9 + h * 3 + w])));
    const signed = `{"inputs":[{"name":"activation","shape":[4,3,3],"datatype":"INT8","data":${JSON.stringify(nested)}},
      {"name":"scale","shape":[1],"datatype":"FP32","data":[0.03]},{"name":"zero_point","shape":[1],"datatype":"INT8","data":[-5]}]}`;
    const rs = await postJson(s, '/v2/models/fake-4.tail-1/versions/1/infer', signed);
    assert.is(rs.status, 200);
    const gs = await rs.json() as { outputs: { name: string; data: number[] }[] };
    const ws = await v1(s, { dtype: 'int8', shape: [4, 3, 3], params: { kind: 'affine', scale: Math.fround(0.03), zeroPoint: 123 }, payload: Uint8Array.from(qs, (v) => v + 128) }, 1);
    assert.equal(gs.outputs.find((o) => o.name === 'probs')!.data, ws.probs);

    // FP32 activation: what a v1 f32 frame carries.
    const x = Array.from(randn(r, 15));
    const rf = await postJson(s, '/v2/models/fake-4.tail-3/infer', JSON.stringify({ inputs: [{ name: 'activation', shape: [3, 5], datatype: 'FP32', data: x }] }));
    assert.is(rf.status, 200);
    const wf = await v1(s, encode(Float32Array.from(x), [3, 5], 'f32'), 3);
    assert.equal((await rf.json() as { outputs: { data: number[] }[] }).outputs[0].data, wf.probs);
  });
});

test('the binary tensor extension, request and answer built by hand', async () => {
  await withServer(async (s) => {
    const q = Uint8Array.from({ length: 8 }, () => r.int(0, 256));
    const scale = new Uint8Array(new Float32Array([0.02]).buffer);
    const header = JSON.stringify({
      inputs: [
        { name: 'activation', shape: [8], datatype: 'UINT8', parameters: { binary_data_size: 8 } },
        { name: 'scale', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } },
        { name: 'zero_point', shape: [1], datatype: 'UINT8', parameters: { binary_data_size: 1 } },
      ],
      outputs: [{ name: 'probs', parameters: { binary_data: true } }, { name: 'label' }],
    });
    const head = new TextEncoder().encode(header);
    const body = new Uint8Array(head.length + 13);
    body.set(head); body.set(q, head.length); body.set(scale, head.length + 8); body[head.length + 12] = 7;
    const res = await fetch(`${s.url}/v2/models/fake-4.tail-2/infer`, {
      method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length) },
    });
    assert.is(res.status, 200);
    const n = Number(res.headers.get('inference-header-content-length'));
    const bytes = new Uint8Array(await res.arrayBuffer());
    const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))) as { outputs: { name: string; parameters?: { binary_data_size: number }; data?: number[] }[] };
    assert.is(meta.outputs[0].name, 'probs');
    assert.is(meta.outputs[0].parameters!.binary_data_size, 4 * CLASSES);
    assert.is(bytes.length, n + 4 * CLASSES);
    const probs = Array.from(new Float32Array(bytes.slice(n).buffer));
    const want = await v1(s, { dtype: 'int8', shape: [8], params: { kind: 'affine', scale: Math.fround(0.02), zeroPoint: 7 }, payload: q }, 2);
    assert.equal(probs, want.probs);
    assert.is(meta.outputs[1].data![0], want.label);
  });
});

test('health, server and model metadata, readiness, and errors in the protocol\'s shape', async () => {
  const s = await createCloudServer({ model: fakeModel(), port: 0 });
  const get = async (path: string) => { const res = await fetch(s.url + path); return { status: res.status, json: await res.json() as any }; };
  try {
    assert.equal(await get('/v2/health/live'), { status: 200, json: { live: true } });
    assert.equal(await get('/v2/health/ready'), { status: 200, json: { ready: true } });
    assert.is((await get('/v2')).json.extensions[0], 'binary_tensor_data');
    const meta = await get('/v2/models/fake-4.tail-1');
    assert.is(meta.status, 200);
    assert.equal(meta.json.inputs[0], { name: 'activation', datatype: 'UINT8', shape: [4, 3, 3] });
    assert.is(meta.json.parameters.digest, toHex(DIGEST));
    assert.equal((await get('/v2/models/fake-4.tail-3')).json.inputs[0].shape, [-1, -1]);
    assert.equal(await get('/v2/models/fake-4.tail-2/ready'), { status: 200, json: { name: 'fake-4.tail-2', ready: true } });
    for (const bad of ['fake-4.tail-0', `fake-4.tail-${L}`, 'fake-4', 'other.tail-1', 'fake-4.tail-01']) {
      const g = await get(`/v2/models/${bad}`);
      assert.is(g.status, 404, bad); assert.is(g.json.code, 'MODEL_NOT_FOUND'); assert.type(g.json.error, 'string');
    }
    assert.is((await get('/v2/models/fake-4.tail-1/versions/2')).status, 404);
    assert.is((await fetch(`${s.url}/v2/models/fake-4.tail-1/infer`)).status, 405);
    const errors: [string, string, number, string][] = [
      ['/v2/models/fake-4.tail-2/infer', 'not json', 400, 'BAD_REQUEST'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[8],"datatype":"UINT8","data":[1,2,3,4,5,6,7,8]}]}', 400, 'BAD_REQUEST'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[8],"datatype":"BF16","data":[1,2,3,4,5,6,7,8]}]}', 400, 'BAD_DTYPE'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[8],"datatype":"FP32","data":[1,2,3]}]}', 400, 'BAD_REQUEST'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[9],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9]}]}', 422, 'SHAPE_MISMATCH'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[8],"datatype":"FP32","data":[1,2,3,4,5,6,7,1e38]}]}', 422, 'OUT_OF_RANGE'],
      ['/v2/models/fake-4.tail-2/infer', `{"parameters":{"splitee_digest":"${'ab'.repeat(32)}"},"inputs":[{"name":"activation","shape":[8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8]}]}`, 409, 'DIGEST_MISMATCH'],
      ['/v2/models/fake-4.tail-2/infer', '{"inputs":[{"name":"activation","shape":[8],"datatype":"UINT8","data":[1,2,3,4,5,6,7,8]},{"name":"scale","shape":[1],"datatype":"FP32","data":[0]},{"name":"zero_point","shape":[1],"datatype":"UINT8","data":[0]}]}', 400, 'BAD_PARAMS'],
    ];
    for (const [path, body, status, code] of errors) {
      const res = await postJson(s, path, body);
      const j = await res.json() as { error: string; code: string };
      assert.is(res.status, status, body); assert.is(j.code, code, body); assert.type(j.error, 'string');
    }
    const closing = s.close({ graceMs: 500 });
    const held = await fetch(`${s.url}/v2/health/ready`).then((x) => x.status, () => 0);
    assert.ok(held === 400 || held === 0, `draining: ready is false (${held})`);
    await closing;
  } finally {
    await s.close({ graceMs: 100 });
  }
});

test('V2CloudClient (v2+http://) answers every dtype exactly like HttpCloudClient; errors keep their codes', async () => {
  await withServer(async (s) => {
    assert.is(v2BaseUrl(`v2+${s.url}`), s.url);
    const v2 = new V2CloudClient(`v2+${s.url}`, { model: 'fake-4', numLayers: L, digest: toHex(DIGEST) });
    const h1 = new HttpCloudClient(s.url);
    for (const dtype of DTYPES) for (const k of [1, 2, 3]) {
      const shape = k === 1 ? [4, 3, 3] : k === 2 ? [8] : [r.int(1, 5), 5];
      const frame = encodeFrame({ digest: DIGEST, splitLayer: k, tensor: encode(randn(r, shape.reduce((a, b) => a * b)), shape, dtype), requestId: newRequestId() });
      const a = await v2.infer(frame, { numClasses: CLASSES });
      const b = await h1.infer(frame, { numClasses: CLASSES });
      assert.equal(Array.from(a.probs), Array.from(b.probs), `${dtype} k=${k}`);
      assert.is(a.label, b.label); assert.is(a.confidence, b.confidence); assert.is(a.requestId, b.requestId); assert.is(a.layersRun, L - k);
    }
    const health = await v2.health();
    assert.equal(health, { ok: true, model: 'fake-4', digest: toHex(DIGEST), numLayers: L });
    const wrongShape = encodeFrame({ digest: DIGEST, splitLayer: 2, tensor: encode(randn(r, 9), [9], 'int8') });
    const err = await v2.infer(wrongShape).then(() => null, (e) => e as CloudError);
    assert.instance(err, CloudError); assert.is(err!.status, 422); assert.is(err!.code, 'SHAPE_MISMATCH'); assert.is(err!.retryable, false);
    const other = new V2CloudClient(`v2+${s.url}`, { model: 'fake-4', digest: 'cd'.repeat(32) });
    const e2 = await other.infer(encodeFrame({ digest: DIGEST, splitLayer: 2, tensor: encode(randn(r, 8), [8], 'int8') })).then(() => null, (e) => e as CloudError);
    assert.is(e2!.code, 'DIGEST_MISMATCH'); assert.is(e2!.fatal, true);
    const nobody = new V2CloudClient('v2+http://127.0.0.1:9', { model: 'fake-4' });
    const e3 = await nobody.infer(wrongShape).then(() => null, (e) => e as CloudError);
    assert.is(e3!.code, 'NETWORK'); assert.is(e3!.retryable, true);
  });
});

test('a real device runner on fmnist-cnn through V2CloudClient records exactly what it records through /v1/infer', async () => {
  const model = await loadModel('fmnist-cnn');
  const server = await createCloudServer({ model: cloudModelFrom(model), port: 0 });
  try {
    const stream = await openStream('fmnist:test', { limit: 24, samples: 'auto' });
    const encodeInput = createInputEncoder(model.header);
    const L = model.numLayers;
    const run = async (cloud: HttpCloudClient | V2CloudClient) => {
      // α = 1 and a fixed split: every sample offloads, at layers 1, 3 and 5 in turn (three runs).
      const out = [];
      for (const k of [1, 3, 5]) {
        const costs = { alpha: 1, lambda: 1 / L, offloadCost: 0.25 };
        const res = await runStream({ model, samples: stream.samples.map((x) => ({ input: x.input, label: x.label, index: x.index })), encode: encodeInput,
          policy: createPolicy(`fixed:${k}`, { L, costs }), costs, cloud, dtype: 'int8' });
        out.push(res.records.map((rec) => [rec.arm, rec.offloaded, rec.degraded, rec.prediction, rec.confidence, rec.correct]));
      }
      return out;
    };
    const viaV2 = await run(new V2CloudClient(`v2+${server.url}`, { model: model.name, numLayers: L, digest: model.digestHex }));
    const viaV1 = await run(new HttpCloudClient(server.url));
    assert.equal(viaV2, viaV1);
    assert.ok(viaV2.flat().every((rec) => rec[1] === true && rec[2] === false), 'every sample offloaded and answered by the cloud');
  } finally {
    await server.close({ graceMs: 200 });
    model.dispose();
  }
});

test.run();
