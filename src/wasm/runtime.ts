// Loads the kernel module and manages its linear memory as one arena.
//
// Each model gets its own instance (its own memory), so two models never share or fight over buffers. The arena is
// a bump allocator: a model plans every buffer it will ever need at load time, grows memory once, and the hot path
// only passes byte offsets to kernels. `mark`/`release` let tests and one-off tools reuse the space.
import { wasmBase64 } from './binary.generated.js';

/** The raw exports of assembly/ (see docs/KERNELS.md). Pointers are byte offsets into `memory`. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  linear_packed_bytes(K: number, N: number): number;
  linear_pack(w: number, packed: number, K: number, N: number): void;
  linear(x: number, packed: number, b: number, out: number, M: number, K: number, N: number, act: number): void;
  conv2d_packed_bytes(C: number, OC: number, KH: number, KW: number, groups: number): number;
  conv2d_pack(w: number, packed: number, C: number, OC: number, KH: number, KW: number, groups: number): void;
  conv2d_scratch_bytes(C: number, H: number, W: number, OC: number, KH: number, KW: number, stride: number, pad: number, groups: number): number;
  conv2d(x: number, packed: number, b: number, out: number, C: number, H: number, W: number, OC: number, KH: number, KW: number,
    stride: number, pad: number, groups: number, act: number, scratch: number): void;
  maxpool2d(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
  avgpool2d(x: number, out: number, C: number, H: number, W: number, k: number, stride: number, pad: number): void;
  gap(x: number, out: number, C: number, HW: number): void;
  relu(x: number, out: number, n: number): void;
  relu6(x: number, out: number, n: number): void;
  gelu(x: number, out: number, n: number): void;
  add(a: number, b: number, out: number, n: number): void;
  layernorm(x: number, g: number, b: number, out: number, rows: number, D: number, eps: number): void;
  softmax(x: number, out: number, rows: number, N: number): void;
  embed(ids: number, T: number, tok: number, pos: number, D: number, out: number): void;
  attention_scratch_bytes(T: number, D: number, heads: number): number;
  attention(x: number, T: number, D: number, heads: number, wqkv: number, bqkv: number, wo: number, bo: number,
    mask: number, window: number, out: number, scratch: number): void;
  seqmean(x: number, out: number, T: number, D: number): void;
  exit_head(logits: number, probs: number, N: number): number;
  quantize_i8(x: number, q: number, n: number, scale: number, zeroPoint: number): void;
  dequantize_i8(q: number, out: number, n: number, scale: number, zeroPoint: number): void;
  quantize_i8_channel(x: number, q: number, channels: number, inner: number, scales: number, zeroPoints: number): void;
  dequantize_i8_channel(q: number, out: number, channels: number, inner: number, scales: number, zeroPoints: number): void;
  minmax(x: number, n: number, out: number): void;
}

export const ACT = { none: 0, relu: 1, relu6: 2, gelu: 3 } as const;
export type Activation = keyof typeof ACT;

const PAGE = 65536;
let compiled: Promise<WebAssembly.Module> | undefined;

function decodeBase64(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Compiles the embedded module once per process; instances are cheap after that. */
function compiledModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(decodeBase64(wasmBase64) as Uint8Array<ArrayBuffer>);
  return compiled;
}

export class Kernels {
  readonly k: KernelExports;
  private top: number;
  private readonly base: number;

  constructor(instance: WebAssembly.Instance) {
    this.k = instance.exports as unknown as KernelExports;
    // Static data of the module lives below its initial memory size; the arena starts above it.
    this.base = align(this.k.memory.buffer.byteLength, 64);
    this.top = this.base;
  }

  get memory(): WebAssembly.Memory { return this.k.memory; }

  /** Bytes handed out so far (the arena's high-water mark is the memory size). */
  get used(): number { return this.top - this.base; }

  /** Reserves `bytes` at `alignment`, growing memory if needed. Never call on the hot path. */
  alloc(bytes: number, alignment = 64): number {
    const ptr = align(this.top, alignment);
    const end = ptr + Math.max(0, bytes);
    const have = this.k.memory.buffer.byteLength;
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return ptr;
  }

  mark(): number { return this.top; }
  release(mark: number): void { this.top = Math.max(this.base, mark); }

  // Views are made fresh on every call because memory.grow detaches old ArrayBuffers.
  f32(ptr: number, n: number): Float32Array { return new Float32Array(this.k.memory.buffer, ptr, n); }
  i32(ptr: number, n: number): Int32Array { return new Int32Array(this.k.memory.buffer, ptr, n); }
  i8(ptr: number, n: number): Int8Array { return new Int8Array(this.k.memory.buffer, ptr, n); }
  u8(ptr: number, n: number): Uint8Array { return new Uint8Array(this.k.memory.buffer, ptr, n); }

  /** Allocates and fills an f32 buffer (load time and tests). */
  putF32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    this.f32(p, data.length).set(data);
    return p;
  }
}

export function align(n: number, a: number): number { return Math.ceil(n / a) * a; }

/** A fresh kernel instance with its own memory. */
export async function loadKernels(): Promise<Kernels> {
  const instance = await WebAssembly.instantiate(await compiledModule(), {});
  return new Kernels(instance);
}
