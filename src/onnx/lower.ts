// Lowering a folded ONNX graph onto the .spx op set: a walk from one value to a target value along the nodes that
// lead to the target, matching node patterns onto ops (Conv+BatchNorm+activation → conv2d, MatMul+Add → linear,
// the decomposed LayerNorm, GELU's erf form, self-attention, residual branches → save/add …). Anything outside the
// op set is refused with the node that needs it.
import type { Activation, Op } from '../format/types.js';
import { matchAttention, biasVector } from './attention.js';
import { OnnxImportError } from './errors.js';
import { moveArr } from './fold.js';
import { attr, attrFloat, attrInt, attrInts, attrString, where, type GNode, type Graph } from './graph.js';
import { numel, type Const } from './tensor.js';

export interface WalkResult {
  ops: Op[];
  /**
   * boundaries[i]: the values x is after ops[0..i) at the top level (several when nodes that change no data, such
   * as a Reshape that only drops unit dims, follow each other), or null inside a save…add block.
   */
  boundaries: (string[] | null)[];
  /** The .spx activation shape at each boundary. */
  shapes: number[][];
}

/** Ops the engine would need for nodes the importer refuses today, with their semantics (for the error text). */
export const NEEDS: Record<string, string> = {
  Mul: 'a multiply by a constant or by a branch of its input', Sub: 'a subtraction of a constant', Div: 'a division by a constant',
  Pad: 'a zero pad of height and width', Concat: 'a concatenation with a branch of its input', LeakyRelu: 'a leaky relu op', Elu: 'an elu op', Exp: 'an exp op', Sqrt: 'a sqrt op',
  LSTM: 'recurrent layers (not in the op set)', GRU: 'recurrent layers (not in the op set)', RNN: 'recurrent layers (not in the op set)',
  Resize: 'a resize op', Upsample: 'a resize op', ConvTranspose: 'a transposed convolution op',
};

const fail = (n: GNode, msg: string, code: 'UNSUPPORTED_OP' | 'NOT_MULTI_EXIT' | 'DYNAMIC_SHAPE' = 'UNSUPPORTED_OP'): never => {
  throw new OnnxImportError(code, msg, where(n));
};

/** A pad op with only its non-zero sides. */
function padOp(top: number, bottom: number, left: number, right: number): Op {
  const op: { op: 'pad'; top?: number; bottom?: number; left?: number; right?: number } = { op: 'pad' };
  if (top) op.top = top;
  if (bottom) op.bottom = bottom;
  if (left) op.left = left;
  if (right) op.right = right;
  return op;
}
const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const squeezed = (s: number[]) => s.filter((d) => d !== 1);
/** The shortest decimal that is the same float32 (1e-5, not 9.999999747378752e-6: ONNX stores eps as float32). */
export function shortF32(v: number): number {
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}
/** The ONNX axis of the tokens of a sequence value (shape `xs`, .spx shape [T, D]): [1, T, D] → 1, [T, 1, D] → 0. */
function tokenAxis(xs: number[], s: number[]): number {
  if (s.length !== 2 || xs[xs.length - 1] !== s[1]) return -1;
  const lead = xs.slice(0, -1);
  const i = lead.findIndex((d) => d === s[0] && d !== 1);
  if (i >= 0) return lead.every((d, j) => j === i || d === 1) ? i : -1;
  return s[0] === 1 && lead.length ? lead.length - 1 : -1;
}
const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

export class Lowerer {
  readonly tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  readonly used = new Set<GNode>();
  private names = new Set<string>();

  constructor(readonly g: Graph) {}

  /** A tensor name derived from the node, unique in the file. */
  tensor(n: GNode, suffix: string, shape: number[], data: ArrayLike<number>): string {
    const base = (n.name.replace(/^\/+/, '').replace(/[^A-Za-z0-9_.:-]+/g, '.').replace(/^\.+|\.+$/g, '') || `n${n.index}`);
    let name = `${base}.${suffix}`, k = 2;
    while (this.names.has(name)) name = `${base}.${suffix}${k++}`;
    this.names.add(name);
    this.tensors.set(name, { shape, data: Float32Array.from(data) });
    return name;
  }

  /** Nodes (not folded away) that `target` depends on. */
  ancestors(target: string): Set<GNode> {
    const out = new Set<GNode>();
    const todo = [target];
    while (todo.length) {
      const p = this.g.values.get(todo.pop()!)?.producer;
      if (!p || out.has(p) || this.g.folded(p)) continue;
      out.add(p);
      for (const i of p.inputs) if (i !== '' && !this.g.constOf(i)) todo.push(i);
    }
    return out;
  }

  private liveConsumers(x: string, live: Set<GNode>): GNode[] {
    return this.g.consumers(x).filter((c) => live.has(c) && !this.used.has(c) && !this.g.folded(c));
  }

  /** The one node reading `v` (anywhere in the graph), if exactly one does and v is no graph output. */
  private sole(v: string): GNode | undefined {
    if (this.g.outputs.includes(v)) return undefined;
    const cs = this.g.consumers(v).filter((c) => !this.g.folded(c));
    return cs.length === 1 ? cs[0] : undefined;
  }

  /** Walks from `start` (whose .spx shape is `shape`) to `target` through the nodes in `live`. */
  walk(start: string, shape: number[], target: string, live: Set<GNode>, depth = 0): WalkResult {
    if (depth > 64) throw new OnnxImportError('UNSUPPORTED', 'residual blocks nested more than 64 deep');
    const res: WalkResult = { ops: [], boundaries: [[start]], shapes: [shape] };
    let x = start, s = shape;
    const push = (ops: Op[], next: string, nextShape: number[]) => {
      if (ops.length === 0) {
        res.boundaries[res.boundaries.length - 1]?.push(next);
        res.shapes[res.shapes.length - 1] = nextShape;
      } else {
        res.ops.push(...ops);
        for (let i = 1; i < ops.length; i++) { res.boundaries.push(null); res.shapes.push([]); }
        res.boundaries.push([next]);
        res.shapes.push(nextShape);
      }
      x = next; s = nextShape;
    };
    let guard = 0;
    while (x !== target) {
      if (++guard > 100000) throw new OnnxImportError('UNSUPPORTED', 'the graph is too large to walk');
      const cs = this.liveConsumers(x, live);
      if (cs.length === 0) {
        const p = this.g.values.get(target)?.producer;
        throw new OnnxImportError('NOT_MULTI_EXIT', `'${target}' does not depend on '${x}' only through nodes the importer can follow`, p ? where(p) : undefined);
      }
      // GELU's tanh form before residuals: its x + 0.044715·x³ is an Add of x and a branch from x.
      const geluTanh = this.matchGeluTanh(x);
      if (geluTanh) { push([{ op: 'gelu_tanh' }], geluTanh, s); continue; }
      const hardSwish = this.matchHardSwish(x);
      if (hardSwish) { push([{ op: 'hardswish' }], hardSwish, s); continue; }
      // A residual: x feeds an Add directly and, through a branch, its other operand.
      const add = cs.find((c) => c.opType === 'Add' && c.inputs.includes(x) && c.inputs.every((i) => i !== '' && !this.g.constOf(i)) && c.inputs.some((i) => i !== x));
      if (add) {
        const y = add.inputs[0] === x ? add.inputs[1] : add.inputs[0];
        const branchLive = new Set([...this.ancestors(y)].filter((n) => live.has(n)));
        const slot = `r${depth}`;
        const branch = this.walk(x, s, y, branchLive, depth + 1);
        if (!sameShape(branch.shapes[branch.shapes.length - 1], s) || !sameShape(this.g.shapeOf(y)!, this.g.shapeOf(x)!)) {
          fail(add, 'a residual Add whose operands differ in shape (broadcasting is not supported)');
        }
        this.used.add(add);
        push([{ op: 'save', name: slot }, ...branch.ops, { op: 'add', name: slot }], add.outputs[0], s);
        continue;
      }
      const att = matchAttention(this.g, x, live, this.used);
      if (att) {
        for (const n of att.nodes) this.used.add(n);
        const first = [...att.nodes][0];
        const op: Op = {
          op: 'attention', heads: att.heads,
          wqkv: this.tensor(first, 'wqkv', [3 * att.bo.length, att.bo.length], att.wqkv),
          bqkv: this.tensor(first, 'bqkv', [att.bqkv.length], att.bqkv),
          wo: this.tensor(first, 'wo', [att.bo.length, att.bo.length], att.wo),
          bo: this.tensor(first, 'bo', [att.bo.length], att.bo),
        };
        if (att.window > 0) (op as { window?: number }).window = att.window;
        if (att.causal) (op as { causal?: boolean }).causal = true;
        push([op], att.out, s);
        continue;
      }
      const ln = this.matchDecomposedLayerNorm(x, cs);
      if (ln) { push([ln.op], ln.out, s); continue; }
      const gelu = this.matchGelu(x);
      if (gelu) { push([{ op: 'gelu' }], gelu, s); continue; }
      // A concatenation with a branch along channels (DenseNet): x feeds a Concat directly and, through a branch, its
      // other operand.
      const cat = cs.find((c) => c.opType === 'Concat' && c.inputs.length === 2 && c.inputs.includes(x) && c.inputs.every((i) => i !== '' && !this.g.constOf(i)) && c.inputs.some((i) => i !== x));
      if (cat) {
        const xs = this.g.shapeOf(x)!;
        let axis = attrInt(cat, 'axis', 0);
        if (axis < 0) axis += xs.length;
        if (!((s.length === 3 && xs.length === 4 && axis === 1) || (s.length === 1 && axis === xs.length - 1))) {
          fail(cat, `a Concat along axis ${axis} of a [${xs.join(', ')}] tensor: only channels of an image or the features of a vector are supported`);
        }
        const y = cat.inputs[0] === x ? cat.inputs[1] : cat.inputs[0];
        const branchLive = new Set([...this.ancestors(y)].filter((n) => live.has(n)));
        const slot = `c${depth}`;
        const branch = this.walk(x, s, y, branchLive, depth + 1);
        const bs = branch.shapes[branch.shapes.length - 1];
        if (bs.length !== s.length || bs.some((d, i) => i > 0 && d !== s[i])) fail(cat, `a Concat of [${s.join(', ')}] and [${bs.join(', ')}]`);
        this.used.add(cat);
        const op: Op = { op: 'concat', name: slot };
        if (cat.inputs[0] !== x) op.xFirst = true;
        push([{ op: 'save', name: slot }, ...branch.ops, op], cat.outputs[0], [s[0] + bs[0], ...s.slice(1)]);
        continue;
      }
      // A product with a branch: x feeds a Mul directly and, through a branch, its other operand (SiLU x·σ(x),
      // squeeze-and-excitation x·gate(x), gating).
      const prod = cs.find((c) => c.opType === 'Mul' && c.inputs.includes(x) && c.inputs.every((i) => i !== '' && !this.g.constOf(i)) && c.inputs.some((i) => i !== x));
      if (prod) {
        const y = prod.inputs[0] === x ? prod.inputs[1] : prod.inputs[0];
        const branchLive = new Set([...this.ancestors(y)].filter((n) => live.has(n)));
        const slot = `m${depth}`;
        const branch = this.walk(x, s, y, branchLive, depth + 1);
        const bs = branch.shapes[branch.shapes.length - 1];
        const perChannel = bs.length === 1 && ((s.length === 3 && bs[0] === s[0]) || (s.length === 2 && bs[0] === s[1]));
        if (!sameShape(bs, s) && !perChannel) {
          fail(prod, `a product of [${s.join(', ')}] and a branch of shape [${bs.join(', ')}]: only the same shape or a per-channel / per-feature factor is supported`);
        }
        this.used.add(prod);
        push([{ op: 'save', name: slot }, ...branch.ops, { op: 'mul', name: slot }], prod.outputs[0], s);
        continue;
      }
      if (cs.length !== 1) {
        this.refuseGeluTanh(x);
        this.refuseComputedShortcut(x, live);
        fail(cs[0], `'${x}' feeds ${cs.length} nodes (${cs.map((c) => `${c.name} (${c.opType})`).join(', ')}) in a pattern the importer does not recognise`);
      }
      const r = this.single(cs[0], x, s);
      push(r.ops, r.out, r.shape);
    }
    return res;
  }

  // ------------------------------------------------------------------------------------------ one node (+ fusions)
  private single(n: GNode, x: string, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    const outShape = g.shapeOf(n.outputs[0]);
    if (n.domain !== '' && n.domain !== 'ai.onnx') fail(n, `operator domain '${n.domain}' is not supported`);
    if (!outShape && !['LSTM', 'GRU', 'RNN'].includes(n.opType)) {
      fail(n, NEEDS[n.opType] ? `needs ${NEEDS[n.opType]}` : `${n.opType} is not supported by the importer`);
    }
    this.used.add(n);
    const dataInput = n.inputs[0] === x;
    switch (n.opType) {
      case 'Identity': case 'Dropout': case 'Flatten': case 'Reshape': case 'Squeeze': case 'Unsqueeze':
        if (!dataInput) break;
        return this.reshape(n, s, outShape!);
      case 'Transpose': {
        // Only moving unit dims ([1, T, D] ↔ [T, 1, D], batch-first ↔ sequence-first) keeps the data as it is.
        const xs = g.shapeOf(x)!;
        const perm = attrInts(n, 'perm') ?? xs.map((_, i) => xs.length - 1 - i);
        const kept = perm.filter((p) => xs[p] !== 1);
        if (kept.every((p, i) => i === 0 || p > kept[i - 1])) return { ops: [], out: n.outputs[0], shape: s };
        return fail(n, `a Transpose that reorders data (perm [${perm.join(', ')}] of [${xs.join(', ')}]): only moving unit dims is supported outside attention`);
      }
      case 'Conv': return this.conv(n, x, s);
      case 'Pad': return this.pad(n, s);
      case 'Relu': return { ops: [{ op: 'relu' }], out: n.outputs[0], shape: s };
      case 'Clip': {
        const act = this.clipAct(n);
        if (act) return { ops: [{ op: act }], out: n.outputs[0], shape: s };
        return { ops: [this.clipOp(n)], out: n.outputs[0], shape: s };
      }
      case 'Sigmoid': return { ops: [{ op: 'sigmoid' }], out: n.outputs[0], shape: s };
      case 'Tanh': return { ops: [{ op: 'tanh' }], out: n.outputs[0], shape: s };
      case 'HardSwish': return { ops: [{ op: 'hardswish' }], out: n.outputs[0], shape: s };
      case 'HardSigmoid': {
        const alpha = shortF32(attrFloat(n, 'alpha', 0.2)), beta = shortF32(attrFloat(n, 'beta', 0.5));
        return { ops: [{ op: 'hardsigmoid', alpha, beta }], out: n.outputs[0], shape: s };
      }
      case 'MaxPool': case 'AveragePool': return this.pool(n, s, 0);
      case 'GlobalAveragePool':
        if (s.length !== 3) break;
        return { ops: [{ op: 'gap' }], out: n.outputs[0], shape: [s[0]] };
      case 'ReduceMean': {
        const rank = g.shapeOf(x)!.length;
        const axes = (attrInts(n, 'axes') ?? (n.inputs[1] ? Array.from(g.constOf(n.inputs[1])!.data) : [])).map((a) => (a < 0 ? a + rank : a)).sort();
        if (s.length === 3 && rank === 4 && axes.join() === '2,3') return { ops: [{ op: 'gap' }], out: n.outputs[0], shape: [s[0]] };
        if (s.length === 2 && axes.length === 1 && axes[0] === tokenAxis(g.shapeOf(x)!, s)) return { ops: [{ op: 'seqmean' }], out: n.outputs[0], shape: [s[1]] };
        return fail(n, `ReduceMean over axes [${axes.join(', ')}] of a [${g.shapeOf(x)!.join(', ')}] tensor: only the spatial mean of an image or the token mean of a sequence is supported`);
      }
      case 'Gather': {
        const table = g.constOf(n.inputs[0]);
        if (!dataInput && table) return this.embed(n, table, s);
        const idx = g.constOf(n.inputs[1]);
        const xs = g.shapeOf(x)!;
        let axis = attrInt(n, 'axis', 0);
        if (axis < 0) axis += xs.length;
        if (dataInput && idx && idx.data.length === 1 && idx.data[0] === 0 && s.length === 2 && axis === tokenAxis(xs, s)) {
          return { ops: [{ op: 'seqfirst' }], out: n.outputs[0], shape: [s[1]] };
        }
        return fail(n, 'a Gather other than an embedding lookup (constant table, token ids) or the first token of a sequence');
      }
      case 'Slice': {
        const xs = g.shapeOf(x)!;
        if (s.length === 2 && squeezed(outShape!).join() === squeezed([s[1]]).join() && numel(outShape!) === s[1]) {
          // x[:, 0:1]: the first token (a following Squeeze/Reshape is a no-op on the .spx side).
          const probe = new Float64Array(numel(xs)).map((_, i) => i);
          const moved = moveArr(g, n, { shape: xs, data: probe })![0];
          if (moved.data.every((v, i) => v === i)) return { ops: [{ op: 'seqfirst' }], out: n.outputs[0], shape: [s[1]] };
        }
        return fail(n, 'a Slice other than taking the first token of a sequence');
      }
      case 'Gemm': case 'MatMul': return this.linear(n, x, s);
      case 'LayerNormalization': {
        const rank = g.shapeOf(x)!.length;
        const axis = attrInt(n, 'axis', -1);
        if (axis !== -1 && axis !== rank - 1) fail(n, `LayerNormalization over axis ${axis}: only the last axis is supported`);
        const D = s[s.length - 1];
        const gamma = g.constOf(n.inputs[1]), beta = n.inputs[2] ? g.constOf(n.inputs[2]) : undefined;
        const gv = gamma && biasVector(gamma, D);
        const bv = n.inputs[2] ? beta && biasVector(beta, D) : new Float64Array(D);
        if (!gv || !bv) fail(n, 'LayerNormalization with a non-constant or non-per-feature scale or bias');
        if (n.outputs.length > 1 && n.outputs.slice(1).some((o) => o !== '' && g.consumers(o).length)) fail(n, 'LayerNormalization whose mean or inverse deviation outputs are used');
        return { ops: [{ op: 'layernorm', g: this.tensor(n, 'g', [D], gv!), b: this.tensor(n, 'b', [D], bv!), eps: shortF32(attrFloat(n, 'epsilon', 1e-5)) }], out: n.outputs[0], shape: s };
      }
      case 'Add': case 'Sub': case 'Div': case 'Mul': {
        const r = this.constAffine(n, x, s);
        if (r) return r;
        if (n.opType === 'Mul') this.refuseGeluTanh(x);
        return fail(n, `a ${n.opType} by a constant that is neither one value nor one per channel (images) or per feature (sequences, vectors)`);
      }
      case 'BatchNormalization': {
        // Not after a Conv: a per-channel scale and shift of its own (inference statistics).
        const [scale, bias, mean, vr] = [1, 2, 3, 4].map((i) => g.constOf(n.inputs[i]));
        if (!scale || !bias || !mean || !vr) fail(n, 'a BatchNormalization with computed statistics');
        if (n.outputs.slice(1).some((o) => o !== '' && g.consumers(o).length)) fail(n, 'a BatchNormalization in training mode (running statistics are read)');
        const C = scale!.data.length;
        if (g.shapeOf(x)!.length < 2 || g.shapeOf(x)![1] !== C || (s.length === 3 ? s[0] : s[s.length - 1]) !== C) fail(n, 'a BatchNormalization whose channels are not the activation\'s channel axis');
        const eps = attrFloat(n, 'epsilon', 1e-5);
        const w = new Float64Array(C), b = new Float64Array(C);
        for (let c = 0; c < C; c++) {
          w[c] = scale!.data[c] / Math.sqrt(vr!.data[c] + eps);
          b[c] = bias!.data[c] - mean!.data[c] * w[c];
        }
        return this.mergeAffine(n, { w, b }, n.outputs[0], s);
      }
      case 'Softmax': case 'LogSoftmax':
        fail(n, `${n.opType} inside the network (only as the last node of an exit)`);
        break;
      case 'Pow':
        this.refuseGeluTanh(x);
        break;
      case 'Gelu': {
        const approx = attrString(n, 'approximate', 'none');
        if (approx !== 'none' && approx !== 'tanh') fail(n, `GELU with approximate="${approx}"`);
        return { ops: [{ op: approx === 'tanh' ? 'gelu_tanh' : 'gelu' }], out: n.outputs[0], shape: s };
      }
    }
    return fail(n, NEEDS[n.opType] ? `needs ${NEEDS[n.opType]}` : `${n.opType} is not supported here (input '${x}', shape [${(g.shapeOf(x) ?? []).join(', ')}])`);
  }

  /** Reshape-like nodes: a no-op when only unit dims change, `flatten` from an image to a vector, else refused. */
  private reshape(n: GNode, s: number[], outShape: number[]): { ops: Op[]; out: string; shape: number[] } {
    const target = outShape[0] === 1 ? outShape.slice(1) : outShape;
    if (sameShape(squeezed(s), squeezed(target))) {
      // The .spx shape keeps its form; only a token dimension squeezed away matters (T = 1 is not generic).
      return { ops: [], out: n.outputs[0], shape: s };
    }
    if (s.length === 3 && squeezed(target).length <= 1 && numel(target) === numel(s)) return { ops: [{ op: 'flatten' }], out: n.outputs[0], shape: [numel(s)] };
    return fail(n, `reshapes [${s.join(', ')}] to [${target.join(', ')}]: only flattening an image to a vector is supported`);
  }

  /** Clip with any constant bounds; ±FLT_MAX (what exporters write for "no bound") is no bound. */
  private clipOp(n: GNode): Op {
    const { lo, hi } = this.clipBounds(n);
    if (lo === undefined || hi === undefined || Number.isNaN(lo) || Number.isNaN(hi)) fail(n, 'a Clip with computed bounds');
    if (lo! > hi!) fail(n, `a Clip with min ${lo} above max ${hi}`);
    const op: { op: 'clip'; min?: number; max?: number } = { op: 'clip' };
    if (lo! > -3.4e38) op.min = shortF32(lo!);
    if (hi! < 3.4e38) op.max = shortF32(hi!);
    return op;
  }

  private clipBounds(n: GNode): { lo: number | undefined; hi: number | undefined } {
    let lo: number | undefined, hi: number | undefined;
    if (n.inputs.length > 1) {
      lo = n.inputs[1] ? this.g.constOf(n.inputs[1])?.data[0] : -Infinity;
      hi = n.inputs[2] ? this.g.constOf(n.inputs[2])?.data[0] : Infinity;
    } else {
      lo = attr(n, 'min')?.f ?? -3.4028234663852886e38;
      hi = attr(n, 'max')?.f ?? 3.4028234663852886e38;
    }
    return { lo, hi };
  }

  private clipAct(n: GNode): 'relu' | 'relu6' | undefined {
    const { lo, hi } = this.clipBounds(n);
    if (lo === 0 && hi === 6) return 'relu6';
    if (lo === 0 && hi !== undefined && hi >= 3.4e38) return 'relu';
    return undefined;
  }

  /** Relu / Clip(0,6) / GELU right after `v` (its only reader) fused as the op's `act`. */
  private fuseAct(v: string): { act: Activation; out: string } {
    const c = this.sole(v);
    if (c && c.inputs[0] === v) {
      if (c.opType === 'Relu') { this.used.add(c); return { act: 'relu', out: c.outputs[0] }; }
      if (c.opType === 'Clip') {
        const a = this.clipAct(c);
        if (a) { this.used.add(c); return { act: a, out: c.outputs[0] }; }
      }
      if (c.opType === 'Gelu' && attrString(c, 'approximate', 'none') === 'none') { this.used.add(c); return { act: 'gelu', out: c.outputs[0] }; }
    }
    const gl = this.matchGelu(v);
    if (gl) return { act: 'gelu', out: gl };
    return { act: 'none', out: v };
  }

  private spatial(n: GNode, k: number[], asymmetric = false, dilated = false): { stride: number; pad: number; sides?: number[] } {
    const st = attrInts(n, 'strides') ?? [1, 1];
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (!dilated && dil.some((d) => d !== 1)) fail(n, `dilations [${dil.join(', ')}]: the op set has no dilated pooling`);
    if (st[0] !== st[1]) fail(n, `strides [${st.join(', ')}]: only equal strides are supported`);
    const ap = attrString(n, 'auto_pad', 'NOTSET');
    let pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    if (ap === 'SAME_UPPER' || ap === 'SAME_LOWER') {
      const x = this.g.shapeOf(n.inputs[0])!, y = this.g.shapeOf(n.outputs[0])!;
      pads = [0, 1].map((i) => Math.max(0, (y[2 + i] - 1) * st[i] + k[i] - x[2 + i]));
      const total = pads;
      // SAME_UPPER puts the odd extra row / column at the end, SAME_LOWER at the start.
      const lo = total.map((t) => (ap === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
      pads = [lo[0], lo[1], total[0] - lo[0], total[1] - lo[1]];
      if (!asymmetric && new Set(pads).size !== 1) fail(n, `auto_pad ${ap} with asymmetric padding`);
    } else if (ap === 'VALID') pads = [0, 0, 0, 0];
    if (new Set(pads).size !== 1) {
      // A convolution pads with zeros like a pad op before it; a pool's padding is not a plain zero border.
      if (asymmetric && pads.every((p) => p >= 0)) return { stride: st[0], pad: 0, sides: pads };
      fail(n, `pads [${pads.join(', ')}]: only the same padding on every side is supported`);
    }
    return { stride: st[0], pad: pads[0] };
  }

  private conv(n: GNode, x: string, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    if (n.inputs[0] !== x) fail(n, 'a Conv whose weights are computed');
    const w = g.constOf(n.inputs[1]);
    if (!w || w.shape.length !== 4) fail(n, 'a Conv without constant 4-D weights');
    const [OC, ICg, KH0, KW0] = w!.shape;
    const groups = attrInt(n, 'group', 1);
    if (s.length === 1) return this.pooledConv(n, x, s);
    if (ICg * groups !== s[0]) fail(n, 'the weights do not match the input channels', 'UNSUPPORTED_OP');
    // A dilated kernel is the plain kernel (K − 1)·d + 1 wide with zeros between its taps: the same sums, each zero
    // tap adding x·0 = 0 (more multiply-adds, but any dilation runs on the conv2d kernels as they are).
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (dil.length !== 2 || dil.some((d) => !Number.isInteger(d) || d < 1 || d > 64)) fail(n, `dilations [${dil.join(', ')}]`);
    const [DH, DW] = dil;
    const KH = (KH0 - 1) * DH + 1, KW = (KW0 - 1) * DW + 1;
    const sp = this.spatial(n, [KH, KW], this.pendingPad === 0, true);
    const { stride } = sp;
    let { pad } = sp;
    pad += this.pendingPad;
    this.pendingPad = 0;
    let wd = Float64Array.from(w!.data);
    if (DH > 1 || DW > 1) {
      const dense = wd;
      wd = new Float64Array(OC * ICg * KH * KW);
      for (let o = 0; o < OC * ICg; o++) {
        for (let i = 0; i < KH0; i++) for (let j = 0; j < KW0; j++) wd[(o * KH + i * DH) * KW + j * DW] = dense[(o * KH0 + i) * KW0 + j];
      }
    }
    let bd = new Float64Array(OC);
    if (n.inputs[2]) {
      const b = g.constOf(n.inputs[2]);
      if (!b) fail(n, 'a Conv with a computed bias');
      bd = Float64Array.from(b!.data);
    }
    let out = n.outputs[0];
    // BatchNormalization right after: folded into the weights (inference statistics).
    const bn = this.sole(out);
    if (bn && bn.opType === 'BatchNormalization' && bn.inputs[0] === out) {
      const [scale, bias, mean, vr] = [1, 2, 3, 4].map((i) => g.constOf(bn.inputs[i]));
      if (!scale || !bias || !mean || !vr) fail(bn, 'a BatchNormalization with computed statistics');
      if (bn.outputs.slice(1).some((o) => o !== '' && g.consumers(o).length)) fail(bn, 'a BatchNormalization in training mode (running statistics are read)');
      const eps = attrFloat(bn, 'epsilon', 1e-5);
      const inner = ICg * KH * KW;
      for (let c = 0; c < OC; c++) {
        const f = scale!.data[c] / Math.sqrt(vr!.data[c] + eps);
        for (let i = 0; i < inner; i++) wd[c * inner + i] *= f;
        bd[c] = (bd[c] - mean!.data[c]) * f + bias!.data[c];
      }
      this.used.add(bn);
      out = bn.outputs[0];
    }
    // A per-channel constant Add right after a bias-free conv is its bias.
    const { act, out: after } = this.fuseAct(out);
    const shape = g.shapeOf(after)!.slice(1);
    const op: Op = { op: 'conv2d', w: this.tensor(n, 'w', [OC, ICg, KH, KW], wd), b: this.tensor(n, 'b', [OC], bd) };
    if (stride !== 1) op.stride = stride;
    if (pad !== 0) op.pad = pad;
    if (groups !== 1) op.groups = groups;
    if (act !== 'none') op.act = act;
    // pads [top, left, bottom, right] that differ: an explicit pad op first
    const pre = sp.sides ? [padOp(sp.sides[0], sp.sides[2], sp.sides[1], sp.sides[3])] : [];
    return { ops: [...pre, op], out: after, shape };
  }

  private pendingPad = 0;

  /** A 1×1 Conv on a globally pooled map ([1, C, 1, 1], a vector [C] here): a linear layer (squeeze-and-excitation). */
  private pooledConv(n: GNode, x: string, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    const w = g.constOf(n.inputs[1])!;
    const [OC, IC, KH, KW] = w.shape;
    const xs = g.shapeOf(x)!;
    const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    if (xs.length !== 4 || xs[2] !== 1 || xs[3] !== 1 || KH !== 1 || KW !== 1 || attrInt(n, 'group', 1) !== 1 || IC !== s[0] || pads.some((p) => p !== 0)) {
      fail(n, 'a Conv on a vector other than an ungrouped, unpadded 1×1 convolution of a globally pooled map');
    }
    let bd = new Float64Array(OC);
    if (n.inputs[2]) {
      const b = g.constOf(n.inputs[2]);
      if (!b) fail(n, 'a Conv with a computed bias');
      bd = Float64Array.from(b!.data);
    }
    const { act, out } = this.fuseAct(n.outputs[0]);
    const op: Op = { op: 'linear', w: this.tensor(n, 'w', [OC, IC], w.data), b: this.tensor(n, 'b', [OC], bd) };
    if (act !== 'none') op.act = act;
    return { ops: [op], out, shape: [OC] };
  }

  /** A zero Pad of the spatial dims, folded into the Conv or AveragePool right after it. */
  private pad(n: GNode, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    const mode = attrString(n, 'mode', 'constant');
    const pads = n.inputs[1] ? Array.from(g.constOf(n.inputs[1])?.data ?? []) : attrInts(n, 'pads') ?? [];
    const value = n.inputs[2] ? g.constOf(n.inputs[2])?.data[0] : attrFloat(n, 'value', 0);
    const next = this.sole(n.outputs[0]);
    const rank = g.shapeOf(n.inputs[0])!.length;
    const spatialOnly = rank === 4 && pads.length === 8 && [0, 1, 4, 5].every((i) => pads[i] === 0) && new Set([2, 3, 6, 7].map((i) => pads[i])).size === 1;
    const zeroSpatial = rank === 4 && pads.length === 8 && mode === 'constant' && value === 0 && [0, 1, 4, 5].every((i) => pads[i] === 0) && pads.every((p) => p >= 0);
    if (zeroSpatial && !(spatialOnly && next && (next.opType === 'Conv' || next.opType === 'AveragePool'))) {
      // Any other zero padding of height and width (asymmetric, or before another op): a pad op of its own.
      const [top, left, bottom, right] = [pads[2], pads[3], pads[6], pads[7]];
      return { ops: [padOp(top, bottom, left, right)], out: n.outputs[0], shape: [s[0], top + s[1] + bottom, left + s[2] + right] };
    }
    if (mode === 'constant' && value === 0 && spatialOnly && next && (next.opType === 'Conv' || next.opType === 'AveragePool')) {
      const p = pads[2];
      if (next.opType === 'Conv') {
        this.pendingPad = p;
        this.used.add(next);
        return this.conv(next, n.outputs[0], s);
      }
      this.used.add(next);
      return this.pool(next, s, p);
    }
    return fail(n, `needs ${NEEDS.Pad} (a zero padding of height and width right before a Conv or an AveragePool is folded into it)`);
  }

  private pool(n: GNode, s: number[], extraPad: number): { ops: Op[]; out: string; shape: number[] } {
    const k = attrInts(n, 'kernel_shape') ?? [];
    if (k.length !== 2 || k[0] !== k[1]) fail(n, `kernel [${k.join(', ')}]: only square pooling windows are supported`);
    const { stride, pad: p0 } = this.spatial(n, k);
    const pad = p0 + extraPad;
    if (pad > k[0] / 2) fail(n, `padding ${pad} larger than half the window ${k[0]}`);
    const outShape = this.g.shapeOf(n.outputs[0])!.slice(1);
    const floorOut = [1, 2].map((i) => Math.floor((s[i] + 2 * pad - k[0]) / stride) + 1);
    if (floorOut[0] !== outShape[1] || floorOut[1] !== outShape[2]) fail(n, 'ceil_mode changes the output size: only floor rounding is supported');
    const avg = n.opType === 'AveragePool';
    const exclude = avg && p0 > 0 && attrInt(n, 'count_include_pad', 0) !== 1;
    // A zero Pad folded in counts as data, the pool's own padding would not: the two cannot share one divisor.
    if (exclude && extraPad > 0) fail(n, 'an AveragePool that excludes its own padding from the count after an explicit zero Pad');
    const op: { op: 'avgpool2d' | 'maxpool2d'; k: number; stride?: number; pad?: number; excludePad?: boolean } = { op: avg ? 'avgpool2d' : 'maxpool2d', k: k[0] };
    if (stride !== k[0]) op.stride = stride;
    if (pad) op.pad = pad;
    if (exclude) op.excludePad = true;
    return { ops: [op], out: n.outputs[0], shape: outShape };
  }

  private linear(n: GNode, x: string, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    if (n.inputs[0] !== x) fail(n, `${n.opType} with the activation as its right operand`);
    const b = g.constOf(n.inputs[1]);
    if (!b || b.shape.length !== 2) fail(n, `${n.opType} by a computed or non-matrix operand: only products with a constant weight matrix are supported`);
    if (s.length > 2) fail(n, `${n.opType} on a [${s.join(', ')}] activation: flatten it first`);
    const K = s[s.length - 1];
    let N: number, w: Float64Array, bias: Float64Array | undefined;
    if (n.opType === 'Gemm') {
      if (attrInt(n, 'transA', 0)) fail(n, 'Gemm with transA');
      const tb = attrInt(n, 'transB', 0) === 1;
      const alpha = attrFloat(n, 'alpha', 1), beta = attrFloat(n, 'beta', 1);
      N = tb ? b!.shape[0] : b!.shape[1];
      if ((tb ? b!.shape[1] : b!.shape[0]) !== K) fail(n, `Gemm weight [${b!.shape.join(', ')}] on ${K} features`);
      w = new Float64Array(N * K);
      for (let j = 0; j < N; j++) for (let i = 0; i < K; i++) w[j * K + i] = alpha * (tb ? b!.data[j * K + i] : b!.data[i * N + j]);
      if (n.inputs[2]) {
        const c = g.constOf(n.inputs[2]);
        const v = c && biasVector(c, N);
        if (!v) fail(n, 'Gemm with a computed or non-per-output bias');
        bias = v!.map((z) => z * beta);
      }
    } else {
      if (b!.shape[0] !== K) fail(n, `MatMul weight [${b!.shape.join(', ')}] on ${K} features`);
      N = b!.shape[1];
      w = new Float64Array(N * K);
      for (let i = 0; i < K; i++) for (let j = 0; j < N; j++) w[j * K + i] = b!.data[i * N + j];
    }
    let out = n.outputs[0];
    if (!bias) {
      const add = this.sole(out);
      const other = add && add.opType === 'Add' ? add.inputs.find((i) => i !== out) : undefined;
      const c = other !== undefined ? g.constOf(other) : undefined;
      const v = c && biasVector(c, N);
      if (add && v) { bias = v; this.used.add(add); out = add.outputs[0]; }
    }
    const { act, out: after } = this.fuseAct(out);
    const op: Op = { op: 'linear', w: this.tensor(n, 'w', [N, K], w) };
    if (bias) op.b = this.tensor(n, 'b', [N], bias);
    if (act !== 'none') op.act = act;
    return { ops: [op], out: after, shape: [...s.slice(0, -1), N] };
  }

  private embed(n: GNode, table: Const, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    const g = this.g;
    if (table.shape.length !== 2 || attrInt(n, 'axis', 0) !== 0 || s.length !== 1) fail(n, 'an embedding lookup other than rows of a 2-D table by token ids');
    const [V, D] = table.shape;
    const T = s[0];
    let out = n.outputs[0];
    let pos = new Float64Array(T * D);
    const add = this.sole(out);
    if (add && add.opType === 'Add') {
      const other = add.inputs.find((i) => i !== out);
      const c = other !== undefined ? g.constOf(other) : undefined;
      if (c && numel(c.shape) === T * D && c.shape[c.shape.length - 1] === D && squeezed(c.shape.slice(0, -1)).every((d) => d === T)) {
        pos = Float64Array.from(c.data);
        this.used.add(add);
        out = add.outputs[0];
      }
    }
    return { ops: [{ op: 'embed', tok: this.tensor(n, 'tok', [V, D], table.data), pos: this.tensor(n, 'pos', [T, D], pos) }], out, shape: [T, D] };
  }

  /**
   * Two branches from x that meet again in an Add where neither operand is x itself: a residual whose shortcut is
   * computed (ResNet's downsample, a projection shortcut). The op set's `add` takes the saved input unchanged.
   */
  private refuseComputedShortcut(x: string, live: Set<GNode>): void {
    const reach = new Map<GNode, Set<GNode>>();
    for (const c of this.liveConsumers(x, live)) {
      const seen = new Set<GNode>();
      const todo = [c];
      while (todo.length && seen.size < 2000) {
        const n = todo.pop()!;
        if (seen.has(n) || !live.has(n)) continue;
        seen.add(n);
        for (const o of n.outputs) for (const d of this.g.consumers(o)) todo.push(d);
      }
      reach.set(c, seen);
    }
    const firsts = [...reach.keys()];
    for (let i = 0; i < firsts.length; i++) for (let j = i + 1; j < firsts.length; j++) {
      const meet = [...reach.get(firsts[i])!].filter((n) => reach.get(firsts[j])!.has(n) && (n.opType === 'Add' || n.opType === 'Mul')).sort((a, b) => a.index - b.index)[0];
      if (meet?.opType === 'Mul') {
        fail(meet, 'a product of two branches computed from one value, neither of them the value itself: the op set multiplies by a saved value unchanged (x·f(x), as in SiLU or squeeze-and-excitation, is supported)');
      }
      if (meet && !meet.inputs.includes(x)) {
        fail(meet, 'a residual whose shortcut is computed (a downsample or projection shortcut, as in ResNet): the op set adds the saved block input unchanged, so this needs an add that applies a 1×1 convolution (or linear) to the saved tensor');
      }
    }
  }

  /** GELU's tanh approximation (x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2) gets its own refusal: it is easy to mistake. */
  private refuseGeluTanh(v: string): void {
    const seen = new Set<string>([v]);
    let frontier = [v];
    for (let depth = 0; depth < 6 && frontier.length; depth++) {
      const next: string[] = [];
      for (const u of frontier) {
        for (const c of this.g.consumers(u)) {
          if (c.opType === 'Tanh') fail(c, 'an expression around Tanh that is not GELU\'s tanh approximation x·(1 + tanh(√(2/π)(x + 0.044715x³)))/2: a product of two computed values is not in the op set');
          if (!['Mul', 'Add', 'Pow', 'Div'].includes(c.opType)) continue;
          for (const o of c.outputs) if (!seen.has(o)) { seen.add(o); next.push(o); }
        }
      }
      frontier = next;
    }
  }

  // ------------------------------------------------------------------------------------------ multi-node patterns
  /** GELU as exported: x/√2 (or x·(1/√2)) → Erf → +1 → ·x → ·0.5 (any order of the last two products). */
  matchGelu(v: string): string | undefined {
    const g = this.g;
    const cs = g.consumers(v).filter((c) => !this.g.folded(c) && !this.used.has(c));
    const scalar = (n: GNode, other: number) => { const c = g.constOf(n.inputs[other]); return c && c.data.length === 1 ? c.data[0] : undefined; };
    const d = cs.find((c) => (c.opType === 'Div' && c.inputs[0] === v && close(scalar(c, 1) ?? 0, Math.SQRT2, 1e-5))
      || (c.opType === 'Mul' && c.inputs.includes(v) && close(scalar(c, c.inputs[0] === v ? 1 : 0) ?? 0, Math.SQRT1_2, 1e-5)));
    if (!d) return undefined;
    const e = this.sole(d.outputs[0]);
    if (!e || e.opType !== 'Erf') return undefined;
    const a = this.sole(e.outputs[0]);
    if (!a || a.opType !== 'Add' || !close(scalar(a, a.inputs[0] === e.outputs[0] ? 1 : 0) ?? 0, 1)) return undefined;
    const m1 = this.sole(a.outputs[0]);
    if (!m1 || m1.opType !== 'Mul') return undefined;
    const otherOf = (n: GNode, mine: string) => n.inputs[0] === mine ? n.inputs[1] : n.inputs[0];
    const nodes = [d, e, a, m1];
    let out: string;
    const o1 = otherOf(m1, a.outputs[0]);
    if (o1 === v) {
      const m2 = this.sole(m1.outputs[0]);
      if (!m2 || m2.opType !== 'Mul' || !close(scalar(m2, m2.inputs[0] === m1.outputs[0] ? 1 : 0) ?? 0, 0.5)) return undefined;
      nodes.push(m2);
      out = m2.outputs[0];
    } else {
      const h = g.values.get(o1)?.producer;
      if (!h || h.opType !== 'Mul' || !h.inputs.includes(v) || !close(scalar(h, h.inputs[0] === v ? 1 : 0) ?? 0, 0.5) || this.sole(h.outputs[0]) !== m1) return undefined;
      nodes.push(h);
      out = m1.outputs[0];
    }
    const all = new Set(nodes);
    if (cs.some((c) => !all.has(c))) return undefined;
    for (const n of nodes) this.used.add(n);
    return out;
  }

  /**
   * GELU's tanh approximation as exported (x·x·x or Pow(x, 3), · 0.044715, + x, · √(2/π), Tanh, + 1, · x, · 0.5, in any
   * order the exporter picks). Recognised by what it computes, not by its node order: the elementwise nodes between
   * x and each candidate output, with x's every other reader among them and no value leaking out, are evaluated on
   * sample points and compared with the formula.
   */
  matchGeluTanh(v: string): string | undefined {
    const g = this.g;
    const ELEMENTWISE = new Set(['Mul', 'Add', 'Sub', 'Div', 'Pow', 'Tanh']);
    const region: GNode[] = [];
    const inRegion = new Set<string>([v]);
    let frontier = [v];
    for (let depth = 0; depth < 12 && frontier.length && region.length < 16; depth++) {
      const next: string[] = [];
      for (const u of frontier) {
        for (const c of g.consumers(u)) {
          if (g.folded(c) || this.used.has(c) || region.includes(c) || !ELEMENTWISE.has(c.opType)) continue;
          const ok = c.inputs.every((i) => inRegion.has(i) || (g.constOf(i)?.data.length === 1));
          if (!ok) continue;
          region.push(c);
          for (const o of c.outputs) { inRegion.add(o); next.push(o); }
        }
      }
      frontier = next;
    }
    if (!region.some((n) => n.opType === 'Tanh')) return undefined;
    region.sort((a, b) => a.index - b.index);
    const xs = [-4.5, -2, -0.7, -0.1, 0, 0.3, 1, 2.5, 5];
    const want = xs.map((x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))));
    const vReaders = g.consumers(v).filter((c) => !g.folded(c) && !this.used.has(c));
    for (const cand of region) {
      if (cand.opType === 'Tanh') continue;
      const out = cand.outputs[0];
      // The nodes `out` depends on inside the region.
      const need = new Set<GNode>();
      const todo = [out];
      while (todo.length) {
        const p = g.values.get(todo.pop()!)?.producer;
        if (!p || need.has(p) || !region.includes(p)) continue;
        need.add(p);
        for (const i of p.inputs) todo.push(i);
      }
      if (!vReaders.every((c) => need.has(c))) continue;
      const inner = [...need].flatMap((n) => n.outputs).filter((o) => o !== out);
      if (inner.some((o) => g.outputs.includes(o) || g.consumers(o).some((c) => !need.has(c)))) continue;
      const nodes = region.filter((n) => need.has(n));
      const got = xs.map((x) => {
        const val = new Map<string, number>([[v, x]]);
        const read = (i: string) => val.get(i) ?? g.constOf(i)!.data[0];
        for (const n of nodes) {
          const [a, b] = [read(n.inputs[0]), n.inputs[1] !== undefined ? read(n.inputs[1]) : NaN];
          const r = n.opType === 'Mul' ? a * b : n.opType === 'Add' ? a + b : n.opType === 'Sub' ? a - b
            : n.opType === 'Div' ? a / b : n.opType === 'Pow' ? Math.pow(a, b) : Math.tanh(a);
          val.set(n.outputs[0], r);
        }
        return val.get(out)!;
      });
      if (got.every((y, i) => Math.abs(y - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])))) {
        for (const n of nodes) this.used.add(n);
        return out;
      }
    }
    return undefined;
  }

  /**
   * A constant `c` as one value per channel of the activation (`s`, ONNX shape `xs`): the channel axis is 1 for an
   * image ([1, C, H, W], also after a global pool) and the last axis otherwise. Undefined when c broadcasts along any
   * other axis.
   */
  private perChannel(c: { shape: number[]; data: Float64Array }, xs: number[], s: number[]): Float64Array | undefined {
    if (c.data.length === 1) return Float64Array.of(c.data[0]);
    const K = s.length === 3 ? s[0] : s[s.length - 1];
    const axis = xs.length === 4 ? 1 : xs.length - 1;
    if (c.shape.length > xs.length || c.data.length !== K || xs[axis] !== K) return undefined;
    const cs = [...new Array(xs.length - c.shape.length).fill(1), ...c.shape];
    if (!cs.every((d, i) => d === 1 || (i === axis && d === K))) return undefined;
    return Float64Array.from(c.data);
  }

  /** x + c, x − c, c − x, x · c, x / c with c one value or one per channel: an affine op (merged with the ones after it). */
  private constAffine(n: GNode, x: string, s: number[]): { ops: Op[]; out: string; shape: number[] } | undefined {
    const g = this.g;
    const ci = n.inputs[0] === x ? 1 : 0;
    if (n.inputs[1 - ci] !== x || n.inputs.length !== 2) return undefined;
    const c = g.constOf(n.inputs[ci]);
    const v = c && this.perChannel(c, g.shapeOf(x)!, s);
    if (!v) return undefined;
    const one = () => new Float64Array(v.length).fill(1), zero = () => new Float64Array(v.length);
    let ab: { w: Float64Array; b: Float64Array };
    switch (n.opType) {
      case 'Add': ab = { w: one(), b: v }; break;
      case 'Mul': ab = { w: v, b: zero() }; break;
      case 'Sub': ab = ci === 1 ? { w: one(), b: v.map((t) => -t) } : { w: one().fill(-1), b: v }; break;
      default: // Div
        if (ci === 0) return undefined; // c / x is no affine map
        ab = { w: v.map((t) => 1 / t), b: zero() };
    }
    return this.mergeAffine(n, ab, n.outputs[0], s);
  }

  /** An affine op for `first`, merged with the constant scales and shifts that directly follow it. */
  private mergeAffine(first: GNode, ab: { w: Float64Array; b: Float64Array }, out: string, s: number[]): { ops: Op[]; out: string; shape: number[] } {
    let { w, b } = ab;
    for (;;) {
      const nx = this.sole(out);
      if (!nx || !['Add', 'Sub', 'Mul', 'Div'].includes(nx.opType) || nx.inputs.length !== 2 || !nx.inputs.includes(out)) break;
      const ci = nx.inputs[0] === out ? 1 : 0;
      const c = this.g.constOf(nx.inputs[ci]);
      const v = c && this.perChannel(c, this.g.shapeOf(out)!, s);
      if (!v || (nx.opType === 'Div' && ci === 0)) break;
      const K = Math.max(v.length, w.length);
      const at = (a: Float64Array, i: number) => a[a.length === 1 ? 0 : i];
      const w2 = new Float64Array(K), b2 = new Float64Array(K);
      for (let i = 0; i < K; i++) {
        const t = at(v, i), wi = at(w, i), bi = at(b, i);
        if (nx.opType === 'Add') { w2[i] = wi; b2[i] = bi + t; }
        else if (nx.opType === 'Sub') { w2[i] = ci === 1 ? wi : -wi; b2[i] = ci === 1 ? bi - t : t - bi; }
        else { const f = nx.opType === 'Mul' ? t : 1 / t; w2[i] = wi * f; b2[i] = bi * f; }
      }
      w = w2; b = b2;
      this.used.add(nx);
      out = nx.outputs[0];
    }
    const op: { op: 'affine'; w?: string; b?: string } = { op: 'affine' };
    if (w.some((t) => t !== 1)) op.w = this.tensor(first, 'scale', [w.length], w);
    if (b.some((t) => t !== 0) || !op.w) op.b = this.tensor(first, 'shift', [b.length], b);
    return { ops: [op], out, shape: s };
  }

  /** x·HardSigmoid(x) with HardSwish's α = 1/6, β = ½: how opsets before 14 write HardSwish. */
  private matchHardSwish(v: string): string | undefined {
    const cs = this.g.consumers(v).filter((c) => !this.g.folded(c) && !this.used.has(c));
    const hs = cs.find((c) => c.opType === 'HardSigmoid');
    if (!hs || cs.length !== 2) return undefined;
    const m = this.sole(hs.outputs[0]);
    if (!m || m.opType !== 'Mul' || !cs.includes(m) || !m.inputs.includes(v) || !m.inputs.includes(hs.outputs[0])) return undefined;
    if (!close(attrFloat(hs, 'alpha', 0.2), 1 / 6) || attrFloat(hs, 'beta', 0.5) !== 0.5) return undefined;
    this.used.add(hs);
    this.used.add(m);
    return m.outputs[0];
  }

  /** LayerNorm written out: mean, x − mean, its square's mean, + eps, sqrt, divide, · gamma, + beta. */
  private matchDecomposedLayerNorm(x: string, cs: GNode[]): { op: Op; out: string } | undefined {
    const g = this.g;
    const rank = g.shapeOf(x)!.length;
    const lastAxis = (n: GNode) => {
      const axes = attrInts(n, 'axes') ?? (n.inputs[1] ? Array.from(g.constOf(n.inputs[1])?.data ?? []) : []);
      return axes.length === 1 && (axes[0] === -1 || axes[0] === rank - 1) && attrInt(n, 'keepdims', 1) === 1;
    };
    const r1 = cs.find((c) => c.opType === 'ReduceMean' && lastAxis(c));
    if (!r1) return undefined;
    const sub = cs.find((c) => c.opType === 'Sub' && c.inputs[0] === x && c.inputs[1] === r1.outputs[0]);
    if (!sub) return undefined;
    const d = sub.outputs[0];
    const dcs = g.consumers(d).filter((c) => !this.g.folded(c));
    const sq = dcs.find((c) => (c.opType === 'Pow' && g.constOf(c.inputs[1])?.data[0] === 2) || (c.opType === 'Mul' && c.inputs[0] === d && c.inputs[1] === d));
    const div = dcs.find((c) => c.opType === 'Div' && c.inputs[0] === d);
    if (!sq || !div || dcs.length !== 2) return undefined;
    const r2 = this.sole(sq.outputs[0]);
    if (!r2 || r2.opType !== 'ReduceMean' || !lastAxis(r2)) return undefined;
    const ae = this.sole(r2.outputs[0]);
    const epsC = ae && ae.opType === 'Add' ? g.constOf(ae.inputs.find((i) => i !== r2.outputs[0]) ?? '') : undefined;
    if (!ae || !epsC || epsC.data.length !== 1) return undefined;
    const sqrt = this.sole(ae.outputs[0]);
    if (!sqrt || sqrt.opType !== 'Sqrt' || div.inputs[1] !== sqrt.outputs[0]) return undefined;
    const nodes = [r1, sub, sq, r2, ae, sqrt, div];
    const D = g.shapeOf(x)![rank - 1];
    let out = div.outputs[0];
    let gamma: Float64Array = new Float64Array(D).fill(1), beta: Float64Array = new Float64Array(D);
    const mul = this.sole(out);
    const mc = mul && mul.opType === 'Mul' ? g.constOf(mul.inputs.find((i) => i !== out) ?? '') : undefined;
    const mv = mc && biasVector(mc, D);
    if (mul && mv) {
      gamma = mv; nodes.push(mul); out = mul.outputs[0];
      const add = this.sole(out);
      const ac = add && add.opType === 'Add' ? g.constOf(add.inputs.find((i) => i !== out) ?? '') : undefined;
      const av = ac && biasVector(ac, D);
      if (add && av) { beta = av; nodes.push(add); out = add.outputs[0]; }
    }
    for (const n of nodes) this.used.add(n);
    return { op: { op: 'layernorm', g: this.tensor(r1, 'g', [D], gamma), b: this.tensor(r1, 'b', [D], beta), eps: shortF32(epsC.data[0]) }, out };
  }
}
