// The KServe v2 / Open Inference Protocol (the HTTP/REST API of KServe and Triton) over the cloud half: one model
// per split point k, named `<model>.tail-<k>`, whose input is the activation after layer k, either quantized
// (UINT8 or INT8 tensor `activation` + FP32 `scale` + `zero_point`, dequantized as (q − zero_point) × scale like
// ONNX DequantizeLinear) or plain (FP32 / FP16 `activation`). JSON tensors and the binary tensor extension
// (Inference-Header-Content-Length) both work, in requests and answers. After parsing, the tensor goes through the
// same checks and the same model call as /v1/infer (./handler.ts), so the answers are identical.
// No Node imports: the server passes requests in through the small V2Request shape.
import { decode, type Encoded } from '../transport/codec.js';
import { fromHex, newRequestId, toHex, type CloudAnswer, type FrameLimits } from '../transport/frame.js';
import { CloudRejection, checkActivation, runChecked, sameBytes, type CloudModel } from './handler.js';

export const V2_PREFIX = '/v2';
export const V2_SERVER_NAME = 'splitee';
/** The model version every tail answers to (the model file's digest pins the weights). */
export const V2_MODEL_VERSION = '1';

export interface V2Reply {
  status: number;
  body: string | Uint8Array | object;
  headers: Record<string, string>;
}

/** What v2 needs of an HTTP request (node's IncomingMessage fits). */
export interface V2Request {
  method?: string;
  headers: Record<string, string | string[] | undefined>;
}

export interface V2Context<Req extends V2Request, Res, Log> {
  model: CloudModel;
  limits: FrameLimits;
  maxAbsActivation?: number;
  ready(): boolean;
  /** Reads the body, then runs the accepted work in an inference slot under the request's deadline. */
  infer(req: Req, res: Res, expectContinue: boolean, entry: Log,
    accept: (body: Uint8Array) => (signal: AbortSignal) => Promise<V2Reply>): Promise<V2Reply>;
}

/** Name of the tail model that runs layers k+1..L. */
export function tailModelName(modelName: string, k: number): string {
  return `${modelName}.tail-${k}`;
}

type Datatype = 'UINT8' | 'INT8' | 'FP32' | 'FP16';
const BYTES_PER: Record<Datatype, number> = { UINT8: 1, INT8: 1, FP32: 4, FP16: 2 };

interface TensorIn {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Raw little-endian bytes (binary extension, or JSON data converted). */
  bytes: Uint8Array;
}

const bad = (message: string, code = 'BAD_REQUEST', status = 400) => new CloudRejection(status, code, message);

function json(status: number, body: object, headers: Record<string, string> = {}): V2Reply {
  return { status, body, headers };
}

/** k of `<model>.tail-<k>` for this model, or a 404. */
function tailOf(model: CloudModel, name: string): number {
  const prefix = `${model.name}.tail-`;
  const k = name.startsWith(prefix) && /^[1-9]\d{0,4}$/.test(name.slice(prefix.length)) ? Number(name.slice(prefix.length)) : NaN;
  if (!(k >= 1 && k < model.numLayers)) {
    throw new CloudRejection(404, 'MODEL_NOT_FOUND', `no model '${name}': this server has ${tailModelName(model.name, 1)} .. ${tailModelName(model.name, model.numLayers - 1)}`);
  }
  return k;
}

function tailMetadata(model: CloudModel, k: number): object {
  const shape = model.inputShapeAfter(k) ?? [-1, -1];
  return {
    name: tailModelName(model.name, k),
    versions: [V2_MODEL_VERSION],
    platform: 'splitee',
    parameters: { digest: toHex(model.digest), split_layer: k, num_layers: model.numLayers },
    inputs: [
      { name: 'activation', datatype: 'UINT8', shape },
      { name: 'scale', datatype: 'FP32', shape: [1] },
      { name: 'zero_point', datatype: 'UINT8', shape: [1] },
    ],
    outputs: [
      { name: 'probs', datatype: 'FP32', shape: [-1] },
      { name: 'label', datatype: 'INT64', shape: [1] },
      { name: 'confidence', datatype: 'FP32', shape: [1] },
    ],
  };
}

/** Flattens JSON `data` (flat or nested, row-major) into numbers, checking the count. */
function flatData(t: { name: string; data?: unknown }, count: number): number[] {
  const out: number[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth > 9) throw bad(`input '${t.name}': data nested too deeply`);
    if (Array.isArray(v)) { for (const x of v) { walk(x, depth + 1); if (out.length > count) throw bad(`input '${t.name}': more than ${count} values`); } return; }
    if (typeof v !== 'number') throw bad(`input '${t.name}': data must hold numbers`);
    out.push(v);
  };
  walk(t.data, 0);
  if (out.length !== count) throw bad(`input '${t.name}': ${out.length} values, its shape needs ${count}`);
  return out;
}

function jsonToBytes(name: string, datatype: Datatype, values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * BYTES_PER[datatype]);
  const dv = new DataView(bytes.buffer);
  values.forEach((v, i) => {
    switch (datatype) {
      case 'UINT8': if (!Number.isInteger(v) || v < 0 || v > 255) throw bad(`input '${name}': ${v} is not a UINT8`); bytes[i] = v; break;
      case 'INT8': if (!Number.isInteger(v) || v < -128 || v > 127) throw bad(`input '${name}': ${v} is not an INT8`); dv.setInt8(i, v); break;
      case 'FP32': dv.setFloat32(4 * i, v, true); break;
      // FP16 in JSON is sent as its value; stored as float32 bits and converted below.
      case 'FP16': throw bad(`input '${name}': FP16 data must use the binary tensor extension`);
    }
  });
  return bytes;
}

/** The inference request's header JSON and its inputs with their bytes (binary extension or JSON data). */
function parseInferRequest(body: Uint8Array, headerLength: number | null, limits: FrameLimits): { id?: string; parameters: Record<string, unknown>; inputs: TensorIn[]; outputs: { name: string; binary: boolean }[]; binaryOut: boolean } {
  const jsonBytes = headerLength === null ? body : body.subarray(0, headerLength);
  let req: unknown;
  try { req = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes)); } catch { throw bad('the inference request is not JSON'); }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) throw bad('the inference request must be a JSON object');
  const r = req as Record<string, unknown>;
  if (r.id !== undefined && typeof r.id !== 'string') throw bad("'id' must be a string");
  const parameters = (r.parameters ?? {}) as Record<string, unknown>;
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) throw bad("'parameters' must be an object");
  if (!Array.isArray(r.inputs) || r.inputs.length < 1 || r.inputs.length > 8) throw bad("'inputs' must be a non-empty array");
  let offset = headerLength ?? body.length;
  const inputs: TensorIn[] = [];
  for (const x of r.inputs as unknown[]) {
    const t = x as { name?: unknown; datatype?: unknown; shape?: unknown; data?: unknown; parameters?: Record<string, unknown> };
    if (typeof t !== 'object' || t === null || typeof t.name !== 'string') throw bad('every input needs a name');
    const name = t.name;
    if (inputs.some((i) => i.name === name)) throw bad(`input '${name}' given twice`);
    if (!(typeof t.datatype === 'string' && t.datatype in BYTES_PER)) throw bad(`input '${name}': datatype must be UINT8, INT8, FP32 or FP16`, 'BAD_DTYPE');
    const datatype = t.datatype as Datatype;
    if (!Array.isArray(t.shape) || t.shape.length < 1 || t.shape.length > 8 || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw bad(`input '${name}': shape must be 1..8 positive integers`, 'BAD_SHAPE');
    }
    const shape = t.shape as number[];
    let count = 1;
    for (const d of shape) { count *= d; if (count > limits.maxElements) throw bad(`input '${name}' has more than ${limits.maxElements} elements`, 'TOO_LARGE', 413); }
    const size = t.parameters?.binary_data_size;
    let bytes: Uint8Array;
    if (size !== undefined) {
      if (headerLength === null) throw bad(`input '${name}': binary_data_size without the Inference-Header-Content-Length header`);
      if (!Number.isSafeInteger(size) || (size as number) !== count * BYTES_PER[datatype]) throw bad(`input '${name}': binary_data_size ${String(size)}, ${datatype} × ${JSON.stringify(shape)} needs ${count * BYTES_PER[datatype]}`, 'BAD_LENGTH');
      if (offset + (size as number) > body.length) throw bad(`input '${name}': the body ends inside its binary data`, 'TRUNCATED');
      bytes = body.subarray(offset, offset + (size as number));
      offset += size as number;
    } else {
      if (t.data === undefined) throw bad(`input '${name}': no data and no binary_data_size`);
      bytes = jsonToBytes(name, datatype, flatData({ name, data: t.data }, count));
    }
    inputs.push({ name, datatype, shape, bytes });
  }
  if (offset !== body.length) throw bad(`${body.length - offset} bytes after the last binary input`, 'TRAILING');
  const outputs: { name: string; binary: boolean }[] = [];
  if (r.outputs !== undefined) {
    if (!Array.isArray(r.outputs)) throw bad("'outputs' must be an array");
    for (const o of r.outputs as { name?: unknown; parameters?: Record<string, unknown> }[]) {
      if (typeof o?.name !== 'string' || !['probs', 'label', 'confidence'].includes(o.name)) throw bad(`unknown output '${String(o?.name)}': probs, label, confidence`);
      outputs.push({ name: o.name, binary: o.parameters?.binary_data === true });
    }
  }
  return { id: r.id as string | undefined, parameters, inputs, outputs, binaryOut: parameters.binary_data_output === true };
}

/** The activation as the engine's float32 tensor: (q − zero_point) × scale through the frame codec's own decode. */
function activationOf(inputs: TensorIn[]): { shape: number[]; data: Float32Array } {
  const get = (n: string) => inputs.find((i) => i.name === n);
  const act = get('activation');
  if (!act) throw bad("the input 'activation' is missing");
  const extra = inputs.find((i) => !['activation', 'scale', 'zero_point'].includes(i.name));
  if (extra) throw bad(`unknown input '${extra.name}': activation, scale, zero_point`);
  const n = act.shape.reduce((a, b) => a * b, 1);
  if (act.datatype === 'FP32' || act.datatype === 'FP16') {
    if (get('scale') || get('zero_point')) throw bad(`a ${act.datatype} activation takes no scale or zero_point`);
    const enc: Encoded = { dtype: act.datatype === 'FP32' ? 'f32' : 'fp16', shape: act.shape, params: { kind: 'none' }, payload: act.bytes };
    return { shape: act.shape, data: decode(enc) };
  }
  const scaleT = get('scale'), zpT = get('zero_point');
  if (!scaleT || !zpT) throw bad(`a ${act.datatype} activation needs the inputs 'scale' (FP32 [1]) and 'zero_point' (${act.datatype} [1])`);
  if (scaleT.datatype !== 'FP32' || scaleT.bytes.length !== 4) throw bad("'scale' must be one FP32 value");
  if (zpT.datatype !== act.datatype || zpT.bytes.length !== 1) throw bad(`'zero_point' must be one ${act.datatype} value`);
  const scale = new DataView(scaleT.bytes.buffer, scaleT.bytes.byteOffset, 4).getFloat32(0, true);
  if (!(Number.isFinite(scale) && scale > 0)) throw bad(`scale ${scale} must be finite and positive`, 'BAD_PARAMS');
  // INT8 (−128..127) is UINT8 shifted by 128 on both q and the zero point: the same (q − zp) × scale.
  const shift = act.datatype === 'INT8' ? 128 : 0;
  const payload = shift ? act.bytes.map((b) => (b ^ 0x80)) : act.bytes;
  const zeroPoint = (zpT.bytes[0] ^ shift) & 0xff;
  const enc: Encoded = { dtype: 'int8', shape: act.shape, params: { kind: 'affine', scale, zeroPoint }, payload };
  if (payload.length !== n) throw bad('activation data has the wrong size', 'BAD_LENGTH');
  return { shape: act.shape, data: decode(enc) };
}

/** The v2 answer for `a`: JSON tensors, or the binary extension for the outputs that asked for it. */
function inferReply(modelName: string, id: string, a: CloudAnswer, outputs: { name: string; binary: boolean }[], binaryAll: boolean): V2Reply {
  const wanted = outputs.length ? outputs : ['probs', 'label', 'confidence'].map((name) => ({ name, binary: binaryAll }));
  const blobs: Uint8Array[] = [];
  const outs = wanted.map(({ name, binary }) => {
    let datatype: string, shape: number[], values: number[], bytes: Uint8Array;
    if (name === 'probs') {
      datatype = 'FP32'; shape = [a.probs.length]; values = Array.from(a.probs);
      bytes = new Uint8Array(Float32Array.from(a.probs).buffer);
    } else if (name === 'label') {
      datatype = 'INT64'; shape = [1]; values = [a.label];
      bytes = new Uint8Array(new BigInt64Array([BigInt(a.label)]).buffer);
    } else {
      datatype = 'FP32'; shape = [1]; values = [a.confidence];
      bytes = new Uint8Array(Float32Array.of(a.confidence).buffer);
    }
    if (binary || binaryAll) { blobs.push(bytes); return { name, datatype, shape, parameters: { binary_data_size: bytes.length } }; }
    return { name, datatype, shape, data: values };
  });
  const head = { model_name: modelName, model_version: V2_MODEL_VERSION, id, parameters: { layers_run: a.layersRun, request_id: a.requestId }, outputs: outs };
  if (!blobs.length) return json(200, head);
  const headBytes = new TextEncoder().encode(JSON.stringify(head));
  const total = headBytes.length + blobs.reduce((s, b) => s + b.length, 0);
  const body = new Uint8Array(total);
  body.set(headBytes, 0);
  let o = headBytes.length;
  for (const b of blobs) { body.set(b, o); o += b.length; }
  return { status: 200, body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headBytes.length) } };
}

function header(req: V2Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Serves one request under /v2. Throws CloudRejection for errors (the server writes them as
 * {"error": message, "code": CODE}, the protocol's error object plus our code).
 */
export async function handleV2<Req extends V2Request, Res, Log>(req: Req, path: string, entry: Log & { requestId?: string; splitLayer?: number },
  ctx: V2Context<Req, Res, Log>, expectContinue: boolean, res: Res): Promise<V2Reply> {
  const { model } = ctx;
  const method = req.method ?? '';
  const parts = path.split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch { return p; } });
  const only = (...methods: string[]) => {
    if (!methods.includes(method)) throw new CloudRejection(405, 'METHOD_NOT_ALLOWED', `${method} ${path}`, { Allow: methods.join(', ') });
  };
  // parts[0] === 'v2'
  if (parts.length === 1) {
    only('GET', 'HEAD');
    return json(200, { name: V2_SERVER_NAME, version: V2_MODEL_VERSION, extensions: ['binary_tensor_data'] });
  }
  if (parts[1] === 'health' && parts.length === 3 && (parts[2] === 'live' || parts[2] === 'ready')) {
    only('GET', 'HEAD');
    // The protocol: 200 means true, a 4xx false.
    if (parts[2] === 'live') return json(200, { live: true });
    return ctx.ready() ? json(200, { ready: true }) : json(400, { ready: false, error: 'draining' });
  }
  if (parts[1] !== 'models' || parts.length < 3) throw new CloudRejection(404, 'NOT_FOUND', `no route ${path}`);
  const name = parts[2];
  const k = tailOf(model, name);
  let rest = parts.slice(3);
  if (rest[0] === 'versions') {
    if (rest[1] !== V2_MODEL_VERSION) throw new CloudRejection(404, 'MODEL_NOT_FOUND', `model '${name}' has only version ${V2_MODEL_VERSION}`);
    rest = rest.slice(2);
  }
  if (rest.length === 0) { only('GET', 'HEAD'); return json(200, tailMetadata(model, k)); }
  if (rest.length === 1 && rest[0] === 'ready') {
    only('GET', 'HEAD');
    return ctx.ready() ? json(200, { name, ready: true }) : json(400, { name, ready: false, error: 'draining' });
  }
  if (rest.length === 1 && rest[0] === 'config') { only('GET', 'HEAD'); return json(200, { name, max_batch_size: 0 }); }
  if (rest.length !== 1 || rest[0] !== 'infer') throw new CloudRejection(404, 'NOT_FOUND', `no route ${path}`);
  only('POST');
  if (!ctx.ready()) throw new CloudRejection(503, 'SHUTTING_DOWN', 'server is shutting down');
  const hl = header(req, 'inference-header-content-length');
  let headerLength: number | null = null;
  if (hl !== undefined) {
    if (!/^\d{1,9}$/.test(hl.trim())) throw bad('Inference-Header-Content-Length must be a byte count');
    headerLength = Number(hl);
  }
  entry.splitLayer = k;
  return ctx.infer(req, res, expectContinue, entry, (body) => {
    if (headerLength !== null && headerLength > body.length) throw bad(`Inference-Header-Content-Length ${headerLength} is past the body's ${body.length} bytes`, 'TRUNCATED');
    const r = parseInferRequest(body, headerLength, ctx.limits);
    const digest = r.parameters.splitee_digest;
    if (digest !== undefined) {
      const d = typeof digest === 'string' ? fromHex(digest) : null;
      if (!d || d.length !== 32) throw bad("parameter 'splitee_digest' must be 64 hex characters");
      if (!sameBytes(d, model.digest)) throw new CloudRejection(409, 'DIGEST_MISMATCH', `request is for model ${digest}, this cloud runs ${model.name} (${toHex(model.digest)})`);
    }
    const { shape, data } = activationOf(r.inputs);
    checkActivation(model, k, shape, data, ctx.maxAbsActivation);
    const requestId = newRequestId();
    entry.requestId = requestId;
    const id = r.id ?? requestId;
    return async (signal) => inferReply(name, id, await runChecked(model, k, shape, data, requestId, signal), r.outputs, r.binaryOut);
  });
}
