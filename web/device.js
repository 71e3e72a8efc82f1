// The device half in the browser: load a model, run layers 1..k and exit k for every k, on WebGPU and/or WASM.
// `window.deviceHalf` is what test/browser.test.ts calls through page.evaluate; opened by hand (device.html?model=
// <name>) the page runs one random input and shows the exits.
import { loadModel } from '/dist/src/index.js';
import { gpuInfo } from '/gpu.js';

const toInput = (x) => (x.kind === 'i32' ? Int32Array.from(x.data) : Float32Array.from(x.data));

/**
 * For each input and each k = 1..L: model.runDevice(input, k, offload = always) → exit k and the activation after k.
 * Returns plain arrays (page.evaluate serializes them).
 * @param {{modelUrl: string, backend: 'wasm'|'webgpu'|'auto', inputs: {kind: 'f32'|'i32', data: number[]}[], activations?: boolean}} req
 */
export async function deviceHalf(req) {
  const t0 = performance.now();
  const model = await loadModel(new URL(req.modelUrl, location.href), { backend: req.backend });
  const loadMs = performance.now() - t0;
  try {
    const t1 = performance.now();
    const outputs = [];
    for (const x of req.inputs) {
      const input = toInput(x);
      const perK = [];
      for (let k = 1; k <= model.numLayers; k++) {
        const step = await model.runDevice(input, k, { offload: () => req.activations !== false });
        perK.push({
          label: step.exit.label, confidence: step.exit.confidence, probs: Array.from(step.exit.probs),
          activation: step.activation ? { shape: step.activation.shape, data: Array.from(step.activation.data) } : null,
        });
      }
      outputs.push(perK);
    }
    return { backend: model.backendName, name: model.name, numLayers: model.numLayers, digest: model.digestHex, loadMs, runMs: performance.now() - t1, outputs };
  } finally {
    model.dispose();
  }
}

window.gpuInfo = gpuInfo;
window.deviceHalf = deviceHalf;

// By hand: device.html?model=<name> (a model the server serves at /models/<name>.spx).
const out = document.getElementById('out');
const params = new URLSearchParams(location.search);
(async () => {
  const gpu = await gpuInfo();
  out.textContent = gpu.available
    ? `WebGPU adapter: ${gpu.vendor} ${gpu.architecture} ${gpu.description}${gpu.fallback ? ' (fallback adapter)' : ''}\n`
    : `No WebGPU adapter (${gpu.reason}): the device half runs on WASM.\n`;
  const name = params.get('model');
  if (!name) { out.textContent += 'Add ?model=<name> to run a model served at /models/<name>.spx.'; return; }
  const modelUrl = `/models/${encodeURIComponent(name)}.spx`;
  const probe = await loadModel(new URL(modelUrl, location.href));
  const h = probe.header;
  const n = h.input.kind === 'image' ? h.input.shape.reduce((a, b) => a * b, 1) : 0;
  const input = h.input.kind === 'image'
    ? { kind: 'f32', data: Array.from({ length: n }, () => Math.random()) }
    : { kind: 'i32', data: Array.from({ length: Math.min(8, h.input.maxLen) }, () => Math.floor(Math.random() * h.input.vocabSize)) };
  probe.dispose();
  for (const backend of gpu.available ? ['webgpu', 'wasm'] : ['wasm']) {
    const r = await deviceHalf({ modelUrl, backend, inputs: [input], activations: false });
    out.textContent += `\n${r.name} on ${r.backend}: load ${r.loadMs.toFixed(1)} ms, ${r.numLayers} device runs ${r.runMs.toFixed(1)} ms\n`;
    r.outputs[0].forEach((e, i) => { out.textContent += `  k=${i + 1}  label ${e.label}  confidence ${e.confidence.toFixed(6)}\n`; });
  }
})().catch((e) => { out.textContent += `\nerror: ${e?.stack ?? e}`; out.className = 'error'; });
