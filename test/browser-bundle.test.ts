// The one-file build (dist/splitee.browser.js) in headless Chromium: the plain HTML example (examples/browser/,
// no build step) classifies the embedded demo samples with exactly Node's numbers, loading one script file; the
// same file imported cross-origin from a CDN-like URL (a second server with CORS, a versioned npm path) works too.
//
// No Chromium is a failure with a message, not a pass: SPLITEE_SKIP_BROWSER=1 skips this file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHROMIUM_PATH, launchChromium, type Browser } from '../src/demo/chromium.js';
import { ensureBundle, nodeRef, ROOT, sameAsNode, serveStatic, type Answer, type Served } from './runtime-fixtures.js';

const skip = process.env.SPLITEE_SKIP_BROWSER === '1';
const VERSION = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
/** The package root as a plain static site: only the bundle, the examples, the models and the samples. */
function siteRoute(path: string): string | null {
  const rel = normalize(path).replace(/^\/+/, '');
  if (rel.startsWith('..')) return null;
  const ok = rel === 'dist/splitee.browser.js' || /^(examples|models|samples)\//.test(rel);
  if (!ok) return null;
  return join(ROOT, rel.endsWith('/') ? `${rel}index.html` : rel);
}

let site: Served | undefined, cdn: Served | undefined, browser: Browser | undefined;
let setupError: unknown;

test.before(async () => {
  if (skip) return;
  try {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`browser bundle test: no Chromium at ${CHROMIUM_PATH}. Install it (Debian: apt-get install chromium), point SPLITEE_CHROMIUM at one, or set SPLITEE_SKIP_BROWSER=1 to skip this file.`);
    }
    const { bundle } = ensureBundle();
    site = await serveStatic(siteRoute, false);
    cdn = await serveStatic((p) => (p === `/npm/splitee@${VERSION}/dist/splitee.browser.js` ? bundle : null), true);
    browser = await launchChromium();
  } catch (e) {
    setupError = e;
  }
});

test.after(async () => {
  await browser?.close();
  await site?.close();
  await cdn?.close();
});

/** Opens a page that records its errors and every request it makes. */
async function openPage() {
  const page = await browser!.newPage();
  const errors: string[] = [], requests: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('request', (r) => requests.push(r.url()));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  return { page, errors, requests };
}

test('the bundle is one self-contained ES module', () => {
  if (setupError) throw setupError;
  if (skip) { console.log('*** browser-bundle: SKIPPED (SPLITEE_SKIP_BROWSER=1)'); return; }
  const { bundle } = ensureBundle();
  const src = readFileSync(bundle, 'utf8');
  // No static imports of other files: the only import is the engine's guarded node:crypto fallback.
  assert.not.match(src, /(^|[;}\s])import\s*[{*\w][^;]*from\s*["']/, 'the bundle imports another module');
  const dynamic = [...src.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]);
  assert.ok(dynamic.every((d) => d === 'node:crypto'), `dynamic imports: ${dynamic.join(', ')}`);
  assert.match(src, /AGFzbQ/, 'the WASM kernels (base64 "\\0asm") are not inlined');
  const size = statSync(bundle).size;
  console.log(`  dist/splitee.browser.js: ${(size / 1024).toFixed(1)} KiB`);
  // A budget, so growth is a decision: both kernel builds are inlined (base64), ~85 KB each with the int8 kernels, the
  // tail tiles and the depthwise sweeps specialised per activation.
  assert.ok(size < 470 * 1024, `the bundle grew to ${size} bytes`);
});

for (const [name, limit] of [['fmnist-cnn', 40], ['sst2-transformer', 20]] as const) {
  test(`examples/browser (no build step): ${limit} samples of ${name} equal Node's bit for bit, one script file`, async () => {
    if (setupError) throw setupError;
    if (skip) return;
    const ref = await nodeRef(name, limit);
    const { page, errors, requests } = await openPage();
    try {
      await page.goto(`${site!.url}/examples/browser/?model=${name}&limit=${limit}`);
      await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 30_000, polling: 100 });
      const err = await page.evaluate(() => (window as unknown as { exampleError?: string }).exampleError);
      assert.is(await page.evaluate(() => document.body.dataset.state), 'done', `the page failed: ${err} ${errors.join(' | ')}`);
      assert.equal(errors, []);
      const out = await page.evaluate(() => (window as unknown as { exampleResult: unknown }).exampleResult) as
        { model: string; digest: string; backend: string; answers: Answer[] };
      assert.is(out.model, name);
      assert.is(out.backend, 'wasm');
      assert.is(out.digest, ref.digest);
      sameAsNode(`example page (${name})`, out.answers, ref);
      // What the page shows is what it computed.
      const shown = name === 'fmnist-cnn' ? await page.locator('figcaption').allInnerTexts() : await page.locator('#texts li').allInnerTexts();
      assert.is(shown.length, limit);
      assert.ok(shown[0].startsWith(`${ref.classes[out.answers[0].label]} `), shown[0]);
      // One script (the bundle), the model and the sample file: nothing else, nothing off this host.
      const scripts = requests.filter((u) => u.endsWith('.js'));
      assert.equal(scripts, [`${site!.url}/dist/splitee.browser.js`]);
      assert.ok(requests.every((u) => u.startsWith(site!.url)), requests.join(' '));
    } finally {
      await page.close();
    }
  });
}

test('imported cross-origin from a CDN-style URL, the bundle classifies as Node does', async () => {
  if (setupError) throw setupError;
  if (skip) return;
  const ref = await nodeRef('fmnist-cnn', 16);
  const { page, errors } = await openPage();
  try {
    await page.goto(`${site!.url}/examples/browser/?limit=1`);
    const out = await page.evaluate(async ({ lib, model, samples, limit }) => {
      const s = await import(lib);
      const m = await s.loadModel(new URL(model));
      const bytes = new Uint8Array(await (await fetch(samples)).arrayBuffer());
      const stream = await s.demoSamples(m.name, bytes, { limit });
      const encode = s.createInputEncoder(m.header);
      const answers = [];
      for (const x of stream.samples) {
        const exits = await m.exits(encode(x.input));
        const k = exits.findIndex((e: { confidence: number }) => e.confidence >= 0.9);
        const e = exits[k >= 0 ? k : exits.length - 1];
        answers.push({ exit: (k >= 0 ? k : exits.length - 1) + 1, label: e.label, confidence: e.confidence, exits: exits.map((x: { label: number; confidence: number }) => [x.label, x.confidence]) });
      }
      return { digest: m.digestHex, answers, origin: location.origin };
    }, { lib: `${cdn!.url}/npm/splitee@${VERSION}/dist/splitee.browser.js`, model: `${site!.url}/models/fmnist-cnn/fmnist-cnn.spx`, samples: `${site!.url}/samples/fmnist-test.bin.gz`, limit: 16 });
    assert.is.not(new URL(cdn!.url).origin, out.origin);
    assert.is(out.digest, ref.digest);
    sameAsNode('bundle from a CDN URL', out.answers as Answer[], ref);
    assert.equal(errors, []);
  } finally {
    await page.close();
  }
});

test.run();
