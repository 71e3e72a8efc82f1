// The WASM backend: runs the op set on the AssemblyScript SIMD kernels.
//
// Everything is planned at load time in the kernel instance's arena: packed weights, a small pool of activation
// buffers each large enough for the biggest intermediate of the model (token models are planned at maxLen), the
// kernels' scratch, the token-id buffer and the exit probabilities. The hot path only passes offsets to kernels.
//
// Buffer discipline: an op writes either in place (elementwise ops, when the buffer is neither saved for a residual
// nor the activation an exit must leave intact) or into a free pool buffer. `save` pins the current buffer by
// reference instead of copying; pins end with the layer, as the format says.
import type { Op, SpxModelFile } from '../format/index.js';
import { ACT, Kernels, loadKernels } from '../wasm/runtime.js';
import type { Backend } from './backend.js';
import { activationShapeAfter, opOutputShape, planMaxElements } from './shapes.js';
import { EngineError, numel, type ExitResult, type ModelInput, type Tensor } from './types.js';
import { checkContinues, checkLayerRange, checkTokens } from './validate.js';

const POOL_SIZE = 5; // current + up to 2 saved + the exit's protected input + 1 free

interface Packed { ptr: number; shape: number[] }

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  private readonly kern: Kernels;
  private readonly file: SpxModelFile;
  private readonly weights = new Map<string, Packed>(); // tensor name → f32 or packed-linear/conv weight in the arena
  private readonly pool: number[] = [];
  private readonly scratch: number;
  private readonly ids: number;
  private readonly probs: number;
  private readonly maxElements: number;
  private cur = -1;
  private curShape: number[] = [];
  private curLayer = -1; // the layer whose output is current (0 = the raw input loaded)
  private disposed = false;

  private constructor(kern: Kernels, file: SpxModelFile) {
    this.kern = kern;
    this.file = file;
    const h = file.header;
    this.uploadWeights();
    const plan = planMaxElements(h, (n) => this.tensorShape(n), (op, inShape) => this.scratchBytes(op, inShape));
    this.maxElements = plan.maxElements;
    for (let i = 0; i < POOL_SIZE; i++) this.pool.push(kern.alloc(plan.maxElements * 4));
    this.scratch = kern.alloc(plan.maxScratchBytes);
    this.ids = kern.alloc((h.input.kind === 'tokens' ? h.input.maxLen : 1) * 4);
    this.probs = kern.alloc(h.classes.length * 4);
  }

  static async create(file: SpxModelFile): Promise<WasmBackend> {
    return new WasmBackend(await loadKernels(), file);
  }

  /** Bytes of WASM linear memory this model holds (weights + planned buffers). */
  get memoryBytes(): number { return this.kern.memory.buffer.byteLength; }

  private tensorShape(name: string): number[] {
    const e = this.file.header.tensors[name];
    if (!e) throw new EngineError('BAD_INPUT', `tensor '${name}' is not in the model`);
    return e.shape;
  }

  /** Weights go in once: linear and conv weights in the kernels' packed layouts, everything else as f32. */
  private uploadWeights(): void {
    const k = this.kern;
    const put = (name: string | undefined) => {
      if (!name || this.weights.has(name)) return;
      this.weights.set(name, { ptr: k.putF32(this.file.tensor(name)), shape: this.tensorShape(name) });
    };
    const all = [...this.file.header.layers.map((l) => l.ops), ...this.file.header.exits.map((e) => e.ops)].flat();
    for (const op of all) {
      switch (op.op) {
        case 'linear': this.putPacked(op.w, 'linear'); put(op.b); break;
        case 'conv2d': this.putPacked(op.w, 'conv', op.groups ?? 1); put(op.b); break;
        case 'layernorm': put(op.g); put(op.b); break;
        case 'embed': put(op.tok); put(op.pos); break;
        case 'attention': this.putPacked(op.wqkv, 'linear'); put(op.bqkv); this.putPacked(op.wo, 'linear'); put(op.bo); break;
        default: break;
      }
    }
  }

  private putPacked(name: string, kind: 'linear' | 'conv', groups = 1): void {
    if (this.weights.has(name)) return;
    const k = this.kern;
    const shape = this.tensorShape(name);
    let bytes: number;
    if (kind === 'linear') bytes = k.k.linear_packed_bytes(shape[1], shape[0]);
    else bytes = k.k.conv2d_packed_bytes(shape[1] * groups, shape[0], shape[2], shape[3], groups);
    const dst = k.alloc(bytes);
    const mark = k.mark();
    const src = k.putF32(this.file.tensor(name));
    if (kind === 'linear') k.k.linear_pack(src, dst, shape[1], shape[0]);
    else k.k.conv2d_pack(src, dst, shape[1] * groups, shape[0], shape[2], shape[3], groups);
    k.release(mark);
    this.weights.set(name, { ptr: dst, shape });
  }

  private scratchBytes(op: Op, s: number[]): number {
    const k = this.kern.k;
    if (op.op === 'conv2d') {
      const w = this.tensorShape(op.w);
      return k.conv2d_scratch_bytes(s[0], s[1], s[2], w[0], w[2], w[3], op.stride ?? 1, op.pad ?? 0, op.groups ?? 1);
    }
    if (op.op === 'attention') return k.attention_scratch_bytes(s[0], s[1], op.heads);
    return 0;
  }

  private w(name: string | undefined): number {
    if (!name) return 0;
    const p = this.weights.get(name);
    if (!p) throw new EngineError('BAD_INPUT', `tensor '${name}' was not uploaded`);
    return p.ptr;
  }

  private check(): void {
    if (this.disposed) throw new EngineError('DISPOSED', 'this model was disposed');
  }

  async run(input: ModelInput | null, from: number, to: number): Promise<void> {
    this.runSync(input, from, to);
  }

  runSync(input: ModelInput | null, from: number, to: number): void {
    this.check();
    checkLayerRange(this.file.header.layers.length, from, to);
    if (input === null) checkContinues(this.curLayer, from);
    else this.load(input, from - 1);
    for (let l = from; l <= to; l++) {
      const layer = this.file.header.layers[l - 1];
      this.execOps(layer.ops, -1, `layer ${l}`);
      this.curLayer = l;
    }
  }

  /** Puts `input` (the output of layer `after`, or the model input when after = 0) into the pool as current. */
  private load(input: ModelInput, after: number): void {
    const h = this.file.header;
    const kern = this.kern;
    this.cur = this.pool[0];
    if (after === 0 && h.input.kind === 'tokens') {
      checkTokens(h, input);
      const T = input.length;
      kern.i32(this.ids, T).set(input);
      this.curShape = [T];
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
    if (numel(expected) > this.maxElements) throw new EngineError('BAD_ACTIVATION', `activation of ${numel(expected)} values exceeds the plan`);
    kern.f32(this.cur, t.data.length).set(t.data);
    this.curShape = expected.slice();
    this.curLayer = after;
  }

  /**
   * Runs `ops` on the current activation. With protect ≥ 0 (exits), the buffer `protect` is never written and the
   * result stays out of the current slot; returns the final buffer and shape.
   */
  private execOps(ops: Op[], protect: number, where: string): { ptr: number; shape: number[] } {
    const K = this.kern.k;
    let ptr = this.cur;
    let shape = this.curShape;
    const saved = new Map<string, { ptr: number; shape: number[] }>();
    const busy = (p: number) => p === ptr || p === protect || [...saved.values()].some((s) => s.ptr === p);
    const free = () => {
      for (const p of this.pool) if (!busy(p)) return p;
      throw new EngineError('BAD_INPUT', `${where}: out of activation buffers (more than 2 live saves)`);
    };
    const inPlace = () => (ptr === protect || [...saved.values()].some((s) => s.ptr === ptr) ? free() : ptr);
    for (const op of ops) {
      const out = opOutputShape(op, shape, (n) => this.tensorShape(n));
      const n = numel(shape);
      switch (op.op) {
        case 'conv2d': {
          const w = this.tensorShape(op.w);
          const dst = free();
          K.conv2d(ptr, this.w(op.w), this.w(op.b), dst, shape[0], shape[1], shape[2], w[0], w[2], w[3],
            op.stride ?? 1, op.pad ?? 0, op.groups ?? 1, ACT[op.act ?? 'none'], this.scratch);
          ptr = dst;
          break;
        }
        case 'linear': {
          const [N, Kd] = this.tensorShape(op.w);
          const dst = free();
          K.linear(ptr, this.w(op.w), this.w(op.b), dst, n / Kd, Kd, N, ACT[op.act ?? 'none']);
          ptr = dst;
          break;
        }
        case 'maxpool2d': case 'avgpool2d': {
          const dst = free();
          const fn = op.op === 'maxpool2d' ? K.maxpool2d : K.avgpool2d;
          fn(ptr, dst, shape[0], shape[1], shape[2], op.k, op.stride ?? op.k, op.pad ?? 0);
          ptr = dst;
          break;
        }
        case 'gap': { const dst = free(); K.gap(ptr, dst, shape[0], shape[1] * shape[2]); ptr = dst; break; }
        case 'flatten': break;
        case 'relu': case 'relu6': case 'gelu': {
          const dst = inPlace();
          K[op.op](ptr, dst, n);
          ptr = dst;
          break;
        }
        case 'save': saved.set(op.name, { ptr, shape }); break;
        case 'add': {
          const s = saved.get(op.name);
          if (!s) throw new EngineError('BAD_INPUT', `${where}: add '${op.name}' has no matching save`);
          const dst = inPlace();
          K.add(ptr, s.ptr, dst, n);
          ptr = dst;
          break;
        }
        case 'layernorm': {
          const D = shape[shape.length - 1];
          const dst = inPlace();
          K.layernorm(ptr, this.w(op.g), this.w(op.b), dst, n / D, D, op.eps ?? 1e-5);
          ptr = dst;
          break;
        }
        case 'embed': {
          if (this.curLayer !== 0 || shape.length !== 1) throw new EngineError('BAD_INPUT', `${where}: embed must be the first op of layer 1`);
          const dst = free();
          const D = this.tensorShape(op.tok)[1];
          K.embed(this.ids, shape[0], this.w(op.tok), this.w(op.pos), D, dst);
          ptr = dst;
          break;
        }
        case 'attention': {
          const dst = free();
          K.attention(ptr, shape[0], shape[1], op.heads, this.w(op.wqkv), this.w(op.bqkv), this.w(op.wo), this.w(op.bo), 0, op.window ?? 0,
            dst, this.scratch);
          ptr = dst;
          break;
        }
        case 'seqmean': { const dst = free(); K.seqmean(ptr, dst, shape[0], shape[1]); ptr = dst; break; }
        case 'seqfirst': break; // row 0 already starts the buffer: a view, no copy
        default: throw new EngineError('BAD_INPUT', `${where}: unknown op '${(op as { op: string }).op}'`);
      }
      shape = out;
    }
    if (protect < 0) { this.cur = ptr; this.curShape = shape; }
    return { ptr, shape };
  }

  async exit(k: number): Promise<ExitResult> {
    return this.exitSync(k);
  }

  exitSync(k: number): ExitResult {
    this.check();
    if (this.curLayer !== k || k < 1) {
      throw new EngineError('BAD_RANGE', `exit ${k} needs the output of layer ${k}; the current activation is the output of layer ${this.curLayer}`);
    }
    const exitDesc = this.file.header.exits[k - 1];
    const { ptr, shape } = this.execOps(exitDesc.ops, this.cur, `exit ${k}`);
    const N = numel(shape);
    const label = this.kern.k.exit_head(ptr, this.probs, N);
    const probs = this.kern.f32(this.probs, N).slice();
    return { probs, confidence: probs[label], label };
  }

  async read(): Promise<Tensor> {
    return this.readSync();
  }

  readSync(): Tensor {
    this.check();
    if (this.curLayer < 1) throw new EngineError('BAD_RANGE', 'no layer has run yet');
    return { shape: this.curShape.slice(), data: this.kern.f32(this.cur, numel(this.curShape)).slice() };
  }

  dispose(): void { this.disposed = true; }
}
