// The two ONNX Runtime competitors, behind one small interface: onnxruntime-web (its WASM backend, 1 thread, SIMD;
// under Node it runs the same .wasm a browser does, on the main thread) and onnxruntime-node (native CPU execution
// provider, 1 intra-op and 1 inter-op thread). Inputs are built from the session's own input metadata, so a model
// exported with int64 or int32 ids, or float32 images, is fed the same values splitee gets.
import * as ortWeb from 'onnxruntime-web';
import * as ortNode from 'onnxruntime-node';
import type { SpxHeader } from '../src/format/index.js';

export type OrtKind = 'ort-web' | 'ort-node';
export const ORT_KINDS: OrtKind[] = ['ort-web', 'ort-node'];

export interface OrtInputSpec { name: string; type: string; shape: (number | string)[] }

/** One inference session with its input tensor built once, outside any timed loop. */
export interface OrtRunner {
  kind: OrtKind;
  outputNames: readonly string[];
  input: OrtInputSpec;
  /** Runs the session on the prepared input and returns every output's data. */
  run(): Promise<Record<string, Float32Array>>;
  release(): Promise<void>;
}

let webReady = false;
function configureWeb(): void {
  if (webReady) return;
  ortWeb.env.wasm.numThreads = 1; // no worker threads: the single-threaded WASM backend splitee competes with
  ortWeb.env.wasm.proxy = false;
  ortWeb.env.logLevel = 'error';
  webReady = true;
}

export const ortVersions = () => ({
  onnxruntimeWeb: ortWeb.env.versions.web ?? '?',
  onnxruntimeNode: ortNode.env.versions.node ?? '?',
});

/** What layer 1 of `header` takes, as ONNX Runtime wants it: image [1, C, H, W] f32, or ids [1, T]. */
export interface BenchInput {
  image?: Float32Array;
  ids?: Int32Array;
}

type AnySession = ortWeb.InferenceSession | ortNode.InferenceSession;

function inputSpec(session: AnySession): OrtInputSpec {
  const meta = session.inputMetadata[0] as { name: string; isTensor: boolean; type?: string; shape?: (number | string)[] };
  if (session.inputNames.length !== 1) throw new Error(`expected one model input, got ${session.inputNames.join(', ')}`);
  return { name: meta.name, type: meta.type ?? 'float32', shape: meta.shape ?? [] };
}

export async function createOrtRunner(kind: OrtKind, onnx: Uint8Array, header: SpxHeader, input: BenchInput): Promise<OrtRunner> {
  if (kind === 'ort-web') configureWeb();
  const session: AnySession = kind === 'ort-web'
    ? await ortWeb.InferenceSession.create(onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', executionMode: 'sequential' })
    : await ortNode.InferenceSession.create(onnx, {
      executionProviders: ['cpu'], graphOptimizationLevel: 'all', executionMode: 'sequential',
      intraOpNumThreads: 1, interOpNumThreads: 1,
    });
  const spec = inputSpec(session);
  const T = kind === 'ort-web' ? ortWeb.Tensor : ortNode.Tensor;
  let tensor: ortWeb.Tensor | ortNode.Tensor;
  if (header.input.kind === 'image') {
    if (!input.image) throw new Error('image model needs an image input');
    if (spec.type !== 'float32') throw new Error(`image model input '${spec.name}' is ${spec.type}, expected float32`);
    tensor = new T('float32', input.image, [1, ...header.input.shape]);
  } else {
    const ids = input.ids;
    if (!ids) throw new Error('token model needs ids');
    if (spec.type === 'int64') tensor = new T('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]);
    else if (spec.type === 'int32') tensor = new T('int32', Int32Array.from(ids), [1, ids.length]);
    else throw new Error(`token model input '${spec.name}' is ${spec.type}, expected int64 or int32`);
  }
  const feeds = { [spec.name]: tensor } as Record<string, never>;
  return {
    kind,
    outputNames: session.outputNames,
    input: spec,
    async run() {
      const res = await (session as ortNode.InferenceSession).run(feeds);
      const out: Record<string, Float32Array> = {};
      for (const [name, t] of Object.entries(res)) out[name] = t.data as Float32Array;
      return out;
    },
    release: () => session.release(),
  };
}
