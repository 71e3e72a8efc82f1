// The device half in a real browser: headless Chromium (playwright-core driving /usr/bin/chromium) loads the built
// core from the web server (src/demo) as ES modules, runs layers 1..k and exit k for every k on WebGPU and on
// WASM (web/device.js), and the outputs must match the Node engine's: the same labels, probabilities within 1e-4,
// activations within 1e-4 relative (WebGPU) or bit for bit (WASM: the same kernels).
//
// No Chromium, or no WebGPU adapter in it, is a failure with the install instruction, not a pass. WebGPU in headless
// Chromium needs --enable-unsafe-webgpu and a secure context (http://127.0.0.1 is one); it then gets SwiftShader's
// adapter.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createInputEncoder, loadModelBytes, type ModelInput } from '../src/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH, launchChromium, type Browser } from '../src/demo/chromium.js';
import { createWebServer, PACKAGE_ROOT, type WebServer } from '../src/demo/server.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { relError, rng } from './util.js';

const PROB_TOL = 1e-4;
const ACT_RTOL = 1e-4;

type Page = import('playwright-core').Page;

interface Fixture { name: string; bytes: Uint8Array; inputs: ModelInput[] }
interface StepOut { label: number; confidence: number; probs: number[]; activation: { shape: number[]; data: number[] } | null }
interface DeviceOut { backend: string; name: string; numLayers: number; digest: string; loadMs: number; runMs: number; outputs: StepOut[][] }

function randomImage(r: ReturnType<typeof rng>, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => r.next());
}

/** Tiny fixture models with seeded random inputs, plus the zoo models (first real samples) when they exist. */
async function fixtures(): Promise<Fixture[]> {
  const r = rng(606);
  const out: Fixture[] = [
    { name: 'tiny-image', bytes: tinyImageModel(), inputs: [0, 1, 2].map(() => randomImage(r, 3 * 13 * 11)) },
    // Lengths 1, 9 (= maxLen) and an odd middle one; ids cover the vocabulary's ends.
    { name: 'tiny-text', bytes: tinyTextModel(), inputs: [Int32Array.of(7), Int32Array.of(0, 49, 3, 17, 25, 31, 2, 44, 8), Int32Array.of(5, 11, 49, 0, 23)] },
  ];
  const zoo = [['fmnist-cnn', 'fmnist:test'], ['sst2-transformer', 'sst2:dev']] as const;
  for (const [name, stream] of zoo) {
    const path = join(PACKAGE_ROOT, 'models', name, `${name}.spx`);
    if (!existsSync(path)) throw new Error(`zoo model ${name} is missing (models/${name}/${name}.spx)`);
    const bytes = new Uint8Array(readFileSync(path));
    const { openStream } = await import('../src/data/streams.js');
    const s = await openStream(stream, { limit: 2 });
    const probe = await loadModelBytes(bytes);
    const encode = createInputEncoder(probe.header);
    probe.dispose();
    out.push({ name, bytes, inputs: s.samples.map((x) => encode(x.input as Float32Array | string)) });
  }
  return out;
}

const wire = (x: ModelInput) => (x instanceof Int32Array ? { kind: 'i32', data: Array.from(x) } : { kind: 'f32', data: Array.from(x as Float32Array) });

/** The Node engine (WASM) on the same inputs: exit k and the activation after k for every k. */
async function nodeOutputs(f: Fixture): Promise<StepOut[][]> {
  const model = await loadModelBytes(f.bytes, { backend: 'wasm' });
  try {
    const all: StepOut[][] = [];
    for (const x of f.inputs) {
      const perK: StepOut[] = [];
      for (let k = 1; k <= model.numLayers; k++) {
        const s = await model.runDevice(x, k, { offload: () => true });
        perK.push({ label: s.exit.label, confidence: s.exit.confidence, probs: Array.from(s.exit.probs), activation: { shape: s.activation!.shape, data: Array.from(s.activation!.data) } });
      }
      all.push(perK);
    }
    return all;
  } finally {
    model.dispose();
  }
}

/** Labels may differ only where the reference's top two probabilities are a near-tie (none are expected). */
function sameLabel(got: StepOut, exp: StepOut): boolean {
  if (got.label === exp.label) return true;
  const sorted = exp.probs.slice().sort((a, b) => b - a);
  return sorted[0] - sorted[1] < PROB_TOL;
}

let server: WebServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let fx: Fixture[] = [];
const pageErrors: string[] = [];
const failedRequests: string[] = [];

// uvu reports nothing when a before hook throws (the file passes with 0 tests run): the error is kept and every
// test rethrows it instead.
let setupError: unknown;
test.before(async () => {
  try {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`browser test: no Chromium at ${CHROMIUM_PATH}. Install it with \`apt-get install chromium\` (Debian), or point SPLITEE_CHROMIUM at one.`);
    }
    fx = await fixtures();
    server = await createWebServer({ port: 0, models: Object.fromEntries(fx.map((f) => [f.name, f.bytes])) });
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url()}`); });
    page.on('requestfailed', (r) => failedRequests.push(`${r.failure()?.errorText} ${r.url()}`));
    await page.goto(`${server.url}/device.html`);
    await page.waitForFunction(() => typeof (window as unknown as { deviceHalf?: unknown }).deviceHalf === 'function', null, { timeout: 20_000 });
  } catch (e) {
    setupError = e;
  }
});

test.after(async () => {
  await browser?.close();
  await server?.close();
});

test('the core and the device runner load in the browser: every import resolves, no Node module', async () => {
  if (setupError) throw setupError;
  const keys = await page!.evaluate(async () => {
    const out: Record<string, number> = {};
    for (const p of ['/dist/src/index.js', '/dist/src/device/index.js', '/dist/src/webgpu/index.js', '/dist/src/demo/demo-core.js']) {
      out[p] = Object.keys(await import(p)).length;
    }
    return out;
  });
  for (const [p, n] of Object.entries(keys)) assert.ok(n > 3, `${p} exported only ${n} names`);
  assert.equal(failedRequests, [], `requests failed: ${failedRequests.join(', ')}`);
  assert.equal(pageErrors, [], `page errors: ${pageErrors.join(' | ')}`);

  // Statically too: the graph of the core entry holds only relative imports (a Node builtin would load in Node but
  // 404 in a browser only when reached). The one allowed exception is engine/model.js's dynamic node:crypto, a
  // fallback for runtimes without crypto.subtle that browsers never take.
  const dist = join(PACKAGE_ROOT, 'dist', 'src');
  const seen = new Set<string>();
  const bare: string[] = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    const re = /(?:^|[;\s])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm;
    for (let m; (m = re.exec(src));) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (spec.startsWith('.')) walk(resolve(dirname(file), spec));
      else if (!(spec === 'node:crypto' && m[2] && file.endsWith(join('engine', 'model.js')))) bare.push(`${file.slice(dist.length + 1)} imports '${spec}'`);
    }
  };
  for (const e of ['index.js', 'device/index.js', 'webgpu/index.js', 'demo/demo-core.js']) walk(join(dist, e));
  assert.ok(seen.size > 30, `walked only ${seen.size} files`);
  assert.equal(bare, [], `non-relative imports in the browser graph:\n${bare.join('\n')}`);
});

test('headless Chromium has a WebGPU adapter', async () => {
  if (setupError) throw setupError;
  const info = await page!.evaluate(() => (window as unknown as { gpuInfo: () => Promise<Record<string, unknown>> }).gpuInfo());
  console.log(`  browser WebGPU: ${JSON.stringify(info)}`);
  assert.ok(info.available, `no WebGPU adapter in headless Chromium with ${CHROMIUM_ARGS[0]}: ${info.reason} (SwiftShader comes with Debian's \`apt-get install chromium\`)`);
});

for (const backend of ['webgpu', 'wasm'] as const) {
  test(`device half on ${backend} in the browser = the Node engine, every model, every k`, async () => {
    if (setupError) throw setupError;
    for (const f of fx) {
      const exp = await nodeOutputs(f);
      const got = await page!.evaluate(
        (req) => (window as unknown as { deviceHalf: (r: unknown) => Promise<DeviceOut> }).deviceHalf(req),
        { modelUrl: `/models/${f.name}.spx`, backend, inputs: f.inputs.map(wire) },
      );
      assert.is(got.backend, backend, `${f.name} ran on ${got.backend}, not ${backend}`);
      assert.is(got.outputs.length, f.inputs.length);
      let worstProb = 0, worstAct = 0;
      for (let i = 0; i < f.inputs.length; i++) {
        assert.is(got.outputs[i].length, got.numLayers);
        for (let k = 1; k <= got.numLayers; k++) {
          const g = got.outputs[i][k - 1], e = exp[i][k - 1];
          const where = `${f.name} ${backend} input ${i} k=${k}`;
          assert.ok(sameLabel(g, e), `${where}: label ${g.label}, Node says ${e.label}`);
          assert.is(g.probs.length, e.probs.length, `${where}: class count`);
          for (let c = 0; c < e.probs.length; c++) {
            const d = Math.abs(g.probs[c] - e.probs[c]);
            worstProb = Math.max(worstProb, d);
            assert.ok(d <= PROB_TOL, `${where}: p[${c}] = ${g.probs[c]}, Node ${e.probs[c]}`);
          }
          assert.ok(Math.abs(g.confidence - Math.max(...g.probs)) < 1e-7, `${where}: confidence is not max(probs)`);
          assert.equal(g.activation!.shape, e.activation!.shape, `${where}: activation shape`);
          const rel = relError(g.activation!.data, e.activation!.data);
          worstAct = Math.max(worstAct, rel);
          if (backend === 'wasm') assert.equal(g.activation!.data, e.activation!.data, `${where}: WASM activation differs from Node's (rel ${rel})`);
          else assert.ok(rel <= ACT_RTOL, `${where}: activation rel error ${rel}`);
        }
      }
      console.log(`  ${f.name} on ${backend}: ${f.inputs.length} inputs × ${got.numLayers} splits, max |Δp| ${worstProb.toExponential(2)}, max activation rel ${worstAct.toExponential(2)}, load ${got.loadMs.toFixed(0)} ms, run ${got.runMs.toFixed(0)} ms`);
    }
    assert.equal(pageErrors, [], `page errors: ${pageErrors.join(' | ')}`);
  });
}

test.run();
