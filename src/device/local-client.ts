// The cloud half in-process (`splitee run --cloud local`, the embedded default): the frame is still encoded, then
// accepted by the very chain the server runs (src/cloud/handler.ts: same checks, same order, same codes), and the
// answer goes through its JSON text, so the bytes and the quantization error are the real ones; only the network
// is missing.
import { FrameError, decodeResponse, encodeResponse, toHex, type CloudAnswer, type FrameLimits } from '../transport/frame.js';
import { cloudModelFrom, type EngineModel } from '../cloud/cloud-model.js';
import { CloudRejection, checkCloudModel, handleFrame, type CloudModel } from '../cloud/handler.js';
import { CloudError, withDeadline, type CloudClient, type CloudHealth, type InferOptions } from './cloud.js';

function isCloudModel(m: EngineModel | CloudModel): m is CloudModel {
  return typeof (m as CloudModel).inputShapeAfter === 'function';
}

export class LocalCloudClient implements CloudClient {
  readonly target = 'local';
  readonly model: CloudModel;
  private readonly limits?: Partial<FrameLimits>;
  private readonly maxAbsActivation?: number;

  /** `model`: an engine Model (wrapped with cloudModelFrom) or any CloudModel. */
  constructor(model: EngineModel | CloudModel, opts: { limits?: Partial<FrameLimits>; maxAbsActivation?: number } = {}) {
    this.model = isCloudModel(model) ? model : cloudModelFrom(model);
    checkCloudModel(this.model);
    this.limits = opts.limits;
    this.maxAbsActivation = opts.maxAbsActivation;
  }

  async infer(frame: Uint8Array, opts: InferOptions = {}): Promise<CloudAnswer> {
    return withDeadline(async (signal) => {
      let answer: CloudAnswer;
      try {
        answer = await handleFrame(this.model, frame, { limits: this.limits, maxAbsActivation: this.maxAbsActivation, signal });
      } catch (e) {
        // In process, trying again cannot change the answer: nothing here is retryable (409 stays fatal).
        if (e instanceof CloudRejection) throw new CloudError(e.code, e.status, e.message, { retryable: false, ...(e.status >= 500 ? { fatal: false } : {}) });
        throw e;
      }
      try {
        return decodeResponse(encodeResponse(answer), { numClasses: opts.numClasses, requestId: opts.requestId ?? answer.requestId });
      } catch (e) {
        if (e instanceof FrameError) throw new CloudError('BAD_RESPONSE', 200, e.message, { retryable: false, fatal: false });
        throw e;
      }
    }, opts.timeoutMs, opts.signal);
  }

  async health(): Promise<CloudHealth> {
    return { ok: true, model: this.model.name, digest: toHex(this.model.digest), numLayers: this.model.numLayers };
  }
}
