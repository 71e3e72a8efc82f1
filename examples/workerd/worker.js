// A Cloudflare Worker serving the device half: POST /predict classifies one input (or a batch) with early exits.
//
// Workers cannot compile WebAssembly from bytes at run time, so the kernels come in as a compiled module
// (`splitee.wasm`, imported as a WebAssembly.Module) and are handed over before the first model loads. The model
// file is a data module (an ArrayBuffer). With wrangler, import from the package instead:
//   import * as splitee from 'splitee/browser'; import kernels from 'splitee/splitee.wasm';
//
// Request (JSON): {"pixels": [0..1, …]} or {"bytes": [0..255, …]} (an image, the model's input size, channels
// first), {"text": "…"} (text models), or {"batch": [<any of these>, …]}. Answer: {"label", "class", "confidence", "exit", "exits": [[label, confidence], …]}
// (a list of those for a batch). ?alpha=0.8 sets the exit threshold (default 0.9). GET /runtime describes what
// this runtime offers (splitee.runtimeFeatures), GET /healthz the model.
import * as splitee from './splitee.js';
import kernels from './splitee.wasm';
import modelBytes from './model.spx';
import { answer } from './classify.js';

splitee.useCompiledKernels(kernels);

// Loaded on the first request: a Worker's global scope may not wait on anything.
let ready;
const model = () => (ready ??= splitee.loadModel(new Uint8Array(modelBytes)).then((m) => ({ m, encode: splitee.createInputEncoder(m.header) })));

const json = (body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const fail = (status, error, message) => json({ error, message }, status);

function rawInput(item) {
  if (item && Array.isArray(item.pixels)) {
    if (!item.pixels.every((v) => typeof v === 'number' && v >= 0 && v <= 1)) throw new RangeError('pixels must be numbers in [0, 1]');
    return Float32Array.from(item.pixels);
  }
  if (item && Array.isArray(item.bytes)) {
    if (!item.bytes.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) throw new RangeError('bytes must be integers 0..255');
    return Uint8Array.from(item.bytes);
  }
  if (item && typeof item.text === 'string') return item.text;
  throw new RangeError('each input is {"pixels": [0..1, …]}, {"bytes": [0..255, …]} or {"text": "…"}');
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/healthz') {
      const { m } = await model();
      return json({ ok: true, model: m.name, digest: m.digestHex, layers: m.numLayers });
    }
    if (url.pathname === '/runtime') return json(await splitee.runtimeFeatures());
    if (url.pathname !== '/predict') return fail(404, 'NOT_FOUND', `no route ${url.pathname}; POST /predict`);
    if (request.method !== 'POST') return fail(405, 'METHOD', 'use POST');
    const alpha = url.searchParams.has('alpha') ? Number(url.searchParams.get('alpha')) : 0.9;
    if (!(alpha >= 0 && alpha <= 1)) return fail(400, 'BAD_ALPHA', 'alpha must be in [0, 1]');
    let body;
    try { body = await request.json(); } catch { return fail(400, 'BAD_JSON', 'the body is not JSON'); }
    const items = Array.isArray(body?.batch) ? body.batch : [body];
    const { m, encode } = await model();
    const out = [];
    for (const item of items) {
      try {
        out.push(answer(m, await m.exits(encode(rawInput(item))), alpha));
      } catch (e) {
        // Typed errors (a code: the input encoder's, the engine's) and range checks are the caller's fault.
        if (e instanceof RangeError || typeof e?.code === 'string') return fail(400, 'BAD_INPUT', e.message);
        throw e;
      }
    }
    return json(Array.isArray(body?.batch) ? out : out[0]);
  },
};
