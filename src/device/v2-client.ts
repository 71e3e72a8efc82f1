// A device's client for any server that speaks the KServe v2 / Open Inference Protocol over HTTP (`splitee serve`'s
// /v2 routes, Triton or KServe serving the exported tails): `--cloud v2+http://host:port`. The frame the runner
// built is unpacked here and sent as the tail model's inputs — the quantized activation as a UINT8 tensor with its
// FP32 scale and UINT8 zero point (DequantizeLinear's inputs), or FP32 / FP16 — in the binary tensor extension, so
// the bytes on the wire are the frame's payload. Core module: no Node imports (global fetch).
import { decode } from '../transport/codec.js';
import { FrameError, decodeFrame, type CloudAnswer } from '../transport/frame.js';
import { CloudError, MAX_ANSWER_BYTES, httpError, networkError, readBytes, readText, withDeadline, type CloudClient, type CloudHealth, type InferOptions } from './cloud.js';

export interface V2CloudOptions {
  /** The model's name: tail k is served as `<model>.tail-<k>`. */
  model: string;
  /** Layers of the whole model (for layersRun when the server does not say). */
  numLayers?: number;
  /** SHA-256 hex of the device's model file, sent as the request parameter `splitee_digest` (splitee checks it). */
  digest?: string;
  token?: string;
  fetch?: typeof fetch;
  maxAnswerBytes?: number;
}

/** `v2+http://host:port` or `v2+https://…` → the http(s) base URL; null for anything else. */
export function v2BaseUrl(target: string): string | null {
  const m = /^v2\+(https?:\/\/.+)$/i.exec(target);
  return m ? m[1] : null;
}

interface V2Output { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown; parameters?: { binary_data_size?: unknown } }

export class V2CloudClient implements CloudClient {
  readonly target: string;
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly maxAnswerBytes: number;

  constructor(url: string, private readonly opts: V2CloudOptions) {
    const plain = v2BaseUrl(url) ?? url;
    let u: URL;
    try { u = new URL(plain); } catch { throw new CloudError('BAD_URL', 0, `'${url}' is not a URL`, { retryable: false, fatal: true }); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CloudError('BAD_URL', 0, `'${url}': only v2+http and v2+https are supported`, { retryable: false, fatal: true });
    if (!opts?.model) throw new CloudError('BAD_OPTION', 0, 'V2CloudClient needs the model name', { retryable: false, fatal: true });
    this.base = u.href.replace(/\/+$/, '');
    this.target = `v2+${this.base}`;
    const f = opts.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (typeof f !== 'function') throw new CloudError('NO_FETCH', 0, 'no fetch in this runtime', { retryable: false, fatal: true });
    this.fetchFn = f.bind(globalThis);
    this.maxAnswerBytes = opts.maxAnswerBytes ?? MAX_ANSWER_BYTES;
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return this.opts.token ? { ...extra, Authorization: `Bearer ${this.opts.token}` } : extra;
  }

  /** The v2 request for a frame: JSON header, then the inputs' bytes (binary tensor extension). */
  static requestFor(frame: Uint8Array, digest?: string): { k: number; requestId: string; header: object; blobs: Uint8Array[] } {
    let f;
    try { f = decodeFrame(frame); } catch (e) {
      if (e instanceof FrameError) throw new CloudError(e.code, 0, e.message, { retryable: false, fatal: false });
      throw e;
    }
    const t = f.tensor;
    const shape = t.shape;
    const inputs: object[] = [];
    const blobs: Uint8Array[] = [];
    const add = (name: string, datatype: string, shp: number[], bytes: Uint8Array) => {
      inputs.push({ name, datatype, shape: shp, parameters: { binary_data_size: bytes.length } });
      blobs.push(bytes);
    };
    if (t.dtype === 'int8' && t.params.kind === 'affine') {
      add('activation', 'UINT8', shape, t.payload);
      add('scale', 'FP32', [1], new Uint8Array(Float32Array.of(t.params.scale).buffer));
      add('zero_point', 'UINT8', [1], Uint8Array.of(t.params.zeroPoint));
    } else if (t.dtype === 'f32' || t.dtype === 'fp16') {
      add('activation', t.dtype === 'f32' ? 'FP32' : 'FP16', shape, t.payload);
    } else if (t.dtype === 'int4' && t.params.kind === 'affine') {
      // One level per byte: UINT8 q in 0..15 with the same scale and zero point dequantizes identically.
      const q = new Uint8Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < q.length; i++) q[i] = (t.payload[i >> 1] >> ((i & 1) * 4)) & 15;
      add('activation', 'UINT8', shape, q);
      add('scale', 'FP32', [1], new Uint8Array(Float32Array.of(t.params.scale).buffer));
      add('zero_point', 'UINT8', [1], Uint8Array.of(t.params.zeroPoint));
    } else {
      // Per-channel int8 has no single scale: send what it decodes to.
      add('activation', 'FP32', shape, new Uint8Array(decode(t).buffer));
    }
    const header = { id: f.requestId, inputs, ...(digest ? { parameters: { splitee_digest: digest } } : {}) };
    return { k: f.splitLayer, requestId: f.requestId, header, blobs };
  }

  async infer(frame: Uint8Array, opts: InferOptions = {}): Promise<CloudAnswer> {
    const { k, requestId, header, blobs } = V2CloudClient.requestFor(frame, this.opts.digest);
    const head = new TextEncoder().encode(JSON.stringify(header));
    const body = new Uint8Array(head.length + blobs.reduce((s, b) => s + b.length, 0));
    body.set(head, 0);
    let o = head.length;
    for (const b of blobs) { body.set(b, o); o += b.length; }
    const url = `${this.base}/v2/models/${encodeURIComponent(`${this.opts.model}.tail-${k}`)}/infer`;
    return withDeadline(async (signal) => {
      let res: Response;
      try {
        res = await this.fetchFn(url, {
          method: 'POST', signal, body: body as Uint8Array<ArrayBuffer>,
          headers: this.headers({ 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(head.length), Accept: 'application/json' }),
        });
      } catch (e) {
        throw networkError(e, this.base);
      }
      if (res.status !== 200) throw httpError(res, await readText(res, this.maxAnswerBytes));
      const answer = await this.readAnswer(res);
      return this.toCloudAnswer(answer, k, requestId, opts);
    }, opts.timeoutMs, opts.signal);
  }

  /** The answer's JSON header and binary outputs (when the server used the extension). */
  private async readAnswer(res: Response): Promise<{ head: Record<string, unknown>; outputs: Map<string, number[]> }> {
    const bad = (why: string) => new CloudError('BAD_RESPONSE', res.status, `v2 answer: ${why}`, { retryable: false, fatal: false });
    const hl = res.headers.get('inference-header-content-length');
    const bytes = await readBytes(res, this.maxAnswerBytes);
    const n = hl !== null ? Number(hl) : bytes.length;
    if (!Number.isInteger(n) || n < 0 || n > bytes.length) throw bad('Inference-Header-Content-Length is past the body');
    let head: Record<string, unknown>;
    try { head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n))); } catch { throw bad('not JSON'); }
    if (!head || typeof head !== 'object' || !Array.isArray(head.outputs)) throw bad('no outputs');
    const outputs = new Map<string, number[]>();
    let at = n;
    for (const out of head.outputs as V2Output[]) {
      if (typeof out?.name !== 'string') throw bad('an output without a name');
      const size = out.parameters?.binary_data_size;
      if (size !== undefined) {
        if (!Number.isInteger(size) || at + (size as number) > bytes.length) throw bad(`output '${out.name}' binary data past the body`);
        const raw = bytes.slice(at, at + (size as number));
        at += size as number;
        const dt = out.datatype;
        if (dt === 'FP32') outputs.set(out.name, Array.from(new Float32Array(raw.buffer, 0, raw.length >> 2)));
        else if (dt === 'INT64') outputs.set(out.name, Array.from(new BigInt64Array(raw.buffer, 0, raw.length >> 3), Number));
        else if (dt === 'INT32') outputs.set(out.name, Array.from(new Int32Array(raw.buffer, 0, raw.length >> 2)));
        else throw bad(`output '${out.name}': datatype ${String(dt)}`);
      } else {
        const flat: number[] = [];
        const walk = (v: unknown): void => { if (Array.isArray(v)) v.forEach(walk); else if (typeof v === 'number') flat.push(v); else throw bad(`output '${out.name}' holds a non-number`); };
        walk(out.data);
        outputs.set(out.name, flat);
      }
    }
    return { head, outputs };
  }

  private toCloudAnswer(a: { head: Record<string, unknown>; outputs: Map<string, number[]> }, k: number, requestId: string, opts: InferOptions): CloudAnswer {
    const bad = (why: string) => new CloudError('BAD_RESPONSE', 200, `v2 answer: ${why}`, { retryable: false, fatal: false });
    // The probabilities are the first output when not named `probs` (an exported ONNX tail names its own).
    const probsArr = a.outputs.get('probs') ?? a.outputs.values().next().value;
    if (!probsArr || probsArr.length < 1) throw bad('no probabilities');
    const probs = Float32Array.from(probsArr);
    for (const p of probs) if (!(p >= 0 && p <= 1)) throw bad('a probability outside [0, 1]');
    if (opts.numClasses !== undefined && probs.length !== opts.numClasses) throw bad(`${probs.length} probs, expected ${opts.numClasses}`);
    let label = a.outputs.get('label')?.[0];
    if (label === undefined) { label = 0; for (let c = 1; c < probs.length; c++) if (probs[c] > probs[label]) label = c; }
    if (!Number.isInteger(label) || label < 0 || label >= probs.length) throw bad('label out of range');
    const confidence = a.outputs.get('confidence')?.[0] ?? probs[label];
    const params = (a.head.parameters ?? {}) as { layers_run?: unknown };
    const layersRun = Number.isInteger(params.layers_run) ? params.layers_run as number : this.opts.numLayers !== undefined ? this.opts.numLayers - k : 0;
    if (opts.requestId !== undefined && typeof a.head.id === 'string' && a.head.id !== opts.requestId) throw bad('answer is for another request');
    return { label, probs, confidence, layersRun, requestId };
  }

  /** Ready and serving this model (tail 1's metadata); the digest when the server reports one (splitee does). */
  async health(opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<CloudHealth> {
    return withDeadline(async (signal) => {
      const get = async (path: string) => {
        let res: Response;
        try { res = await this.fetchFn(`${this.base}${path}`, { headers: this.headers({ Accept: 'application/json' }), signal }); } catch (e) { throw networkError(e, this.base); }
        const text = await readText(res, this.maxAnswerBytes);
        if (res.status !== 200) throw httpError(res, text);
        try { return JSON.parse(text) as Record<string, unknown>; } catch { throw new CloudError('BAD_RESPONSE', 200, `${path}: not JSON`, { retryable: false, fatal: false }); }
      };
      await get('/v2/health/ready');
      const meta = await get(`/v2/models/${encodeURIComponent(`${this.opts.model}.tail-1`)}`);
      const p = (meta.parameters ?? {}) as { digest?: unknown; num_layers?: unknown };
      if (typeof p.digest !== 'string' || !/^[0-9a-f]{64}$/.test(p.digest)) {
        throw new CloudError('UNVERIFIED', 0, `${this.target} serves ${this.opts.model}.tail-1 but does not say which model file (no digest)`, { retryable: false, fatal: false });
      }
      return { ok: true, model: this.opts.model, digest: p.digest, numLayers: Number.isInteger(p.num_layers) ? p.num_layers as number : this.opts.numLayers ?? 0 };
    }, opts.timeoutMs, opts.signal);
  }
}

