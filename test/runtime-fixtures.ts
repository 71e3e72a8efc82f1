// Shared by the tests that run the device half outside this Node process (Deno, Bun, workerd, the one-file build in
// Chromium, a Web Worker): Node's own answers on the embedded demo samples, the exact comparison, and the one-file
// build made fresh when it is older than the core build.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { demoSampleFile, demoSamples } from '../src/data/samples.js';
import { createInputEncoder, loadModelBytes } from '../src/index.js';

/** The package root (this file is dist/test/runtime-fixtures.js). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The early-exit threshold the examples use. */
export const ALPHA = 0.9;

export type ExitPair = [label: number, confidence: number];
/** One sample's answer as the examples print it. */
export interface Answer { exit: number; label: number; class?: string; confidence: number; exits: ExitPair[] }
export interface NodeRef { name: string; digest: string; classes: string[]; exits: ExitPair[][]; inputs: (Float32Array | string)[]; labels: number[] }

const refs = new Map<string, Promise<NodeRef>>();

/** Node's engine (WASM) on the first `limit` embedded demo samples of a zoo model: every exit of every sample. */
export function nodeRef(name: string, limit: number): Promise<NodeRef> {
  const key = `${name}:${limit}`;
  if (!refs.has(key)) {
    refs.set(key, (async () => {
      const model = await loadModelBytes(readFileSync(join(ROOT, 'models', name, `${name}.spx`)), { backend: 'wasm' });
      try {
        const stream = await demoSamples(name, new Uint8Array(readFileSync(join(ROOT, demoSampleFile(name)))), { limit });
        assert.is(stream.samples.length, limit, `the embedded sample of ${name} has fewer than ${limit} samples`);
        const encode = createInputEncoder(model.header);
        const inputs = stream.samples.map((s) => s.input as Float32Array | string);
        const exits: ExitPair[][] = [];
        for (const x of inputs) exits.push((await model.exits(encode(x))).map((e) => [e.label, e.confidence]));
        return { name, digest: model.digestHex, classes: model.classes, exits, inputs, labels: stream.samples.map((s) => s.label) };
      } finally {
        model.dispose();
      }
    })());
  }
  return refs.get(key)!;
}

/** Every answer equals Node's: every exit's label and confidence bit for bit, and the early exit by the same rule. */
export function sameAsNode(where: string, got: Answer[], ref: NodeRef): void {
  assert.is(got.length, ref.exits.length, `${where}: ${got.length} answers for ${ref.exits.length} samples`);
  let differ = 0, first = '';
  for (let i = 0; i < got.length; i++) {
    const exp = ref.exits[i];
    const same = got[i].exits.length === exp.length && got[i].exits.every(([l, c], k) => l === exp[k][0] && Object.is(c, exp[k][1]));
    if (!same) { differ++; first ||= `sample ${i}: ${JSON.stringify(got[i].exits)} vs Node ${JSON.stringify(exp)}`; continue; }
    const k = exp.findIndex(([, c]) => c >= ALPHA);
    const at = k >= 0 ? k : exp.length - 1;
    assert.is(got[i].exit, at + 1, `${where}: sample ${i} answered at exit ${got[i].exit}, expected ${at + 1}`);
    assert.is(got[i].label, exp[at][0]);
    if (got[i].class !== undefined) assert.is(got[i].class, ref.classes[exp[at][0]]);
    assert.ok(Object.is(got[i].confidence, exp[at][1]));
  }
  assert.is(differ, 0, `${where}: ${differ} of ${got.length} samples differ from Node; first: ${first}`);
}

/** dist/splitee.browser.js and dist/splitee.wasm, rebuilt (scripts/build-browser.mjs) when older than the core build. */
export function ensureBundle(): { bundle: string; wasm: string } {
  const bundle = join(ROOT, 'dist/splitee.browser.js');
  const wasm = join(ROOT, 'dist/splitee.wasm');
  const core = join(ROOT, 'dist/src/index.js');
  if (!(existsSync(bundle) && existsSync(wasm) && statSync(bundle).mtimeMs >= statSync(core).mtimeMs)) {
    const p = spawnSync(process.execPath, [join(ROOT, 'scripts/build-browser.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.is(p.status, 0, `scripts/build-browser.mjs failed: ${p.stderr}`);
  }
  return { bundle, wasm };
}

export const mib = (b: number | null | undefined) => (typeof b === 'number' ? `${(b / 2 ** 20).toFixed(1)} MiB` : 'n/a');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.spx': 'application/octet-stream',
  '.gz': 'application/octet-stream', '.wasm': 'application/wasm',
};

export interface Served { url: string; close: () => Promise<void> }

/**
 * A static server on loopback: `route` maps a URL path to a file (or to a page's HTML text), null for 404. `cors`
 * adds the header a CDN sends.
 */
export function serveStatic(route: (path: string) => string | { html: string } | null, cors: boolean): Promise<Served> {
  const server = http.createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const hit = req.method === 'GET' ? route(path) : null;
    const headers = cors ? { 'access-control-allow-origin': '*' } : {};
    if (hit && typeof hit === 'object') { res.writeHead(200, { 'content-type': TYPES['.html'], ...headers }).end(hit.html); return; }
    if (!hit || !existsSync(hit) || !statSync(hit).isFile()) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(hit)] ?? 'application/octet-stream', ...headers });
    res.end(readFileSync(hit));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  })));
}
