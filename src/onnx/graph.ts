// The importer's view of an ONNX graph: nodes in topological order, every value with its static shape (batch 1,
// the sequence length pinned), constants (initializers, Constant nodes, and everything folded from them).
import { OnnxImportError } from './errors.js';
import type { OnnxAttribute, OnnxModel, OnnxNode } from './onnx-proto.js';
import { tensorFromProto, type Const, type DType } from './tensor.js';

export interface GNode {
  index: number;
  /** The node's name, or its first output when the file gives none: what errors print. */
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attrs: Map<string, OnnxAttribute>;
}

export interface GValue {
  name: string;
  shape?: number[];
  dtype?: DType;
  const?: Const;
  producer?: GNode;
  consumers: GNode[];
}

export class Graph {
  readonly nodes: GNode[] = [];
  readonly values = new Map<string, GValue>();
  input!: { name: string; dtype: DType; shape: (number | string | undefined)[] };
  /** A token model's separate key-padding mask input ([batch, T]), pinned to a constant at import. */
  mask?: { name: string; dtype: DType; type: 'bool' | 'int64' | 'int32' | 'float32' };
  outputs: string[] = [];
  /** Shapes the file itself declares (graph outputs and value_info), fixed dims only (-1 where symbolic). */
  declared = new Map<string, number[]>();

  value(name: string): GValue {
    let v = this.values.get(name);
    if (!v) { v = { name, consumers: [] }; this.values.set(name, v); }
    return v;
  }

  constOf(name: string): Const | undefined {
    return name === '' ? undefined : this.values.get(name)?.const;
  }

  shapeOf(name: string): number[] | undefined {
    return this.values.get(name)?.shape;
  }

  consumers(name: string): GNode[] {
    return this.values.get(name)?.consumers ?? [];
  }

  /**
   * Whether `name` is read by anything outside `inside` (a graph output counts as a reader; nodes folded away do
   * not, nor, given `live`, nodes outside it: dead ends that reach no output).
   */
  usedOutside(name: string, inside: Set<GNode>, live?: Set<GNode>): boolean {
    if (this.outputs.includes(name)) return true;
    return this.consumers(name).some((c) => !inside.has(c) && !this.folded(c) && (!live || live.has(c)));
  }

  /** A node whose every output is a constant: folded away, it reads nothing at run time. */
  folded(n: GNode): boolean {
    return n.outputs.length > 0 && n.outputs.every((o) => o === '' || this.constOf(o) !== undefined);
  }
}

export const where = (n: GNode) => ({ node: n.name, opType: n.opType });

export function attr(n: GNode, key: string): OnnxAttribute | undefined { return n.attrs.get(key); }
export function attrInt(n: GNode, key: string, def: number): number { return n.attrs.get(key)?.i ?? def; }
export function attrFloat(n: GNode, key: string, def: number): number { return n.attrs.get(key)?.f ?? def; }
export function attrInts(n: GNode, key: string): number[] | undefined {
  const a = n.attrs.get(key);
  return a ? a.ints.slice() : undefined;
}
export function attrString(n: GNode, key: string, def: string): string {
  const s = n.attrs.get(key)?.s;
  return s ? new TextDecoder().decode(s) : def;
}

/** The graph of a decoded model: initializers become constants, the one real input is found. */
export function buildGraph(model: OnnxModel): Graph {
  const og = model.graph!;
  if (og.hasSparseInitializers) throw new OnnxImportError('UNSUPPORTED', 'sparse initializers are not supported');
  const g = new Graph();
  for (const t of og.initializers) {
    if (!t.name) throw new OnnxImportError('CORRUPT', 'an initializer has no name');
    const v = g.value(t.name);
    v.const = tensorFromProto(t, `initializer '${t.name}'`);
    v.shape = v.const.shape;
    v.dtype = v.const.dtype;
  }
  const real = og.inputs.filter((i) => !g.values.get(i.name)?.const);
  // Token ids may come with an attention mask of the same [batch, T] shape: the ids are what an embedding table
  // is gathered by, the other one is the mask.
  const gathersBy = (name: string) => og.nodes.some((n) => n.opType === 'Gather' && n.inputs[1] === name && g.values.get(n.inputs[0])?.const);
  let inp = real[0];
  if (real.length === 2 && real.filter((i) => gathersBy(i.name)).length === 1) {
    inp = real.find((i) => gathersBy(i.name))!;
    const m = real.find((i) => i !== inp)!;
    const mdt: DType | undefined = m.elemType === 9 ? 'bool' : m.elemType === 1 ? 'float' : m.elemType === 7 || m.elemType === 6 ? 'int' : undefined;
    if (!mdt || m.shape?.length !== 2) throw new OnnxImportError('UNSUPPORTED', `the graph has two inputs, token ids '${inp.name}' and '${m.name}', which is not a [batch, T] mask`);
    g.mask = { name: m.name, dtype: mdt, type: m.elemType === 9 ? 'bool' : m.elemType === 7 ? 'int64' : m.elemType === 6 ? 'int32' : 'float32' };
  } else if (real.length !== 1) {
    throw new OnnxImportError('UNSUPPORTED', real.length === 0 ? 'the graph has no input'
      : `the graph has ${real.length} inputs (${real.map((i) => i.name).join(', ')}): a model takes one tensor (an image, or token ids with at most an attention mask)`);
  }
  if (inp.notTensor || inp.elemType === undefined) throw new OnnxImportError('UNSUPPORTED', `input '${inp.name}' is not a tensor`);
  const dt = inp.elemType === 1 ? 'float' : inp.elemType === 7 || inp.elemType === 6 ? 'int' : undefined;
  if (!dt) throw new OnnxImportError('UNSUPPORTED', `input '${inp.name}' has element type ${inp.elemType}: expected float32 (images) or int64/int32 (token ids)`);
  if (!inp.shape) throw new OnnxImportError('DYNAMIC_SHAPE', `input '${inp.name}' has no shape`);
  g.input = { name: inp.name, dtype: dt, shape: inp.shape.map((d) => d.value ?? d.param) };
  g.outputs = og.outputs.map((o) => o.name);
  for (const vi of [...og.outputs, ...og.valueInfo]) {
    if (vi.shape && vi.name) g.declared.set(vi.name, vi.shape.map((d) => (d.value !== undefined && d.param === undefined ? d.value : -1)));
  }
  if (g.outputs.length === 0) throw new OnnxImportError('NOT_MULTI_EXIT', 'the graph has no outputs');
  const defined = new Set<string>([...g.values.keys(), inp.name, ...(g.mask ? [g.mask.name] : [])]);
  og.nodes.forEach((n: OnnxNode, index) => {
    const node: GNode = {
      index, name: n.name || n.outputs[0] || `#${index}`, opType: n.opType, domain: n.domain,
      inputs: n.inputs, outputs: n.outputs, attrs: new Map(n.attributes.map((a) => [a.name, a])),
    };
    for (const i of n.inputs) {
      if (i !== '' && !defined.has(i)) throw new OnnxImportError('CORRUPT', `reads '${i}', which no earlier node or initializer defines`, where(node));
    }
    for (const o of n.outputs) {
      if (o === '') continue;
      if (defined.has(o)) throw new OnnxImportError('CORRUPT', `defines '${o}' a second time`, where(node));
      defined.add(o);
      g.value(o).producer = node;
    }
    for (const i of n.inputs) if (i !== '') g.value(i).consumers.push(node);
    g.nodes.push(node);
  });
  for (const o of g.outputs) if (!defined.has(o)) throw new OnnxImportError('CORRUPT', `output '${o}' is never computed`);
  return g;
}
