// The WebGPU backend: the engine's op set on the WGSL kernels of ./ops.
//
// Weights are uploaded once, at load, as f32 GPU buffers in their file layouts (the kernels read PyTorch layouts
// directly). Activations live in pooled GPU buffers and never come back to the CPU on their own: run() only records
// and submits dispatches; exit() reads back the N + 1 floats of one exit head; read() reads the current activation
// (the offload case). Nothing else crosses.
//
// Activations live in one storage buffer per slot of the buffer plan (src/engine/plan.ts, shared with the WASM
// backend), allocated at load: the plan says which slot every op reads and writes, so the hot path only records
// dispatches. Later dispatches run after earlier ones, so a slot may be rewritten while earlier reads are queued.
import type { Backend } from '../engine/backend.js';
import { planBuffers, shapeAt, TOKENS, type BlockPlan, type BufferPlan } from '../engine/plan.js';
import { activationShapeAfter } from '../engine/shapes.js';
import { EngineError, numel, type ExitResult, type ModelInput, type Tensor } from '../engine/types.js';
import type { Op, OpName, SpxModelFile } from '../format/index.js';
import { GpuContext } from './context.js';
import { deviceFromAdapter } from './device.js';
import { add } from './ops/add.js';
import { attention } from './ops/attention.js';
import { avgpool2d } from './ops/avgpool2d.js';
import { avgpool2dExclude } from './ops/avgpool2d-exclude.js';
import { attentionCausal } from './ops/attention-causal.js';
import { conv2d } from './ops/conv2d.js';
import { embed } from './ops/embed.js';
import { decodeExitHead, exitHead, exitHeadOutBytes } from './ops/exit-head.js';
import { gap } from './ops/gap.js';
import { gelu } from './ops/gelu.js';
import { layernorm } from './ops/layernorm.js';
import { linear } from './ops/linear.js';
import { maxpool2d } from './ops/maxpool2d.js';
import { minmax } from './ops/minmax.js';
import { quantizedBytes, quantizeI8 } from './ops/quantize-i8.js';
import { relu } from './ops/relu.js';
import { relu6 } from './ops/relu6.js';
import { seqmean } from './ops/seqmean.js';
import { clip } from './ops/clip.js';
import { geluTanh } from './ops/gelu-tanh.js';
import { hardsigmoid } from './ops/hardsigmoid.js';
import { hardswish } from './ops/hardswish.js';
import { sigmoid } from './ops/sigmoid.js';
import { tanh } from './ops/tanh.js';
import { affine } from './ops/affine.js';
import { mul } from './ops/mul.js';
import { pad } from './ops/pad.js';
import { concat } from './ops/concat.js';
import { affineWidth, channelLayout, savedShape } from '../engine/broadcast.js';
import { checkContinues, checkLayerRange, checkTokens } from '../engine/validate.js';

/** One step's buffers and shapes at run time. */
interface StepIO { x: GPUBuffer; y: GPUBuffer; other: GPUBuffer | null; s: number[]; out: number[] }

type GpuKernel<O extends Op> = (b: WebGpuBackend, op: O, io: StepIO) => void;

/** Each op of the op set on the WGSL kernels: one entry per op (views and save have no kernel). */
const layout = ([outer, C, inner]: [number, number, number]) => ({ outer, C, inner });

const WEBGPU_OPS: { [N in OpName]: GpuKernel<Extract<Op, { op: N }>> } = {
  conv2d: (b, op, { x, y, s }) => {
    const [OC, , KH, KW] = b.tensorShape(op.w);
    conv2d(b.ctx, { x, w: b.w(op.w), b: b.w(op.b), out: y, C: s[0], H: s[1], W: s[2], OC, KH, KW,
      stride: op.stride ?? 1, pad: op.pad ?? 0, groups: op.groups ?? 1, act: op.act ?? 'none' });
  },
  linear: (b, op, { x, y, s }) => {
    const [N, K] = b.tensorShape(op.w);
    linear(b.ctx, { x, w: b.w(op.w), b: b.w(op.b), out: y, M: numel(s) / K, K, N, act: op.act ?? 'none' });
  },
  maxpool2d: (b, op, { x, y, s }) => maxpool2d(b.ctx, { x, out: y, C: s[0], H: s[1], W: s[2], k: op.k, stride: op.stride ?? op.k, pad: op.pad ?? 0 }),
  avgpool2d: (b, op, { x, y, s }) => (op.excludePad && op.pad ? avgpool2dExclude : avgpool2d)(b.ctx, { x, out: y, C: s[0], H: s[1], W: s[2], k: op.k, stride: op.stride ?? op.k, pad: op.pad ?? 0 }),
  gap: (b, _op, { x, y, s }) => gap(b.ctx, { x, out: y, C: s[0], HW: s[1] * s[2] }),
  flatten: () => {},
  relu: (b, _op, { x, y, s }) => relu(b.ctx, { x, out: y, n: numel(s) }),
  relu6: (b, _op, { x, y, s }) => relu6(b.ctx, { x, out: y, n: numel(s) }),
  gelu: (b, _op, { x, y, s }) => gelu(b.ctx, { x, out: y, n: numel(s) }),
  save: () => {},
  add: (b, _op, { x, y, other, s }) => add(b.ctx, { a: x, b: other!, out: y, n: numel(s) }),
  layernorm: (b, op, { x, y, s }) => {
    const D = s[s.length - 1];
    layernorm(b.ctx, { x, g: b.w(op.g), b: b.w(op.b), out: y, rows: numel(s) / D, D, eps: op.eps ?? 1e-5 });
  },
  embed: (b, op, { x, y, s }) => {
    const [V, D] = b.tensorShape(op.tok);
    embed(b.ctx, { ids: x, tok: b.w(op.tok), pos: b.w(op.pos), out: y, T: s[0], D, V, P: b.tensorShape(op.pos)[0] });
  },
  attention: (b, op, { x, y, s }) => (op.causal ? attentionCausal : attention)(b.ctx, { x, T: s[0], D: s[1], heads: op.heads, wqkv: b.w(op.wqkv), bqkv: b.w(op.bqkv),
    wo: b.w(op.wo), bo: b.w(op.bo), out: y, window: op.window ?? 0 }),
  seqmean: (b, _op, { x, y, s }) => seqmean(b.ctx, { x, out: y, T: s[0], D: s[1] }),
  seqfirst: () => {}, // row 0 already starts the buffer: a view
  sigmoid: (b, _op, { x, y, s }) => sigmoid(b.ctx, { x, out: y, n: numel(s) }),
  tanh: (b, _op, { x, y, s }) => tanh(b.ctx, { x, out: y, n: numel(s) }),
  gelu_tanh: (b, _op, { x, y, s }) => geluTanh(b.ctx, { x, out: y, n: numel(s) }),
  hardsigmoid: (b, op, { x, y, s }) => hardsigmoid(b.ctx, { x, out: y, n: numel(s), alpha: op.alpha ?? 0.2, beta: op.beta ?? 0.5 }),
  hardswish: (b, _op, { x, y, s }) => hardswish(b.ctx, { x, out: y, n: numel(s) }),
  clip: (b, op, { x, y, s }) => clip(b.ctx, { x, out: y, n: numel(s), min: op.min, max: op.max }),
  affine: (b, op, { x, y, s }) => {
    const [outer, C, inner] = channelLayout(s, affineWidth(op, (n) => b.tensorShape(n)));
    affine(b.ctx, { x, w: b.w(op.w), b: b.w(op.b), out: y, outer, C, inner });
  },
  mul: (b, op, { x, y, other, s, out }) => {
    const saved = savedShape(b.plan, op, s.length === 2 ? s[0] : out.length === 2 ? out[0] : 0);
    if (numel(saved) === numel(s)) mul(b.ctx, { a: x, b: other!, out: y, n: numel(s) });
    else if (numel(s) > numel(saved)) affine(b.ctx, { x, w: other!, b: null, out: y, ...layout(channelLayout(s, saved[0])) });
    else affine(b.ctx, { x: other!, w: x, b: null, out: y, ...layout(channelLayout(out, s[0])) });
  },
  pad: (b, op, { x, y, s }) => pad(b.ctx, { x, out: y, C: s[0], H: s[1], W: s[2], top: op.top ?? 0, bottom: op.bottom ?? 0, left: op.left ?? 0, right: op.right ?? 0 }),
  concat: (b, op, { x, y, other, s, out }) => {
    const nx = numel(s), ns = numel(out) - nx;
    if (op.xFirst) concat(b.ctx, { a: x, na: nx, b: other!, nb: ns, out: y });
    else concat(b.ctx, { a: other!, na: ns, b: x, nb: nx, out: y });
  },
};

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly plan: BufferPlan;
  private readonly weights = new Map<string, GPUBuffer>();
  /** Token ids of the current input (maxLen i32), for models whose first op is embed. */
  private readonly ids: GPUBuffer | null;
  /** One storage buffer per slot of the plan. */
  private readonly slots: GPUBuffer[];
  private T = 0; // token count of the current input (token models)
  private curLayer = -1; // the layer whose output is current (0 = the raw input loaded)
  private disposed = false;

  /** Bytes of GPU memory the model holds: weights, one buffer per slot of the plan, the token ids. */
  readonly memoryBytes: number;

  private constructor(readonly ctx: GpuContext, private readonly file: SpxModelFile, private readonly ownsContext: boolean,
    plan: BufferPlan) {
    const h = file.header;
    this.plan = plan;
    this.uploadWeights();
    this.slots = this.plan.slots.map((n) => ctx.alloc(n * 4));
    this.ids = h.input.kind === 'tokens' ? ctx.upload(new Int32Array(h.input.maxLen), 'splitee-ids') : null;
    this.memoryBytes = [...this.weights.values(), ...this.slots, ...(this.ids ? [this.ids] : [])].reduce((a, b) => a + b.size, 0);
  }

  /** What the model will hold on the GPU, from its plan and tensors, before anything is uploaded. */
  static plannedBytes(file: SpxModelFile, plan: BufferPlan): number {
    const names = new Set<string>();
    for (const op of [...file.header.layers, ...file.header.exits].flatMap((b) => b.ops)) {
      for (const k of ['w', 'b', 'g', 'tok', 'pos', 'wqkv', 'bqkv', 'wo', 'bo'] as const) {
        const v = (op as unknown as Record<string, unknown>)[k];
        if (typeof v === 'string') names.add(v);
      }
    }
    let bytes = plan.activationBytes;
    for (const n of names) bytes += Math.max(16, 4 * numel(file.header.tensors[n].shape));
    if (file.header.input.kind === 'tokens') bytes += 4 * file.header.input.maxLen;
    return bytes;
  }

  /**
   * A backend on its own device from `adapter` (what the engine's loadModel passes), or on an existing GpuContext
   * (shared with other models; then dispose() leaves the device alone). In Node, keep the `GPU` object the adapter
   * came from referenced (src/webgpu/node-gpu.ts does): dawn.node shuts down once it is garbage-collected.
   */
  static async create(file: SpxModelFile, adapterOrContext: GPUAdapter | GpuContext, opts: { maxMemoryBytes?: number } = {}): Promise<WebGpuBackend> {
    const plan = planBuffers(file);
    const need = WebGpuBackend.plannedBytes(file, plan);
    if (opts.maxMemoryBytes !== undefined && need > opts.maxMemoryBytes) {
      throw new EngineError('TOO_LARGE', `${file.header.name} needs ${need} bytes of GPU memory, more than maxMemoryBytes (${opts.maxMemoryBytes})`);
    }
    if (adapterOrContext instanceof GpuContext) return new WebGpuBackend(adapterOrContext, file, false, plan);
    const { device, adapterName } = await deviceFromAdapter(adapterOrContext);
    return new WebGpuBackend(new GpuContext(device, adapterName), file, true, plan);
  }

  /** The adapter's name as the device reports it (for benchmarks and logs). */
  get adapterName(): string { return this.ctx.adapterName; }

  tensorShape(name: string): number[] {
    const e = this.file.header.tensors[name];
    if (!e) throw new EngineError('BAD_INPUT', `tensor '${name}' is not in the model`);
    return e.shape;
  }

  private uploadWeights(): void {
    const put = (name: string | undefined) => {
      if (!name || this.weights.has(name)) return;
      this.weights.set(name, this.ctx.upload(this.file.tensor(name), `w:${name}`));
    };
    const all = [...this.file.header.layers.map((l) => l.ops), ...this.file.header.exits.map((e) => e.ops)].flat();
    for (const op of all) {
      switch (op.op) {
        case 'linear': case 'conv2d': put(op.w); put(op.b); break;
        case 'layernorm': put(op.g); put(op.b); break;
        case 'embed': put(op.tok); put(op.pos); break;
        case 'affine': put(op.w); put(op.b); break;
        case 'attention': put(op.wqkv); put(op.bqkv); put(op.wo); put(op.bo); break;
        default: break;
      }
    }
  }

  w(name: string): GPUBuffer;
  w(name: string | undefined): GPUBuffer | null;
  w(name: string | undefined): GPUBuffer | null {
    if (!name) return null;
    const b = this.weights.get(name);
    if (!b) throw new EngineError('BAD_INPUT', `tensor '${name}' was not uploaded`);
    return b;
  }

  private check(): void {
    if (this.disposed) throw new EngineError('DISPOSED', 'this model was disposed');
  }

  private slot(s: number): GPUBuffer { return s === TOKENS ? this.ids! : this.slots[s]; }

  async run(input: ModelInput | null, from: number, to: number): Promise<void> {
    this.check();
    checkLayerRange(this.file.header.layers.length, from, to);
    if (input === null) checkContinues(this.curLayer, from);
    else this.load(input, from - 1);
    for (let l = from; l <= to; l++) {
      this.exec(this.plan.layers[l - 1]);
      this.curLayer = l;
    }
    // Start the GPU on this work now; the next read or exit waits for it anyway.
    this.ctx.flush();
  }

  /** Writes `input` (the output of layer `after`, or the model input when after = 0) into that layer's slot. */
  private load(input: ModelInput, after: number): void {
    const h = this.file.header;
    this.curLayer = -1;
    if (after === 0 && h.input.kind === 'tokens') {
      checkTokens(h, input);
      this.T = input.length;
      this.ctx.write(this.ids!, input);
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
    this.ctx.write(this.slot(this.plan.layerSlot[after]), t.data);
    this.curLayer = after;
  }

  /** Records one block of the plan; returns the shape of its result. */
  private exec(block: BlockPlan): number[] {
    const T = this.T;
    let out: number[] = [];
    for (const st of block.steps) {
      const s = shapeAt(st.inShape, st.inVariable, T);
      out = shapeAt(st.outShape, st.outVariable, T);
      const io: StepIO = { x: this.slot(st.src), y: this.slot(st.dst), other: st.other >= 0 ? this.slots[st.other] : null, s, out };
      (WEBGPU_OPS[st.op.op] as GpuKernel<Op>)(this, st.op, io);
    }
    return out;
  }

  private curShape(): number[] {
    const l = this.curLayer;
    const sh = this.file.shapes;
    return l === 0 ? shapeAt(sh.layerInput, sh.variableLength, this.T) : shapeAt(sh.layerOutputs[l - 1], sh.layerOutputVariable[l - 1], this.T);
  }

  private curBuf(): GPUBuffer { return this.slot(this.plan.layerSlot[this.curLayer]); }

  async exit(k: number): Promise<ExitResult> {
    this.check();
    if (this.curLayer !== k || k < 1) {
      throw new EngineError('BAD_RANGE', `exit ${k} needs the output of layer ${k}; the current activation is the output of layer ${this.curLayer}`);
    }
    const block = this.plan.exits[k - 1];
    const N = numel(this.exec(block));
    const out = this.ctx.alloc(exitHeadOutBytes(N));
    exitHead(this.ctx, { logits: this.slot(block.output), out, N });
    try {
      const { probs, label, confidence } = decodeExitHead(await this.ctx.readF32(out, N + 1), N);
      return { probs, label, confidence };
    } finally {
      this.ctx.free(out);
    }
  }

  async read(): Promise<Tensor> {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const shape = this.curShape();
    return { shape, data: await this.ctx.readF32(this.curBuf(), numel(shape)) };
  }

  async activationRange(): Promise<[number, number]> {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const out = this.ctx.alloc(8);
    try {
      minmax(this.ctx, { x: this.curBuf(), out, n: numel(this.curShape()) });
      const r = await this.ctx.readF32(out, 2);
      return [r[0], r[1]];
    } finally {
      this.ctx.free(out);
    }
  }

  async readInt8(scale: number, zeroPoint: number): Promise<{ shape: number[]; data: Int8Array }> {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const shape = this.curShape();
    const n = numel(shape);
    const q = this.ctx.alloc(quantizedBytes(n));
    try {
      quantizeI8(this.ctx, { x: this.curBuf(), q, n, scale, zeroPoint });
      return { shape, data: new Int8Array(await this.ctx.read(q, n)) };
    } finally {
      this.ctx.free(q);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsContext) {
      this.ctx.destroy();
    } else {
      for (const b of this.slots) this.ctx.free(b);
      for (const b of this.weights.values()) b.destroy();
      this.ids?.destroy();
    }
    this.weights.clear();
  }
}
