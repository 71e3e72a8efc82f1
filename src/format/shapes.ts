// Op validation and shape inference for `.spx` models: walks every layer and exit from `input`, checking each op's
// fields and tensors against the activation it receives, and records the sizes the engine plans its buffers with.
//
// Token models take a variable number of tokens T (1 ≤ T ≤ maxLen). Shapes are inferred at T = maxLen; an
// activation whose dim 0 is T carries `variable: true`. Nothing may turn T into a fixed size (flatten of a
// sequence is refused), so every shape that is not flagged is the same for every T.
import { SpxError } from './errors.js';
import {
  ACTIVATIONS, OP_NAMES, SPX_LIMITS,
  type Activation, type Op, type OpName, type SpxExit, type SpxHeader, type SpxLayer,
} from './types.js';

/** Shapes around one op. `variable`: dim 0 of `output` is the token count T (inferred at maxLen). */
export interface OpShape {
  op: OpName;
  input: number[];
  output: number[];
  variable: boolean;
  /**
   * Elements of op-internal temporaries a straightforward implementation needs, 0 for most ops;
   * attention: q, k, v (3·T·D) plus every head's scores (heads·T·T). A hint: a kernel may need less.
   */
  scratch: number;
}

/** Shapes and buffer sizes of one layer or exit (a block: a list of ops on one current tensor). */
export interface BlockShapes {
  input: number[];
  output: number[];
  /** Whether the input / output's dim 0 is T. */
  inputVariable: boolean;
  outputVariable: boolean;
  /** The block's input is token ids (int32) rather than f32: layer 1 of a token model. */
  inputIsTokens: boolean;
  ops: OpShape[];
  /** Largest element count among the block's input and every op's output. */
  maxElements: number;
  /** Largest `scratch` of any op in the block. */
  maxScratch: number;
  /** One entry per distinct save name (in first-save order), with the largest tensor saved under it. */
  saveSlots: { name: string; elements: number }[];
  /** Sum of `saveSlots[].elements`: room for every slot alive at once. */
  saveElements: number;
}

export interface InferredShapes {
  /** Model input: image [C, H, W]; tokens [maxLen] (int32 ids, really T ≤ maxLen: see `variableLength`). */
  layerInput: number[];
  /** Token model: every shape flagged `variable` has T = maxLen in dim 0 and really T ≤ maxLen. */
  variableLength: boolean;
  /** Output shape of layer i + 1 (what crosses a split after that layer). */
  layerOutputs: number[][];
  /** Whether dim 0 of layerOutputs[i] is T. */
  layerOutputVariable: boolean[];
  /** Number of outputs (logits) of exit i + 1: always classes.length. */
  exitOutputs: number[];
  layers: BlockShapes[];
  exits: BlockShapes[];
  /** Max of `maxElements` over every layer and exit. */
  maxElements: number;
  /** Max of `maxScratch` over every layer and exit. */
  maxScratch: number;
  /** Max of `saveElements` over every layer and exit. */
  maxSaveElements: number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: Obj, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const get = (o: Obj, k: string): unknown => (has(o, k) ? o[k] : undefined);

export function fmtShape(shape: readonly number[], variable = false): string {
  return '[' + shape.map((d, i) => (i === 0 && variable ? `T≤${d}` : String(d))).join(', ') + ']';
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return String(v);
}

/** Product of dims, throwing TOO_LARGE past the element limit (checked incrementally, so never overflows). */
export function elementCount(shape: readonly number[], where: string): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > SPX_LIMITS.elements) {
      throw new SpxError('TOO_LARGE', `${where}: ${fmtShape(shape)} has more than 2^28 elements`);
    }
  }
  return n;
}

/**
 * An integer field: a non-number or non-integer is BAD_HEADER, anything above 2^28 is TOO_LARGE (no dimension,
 * stride or count in a valid model comes near it, and the cap keeps every later product a safe integer).
 */
export function intField(v: unknown, min: number, where: string): number {
  if (typeof v !== 'number' || Number.isNaN(v)) throw new SpxError('BAD_HEADER', `${where}: expected an integer, got ${describe(v)}`);
  if (v > SPX_LIMITS.elements) throw new SpxError('TOO_LARGE', `${where}: ${v} is past the limit 2^28`);
  if (!Number.isInteger(v) || v < min) throw new SpxError('BAD_HEADER', `${where}: expected an integer ≥ ${min}, got ${v}`);
  return v;
}

function strField(o: Obj, k: string, where: string): string {
  const v = get(o, k);
  if (typeof v !== 'string') throw new SpxError('BAD_HEADER', `${where}: field '${k}' must be a string, got ${describe(v)}`);
  return v;
}

function optInt(o: Obj, k: string, dflt: number, min: number, where: string): number {
  const v = get(o, k);
  return v === undefined ? dflt : intField(v, min, `${where}: field '${k}'`);
}

/** A finite number field (a float32 parameter of an elementwise op), `dflt` when absent. */
function optNum(o: Obj, k: string, dflt: number, where: string): number {
  const v = get(o, k);
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SpxError('BAD_HEADER', `${where}: field '${k}' must be a finite number, got ${describe(v)}`);
  return v;
}

function actField(o: Obj, where: string): Activation {
  const v = get(o, 'act');
  if (v === undefined) return 'none';
  if (typeof v !== 'string' || !(ACTIVATIONS as readonly string[]).includes(v)) {
    throw new SpxError('BAD_HEADER', `${where}: field 'act' must be one of ${ACTIVATIONS.join(', ')}, got ${describe(v)}`);
  }
  return v as Activation;
}

/**
 * Validates one op's fields and returns a copy with every default filled in (fields this version does not know are
 * kept: later minor versions may add optional ones). `where` is e.g. "layer 3 op 2".
 */
export function normalizeOp(raw: unknown, where: string): Op {
  const op = checkOp(raw, where);
  return { ...(raw as Obj), ...op } as Op;
}

function checkOp(raw: unknown, where: string): Op {
  if (!isObj(raw)) throw new SpxError('BAD_HEADER', `${where}: an op must be an object, got ${describe(raw)}`);
  const name = get(raw, 'op');
  if (typeof name !== 'string') throw new SpxError('BAD_HEADER', `${where}: field 'op' must be a string, got ${describe(name)}`);
  if (!(OP_NAMES as readonly string[]).includes(name)) {
    throw new SpxError('UNKNOWN_OP', `${where}: unknown op ${describe(name)} (known: ${OP_NAMES.join(', ')})`);
  }
  const w = `${where} (${name})`;
  const optStr = (k: string): string | undefined => (get(raw, k) === undefined ? undefined : strField(raw, k, w));
  switch (name as OpName) {
    case 'conv2d': {
      const op: Op = {
        op: 'conv2d', w: strField(raw, 'w', w), stride: optInt(raw, 'stride', 1, 1, w), pad: optInt(raw, 'pad', 0, 0, w),
        groups: optInt(raw, 'groups', 1, 1, w), act: actField(raw, w),
      };
      const b = optStr('b');
      if (b !== undefined) op.b = b;
      return op;
    }
    case 'linear': {
      const op: Op = { op: 'linear', w: strField(raw, 'w', w), act: actField(raw, w) };
      const b = optStr('b');
      if (b !== undefined) op.b = b;
      return op;
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      const v = get(raw, 'k');
      if (v === undefined) throw new SpxError('BAD_HEADER', `${w}: field 'k' is missing`);
      const k = intField(v, 1, `${w}: field 'k'`);
      const stride = optInt(raw, 'stride', k, 1, w);
      const pad = optInt(raw, 'pad', 0, 0, w);
      // PyTorch's rule: a window must never lie wholly in the padding (max would be −∞, the average meaningless).
      if (2 * pad > k) throw new SpxError('BAD_HEADER', `${w}: pad ${pad} is more than half the window ${k}`);
      const ex = get(raw, 'excludePad');
      if (ex !== undefined && (name !== 'avgpool2d' || typeof ex !== 'boolean')) {
        throw new SpxError('BAD_HEADER', `${w}: field 'excludePad' must be a boolean of an avgpool2d, got ${describe(ex)}`);
      }
      if (ex !== undefined) return { op: 'avgpool2d', k, stride, pad, excludePad: ex as boolean };
      return { op: name as 'maxpool2d' | 'avgpool2d', k, stride, pad };
    }
    case 'save':
    case 'add':
      return { op: name as 'save' | 'add', name: strField(raw, 'name', w) };
    case 'layernorm': {
      const e = get(raw, 'eps');
      let eps = 1e-5;
      if (e !== undefined) {
        if (typeof e !== 'number' || !Number.isFinite(e) || e <= 0) {
          throw new SpxError('BAD_HEADER', `${w}: field 'eps' must be a positive number, got ${describe(e)}`);
        }
        eps = e;
      }
      return { op: 'layernorm', g: strField(raw, 'g', w), b: strField(raw, 'b', w), eps };
    }
    case 'embed':
      return { op: 'embed', tok: strField(raw, 'tok', w), pos: strField(raw, 'pos', w) };
    case 'attention': {
      const v = get(raw, 'heads');
      if (v === undefined) throw new SpxError('BAD_HEADER', `${w}: field 'heads' is missing`);
      const causal = get(raw, 'causal');
      if (causal !== undefined && typeof causal !== 'boolean') throw new SpxError('BAD_HEADER', `${w}: field 'causal' must be a boolean, got ${describe(causal)}`);
      return {
        op: 'attention', heads: intField(v, 1, `${w}: field 'heads'`),
        wqkv: strField(raw, 'wqkv', w), bqkv: strField(raw, 'bqkv', w), wo: strField(raw, 'wo', w), bo: strField(raw, 'bo', w),
        window: optInt(raw, 'window', 0, 0, w), ...(causal !== undefined ? { causal } : {}),
      };
    }
    case 'affine': {
      const op: Op = { op: 'affine' };
      const wt = optStr('w'), b = optStr('b');
      if (wt === undefined && b === undefined) throw new SpxError('BAD_HEADER', `${w}: needs 'w' (a scale), 'b' (a shift) or both`);
      if (wt !== undefined) op.w = wt;
      if (b !== undefined) op.b = b;
      return op;
    }
    case 'mul':
      return { op: 'mul', name: strField(raw, 'name', w) };
    case 'pad':
      return { op: 'pad', top: optInt(raw, 'top', 0, 0, w), bottom: optInt(raw, 'bottom', 0, 0, w), left: optInt(raw, 'left', 0, 0, w), right: optInt(raw, 'right', 0, 0, w) };
    case 'concat': {
      const xf = get(raw, 'xFirst');
      if (xf !== undefined && typeof xf !== 'boolean') throw new SpxError('BAD_HEADER', `${w}: field 'xFirst' must be a boolean, got ${describe(xf)}`);
      const op: Op = { op: 'concat', name: strField(raw, 'name', w) };
      if (xf !== undefined) op.xFirst = xf;
      return op;
    }
    case 'hardsigmoid':
      return { op: 'hardsigmoid', alpha: optNum(raw, 'alpha', 0.2, w), beta: optNum(raw, 'beta', 0.5, w) };
    case 'clip': {
      const op: Op = { op: 'clip' };
      const lo = get(raw, 'min') === undefined ? undefined : optNum(raw, 'min', 0, w);
      const hi = get(raw, 'max') === undefined ? undefined : optNum(raw, 'max', 0, w);
      if (lo !== undefined && hi !== undefined && lo > hi) throw new SpxError('BAD_HEADER', `${w}: min ${lo} is above max ${hi}`);
      if (lo !== undefined) op.min = lo;
      if (hi !== undefined) op.max = hi;
      return op;
    }
    default:
      return { op: name } as Op; // gap, flatten, relu, relu6, gelu, seqmean, seqfirst: no fields
  }
}

/** Validates `input` and returns the model input shape (tokens: [maxLen]). */
export function inputShape(input: unknown): { shape: number[]; tokens: boolean; vocabSize: number } {
  if (!isObj(input)) throw new SpxError('BAD_HEADER', `header.input must be an object, got ${describe(input)}`);
  const kind = get(input, 'kind');
  if (kind === 'image') {
    const s = get(input, 'shape');
    if (!Array.isArray(s) || s.length !== 3) {
      throw new SpxError('BAD_HEADER', `header.input.shape must be [C, H, W], got ${describe(s)}${Array.isArray(s) ? ` of length ${s.length}` : ''}`);
    }
    const shape = s.map((d, i) => intField(d, 1, `header.input.shape[${i}]`));
    elementCount(shape, 'header.input.shape');
    return { shape, tokens: false, vocabSize: 0 };
  }
  if (kind === 'tokens') {
    const maxLen = intField(get(input, 'maxLen'), 1, 'header.input.maxLen');
    const vocabSize = intField(get(input, 'vocabSize'), 1, 'header.input.vocabSize');
    return { shape: [maxLen], tokens: true, vocabSize };
  }
  throw new SpxError('BAD_HEADER', `header.input.kind must be "image" or "tokens", got ${describe(kind)}`);
}

/** The activation an op receives while a block is walked: its shape, whether it is token ids, whether dim 0 is T. */
export interface Act { shape: number[]; tokens: boolean; variable: boolean }

/** What an op's rule may ask of the walk: tensors, shape checks, the block's saves. */
export interface RuleContext {
  /** `where` for messages, e.g. "layer 2 op 3 (conv2d)". */
  readonly where: string;
  readonly vocabSize: number;
  /** The shape of tensor `name` (BAD_TENSOR when absent); `field` names it in messages. */
  tensor(field: string, name: string): number[];
  /** Like tensor(), and SHAPE_MISMATCH unless the shape is `expected`. */
  expectShape(field: string, name: string, expected: number[], meaning: string): number[];
  /** SHAPE_MISMATCH with `msg`. */
  mismatch(msg: string): never;
  /** SHAPE_MISMATCH unless the input's rank is one of `ranks`. */
  rank(ranks: number[], what: string): void;
  /** Records `x` under a save name / returns the activation saved under it (BAD_HEADER when none). */
  save(name: string, x: Act): void;
  saved(name: string): Act;
}

/**
 * How an op's output may be placed in the buffer plan (src/engine/plan.ts), the same on every backend:
 * 'inplace': may overwrite its input (elementwise; each output element depends only on the same input element, or
 *   on its own row for layernorm); 'view': no kernel, the output is the input's buffer read differently (flatten, a
 *   reshape; seqfirst, row 0 of a row-major [T, D]); 'pin': no kernel, the input stays and is pinned (save);
 *   'new': writes a fresh buffer.
 */
export type OpPlacement = 'inplace' | 'view' | 'pin' | 'new';

/** One op of the op set: its shape rule (validating the op against its input) and its placement in the plan. */
export interface OpRule<O extends Op = Op> {
  placement: OpPlacement;
  /** Validates `op` on input `x` and returns the output shape; `variable` when dim 0 stops being T; `scratch` hint. */
  infer(op: O, x: Act, c: RuleContext): { out: number[]; variable?: boolean; scratch?: number };
}

const elementwise: OpRule = { placement: 'inplace', infer: (_op, x) => ({ out: x.shape }) };

function windowOut(c: RuleContext, x: Act, k: number, stride: number, pad: number, kind: string): number[] {
  c.rank([3], 'a [C, H, W] activation');
  const [C, H, W] = x.shape;
  if (H + 2 * pad < k || W + 2 * pad < k) c.mismatch(`${kind} ${k}×${k} is larger than the padded input ${H + 2 * pad}×${W + 2 * pad}`);
  return [C, Math.floor((H + 2 * pad - k) / stride) + 1, Math.floor((W + 2 * pad - k) / stride) + 1];
}

/** The op set, one entry per op (the key is the op's name in the file). */
export const OP_RULES: { [K in OpName]: OpRule<Extract<Op, { op: K }>> } = {
  conv2d: {
    placement: 'new',
    infer(op, x, c) {
      c.rank([3], 'a [C, H, W] activation');
      const [C, H, W] = x.shape;
      const xs = fmtShape(x.shape);
      const ws = c.tensor('weight', op.w);
      if (ws.length !== 4) c.mismatch(`weight '${op.w}' is ${fmtShape(ws)}, expected [OC, C/groups, KH, KW]`);
      const [OC, CG, KH, KW] = ws;
      const groups = op.groups ?? 1, stride = op.stride ?? 1, pad = op.pad ?? 0;
      if (C % groups !== 0) c.mismatch(`groups ${groups} does not divide the ${C} input channels of ${xs}`);
      if (OC % groups !== 0) c.mismatch(`groups ${groups} does not divide the ${OC} output channels of weight '${op.w}'`);
      if (CG * groups !== C) {
        c.mismatch(groups === 1
          ? `weight '${op.w}' has ${CG} input channels, activation has ${C}`
          : `weight '${op.w}' has ${CG} input channels per group × ${groups} groups = ${CG * groups}, activation has ${C}`);
      }
      if (op.b !== undefined) c.expectShape('bias', op.b, [OC], 'one per output channel');
      if (H + 2 * pad < KH || W + 2 * pad < KW) c.mismatch(`kernel ${KH}×${KW} is larger than the padded input ${H + 2 * pad}×${W + 2 * pad}`);
      return { out: [OC, Math.floor((H + 2 * pad - KH) / stride) + 1, Math.floor((W + 2 * pad - KW) / stride) + 1] };
    },
  },
  linear: {
    placement: 'new',
    infer(op, x, c) {
      c.rank([1, 2], 'a [K] or [M, K] activation');
      const xs = fmtShape(x.shape, x.variable);
      if (x.variable && x.shape.length === 1) c.mismatch(`input ${xs} has a variable length`);
      const K = x.shape[x.shape.length - 1];
      const ws = c.tensor('weight', op.w);
      if (ws.length !== 2) c.mismatch(`weight '${op.w}' is ${fmtShape(ws)}, expected [N, K]`);
      const [N, WK] = ws;
      if (WK !== K) c.mismatch(`weight '${op.w}' has ${WK} inputs (K), activation ${xs} has ${K}`);
      if (op.b !== undefined) c.expectShape('bias', op.b, [N], 'one per output');
      return { out: x.shape.length === 1 ? [N] : [x.shape[0], N] };
    },
  },
  maxpool2d: { placement: 'new', infer: (op, x, c) => ({ out: windowOut(c, x, op.k, op.stride ?? op.k, op.pad ?? 0, 'window') }) },
  avgpool2d: { placement: 'new', infer: (op, x, c) => ({ out: windowOut(c, x, op.k, op.stride ?? op.k, op.pad ?? 0, 'window') }) },
  gap: {
    placement: 'new',
    infer(_op, x, c) { c.rank([3], 'a [C, H, W] activation'); return { out: [x.shape[0]] }; },
  },
  flatten: {
    placement: 'view',
    infer(_op, x, c) {
      if (x.variable) c.mismatch(`cannot flatten ${fmtShape(x.shape, x.variable)}: its size would depend on the token count T`);
      return { out: [elementCount(x.shape, c.where)] };
    },
  },
  relu: elementwise,
  relu6: elementwise,
  gelu: elementwise,
  sigmoid: elementwise,
  tanh: elementwise,
  gelu_tanh: elementwise,
  hardsigmoid: elementwise,
  hardswish: elementwise,
  clip: elementwise,
  affine: {
    placement: 'inplace',
    infer(op, x, c) {
      const C = x.shape.length === 3 ? x.shape[0] : x.shape[x.shape.length - 1];
      if (x.variable && x.shape.length === 1) c.mismatch(`input ${fmtShape(x.shape, x.variable)} has a variable length`);
      for (const [field, name] of [['scale', op.w], ['shift', op.b]] as const) {
        if (name === undefined) continue;
        const ts = c.tensor(field, name);
        if (ts.length !== 1 || (ts[0] !== 1 && ts[0] !== C)) {
          c.mismatch(`${field} '${name}' is ${fmtShape(ts)}, expected [${C}] (one per ${x.shape.length === 3 ? 'channel' : 'feature'}) or [1]`);
        }
      }
      if (op.w !== undefined && op.b !== undefined && c.tensor('scale', op.w)[0] !== c.tensor('shift', op.b)[0]) {
        c.mismatch(`scale '${op.w}' and shift '${op.b}' differ in length`);
      }
      return { out: x.shape };
    },
  },
  mul: {
    // The result may be larger than x (a per-channel gate times the saved map): never written over x.
    placement: 'new',
    infer(op, x, c) {
      const s = c.saved(op.name);
      const same = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
      // b broadcasts onto a: [C] onto [C, H, W] (per channel) or [D] onto [T, D] (per feature)
      const onto = (a: Act, b: Act) => !b.variable && b.shape.length === 1
        && ((a.shape.length === 3 && a.shape[0] === b.shape[0]) || (a.shape.length === 2 && a.shape[1] === b.shape[0]));
      if (same(x.shape, s.shape) && x.variable === s.variable) return { out: x.shape };
      if (onto(x, s)) return { out: x.shape };
      if (onto(s, x)) return { out: s.shape, variable: s.variable };
      return c.mismatch(`activation ${fmtShape(x.shape, x.variable)} and saved '${op.name}' ${fmtShape(s.shape, s.variable)} neither match nor broadcast (per channel or per feature)`);
    },
  },
  pad: {
    placement: 'new',
    infer(op, x, c) {
      c.rank([3], 'a [C, H, W] activation');
      const [C, H, W] = x.shape;
      return { out: [C, (op.top ?? 0) + H + (op.bottom ?? 0), (op.left ?? 0) + W + (op.right ?? 0)] };
    },
  },
  concat: {
    placement: 'new',
    infer(op, x, c) {
      const s = c.saved(op.name);
      c.rank([1, 3], 'a [C, H, W] or [N] activation');
      if (s.shape.length !== x.shape.length || s.shape.some((d, i) => i > 0 && d !== x.shape[i])) {
        c.mismatch(`activation ${fmtShape(x.shape)} and saved '${op.name}' ${fmtShape(s.shape)} differ in more than their first dim`);
      }
      return { out: [s.shape[0] + x.shape[0], ...x.shape.slice(1)] };
    },
  },
  save: {
    placement: 'pin',
    infer(op, x, c) { elementCount(x.shape, c.where); c.save(op.name, x); return { out: x.shape }; },
  },
  add: {
    placement: 'inplace',
    infer(op, x, c) {
      const s = c.saved(op.name);
      if (s.variable !== x.variable || s.shape.length !== x.shape.length || s.shape.some((d, i) => d !== x.shape[i])) {
        c.mismatch(`activation ${fmtShape(x.shape, x.variable)} and saved '${op.name}' ${fmtShape(s.shape, s.variable)} differ`);
      }
      return { out: x.shape };
    },
  },
  layernorm: {
    placement: 'inplace',
    infer(op, x, c) {
      const D = x.shape[x.shape.length - 1];
      if (x.variable && x.shape.length === 1) c.mismatch(`input ${fmtShape(x.shape, x.variable)} has a variable length`);
      c.expectShape('gain', op.g, [D], 'the last dim of the activation');
      c.expectShape('bias', op.b, [D], 'the last dim of the activation');
      return { out: x.shape };
    },
  },
  embed: {
    placement: 'new',
    infer(op, x, c) {
      if (!x.tokens) c.mismatch(`needs token ids, got a float activation ${fmtShape(x.shape, x.variable)}`);
      const T = x.shape[0];
      const tok = c.tensor('table', op.tok);
      if (tok.length !== 2) c.mismatch(`token table '${op.tok}' is ${fmtShape(tok)}, expected [V, D]`);
      const [V, D] = tok;
      if (V < c.vocabSize) c.mismatch(`token table '${op.tok}' has ${V} rows, the vocabulary has ${c.vocabSize} ids`);
      const pos = c.tensor('table', op.pos);
      if (pos.length !== 2) c.mismatch(`position table '${op.pos}' is ${fmtShape(pos)}, expected [P, D]`);
      if (pos[1] !== D) c.mismatch(`position table '${op.pos}' has width ${pos[1]}, token table '${op.tok}' has ${D}`);
      if (pos[0] < T) c.mismatch(`position table '${op.pos}' has ${pos[0]} rows, sequences have up to ${T} tokens`);
      return { out: [T, D] };
    },
  },
  attention: {
    placement: 'new',
    infer(op, x, c) {
      c.rank([2], 'a [T, D] activation');
      const [T, D] = x.shape;
      const xs = fmtShape(x.shape, x.variable);
      if (D % op.heads !== 0) c.mismatch(`${op.heads} heads do not divide the width ${D} of ${xs}`);
      c.expectShape('weight', op.wqkv, [3 * D, D], 'in-projection [3D, D]');
      c.expectShape('bias', op.bqkv, [3 * D], 'in-projection bias [3D]');
      c.expectShape('weight', op.wo, [D, D], 'out-projection [D, D]');
      c.expectShape('bias', op.bo, [D], 'out-projection bias [D]');
      const scratch = 3 * T * D + op.heads * T * T;
      if (scratch > SPX_LIMITS.elements) throw new SpxError('TOO_LARGE', `${c.where}: attention over ${xs} with ${op.heads} heads needs more than 2^28 scratch elements`);
      return { out: x.shape, scratch };
    },
  },
  seqmean: {
    placement: 'new',
    infer(_op, x, c) { c.rank([2], 'a [T, D] activation'); return { out: [x.shape[1]], variable: false }; },
  },
  seqfirst: {
    placement: 'view',
    infer(_op, x, c) { c.rank([2], 'a [T, D] activation'); return { out: [x.shape[1]], variable: false }; },
  },
};

class BlockWalker {
  private readonly opShapes: OpShape[] = [];
  private readonly slots = new Map<string, { act: Act; max: number }>();
  private maxElements: number;
  private maxScratch = 0;
  private x: Act;
  private readonly start: Act;

  constructor(
    private readonly tensorShapes: Record<string, number[]>,
    input: Act,
    private readonly vocabSize: number,
  ) {
    this.x = input;
    this.start = input;
    this.maxElements = elementCount(input.shape, 'input');
  }

  step(op: Op, where: string): void {
    const x = this.x;
    const w = `${where} (${op.op})`;
    const mismatch = (msg: string): never => { throw new SpxError('SHAPE_MISMATCH', `${w}: ${msg}`); };
    const tensor = (field: string, name: string): number[] => {
      if (!Object.prototype.hasOwnProperty.call(this.tensorShapes, name)) {
        throw new SpxError('BAD_TENSOR', `${w}: ${field} '${name}' is not in the tensors table`);
      }
      return this.tensorShapes[name];
    };
    const ctx: RuleContext = {
      where: w,
      vocabSize: this.vocabSize,
      tensor,
      expectShape: (field, name, expected, meaning) => {
        const s = tensor(field, name);
        if (s.length !== expected.length || s.some((d, i) => d !== expected[i])) {
          mismatch(`${field} '${name}' is ${fmtShape(s)}, expected ${fmtShape(expected)} (${meaning})`);
        }
        return s;
      },
      mismatch,
      rank: (ranks, what) => { if (!ranks.includes(x.shape.length)) mismatch(`needs ${what}, got ${fmtShape(x.shape, x.variable)}`); },
      save: (name, a) => {
        const prev = this.slots.get(name);
        this.slots.set(name, { act: a, max: Math.max(prev?.max ?? 0, elementCount(a.shape, w)) });
      },
      saved: (name) => {
        const slot = this.slots.get(name);
        if (!slot) throw new SpxError('BAD_HEADER', `${w}: no earlier save in this block is named '${name}'`);
        return slot.act;
      },
    };
    if (x.tokens && op.op !== 'embed') mismatch(`receives token ids ${fmtShape(x.shape, x.variable)}; only embed takes token ids`);
    const rule = OP_RULES[op.op] as OpRule | undefined;
    if (!rule) throw new SpxError('UNKNOWN_OP', `${where}: unknown op ${describe(op.op)}`);
    const r = rule.infer(op, x, ctx);
    const out = r.out;
    const variable = r.variable ?? x.variable;
    const scratch = r.scratch ?? 0;
    const n = elementCount(out, `${w}: output`);
    this.maxElements = Math.max(this.maxElements, n);
    this.maxScratch = Math.max(this.maxScratch, scratch);
    this.x = { shape: out, tokens: false, variable };
    this.opShapes.push({ op: op.op, input: x.shape, output: out, variable, scratch });
  }

  get current(): Act { return this.x; }

  finish(): BlockShapes {
    const saveSlots = [...this.slots].map(([name, s]) => ({ name, elements: s.max }));
    return {
      input: this.start.shape, output: this.x.shape, inputVariable: this.start.variable, outputVariable: this.x.variable,
      inputIsTokens: this.start.tokens, ops: this.opShapes, maxElements: this.maxElements, maxScratch: this.maxScratch,
      saveSlots, saveElements: saveSlots.reduce((a, s) => a + s.elements, 0),
    };
  }
}

/**
 * Shapes through one block of ops (defaults filled in) from `input`, validating each op against it: the walk the
 * reader makes for every layer and exit, for tools and tests that build blocks op by op.
 */
export function inferBlock(ops: Op[], input: Act, tensorShapes: Record<string, number[]>, vocabSize = 0): BlockShapes {
  const walker = new BlockWalker(tensorShapes, input, vocabSize);
  ops.forEach((op, j) => walker.step(normalizeOp(op, `op ${j + 1}`), `op ${j + 1}`));
  return walker.finish();
}

function opsOf(block: unknown, where: string): unknown[] {
  if (!isObj(block)) throw new SpxError('BAD_HEADER', `${where} must be an object, got ${describe(block)}`);
  const ops = get(block, 'ops');
  if (!Array.isArray(ops)) throw new SpxError('BAD_HEADER', `${where}: field 'ops' must be an array, got ${describe(ops)}`);
  if (ops.length > SPX_LIMITS.opsPerBlock) throw new SpxError('TOO_LARGE', `${where} has ${ops.length} ops, more than ${SPX_LIMITS.opsPerBlock}`);
  return ops;
}

export interface ModelAnalysis { shapes: InferredShapes; layers: SpxLayer[]; exits: SpxExit[] }

/**
 * Validates `layers` and `exits` (structure, op fields, tensors' shapes) and infers every shape. Returns the
 * inferred shapes and the layers/exits with op defaults filled in. Used by the reader; `inferShapes` is the
 * public face.
 */
export function analyzeModel(
  header: Pick<SpxHeader, 'input' | 'classes' | 'layers' | 'exits'>,
  tensorShapes: Record<string, number[]>,
): ModelAnalysis {
  const h = header as unknown as Obj;
  const { shape: inShape, tokens, vocabSize } = inputShape(get(h, 'input'));
  const classes = get(h, 'classes');
  if (!Array.isArray(classes) || classes.length < 1) {
    throw new SpxError('BAD_HEADER', `header.classes must be a non-empty array, got ${describe(classes)}`);
  }
  const nClasses = classes.length;
  const rawLayers = get(h, 'layers');
  if (!Array.isArray(rawLayers) || rawLayers.length < 1) {
    throw new SpxError('BAD_HEADER', `header.layers must be a non-empty array, got ${describe(rawLayers)}`);
  }
  if (rawLayers.length > SPX_LIMITS.layers) {
    throw new SpxError('TOO_LARGE', `header.layers has ${rawLayers.length} layers, more than ${SPX_LIMITS.layers}`);
  }
  const rawExits = get(h, 'exits');
  if (!Array.isArray(rawExits)) throw new SpxError('BAD_HEADER', `header.exits must be an array, got ${describe(rawExits)}`);
  const L = rawLayers.length;
  if (rawExits.length !== L) {
    throw new SpxError('BAD_HEADER', `header.exits has ${rawExits.length} exits, expected one per layer (${L})`);
  }

  const layers: SpxLayer[] = [];
  const exits: SpxExit[] = [];
  const layerShapes: BlockShapes[] = [];
  const exitShapes: BlockShapes[] = [];
  let x: Act = { shape: inShape, tokens, variable: tokens };
  for (let i = 0; i < L; i++) {
    const where = `layer ${i + 1}`;
    const rawOps = opsOf(rawLayers[i], where);
    const name = get(rawLayers[i] as Obj, 'name');
    if (typeof name !== 'string') throw new SpxError('BAD_HEADER', `${where}: field 'name' must be a string, got ${describe(name)}`);
    const walker = new BlockWalker(tensorShapes, x, vocabSize);
    const ops = rawOps.map((r, j) => {
      const op = normalizeOp(r, `${where} op ${j + 1}`);
      walker.step(op, `${where} op ${j + 1}`);
      return op;
    });
    x = walker.current;
    if (x.tokens) throw new SpxError('SHAPE_MISMATCH', `${where} ends with token ids: a token model must embed them in layer 1`);
    layers.push({ ...(rawLayers[i] as Obj), name, ops });
    layerShapes.push(walker.finish());

    const ew = `exit ${i + 1}`;
    const rawExitOps = opsOf(rawExits[i], ew);
    const layer = get(rawExits[i] as Obj, 'layer');
    if (layer !== i + 1) {
      throw new SpxError('BAD_HEADER', `${ew}: field 'layer' is ${describe(layer)}, expected ${i + 1} (one exit per layer, in order)`);
    }
    const ewalker = new BlockWalker(tensorShapes, x, vocabSize);
    const eops = rawExitOps.map((r, j) => {
      const op = normalizeOp(r, `${ew} op ${j + 1}`);
      ewalker.step(op, `${ew} op ${j + 1}`);
      return op;
    });
    const last = eops[eops.length - 1];
    if (!last || last.op !== 'linear') {
      throw new SpxError('BAD_HEADER', `${ew}: must end in a linear to ${nClasses} classes, ends in ${last ? last.op : 'nothing (no ops)'}`);
    }
    const y = ewalker.current;
    if (y.variable || y.shape.length !== 1 || y.shape[0] !== nClasses) {
      throw new SpxError('SHAPE_MISMATCH',
        `${ew} op ${eops.length} (linear): produces ${fmtShape(y.shape, y.variable)}, expected [${nClasses}] (one logit per class)`);
    }
    exits.push({ ...(rawExits[i] as Obj), layer: i + 1, ops: eops });
    exitShapes.push(ewalker.finish());
  }

  const all = [...layerShapes, ...exitShapes];
  const shapes: InferredShapes = {
    layerInput: inShape,
    variableLength: tokens,
    layerOutputs: layerShapes.map((b) => b.output),
    layerOutputVariable: layerShapes.map((b) => b.outputVariable),
    exitOutputs: exitShapes.map(() => nClasses),
    layers: layerShapes,
    exits: exitShapes,
    maxElements: Math.max(...all.map((b) => b.maxElements)),
    maxScratch: Math.max(...all.map((b) => b.maxScratch)),
    maxSaveElements: Math.max(...all.map((b) => b.saveElements)),
  };
  return { shapes, layers, exits };
}

/**
 * Infers every activation shape of a model from its input through every layer and exit, validating each op
 * (SHAPE_MISMATCH, UNKNOWN_OP, BAD_HEADER for bad fields, BAD_TENSOR for a missing tensor, TOO_LARGE).
 * `tensorShapes` maps tensor names to their shapes (e.g. from `header.tensors`).
 */
export function inferShapes(
  header: Pick<SpxHeader, 'input' | 'classes' | 'layers' | 'exits'>,
  tensorShapes: Record<string, number[]>,
): InferredShapes {
  return analyzeModel(header, tensorShapes).shapes;
}
