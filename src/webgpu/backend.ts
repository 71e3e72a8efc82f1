// The WebGPU backend: the engine's op set on the WGSL kernels of ./ops.
//
// Weights are uploaded once, at load, as f32 GPU buffers in their file layouts (the kernels read PyTorch layouts
// directly). Activations live in pooled GPU buffers and never come back to the CPU on their own: run() only records
// and submits dispatches; exit() reads back the N + 1 floats of one exit head; read() reads the current activation
// (the offload case). Nothing else crosses.
//
// Buffer discipline mirrors the WASM backend: elementwise ops, layernorm and add write in place unless their input
// is pinned (saved for a residual, or the layer output an exit must leave intact); every other op writes a fresh
// pooled buffer and its input goes back to the pool once nothing pins it. Recycling a buffer while dispatches that
// read it are still queued is safe: later dispatches run after earlier ones.
import type { Backend } from '../engine/backend.js';
import { activationShapeAfter, opOutputShape } from '../engine/shapes.js';
import { EngineError, numel, type ExitResult, type ModelInput, type Tensor } from '../engine/types.js';
import type { Op, SpxModelFile } from '../format/index.js';
import { GpuContext } from './context.js';
import { deviceFromAdapter } from './device.js';
import { add } from './ops/add.js';
import { attention } from './ops/attention.js';
import { avgpool2d } from './ops/avgpool2d.js';
import { conv2d } from './ops/conv2d.js';
import { embed } from './ops/embed.js';
import { decodeExitHead, exitHead, exitHeadOutBytes } from './ops/exit-head.js';
import { gap } from './ops/gap.js';
import { gelu } from './ops/gelu.js';
import { layernorm } from './ops/layernorm.js';
import { linear } from './ops/linear.js';
import { maxpool2d } from './ops/maxpool2d.js';
import { relu } from './ops/relu.js';
import { relu6 } from './ops/relu6.js';
import { seqmean } from './ops/seqmean.js';
import { checkContinues, checkLayerRange, checkTokens } from '../engine/validate.js';

interface Act { buf: GPUBuffer; shape: number[] }

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  private readonly weights = new Map<string, GPUBuffer>();
  /** Token ids of the current input (maxLen i32), for models whose first op is embed. */
  private readonly ids: GPUBuffer | null;
  private cur: Act | null = null;
  private curLayer = -1; // the layer whose output is current (0 = the raw input loaded)
  private disposed = false;

  private constructor(readonly ctx: GpuContext, private readonly file: SpxModelFile, private readonly ownsContext: boolean) {
    const h = file.header;
    this.uploadWeights();
    this.ids = h.input.kind === 'tokens' ? ctx.upload(new Int32Array(h.input.maxLen), 'splitee-ids') : null;
  }

  /**
   * A backend on its own device from `adapter` (what the engine's loadModel passes), or on an existing GpuContext
   * (shared with other models; then dispose() leaves the device alone). In Node, keep the `GPU` object the adapter
   * came from referenced (src/webgpu/node-gpu.ts does): dawn.node shuts down once it is garbage-collected.
   */
  static async create(file: SpxModelFile, adapterOrContext: GPUAdapter | GpuContext): Promise<WebGpuBackend> {
    if (adapterOrContext instanceof GpuContext) return new WebGpuBackend(adapterOrContext, file, false);
    const { device, adapterName } = await deviceFromAdapter(adapterOrContext);
    return new WebGpuBackend(new GpuContext(device, adapterName), file, true);
  }

  /** The adapter's name as the device reports it (for benchmarks and logs). */
  get adapterName(): string { return this.ctx.adapterName; }

  private tensorShape(name: string): number[] {
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
        case 'attention': put(op.wqkv); put(op.bqkv); put(op.wo); put(op.bo); break;
        default: break;
      }
    }
  }

  private w(name: string): GPUBuffer;
  private w(name: string | undefined): GPUBuffer | null;
  private w(name: string | undefined): GPUBuffer | null {
    if (!name) return null;
    const b = this.weights.get(name);
    if (!b) throw new EngineError('BAD_INPUT', `tensor '${name}' was not uploaded`);
    return b;
  }

  private check(): void {
    if (this.disposed) throw new EngineError('DISPOSED', 'this model was disposed');
  }

  async run(input: ModelInput | null, from: number, to: number): Promise<void> {
    this.check();
    checkLayerRange(this.file.header.layers.length, from, to);
    if (input === null) checkContinues(this.curLayer, from);
    else this.load(input, from - 1);
    for (let l = from; l <= to; l++) {
      const layer = this.file.header.layers[l - 1];
      this.cur = this.execOps(layer.ops, this.cur!, false, `layer ${l}`);
      this.curLayer = l;
    }
    // Start the GPU on this work now; the next read or exit waits for it anyway.
    this.ctx.flush();
  }

  /** Makes `input` (the output of layer `after`, or the model input when after = 0) the current activation. */
  private load(input: ModelInput, after: number): void {
    const h = this.file.header;
    this.release(this.cur);
    this.cur = null;
    this.curLayer = -1;
    if (after === 0 && h.input.kind === 'tokens') {
      checkTokens(h, input);
      const T = input.length;
      this.ctx.write(this.ids!, input);
      // The ids buffer is not pooled: the activation "is" the ids until embed replaces it (never released).
      this.cur = { buf: this.ids!, shape: [T] };
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
    const buf = this.ctx.alloc(t.data.length * 4);
    this.ctx.write(buf, t.data);
    this.cur = { buf, shape: expected.slice() };
    this.curLayer = after;
  }

  /** Returns a pooled activation buffer (the token-id buffer is not pooled). */
  private release(a: Act | null): void {
    if (a && a.buf !== this.ids) this.ctx.free(a.buf);
  }

  /**
   * Runs `ops` starting from activation `x`. With keepInput (exits), x is never written nor released; otherwise x
   * is consumed (written in place or released). Returns the final activation, which the caller owns.
   */
  private execOps(ops: Op[], x: Act, keepInput: boolean, where: string): Act {
    const ctx = this.ctx;
    let buf = x.buf;
    let shape = x.shape;
    const saved = new Map<string, Act>();
    const pinned = (b: GPUBuffer) => (keepInput && b === x.buf) || b === this.ids || [...saved.values()].some((s) => s.buf === b);
    /** Drops `b` unless something still needs it. */
    const drop = (b: GPUBuffer) => { if (b !== buf && !pinned(b)) ctx.free(b); };
    /** The output buffer of an op that may write in place. */
    const inPlaceTarget = (n: number) => (pinned(buf) ? ctx.alloc(n * 4) : buf);
    for (const op of ops) {
      const out = opOutputShape(op, shape, (n) => this.tensorShape(n));
      const n = numel(shape);
      const prev = buf;
      switch (op.op) {
        case 'conv2d': {
          const [OC, , KH, KW] = this.tensorShape(op.w);
          buf = ctx.alloc(numel(out) * 4);
          conv2d(ctx, { x: prev, w: this.w(op.w), b: this.w(op.b), out: buf, C: shape[0], H: shape[1], W: shape[2], OC, KH, KW,
            stride: op.stride ?? 1, pad: op.pad ?? 0, groups: op.groups ?? 1, act: op.act ?? 'none' });
          break;
        }
        case 'linear': {
          const [N, K] = this.tensorShape(op.w);
          buf = ctx.alloc(numel(out) * 4);
          linear(ctx, { x: prev, w: this.w(op.w), b: this.w(op.b), out: buf, M: n / K, K, N, act: op.act ?? 'none' });
          break;
        }
        case 'maxpool2d': case 'avgpool2d': {
          buf = ctx.alloc(numel(out) * 4);
          const fn = op.op === 'maxpool2d' ? maxpool2d : avgpool2d;
          fn(ctx, { x: prev, out: buf, C: shape[0], H: shape[1], W: shape[2], k: op.k, stride: op.stride ?? op.k, pad: op.pad ?? 0 });
          break;
        }
        case 'gap': buf = ctx.alloc(shape[0] * 4); gap(ctx, { x: prev, out: buf, C: shape[0], HW: shape[1] * shape[2] }); break;
        case 'flatten': case 'seqfirst': break; // flatten is a reshape; row 0 already starts the buffer
        case 'relu': case 'relu6': case 'gelu': {
          buf = inPlaceTarget(n);
          (op.op === 'relu' ? relu : op.op === 'relu6' ? relu6 : gelu)(ctx, { x: prev, out: buf, n });
          break;
        }
        case 'save': {
          const old = saved.get(op.name);
          saved.set(op.name, { buf, shape });
          if (old) drop(old.buf); // a save under a reused name unpins the buffer it replaced
          break;
        }
        case 'add': {
          const s = saved.get(op.name);
          if (!s) throw new EngineError('BAD_INPUT', `${where}: add '${op.name}' has no matching save`);
          buf = inPlaceTarget(n);
          add(ctx, { a: prev, b: s.buf, out: buf, n });
          break;
        }
        case 'layernorm': {
          const D = shape[shape.length - 1];
          buf = inPlaceTarget(n);
          layernorm(ctx, { x: prev, g: this.w(op.g), b: this.w(op.b), out: buf, rows: n / D, D, eps: op.eps ?? 1e-5 });
          break;
        }
        case 'embed': {
          if (prev !== this.ids || shape.length !== 1) throw new EngineError('BAD_INPUT', `${where}: embed must be the first op of layer 1`);
          const [V, D] = this.tensorShape(op.tok);
          buf = ctx.alloc(shape[0] * D * 4);
          embed(ctx, { ids: prev, tok: this.w(op.tok), pos: this.w(op.pos), out: buf, T: shape[0], D, V, P: this.tensorShape(op.pos)[0] });
          break;
        }
        case 'attention': {
          buf = ctx.alloc(n * 4);
          attention(ctx, { x: prev, T: shape[0], D: shape[1], heads: op.heads, wqkv: this.w(op.wqkv), bqkv: this.w(op.bqkv),
            wo: this.w(op.wo), bo: this.w(op.bo), out: buf, window: op.window ?? 0 });
          break;
        }
        case 'seqmean': buf = ctx.alloc(shape[1] * 4); seqmean(ctx, { x: prev, out: buf, T: shape[0], D: shape[1] }); break;
        default: throw new EngineError('BAD_INPUT', `${where}: unknown op '${(op as { op: string }).op}'`);
      }
      if (buf !== prev) drop(prev);
      shape = out;
    }
    // Saves end with their layer (or exit).
    const ends = new Set([...saved.values()].map((s) => s.buf));
    saved.clear();
    for (const b of ends) drop(b);
    return { buf, shape };
  }

  async exit(k: number): Promise<ExitResult> {
    this.check();
    if (this.curLayer !== k || k < 1 || !this.cur) {
      throw new EngineError('BAD_RANGE', `exit ${k} needs the output of layer ${k}; the current activation is the output of layer ${this.curLayer}`);
    }
    const logits = this.execOps(this.file.header.exits[k - 1].ops, this.cur, true, `exit ${k}`);
    const N = numel(logits.shape);
    const out = this.ctx.alloc(exitHeadOutBytes(N));
    exitHead(this.ctx, { logits: logits.buf, out, N });
    if (logits.buf !== this.cur.buf) this.ctx.free(logits.buf);
    try {
      const { probs, label, confidence } = decodeExitHead(await this.ctx.readF32(out, N + 1), N);
      return { probs, label, confidence };
    } finally {
      this.ctx.free(out);
    }
  }

  async read(): Promise<Tensor> {
    this.check();
    if (this.curLayer < 1 || !this.cur) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    const shape = this.cur.shape.slice();
    return { shape, data: await this.ctx.readF32(this.cur.buf, numel(shape)) };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsContext) {
      this.ctx.destroy();
    } else {
      this.release(this.cur);
      for (const b of this.weights.values()) b.destroy();
      this.ids?.destroy();
    }
    this.cur = null;
    this.weights.clear();
  }
}
