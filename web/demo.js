// The browser demo: the device half of the model runs here (WebGPU when the browser has an adapter, else WASM),
// offloads go to the server's cloud half (POST /v1/infer, same origin), and the run is `runDemo` from
// src/demo/demo-core.ts — the same settings and runner a Node replay uses, so its numbers match.
// The model runs in a Web Worker (splitee/worker), so layers and readbacks never block the page; the runner, the
// policy and the plots stay here. Query: ?backend=auto|wasm|webgpu overrides the server's choice, ?limit=N streams
// only the first N samples, ?baselines=0 skips the baseline pass, ?worker=0 runs the model on the main thread.
// When the server emulates the link (`--network`), a control changes it while the run goes (PUT /v1/emulate).
import { loadModel } from '/dist/src/index.js';
import { createWorkerModel } from '/dist/src/worker/index.js';
import { HttpCloudClient } from '/dist/src/device/cloud.js';
import { checkSamplesFit, decodeSamples, demoBaselines, demoCosts, runDemo } from '/dist/src/demo/demo-core.js';
import { gpuInfo } from '/gpu.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const pct = (x) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const state = (s) => { document.body.dataset.state = s; };
const yieldToPaint = () => new Promise((r) => setTimeout(r, 0));

async function getJson(url) {
  const res = await fetch(url);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${url}: ${body?.message ?? `HTTP ${res.status}`}`);
  return body;
}

function drawPlots(series, baselines) {
  const p = series.plots({ baselines });
  $('plot-cost').innerHTML = p.cost;
  $('plot-accuracy').innerHTML = p.accuracy;
  $('plot-arms').innerHTML = p.arms;
  $('plot-bytes').innerHTML = p.bytes;
  if (!$('plot-latency').hidden) $('plot-latency').innerHTML = p.latency;
}

// Links the control offers; the server's starting one is added when it is none of these.
const LINKS = [['rtt=2ms,bw=100mbit', '100 Mbit/s, 2 ms'], ['rtt=20ms,bw=10mbit', '10 Mbit/s, 20 ms'], ['rtt=120ms,bw=1mbit', '1 Mbit/s, 120 ms']];
const linkChanges = [];
let samplesDone = 0;

/** The emulated link's control: each change goes to the server at once and applies from the next offload on. */
function networkControl(initial) {
  const el = $('network');
  el.hidden = false;
  $('plot-latency').hidden = false;
  const options = LINKS.some(([v]) => v === initial) ? LINKS : [[initial, initial], ...LINKS];
  el.innerHTML = `<label>link to the cloud half <select id="network-control">${options.map(([v, label]) => `<option value="${esc(v)}"${v === initial ? ' selected' : ''}>${esc(label)}</option>`).join('')}</select></label>`
    + ' <span id="network-now" class="muted">emulated on the server</span>';
  const select = $('network-control');
  select.addEventListener('change', async () => {
    select.disabled = true;
    try {
      const res = await fetch('/v1/emulate', { method: 'PUT', body: select.value });
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error(body?.message ?? `HTTP ${res.status}`);
      linkChanges.push({ sample: samplesDone, link: body.now });
      $('network-now').textContent = linkChanges.map((c) => `from sample ${c.sample}: ${c.link}`).join('; ');
    } catch (e) {
      $('network-now').textContent = `the link could not be changed: ${e.message}`;
    } finally {
      select.disabled = false;
    }
  });
}

function summaryTable(numbers, costs, L, rows, policy) {
  const final = rows?.find((r) => r.name === 'final');
  const whole = costs.cum[L];
  const head = '<tr><th>policy</th><th>accuracy</th><th>cost / sample</th><th>cost saved</th><th>acc. drop</th><th>offload</th><th class="note">note</th></tr>';
  const line = (name, acc, cost, off, note) => `<tr><td>${esc(name)}</td><td>${pct(acc)}</td><td>${cost.toFixed(4)}</td>`
    + `<td>${pct(1 - cost / (final?.cost ?? whole))}</td><td>${final && acc !== null ? `${(100 * (final.accuracy - acc)).toFixed(2)} pt` : ''}</td>`
    + `<td>${pct(off)}</td><td class="muted note">${esc(note)}</td></tr>`;
  const body = [line(`${policy} (live, this page)`, numbers.accuracy, numbers.cost, numbers.offloadRate,
    `${numbers.degraded} degraded, ${numbers.bytesSent.toLocaleString('en-US')} bytes sent`)];
  for (const r of rows ?? []) body.push(line(r.name, r.accuracy, r.cost, r.offloadRate, r.note));
  const arms = numbers.armCounts.map((c, i) => `<td>${c}</td>`).join('');
  return `<table id="summary-table">${head}${body.join('')}</table>`
    + `<table id="arm-table"><tr><th>arm k</th>${numbers.armCounts.map((_, i) => `<th>${i + 1}</th>`).join('')}</tr><tr><td>samples</td>${arms}</tr></table>`;
}

async function main() {
  const config = await getJson('/api/config');
  const backendWanted = params.get('backend') ?? config.backend;
  const gpu = await gpuInfo();
  const inWorker = params.get('worker') !== '0';
  const modelUrl = new URL(config.modelUrl, location.href);
  const model = inWorker ? await createWorkerModel(modelUrl, { backend: backendWanted }) : await loadModel(modelUrl, { backend: backendWanted });
  const L = model.numLayers;
  const cm = demoCosts(config, L);
  const device = model.backendName === 'webgpu'
    ? `WebGPU (${[gpu.vendor, gpu.architecture, gpu.description].filter(Boolean).join(' ')}${gpu.fallback ? ', fallback adapter' : ''})`
    : `WASM${gpu.available ? '' : ` (no WebGPU adapter: ${gpu.reason})`}`;
  const where = inWorker ? 'in a Web Worker' : 'on the main thread';
  $('setup').innerHTML = `<span><b>${esc(model.name)}</b> (${L} layers) on <b>${esc(config.dataset)}</b></span>`
    + `<span>device: <span class="pill" id="backend">${esc(device)}</span> ${where}</span>`
    + (config.costs === 'measured'
      ? `<span>policy ${esc(config.policy)}, α ${config.alpha}, costs measured in ms${config.deviceMs ? ` (device emulated ${config.deviceMs} ms slower)` : ''}, seed ${config.seed}, wire ${esc(config.dtype)}</span>`
      : `<span>policy ${esc(config.policy)}, α ${config.alpha}, λ ${+cm.lambda.toFixed(4)}, o ${+cm.offloadCost.toFixed(4)}, seed ${config.seed}, wire ${esc(config.dtype)}</span>`);
  if (config.network) networkControl(config.network);

  const limitParam = Number(params.get('limit'));
  const limit = Number.isInteger(limitParam) && limitParam > 0 ? Math.min(limitParam, config.limit) : config.limit;
  const payload = await getJson(`/api/samples?dataset=${encodeURIComponent(config.dataset)}&limit=${limit}`);
  checkSamplesFit(model.header, payload);
  const samples = decodeSamples(payload);
  const cloud = new HttpCloudClient(location.origin);
  const health = await cloud.health({ timeoutMs: 5000 });
  if (health.digest !== model.digestHex) throw new Error(`the server's cloud half runs another model file (${health.model})`);

  state('running');
  let lastPaint = 0;
  const outcome = await runDemo({
    model, samples, config, cloud,
    onSample: async (rec, pr, series) => {
      samplesDone = pr.done;
      const now = performance.now();
      if (now - lastPaint < 250 && pr.done < samples.length) return;
      lastPaint = now;
      $('progress').style.width = `${(100 * pr.done / samples.length).toFixed(1)}%`;
      const saved = 1 - series.cost[series.n - 1] / series.finalCost[series.n - 1];
      $('live').innerHTML = `<span>sample <b>${pr.done}</b> / ${samples.length}</span>`
        + `<span>accuracy <b>${pct(pr.labelled ? pr.correct / pr.labelled : null)}</b></span>`
        + `<span>cost saved <b>${pct(saved)}</b></span>`
        + `<span>offload <b>${pct(pr.offloaded / pr.done)}</b></span>`
        + `<span>arm <b>${rec.arm}</b></span>`
        + (config.network ? `<span>latency <b>${series.latency[series.n - 1].toFixed(1)} ms</b></span>` : '');
      drawPlots(series);
      await yieldToPaint();
    },
  });
  const { numbers, series, costs } = outcome;
  const liveLine = $('live').innerHTML;
  drawPlots(series);
  $('summary').classList.remove('muted');
  $('summary').innerHTML = summaryTable(numbers, costs, L, null, config.policy);
  const result = { numbers, backend: model.backendName, worker: inWorker, gpu, baselines: null, linkChanges };
  window.demoResult = result;

  if (params.get('baselines') !== '0') {
    state('baselines');
    const baselines = await demoBaselines(model, samples, config, async (done) => {
      if (done % 50 === 0) { $('live').innerHTML = `${liveLine}<span class="muted">baselines: every exit of sample ${done} / ${samples.length}</span>`; await yieldToPaint(); }
    });
    $('live').innerHTML = liveLine;
    result.baselines = baselines.rows;
    drawPlots(series, baselines);
    $('summary').innerHTML = summaryTable(numbers, costs, L, baselines.rows, config.policy);

  }
  model.dispose();
  state('done');
}

main().catch((e) => {
  console.error(e);
  window.demoError = String(e?.message ?? e);
  $('error').innerHTML = `<div class="error">${esc(e?.stack ?? e)}</div>`;
  state('error');
});
