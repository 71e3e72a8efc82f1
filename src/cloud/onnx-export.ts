// The cloud half of a split as standard ONNX: for split point k, a model of layers k+1..L and the last exit whose
// input is exactly what a device sends — the quantized activation (UINT8 or INT8 levels, an FP32 scale and a zero
// point, dequantized by a standard DequantizeLinear), or FP32 / FP16 — so that ONNX Runtime, Triton or any v2
// server runs the tail on the frame's bytes. The protobuf is written here (only the ONNX messages a graph of
// initializers and nodes needs); the ops are the .spx op set (docs/FORMAT.md) in opset 17 operators.
// Core module: no Node imports.
import { parseSpx, type SpxModelFile } from '../format/index.js';
import type { Op } from '../format/types.js';

export type TailInput = 'uint8' | 'int8' | 'f32' | 'fp16';
export const TAIL_INPUTS: readonly TailInput[] = ['uint8', 'int8', 'f32', 'fp16'];
export const ONNX_OPSET = 17;

export class OnnxExportError extends Error {
  readonly code: string;
  constructor(code: string, message: string) { super(message); this.name = 'OnnxExportError'; this.code = code; }
}

// ----------------------------------------------------------------------------------------------- protobuf writer

/** Protobuf wire encoding of the few field kinds ONNX uses: varints, 32-bit floats and length-delimited bytes. */
class Pb {
  private parts: Uint8Array[] = [];
  private size = 0;
  private push(b: Uint8Array): void { this.parts.push(b); this.size += b.length; }
  private varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    do { let b = Number(x & 0x7fn); x >>= 7n; if (x) b |= 0x80; out.push(b); } while (x);
    this.push(Uint8Array.from(out));
  }
  private tag(field: number, wire: number): void { this.varint((field << 3) | wire); }
  int(field: number, v: number | bigint): this { this.tag(field, 0); this.varint(v); return this; }
  float(field: number, v: number): this { this.tag(field, 5); const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v, true); this.push(b); return this; }
  bytes(field: number, b: Uint8Array): this { this.tag(field, 2); this.varint(b.length); this.push(b); return this; }
  str(field: number, s: string): this { return this.bytes(field, new TextEncoder().encode(s)); }
  msg(field: number, m: Pb): this { return this.bytes(field, m.finish()); }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

// ONNX enums (onnx.proto3).
const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT64: 7, BOOL: 9, FLOAT16: 10 } as const;
const AT = { FLOAT: 1, INT: 2, INTS: 7 } as const;

type Attr = number | number[] | { f: number };

interface Node { op: string; inputs: string[]; outputs: string[]; attrs: Record<string, Attr>; name: string }
interface Init { name: string; dtype: number; dims: number[]; raw: Uint8Array }
interface ValueInfo { name: string; dtype: number; dims: (number | string)[] }

/** A graph under construction: nodes in topological order, initializers, unique names. */
class Graph {
  nodes: Node[] = [];
  inits: Init[] = [];
  inputs: ValueInfo[] = [];
  outputs: ValueInfo[] = [];
  private n = 0;
  private consts = new Map<string, string>();
  fresh(hint: string): string { return `${hint}_${this.n++}`; }
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string[] {
    const outs = Array.from({ length: outputs }, () => this.fresh(op.toLowerCase()));
    this.nodes.push({ op, inputs, outputs: outs, attrs, name: this.fresh(`n_${op}`) });
    return outs;
  }
  one(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string { return this.node(op, inputs, attrs)[0]; }
  init(name: string, dtype: number, dims: number[], raw: Uint8Array): string { this.inits.push({ name, dtype, dims, raw }); return name; }
  f32(name: string, dims: number[], data: Float32Array): string { return this.init(name, DT.FLOAT, dims, new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength))); }
  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join(',')}:${values.join(',')}`;
    let name = this.consts.get(key);
    if (!name) { name = this.init(this.fresh('const_i64'), DT.INT64, dims, new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer)); this.consts.set(key, name); }
    return name;
  }
  scalar(v: number): string {
    const key = `f32:${Object.is(v, -0) ? '-0' : v}`;
    let name = this.consts.get(key);
    if (!name) { name = this.f32(this.fresh('const_f32'), [], Float32Array.of(v)); this.consts.set(key, name); }
    return name;
  }
}

function attrProto(name: string, v: Attr): Pb {
  const a = new Pb().str(1, name);
  if (Array.isArray(v)) { for (const x of v) a.int(8, x); a.int(20, AT.INTS); }
  else if (typeof v === 'number') a.int(3, v).int(20, AT.INT);
  else a.float(2, v.f).int(20, AT.FLOAT);
  return a;
}

function valueInfo(v: ValueInfo): Pb {
  const shape = new Pb();
  for (const d of v.dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tensorType = new Pb().int(1, v.dtype).msg(2, shape);
  return new Pb().str(1, v.name).msg(2, new Pb().msg(1, tensorType));
}

function serialize(g: Graph, name: string, meta: Record<string, string>): Uint8Array {
  const graph = new Pb();
  for (const n of g.nodes) {
    const node = new Pb();
    for (const i of n.inputs) node.str(1, i);
    for (const o of n.outputs) node.str(2, o);
    node.str(3, n.name).str(4, n.op);
    for (const [k, v] of Object.entries(n.attrs)) node.msg(5, attrProto(k, v));
    graph.msg(1, node);
  }
  graph.str(2, name);
  for (const t of g.inits) {
    const tp = new Pb();
    for (const d of t.dims) tp.int(1, d);
    tp.int(2, t.dtype).str(8, t.name).bytes(9, t.raw);
    graph.msg(5, tp);
  }
  for (const v of g.inputs) graph.msg(11, valueInfo(v));
  for (const v of g.outputs) graph.msg(12, valueInfo(v));
  const model = new Pb().int(1, 8).str(2, 'splitee').str(3, '1').int(5, 1).msg(7, graph).msg(8, new Pb().str(1, '').int(2, ONNX_OPSET));
  for (const [k, v] of Object.entries(meta)) model.msg(14, new Pb().str(1, k).str(2, v));
  return model.finish();
}

// ------------------------------------------------------------------------------------------------------ op lowering

interface Cur {
  name: string;
  /** Image activations carry ONNX's batch dimension ([1, C, H, W], then [1, N] after gap / flatten). */
  batched: boolean;
}

function transpose2d(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
  return t;
}

class Lowering {
  private saved = new Map<string, { cur: Cur; shape: number[] }>();
  private masks = new Map<number, string>();
  constructor(private readonly g: Graph, private readonly file: SpxModelFile) {}

  private weight(name: string): string {
    return this.g.f32(name, this.file.header.tensors[name].shape.slice(), this.file.tensor(name));
  }

  private act(x: string, act: string | undefined): string {
    const g = this.g;
    switch (act ?? 'none') {
      case 'none': return x;
      case 'relu': return g.one('Relu', [x]);
      case 'relu6': return g.one('Clip', [x, g.scalar(0), g.scalar(6)]);
      // The erf form, as the engine computes it (Gelu itself is opset 20).
      case 'gelu': {
        const e = g.one('Erf', [g.one('Mul', [x, g.scalar(Math.SQRT1_2)])]);
        return g.one('Mul', [g.one('Mul', [x, g.scalar(0.5)]), g.one('Add', [e, g.scalar(1)])]);
      }
      case 'sigmoid': return g.one('Sigmoid', [x]);
      case 'tanh': return g.one('Tanh', [x]);
      case 'hardswish': return g.one('HardSwish', [x]);
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), written out as the engine's gelu_tanh computes it.
      case 'gelu_tanh': {
        const inner = g.one('Mul', [g.one('Add', [x, g.one('Mul', [g.one('Mul', [g.one('Mul', [x, x]), x]), g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
        return g.one('Mul', [g.one('Mul', [x, g.scalar(0.5)]), g.one('Add', [g.one('Tanh', [inner]), g.scalar(1)])]);
      }
      default: throw new OnnxExportError('UNSUPPORTED', `activation '${act}'`);
    }
  }

  private linear(x: string, w: string, b: string | undefined, act: string | undefined): string {
    const [n, k] = this.file.header.tensors[w].shape;
    const wt = this.g.f32(`${w}.T`, [k, n], transpose2d(this.file.tensor(w), n, k));
    let y = this.g.one('MatMul', [x, wt]);
    if (b) y = this.g.one('Add', [y, this.weight(b)]);
    return this.act(y, act);
  }

  /** |i − j| > w for a [T, T] score matrix whose T comes from `x`'s first dimension: the keys a window hides. */
  private windowMask(x: string, w: number): string {
    const cached = this.masks.get(w);
    if (cached) return cached;
    const g = this.g;
    const t = g.one('Gather', [g.one('Shape', [x]), g.i64([0], [])], { axis: 0 });
    const idx = g.one('Range', [g.i64([0], []), t, g.i64([1], [])]);
    const diff = g.one('Abs', [g.one('Sub', [g.one('Unsqueeze', [idx, g.i64([1])]), g.one('Unsqueeze', [idx, g.i64([0])])])]);
    const mask = g.one('Greater', [diff, g.i64([w], [])]);
    this.masks.set(w, mask);
    return mask;
  }

  private attention(x: string, op: Extract<Op, { op: 'attention' }>): string {
    const g = this.g;
    const [threeD, d] = this.file.header.tensors[op.wqkv].shape;
    if (threeD !== 3 * d) throw new OnnxExportError('UNSUPPORTED', `attention weights ${op.wqkv} are not [3D, D]`);
    const h = op.heads, dh = d / h;
    const wqkv = this.file.tensor(op.wqkv), bqkv = this.file.tensor(op.bqkv);
    // Three projections instead of one and a split: the same sums, no Split node.
    const proj = (i: number, label: string) => {
      const w = wqkv.subarray(i * d * d, (i + 1) * d * d);
      const wt = g.f32(`${op.wqkv}.${label}.T`, [d, d], transpose2d(w, d, d));
      const y = g.one('Add', [g.one('MatMul', [x, wt]), g.f32(`${op.bqkv}.${label}`, [d], bqkv.slice(i * d, (i + 1) * d))]);
      return g.one('Reshape', [y, g.i64([0, h, dh])]); // [T, H, dh]
    };
    const q = g.one('Transpose', [proj(0, 'q')], { perm: [1, 0, 2] }); // [H, T, dh]
    const k = g.one('Transpose', [proj(1, 'k')], { perm: [1, 2, 0] }); // [H, dh, T]
    const v = g.one('Transpose', [proj(2, 'v')], { perm: [1, 0, 2] }); // [H, T, dh]
    let scores = g.one('Mul', [g.one('MatMul', [q, k]), g.scalar(1 / Math.sqrt(dh))]); // [H, T, T]
    const window = op.window ?? 0;
    if (window > 0) scores = g.one('Where', [this.windowMask(x, window), g.scalar(-Infinity), scores]);
    const p = g.one('Softmax', [scores], { axis: -1 });
    const ctx = g.one('Reshape', [g.one('Transpose', [g.one('MatMul', [p, v])], { perm: [1, 0, 2] }), g.i64([0, d])]); // [T, D]
    return this.linear(ctx, op.wo, op.bo, 'none');
  }

  /**
   * A per-channel ([C] of [C, H, W]) or per-feature vector, reshaped to broadcast against `of` (the engine's shape,
   * without the batch dimension): [C, 1, 1] against an image map, as it is otherwise.
   */
  private broadcastable(v: string, len: number, of: number[]): string {
    return of.length === 3 && len === of[0] && len > 1 ? this.g.one('Reshape', [v, this.g.i64([len, 1, 1])]) : v;
  }

  /** `shape`: the engine's input shape of this op (the reader's inferred shapes), for ops that broadcast. */
  apply(cur: Cur, op: Op, shape: number[]): Cur {
    const g = this.g;
    const x = cur.name;
    const same = (name: string): Cur => ({ name, batched: cur.batched });
    switch (op.op) {
      case 'conv2d': {
        const [, , kh, kw] = this.file.header.tensors[op.w].shape;
        const ins = [x, this.weight(op.w)];
        if (op.b) ins.push(this.weight(op.b));
        const st = op.stride ?? 1, pad = op.pad ?? 0;
        const y = g.one('Conv', ins, { kernel_shape: [kh, kw], strides: [st, st], pads: [pad, pad, pad, pad], group: op.groups ?? 1 });
        return same(this.act(y, op.act));
      }
      case 'maxpool2d': case 'avgpool2d': {
        const st = op.stride ?? op.k, pad = op.pad ?? 0;
        const attrs = { kernel_shape: [op.k, op.k], strides: [st, st], pads: [pad, pad, pad, pad] };
        return same(op.op === 'maxpool2d' ? g.one('MaxPool', [x], attrs) : g.one('AveragePool', [x], { ...attrs, count_include_pad: op.op === 'avgpool2d' && op.excludePad ? 0 : 1 }));
      }
      case 'gap':
        return same(g.one('Flatten', [g.one('GlobalAveragePool', [x])], { axis: 1 }));
      case 'flatten':
        return cur.batched ? same(g.one('Flatten', [x], { axis: 1 })) : same(g.one('Reshape', [x, g.i64([-1])]));
      case 'relu': case 'relu6': case 'gelu': case 'sigmoid': case 'tanh': case 'hardswish': case 'gelu_tanh':
        return same(this.act(x, op.op));
      case 'hardsigmoid':
        return same(g.one('HardSigmoid', [x], { alpha: { f: op.alpha ?? 0.2 }, beta: { f: op.beta ?? 0.5 } }));
      case 'clip':
        return same(g.one('Clip', [x, g.scalar(op.min ?? -Infinity), g.scalar(op.max ?? Infinity)]));
      case 'pad': {
        // Only image maps are padded ([C, H, W], here with the batch dimension in front).
        if (!cur.batched) throw new OnnxExportError('UNSUPPORTED', 'pad of a token sequence');
        const t = op.top ?? 0, b = op.bottom ?? 0, l = op.left ?? 0, r = op.right ?? 0;
        return same(g.one('Pad', [x, g.i64([0, 0, t, l, 0, 0, b, r])]));
      }
      case 'concat': {
        const s = this.saved.get(op.name);
        if (!s) throw new OnnxExportError('BAD_MODEL', `concat '${op.name}' before its save`);
        // Dim 0 of the engine's tensor: channels of [C, H, W] or the features of a vector, after the batch dimension.
        return same(g.one('Concat', op.xFirst ? [x, s.cur.name] : [s.cur.name, x], { axis: cur.batched ? 1 : 0 }));
      }
      case 'linear':
        return same(this.linear(x, op.w, op.b, op.act));
      case 'save':
        this.saved.set(op.name, { cur, shape });
        return cur;
      case 'affine': {
        const k = this.file.header.tensors[(op.w ?? op.b)!].shape[0];
        let y = x;
        if (op.w) y = g.one('Mul', [y, this.broadcastable(this.weight(op.w), k, shape)]);
        if (op.b) y = g.one('Add', [y, this.broadcastable(this.weight(op.b), k, shape)]);
        return same(y);
      }
      case 'mul': {
        const s = this.saved.get(op.name);
        if (!s) throw new OnnxExportError('BAD_MODEL', `mul '${op.name}' before its save`);
        // One side may be the other's per-channel vector; as a batched [1, C] it must become [1, C, 1, 1].
        const size = (d: number[]) => d.reduce((a, b) => a * b, 1);
        const [small, big] = size(shape) <= size(s.shape) ? [{ name: x, shape }, { name: s.cur.name, shape: s.shape }] : [{ name: s.cur.name, shape: s.shape }, { name: x, shape }];
        const gate = big.shape.length === 3 && small.shape.length === 1 && small.shape[0] === big.shape[0] && cur.batched
          ? g.one('Reshape', [small.name, g.i64([1, small.shape[0], 1, 1])]) : small.name;
        return same(g.one('Mul', [big.name, gate]));
      }
      case 'add': {
        const s = this.saved.get(op.name);
        if (!s) throw new OnnxExportError('BAD_MODEL', `add '${op.name}' before its save`);
        return same(g.one('Add', [x, s.cur.name]));
      }
      case 'layernorm':
        return same(g.one('LayerNormalization', [x, this.weight(op.g), this.weight(op.b)], { axis: -1, epsilon: { f: op.eps ?? 1e-5 } }));
      case 'attention':
        // A causal mask has no lowering here yet: refuse it rather than export a tail that attends to the future.
        if (op.causal) throw new OnnxExportError('UNSUPPORTED', 'causal attention has no ONNX lowering for a tail yet');
        return same(this.attention(x, op));
      case 'seqmean':
        return same(g.one('ReduceMean', [x], { axes: [0], keepdims: 0 }));
      case 'seqfirst':
        return same(g.one('Gather', [x, g.i64([0], [])], { axis: 0 }));
      default:
        throw new OnnxExportError('UNSUPPORTED', `op '${(op as Op).op}' has no ONNX lowering for a tail`);
    }
  }
}

// ----------------------------------------------------------------------------------------------------------- tails

export interface ExportedTail {
  /** `<model>.tail-<k>` (and `-int8`, `-f32`, `-fp16` for the other input types). */
  name: string;
  k: number;
  input: TailInput;
  onnx: Uint8Array;
  /** The activation's shape after layer k; a string dimension is variable (T for token models). */
  inputShape: (number | string)[];
  numClasses: number;
}

export function tailName(model: string, k: number, input: TailInput): string {
  return `${model}.tail-${k}${input === 'uint8' ? '' : `-${input}`}`;
}

/**
 * The ONNX model of layers k+1..L and the last exit of a .spx model, taking the activation after layer k.
 * Inputs: `activation` (UINT8 / INT8 levels with `scale` FP32 [1] and `zero_point` [1] of the same type, or FP32 /
 * FP16 alone). Outputs: `probs` FP32 [C] (softmax of the last exit), `label` INT64 [1] (first argmax),
 * `confidence` FP32 [1] (max). `digest` (hex) is written into the model's metadata.
 */
export function exportTail(spx: Uint8Array | SpxModelFile, k: number, input: TailInput = 'uint8', digest?: string): ExportedTail {
  const file = spx instanceof Uint8Array ? parseSpx(spx) : spx;
  const h = file.header;
  const L = h.layers.length;
  if (!Number.isInteger(k) || k < 1 || k >= L) throw new OnnxExportError('BAD_SPLIT', `split layer ${k} is not in 1..${L - 1}`);
  if (!TAIL_INPUTS.includes(input)) throw new OnnxExportError('BAD_INPUT', `input type must be one of ${TAIL_INPUTS.join(', ')}`);
  const tokens = h.input.kind === 'tokens';
  const fixed = file.shapes.layerOutputs[k - 1];
  const inputShape: (number | string)[] = tokens ? ['T', fixed[fixed.length - 1]] : fixed.slice();
  const numClasses = h.classes.length;
  const g = new Graph();
  const quantized = input === 'uint8' || input === 'int8';
  const elem = input === 'uint8' ? DT.UINT8 : input === 'int8' ? DT.INT8 : input === 'fp16' ? DT.FLOAT16 : DT.FLOAT;
  g.inputs.push({ name: 'activation', dtype: elem, dims: inputShape });
  let x: string;
  if (quantized) {
    g.inputs.push({ name: 'scale', dtype: DT.FLOAT, dims: [1] }, { name: 'zero_point', dtype: elem, dims: [1] });
    // Per-tensor DequantizeLinear takes scalars; the protocol's tensors are [1].
    const scalar = g.i64([], [0]);
    x = g.one('DequantizeLinear', ['activation', g.one('Reshape', ['scale', scalar]), g.one('Reshape', ['zero_point', scalar])]);
  } else {
    x = input === 'fp16' ? g.one('Cast', ['activation'], { to: DT.FLOAT }) : 'activation';
  }
  const lower = new Lowering(g, file);
  let cur: Cur = { name: x, batched: !tokens };
  if (cur.batched) cur = { name: g.one('Unsqueeze', [x, g.i64([0])]), batched: true };
  for (let j = k; j < L; j++) h.layers[j].ops.forEach((op, i) => { cur = lower.apply(cur, op, file.shapes.layers[j].ops[i].input); });
  h.exits[L - 1].ops.forEach((op, i) => { cur = lower.apply(cur, op, file.shapes.exits[L - 1].ops[i].input); });
  const logits = cur.batched ? g.one('Reshape', [cur.name, g.i64([-1])]) : cur.name;
  const probs = g.one('Softmax', [logits], { axis: -1 });
  // Name the outputs: a final Identity gives each its public name.
  g.nodes.push({ op: 'Identity', inputs: [probs], outputs: ['probs'], attrs: {}, name: 'out_probs' });
  g.nodes.push({ op: 'ArgMax', inputs: [probs], outputs: ['label'], attrs: { axis: 0, keepdims: 1 }, name: 'out_label' });
  g.nodes.push({ op: 'ReduceMax', inputs: [probs], outputs: ['confidence'], attrs: { axes: [0], keepdims: 1 }, name: 'out_confidence' });
  g.outputs.push({ name: 'probs', dtype: DT.FLOAT, dims: [numClasses] }, { name: 'label', dtype: DT.INT64, dims: [1] }, { name: 'confidence', dtype: DT.FLOAT, dims: [1] });
  const name = tailName(h.name, k, input);
  const meta: Record<string, string> = { split_layer: String(k), num_layers: String(L), input: input };
  if (digest) meta.digest = digest;
  return { name, k, input, onnx: serialize(g, name, meta), inputShape, numClasses };
}

/** Every tail (k = 1..L−1) in each of `inputs`. */
export function exportTails(spx: Uint8Array, inputs: readonly TailInput[] = ['uint8'], digest?: string): ExportedTail[] {
  const file = parseSpx(spx);
  const out: ExportedTail[] = [];
  for (let k = 1; k < file.header.layers.length; k++) for (const input of inputs) out.push(exportTail(file, k, input, digest));
  return out;
}

const TRITON_TYPES: Record<TailInput, string> = { uint8: 'TYPE_UINT8', int8: 'TYPE_INT8', f32: 'TYPE_FP32', fp16: 'TYPE_FP16' };

/** Triton's config.pbtxt for an exported tail (ONNX Runtime backend, no batching: one frame per request). */
export function tritonConfig(t: ExportedTail): string {
  const dims = (shape: (number | string)[]) => `[ ${shape.map((d) => (typeof d === 'number' ? d : -1)).join(', ')} ]`;
  const inputs = [`  { name: "activation" data_type: ${TRITON_TYPES[t.input]} dims: ${dims(t.inputShape)} }`];
  if (t.input === 'uint8' || t.input === 'int8') {
    inputs.push('  { name: "scale" data_type: TYPE_FP32 dims: [ 1 ] }', `  { name: "zero_point" data_type: ${TRITON_TYPES[t.input]} dims: [ 1 ] }`);
  }
  return [
    `name: "${t.name}"`,
    'platform: "onnxruntime_onnx"',
    'max_batch_size: 0',
    `input [\n${inputs.join(',\n')}\n]`,
    'output [',
    `  { name: "probs" data_type: TYPE_FP32 dims: [ ${t.numClasses} ] },`,
    '  { name: "label" data_type: TYPE_INT64 dims: [ 1 ] },',
    '  { name: "confidence" data_type: TYPE_FP32 dims: [ 1 ] }',
    ']',
    '',
  ].join('\n');
}
