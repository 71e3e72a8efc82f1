// The device half in a Web Worker: createWorkerModel loads a model inside a module worker and returns a WorkerModel
// with the engine Model's calls as promises, so layers, exits and readbacks run off the page's main thread. It has
// what the device runner (runStream), the confidence-matrix builder and predict-style calls need, and answers
// exactly what the same Model answers on the main thread (the same engine runs in the worker).
import type { DeviceRun, DeviceRunOptions, LoadOptions } from '../engine/model.js';
import type { ExitResult, ModelInput, Tensor } from '../engine/types.js';
import type { SpxHeader } from '../format/index.js';
import type { PredictInput, PredictOptions, Prediction } from '../predict.js';
import type { DeviceReply, ReplyOf, SerializedError, WorkerRequest, WorkerResponse } from './protocol.js';

/** An error from the worker, or about it: `code` is the original error's (EngineError, SpxError, …) when it had one. */
export class WorkerModelError extends Error {
  readonly code: string;
  /** The original error's class name inside the worker (e.g. 'EngineError'). */
  readonly originalName: string;
  constructor(code: string, message: string, originalName = 'WorkerModelError') {
    super(message);
    this.name = 'WorkerModelError';
    this.code = code;
    this.originalName = originalName;
  }
}

export interface WorkerModelOptions {
  /** 'wasm' (default), 'webgpu' or 'auto', chosen inside the worker (navigator.gpu is there in workers too). */
  backend?: LoadOptions['backend'];
  /** 'f32' (default) or 'int8' (the WASM int8 path; see LoadOptions.precision). */
  precision?: LoadOptions['precision'];
  /**
   * The worker to use: a Worker already started on splitee's worker script, or that script's URL. Default: the
   * script beside this module (dist/src/worker/worker.js), as a module worker.
   */
  worker?: Worker | string | URL;
}

const fromWorker = (e: SerializedError) => new WorkerModelError(e.code ?? 'WORKER_ERROR', e.message, e.name);

function startWorker(opt: WorkerModelOptions['worker']): Worker {
  if (typeof Worker !== 'function') throw new WorkerModelError('NO_WORKER', 'this runtime has no Web Worker (globalThis.Worker)');
  if (opt instanceof Worker) return opt;
  // Written out in full so bundlers that understand `new Worker(new URL(…, import.meta.url))` bundle the script.
  if (opt === undefined) return new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return new Worker(opt, { type: 'module' });
}

export class WorkerModel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed: WorkerModelError | undefined;
  private info!: { header: SpxHeader; digest: Uint8Array; backendName: string };

  /** Use createWorkerModel. */
  constructor(readonly worker: Worker) {
    worker.addEventListener('message', (ev: MessageEvent<WorkerResponse>) => {
      const p = this.pending.get(ev.data.id);
      if (!p) return;
      this.pending.delete(ev.data.id);
      if (ev.data.ok) p.resolve(ev.data.value);
      else p.reject(fromWorker(ev.data.error));
    });
    // A script that fails to load or throws at the top level never answers: fail every call instead of hanging.
    worker.addEventListener('error', (ev: ErrorEvent) => {
      ev.preventDefault?.();
      this.fail(new WorkerModelError('WORKER_FAILED', `the worker failed: ${ev.message || 'its script did not load'}`));
    });
    worker.addEventListener('messageerror', () => this.fail(new WorkerModelError('WORKER_FAILED', 'a message from the worker could not be read')));
  }

  private fail(err: WorkerModelError): void {
    this.closed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call<R extends WorkerRequest>(req: R): Promise<ReplyOf<R['op']>> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      try {
        this.worker.postMessage({ id, req });
      } catch (e) {
        this.pending.delete(id);
        reject(new WorkerModelError('BAD_INPUT', `cannot send this to the worker: ${(e as Error).message}`));
      }
    });
  }

  /** @internal */
  async load(source: Uint8Array | string, backend: WorkerModelOptions['backend'], precision?: WorkerModelOptions['precision']): Promise<void> {
    this.info = await this.call({ op: 'load', source, backend, ...(precision ? { precision } : {}) });
  }

  get header(): SpxHeader { return this.info.header; }
  get numLayers(): number { return this.info.header.layers.length; }
  get name(): string { return this.info.header.name; }
  get classes(): string[] { return this.info.header.classes; }
  /** SHA-256 of the model file (the transport binds every offload to it). */
  get digest(): Uint8Array { return this.info.digest; }
  get digestHex(): string { return Array.from(this.info.digest, (x) => x.toString(16).padStart(2, '0')).join(''); }
  /** The backend inside the worker: 'wasm' or 'webgpu'. */
  get backendName(): string { return this.info.backendName; }

  /** Every exit 1..L in one pass (Model.exits). */
  exits(input: ModelInput): Promise<ExitResult[]> { return this.call({ op: 'exits', input }); }
  /** Layers from..to (Model.run). */
  run(input: ModelInput, opts: { from?: number; to?: number } = {}): Promise<Tensor> { return this.call({ op: 'run', input, from: opts.from, to: opts.to }); }
  /** Exit head k on the output of layer k (Model.exit). */
  exit(k: number, activation: Tensor): Promise<ExitResult> { return this.call({ op: 'exit', k, activation }); }
  /** The cloud half: layers k+1..L and the last exit (Model.finish). */
  finish(k: number, activation: Tensor): Promise<ExitResult> { return this.call({ op: 'finish', k, activation }); }
  /** Top-k classes of a raw input (pixels, PNG/JPEG bytes or a sentence) with the exit that answered; decoding runs in the worker too. */
  predict(input: PredictInput, opts?: PredictOptions): Promise<Prediction[]> { return this.call({ op: 'predict', input, opts }); }

  /**
   * The device half (Model.runDevice): the same answer, field for field. `stopAt` and `offload` run here on the
   * exits the worker sends, so with exits 'every' the worker computes exits up to k even when `stopAt` ends the run
   * earlier, and it always reads the activation back (the answer is the same; the extra work stays in the worker).
   */
  async runDevice(input: ModelInput, k: number, opts: DeviceRunOptions): Promise<DeviceRun> {
    const every = opts.exits === 'every';
    const reply: DeviceReply = await this.call({ op: 'device', input, k, exits: every ? 'every' : 'split', readback: opts.readback ?? 'f32' });
    const confidences: (number | undefined)[] = new Array(this.numLayers).fill(undefined);
    const first = every ? 1 : k;
    for (let j = first; j <= k; j++) {
      const exit = reply.exits[j - first];
      confidences[j - 1] = exit.confidence;
      if (j < k && opts.stopAt?.(j, exit)) return { layer: j, exit, confidences };
    }
    const exit = reply.exits[k - first];
    if (!opts.offload(exit)) return { layer: k, exit, confidences };
    if (reply.readError) throw fromWorker(reply.readError);
    if (opts.readback === 'int8') return { layer: k, exit, confidences, encoded: reply.encoded };
    return { layer: k, exit, confidences, activation: reply.activation };
  }

  /** Frees the model and stops the worker; later calls fail with WorkerModelError DISPOSED. */
  dispose(): void {
    if (this.closed) return;
    this.fail(new WorkerModelError('DISPOSED', 'the worker model was disposed'));
    this.worker.terminate();
  }
}

/**
 * Loads a model in a Web Worker. `source`: .spx bytes (copied to the worker) or a URL the worker fetches (relative
 * URLs are resolved against the page). Load errors (a bad file, no WebGPU adapter) reject with WorkerModelError,
 * whose `code` is the engine's.
 */
export async function createWorkerModel(source: Uint8Array | ArrayBuffer | string | URL, opts: WorkerModelOptions = {}): Promise<WorkerModel> {
  let src: Uint8Array | string;
  if (source instanceof Uint8Array) src = source;
  else if (source instanceof ArrayBuffer) src = new Uint8Array(source);
  else if (typeof source === 'string' || source instanceof URL) {
    try {
      src = new URL(String(source), globalThis.location?.href).href;
    } catch {
      throw new WorkerModelError('BAD_SOURCE', `'${String(source)}' is not a URL (relative URLs need a page to resolve against)`);
    }
  } else throw new WorkerModelError('BAD_SOURCE', `a model source is .spx bytes or a URL, got ${Object.prototype.toString.call(source)}`);
  const model = new WorkerModel(startWorker(opts.worker));
  try {
    await model.load(src, opts.backend, opts.precision);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
