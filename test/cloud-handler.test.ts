// One acceptance chain: every kind of bad frame gets the same HTTP status and error code from the in-process
// LocalCloudClient and from the server reached by HttpCloudClient (one table of cases for both), and good frames
// get the same answer.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn } from './util.js';
import { CLASSES, DIGEST, L, SHAPE_AFTER, expectedProbs, fakeModel, type FakeModel, type Mode } from './cloud-fake.js';
import { createCloudServer } from '../src/cloud/server.js';
import { CloudRejection, acceptFrame, handleFrame } from '../src/cloud/handler.js';
import { CloudError, HttpCloudClient } from '../src/device/cloud.js';
import { LocalCloudClient } from '../src/device/local-client.js';
import { encode, numElements, type Dtype } from '../src/transport/codec.js';
import { encodeFrame, newRequestId } from '../src/transport/frame.js';
import { crc32 } from '../src/util/crc32.js';
import { readFileSync, readdirSync } from 'node:fs';

const r = rng(1301);
const LIMITS = { maxElements: 1000, maxBytes: 1 << 16 };

function frameBytes(k: number, dtype: Dtype = 'int8', o: { shape?: number[]; x?: Float32Array; digest?: Uint8Array } = {}): Uint8Array {
  const shape = o.shape ?? SHAPE_AFTER[k] ?? [3, 5];
  const x = o.x ?? randn(r, numElements(shape));
  return encodeFrame({ digest: o.digest ?? DIGEST, splitLayer: k, tensor: encode(x, shape, dtype), requestId: newRequestId() });
}

/** Rewrites bytes of a frame and fixes its CRC, so that the defect is a sender's, not a bit flipped in transit. */
function patched(bytes: Uint8Array, edit: (b: Uint8Array, dv: DataView) => void): Uint8Array {
  const b = bytes.slice();
  const dv = new DataView(b.buffer);
  edit(b, dv);
  dv.setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
  return b;
}
/** Offset of the int8 scale in a frame of rank R. */
const scaleAt = (rank: number) => 60 + 4 * rank;

interface Case { name: string; body: () => Uint8Array; status: number; code: string; mode?: Mode }
const CASES: Case[] = [
  { name: 'empty body', body: () => new Uint8Array(0), status: 400, code: 'TRUNCATED' },
  { name: 'JSON instead of a frame', body: () => new TextEncoder().encode('{"label": 1}'), status: 400, code: 'BAD_MAGIC' },
  { name: 'random bytes', body: () => Uint8Array.from({ length: 300 }, () => r.int(0, 256)), status: 400, code: 'BAD_MAGIC' },
  { name: 'version 2', body: () => patched(frameBytes(2), (_, dv) => dv.setUint16(4, 2, true)), status: 400, code: 'BAD_VERSION' },
  { name: 'dtype code 9', body: () => patched(frameBytes(2), (b) => { b[6] = 9; }), status: 400, code: 'BAD_DTYPE' },
  { name: 'rank 0', body: () => patched(frameBytes(2), (b) => { b[7] = 0; }), status: 400, code: 'BAD_RANK' },
  { name: 'a zero dimension', body: () => patched(frameBytes(2), (_, dv) => dv.setUint32(60, 0, true)), status: 400, code: 'BAD_SHAPE' },
  { name: 'a bit flipped in the payload', body: () => { const b = frameBytes(1); b[b.length - 9] ^= 16; return b; }, status: 400, code: 'CHECKSUM' },
  { name: 'cut short', body: () => frameBytes(1).subarray(0, 80), status: 400, code: 'TRUNCATED' },
  { name: 'bytes after the CRC', body: () => { const f = frameBytes(1); const b = new Uint8Array(f.length + 3); b.set(f); return b; }, status: 400, code: 'TRAILING' },
  { name: 'reserved header bytes set', body: () => patched(frameBytes(2), (b) => { b[10] = 1; }), status: 400, code: 'BAD_HEADER' },
  { name: 'scale 0', body: () => patched(frameBytes(2), (_, dv) => dv.setFloat32(scaleAt(1), 0, true)), status: 400, code: 'BAD_PARAMS' },
  { name: 'payload length off by one', body: () => patched(frameBytes(2), (_, dv) => dv.setUint32(scaleAt(1) + 8, 9, true)), status: 400, code: 'BAD_LENGTH' },
  { name: 'more elements than the limit', body: () => frameBytes(3, 'int8', { shape: [300, 5] }), status: 413, code: 'TOO_LARGE' },
  { name: 'dims that would decode to 2^31 elements', body: () => patched(frameBytes(2), (_, dv) => dv.setUint32(60, 2 ** 31, true)), status: 413, code: 'TOO_LARGE' },
  { name: 'another model', body: () => frameBytes(1, 'int8', { digest: new Uint8Array(32).fill(9) }), status: 409, code: 'DIGEST_MISMATCH' },
  { name: 'split 0', body: () => frameBytes(0, 'int8', { shape: [8] }), status: 422, code: 'BAD_SPLIT' },
  { name: 'split L', body: () => frameBytes(L, 'int8', { shape: [8] }), status: 422, code: 'BAD_SPLIT' },
  { name: 'wrong shape', body: () => frameBytes(1, 'int8', { shape: [4, 9] }), status: 422, code: 'SHAPE_MISMATCH' },
  { name: 'wrong rank', body: () => frameBytes(2, 'f32', { shape: [2, 4] }), status: 422, code: 'SHAPE_MISMATCH' },
  { name: 'NaN in f32', body: () => { const x = randn(r, 8); x[5] = NaN; return frameBytes(2, 'f32', { x }); }, status: 422, code: 'NON_FINITE' },
  { name: '-inf in fp16', body: () => { const x = randn(r, 8); x[0] = -Infinity; return frameBytes(2, 'fp16', { x }); }, status: 422, code: 'NON_FINITE' },
  { name: 'int8 scale 1e36', body: () => patched(frameBytes(2), (_, dv) => dv.setFloat32(scaleAt(1), 1e36, true)), status: 422, code: 'OUT_OF_RANGE' },
  { name: 'f32 ±1e38', body: () => frameBytes(2, 'f32', { x: Float32Array.from({ length: 8 }, (_, i) => (i % 2 ? 1e38 : -1e38)) }), status: 422, code: 'OUT_OF_RANGE' },
  { name: 'int4 activation of 3e9', body: () => frameBytes(1, 'int4', { x: Float32Array.from({ length: 36 }, (_, i) => (i === 7 ? 3e9 : i - 18)) }), status: 422, code: 'OUT_OF_RANGE' },
  { name: 'model throws a coded error', body: () => frameBytes(2), status: 422, code: 'SHAPE_MISMATCH', mode: 'throwCode' },
  { name: 'model throws', body: () => frameBytes(2), status: 500, code: 'MODEL_ERROR', mode: 'throw' },
  { name: 'model answers a label out of range', body: () => frameBytes(2), status: 500, code: 'MODEL_ERROR', mode: 'malformed' },
  { name: 'model overflows to NaN', body: () => frameBytes(2), status: 422, code: 'OUT_OF_RANGE', mode: 'nan' },
];

async function codeOf(p: Promise<unknown>): Promise<{ status: number; code: string }> {
  try { await p; } catch (e) {
    if (e instanceof CloudError) return { status: e.status, code: e.code };
    if (e instanceof CloudRejection) return { status: e.status, code: e.code };
    throw e;
  }
  return { status: 200, code: 'OK' };
}

test('the local client and the server give the same status and code for every kind of bad frame', async () => {
  const m: FakeModel = fakeModel();
  const server = await createCloudServer({ model: m, port: 0, maxBodyBytes: LIMITS.maxBytes, maxElements: LIMITS.maxElements });
  try {
    const http = new HttpCloudClient(server.url);
    const local = new LocalCloudClient(m, { limits: LIMITS });
    const seen = new Set<string>();
    for (const c of CASES) {
      m.mode = c.mode ?? 'normal';
      const body = c.body();
      const viaLocal = await codeOf(local.infer(body));
      const viaHttp = await codeOf(http.infer(body));
      const direct = await codeOf(handleFrame(m, body, { limits: LIMITS }));
      assert.equal(viaLocal, { status: c.status, code: c.code }, `local: ${c.name}`);
      assert.equal(viaHttp, { status: c.status, code: c.code }, `server: ${c.name}`);
      assert.equal(direct, { status: c.status, code: c.code }, `handler: ${c.name}`);
      seen.add(c.code);
    }
    assert.ok(seen.size >= 16, `${seen.size} distinct codes covered`);
    // Before the model: no bad frame reached it in any of the three paths (the mode cases each reached it 3 times).
    assert.is(m.calls, 3 * CASES.filter((c) => c.mode).length);
  } finally {
    await server.close({ graceMs: 200 });
  }
});

test('good frames: the same answer in process, over HTTP and from the float64 reference', async () => {
  const m = fakeModel();
  const server = await createCloudServer({ model: m, port: 0 });
  try {
    const http = new HttpCloudClient(server.url);
    const local = new LocalCloudClient(m);
    for (const dtype of ['f32', 'fp16', 'int8', 'int8c', 'int4'] as Dtype[]) {
      for (const k of [1, 2, 3]) {
        const body = frameBytes(k, dtype, k === 3 ? { shape: [r.int(1, 6), 5] } : {});
        const a = await local.infer(body, { numClasses: CLASSES });
        const b = await http.infer(body, { numClasses: CLASSES });
        assert.equal(Array.from(a.probs), Array.from(b.probs), `${dtype} k=${k}`);
        assert.is(a.label, b.label); assert.is(a.confidence, b.confidence); assert.is(a.requestId, b.requestId);
        assert.is(a.layersRun, L - k);
        const acc = acceptFrame(m, body);
        const want = expectedProbs(k, acc.data);
        for (let c = 0; c < CLASSES; c++) assert.ok(Math.abs(a.probs[c] - want[c]) < 1e-6, `${dtype} k=${k} class ${c}`);
      }
    }
  } finally {
    await server.close({ graceMs: 200 });
  }
});


test('HttpCloudClient with several replicas: after a replica dies, the retried frame goes to the next one', async () => {
  const a = await createCloudServer({ model: fakeModel(), port: 0 });
  const b = await createCloudServer({ model: fakeModel(), port: 0 });
  try {
    const client = new HttpCloudClient([a.url, b.url]);
    assert.is(client.base, a.url);
    const body = frameBytes(2);
    assert.is((await client.infer(body)).layersRun, L - 2);
    assert.is(client.base, a.url, 'a success keeps the replica');
    await a.close({ graceMs: 50 });
    const err = await client.infer(body).then(() => null, (e) => e as CloudError);
    assert.is(err!.code, 'NETWORK'); assert.is(err!.retryable, true);
    assert.is(client.base, b.url, 'a retryable failure moves on');
    const again = await client.infer(body);
    assert.is(again.layersRun, L - 2);
    // A refusal (4xx) is the frame's fault, not the replica's: no move.
    await client.infer(frameBytes(2, 'int8', { shape: [9] })).catch(() => undefined);
    assert.is(client.base, b.url);
  } finally {
    await a.close({ graceMs: 50 });
    await b.close({ graceMs: 50 });
  }
});

test('the device side imports no Node module and not the server; the browser-safe cloud modules import no Node module', () => {
  const src = (f: string) => readFileSync(new URL(`../../src/${f}`, import.meta.url), 'utf8');
  const imports = (text: string) => [...text.matchAll(/^\s*(?:import|export)[^'"]*from\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]);
  const device = readdirSync(new URL('../../src/device/', import.meta.url)).filter((f) => f.endsWith('.ts'));
  assert.ok(device.includes('local-client.ts') && device.includes('v2-client.ts'));
  for (const f of [...device.map((d) => `device/${d}`), 'cloud/handler.ts', 'cloud/v2.ts', 'cloud/emulate.ts', 'cloud/onnx-export.ts', 'cloud/cloud-model.ts']) {
    for (const spec of imports(src(f))) {
      assert.not.ok(spec.startsWith('node:') || ['http', 'https', 'net', 'crypto', 'fs', 'os', 'cluster'].includes(spec), `${f} imports ${spec}`);
      if (f.startsWith('device/')) assert.not.ok(/cloud\/server(\.js)?$/.test(spec), `${f} imports the server`);
    }
  }
  assert.ok(imports(src('device/local-client.ts')).includes('../cloud/handler.js'), 'the local client runs the shared handler');
  assert.ok(imports(src('cloud/server.ts')).includes('./handler.js'), 'the server runs the shared handler');
});

test.run();
