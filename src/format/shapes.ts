// Op validation and shape inference for `.spx` models: walks every layer and exit from `input`, checking each op's
// fields and tensors against the activation it receives, and records the sizes the engine plans its buffers with.
//
// Token models take a variable number of tokens T (1 ≤ T ≤ maxLen). Shapes are inferred at T = maxLen; an
// activation whose dim 0 is T carries `variable: true`. Nothing may turn T into a fixed size (flatten of a
// sequence is refused), so every shape that is not flagged is the same for every T.
import { SpxError } from './errors.js';
import {
  ACTIVATIONS, OP_NAMES, SPX_LIMITS,
  type Activation, type Op, type OpName, type SpxExit, type SpxHeader, type SpxInput, type SpxLayer,
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
      return {
        op: 'attention', heads: intField(v, 1, `${w}: field 'heads'`),
        wqkv: strField(raw, 'wqkv', w), bqkv: strField(raw, 'bqkv', w), wo: strField(raw, 'wo', w), bo: strField(raw, 'bo', w),
        window: optInt(raw, 'window', 0, 0, w),
      };
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

interface Act { shape: number[]; tokens: boolean; variable: boolean }

class BlockWalker {
  private readonly opShapes: OpShape[] = [];
  private readonly slots = new Map<string, { act: Act; max: number }>();
  private maxElements: number;
  private maxScratch = 0;
  private x: Act;
  private readonly start: Act;

  constructor(
    private readonly tensorShapes: Record<string, number[]>,
    private readonly input: Act,
    private readonly vocabSize: number,
  ) {
    this.x = input;
    this.start = input;
    this.maxElements = elementCount(input.shape, 'input');
  }

  private tensor(where: string, field: string, name: string): number[] {
    if (!Object.prototype.hasOwnProperty.call(this.tensorShapes, name)) {
      throw new SpxError('BAD_TENSOR', `${where}: ${field} '${name}' is not in the tensors table`);
    }
    return this.tensorShapes[name];
  }

  private expectShape(where: string, field: string, name: string, expected: number[], meaning: string): number[] {
    const s = this.tensor(where, field, name);
    if (s.length !== expected.length || s.some((d, i) => d !== expected[i])) {
      throw new SpxError('SHAPE_MISMATCH', `${where}: ${field} '${name}' is ${fmtShape(s)}, expected ${fmtShape(expected)} (${meaning})`);
    }
    return s;
  }

  private mismatch(where: string, msg: string): never {
    throw new SpxError('SHAPE_MISMATCH', `${where}: ${msg}`);
  }

  step(op: Op, where: string): void {
    const x = this.x;
    const w = `${where} (${op.op})`;
    const xs = fmtShape(x.shape, x.variable);
    if (x.tokens && op.op !== 'embed') this.mismatch(w, `receives token ids ${xs}; only embed takes token ids`);
    const rank = (r: number[], what: string) => {
      if (!r.includes(x.shape.length)) this.mismatch(w, `needs ${what}, got ${xs}`);
    };
    let out: number[];
    let variable = x.variable;
    let scratch = 0;
    switch (op.op) {
      case 'conv2d': {
        rank([3], 'a [C, H, W] activation');
        const [C, H, W] = x.shape;
        const ws = this.tensor(w, 'weight', op.w);
        if (ws.length !== 4) this.mismatch(w, `weight '${op.w}' is ${fmtShape(ws)}, expected [OC, C/groups, KH, KW]`);
        const [OC, CG, KH, KW] = ws;
        const groups = op.groups ?? 1, stride = op.stride ?? 1, pad = op.pad ?? 0;
        if (C % groups !== 0) this.mismatch(w, `groups ${groups} does not divide the ${C} input channels of ${xs}`);
        if (OC % groups !== 0) this.mismatch(w, `groups ${groups} does not divide the ${OC} output channels of weight '${op.w}'`);
        if (CG * groups !== C) {
          this.mismatch(w, groups === 1
            ? `weight '${op.w}' has ${CG} input channels, activation has ${C}`
            : `weight '${op.w}' has ${CG} input channels per group × ${groups} groups = ${CG * groups}, activation has ${C}`);
        }
        if (op.b !== undefined) this.expectShape(w, 'bias', op.b, [OC], 'one per output channel');
        if (H + 2 * pad < KH || W + 2 * pad < KW) {
          this.mismatch(w, `kernel ${KH}×${KW} is larger than the padded input ${H + 2 * pad}×${W + 2 * pad}`);
        }
        out = [OC, Math.floor((H + 2 * pad - KH) / stride) + 1, Math.floor((W + 2 * pad - KW) / stride) + 1];
        break;
      }
      case 'linear': {
        rank([1, 2], 'a [K] or [M, K] activation');
        if (x.variable && x.shape.length === 1) this.mismatch(w, `input ${xs} has a variable length`);
        const K = x.shape[x.shape.length - 1];
        const ws = this.tensor(w, 'weight', op.w);
        if (ws.length !== 2) this.mismatch(w, `weight '${op.w}' is ${fmtShape(ws)}, expected [N, K]`);
        const [N, WK] = ws;
        if (WK !== K) this.mismatch(w, `weight '${op.w}' has ${WK} inputs (K), activation ${xs} has ${K}`);
        if (op.b !== undefined) this.expectShape(w, 'bias', op.b, [N], 'one per output');
        out = x.shape.length === 1 ? [N] : [x.shape[0], N];
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d': {
        rank([3], 'a [C, H, W] activation');
        const [C, H, W] = x.shape;
        const k = op.k, stride = op.stride ?? k, pad = op.pad ?? 0;
        if (H + 2 * pad < k || W + 2 * pad < k) this.mismatch(w, `window ${k}×${k} is larger than the padded input ${H + 2 * pad}×${W + 2 * pad}`);
        out = [C, Math.floor((H + 2 * pad - k) / stride) + 1, Math.floor((W + 2 * pad - k) / stride) + 1];
        break;
      }
      case 'gap':
        rank([3], 'a [C, H, W] activation');
        out = [x.shape[0]];
        break;
      case 'flatten':
        if (x.variable) this.mismatch(w, `cannot flatten ${xs}: its size would depend on the token count T`);
        out = [elementCount(x.shape, w)];
        break;
      case 'relu':
      case 'relu6':
      case 'gelu':
        out = x.shape;
        break;
      case 'save': {
        const prev = this.slots.get(op.name);
        const n = elementCount(x.shape, w);
        this.slots.set(op.name, { act: x, max: Math.max(prev?.max ?? 0, n) });
        out = x.shape;
        break;
      }
      case 'add': {
        const slot = this.slots.get(op.name);
        if (!slot) throw new SpxError('BAD_HEADER', `${w}: no earlier save in this block is named '${op.name}'`);
        const s = slot.act;
        if (s.variable !== x.variable || s.shape.length !== x.shape.length || s.shape.some((d, i) => d !== x.shape[i])) {
          this.mismatch(w, `activation ${xs} and saved '${op.name}' ${fmtShape(s.shape, s.variable)} differ`);
        }
        out = x.shape;
        break;
      }
      case 'layernorm': {
        const D = x.shape[x.shape.length - 1];
        if (x.variable && x.shape.length === 1) this.mismatch(w, `input ${xs} has a variable length`);
        this.expectShape(w, 'gain', op.g, [D], 'the last dim of the activation');
        this.expectShape(w, 'bias', op.b, [D], 'the last dim of the activation');
        out = x.shape;
        break;
      }
      case 'embed': {
        if (!x.tokens) this.mismatch(w, `needs token ids, got a float activation ${xs}`);
        const T = x.shape[0];
        const tok = this.tensor(w, 'table', op.tok);
        if (tok.length !== 2) this.mismatch(w, `token table '${op.tok}' is ${fmtShape(tok)}, expected [V, D]`);
        const [V, D] = tok;
        if (V < this.vocabSize) this.mismatch(w, `token table '${op.tok}' has ${V} rows, the vocabulary has ${this.vocabSize} ids`);
        const pos = this.tensor(w, 'table', op.pos);
        if (pos.length !== 2) this.mismatch(w, `position table '${op.pos}' is ${fmtShape(pos)}, expected [P, D]`);
        if (pos[1] !== D) this.mismatch(w, `position table '${op.pos}' has width ${pos[1]}, token table '${op.tok}' has ${D}`);
        if (pos[0] < T) this.mismatch(w, `position table '${op.pos}' has ${pos[0]} rows, sequences have up to ${T} tokens`);
        out = [T, D];
        break;
      }
      case 'attention': {
        rank([2], 'a [T, D] activation');
        const [T, D] = x.shape;
        if (D % op.heads !== 0) this.mismatch(w, `${op.heads} heads do not divide the width ${D} of ${xs}`);
        this.expectShape(w, 'weight', op.wqkv, [3 * D, D], 'in-projection [3D, D]');
        this.expectShape(w, 'bias', op.bqkv, [3 * D], 'in-projection bias [3D]');
        this.expectShape(w, 'weight', op.wo, [D, D], 'out-projection [D, D]');
        this.expectShape(w, 'bias', op.bo, [D], 'out-projection bias [D]');
        scratch = 3 * T * D + op.heads * T * T;
        if (scratch > SPX_LIMITS.elements) throw new SpxError('TOO_LARGE', `${w}: attention over ${xs} with ${op.heads} heads needs more than 2^28 scratch elements`);
        out = x.shape;
        break;
      }
      case 'seqmean':
      case 'seqfirst':
        rank([2], 'a [T, D] activation');
        out = [x.shape[1]];
        variable = false;
        break;
      default: {
        const never: never = op;
        throw new SpxError('UNKNOWN_OP', `${where}: unknown op ${describe((never as { op: unknown }).op)}`);
      }
    }
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
