// The cloud half in-process (`splitee run --cloud local`, the embedded default): the frame is still encoded,
// decoded and checked exactly as the server checks it, and the answer goes through its JSON text, so the bytes
// and the quantization error are the real ones; only the network is missing.
import { decode } from '../transport/codec.js';
import { FrameError, decodeFrame, decodeResponse, encodeResponse, toHex, type CloudAnswer, type FrameLimits } from '../transport/frame.js';
import { cloudModelFrom, type EngineModel } from '../cloud/cloud-model.js';
import type { CloudModel } from '../cloud/server.js';
import { CloudError, withDeadline, type CloudClient, type CloudHealth, type InferOptions } from './cloud.js';

function isCloudModel(m: EngineModel | CloudModel): m is CloudModel {
  return typeof (m as CloudModel).inputShapeAfter === 'function';
}

const reject = (status: number, code: string, message: string) => new CloudError(code, status, message, { retryable: false });

export class LocalCloudClient implements CloudClient {
  readonly target = 'local';
  readonly model: CloudModel;
  private readonly limits?: Partial<FrameLimits>;

  /** `model`: an engine Model (wrapped with cloudModelFrom) or any CloudModel. */
  constructor(model: EngineModel | CloudModel, opts: { limits?: Partial<FrameLimits> } = {}) {
    this.model = isCloudModel(model) ? model : cloudModelFrom(model);
    this.limits = opts.limits;
  }

  async infer(frame: Uint8Array, opts: InferOptions = {}): Promise<CloudAnswer> {
    const m = this.model;
    return withDeadline(async (signal) => {
      // Same checks, same order and same codes as the server (docs/TRANSPORT.md), so local runs fail like remote ones.
      let f;
      try { f = decodeFrame(frame, this.limits); } catch (e) {
        if (e instanceof FrameError) throw reject(e.code === 'TOO_LARGE' ? 413 : 400, e.code, e.message);
        throw e;
      }
      if (toHex(f.digest) !== toHex(m.digest)) throw reject(409, 'DIGEST_MISMATCH', `frame is for model ${toHex(f.digest)}, the local cloud runs ${m.name} (${toHex(m.digest)})`);
      const k = f.splitLayer;
      if (k < 1 || k >= m.numLayers) throw reject(422, 'BAD_SPLIT', `split layer ${k} is not in 1..${m.numLayers - 1}`);
      const want = m.inputShapeAfter(k);
      if (want && (want.length !== f.tensor.shape.length || want.some((d, i) => d !== f.tensor.shape[i]))) {
        throw reject(422, 'SHAPE_MISMATCH', `activation after layer ${k} must be ${JSON.stringify(want)}, got ${JSON.stringify(f.tensor.shape)}`);
      }
      const data = decode(f.tensor);
      for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) throw reject(422, 'NON_FINITE', `activation element ${i} is ${data[i]}`);
      let out;
      try {
        out = await m.finish(k, { shape: f.tensor.shape.slice(), data }, signal);
      } catch (e) {
        const err = e as Error & { code?: unknown };
        if (typeof err?.code === 'string') throw reject(422, err.code, err.message);
        throw new CloudError('MODEL_ERROR', 500, `model failed: ${err?.message ?? String(e)}`, { retryable: false, fatal: false });
      }
      const text = encodeResponse({ label: out.label, probs: out.probs, confidence: out.confidence, layersRun: m.numLayers - k, requestId: f.requestId });
      try {
        return decodeResponse(text, { numClasses: opts.numClasses, requestId: opts.requestId ?? f.requestId });
      } catch (e) {
        if (e instanceof FrameError) throw new CloudError('MODEL_ERROR', 500, e.message, { retryable: false, fatal: false });
        throw e;
      }
    }, opts.timeoutMs, opts.signal);
  }

  async health(): Promise<CloudHealth> {
    return { ok: true, model: this.model.name, digest: toHex(this.model.digest), numLayers: this.model.numLayers };
  }
}
