// The worker script behind createWorkerModel: it holds one engine Model and answers the page's requests
// (src/worker/protocol.ts). Load it as a module worker: new Worker(new URL('./worker.js', import.meta.url), { type: 'module' }).
import { loadModelBytes, type Model } from '../engine/model.js';
import type { ExitResult, Tensor } from '../engine/types.js';
import { predict } from '../predict.js';
import { serializeError, type DeviceReply, type WorkerRequest, type WorkerResponse } from './protocol.js';

/** The parts of a dedicated worker's global scope used here (the DOM lib types `self` as a Window). */
interface WorkerScope {
  onmessage: ((ev: MessageEvent<{ id: number; req: WorkerRequest }>) => void) | null;
  postMessage(message: WorkerResponse, transfer: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let model: Model | undefined;

function loaded(): Model {
  if (!model) throw Object.assign(new Error('no model is loaded in this worker'), { name: 'WorkerModelError', code: 'NOT_LOADED' });
  return model;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw Object.assign(new Error(`could not fetch model ${url}: HTTP ${res.status}`), { name: 'WorkerModelError', code: 'FETCH_FAILED' });
  return new Uint8Array(await res.arrayBuffer());
}

/** Buffers worth moving rather than copying on the way out. */
function transferables(value: unknown, out: Transferable[] = []): Transferable[] {
  if (ArrayBuffer.isView(value)) {
    // Only whole buffers of their own: a view into a larger one (say, WASM memory) is copied instead.
    const b = value.buffer;
    if (b instanceof ArrayBuffer && b.byteLength === value.byteLength && !out.includes(b)) out.push(b);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}

/**
 * Layers 1..k with the exits asked for, and the activation at k read back whatever the page will decide: reading
 * it is cheap next to the layers, and it saves a second round trip (the page's offload decision cannot run here).
 */
async function device(m: Model, req: Extract<WorkerRequest, { op: 'device' }>): Promise<DeviceReply> {
  const exits: ExitResult[] = [];
  const collect = (_layer: number, e: ExitResult) => { exits.push(e); return false; };
  try {
    const run = await m.runDevice(req.input, req.k, { exits: req.exits, stopAt: collect, offload: () => true, readback: req.readback });
    exits.push(run.exit);
    return { exits, ...(run.activation ? { activation: run.activation } : {}), ...(run.encoded ? { encoded: run.encoded } : {}) };
  } catch (e) {
    // Only the readback can fail after the layers ran (a non-finite activation has no int8 encoding): answer with
    // the exits and the reason, and let the page raise it if it offloads.
    if ((e as { code?: string }).code !== 'NON_FINITE') throw e;
    exits.length = 0;
    const run = await m.runDevice(req.input, req.k, { exits: req.exits, stopAt: collect, offload: () => false });
    exits.push(run.exit);
    return { exits, readError: serializeError(e) };
  }
}

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'load': {
      model?.dispose();
      model = undefined;
      const bytes = typeof req.source === 'string' ? await fetchBytes(req.source) : req.source;
      model = await loadModelBytes(bytes, { backend: req.backend, ...(req.precision ? { precision: req.precision } : {}) });
      return { header: model.header, digest: model.digest, backendName: model.backendName };
    }
    case 'exits': return loaded().exits(req.input);
    case 'run': return loaded().run(req.input, { from: req.from, to: req.to });
    case 'exit': return loaded().exit(req.k, req.activation);
    case 'finish': return loaded().finish(req.k, req.activation);
    case 'device': return device(loaded(), req);
    case 'predict': return predict(loaded(), req.input, req.opts);
    case 'dispose': model?.dispose(); model = undefined; return null;
    default: throw Object.assign(new Error(`unknown request ${(req as { op?: unknown }).op}`), { name: 'WorkerModelError', code: 'BAD_REQUEST' });
  }
}

scope.onmessage = (ev) => {
  const { id, req } = ev.data;
  handle(req).then(
    (value) => {
      // The header holds no typed arrays worth moving; the digest is copied (the model keeps its own).
      const transfer = req.op === 'load' ? [] : transferables(value);
      scope.postMessage({ id, ok: true, value }, transfer);
    },
    (e) => scope.postMessage({ id, ok: false, error: serializeError(e) }, []),
  );
};
