// The cloud half on ONNX Runtime (onnxruntime-node, an optional peer dependency): one session per split point k,
// each running the exported tail (./onnx-export.ts, FP32 input) on the activation the frame decoded to. Same
// CloudModel contract as the engine's cloudModelFrom, so the server, its checks and its codes are unchanged; the
// answers equal the WASM engine's within float rounding (tested to 1e-4).
import { parseSpx } from '../format/index.js';
import { toHex } from '../transport/frame.js';
import { exportTail } from './onnx-export.js';
import type { CloudModel } from './handler.js';

export class OnnxRuntimeMissingError extends Error {
  readonly code = 'ONNXRUNTIME_MISSING';
  constructor(cause: unknown) {
    super(`--engine onnxruntime needs the optional package onnxruntime-node (npm install onnxruntime-node): ${(cause as Error)?.message ?? cause}`);
    this.name = 'OnnxRuntimeMissingError';
  }
}

type Ort = typeof import('onnxruntime-node');

/**
 * A CloudModel whose tails run on onnxruntime-node. `digest` is the SHA-256 of `spx` (the server checks frames
 * against it); sessions are created for every split point up front, so the first request does not pay for them.
 */
export async function onnxRuntimeCloudModel(spx: Uint8Array, digest: Uint8Array, opts: { threads?: number } = {}): Promise<CloudModel & { dispose(): Promise<void> }> {
  let ort: Ort;
  try { ort = await import('onnxruntime-node'); } catch (e) { throw new OnnxRuntimeMissingError(e); }
  const file = parseSpx(spx);
  const h = file.header;
  const L = h.layers.length;
  const tokens = h.input.kind === 'tokens';
  const sessions: import('onnxruntime-node').InferenceSession[] = [];
  for (let k = 1; k < L; k++) {
    const tail = exportTail(file, k, 'f32', toHex(digest));
    // ORT's Pad fusion folds an explicit (possibly asymmetric) Pad into the pool after it and then rejects the pool's
    // pads as larger than its kernel: tails with a pad op run unoptimized (they are the rare imported models).
    const hasPad = [...h.layers.slice(k), h.exits[L - 1]].some((b) => b.ops.some((o) => o.op === 'pad'));
    sessions[k] = await ort.InferenceSession.create(tail.onnx, {
      executionProviders: ['cpu'], graphOptimizationLevel: hasPad ? 'disabled' : 'all', executionMode: 'sequential',
      intraOpNumThreads: opts.threads ?? 1, interOpNumThreads: 1,
    });
  }
  const fixed = file.shapes.layerOutputs.map((s) => s.slice());
  return {
    name: h.name,
    digest,
    numLayers: L,
    inputShapeAfter: (k) => (tokens || !Number.isInteger(k) || k < 1 || k > L ? null : fixed[k - 1].slice()),
    async finish(k, activation, signal) {
      if (signal?.aborted) throw Object.assign(new Error('request was aborted before the model started'), { code: 'BAD_INPUT' });
      const s = sessions[k];
      if (!s) throw Object.assign(new Error(`split layer ${k} is outside 1..${L - 1}`), { code: 'BAD_RANGE' });
      if (tokens) {
        const [t, d] = activation.shape;
        const want = fixed[k - 1];
        if (activation.shape.length !== 2 || d !== want[1] || !(t >= 1 && t <= want[0])) {
          throw Object.assign(new Error(`activation after layer ${k} must be [T ≤ ${want[0]}, ${want[1]}], got ${JSON.stringify(activation.shape)}`), { code: 'BAD_ACTIVATION' });
        }
      }
      const out = await s.run({ activation: new ort.Tensor('float32', activation.data, activation.shape) });
      const probs = Float32Array.from(out.probs.data as Float32Array);
      return { probs, label: Number((out.label.data as BigInt64Array)[0]), confidence: (out.confidence.data as Float32Array)[0] };
    },
    async dispose() { for (const s of sessions) if (s) await s.release(); },
  };
}
