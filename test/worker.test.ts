// The device half in a Web Worker (splitee/worker) in headless Chromium: a WorkerModel answers exactly what the same
// engine Model answers on the page's main thread (and what Node answers) — every exit, the device half for every
// split layer in both exit modes, with and without offload, f32 and int8 readbacks, run/exit/finish, predict — with
// no WebAssembly instantiated on the main thread for it; errors cross as typed WorkerModelErrors, never a hang.
//
// No Chromium is a failure with a message, not a pass: SPLITEE_SKIP_BROWSER=1 skips this file.
import { existsSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHROMIUM_PATH, launchChromium, type Browser } from '../src/demo/chromium.js';
import { nodeRef, ROOT, sameAsNode, serveStatic, type Answer, type Served } from './runtime-fixtures.js';

const skip = process.env.SPLITEE_SKIP_BROWSER === '1';
type Page = import('playwright-core').Page;

let site: Served | undefined, browser: Browser | undefined, page: Page | undefined;
let setupError: unknown;
const pageErrors: string[] = [];

test.before(async () => {
  if (skip) return;
  try {
    if (!existsSync(CHROMIUM_PATH)) {
      throw new Error(`worker test: no Chromium at ${CHROMIUM_PATH}. Install it (Debian: apt-get install chromium), point SPLITEE_CHROMIUM at one, or set SPLITEE_SKIP_BROWSER=1 to skip this file.`);
    }
    if (!existsSync(join(ROOT, 'dist/src/worker/worker.js'))) throw new Error('dist/src/worker/worker.js is missing: run npx tsc -p tsconfig.json');
    site = await serveStatic((path) => {
      if (path === '/blank.html') return { html: '<!doctype html><meta charset="utf-8"><title>worker test</title><link rel="icon" href="data:,">' };
      const rel = normalize(path).replace(/^\/+/, '');
      return !rel.startsWith('..') && /^(dist\/src|models|samples)\//.test(rel) ? join(ROOT, rel) : null;
    }, false);
    browser = await launchChromium();
    page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    // Counts every WebAssembly module made on the page's main thread (workers are not touched by init scripts).
    await page.addInitScript(() => {
      const w = window as unknown as { mainThreadWasm: number };
      w.mainThreadWasm = 0;
      const wrap = (name: 'instantiate' | 'compile') => {
        const orig = WebAssembly[name] as (...a: unknown[]) => unknown;
        (WebAssembly as unknown as Record<string, unknown>)[name] = function (this: unknown, ...a: unknown[]) { w.mainThreadWasm++; return orig.apply(this, a); };
      };
      wrap('instantiate');
      wrap('compile');
    });
    await page.goto(`${site.url}/blank.html`);
  } catch (e) {
    setupError = e;
  }
});

test.after(async () => {
  await browser?.close();
  await site?.close();
});

function ready(): boolean {
  if (setupError) throw setupError;
  if (skip) { console.log('*** worker: SKIPPED (SPLITEE_SKIP_BROWSER=1)'); return false; }
  return true;
}

test('exits of 30 embedded samples per zoo model: the worker equals the main thread and Node, no WASM on the main thread', async () => {
  if (!ready()) return;
  for (const name of ['fmnist-cnn', 'sst2-transformer']) {
    const ref = await nodeRef(name, 30);
    const out = await page!.evaluate(async ({ name, limit }) => {
      const core = await import('/dist/src/index.js' as string);
      const { createWorkerModel } = await import('/dist/src/worker/index.js' as string);
      const w = window as unknown as { mainThreadWasm: number };
      const before = w.mainThreadWasm;
      const wm = await createWorkerModel(`/models/${name}/${name}.spx`);
      const samples = new Uint8Array(await (await fetch(`/${core.demoSampleFile(name)}`)).arrayBuffer());
      const stream = await core.demoSamples(name, samples, { limit });
      const encode = core.createInputEncoder(wm.header);
      const inputs = stream.samples.map((s: { input: unknown }) => encode(s.input));
      const inWorker = [];
      for (const x of inputs) inWorker.push(await wm.exits(x));
      const wasmDuringWorker = w.mainThreadWasm - before;
      const info = { name: wm.name, numLayers: wm.numLayers, digest: wm.digestHex, backend: wm.backendName, classes: wm.classes };
      wm.dispose();
      const m = await core.loadModel(`/models/${name}/${name}.spx`);
      const onMain = [];
      for (const x of inputs) onMain.push(await m.exits(x));
      m.dispose();
      const plain = (rs: { label: number; confidence: number; probs: Float32Array }[][]) => rs.map((r) => r.map((e) => ({ label: e.label, confidence: e.confidence, probs: Array.from(e.probs) })));
      return { info, wasmDuringWorker, worker: plain(inWorker), main: plain(onMain), mainDigest: m.digestHex };
    }, { name, limit: 30 });
    assert.is(out.wasmDuringWorker, 0, 'the worker model compiled or instantiated WebAssembly on the main thread');
    assert.equal(out.info, { name, numLayers: ref.exits[0].length, digest: ref.digest, backend: 'wasm', classes: ref.classes });
    assert.is(out.mainDigest, ref.digest);
    assert.equal(out.worker, out.main, `${name}: worker and main thread differ`);
    const answers: Answer[] = out.worker.map((exits) => {
      const k = exits.findIndex((e) => e.confidence >= 0.9);
      const at = k >= 0 ? k : exits.length - 1;
      return { exit: at + 1, label: exits[at].label, confidence: exits[at].confidence, exits: exits.map((e) => [e.label, e.confidence] as [number, number]) };
    });
    sameAsNode(`worker (${name})`, answers, ref);
  }
  assert.equal(pageErrors, []);
});

test("precision 'int8' in the worker: every exit equals the main thread's int8 model, and is not the f32 model's bits", async () => {
  if (!ready()) return;
  for (const name of ['fmnist-cnn', 'sst2-transformer']) {
    const out = await page!.evaluate(async ({ name }) => {
      const core = await import('/dist/src/index.js' as string);
      const { createWorkerModel } = await import('/dist/src/worker/index.js' as string);
      const wm = await createWorkerModel(`/models/${name}/${name}.spx`, { precision: 'int8' });
      const m8 = await core.loadModel(`/models/${name}/${name}.spx`, { precision: 'int8' });
      const m32 = await core.loadModel(`/models/${name}/${name}.spx`);
      const stream = await core.demoSamples(name, new Uint8Array(await (await fetch(`/${core.demoSampleFile(name)}`)).arrayBuffer()), { limit: 10 });
      const encode = core.createInputEncoder(m8.header);
      const plain = (rs: { label: number; probs: Float32Array }[]) => rs.map((e) => ({ label: e.label, probs: Array.from(e.probs) }));
      const worker = [], main = [], f32 = [];
      for (const s of stream.samples) {
        const x = encode(s.input);
        worker.push(plain(await wm.exits(x)));
        main.push(plain(await m8.exits(x)));
        f32.push(plain(await m32.exits(x)));
      }
      wm.dispose(); m8.dispose(); m32.dispose();
      return { worker, main, f32 };
    }, { name });
    assert.equal(out.worker, out.main, `${name}: the worker's int8 model and the main thread's differ`);
    assert.not.equal(out.main, out.f32, `${name}: precision int8 computed exactly the f32 bits (the int8 path was not used)`);
  }
  assert.equal(pageErrors, []);
});

test('runDevice for every split layer, both exit modes, offload or not, f32 and int8: field for field the main thread', async () => {
  if (!ready()) return;
  const out = await page!.evaluate(async () => {
    const core = await import('/dist/src/index.js' as string);
    const { createWorkerModel } = await import('/dist/src/worker/index.js' as string);
    const plain = (v: unknown): unknown => {
      if (ArrayBuffer.isView(v)) return { typed: v.constructor.name, values: Array.from(v as unknown as ArrayLike<number>) };
      if (Array.isArray(v)) return v.map(plain);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
      return v === undefined ? '<undefined>' : v;
    };
    const results: { name: string; worker: unknown[]; main: unknown[]; calls: number }[] = [];
    for (const name of ['fmnist-cnn', 'sst2-transformer']) {
      const wm = await createWorkerModel(`/models/${name}/${name}.spx`);
      const m = await core.loadModel(`/models/${name}/${name}.spx`);
      const stream = await core.demoSamples(name, new Uint8Array(await (await fetch(`/${core.demoSampleFile(name)}`)).arrayBuffer()), { limit: 4 });
      const encode = core.createInputEncoder(m.header);
      const worker: unknown[] = [], main: unknown[] = [];
      let calls = 0;
      for (const [i, s] of stream.samples.entries()) {
        const x = encode(s.input);
        for (let k = 1; k <= m.numLayers; k++) {
          for (const exits of ['split', 'every'] as const) {
            // Thresholds that make some samples stop early, some offload and some answer at k.
            const alpha = [0.5, 0.8, 0.95][(i + k) % 3];
            for (const readback of ['f32', 'int8'] as const) {
              const opts = () => {
                const asked: string[] = [];
                return {
                  asked,
                  o: {
                    exits, readback,
                    stopAt: (j: number, e: { confidence: number }) => { asked.push(`stop ${j}`); return e.confidence >= alpha; },
                    offload: (e: { confidence: number }) => { asked.push('offload'); return e.confidence < alpha; },
                  },
                };
              };
              const a = opts(), b = opts();
              worker.push([await wm.runDevice(x, k, a.o), a.asked]);
              main.push([await m.runDevice(x, k, b.o), b.asked]);
              calls++;
            }
          }
        }
      }
      wm.dispose();
      m.dispose();
      results.push({ name, worker: plain(worker) as unknown[], main: plain(main) as unknown[], calls });
    }
    return results;
  });
  for (const r of out) {
    assert.ok(r.calls >= 96, `${r.name}: only ${r.calls} calls`);
    const offloaded = (r.main as [Record<string, unknown>, string[]][]).filter((x) => Array.isArray(x) && x[0] && ('activation' in x[0] || 'encoded' in x[0])).length;
    const stopped = (r.main as [Record<string, unknown>, string[]][]).filter((x) => Array.isArray(x) && !x[1].includes('offload')).length;
    assert.ok(offloaded > 0 && stopped > 0, `${r.name}: ${offloaded} offloads, ${stopped} early stops — the cases are not covered`);
    assert.equal(r.worker, r.main, `${r.name}: the worker's runDevice differs from the main thread's`);
  }
  assert.equal(pageErrors, []);
});

test('run / exit / finish and predict equal the main thread', async () => {
  if (!ready()) return;
  const out = await page!.evaluate(async () => {
    const core = await import('/dist/src/index.js' as string);
    const { createWorkerModel } = await import('/dist/src/worker/index.js' as string);
    const bytes = new Uint8Array(await (await fetch('/models/fmnist-cnn/fmnist-cnn.spx')).arrayBuffer());
    const wm = await createWorkerModel(bytes);
    const m = await core.loadModel(bytes);
    const stream = await core.demoSamples('fmnist-cnn', new Uint8Array(await (await fetch('/samples/fmnist-test.bin.gz')).arrayBuffer()), { limit: 4 });
    const x = core.createInputEncoder(m.header)(stream.samples[1].input);
    const flat = (t: { shape: number[]; data: Float32Array }) => ({ shape: t.shape, data: Array.from(t.data) });
    const ex = (e: { label: number; confidence: number; probs: Float32Array }) => ({ label: e.label, confidence: e.confidence, probs: Array.from(e.probs) });
    const both = async (f: (mm: typeof m) => Promise<unknown>) => [await f(wm), await f(m)];
    const a3w = await wm.run(x, { to: 3 }), a3m = await m.run(x, { to: 3 });
    return {
      run: [flat(a3w), flat(a3m)],
      exit: (await both((mm) => mm.exit(3, a3m))).map((e) => ex(e as never)),
      finish: (await both((mm) => mm.finish(3, a3m))).map((e) => ex(e as never)),
      rest: (await both((mm) => mm.run(a3m, { from: 4 }))).map((t) => flat(t as never)),
      predict: [await wm.predict(stream.samples[2].input, { topK: 3 }), await core.predict(m, stream.samples[2].input, { topK: 3 })],
      predictExit: [await wm.predict(stream.samples[3].input, { exit: 2 }), await core.predict(m, stream.samples[3].input, { exit: 2 })],
    };
  });
  for (const [what, [w, m]] of Object.entries(out)) assert.equal(w, m, `${what} differs`);
  assert.is((out.predict[0] as unknown[]).length, 3);
  assert.equal(pageErrors, []);
});

test('errors cross as typed WorkerModelErrors with the engine\'s codes; a broken worker fails fast', async () => {
  if (!ready()) return;
  const out = await page!.evaluate(async () => {
    const core = await import('/dist/src/index.js' as string);
    const { createWorkerModel, WorkerModelError } = await import('/dist/src/worker/index.js' as string);
    const caught = async (f: () => Promise<unknown>) => {
      try { await f(); return { threw: false }; } catch (e) {
        const err = e as { name: string; code?: string; originalName?: string; message: string };
        return { threw: true, worker: e instanceof WorkerModelError, name: err.name, code: err.code, original: err.originalName, message: err.message };
      }
    };
    const bytes = new Uint8Array(await (await fetch('/models/fmnist-cnn/fmnist-cnn.spx')).arrayBuffer());
    const wm = await createWorkerModel(bytes);
    const m = await core.loadModel(bytes);
    const cases: Record<string, unknown[]> = {};
    const pair = async (name: string, f: (mm: typeof m) => Promise<unknown>) => { cases[name] = [await caught(() => f(wm)), await caught(() => f(m))]; };
    await pair('short input', (mm) => mm.exits(new Float32Array(100).fill(0.5)));
    await pair('range', (mm) => mm.run(new Float32Array(784).fill(0.5), { from: 3, to: 2 }));
    await pair('split layer', (mm) => mm.finish(9, { shape: [1], data: new Float32Array(1) }));
    await pair('predict text on an image model', (mm) => (mm === wm ? wm.predict('a sentence') : core.predict(m, 'a sentence')));
    const broken = bytes.slice();
    broken[0] ^= 0xff;
    const load = [await caught(() => createWorkerModel(broken)), await caught(() => core.loadModel(broken))];
    const fetchFail = await caught(() => createWorkerModel('/models/none.spx'));
    const badScript = await caught(() => createWorkerModel(bytes, { worker: '/dist/src/worker/no-such-worker.js' }));
    // The worker still answers after errors; after dispose every call fails.
    const after = (await wm.exits(new Float32Array(784).fill(0.25))).length;
    wm.dispose();
    const disposed = await caught(() => wm.exits(new Float32Array(784)));
    m.dispose();
    return { cases, load, fetchFail, badScript, after, disposed };
  });
  for (const [what, [w, m]] of Object.entries(out.cases) as [string, Record<string, unknown>[]][]) {
    assert.ok(m.threw && w.threw, `${what}: ${JSON.stringify([w, m])}`);
    assert.ok(w.worker, `${what}: not a WorkerModelError`);
    assert.is(w.code, m.code, `${what}: code ${w.code} vs main thread ${m.code}`);
    assert.is(w.original, m.name);
    assert.is(w.message, m.message);
  }
  const [lw, lm] = out.load as Record<string, unknown>[];
  assert.ok(lw.threw && lw.worker && lw.code === lm.code && lw.original === lm.name, JSON.stringify(out.load));
  assert.equal([out.fetchFail.threw, out.fetchFail.code], [true, 'FETCH_FAILED']);
  assert.equal([out.badScript.threw, out.badScript.code], [true, 'WORKER_FAILED']);
  assert.is(out.after, 7);
  assert.equal([out.disposed.threw, out.disposed.code], [true, 'DISPOSED']);
});

test('runtimeFeatures in the page and in a worker: browser / web-worker, SIMD, WebGPU', async () => {
  if (!ready()) return;
  const out = await page!.evaluate(async () => {
    const { runtimeFeatures } = await import('/dist/src/runtime/features.js' as string);
    const inPage = await runtimeFeatures();
    const src = `import('${location.origin}/dist/src/runtime/features.js').then(async (m) => postMessage(JSON.parse(JSON.stringify(await m.runtimeFeatures()))))`;
    const w = new Worker(URL.createObjectURL(new Blob([src], { type: 'text/javascript' })), { type: 'module' });
    const inWorker = await new Promise((resolve, reject) => { w.onmessage = (e) => resolve(e.data); w.onerror = (e) => reject(new Error(e.message)); });
    w.terminate();
    return { inPage: JSON.parse(JSON.stringify(inPage)), inWorker };
  });
  const { inPage, inWorker } = out as Record<string, Record<string, any>>;
  assert.is(inPage.runtime.name, 'browser');
  assert.is(inWorker.runtime.name, 'web-worker');
  for (const f of [inPage, inWorker]) {
    assert.equal([f.webAssembly, f.simd, f.compileFromBytes, f.engine.wasm.available], [true, true, true, true], JSON.stringify(f));
    assert.is(f.crossOriginIsolated, false);
    assert.is(f.threads, false, 'SharedArrayBuffer without cross-origin isolation');
    // Headless Chromium with --enable-unsafe-webgpu on 127.0.0.1: SwiftShader's adapter.
    assert.is(f.webgpu.api, true);
    assert.ok(f.webgpu.adapter, JSON.stringify(f.webgpu));
    assert.is(f.engine.auto, 'webgpu');
  }
});

test.run();
