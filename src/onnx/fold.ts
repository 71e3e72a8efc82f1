// Static shapes for every value at the model's pinned input shape, and constant folding: any node of the
// shape-arithmetic and elementwise kinds whose inputs are all constants becomes a constant. Movement ops
// (Reshape, Transpose, Slice, Gather…) are written once over plain arrays so the attention matcher can move index
// maps through them exactly as data moves.
import { OnnxImportError } from './errors.js';
import { attr, attrInt, attrInts, where, type GNode, type Graph } from './graph.js';
import { dtypeOf, MAX_ELEMENTS, numel, strides, tensorFromProto, type Const, type DType } from './tensor.js';

export interface Arr { shape: number[]; data: Float64Array }

const fail = (n: GNode, msg: string, code: 'UNSUPPORTED_OP' | 'DYNAMIC_SHAPE' | 'CORRUPT' = 'UNSUPPORTED_OP'): never => {
  throw new OnnxImportError(code, msg, where(n));
};

function normAxis(n: GNode, a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (!Number.isInteger(r) || r < 0 || r >= rank) fail(n, `axis ${a} is outside a rank-${rank} tensor`, 'CORRUPT');
  return r;
}

function checkSize(n: GNode, shape: number[]): number[] {
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(n, `computes the shape [${shape.join(', ')}]`, 'CORRUPT');
  if (numel(shape) > MAX_ELEMENTS) fail(n, `computes a tensor of ${numel(shape)} elements, past 2^28`, 'UNSUPPORTED_OP');
  return shape;
}

/** A constant input, required: a node whose shape depends on a non-constant value cannot be imported. */
function needConst(g: Graph, n: GNode, i: number, what: string): Const {
  const c = g.constOf(n.inputs[i] ?? '');
  if (!c) fail(n, `its ${what} (input ${i}) is computed from the data, not constant at the pinned input shape`, 'DYNAMIC_SHAPE');
  return c!;
}

function intsOf(c: Const): number[] { return Array.from(c.data); }

// ------------------------------------------------------------------------------------------ movement over arrays
export function transposeArr(a: Arr, perm: number[]): Arr {
  const shape = perm.map((p) => a.shape[p]);
  const st = strides(a.shape);
  const out = new Float64Array(a.data.length);
  const rank = shape.length, idx = new Array<number>(rank).fill(0);
  const pst = perm.map((p) => st[p]);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k] * pst[k];
    out[o] = a.data[src];
    for (let k = rank - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
  }
  return { shape, data: out };
}

/** Elements along `axis` at the given (already non-negative) indices. */
export function takeArr(a: Arr, axis: number, indices: number[]): Arr {
  const outer = numel(a.shape.slice(0, axis)), inner = numel(a.shape.slice(axis + 1)), dim = a.shape[axis];
  const out = new Float64Array(outer * indices.length * inner);
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (const j of indices) {
      const base = (i * dim + j) * inner;
      for (let k = 0; k < inner; k++) out[o++] = a.data[base + k];
    }
  }
  const shape = a.shape.slice();
  shape[axis] = indices.length;
  return { shape, data: out };
}

export function reshapeTarget(n: GNode, inShape: number[], spec: number[], allowZero: boolean): number[] {
  const total = numel(inShape);
  let infer = -1, known = 1;
  const out = spec.map((d, i) => {
    if (d === 0 && !allowZero) { if (i >= inShape.length) fail(n, 'Reshape copies a dimension the input lacks', 'CORRUPT'); d = inShape[i]; }
    if (d === -1) { if (infer >= 0) fail(n, 'Reshape has two -1 dimensions', 'CORRUPT'); infer = i; return -1; }
    if (d < 0) fail(n, `Reshape to dimension ${d}`, 'CORRUPT');
    known *= d;
    return d;
  });
  if (infer >= 0) {
    if (known === 0 || total % known !== 0) fail(n, `Reshape of [${inShape.join(', ')}] to [${spec.join(', ')}]`, 'CORRUPT');
    out[infer] = total / known;
  }
  if (numel(out) !== total) fail(n, `Reshape of [${inShape.join(', ')}] (${total} elements) to [${out.join(', ')}]`, 'CORRUPT');
  return out;
}

function sliceParams(g: Graph, n: GNode, shape: number[]): { axis: number; start: number; step: number; count: number }[] {
  let starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined;
  if (n.inputs.length >= 3) {
    starts = intsOf(needConst(g, n, 1, 'starts'));
    ends = intsOf(needConst(g, n, 2, 'ends'));
    axes = n.inputs[3] ? intsOf(needConst(g, n, 3, 'axes')) : undefined;
    steps = n.inputs[4] ? intsOf(needConst(g, n, 4, 'steps')) : undefined;
  } else {
    starts = attrInts(n, 'starts') ?? [];
    ends = attrInts(n, 'ends') ?? [];
    axes = attrInts(n, 'axes');
  }
  if (starts.length !== ends.length) fail(n, 'starts and ends differ in length', 'CORRUPT');
  const res = [];
  for (let i = 0; i < starts.length; i++) {
    const axis = normAxis(n, axes ? axes[i] : i, shape.length), dim = shape[axis];
    const step = steps ? steps[i] : 1;
    if (!step) fail(n, 'Slice step 0', 'CORRUPT');
    let s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) { s = Math.min(Math.max(s, 0), dim); e = Math.min(Math.max(e, 0), dim); }
    else { s = Math.min(Math.max(s, 0), dim - 1); e = Math.min(Math.max(e, -1), dim - 1); }
    const count = Math.max(0, Math.ceil((e - s) / step));
    res.push({ axis, start: s, step, count });
  }
  return res;
}

function splitSizes(g: Graph, n: GNode, dim: number): number[] {
  let sizes: number[] | undefined;
  if (n.inputs[1]) sizes = intsOf(needConst(g, n, 1, 'split sizes'));
  else sizes = attrInts(n, 'split');
  if (!sizes || sizes.length === 0) {
    const k = n.outputs.length;
    const each = Math.ceil(dim / k);
    sizes = Array.from({ length: k }, (_, i) => Math.max(0, Math.min(each, dim - i * each)));
  }
  if (sizes.length !== n.outputs.length || sizes.reduce((a, b) => a + b, 0) !== dim || sizes.some((s) => s < 0)) {
    fail(n, `Split sizes [${sizes.join(', ')}] do not divide a dimension of ${dim}`, 'CORRUPT');
  }
  return sizes;
}

function unsqueezeAxes(g: Graph, n: GNode): number[] {
  return n.inputs[1] ? intsOf(needConst(g, n, 1, 'axes')) : attrInts(n, 'axes') ?? fail(n, 'Unsqueeze without axes', 'CORRUPT');
}

function squeezeAxes(g: Graph, n: GNode): number[] | undefined {
  return n.inputs[1] ? intsOf(needConst(g, n, 1, 'axes')) : attrInts(n, 'axes');
}

/**
 * The movement ops, over any array (data or index maps). Returns undefined for an op that is not one.
 * `a` is input 0; the other inputs the op needs (shape, axes, indices…) must be constants.
 */
export function moveArr(g: Graph, n: GNode, a: Arr): Arr[] | undefined {
  const rank = a.shape.length;
  switch (n.opType) {
    case 'Identity': case 'Dropout':
      return [a];
    case 'Reshape': {
      const spec = intsOf(needConst(g, n, 1, 'target shape'));
      return [{ shape: reshapeTarget(n, a.shape, spec, attrInt(n, 'allowzero', 0) === 1), data: a.data }];
    }
    case 'Flatten': {
      let ax = attrInt(n, 'axis', 1);
      if (ax < 0) ax += rank;
      if (ax < 0 || ax > rank) fail(n, `Flatten axis ${ax}`, 'CORRUPT');
      return [{ shape: [numel(a.shape.slice(0, ax)), numel(a.shape.slice(ax))], data: a.data }];
    }
    case 'Squeeze': {
      const axes = squeezeAxes(g, n);
      const drop = new Set(axes ? axes.map((x) => normAxis(n, x, rank)) : a.shape.flatMap((d, i) => (d === 1 ? [i] : [])));
      for (const i of drop) if (a.shape[i] !== 1) fail(n, `Squeeze of axis ${i} of size ${a.shape[i]}`, 'CORRUPT');
      return [{ shape: a.shape.filter((_, i) => !drop.has(i)), data: a.data }];
    }
    case 'Unsqueeze': {
      const axes = unsqueezeAxes(g, n);
      const outRank = rank + axes.length;
      const ins = new Set(axes.map((x) => normAxis(n, x, outRank)));
      const shape: number[] = [];
      let j = 0;
      for (let i = 0; i < outRank; i++) shape.push(ins.has(i) ? 1 : a.shape[j++]);
      return [{ shape, data: a.data }];
    }
    case 'Transpose': {
      const perm = attrInts(n, 'perm') ?? a.shape.map((_, i) => rank - 1 - i);
      if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) fail(n, `perm [${perm.join(', ')}]`, 'CORRUPT');
      return [transposeArr(a, perm)];
    }
    case 'Slice': {
      let cur = a;
      for (const p of sliceParams(g, n, a.shape)) {
        cur = takeArr(cur, p.axis, Array.from({ length: p.count }, (_, i) => p.start + i * p.step));
      }
      return [cur];
    }
    case 'Split': {
      const axis = normAxis(n, attrInt(n, 'axis', 0), rank);
      const sizes = splitSizes(g, n, a.shape[axis]);
      let at = 0;
      return sizes.map((s) => { const r = takeArr(a, axis, Array.from({ length: s }, (_, i) => at + i)); at += s; return r; });
    }
    case 'Gather': {
      const axis = normAxis(n, attrInt(n, 'axis', 0), rank);
      const ic = needConst(g, n, 1, 'indices');
      const idx = intsOf(ic).map((i) => {
        const r = i < 0 ? i + a.shape[axis] : i;
        if (!Number.isInteger(r) || r < 0 || r >= a.shape[axis]) fail(n, `Gather index ${i} outside a dimension of ${a.shape[axis]}`, 'CORRUPT');
        return r;
      });
      const t = takeArr(a, axis, idx);
      return [{ shape: [...a.shape.slice(0, axis), ...ic.shape, ...a.shape.slice(axis + 1)], data: t.data }];
    }
    case 'Expand': {
      const spec = intsOf(needConst(g, n, 1, 'shape'));
      const shape = broadcastShapes(n, a.shape, spec);
      return [broadcastTo(a, shape)];
    }
    default:
      return undefined;
  }
}

// ------------------------------------------------------------------------------------------ broadcasting
export function broadcastShapes(n: GNode, a: number[], b: number[]): number[] {
  const r = Math.max(a.length, b.length), out: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1, y = b[b.length - r + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) fail(n, `cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`, 'CORRUPT');
    out.push(x === 1 ? y : x);
  }
  return out;
}

export function broadcastTo(a: Arr, shape: number[]): Arr {
  const r = shape.length, st = strides(a.shape);
  const bst = shape.map((d, i) => {
    const k = i - (r - a.shape.length);
    return k < 0 || a.shape[k] === 1 ? 0 : st[k];
  });
  const out = new Float64Array(numel(shape));
  const idx = new Array<number>(r).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let k = 0; k < r; k++) src += idx[k] * bst[k];
    out[o] = a.data[src];
    for (let k = r - 1; k >= 0; k--) { if (++idx[k] < shape[k]) break; idx[k] = 0; }
  }
  return { shape, data: out };
}

const BINARY: Record<string, (x: number, y: number, int: boolean) => number> = {
  Add: (x, y) => x + y, Sub: (x, y) => x - y, Mul: (x, y) => x * y,
  Div: (x, y, int) => (int ? (y === 0 ? 0 : Math.trunc(x / y)) : x / y),
  Pow: (x, y) => x ** y, Mod: (x, y) => x - y * Math.floor(x / y),
  Equal: (x, y) => +(x === y), Greater: (x, y) => +(x > y), Less: (x, y) => +(x < y),
  GreaterOrEqual: (x, y) => +(x >= y), LessOrEqual: (x, y) => +(x <= y),
  And: (x, y) => +(!!x && !!y), Or: (x, y) => +(!!x || !!y), Xor: (x, y) => +(!!x !== !!y),
  Max: (x, y) => Math.max(x, y), Min: (x, y) => Math.min(x, y),
};
const COMPARE = new Set(['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor']);

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for folding; a series / continued fraction in float64 instead.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let sum = x, term = x;
    for (let k = 1; k < 60; k++) { term *= -x * x / k; sum += term / (2 * k + 1); }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (ax + f);
  const v = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  return x < 0 ? -v : v;
}

const UNARY: Record<string, (x: number) => number> = {
  Sqrt: Math.sqrt, Abs: Math.abs, Neg: (x) => -x, Not: (x) => +!x, Exp: Math.exp, Log: Math.log,
  Floor: Math.floor, Ceil: Math.ceil, Reciprocal: (x) => 1 / x, Erf: erf, Tanh: Math.tanh,
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)), Relu: (x) => Math.max(0, x), Sign: Math.sign,
};

/** Float results are rounded to float32, as ONNX Runtime computes them. */
const roundF = (dt: DType, d: Float64Array) => { if (dt === 'float') for (let i = 0; i < d.length; i++) d[i] = Math.fround(d[i]); return d; };

// ------------------------------------------------------------------------------------------ the pass
function convOut(n: GNode, x: number[], w: number[], kind: 'conv' | 'pool'): number[] {
  if (x.length !== 4) fail(n, `takes a rank-${x.length} input: only 2-D images [N, C, H, W] are supported`);
  const kShape = kind === 'conv' ? w.slice(2) : attrInts(n, 'kernel_shape') ?? fail(n, 'no kernel_shape', 'CORRUPT');
  if (kShape.length !== 2) fail(n, 'only 2-D kernels are supported');
  const st = attrInts(n, 'strides') ?? [1, 1], dil = attrInts(n, 'dilations') ?? [1, 1];
  const autoPad = attr(n, 'auto_pad')?.s ? new TextDecoder().decode(attr(n, 'auto_pad')!.s!) : 'NOTSET';
  let pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
  const ceil = attrInt(n, 'ceil_mode', 0) === 1;
  const dims = [x[2], x[3]];
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = [0, 0, 0, 0];
    for (let i = 0; i < 2; i++) {
      const out = Math.ceil(dims[i] / st[i]);
      const total = Math.max(0, (out - 1) * st[i] + (kShape[i] - 1) * dil[i] + 1 - dims[i]);
      const small = Math.floor(total / 2), big = total - small;
      pads[i] = autoPad === 'SAME_UPPER' ? small : big;
      pads[i + 2] = autoPad === 'SAME_UPPER' ? big : small;
    }
  } else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  const out = [0, 1].map((i) => {
    const span = dims[i] + pads[i] + pads[i + 2] - ((kShape[i] - 1) * dil[i] + 1);
    if (span < 0) fail(n, 'the kernel is larger than the padded input', 'CORRUPT');
    return (ceil ? Math.ceil(span / st[i]) : Math.floor(span / st[i])) + 1;
  });
  const c = kind === 'conv' ? w[0] : x[1];
  return [x[0], c, out[0], out[1]];
}

function reduceAxes(g: Graph, n: GNode, rank: number): number[] {
  let axes: number[] | undefined = attrInts(n, 'axes');
  if (!axes && n.inputs[1]) axes = intsOf(needConst(g, n, 1, 'axes'));
  if (!axes || axes.length === 0) return Array.from({ length: rank }, (_, i) => i);
  return axes.map((a) => normAxis(n, a, rank));
}

/** Output shapes (and element types) of one node, given its input shapes; constants folded where possible. */
function inferNode(g: Graph, n: GNode): void {
  const ins = n.inputs.map((i) => (i === '' ? undefined : g.values.get(i)));
  const sh = (i: number) => ins[i]?.shape;
  const set = (k: number, shape: number[], dtype: DType, c?: Const) => {
    if (k >= n.outputs.length || n.outputs[k] === '') return;
    const v = g.value(n.outputs[k]);
    v.shape = checkSize(n, shape);
    v.dtype = dtype;
    if (c) v.const = c;
  };
  const allConst = ins.every((v) => v === undefined || v.const !== undefined);
  if (n.opType === 'Constant') {
    const t = attr(n, 'value')?.t;
    const a = n.attrs;
    let c: Const;
    if (t) {
      c = tensorFromProto(t, `Constant '${n.name}'`);
    } else if (a.get('value_float')) c = { dtype: 'float', shape: [], data: Float64Array.of(a.get('value_float')!.f ?? 0) };
    else if (a.get('value_floats')) c = { dtype: 'float', shape: [a.get('value_floats')!.floats.length], data: Float64Array.from(a.get('value_floats')!.floats) };
    else if (a.get('value_int')) c = { dtype: 'int', shape: [], data: Float64Array.of(a.get('value_int')!.i ?? 0) };
    else if (a.get('value_ints')) c = { dtype: 'int', shape: [a.get('value_ints')!.ints.length], data: Float64Array.from(a.get('value_ints')!.ints) };
    else return fail(n, 'a Constant without a tensor value');
    set(0, c.shape, c.dtype, c);
    return;
  }
  const x = ins[0];
  if (x?.shape === undefined) return; // no data input, or downstream of something unknown
  // Movement ops: shape from the op itself, data when the input is constant.
  const moving = ['Identity', 'Dropout', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Slice', 'Split', 'Gather', 'Expand'];
  if (moving.includes(n.opType)) {
    if (n.opType === 'Gather' && !g.constOf(n.inputs[1])) {
      // An embedding lookup (data-dependent indices): shape only.
      const axis = normAxis(n, attrInt(n, 'axis', 0), x!.shape!.length);
      const is = sh(1);
      if (!is) return;
      set(0, [...x!.shape!.slice(0, axis), ...is, ...x!.shape!.slice(axis + 1)], x!.dtype ?? 'float');
      return;
    }
    const data = x!.const ? x!.const.data : new Float64Array(numel(x!.shape!));
    const res = moveArr(g, n, { shape: x!.shape!, data })!;
    res.forEach((r, k) => set(k, r.shape, x!.dtype ?? 'float', x!.const ? { dtype: x!.const.dtype, shape: r.shape, data: r.data } : undefined));
    if (n.opType === 'Dropout' && n.outputs[1]) set(1, x!.shape!, 'bool');
    return;
  }
  switch (n.opType) {
    case 'Shape': {
      const s = x!.shape!;
      let start = attrInt(n, 'start', 0), end = attrInt(n, 'end', s.length);
      if (start < 0) start += s.length;
      if (end < 0) end += s.length;
      const d = s.slice(Math.max(0, start), Math.min(s.length, end));
      return set(0, [d.length], 'int', { dtype: 'int', shape: [d.length], data: Float64Array.from(d) });
    }
    case 'Trilu': {
      const sh0 = x!.shape!;
      if (sh0.length < 2) fail(n, 'Trilu of a rank < 2 tensor', 'CORRUPT');
      let c: Const | undefined;
      if (x!.const && (!n.inputs[1] || g.constOf(n.inputs[1]))) {
        const k = n.inputs[1] ? g.constOf(n.inputs[1])!.data[0] : 0;
        const upper = attrInt(n, 'upper', 1) === 1;
        const R = sh0[sh0.length - 2], C = sh0[sh0.length - 1];
        const data = x!.const.data.map((v, i) => {
          const r = Math.floor(i / C) % R, col = i % C;
          return (upper ? col - r >= k : col - r <= k) ? v : 0;
        });
        c = { dtype: x!.dtype ?? 'float', shape: sh0, data };
      }
      return set(0, sh0, x!.dtype ?? 'float', c);
    }
    case 'Size':
      return set(0, [], 'int', { dtype: 'int', shape: [], data: Float64Array.of(numel(x!.shape!)) });
    case 'Cast': {
      const to = dtypeOf(attrInt(n, 'to', 1)) ?? fail(n, `Cast to element type ${attrInt(n, 'to', 1)}`);
      const c = x!.const ? { dtype: to, shape: x!.shape!, data: x!.const.data.map((v) => (to === 'int' ? Math.trunc(v) : to === 'bool' ? +!!v : Math.fround(v))) } : undefined;
      return set(0, x!.shape!, to, c);
    }
    case 'ConstantOfShape': {
      const s = intsOf(needConst(g, n, 0, 'shape'));
      const t = attr(n, 'value')?.t;
      const v = t ? tensorFromProto(t, `ConstantOfShape '${n.name}' value`) : { dtype: 'float' as DType, shape: [1], data: Float64Array.of(0) };
      checkSize(n, s);
      return set(0, s, v.dtype, { dtype: v.dtype, shape: s, data: new Float64Array(numel(s)).fill(v.data[0] ?? 0) });
    }
    case 'Range': {
      const [s, l, d] = [0, 1, 2].map((i) => needConst(g, n, i, ['start', 'limit', 'delta'][i]).data[0]);
      if (!d) fail(n, 'Range with delta 0', 'CORRUPT');
      const count = Math.max(0, Math.ceil((l - s) / d));
      checkSize(n, [count]);
      return set(0, [count], x!.dtype ?? 'int', { dtype: x!.dtype ?? 'int', shape: [count], data: Float64Array.from({ length: count }, (_, i) => s + i * d) });
    }
    case 'Concat': {
      const shapes = ins.map((v) => v?.shape);
      if (shapes.some((s) => !s)) return;
      const rank = shapes[0]!.length;
      const axis = normAxis(n, attrInt(n, 'axis', 0), rank);
      const out = shapes[0]!.slice();
      out[axis] = 0;
      for (const s of shapes) {
        if (s!.length !== rank || s!.some((d, i) => i !== axis && d !== out[i])) fail(n, 'Concat of mismatched shapes', 'CORRUPT');
        out[axis] += s![axis];
      }
      let c: Const | undefined;
      if (allConst) {
        const outer = numel(out.slice(0, axis)), inner = numel(out.slice(axis + 1));
        const data = new Float64Array(numel(out));
        let o = 0;
        for (let i = 0; i < outer; i++) {
          for (const v of ins) {
            const len = v!.shape![axis] * inner;
            data.set(v!.const!.data.subarray(i * len, (i + 1) * len), o);
            o += len;
          }
        }
        c = { dtype: x!.dtype ?? 'float', shape: out, data };
      }
      return set(0, out, x!.dtype ?? 'float', c);
    }
    case 'Where': {
      const [c0, a, b] = ins;
      if (!c0?.shape || !a?.shape || !b?.shape) return;
      const shape = broadcastShapes(n, broadcastShapes(n, c0.shape, a.shape), b.shape);
      let c: Const | undefined;
      if (allConst) {
        const cc = broadcastTo({ shape: c0.shape, data: c0.const!.data }, shape).data;
        const aa = broadcastTo({ shape: a.shape, data: a.const!.data }, shape).data, bb = broadcastTo({ shape: b.shape, data: b.const!.data }, shape).data;
        c = { dtype: a.dtype ?? 'float', shape, data: cc.map((v, i) => (v ? aa[i] : bb[i])) };
      }
      return set(0, shape, a.dtype ?? 'float', c);
    }
  }
  if (BINARY[n.opType] && n.inputs.length === 2) {
    const [a, b] = ins;
    if (!a?.shape || !b?.shape) return;
    const shape = broadcastShapes(n, a.shape, b.shape);
    const dt: DType = COMPARE.has(n.opType) ? 'bool' : a.dtype ?? 'float';
    let c: Const | undefined;
    if (allConst) {
      const aa = broadcastTo({ shape: a.shape, data: a.const!.data }, shape).data, bb = broadcastTo({ shape: b.shape, data: b.const!.data }, shape).data;
      const f = BINARY[n.opType], int = a.dtype === 'int';
      c = { dtype: dt, shape, data: roundF(dt, aa.map((v, i) => f(v, bb[i], int))) };
    }
    return set(0, shape, dt, c);
  }
  if (UNARY[n.opType] || ['Clip', 'Softmax', 'LogSoftmax', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Elu', 'Gelu'].includes(n.opType)) {
    const dt = x!.dtype ?? 'float';
    let c: Const | undefined;
    if (allConst && UNARY[n.opType]) c = { dtype: n.opType === 'Not' ? 'bool' : dt, shape: x!.shape!, data: roundF(dt, x!.const!.data.map(UNARY[n.opType])) };
    return set(0, x!.shape!, n.opType === 'Not' ? 'bool' : dt, c);
  }
  switch (n.opType) {
    case 'Conv': {
      const w = sh(1);
      if (!w) return;
      return set(0, convOut(n, x!.shape!, w, 'conv'), 'float');
    }
    case 'MaxPool': case 'AveragePool':
      return set(0, convOut(n, x!.shape!, [], 'pool'), 'float');
    case 'GlobalAveragePool': case 'GlobalMaxPool': {
      const s = x!.shape!;
      return set(0, [...s.slice(0, 2), ...s.slice(2).map(() => 1)], 'float');
    }
    case 'BatchNormalization': case 'LayerNormalization':
      return set(0, x!.shape!, 'float');
    case 'Pad': {
      const pads = n.inputs[1] ? intsOf(needConst(g, n, 1, 'pads')) : attrInts(n, 'pads') ?? [];
      const s = x!.shape!;
      if (pads.length !== 2 * s.length) fail(n, 'pads of the wrong length', 'CORRUPT');
      return set(0, s.map((d, i) => d + pads[i] + pads[i + s.length]), x!.dtype ?? 'float');
    }
    case 'ReduceMean': case 'ReduceSum': case 'ReduceMax': {
      const s = x!.shape!;
      const axes = reduceAxes(g, n, s.length);
      const keep = attrInt(n, 'keepdims', 1) === 1;
      const out = keep ? s.map((d, i) => (axes.includes(i) ? 1 : d)) : s.filter((_, i) => !axes.includes(i));
      return set(0, out, 'float');
    }
    case 'MatMul': {
      const a = sh(0), b = sh(1);
      if (!a || !b) return;
      if (a.length < 2 || b.length < 1) fail(n, 'MatMul of a vector on the left is not supported');
      const bb = b.length === 1 ? [b[0], 1] : b;
      if (a[a.length - 1] !== bb[bb.length - 2]) fail(n, `MatMul of [${a.join(', ')}] by [${b.join(', ')}]`, 'CORRUPT');
      const batch = broadcastShapes(n, a.slice(0, -2), bb.slice(0, -2));
      const out = [...batch, a[a.length - 2], ...(b.length === 1 ? [] : [bb[bb.length - 1]])];
      return set(0, out, 'float');
    }
    case 'Gemm': {
      const a = sh(0), b = sh(1);
      if (!a || !b) return;
      if (a.length !== 2 || b.length !== 2) fail(n, 'Gemm of non-matrices', 'CORRUPT');
      const m = attrInt(n, 'transA', 0) ? a[1] : a[0];
      const nn = attrInt(n, 'transB', 0) ? b[0] : b[1];
      return set(0, [m, nn], 'float');
    }
  }
  // Anything else: its shape stays unknown; the lowering refuses the node if the model needs it.
}


/** Pins the input to `inputShape`, infers every shape it can and folds constants, in node order. */
export function inferShapes(g: Graph, inputShape: number[], inputDtype: DType): void {
  const v = g.value(g.input.name);
  v.shape = inputShape.slice();
  v.dtype = inputDtype;
  for (const n of g.nodes) inferNode(g, n);
}
