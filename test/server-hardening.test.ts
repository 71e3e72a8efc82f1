// Attacks on the server at the socket level and on the device client's reading, each closed: idle and half-open
// sockets are cut, connections past maxConnections are refused, a slow uploader holds no inference slot, huge but
// finite activations are the client's error (422, not retried), an over-limit upload reads as 413 (not a reset),
// a frame announcing too many elements is refused from its header alone, and the device client stops reading an
// endless answer at its cap.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import http from 'node:http';
import net from 'node:net';
import { rng, randn } from './util.js';
import { DIGEST, fakeModel, type FakeModel } from './cloud-fake.js';
import { createCloudServer, type CloudServer, type CloudServerOptions } from '../src/cloud/server.js';
import { CloudError, HttpCloudClient } from '../src/device/cloud.js';
import { encode } from '../src/transport/codec.js';
import { encodeFrame, newRequestId } from '../src/transport/frame.js';

const r = rng(1506);

const until = async (cond: () => boolean | Promise<boolean>, ms = 4000, what = 'condition') => {
  const t0 = Date.now();
  while (!(await cond())) { if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`); await new Promise((res) => setTimeout(res, 10)); }
};

async function withServer(opts: Partial<CloudServerOptions>, body: (s: CloudServer, m: FakeModel) => Promise<void>) {
  const m = fakeModel();
  const s = await createCloudServer({ model: m, port: 0, maxBodyBytes: 1 << 16, requestTimeoutMs: 5000, maxConcurrent: 4, ...opts });
  try { await body(s, m); } finally { m.releaseAll(); await s.close({ graceMs: 300 }); }
}

const connections = (s: CloudServer) => new Promise<number>((res, rej) => s.httpServer.getConnections((e, n) => (e ? rej(e) : res(n))));
const frameFor = (k: 1 | 2, dtype: 'int8' | 'f32' = 'int8') => {
  const shape = k === 1 ? [4, 3, 3] : [8];
  return encodeFrame({ digest: DIGEST, splitLayer: k, tensor: encode(randn(r, shape.reduce((a, b) => a * b)), shape, dtype), requestId: newRequestId() });
};

/**
 * A raw TCP client that writes what it is told and notices when the server closes (it reads and discards what
 * comes back; `neverRead`: it never reads, so only the server's side can tell that the connection is gone).
 */
function rawSocket(port: number, neverRead = false): Promise<{ sock: net.Socket; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let closed = false;
    const sock = net.connect(port, '127.0.0.1', () => resolve({ sock, closed: () => closed }));
    if (neverRead) sock.pause(); else sock.resume();
    sock.on('error', () => undefined);
    sock.on('close', () => { closed = true; });
    sock.once('error', reject);
  });
}

function post(url: string, body: Uint8Array, o: { headers?: Record<string, string | number>; partial?: number } = {}) {
  return new Promise<{ status: number; text: string; error?: string }>((resolve) => {
    const req = http.request(url + '/v1/infer', { method: 'POST', agent: false, headers: { 'Content-Length': body.length, ...(o.headers ?? {}) } });
    req.on('response', (res) => { let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => { resolve({ status: res.statusCode!, text: t }); req.destroy(); }); });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, text: '', error: e.code }));
    if (o.partial !== undefined) req.write(body.subarray(0, o.partial)); else req.end(body);
  });
}

test('sockets that send nothing, stop inside the headers, or never read are closed; maxConnections holds', async () => {
  await withServer({ headersTimeoutMs: 300, idleTimeoutMs: 600, lingerMs: 300, maxConnections: 4 }, async (s) => {
    const silent = await rawSocket(s.port);
    const halfHeaders = await rawSocket(s.port);
    halfHeaders.sock.write('POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Le');
    // Sends an oversized upload, never reads the 413 and never closes: the server lingers, then cuts it.
    const neverReads = await rawSocket(s.port, true);
    neverReads.sock.write(`POST /v1/infer HTTP/1.1\r\nHost: x\r\nContent-Length: ${1 << 24}\r\n\r\n`);
    neverReads.sock.write(new Uint8Array(1 << 15));
    await until(async () => (await connections(s)) === 3, 2000, 'three connections');
    // The fourth is accepted, the fifth is over maxConnections (4) and is closed at once.
    const fourth = await rawSocket(s.port);
    const fifth = await rawSocket(s.port);
    await until(() => fifth.closed(), 2000, 'the fifth connection to be refused');
    assert.not.ok(fourth.closed());
    await until(() => silent.closed() && halfHeaders.closed() && fourth.closed(), 6000, 'idle sockets to be cut');
    await until(async () => (await connections(s)) === 0, 4000, 'the socket that never reads to be cut');
    neverReads.sock.destroy();
    // The server still serves.
    assert.is((await post(s.url, frameFor(2))).status, 200);
  });
});

test('a slow uploader holds no inference slot: others are answered meanwhile, and it is answered when its body is in', async () => {
  await withServer({ maxConcurrent: 1 }, async (s, m) => {
    const slowFrame = frameFor(1);
    let finishSlow!: () => void;
    const slow = new Promise<number>((resolve) => {
      const req = http.request(s.url + '/v1/infer', { method: 'POST', agent: false, headers: { 'Content-Length': slowFrame.length } });
      req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); });
      req.on('error', () => resolve(0));
      req.write(slowFrame.subarray(0, 40));
      finishSlow = () => req.end(slowFrame.subarray(40));
    });
    for (let i = 0; i < 5; i++) assert.is((await post(s.url, frameFor(2))).status, 200, `request ${i} while the upload stalls`);
    assert.is(m.calls, 5);
    finishSlow();
    assert.is(await slow, 200);
    assert.is(m.calls, 6);
  });
});

test('finite but huge activations are the client\'s error: 422 OUT_OF_RANGE, not retryable, the model never runs', async () => {
  await withServer({}, async (s, m) => {
    const client = new HttpCloudClient(s.url);
    const big = Float32Array.from(randn(r, 8), (v, i) => (i % 3 === 0 ? 1e38 : v));
    const scaled = frameFor(2);
    new DataView(scaled.buffer).setFloat32(64, 1e36, true);
    const { crc32 } = await import('../src/util/crc32.js');
    new DataView(scaled.buffer).setUint32(scaled.length - 4, crc32(scaled.subarray(0, scaled.length - 4)), true);
    for (const body of [encodeFrame({ digest: DIGEST, splitLayer: 2, tensor: encode(big, [8], 'f32') }), scaled,
      encodeFrame({ digest: DIGEST, splitLayer: 2, tensor: encode(big.map((v) => -v), [8], 'int8') })]) {
      const err = await client.infer(body).then(() => null, (e) => e as CloudError);
      assert.instance(err, CloudError);
      assert.is(err!.status, 422); assert.is(err!.code, 'OUT_OF_RANGE'); assert.is(err!.retryable, false);
    }
    assert.is(m.calls, 0);
  });
});

test('an over-limit upload is read by the clients as 413 TOO_LARGE, never as a network error', async () => {
  await withServer({ maxBodyBytes: 1 << 16, lingerMs: 1000 }, async (s) => {
    const client = new HttpCloudClient(s.url);
    for (const n of [70_000, 1 << 20, 24 << 20]) {
      // A real (too big) f32 frame: n floats of a [n] activation.
      const frame = encodeFrame({ digest: DIGEST, splitLayer: 2, tensor: encode(randn(r, n / 4 | 0), [n / 4 | 0], 'f32') });
      const err = await client.infer(frame).then(() => null, (e) => e as CloudError);
      assert.ok(err instanceof CloudError, `${n}: answered`);
      assert.is(err!.status, 413, `${n} bytes: ${err!.code} ${err!.message}`);
      assert.is(err!.code, 'TOO_LARGE');
      assert.is(err!.retryable, false);
    }
    // Chunked, so the server only learns the size by reading: it still answers 413 and the client reads it.
    const body = new Uint8Array(3 << 20).fill(1);
    body.set([0x53, 0x50, 0x58, 0x46]);
    const chunked = await new Promise<{ status: number; error?: string }>((resolve) => {
      const req = http.request(s.url + '/v1/infer', { method: 'POST', agent: false });
      req.on('response', (res) => { res.resume(); res.on('end', () => resolve({ status: res.statusCode! })); });
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: 0, error: e.code }));
      let i = 0;
      const write = () => { while (i < body.length) { const ok = req.write(body.subarray(i, i += 16384)); if (!ok) { req.once('drain', write); return; } } req.end(); };
      write();
    });
    assert.is(chunked.status, 413, `chunked: ${chunked.error}`);
    assert.is((await post(s.url, frameFor(2))).status, 200);
  });
});

test('a frame whose header announces more elements than the limit is refused from the header, before the body is in', async () => {
  await withServer({ maxElements: 10_000, maxBodyBytes: 1 << 20, requestTimeoutMs: 4000 }, async (s, m) => {
    // Header of an int8 frame [4096, 4096] (16.7 M elements): 64 bytes of a body that declares 1 MiB and never ends.
    const head = frameFor(2).slice(0, 64);
    const dv = new DataView(head.buffer);
    head[7] = 1; dv.setUint32(60, 4096 * 4096, true);
    const t0 = Date.now();
    const res = await post(s.url, head, { headers: { 'Content-Length': (1 << 20) - 1 }, partial: 64 });
    assert.is(res.status, 413, res.text);
    assert.is(JSON.parse(res.text).error, 'TOO_LARGE');
    assert.ok(Date.now() - t0 < 3000, 'answered before the request deadline: the server did not wait for the body');
    assert.is(m.calls, 0);
  });
});

test('the device client stops reading an endless answer at its cap (a 300 MB chunked answer)', async () => {
  let written = 0;
  const hostile = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const chunk = Buffer.alloc(1 << 16, 0x20);
    res.write('{"probs":[');
    const pump = () => {
      while (written < 300e6) {
        written += chunk.length;
        if (!res.write(chunk)) { res.once('drain', pump); return; }
      }
      res.end(']}');
    };
    res.on('close', () => undefined);
    pump();
  });
  await new Promise<void>((res) => hostile.listen(0, '127.0.0.1', res));
  try {
    const url = `http://127.0.0.1:${(hostile.address() as net.AddressInfo).port}`;
    const client = new HttpCloudClient(url, { maxAnswerBytes: 1 << 20 });
    const before = process.memoryUsage().arrayBuffers;
    const err = await client.infer(frameFor(2), { timeoutMs: 20_000 }).then(() => null, (e) => e as CloudError);
    assert.instance(err, CloudError);
    assert.is(err!.code, 'BAD_RESPONSE');
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(written < 64e6, `the server could push only ${written} bytes before the client hung up`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 64e6, 'the answer was not buffered');
  } finally {
    hostile.closeAllConnections();
    await new Promise((res) => hostile.close(res));
  }
});

test.run();
