// The cloud server on loopback (port 0) with a fake model written here: routes, auth, limits, the model contract,
// saturation, timeouts, graceful shutdown (in-process and on SIGTERM in a child process) and an HTTP fuzz.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { rng, randn, type Rng } from './util.js';
import { CLASSES, DIGEST, L, SHAPE_AFTER, expectedProbs, fakeModel, type FakeModel } from './cloud-fake.js';
import { createCloudServer, type CloudServer, type CloudServerOptions, type RequestLog } from '../src/cloud/server.js';
import { DTYPES, decode, encode, numElements, type Dtype } from '../src/transport/codec.js';
import { decodeResponse, encodeFrame, newRequestId, toHex } from '../src/transport/frame.js';

// ------------------------------------------------------------------------------------------------------- client

interface Reply { status: number; headers: http.IncomingHttpHeaders; text: string; json: any; error?: string }

function request(url: string, o: { method?: string; path?: string; body?: Uint8Array; headers?: Record<string, string>; agent?: http.Agent | false; chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...(o.headers ?? {}) };
    if (o.body && !o.chunked) headers['Content-Length'] = o.body.length;
    const req = http.request(url + (o.path ?? '/v1/infer'), { method: o.method ?? 'POST', headers, agent: o.agent ?? false });
    let done = false;
    const finish = (r: Reply) => { if (!done) { done = true; resolve(r); } };
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        finish({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', (e) => finish({ status: res.statusCode ?? 0, headers: res.headers, text: '', json: null, error: (e as NodeJS.ErrnoException).code }));
    });
    req.on('error', (e) => finish({ status: 0, headers: {}, text: '', json: null, error: (e as NodeJS.ErrnoException).code ?? e.message }));
    if (o.body && o.chunked) {
      // Several chunks without a Content-Length: the server only learns the size by reading.
      const step = 4096;
      const write = (i: number) => {
        if (done || req.destroyed) return;
        if (i >= o.body!.length) { req.end(); return; }
        req.write(o.body!.subarray(i, i + step), () => setImmediate(() => write(i + step)));
      };
      write(0);
    } else req.end(o.body);
  });
}

const until = async (cond: () => boolean, ms = 2000) => {
  const t0 = Date.now();
  while (!cond()) { if (Date.now() - t0 > ms) throw new Error('timed out waiting'); await new Promise((r) => setTimeout(r, 5)); }
};

function activationFor(r: Rng, k: number, T = 3): { x: Float32Array; shape: number[] } {
  const shape = SHAPE_AFTER[k] ?? [T, 5];
  return { x: randn(r, numElements(shape)), shape };
}

function frame(r: Rng, k: number, dtype: Dtype = 'int8', o: { digest?: Uint8Array; shape?: number[]; x?: Float32Array } = {}) {
  const a = activationFor(r, k);
  const shape = o.shape ?? a.shape;
  const x = o.x ?? (o.shape ? randn(r, numElements(shape)) : a.x);
  const requestId = newRequestId();
  const tensor = encode(x, shape, dtype);
  return { bytes: encodeFrame({ digest: o.digest ?? DIGEST, splitLayer: k, tensor, requestId }), x, requestId, tensor };
}

async function withServer(opts: Partial<CloudServerOptions>, body: (s: CloudServer, m: FakeModel) => Promise<void>) {
  const m = fakeModel();
  const s = await createCloudServer({ model: m, port: 0, maxBodyBytes: 1 << 16, requestTimeoutMs: 5000, maxConcurrent: 4, ...opts });
  try { await body(s, m); } finally { m.releaseAll(); await s.close({ graceMs: 500 }); }
}

// -------------------------------------------------------------------------------------------------------- tests

test('health, 404, 405', async () => {
  await withServer({}, async (s) => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const h = await request(s.url, { method: 'GET', path: '/healthz' });
    assert.is(h.status, 200);
    assert.equal(h.json, { ok: true, model: 'fake-4', digest: toHex(DIGEST), numLayers: 4, draining: false, pid: process.pid });
    assert.is(h.json.digest, createHash('sha256').update('fake-model-v1').digest('hex'));
    assert.is((await request(s.url, { method: 'GET', path: '/healthz?x=1' })).status, 200);
    const p = await request(s.url, { method: 'POST', path: '/healthz', body: new Uint8Array(3) });
    assert.is(p.status, 405); assert.is(p.headers.allow, 'GET, HEAD'); assert.is(p.json.error, 'METHOD_NOT_ALLOWED');
    const g = await request(s.url, { method: 'GET', path: '/v1/infer' });
    assert.is(g.status, 405); assert.is(g.headers.allow, 'POST');
    const n = await request(s.url, { method: 'GET', path: '/v3/nothing' });
    assert.is(n.status, 404); assert.is(n.json.error, 'NOT_FOUND');
  });
});

test('infer: every dtype and split; answer = the model on the decoded activation; variable shapes', async () => {
  const r = rng(31);
  const agent = new http.Agent({ keepAlive: true });
  await withServer({}, async (s, m) => {
    for (const dtype of DTYPES) for (const k of [1, 2, 3]) {
      const f = frame(r, k, dtype);
      const res = await request(s.url, { body: f.bytes, agent });
      assert.is(res.status, 200, `${dtype} k=${k}: ${res.text}`);
      const a = decodeResponse(res.text, { numClasses: CLASSES, requestId: f.requestId });
      assert.is(res.headers['x-request-id'], f.requestId);
      assert.is(a.layersRun, L - k);
      // f32 crosses exactly, so the answer is the model on the original activation; otherwise on what was decoded.
      const seenBy = dtype === 'f32' ? f.x : decode(f.tensor);
      const want = expectedProbs(k, seenBy);
      for (let c = 0; c < CLASSES; c++) assert.ok(Math.abs(a.probs[c] - want[c]) < 1e-6, `${dtype} k=${k} class ${c}: ${a.probs[c]} vs ${want[c]}`);
      const best = want.indexOf(Math.max(...want));
      assert.is(a.label, best);
      assert.ok(Math.abs(a.confidence - want[best]) < 1e-6);
      assert.equal(m.seen[m.seen.length - 1], { k, shape: f.tensor.shape });
    }
    // Token-model split (shape null): any [T, 5] goes through.
    for (const T of [1, 2, 7]) {
      const f = frame(r, 3, 'fp16', { shape: [T, 5] });
      const res = await request(s.url, { body: f.bytes, agent });
      assert.is(res.status, 200);
      assert.equal(m.seen[m.seen.length - 1].shape, [T, 5]);
    }
  });
  agent.destroy();
});

test('auth: 401 without or with a wrong token, 200 with it; health stays open', async () => {
  const r = rng(32);
  await withServer({ token: 's3cret-token' }, async (s) => {
    const f = frame(r, 1);
    const none = await request(s.url, { body: f.bytes });
    assert.is(none.status, 401); assert.is(none.json.error, 'UNAUTHORIZED'); assert.is(none.headers['www-authenticate'], 'Bearer');
    for (const auth of ['Bearer wrong', 'Bearer s3cret-token-and-more', 'Basic s3cret-token', 'Bearer', 's3cret-token', 'Bearer s3cret-tokeN']) {
      const w = await request(s.url, { body: f.bytes, headers: { Authorization: auth } });
      assert.is(w.status, 401, auth);
    }
    const ok = await request(s.url, { body: f.bytes, headers: { Authorization: 'Bearer s3cret-token' } });
    assert.is(ok.status, 200, ok.text);
    assert.is((await request(s.url, { method: 'GET', path: '/healthz' })).status, 200);
  });
});

test('413: declared too large, chunked past the limit, too many elements; server fine afterwards', async () => {
  const r = rng(33);
  await withServer({ maxBodyBytes: 8192, maxElements: 1000 }, async (s, m) => {
    const big = new Uint8Array(20_000).fill(7);
    const d = await request(s.url, { body: big });
    assert.is(d.status, 413); assert.is(d.json.error, 'TOO_LARGE');
    const c = await request(s.url, { body: big, chunked: true });
    // The server answers 413 and hangs up; a client still writing may see the reset instead of the answer.
    assert.ok(c.status === 413 || c.error === 'ECONNRESET' || c.error === 'EPIPE', `chunked: ${c.status} ${c.error}`);
    if (c.status === 413) assert.is(c.json.error, 'TOO_LARGE');
    const e = frame(r, 3, 'int8', { shape: [300, 5] }); // 1500 elements > 1000, body only ~1.6 KB
    const el = await request(s.url, { body: e.bytes });
    assert.is(el.status, 413); assert.is(el.json.error, 'TOO_LARGE');
    // Expect: 100-continue: an oversized declaration is refused before the client sends a byte of it.
    const expectContinue = (body: Uint8Array) => new Promise<{ status: number; continued: boolean }>((resolve) => {
      let continued = false;
      const req = http.request(s.url + '/v1/infer', { method: 'POST', agent: false, headers: { Expect: '100-continue', 'Content-Length': body.length } });
      req.on('continue', () => { continued = true; req.end(body); });
      req.on('response', (rs) => { rs.resume(); rs.on('end', () => { resolve({ status: rs.statusCode!, continued }); req.destroy(); }); });
      req.on('error', () => undefined);
      req.flushHeaders();
    });
    assert.equal(await expectContinue(big), { status: 413, continued: false });
    assert.equal(await expectContinue(frame(r, 2).bytes), { status: 200, continued: true });
    assert.is(m.calls, 1, 'the model saw only the one good frame');
    assert.is((await request(s.url, { body: frame(r, 2).bytes })).status, 200);
    await until(() => s.inFlight() === 0);
  });
});

test('400 garbage / corrupted frames, 409 wrong digest, 422 bad split / shape / non-finite, 500 model errors', async () => {
  const r = rng(34);
  const agent = new http.Agent({ keepAlive: true });
  await withServer({}, async (s, m) => {
    const post = (body: Uint8Array) => request(s.url, { body, agent });
    const expect = async (body: Uint8Array, status: number, code: string) => {
      const res = await post(body);
      assert.is(res.status, status, `${code}: ${res.text}`);
      assert.is(res.json.error, code);
      assert.type(res.json.message, 'string');
    };
    await expect(new Uint8Array(0), 400, 'TRUNCATED');
    await expect(new TextEncoder().encode('{"label": 1}'), 400, 'BAD_MAGIC');
    await expect(Uint8Array.from({ length: 500 }, () => r.int(0, 256)), 400, 'BAD_MAGIC');
    const good = frame(r, 1).bytes;
    const flipped = good.slice(); flipped[good.length - 10] ^= 4;
    await expect(flipped, 400, 'CHECKSUM');
    await expect(good.subarray(0, good.length - 1), 400, 'TRUNCATED');
    await expect(frame(r, 1, 'int8', { digest: new Uint8Array(32).fill(9) }).bytes, 409, 'DIGEST_MISMATCH');
    await expect(frame(r, 0, 'int8', { shape: [4, 3, 3] }).bytes, 422, 'BAD_SPLIT');
    await expect(frame(r, L, 'int8', { shape: [4, 3, 3] }).bytes, 422, 'BAD_SPLIT');
    await expect(frame(r, 1, 'int8', { shape: [4, 9] }).bytes, 422, 'SHAPE_MISMATCH');
    await expect(frame(r, 2, 'int8', { shape: [9] }).bytes, 422, 'SHAPE_MISMATCH');
    const nan = randn(r, 8); nan[3] = NaN;
    await expect(frame(r, 2, 'f32', { shape: [8], x: nan }).bytes, 422, 'NON_FINITE');
    assert.is(m.calls, 0, 'the model only sees well-formed frames for itself');
    m.mode = 'throw';
    await expect(frame(r, 2).bytes, 500, 'MODEL_ERROR');
    m.mode = 'throwCode';
    await expect(frame(r, 2).bytes, 422, 'SHAPE_MISMATCH');
    m.mode = 'malformed';
    await expect(frame(r, 2).bytes, 500, 'MODEL_ERROR');
    m.mode = 'normal';
    assert.is((await post(frame(r, 2).bytes)).status, 200);
  });
  agent.destroy();
});

test('503 when maxConcurrent requests are in flight; they all finish once the model answers', async () => {
  const r = rng(35);
  await withServer({ maxConcurrent: 2 }, async (s, m) => {
    m.mode = 'block';
    const a = request(s.url, { body: frame(r, 1).bytes });
    const b = request(s.url, { body: frame(r, 2).bytes });
    await until(() => m.calls === 2);
    assert.is(s.inFlight(), 2);
    const c = await request(s.url, { body: frame(r, 1).bytes });
    assert.is(c.status, 503); assert.is(c.json.error, 'BUSY'); assert.is(c.headers['retry-after'], '1');
    assert.is((await request(s.url, { method: 'GET', path: '/healthz' })).status, 200, 'health answers while busy');
    m.mode = 'normal';
    m.releaseAll();
    assert.is((await a).status, 200);
    assert.is((await b).status, 200);
    await until(() => s.inFlight() === 0);
    assert.is((await request(s.url, { body: frame(r, 1).bytes })).status, 200);
  });
});

test('504: the model is too slow (its signal aborts, the slot is held until it stops) and the body is too slow', async () => {
  const r = rng(36);
  await withServer({ requestTimeoutMs: 150, maxConcurrent: 1 }, async (s, m) => {
    m.mode = 'block';
    const t0 = Date.now();
    const res = await request(s.url, { body: frame(r, 1).bytes });
    assert.is(res.status, 504); assert.is(res.json.error, 'TIMEOUT');
    assert.ok(Date.now() - t0 >= 140 && Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
    assert.ok(m.signals[0].aborted, 'the model was told to stop');
    assert.is(s.inFlight(), 1, 'a timed-out model still holds its slot');
    assert.is((await request(s.url, { body: frame(r, 1).bytes })).status, 503);
    m.mode = 'normal';
    m.releaseAll();
    await until(() => s.inFlight() === 0);
    assert.is((await request(s.url, { body: frame(r, 1).bytes })).status, 200);
    // A body that never completes: 504 and the connection is dropped.
    const slow = await new Promise<Reply>((resolve) => {
      const req = http.request(s.url + '/v1/infer', { method: 'POST', headers: { 'Content-Length': 200 }, agent: false });
      req.on('response', (rs) => { let t = ''; rs.on('data', (c) => (t += c)); rs.on('end', () => { resolve({ status: rs.statusCode!, headers: rs.headers, text: t, json: JSON.parse(t) }); req.destroy(); }); });
      req.on('error', () => undefined);
      req.write(new Uint8Array(10));
    });
    assert.is(slow.status, 504); assert.is(slow.json.error, 'TIMEOUT'); assert.is(slow.headers.connection, 'close');
    await until(() => s.inFlight() === 0);
  });
});

test('a client hanging up mid-body never held a slot; every request is logged with status, code and request id', async () => {
  const r = rng(39);
  const logs: RequestLog[] = [];
  await withServer({ maxConcurrent: 1, log: (e) => logs.push(e) }, async (s) => {
    const req = http.request(s.url + '/v1/infer', { method: 'POST', headers: { 'Content-Length': 500 }, agent: false });
    req.on('error', () => undefined);
    req.write(new Uint8Array(100));
    await new Promise((res) => setTimeout(res, 100));
    assert.is(s.inFlight(), 0, 'an upload in progress holds no inference slot');
    req.destroy();
    await until(() => logs.length === 1);
    const f = frame(r, 2);
    assert.is((await request(s.url, { body: f.bytes })).status, 200);
    await request(s.url, { method: 'GET', path: '/nowhere' });
    await until(() => logs.length === 3);
    assert.is(logs[0].code, 'CLIENT_ABORTED');
    assert.is(logs[1].status, 200); assert.is(logs[1].requestId, f.requestId); assert.is(logs[1].splitLayer, 2); assert.is(logs[1].bytes, f.bytes.length);
    assert.ok(logs[1].ms >= 0 && logs[1].path === '/v1/infer' && logs[1].method === 'POST');
    assert.is(logs[2].status, 404); assert.is(logs[2].code, 'NOT_FOUND');
  });
});

test('graceful close: stops accepting, finishes requests in flight, then resolves', async () => {
  const r = rng(37);
  const m = fakeModel();
  const s = await createCloudServer({ model: m, port: 0, maxConcurrent: 4 });
  m.mode = 'block';
  const fa = frame(r, 1), fb = frame(r, 2);
  const a = request(s.url, { body: fa.bytes });
  const b = request(s.url, { body: fb.bytes });
  await until(() => m.calls === 2);
  let closed = false;
  const closing = s.close().then(() => { closed = true; });
  await new Promise((res) => setTimeout(res, 50));
  assert.not.ok(closed, 'close waits for the requests in flight');
  const refused = await request(s.url, { body: frame(r, 1).bytes });
  assert.is(refused.status, 0); assert.is(refused.error, 'ECONNREFUSED');
  m.mode = 'normal';
  m.releaseAll();
  const [ra, rb] = await Promise.all([a, b]);
  assert.is(ra.status, 200); assert.is(rb.status, 200);
  assert.is(decodeResponse(ra.text).requestId, fa.requestId);
  assert.is(decodeResponse(rb.text).requestId, fb.requestId);
  assert.is(ra.headers.connection, 'close');
  await closing;
  assert.ok(closed);
  assert.is(await s.close(), undefined, 'close twice is fine');
});

test('SIGTERM on a server process: the request in flight is answered, then the process exits 0', async () => {
  const serverUrl = new URL('../src/cloud/server.js', import.meta.url).href;
  const script = `
    import { createCloudServer, closeOnSignals } from ${JSON.stringify(serverUrl)};
    const model = { name: 'child', digest: new Uint8Array(32).fill(7), numLayers: 3, inputShapeAfter: () => null,
      async finish() { process.stdout.write('started\\n'); await new Promise((r) => setTimeout(r, 300));
        return { probs: new Float32Array([0.25, 0.75]), label: 1, confidence: 0.75 }; } };
    const s = await createCloudServer({ model, port: 0 });
    process.stdout.write('port ' + s.port + '\\n');
    const sig = await closeOnSignals(s);
    process.stdout.write('closed ' + sig + '\\n');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    await until(() => /port \d+/.test(out), 5000);
    const url = `http://127.0.0.1:${/port (\d+)/.exec(out)![1]}`;
    const tensor = encode(Float32Array.from([1, -2, 3]), [3], 'int8');
    const pending = request(url, { body: encodeFrame({ digest: new Uint8Array(32).fill(7), splitLayer: 1, tensor }) });
    await until(() => out.includes('started'), 5000);
    child.kill('SIGTERM');
    const res = await pending;
    assert.is(res.status, 200, res.text + err);
    assert.is(res.json.label, 1);
    assert.is(await exited, 0, err);
    assert.match(out, /closed SIGTERM/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('HTTP fuzz: 10,000 corrupted / truncated / garbage bodies each get a 4xx; the server stays up', async () => {
  const r = rng(38);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
  await withServer({ maxConcurrent: 16, maxBodyBytes: 4096 }, async (s, m) => {
    const bases = DTYPES.flatMap((dt) => [1, 2, 3].map((k) => frame(r, k, dt).bytes));
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < 10_000; i++) {
      const b = bases[i % bases.length].slice();
      let body: Uint8Array;
      switch (i % 6) {
        case 0: { const n = r.int(1, 4); for (let j = 0; j < n; j++) b[r.int(0, b.length)] ^= 1 << r.int(0, 8); body = b; break; }
        case 1: { const p = r.int(0, b.length); b[p] ^= r.int(1, 256); body = b; break; }
        case 2: body = b.subarray(0, r.int(0, b.length)); break;
        case 3: { const e = new Uint8Array(b.length + r.int(1, 5000)); e.set(b); body = e; break; } // trailing, sometimes past 4 KiB
        case 4: body = Uint8Array.from({ length: r.int(0, 300) }, () => r.int(0, 256)); break;
        default: { const e = Uint8Array.from({ length: r.int(64, 400) }, () => r.int(0, 256)); e.set([0x53, 0x50, 0x58, 0x46, 1, 0]); body = e; }
      }
      bodies.push(body);
    }
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < bodies.length) {
        const i = next++;
        const res = await request(s.url, { body: bodies[i], agent });
        if (!(res.status >= 400 && res.status < 500)) assert.unreachable(`body ${i} (${bodies[i].length} bytes): ${res.status} ${res.error ?? res.text}`);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    assert.ok((statuses.get(400) ?? 0) > 7500, JSON.stringify([...statuses]));
    assert.ok((statuses.get(413) ?? 0) > 0, JSON.stringify([...statuses]));
    assert.is(m.calls, 0);
    assert.is((await request(s.url, { method: 'GET', path: '/healthz' })).status, 200);
    assert.is((await request(s.url, { body: frame(r, 1).bytes })).status, 200);
  });
  agent.destroy();
});

test.run();
