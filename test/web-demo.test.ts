// End to end, the browser demo: the web server (src/demo) serves web/demo.html and the cloud
// half; headless Chromium runs the device half and SplitEE over the stream, offloading over real HTTP; the page's
// final numbers (n, accuracy, cost, offload rate, bytes, arm counts, baseline rows) must equal a Node run of the same
// runner (runDemo, src/demo/demo-core.ts) with the same seed and samples against the same server.
//
// The model runs in a Web Worker (splitee/worker), the runner on the page. The page runs on WASM in the worker and
// on its main thread (?worker=0) (both bit-for-bit the Node engine: the numbers must be identical) and on WebGPU (the
// same decisions: per-exit probabilities agree to ~1e-7, so no decision is near enough to α to flip; a flip would
// show up as a different arm count). Uses fmnist-cnn on fmnist:test when the zoo model and the data are there,
// else the tiny image fixture on seeded random images. SPLITEE_SKIP_BROWSER=1 skips the file;
// SPLITEE_SKIP_BROWSER_WEBGPU=1 skips the WebGPU run; SPLITEE_DEMO_SCREENSHOT=<png> saves the page.
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HttpCloudClient } from '../src/device/cloud.js';
import { loadModelBytes } from '../src/index.js';
import { CHROMIUM_PATH, launchChromium, type Browser } from '../src/demo/chromium.js';
import { decodeSamples, demoBaselines, encodeSamples, runDemo, type DemoNumbers, type DemoSample } from '../src/demo/demo-core.js';
import { boundedCache, createWebServer, PACKAGE_ROOT, type WebServer } from '../src/demo/server.js';
import { tinyImageModel } from './fixtures/tiny-models.js';
import { rng } from './util.js';

const LIMIT = 200;
const skip = process.env.SPLITEE_SKIP_BROWSER === '1';
const skipWebGpu = process.env.SPLITEE_SKIP_BROWSER_WEBGPU === '1';

interface PageResult {
  numbers: DemoNumbers;
  backend: string;
  /** The model ran in a Web Worker (the default) rather than on the page's main thread (?worker=0). */
  worker: boolean;
  /** WebAssembly modules compiled or instantiated on the page's main thread. */
  mainThreadWasm: number;
  gpu: Record<string, unknown>;
  baselines: { name: string; accuracy: number; cost: number; offloadRate: number }[] | null;
}

let server: WebServer | undefined;
let nodeResult: ReturnType<typeof nodeRun> | undefined;
let browser: Browser | undefined;
let usingZoo = false;

async function setup(): Promise<void> {
  const zooPath = join(PACKAGE_ROOT, 'models', 'fmnist-cnn', 'fmnist-cnn.spx');
  if (existsSync(zooPath)) {
    try {
      const { openStream } = await import('../src/data/streams.js');
      await openStream('fmnist:test', { limit: 1 });
      // An emulated link of no delay: the page gets its link control, and the numbers stay the constant-cost run's.
      server = await createWebServer({ port: 0, model: { name: 'fmnist-cnn', bytes: new Uint8Array(readFileSync(zooPath)) }, demo: { limit: LIMIT, seed: 1 }, emulate: 'rtt=0ms' });
      usingZoo = true;
      return;
    } catch (e) {
      console.log(`  (fmnist-cnn there but not usable: ${(e as Error).message.split('\n')[0]}; using the tiny fixture)`);
    }
  } else {
    console.log('  (fmnist-cnn not built yet: the demo runs the tiny image fixture on random images)');
  }
  // Seeded random images, labels drawn from the classes: accuracy is chance, but every number is still checkable.
  const r = rng(808);
  const samples: DemoSample[] = Array.from({ length: LIMIT }, (_, index) => ({
    index, label: r.int(0, 5), input: Float32Array.from({ length: 3 * 13 * 11 }, () => r.next()),
  }));
  server = await createWebServer({
    port: 0, model: { name: 'tiny-image', bytes: tinyImageModel() },
    // α low enough that the random-weight exits sometimes answer on the device, so both paths are exercised.
    demo: { dataset: 'random-images', limit: LIMIT, seed: 1, alpha: 0.5 },
    emulate: 'rtt=0ms',
    samples: async (dataset, limit) => {
      if (dataset !== 'random-images') throw Object.assign(new Error(`unknown stream ${dataset}`), { code: 'UNKNOWN_STREAM' });
      return encodeSamples(dataset, ['a', 'b', 'c', 'd', 'e'], samples.slice(0, limit), [3, 13, 11]);
    },
  });
}

/** The same runner in Node: same samples (from the server), same settings, same cloud endpoint. */
async function nodeRun(limit: number, withBaselines: boolean) {
  const cfg = server!.config!;
  const res = await fetch(`${server!.url}/api/samples?dataset=${encodeURIComponent(cfg.dataset)}&limit=${limit}`);
  assert.is(res.status, 200);
  const samples = decodeSamples(await res.json());
  assert.is(samples.length, limit);
  const bytes = new Uint8Array(await (await fetch(`${server!.url}${cfg.modelUrl}`)).arrayBuffer());
  const model = await loadModelBytes(bytes, { backend: 'wasm' });
  try {
    const out = await runDemo({ model, samples, config: cfg, cloud: new HttpCloudClient(server!.url) });
    const baselines = withBaselines ? (await demoBaselines(model, samples, cfg)).rows : null;
    return { numbers: out.numbers, baselines, records: out.result.records };
  } finally {
    model.dispose();
  }
}

async function pageRun(query: string, screenshot?: string, after?: (page: import('playwright-core').Page) => Promise<void>, base = server!.url): Promise<PageResult> {
  const page = await browser!.newPage({ viewport: { width: 1180, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  // Counts the WebAssembly modules made on the main thread (init scripts do not run in workers).
  await page.addInitScript(() => {
    const w = window as unknown as { mainThreadWasm: number };
    w.mainThreadWasm = 0;
    for (const name of ['instantiate', 'compile'] as const) {
      const orig = WebAssembly[name] as (...a: unknown[]) => unknown;
      (WebAssembly as unknown as Record<string, unknown>)[name] = function (this: unknown, ...a: unknown[]) { w.mainThreadWasm++; return orig.apply(this, a); };
    }
  });
  try {
    await page.goto(`${base}/demo.html?${query}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 50_000, polling: 200 });
    const state = await page.evaluate(() => document.body.dataset.state);
    const err = await page.evaluate(() => (window as unknown as { demoError?: string }).demoError);
    assert.is(state, 'done', `the page failed: ${err} ${errors.join(' | ')}`);
    assert.equal(errors, [], `page errors: ${errors.join(' | ')}`);
    // What the page shows is what it computed: the table's first row carries the live accuracy and cost.
    const firstRow = await page.locator('#summary-table tr:nth-child(2) td').allInnerTexts();
    const result = await page.evaluate(() => ({ ...(window as unknown as { demoResult: object }).demoResult,
      mainThreadWasm: (window as unknown as { mainThreadWasm: number }).mainThreadWasm })) as PageResult;
    assert.is(firstRow[1], `${(100 * result.numbers.accuracy!).toFixed(2)}%`);
    assert.is(firstRow[2], result.numbers.cost.toFixed(4));
    const arms = await page.locator('#arm-table tr:nth-child(2) td').allInnerTexts();
    assert.equal(arms.slice(1).map(Number), result.numbers.armCounts);
    for (const id of ['plot-cost', 'plot-accuracy', 'plot-arms', 'plot-bytes']) {
      assert.ok((await page.locator(`#${id} svg path`).count()) >= 1, `${id} has no line`);
    }
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    if (after) await after(page);
    return result;
  } finally {
    await page.close();
  }
}

// uvu reports nothing when a before hook throws (the file passes with 0 tests run): the error is kept and every
// test rethrows it instead.
let setupError: unknown;
test.before(async () => {
  if (skip) return;
  try {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`web demo test: no Chromium at ${CHROMIUM_PATH}. Install it (Debian: apt-get install chromium), point SPLITEE_CHROMIUM at one, or set SPLITEE_SKIP_BROWSER=1 to skip this file.`);
    }
    await setup();
    browser = await launchChromium();
  } catch (e) {
    setupError = e;
  }
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test('server: pages, modules, config, samples and the cloud half on one port', async () => {
  if (setupError) throw setupError;
  if (skip) { console.log('*** web-demo: SKIPPED (SPLITEE_SKIP_BROWSER=1)'); return; }
  const u = server!.url;
  const get = (p: string, init?: RequestInit) => fetch(`${u}${p}`, init);
  let r = await get('/demo.html');
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/html/);
  r = await get('/dist/src/index.js');
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/javascript/);
  r = await get('/demo.js');
  assert.match(r.headers.get('content-type')!, /^text\/javascript/);
  // Nothing outside web/ and dist/src/ is reachable.
  for (const p of ['/../package.json', '/%2e%2e/package.json', '/dist/src/%2e%2e/%2e%2e/package.json', '/dist/test/util.js', '/nope.html']) {
    r = await get(p);
    assert.is(r.status, 404, `${p} answered ${r.status}`);
    await r.arrayBuffer();
  }
  r = await get('/demo.html', { method: 'POST' });
  assert.is(r.status, 405);
  const cfg = await (await get('/api/config')).json();
  assert.equal(cfg, server!.config);
  assert.is(cfg.alpha, usingZoo ? 0.9 : 0.5);
  assert.is(cfg.policy, 'splitee');
  r = await get('/api/samples?limit=0');
  assert.is(r.status, 400);
  assert.is((await r.json()).error, 'BAD_LIMIT');
  r = await get('/api/samples?dataset=nope&limit=3');
  assert.is(r.status, 400);
  const samples = decodeSamples(await (await get('/api/samples?limit=3')).json());
  assert.is(samples.length, 3);
  const h = await (await get('/healthz')).json();
  assert.is(h.ok, true);
  assert.is(h.digest, server!.cloudModel!.digestHex);
  r = await get('/v1/infer', { method: 'POST', body: new Uint8Array([1, 2, 3]) });
  assert.is(r.status, 400); // the cloud server's own frame check answers
  const model = await (await get(cfg.modelUrl)).arrayBuffer();
  assert.is(model.byteLength > 100, true);
});

/** A raw request with the given headers (fetch does not let a caller set Host). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  const u = new URL(server!.url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('server: only requests naming this server (Host) are served; a foreign Origin cannot change the link', async () => {
  if (setupError) throw setupError;
  if (skip) return;
  const port = new URL(server!.url).port;
  for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1.evil.example:${port}`, `localhost.:${port}`, `[::2]:${port}`]) {
    for (const [method, path] of [['GET', '/demo.html'], ['GET', '/healthz'], ['GET', '/api/config'], ['POST', '/v1/infer'], ['PUT', '/v1/emulate']]) {
      const r = await rawRequest(method, path, { Host: host }, method === 'GET' ? undefined : 'rtt=1ms');
      assert.is(r.status, 403, `${method} ${path} with Host ${host} answered ${r.status}`);
      assert.is(JSON.parse(r.body).error, 'FORBIDDEN_HOST');
    }
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, '[::1]', 'localhost']) {
    assert.is((await rawRequest('GET', '/healthz', { Host: host })).status, 200, host);
  }
  // HTTP/1.0 without a Host header.
  const noHost = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(Number(port), new URL(server!.url).hostname, () => sock.end('GET /api/config HTTP/1.0\r\n\r\n'));
    let text = '';
    sock.on('data', (d) => { text += d; });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
  assert.match(noHost, /^HTTP\/1\.[01] 403/);
  const before = await (await fetch(`${server!.url}/v1/emulate`)).json();
  const foreign = await rawRequest('PUT', '/v1/emulate', { Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' }, 'rtt=999ms');
  assert.is(foreign.status, 403);
  assert.equal(await (await fetch(`${server!.url}/v1/emulate`)).json().then((b) => b.now), before.now);
  const own = await rawRequest('PUT', '/v1/emulate', { Host: `127.0.0.1:${port}`, Origin: `http://localhost:${port}`, 'Content-Type': 'text/plain' }, 'rtt=7ms,bw=50mbit');
  assert.is(own.status, 200, own.body);
  assert.is(JSON.parse(own.body).now, 'rtt=7ms,bw=50mbit');
  assert.is((await rawRequest('PUT', '/v1/emulate', { Host: `127.0.0.1:${port}` }, 'rtt=fast')).status, 400);
  assert.is((await fetch(`${server!.url}/v1/emulate`, { method: 'PUT', body: 'rtt=0ms' })).status, 200);
  assert.is(server!.config!.network, 'rtt=0ms,bw=unlimited');
});

test('the sample cache keeps at most its bound, the most recently used, and no failures', async () => {
  const made: string[] = [];
  const cache = boundedCache<string>(2);
  const get = (k: string, fail = false) => cache.get(k, async () => { made.push(k); if (fail) throw new Error(k); return k.toUpperCase(); });
  assert.is(await get('a'), 'A');
  assert.is(await get('b'), 'B');
  assert.is(await get('a'), 'A'); // a is now the most recent
  assert.is(await get('c'), 'C'); // evicts b
  assert.is(cache.size, 2);
  assert.is(await get('a'), 'A');
  assert.is(await get('b'), 'B'); // made again
  assert.equal(made, ['a', 'b', 'c', 'b']);
  for (let i = 0; i < 50; i++) await get(`k${i}`);
  assert.is(cache.size, 2);
  await get('x', true).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 0));
  assert.ok((await get('x')) === 'X' && made.filter((k) => k === 'x').length === 2, 'a failed load was kept');
  assert.throws(() => boundedCache(0), /at least 1/);
});

test('samples payload: images, sentences and token ids round-trip exactly; broken payloads are refused', () => {
  const r = rng(909);
  const images: DemoSample[] = Array.from({ length: 5 }, (_, index) => ({ index, label: r.int(0, 10), input: Float32Array.from({ length: 12 }, () => r.normal()) }));
  const back = decodeSamples(JSON.parse(JSON.stringify(encodeSamples('x', ['a'], images, [1, 3, 4]))));
  assert.equal(back.map((s) => [s.index, s.label, Array.from(s.input as Float32Array)]), images.map((s) => [s.index, s.label, Array.from(s.input as Float32Array)]));
  const texts: DemoSample[] = [{ index: 0, label: 1, input: 'a "quoted" sentence — ünïcode' }, { index: 1, label: 0, input: '' }];
  assert.equal(decodeSamples(JSON.parse(JSON.stringify(encodeSamples('t', ['n', 'p'], texts)))), texts);
  const ids: DemoSample[] = [{ index: 0, label: 2, input: Int32Array.of(3, 1, 4) }];
  assert.equal(Array.from(decodeSamples(encodeSamples('k', ['a', 'b', 'c'], ids))[0].input as Int32Array), [3, 1, 4]);
  const good = encodeSamples('x', ['a'], images, [1, 3, 4]);
  const refuse = (p: unknown, code: string) => {
    try { decodeSamples(p as never); } catch (e) { assert.is((e as { code?: string }).code, code); return; }
    assert.unreachable(`accepted ${JSON.stringify(p).slice(0, 80)}`);
  };
  refuse({ ...good, pixels: good.pixels!.slice(0, 40) }, 'BAD_SAMPLES');
  refuse({ ...good, size: 4 }, 'BAD_SAMPLES');
  refuse({ ...good, labels: [0, 1, 2, 3, -1] }, 'BAD_SAMPLES');
  refuse({ ...good, kind: 'audio' }, 'BAD_SAMPLES');
  refuse(null, 'BAD_SAMPLES');
  try { encodeSamples('m', ['a'], [images[0], texts[0]]); assert.unreachable('mixed samples accepted'); } catch (e) { assert.is((e as { code?: string }).code, 'MIXED_SAMPLES'); }
});

test(`the page on WASM in a Web Worker: its numbers equal the Node run's (same seed, ${LIMIT} samples, baselines too)`, async () => {
  if (setupError) throw setupError;
  if (skip) return;
  nodeResult ??= nodeRun(LIMIT, true);
  const node = await nodeResult;
  const t0 = Date.now();
  // The link control: choosing a slow link changes the server's emulation (PUT /v1/emulate), and the page says so.
  const page = await pageRun('backend=wasm', process.env.SPLITEE_DEMO_SCREENSHOT, async (p) => {
    const options = await p.locator('#network-control option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    assert.ok(options.includes('rtt=120ms,bw=1mbit'), `link choices ${options}`);
    await p.selectOption('#network-control', 'rtt=120ms,bw=1mbit');
    await p.waitForFunction(() => ((window as unknown as { demoResult: { linkChanges: unknown[] } }).demoResult.linkChanges.length === 1), null, { timeout: 10_000 });
    const now = await (await fetch(`${server!.url}/v1/emulate`)).json();
    assert.is(now.now, 'rtt=120ms,bw=1mbit');
    assert.match(await p.locator('#network-now').innerText(), /rtt=120ms,bw=1mbit/);
    const reset = await fetch(`${server!.url}/v1/emulate`, { method: 'PUT', body: 'rtt=0ms' });
    assert.is(reset.status, 200);
  });
  console.log(`  page (wasm in a worker, ${LIMIT} samples + baselines) ${Date.now() - t0} ms: ${JSON.stringify(page.numbers)}`);
  assert.is(page.backend, 'wasm');
  assert.is(page.worker, true);
  // The page made no WebAssembly of its own: every layer ran in the worker.
  assert.is(page.mainThreadWasm, 0);
  assert.is(page.numbers.n, LIMIT);
  assert.equal(page.numbers, node.numbers);
  assert.equal(page.baselines, node.baselines);
  const offloads = node.records.filter((r) => r.offloaded).length;
  // Both paths ran: some samples went to the cloud, some answered here.
  assert.ok(offloads > 0 && offloads < LIMIT, `${offloads} offloads of ${LIMIT}`);
  assert.is(page.numbers.degraded, 0);
});

test(`the page on WASM on its main thread (?worker=0): the same numbers as in the worker and in Node`, async () => {
  if (setupError) throw setupError;
  if (skip) return;
  nodeResult ??= nodeRun(LIMIT, true);
  const node = await nodeResult;
  const page = await pageRun('backend=wasm&worker=0');
  assert.is(page.worker, false);
  assert.ok(page.mainThreadWasm > 0, 'the main-thread run made no WebAssembly: it did not run there');
  assert.equal(page.numbers, node.numbers);
  assert.equal(page.baselines, node.baselines);
});

test('the page across an emulated link: measured costs, splitee-discounted, a slowed device; the latency plot', async () => {
  if (setupError) throw setupError;
  if (skip) return;
  const cfg = server!.config!;
  const bytes = new Uint8Array(await (await fetch(`${server!.url}${cfg.modelUrl}`)).arrayBuffer());
  const samples = await (await fetch(`${server!.url}/api/samples?dataset=${encodeURIComponent(cfg.dataset)}&limit=40`)).json();
  const net = await createWebServer({
    port: 0, model: { name: cfg.model, bytes }, emulate: 'rtt=4ms,bw=50mbit',
    demo: { dataset: cfg.dataset, limit: 40, alpha: cfg.alpha, costs: 'measured', deviceMs: 10, policy: 'splitee-discounted', network: 'rtt=4ms,bw=50mbit' },
    samples: async () => samples,
  });
  try {
    const c = await (await fetch(`${net.url}/api/config`)).json();
    assert.equal([c.costs, c.deviceMs, c.policy, c.network], ['measured', 10, 'splitee-discounted', 'rtt=4ms,bw=50mbit']);
    const t0 = Date.now();
    const page = await pageRun('backend=wasm&baselines=0', undefined, async (p) => {
      assert.ok((await p.locator('#plot-latency svg path').count()) >= 1, 'no latency plot');
      assert.is(await p.locator('#network-control').inputValue(), 'rtt=4ms,bw=50mbit');
    }, net.url);
    assert.is(page.numbers.n, 40);
    assert.is(page.numbers.degraded, 0);
    // 40 samples on a device 10 ms slower take at least 0.4 s.
    assert.ok(Date.now() - t0 >= 400);
  } finally {
    await net.close();
  }
});

// Without the baseline pass (every exit of every sample), which SwiftShader would take a minute for.
test(`the page on WebGPU: the same decisions as the Node run (${LIMIT} samples)`, async () => {
  if (setupError) throw setupError;
  if (skip || skipWebGpu) return;
  nodeResult ??= nodeRun(LIMIT, true);
  const node = await nodeResult;
  const t0 = Date.now();
  const page = await pageRun('backend=webgpu&baselines=0');
  console.log(`  page (webgpu, ${LIMIT} samples) ${Date.now() - t0} ms: ${JSON.stringify(page.numbers)}`);
  assert.is(page.backend, 'webgpu', `the page ran on ${page.backend}: ${JSON.stringify(page.gpu)}`);
  assert.is(page.worker, true);
  assert.equal(page.numbers.armCounts, node.numbers.armCounts);
  assert.is(page.numbers.n, node.numbers.n);
  assert.is(page.numbers.offloadRate, node.numbers.offloadRate);
  assert.is(page.numbers.bytesSent, node.numbers.bytesSent);
  assert.is(page.numbers.accuracy, node.numbers.accuracy);
  assert.ok(Math.abs(page.numbers.cost - node.numbers.cost) < 1e-12, `cost ${page.numbers.cost} vs ${node.numbers.cost}`);
});

test.run();
