// Loads the kernel module and manages its linear memory as one arena.
//
// Each model gets its own instance (its own memory), so two models never share or fight over buffers. The arena is
// a bump allocator: a model plans every buffer it will ever need at load time, grows memory once, and the hot path
// only passes byte offsets to kernels. `mark`/`release` let tests and one-off tools reuse the space.
import { wasmBase64, wasmRelaxedBase64 } from './binary.generated.js';

/** The raw exports of assembly/ (see docs/KERNELS.md). Pointers are byte offsets into `memory`. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  linear_packed_bytes(K: number, N: number): number;
  linear_pack(w: number, packed: number, K: number, N: number): void;
  // `res` (optional, 0 = none): a residual [same shape as out] added after the activation, out = act(…) + res; it
  // must not overlap out (the add op fused into the epilogue).
  linear(x: number, packed: number, b: number, out: number, M: number, K: number, N: number, act: number, res?: number): void;
  conv2d_packed_bytes(C: number, OC: number, KH: number, KW: number, groups: number): number;
  conv2d_pack(w: number, packed: number, C: number, OC: number, KH: number, KW: number, groups: number): void;
  conv2d_scratch_bytes(C: number, H: number, W: number, OC: number, KH: number, KW: number, stride: number, pad: number, groups: number): number;
  conv2d(x: number, packed: number, b: number, out: number, C: number, H: number, W: number, OC: number, KH: number, KW: number,
    stride: number, pad: number, groups: number, act: number, scratch: number, res?: number): void;
  maxpool2d(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
  avgpool2d(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
  gap(x: number, out: number, C: number, HW: number): void;
  relu(x: number, out: number, n: number): void;
  relu6(x: number, out: number, n: number): void;
  gelu(x: number, out: number, n: number): void;
  add(a: number, b: number, out: number, n: number): void;
  layernorm(x: number, g: number, b: number, out: number, rows: number, D: number, eps: number): void;
  embed(ids: number, T: number, tok: number, pos: number, D: number, out: number): void;
  attention_scratch_bytes(T: number, D: number, heads: number): number;
  attention(x: number, T: number, D: number, heads: number, wqkv: number, bqkv: number, wo: number, bo: number,
    mask: number, window: number, out: number, scratch: number, res?: number): void;
  seqmean(x: number, out: number, T: number, D: number): void;
  exit_head(logits: number, probs: number, N: number): number;
  /** gap → linear → exit_head in one call (the same bits); feat [C] and logits [N] are the caller's buffers. */
  exit_gap_linear(x: number, C: number, HW: number, packed: number, b: number, N: number, feat: number, logits: number, probs: number): number;
  quantize_i8(x: number, q: number, n: number, scale: number, zeroPoint: number): void;
  minmax(x: number, n: number, out: number): void;
  // Standalone activations (assembly/activation-ops.ts): `out` may equal `x`.
  sigmoid(x: number, out: number, n: number): void;
  tanh(x: number, out: number, n: number): void;
  gelu_tanh(x: number, out: number, n: number): void;
  hardsigmoid(x: number, out: number, n: number, alpha: number, beta: number): void;
  hardswish(x: number, out: number, n: number): void;
  clip(x: number, out: number, n: number, lo: number, hi: number): void;
  // Broadcasts (assembly/broadcast.ts): a pointer of 0 for `w` or `b` means none.
  affine(x: number, w: number, b: number, out: number, outer: number, C: number, inner: number): void;
  mul(a: number, b: number, out: number, n: number): void;
  // Data movement (assembly/pad-concat.ts), pools that exclude padding, causal attention.
  pad2d(x: number, out: number, C: number, H: number, W: number, top: number, bottom: number, left: number, right: number): void;
  concat(a: number, na: number, b: number, nb: number, out: number): void;
  avgpool2d_exclude(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
  attention_causal_scratch_bytes(T: number, D: number): number;
  attention_causal(x: number, T: number, D: number, heads: number, wqkv: number, bqkv: number, wo: number, bo: number,
    window: number, out: number, scratch: number, res?: number): void;
  // The int8 path (assembly/gemm-q8.ts): int8 weights with per-output-channel f32 scales (padded with zeros to a
  // multiple of 8 for linear, 4 for conv), activations quantized to int16 inside the call.
  linear_q8_packed_bytes(K: number, N: number): number;
  linear_q8_pack(wq: number, packed: number, K: number, N: number): void;
  linear_q8_scratch_bytes(M: number, K: number): number;
  linear_q8(x: number, packed: number, wscale: number, b: number, out: number, M: number, K: number, N: number, act: number,
    scratch: number, res?: number): void;
  conv2d_q8_packed_bytes(C: number, OC: number, KH: number, KW: number): number;
  conv2d_q8_pack(wq: number, packed: number, C: number, OC: number, KH: number, KW: number): void;
  conv2d_q8_scratch_bytes(C: number, H: number, W: number, OC: number, KH: number, KW: number, stride: number, pad: number): number;
  conv2d_q8(x: number, packed: number, wscale: number, b: number, out: number, C: number, H: number, W: number, OC: number,
    KH: number, KW: number, stride: number, pad: number, act: number, scratch: number, res?: number): void;
  attention_q8_scratch_bytes(T: number, D: number, heads: number): number;
  attention_q8(x: number, T: number, D: number, heads: number, wqkv: number, sqkv: number, bqkv: number, wo: number, so: number,
    bo: number, mask: number, window: number, out: number, scratch: number, res?: number): void;
  embed_q8(ids: number, T: number, tokq: number, tokScale: number, pos: number, D: number, out: number): void;
  /** 1 in the relaxed-SIMD build, 0 in the plain one. */
  relaxed_simd_build(): number;
}

const PAGE = 65536;

/**
 * The two builds of the same kernels: `simd` (WebAssembly SIMD; every multiply-add is a multiply then an add, the
 * same bits on every engine) and `relaxed` (relaxed SIMD: `f32x4.relaxed_madd`, a fused multiply-add where the CPU
 * has one; results may differ from `simd` in the last bits, and from one CPU to another).
 */
export type WasmKernelBuild = 'simd' | 'relaxed';
/** `auto`: `relaxed` where the runtime validates relaxed SIMD, else `simd`. */
export type WasmKernelChoice = WasmKernelBuild | 'auto';

/**
 * The build used until {@link useWasmKernels} says otherwise: the plain one, so that every runtime (Node, browsers,
 * Deno, Bun, workerd) computes the same bits by default; relaxed SIMD is one call away.
 */
export const DEFAULT_WASM_KERNELS: WasmKernelChoice = 'simd';

/** A kernel build that cannot be used here: `NO_RELAXED_SIMD` (forced `relaxed` on a runtime without it), `BAD_INPUT`. */
export class WasmKernelError extends Error {
  constructor(readonly code: 'NO_RELAXED_SIMD' | 'BAD_INPUT', message: string) {
    super(message);
    this.name = 'WasmKernelError';
  }
}

const compiled: { simd?: Promise<WebAssembly.Module>; relaxed?: Promise<WebAssembly.Module> } = {};
let precompiled: Promise<WebAssembly.Module> | undefined;
let choice: WasmKernelChoice = DEFAULT_WASM_KERNELS;

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Compiles each embedded build at most once per process; instances are cheap after that. */
function compiledModule(build: WasmKernelBuild): Promise<WebAssembly.Module> {
  return compiled[build] ??= WebAssembly.compile(decodeBase64(build === 'relaxed' ? wasmRelaxedBase64 : wasmBase64) as Uint8Array<ArrayBuffer>);
}

/**
 * Hands over the kernels already compiled, for runtimes that forbid compiling WebAssembly from bytes (Cloudflare
 * Workers and workerd import a `.wasm` file as a WebAssembly.Module: the package's dist/splitee.wasm). Call it
 * before the first loadModel.
 */
export function useCompiledKernels(module: WebAssembly.Module): void {
  if (!(module instanceof WebAssembly.Module)) throw new TypeError(`useCompiledKernels takes a WebAssembly.Module, got ${Object.prototype.toString.call(module)}`);
  precompiled = Promise.resolve(module);
}

/**
 * Chooses the kernel build for the models loaded from now on (models already loaded keep theirs): `auto` takes
 * `relaxed` where {@link wasmRelaxedSimdSupported}, else `simd`; `simd` (the default) forces the plain build (the same
 * bits on every machine and runtime); `relaxed` forces relaxed SIMD and throws WasmKernelError `NO_RELAXED_SIMD` where the runtime lacks it
 * (Node 20 needs `--experimental-wasm-relaxed-simd`; Node ≥ 22, Chrome/Edge ≥ 114 and Deno have it). Returns the build
 * that will be used. Modules handed to {@link useCompiledKernels} are used whatever the choice.
 */
export function useWasmKernels(build: WasmKernelChoice): WasmKernelBuild {
  if (build !== 'auto' && build !== 'simd' && build !== 'relaxed') {
    throw new WasmKernelError('BAD_INPUT', `the WASM kernel build is 'auto', 'simd' or 'relaxed', got ${JSON.stringify(build)}`);
  }
  const resolved = resolveBuild(build);
  choice = build;
  return resolved;
}

/** The build that {@link loadKernels} gives with the current choice (see {@link useWasmKernels}). */
export function wasmKernelBuild(): WasmKernelBuild {
  return resolveBuild(choice);
}

function resolveBuild(build: WasmKernelChoice): WasmKernelBuild {
  if (build === 'simd') return 'simd';
  const ok = wasmRelaxedSimdSupported();
  if (build === 'relaxed' && !ok) {
    throw new WasmKernelError('NO_RELAXED_SIMD', 'this runtime\'s WebAssembly has no relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd; Node ≥ 22, Chrome/Edge ≥ 114 and Deno have it); use \'auto\' or \'simd\'');
  }
  return ok ? 'relaxed' : 'simd';
}

export class Kernels {
  /** The module's exported kernels and memory. */
  readonly exports: KernelExports;
  /** Which build these kernels are (read from the module itself, so a precompiled module reports its own). */
  readonly build: WasmKernelBuild;
  private top: number;
  private readonly base: number;

  constructor(instance: WebAssembly.Instance) {
    this.exports = instance.exports as unknown as KernelExports;
    // A module built before the relaxed build existed has no such export: it is the plain build.
    this.build = typeof this.exports.relaxed_simd_build === 'function' && this.exports.relaxed_simd_build() === 1 ? 'relaxed' : 'simd';
    // Static data of the module lives below its initial memory size; the arena starts above it.
    this.base = align(this.exports.memory.buffer.byteLength, 64);
    this.top = this.base;
  }

  get memory(): WebAssembly.Memory { return this.exports.memory; }

  /** Bytes handed out so far (the arena's high-water mark is the memory size). */
  get used(): number { return this.top - this.base; }

  /** Reserves `bytes` at `alignment`, growing memory if needed. Never call on the hot path. */
  alloc(bytes: number, alignment = 64): number {
    const ptr = align(this.top, alignment);
    const end = ptr + Math.max(0, bytes);
    const have = this.exports.memory.buffer.byteLength;
    if (end > have) this.exports.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return ptr;
  }

  mark(): number { return this.top; }
  release(mark: number): void { this.top = Math.max(this.base, mark); }

  // Views are made fresh on every call because memory.grow detaches old ArrayBuffers.
  f32(ptr: number, n: number): Float32Array { return new Float32Array(this.exports.memory.buffer, ptr, n); }
  i32(ptr: number, n: number): Int32Array { return new Int32Array(this.exports.memory.buffer, ptr, n); }
  i8(ptr: number, n: number): Int8Array { return new Int8Array(this.exports.memory.buffer, ptr, n); }
  u8(ptr: number, n: number): Uint8Array { return new Uint8Array(this.exports.memory.buffer, ptr, n); }

  /** Allocates and fills an f32 buffer (load time and tests). */
  putF32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    this.f32(p, data.length).set(data);
    return p;
  }
}

export function align(n: number, a: number): number { return Math.ceil(n / a) * a; }

/** Bytes one instance's memory can grow to (32-bit WASM memory: 65536 pages of 64 KiB). */
export const MAX_MEMORY_BYTES = 65536 * PAGE;

/** (func (result v128) i32.const 0 i8x16.splat): valid exactly where WebAssembly has fixed-width SIMD. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 8, 1, 6, 0, 0x41, 0, 0xfd, 0x0f, 0x0b]);

/**
 * (func (result v128) three `i32.const 0 i8x16.splat`, f32x4.relaxed_madd): valid exactly where WebAssembly has
 * relaxed SIMD.
 */
const RELAXED_SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 19, 1, 17, 0,
  0x41, 0, 0xfd, 0x0f, 0x41, 0, 0xfd, 0x0f, 0x41, 0, 0xfd, 0x0f, 0xfd, 0x85, 0x02, 0x0b]);

/** Whether this runtime's WebAssembly has relaxed SIMD, which the `relaxed` kernel build needs. */
export function wasmRelaxedSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/** Whether this runtime's WebAssembly has SIMD, which every kernel needs. */
export function wasmSimdSupported(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * A fresh kernel instance with its own memory. The module is compiled once, asynchronously; instances are made
 * synchronously (cheap for a compiled module, and allowed on a browser's main thread): Node 20 can deadlock when an
 * asynchronous instantiation is pending while its event loop has nothing else alive, as a script that only loads
 * models has. `build` overrides the {@link useWasmKernels} choice for this instance.
 */
export async function loadKernels(build: WasmKernelChoice = choice): Promise<Kernels> {
  const module = await (precompiled ?? compiledModule(resolveBuild(build)));
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {});
  } catch (e) {
    if (!(e instanceof RangeError)) throw e; // a runtime that limits synchronous instantiation says so with a RangeError
    instance = await WebAssembly.instantiate(module, {});
  }
  return new Kernels(instance);
}
