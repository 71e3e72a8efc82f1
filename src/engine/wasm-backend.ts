// The WASM backend: runs the op set on the AssemblyScript SIMD kernels.
//
// Everything is placed at load time in the kernel instance's arena: packed weights, one buffer per slot of the
// buffer plan (src/engine/plan.ts, shared with the WebGPU backend), the kernels' scratch, the token-id buffer and
// the exit probabilities. The hot path only walks the plan's steps and passes offsets to kernels.
import type { Op, OpName, SpxModelFile } from '../format/index.js';
import { align, Kernels, loadKernels, MAX_MEMORY_BYTES, wasmSimdSupported, type KernelExports } from '../wasm/runtime.js';
import type { Backend } from './backend.js';
import { ACT } from './activations.js';
import { affineWidth, channelLayout, savedShape } from './broadcast.js';
import { planBuffers, shapeAt, TOKENS, type BlockPlan, type BufferPlan, type PlanStep } from './plan.js';
import { activationShapeAfter } from './shapes.js';
import { int8Rows } from './int8-weights.js';
import { EngineError, numel, type ExitResult, type ModelInput, type Tensor } from './types.js';
import { checkContinues, checkLayerRange, checkTokens } from './validate.js';

/** A weight in the arena; `scales` (int8 kinds only) points at its per-row f32 scales. */
interface Packed { ptr: number; shape: number[]; scales: number }

/**
 * A weight as the arena holds it: f32 as in the file, repacked into an f32 kernel's layout, or (the int8 path) int8
 * repacked for linear_q8 / conv2d_q8, or int8 rows as they are for embed_q8. `scaleBytes`: the int8 kinds' per-row
 * scales, padded with zeros to the kernel's column block.
 */
interface WeightSpec {
  name: string;
  kind: 'f32' | 'linear' | 'conv' | 'linear_q8' | 'conv_q8' | 'embed_q8';
  groups: number;
  bytes: number;
  scaleBytes: number;
}

/** Which arithmetic the WASM backend computes with (LoadOptions.precision). */
export type Precision = 'f32' | 'int8';

const isInt8Kind = (k: WeightSpec['kind']) => k === 'linear_q8' || k === 'conv_q8' || k === 'embed_q8';

/** Everything the backend places in its arena, in allocation order (bytes). */
interface WasmLayout {
  precision: Precision;
  weights: WeightSpec[];
  slots: number[];
  scratch: number;
  ids: number;
  probs: number;
  bytesOut: number;
}

const ARENA_ALIGN = 64;
const PAGE = 65536;

/** Fewest products per output (C·KH·KW, or a linear's K) for which an f32 weight is quantized at load. */
const MIN_INT8_K = 16;

/**
 * The weights a model's ops name, once each, in the order their ops come (layers, then exits). With precision
 * 'int8', the weights of linear, conv2d (groups = 1), attention (not causal) and embed are int8; every other weight
 * (depthwise and grouped convolutions, norms, biases) stays f32. A weight stored as int8 per channel is always used
 * as int8. An f32 weight is quantized at load only in the layers and only with at least MIN_INT8_K products per
 * output: the exit heads and tiny-K ops (a first 3×3 conv on one channel) are cheap and small, and rounding them to
 * int8 is what moves an f32 model's accuracy (fmnist-cnn: up to 0.7 points on the blurred stream).
 */
function weightSpecs(file: SpxModelFile, K: KernelExports, precision: Precision): WeightSpec[] {
  const out: WeightSpec[] = [];
  const seen = new Set<string>();
  const shapeOf = (n: string) => file.header.tensors[n].shape;
  const q8 = precision === 'int8';
  const pad = (n: number, m: number) => Math.ceil(n / m) * m;
  const add = (name: string | undefined, kind: WeightSpec['kind'], groups = 1) => {
    if (!name || seen.has(name)) return;
    seen.add(name);
    const s = shapeOf(name);
    const bytes = kind === 'linear' ? K.linear_packed_bytes(s[1], s[0])
      : kind === 'conv' ? K.conv2d_packed_bytes(s[1] * groups, s[0], s[2], s[3], groups)
      : kind === 'linear_q8' ? K.linear_q8_packed_bytes(s[1], s[0])
      : kind === 'conv_q8' ? K.conv2d_q8_packed_bytes(s[1], s[0], s[2], s[3])
      : kind === 'embed_q8' ? numel(s)
      : 4 * numel(s);
    const scaleBytes = kind === 'linear_q8' ? 4 * pad(s[0], 8) : kind === 'conv_q8' ? 4 * pad(s[0], 4) : kind === 'embed_q8' ? 4 * s[0] : 0;
    out.push({ name, kind, groups, bytes, scaleBytes });
  };
  const storedInt8 = (n: string) => { const e = file.header.tensors[n]; return e.dtype === 'i8' && !!e.quant && 'scales' in e.quant; };
  // int8 for this weight: stored so, or an f32 weight of a layer op with enough products per output
  const int8 = (n: string, inExit: boolean) => q8 && (storedInt8(n) || (!inExit && numel(shapeOf(n).slice(1)) >= MIN_INT8_K));
  const blocks = [...file.header.layers.map((b) => ({ b, inExit: false })), ...file.header.exits.map((b) => ({ b, inExit: true }))];
  for (const { b, inExit } of blocks) {
    for (const op of b.ops) {
      switch (op.op) {
        case 'linear': add(op.w, int8(op.w, inExit) ? 'linear_q8' : 'linear'); add(op.b, 'f32'); break;
        case 'conv2d': {
          const groups = op.groups ?? 1;
          add(op.w, groups === 1 && int8(op.w, inExit) ? 'conv_q8' : 'conv', groups); add(op.b, 'f32'); break;
        }
        case 'layernorm': add(op.g, 'f32'); add(op.b, 'f32'); break;
        case 'embed': add(op.tok, q8 && (storedInt8(op.tok) || !inExit) ? 'embed_q8' : 'f32'); add(op.pos, 'f32'); break;
        case 'affine': add(op.w, 'f32'); add(op.b, 'f32'); break;
        case 'attention': {
          // both projections int8 or neither (attention_q8 takes both packed so)
          const k = !op.causal && int8(op.wqkv, inExit) && int8(op.wo, inExit) ? 'linear_q8' : 'linear';
          add(op.wqkv, k); add(op.bqkv, 'f32'); add(op.wo, k); add(op.bo, 'f32'); break;
        }
        default: break;
      }
    }
  }
  return out;
}

/** The memory size the arena grows to for `layout` from `base`: packing a weight briefly needs its f32 copy above it. */
function arenaMemoryBytes(layout: WasmLayout, base: number, file: SpxModelFile): number {
  let top = base, high = base;
  const place = (bytes: number) => { top = align(top, ARENA_ALIGN) + bytes; high = Math.max(high, top); };
  for (const w of layout.weights) {
    place(w.bytes);
    if (w.scaleBytes) place(w.scaleBytes);
    // the f32 copy (or int8 rows) a weight is packed from lives above it while packing
    if (w.kind === 'linear' || w.kind === 'conv') high = Math.max(high, align(top, ARENA_ALIGN) + 4 * numel(file.header.tensors[w.name].shape));
    if (w.kind === 'linear_q8' || w.kind === 'conv_q8') high = Math.max(high, align(top, ARENA_ALIGN) + numel(file.header.tensors[w.name].shape));
  }
  for (const b of [...layout.slots, layout.scratch, layout.ids, layout.probs, 8, layout.bytesOut]) place(b);
  return Math.ceil(high / PAGE) * PAGE;
}

/** One step's buffers and shapes at run time; `res`: the residual fused into the step's epilogue (0 = none). */
interface StepIO { x: number; y: number; other: number; res: number; s: number[]; out: number[] }

/** A plan step as the WASM backend runs it: `res` is the slot of a residual added in its epilogue, or −1. */
export interface WasmStep { st: PlanStep; res: number }

/** Ops whose kernels take a residual (`res`) and add it after the activation. */
const RESIDUAL_OPS = new Set<OpName>(['linear', 'conv2d', 'attention']);

/**
 * The block's steps with every `add` that directly follows a linear, conv2d or attention, in place on its output,
 * fused into that kernel's epilogue: out = act(…) + saved, the same f32 additions as the two ops, one pass less over
 * the activation and one call less. Not fused when the saved operand lives in the output slot (the kernels' res must
 * not overlap out).
 */
export function fuseResiduals(block: BlockPlan): WasmStep[] {
  const out: WasmStep[] = [];
  const steps = block.steps;
  for (let i = 0; i < steps.length; i++) {
    const st = steps[i], next = steps[i + 1];
    if (RESIDUAL_OPS.has(st.op.op) && next?.op.op === 'add' && next.src === st.dst && next.dst === st.dst
      && next.other >= 0 && next.other !== st.dst) {
      out.push({ st, res: next.other });
      i++;
    } else {
      out.push({ st, res: -1 });
    }
  }
  return out;
}

/**
 * The gap and linear steps of an exit block made of gap, views and one linear without activation on an f32 weight
 * (`int8(w)`: whether the backend holds w as int8) over a fixed-size [C, H, W] input: the usual CNN head, which the
 * backend runs as one exit_gap_linear call. null for any other block.
 */
export function gapLinearSteps(block: BlockPlan, int8: (w: string) => boolean): { gap: PlanStep; linear: PlanStep } | null {
  const ops = block.steps.filter((st) => st.op.op !== 'flatten');
  if (ops.length !== 2) return null;
  const [g, l] = ops;
  if (g.op.op !== 'gap' || l.op.op !== 'linear' || (l.op.act ?? 'none') !== 'none' || int8(l.op.w)) return null;
  if (g.src === TOKENS || g.inShape.length !== 3 || g.inVariable) return null;
  return { gap: g, linear: l };
}

/** A CNN exit (gapLinearSteps) with its buffers in the arena. */
interface GapLinearExit { x: number; C: number; HW: number; w: number; b: number; N: number; feat: number; logits: number }

type WasmKernel<O extends Op> = (b: WasmBackend, op: O, io: StepIO, K: KernelExports) => void;

/** Each op of the op set on the WASM kernels: one entry per op (views and save have no kernel). */
const WASM_OPS: { [N in OpName]: WasmKernel<Extract<Op, { op: N }>> } = {
  conv2d: (b, op, { x, y, s, res }, K) => {
    const w = b.tensorShape(op.w);
    const q = b.scales(op.w);
    if (q) {
      K.conv2d_q8(x, b.w(op.w), q, b.w(op.b), y, s[0], s[1], s[2], w[0], w[2], w[3], op.stride ?? 1, op.pad ?? 0,
        ACT[op.act ?? 'none'], b.scratch, res);
      return;
    }
    K.conv2d(x, b.w(op.w), b.w(op.b), y, s[0], s[1], s[2], w[0], w[2], w[3], op.stride ?? 1, op.pad ?? 0, op.groups ?? 1,
      ACT[op.act ?? 'none'], b.scratch, res);
  },
  linear: (b, op, { x, y, s, res }, K) => {
    const [N, Kd] = b.tensorShape(op.w);
    const q = b.scales(op.w);
    if (q) K.linear_q8(x, b.w(op.w), q, b.w(op.b), y, numel(s) / Kd, Kd, N, ACT[op.act ?? 'none'], b.scratch, res);
    else K.linear(x, b.w(op.w), b.w(op.b), y, numel(s) / Kd, Kd, N, ACT[op.act ?? 'none'], res);
  },
  maxpool2d: (_b, op, { x, y, s }, K) => K.maxpool2d(x, y, s[0], s[1], s[2], op.k, op.stride ?? op.k, op.pad ?? 0),
  avgpool2d: (_b, op, { x, y, s }, K) => (op.excludePad && op.pad ? K.avgpool2d_exclude : K.avgpool2d)(x, y, s[0], s[1], s[2], op.k, op.stride ?? op.k, op.pad ?? 0),
  gap: (_b, _op, { x, y, s }, K) => K.gap(x, y, s[0], s[1] * s[2]),
  flatten: () => {},
  relu: (_b, _op, { x, y, s }, K) => K.relu(x, y, numel(s)),
  relu6: (_b, _op, { x, y, s }, K) => K.relu6(x, y, numel(s)),
  gelu: (_b, _op, { x, y, s }, K) => K.gelu(x, y, numel(s)),
  save: () => {},
  add: (_b, _op, { x, y, other, s }, K) => K.add(x, other, y, numel(s)),
  layernorm: (b, op, { x, y, s }, K) => {
    const D = s[s.length - 1];
    K.layernorm(x, b.w(op.g), b.w(op.b), y, numel(s) / D, D, op.eps ?? 1e-5);
  },
  embed: (b, op, { y, s }, K) => {
    const q = b.scales(op.tok);
    if (q) K.embed_q8(b.ids, s[0], b.w(op.tok), q, b.w(op.pos), b.tensorShape(op.tok)[1], y);
    else K.embed(b.ids, s[0], b.w(op.tok), b.w(op.pos), b.tensorShape(op.tok)[1], y);
  },
  attention: (b, op, { x, y, s, res }, K) => op.causal
    ? K.attention_causal(x, s[0], s[1], op.heads, b.w(op.wqkv), b.w(op.bqkv), b.w(op.wo), b.w(op.bo), op.window ?? 0, y, b.scratch, res)
    : b.scales(op.wqkv)
    ? K.attention_q8(x, s[0], s[1], op.heads, b.w(op.wqkv), b.scales(op.wqkv), b.w(op.bqkv), b.w(op.wo), b.scales(op.wo),
      b.w(op.bo), 0, op.window ?? 0, y, b.scratch, res)
    : K.attention(x, s[0], s[1], op.heads, b.w(op.wqkv), b.w(op.bqkv), b.w(op.wo), b.w(op.bo), 0,
    op.window ?? 0, y, b.scratch, res),
  seqmean: (_b, _op, { x, y, s }, K) => K.seqmean(x, y, s[0], s[1]),
  seqfirst: () => {}, // row 0 already starts the buffer: a view
  sigmoid: (_b, _op, { x, y, s }, K) => K.sigmoid(x, y, numel(s)),
  tanh: (_b, _op, { x, y, s }, K) => K.tanh(x, y, numel(s)),
  gelu_tanh: (_b, _op, { x, y, s }, K) => K.gelu_tanh(x, y, numel(s)),
  hardsigmoid: (_b, op, { x, y, s }, K) => K.hardsigmoid(x, y, numel(s), op.alpha ?? 0.2, op.beta ?? 0.5),
  hardswish: (_b, _op, { x, y, s }, K) => K.hardswish(x, y, numel(s)),
  clip: (_b, op, { x, y, s }, K) => K.clip(x, y, numel(s), op.min ?? -Infinity, op.max ?? Infinity),
  affine: (b, op, { x, y, s }, K) => {
    const [outer, C, inner] = channelLayout(s, affineWidth(op, (n) => b.tensorShape(n)));
    K.affine(x, b.w(op.w), b.w(op.b), y, outer, C, inner);
  },
  mul: (b, op, { x, y, other, s, out }, K) => {
    const saved = savedShape(b.plan, op, s.length === 2 || out.length === 2 ? (s.length === 2 ? s[0] : out[0]) : 0);
    if (numel(saved) === numel(s)) K.mul(x, other, y, numel(s));
    else if (numel(s) > numel(saved)) K.affine(x, other, 0, y, ...channelLayout(s, saved[0]));
    else K.affine(other, x, 0, y, ...channelLayout(out, s[0]));
  },
  pad: (_b, op, { x, y, s }, K) => K.pad2d(x, y, s[0], s[1], s[2], op.top ?? 0, op.bottom ?? 0, op.left ?? 0, op.right ?? 0),
  concat: (_b, op, { x, y, other, s, out }, K) => {
    const nx = numel(s), ns = numel(out) - nx;
    if (op.xFirst) K.concat(x, nx, other, ns, y);
    else K.concat(other, ns, x, nx, y);
  },
};

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly plan: BufferPlan;
  private readonly kernels: Kernels;
  private readonly file: SpxModelFile;
  private readonly weights = new Map<string, Packed>(); // tensor name → f32 or packed-linear/conv weight in the arena
  /** One arena buffer per slot of the plan. */
  private readonly slots: number[];
  /** The plan's layer and exit blocks with residual adds fused (fuseResiduals). */
  private readonly layerSteps: WasmStep[][];
  private readonly exitSteps: WasmStep[][];
  /** Per exit: its one-call form when it is a CNN head (gap → linear), else null. */
  private readonly gapLinearExits: (GapLinearExit | null)[];
  readonly scratch: number;
  readonly ids: number;
  private readonly probs: number;
  private readonly range: number; // minmax's [min, max]
  private readonly bytesOut: number; // readInt8's bytes
  private T = 0; // token count of the current input (token models)
  private curLayer = -1; // the layer whose output is current (0 = the raw input loaded)
  private disposed = false;
  /** 'int8' when the model's linear, conv (groups = 1), attention and embedding weights are int8 (LoadOptions.precision). */
  readonly precision: Precision;

  private constructor(kernels: Kernels, file: SpxModelFile, plan: BufferPlan, layout: WasmLayout) {
    this.kernels = kernels;
    this.file = file;
    this.plan = plan;
    this.precision = layout.precision;
    for (const w of layout.weights) {
      if (w.kind === 'f32') this.weights.set(w.name, { ptr: kernels.putF32(file.tensor(w.name)), shape: this.tensorShape(w.name), scales: 0 });
      else if (isInt8Kind(w.kind)) this.putInt8(w);
      else this.putPacked(w);
    }
    this.slots = layout.slots.map((b) => kernels.alloc(b));
    this.layerSteps = plan.layers.map(fuseResiduals);
    this.exitSteps = plan.exits.map(fuseResiduals);
    this.gapLinearExits = plan.exits.map((block) => this.gapLinearExit(block));
    this.scratch = kernels.alloc(layout.scratch);
    this.ids = kernels.alloc(layout.ids);
    this.probs = kernels.alloc(layout.probs);
    this.range = kernels.alloc(8);
    this.bytesOut = kernels.alloc(layout.bytesOut);
  }

  /**
   * Plans the model (buffers, packed weights, scratch) and checks that it fits before anything is allocated:
   * TOO_LARGE when it needs more than `maxMemoryBytes` or than a WASM memory can hold; NO_SIMD on a runtime whose
   * WebAssembly lacks SIMD.
   */
  static async create(file: SpxModelFile, opts: { maxMemoryBytes?: number; precision?: Precision } = {}): Promise<WasmBackend> {
    const precision = opts.precision ?? 'f32';
    if (precision !== 'f32' && precision !== 'int8') {
      throw new EngineError('BAD_INPUT', `precision must be 'f32' or 'int8', got ${String(precision)}`);
    }
    if (!wasmSimdSupported()) {
      throw new EngineError('NO_SIMD', 'this runtime\'s WebAssembly has no SIMD, which the WASM backend needs (Node ≥ 16.4, Chrome ≥ 91, Firefox ≥ 89, Safari ≥ 16.4, Deno, Bun, workerd have it)');
    }
    const limit = Math.min(opts.maxMemoryBytes ?? Infinity, MAX_MEMORY_BYTES);
    const what = opts.maxMemoryBytes !== undefined && opts.maxMemoryBytes < MAX_MEMORY_BYTES ? `maxMemoryBytes (${opts.maxMemoryBytes})` : `a WASM memory's ${MAX_MEMORY_BYTES} bytes`;
    const plan = planBuffers(file);
    // A first bound from the shapes alone (packed weights are never smaller than f32, int8 ones than a byte per
    // value), before the kernels compute sizes.
    let lower = plan.activationBytes;
    for (const t of Object.values(file.header.tensors)) lower += (precision === 'int8' ? 1 : 4) * numel(t.shape);
    if (lower > limit) throw new EngineError('TOO_LARGE', `${file.header.name} needs at least ${lower} bytes (weights as f32 and planned activations), more than ${what}`);
    const kernels = await loadKernels();
    const K = kernels.exports;
    const weights = weightSpecs(file, K, precision);
    const int8 = new Set(weights.filter((w) => isInt8Kind(w.kind)).map((w) => w.name));
    let scratch = 0;
    for (const block of [...plan.layers, ...plan.exits]) {
      for (const st of block.steps) {
        const s = st.inShape, op = st.op;
        if (op.op === 'conv2d') {
          const w = file.header.tensors[op.w].shape;
          scratch = Math.max(scratch, int8.has(op.w)
            ? K.conv2d_q8_scratch_bytes(s[0], s[1], s[2], w[0], w[2], w[3], op.stride ?? 1, op.pad ?? 0)
            : K.conv2d_scratch_bytes(s[0], s[1], s[2], w[0], w[2], w[3], op.stride ?? 1, op.pad ?? 0, op.groups ?? 1));
        } else if (op.op === 'linear' && int8.has(op.w)) {
          const Kd = file.header.tensors[op.w].shape[1];
          scratch = Math.max(scratch, K.linear_q8_scratch_bytes(numel(s) / Kd, Kd));
        } else if (op.op === 'attention') {
          scratch = Math.max(scratch, int8.has(op.wqkv) ? K.attention_q8_scratch_bytes(s[0], s[1], op.heads) : K.attention_scratch_bytes(s[0], s[1], op.heads));
          if (op.causal) scratch = Math.max(scratch, K.attention_causal_scratch_bytes(s[0], s[1]));
        }
      }
    }
    const h = file.header;
    const layout: WasmLayout = {
      precision,
      weights,
      slots: plan.slots.map((n) => n * 4),
      scratch,
      ids: (h.input.kind === 'tokens' ? h.input.maxLen : 1) * 4,
      probs: h.classes.length * 4,
      bytesOut: plan.maxLayerOutput,
    };
    const need = arenaMemoryBytes(layout, kernels.mark(), file);
    if (need > limit) throw new EngineError('TOO_LARGE', `${h.name} needs ${need} bytes of WASM memory, more than ${what}`);
    return new WasmBackend(kernels, file, plan, layout);
  }

  /** Bytes of WASM linear memory this model holds (weights + planned buffers). */
  get memoryBytes(): number { return this.kernels.memory.buffer.byteLength; }

  tensorShape(name: string): number[] {
    const e = this.file.header.tensors[name];
    if (!e) throw new EngineError('BAD_INPUT', `tensor '${name}' is not in the model`);
    return e.shape;
  }

  /** A linear or conv weight in its kernel's packed layout; its f32 copy lives above it only while packing. */
  private putPacked(w: WeightSpec): void {
    const k = this.kernels, K = k.exports;
    const shape = this.tensorShape(w.name);
    const dst = k.alloc(w.bytes);
    const mark = k.mark();
    const src = k.putF32(this.file.tensor(w.name));
    if (w.kind === 'linear') K.linear_pack(src, dst, shape[1], shape[0]);
    else K.conv2d_pack(src, dst, shape[1] * w.groups, shape[0], shape[2], shape[3], w.groups);
    k.release(mark);
    this.weights.set(w.name, { ptr: dst, shape, scales: 0 });
  }

  /** An int8 weight (int8-weights.ts): packed for its kernel, or as rows for the embedding; its scales beside it. */
  private putInt8(w: WeightSpec): void {
    const k = this.kernels, K = k.exports;
    const shape = this.tensorShape(w.name);
    const rows = int8Rows(this.file, w.name);
    const dst = k.alloc(w.bytes);
    const scales = k.alloc(w.scaleBytes);
    const sv = k.f32(scales, w.scaleBytes / 4);
    sv.fill(0);
    sv.set(rows.scales);
    if (w.kind === 'embed_q8') {
      k.i8(dst, rows.q.length).set(rows.q);
    } else {
      const mark = k.mark();
      const src = k.alloc(rows.q.length);
      k.i8(src, rows.q.length).set(rows.q);
      if (w.kind === 'linear_q8') K.linear_q8_pack(src, dst, shape[1], shape[0]);
      else K.conv2d_q8_pack(src, dst, shape[1], shape[0], shape[2], shape[3]);
      k.release(mark);
    }
    this.weights.set(w.name, { ptr: dst, shape, scales });
  }

  /** The exit_gap_linear call of an exit block (gapLinearSteps) with its input and scratch buffers, or null. */
  private gapLinearExit(block: BlockPlan): GapLinearExit | null {
    const found = gapLinearSteps(block, (w) => this.scales(w) !== 0);
    if (!found) return null;
    const { gap: g, linear: l } = found;
    if (l.op.op !== 'linear') return null;
    const [N] = this.tensorShape(l.op.w);
    return {
      x: this.slots[g.src], C: g.inShape[0], HW: g.inShape[1] * g.inShape[2], w: this.w(l.op.w), b: this.w(l.op.b), N,
      feat: this.slots[g.dst], logits: this.slots[l.dst],
    };
  }

  /** The per-row scales of an int8 weight, 0 when the weight is not int8. */
  scales(name: string): number {
    return this.weights.get(name)?.scales ?? 0;
  }

  w(name: string | undefined): number {
    if (!name) return 0;
    const p = this.weights.get(name);
    if (!p) throw new EngineError('BAD_INPUT', `tensor '${name}' was not uploaded`);
    return p.ptr;
  }

  private check(): void {
    if (this.disposed) throw new EngineError('DISPOSED', 'this model was disposed');
  }

  private slotPtr(slot: number): number { return slot === TOKENS ? this.ids : this.slots[slot]; }

  async run(input: ModelInput | null, from: number, to: number): Promise<void> {
    this.runSync(input, from, to);
  }

  runSync(input: ModelInput | null, from: number, to: number): void {
    this.check();
    checkLayerRange(this.file.header.layers.length, from, to);
    if (input === null) checkContinues(this.curLayer, from);
    else this.load(input, from - 1);
    for (let l = from; l <= to; l++) {
      this.exec(this.layerSteps[l - 1]);
      this.curLayer = l;
    }
  }

  /** Puts `input` (the output of layer `after`, or the model input when after = 0) into that layer's slot. */
  private load(input: ModelInput, after: number): void {
    const h = this.file.header;
    const kern = this.kernels;
    this.curLayer = -1;
    if (after === 0 && h.input.kind === 'tokens') {
      checkTokens(h, input);
      this.T = input.length;
      kern.i32(this.ids, this.T).set(input);
      this.curLayer = 0;
      return;
    }
    const t: Tensor = input instanceof Float32Array ? { shape: after === 0 && h.input.kind === 'image' ? h.input.shape : [input.length], data: input }
      : input instanceof Int32Array ? (() => { throw new EngineError('BAD_INPUT', `layer ${after + 1} takes an f32 activation, not token ids`); })()
      : input;
    const expected = activationShapeAfter(this.file, after, t.shape);
    if (t.data.length !== numel(expected)) {
      throw new EngineError('BAD_ACTIVATION', `the input of layer ${after + 1} must have shape [${expected}] (${numel(expected)} values), got ${t.data.length} values`);
    }
    if (h.input.kind === 'tokens') this.T = expected[0];
    kern.f32(this.slotPtr(this.plan.layerSlot[after]), t.data.length).set(t.data);
    this.curLayer = after;
  }

  /** Runs one block of the plan; returns the shape of its result. */
  private exec(steps: WasmStep[]): number[] {
    const K = this.kernels.exports;
    const T = this.T;
    let out: number[] = [];
    for (const { st, res } of steps) {
      const s = shapeAt(st.inShape, st.inVariable, T);
      out = shapeAt(st.outShape, st.outVariable, T);
      const io: StepIO = {
        x: this.slotPtr(st.src), y: this.slotPtr(st.dst), other: st.other >= 0 ? this.slots[st.other] : 0,
        res: res >= 0 ? this.slots[res] : 0, s, out,
      };
      (WASM_OPS[st.op.op] as WasmKernel<Op>)(this, st.op, io, K);
    }
    return out;
  }

  private curShape(): number[] {
    const l = this.curLayer;
    const sh = this.file.shapes;
    return l === 0 ? shapeAt(sh.layerInput, sh.variableLength, this.T) : shapeAt(sh.layerOutputs[l - 1], sh.layerOutputVariable[l - 1], this.T);
  }

  private curPtr(): number { return this.slotPtr(this.plan.layerSlot[this.curLayer]); }

  async exit(k: number): Promise<ExitResult> {
    return this.exitSync(k);
  }

  exitSync(k: number): ExitResult {
    this.check();
    if (this.curLayer !== k || k < 1) {
      throw new EngineError('BAD_RANGE', `exit ${k} needs the output of layer ${k}; the current activation is the output of layer ${this.curLayer}`);
    }
    const K = this.kernels.exports;
    const fused = this.gapLinearExits[k - 1];
    let N: number, label: number;
    if (fused) {
      N = fused.N;
      label = K.exit_gap_linear(fused.x, fused.C, fused.HW, fused.w, fused.b, N, fused.feat, fused.logits, this.probs);
    } else {
      N = numel(this.exec(this.exitSteps[k - 1]));
      label = K.exit_head(this.slotPtr(this.plan.exits[k - 1].output), this.probs, N);
    }
    const probs = this.kernels.f32(this.probs, N).slice();
    return { probs, confidence: probs[label], label };
  }

  async read(): Promise<Tensor> {
    return this.readSync();
  }

  readSync(): Tensor {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const shape = this.curShape();
    return { shape, data: this.kernels.f32(this.curPtr(), numel(shape)).slice() };
  }

  async activationRange(): Promise<[number, number]> {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    this.kernels.exports.minmax(this.curPtr(), numel(this.curShape()), this.range);
    const r = this.kernels.f32(this.range, 2);
    return [r[0], r[1]];
  }

  async readInt8(scale: number, zeroPoint: number): Promise<{ shape: number[]; data: Int8Array }> {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const shape = this.curShape();
    const n = numel(shape);
    this.kernels.exports.quantize_i8(this.curPtr(), this.bytesOut, n, scale, zeroPoint);
    return { shape, data: this.kernels.i8(this.bytesOut, n).slice() };
  }

  dispose(): void { this.disposed = true; }
}
