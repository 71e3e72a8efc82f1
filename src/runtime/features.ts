// What this JavaScript runtime offers the engine — WebAssembly SIMD, relaxed SIMD, threads, WebGPU — and which paths
// the engine will take here. WebAssembly features are probed with WebAssembly.validate on tiny modules assembled
// below by hand (validation compiles nothing, so it works even where compiling from bytes is forbidden, as in
// Cloudflare Workers). Core module: no Node imports.
import { wasmKernelBuild } from '../wasm/runtime.js';

/** The runtimes told apart; 'browser' is a page, 'web-worker' a dedicated or shared worker in a browser or Deno. */
export type RuntimeName = 'node' | 'deno' | 'bun' | 'workerd' | 'browser' | 'web-worker' | 'unknown';

export interface GpuAdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** A software or fallback adapter (SwiftShader, WARP). */
  fallback: boolean;
}

/** One engine path and whether this runtime can take it. */
export interface EnginePath {
  available: boolean;
  /** Why not, or what it runs on. */
  detail: string;
}

export interface WasmFeatures {
  webAssembly: boolean;
  /** Fixed-width 128-bit SIMD (the engine's kernels need it). */
  simd: boolean;
  /** Relaxed SIMD (the kernels' relaxed build uses it when chosen: useWasmKernels('auto' | 'relaxed')). */
  relaxedSimd: boolean;
  /** Shared memory and atomics validate, and SharedArrayBuffer is usable (browsers: cross-origin isolated). */
  threads: boolean;
  sharedArrayBuffer: boolean;
  /** Whether WebAssembly may be compiled from bytes at run time (Workers forbid it: hand the engine a compiled module). */
  compileFromBytes: boolean;
}

export interface RuntimeFeatures extends WasmFeatures {
  runtime: { name: RuntimeName; version: string | null };
  /** A page or worker that is cross-origin isolated (null outside browsers). */
  crossOriginIsolated: boolean | null;
  webgpu: { api: boolean; adapter: GpuAdapterSummary | null; reason?: string };
  /** The engine's paths here: the WASM kernels, the WebGPU backend, and what backend 'auto' picks. */
  engine: {
    wasm: EnginePath;
    webgpu: EnginePath;
    auto: 'webgpu' | 'wasm' | null;
    /** The engine's kernels are single-threaded; relaxedSimd: models loaded now get the relaxed-SIMD build. */
    uses: { simd: true; relaxedSimd: boolean; threads: false };
  };
}

// ---- hand-assembled probe modules (binary format: magic, version, then sections id · size · content)

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const I32_CONST_0 = [0x41, 0x00];

/** A module with one function of no parameters returning `result`, whose body (without locals) is `code`. */
function oneFunction(result: number, code: number[], extraSections: number[] = []): Uint8Array {
  const body = [0x00, ...code, 0x0b]; // no locals … end
  return Uint8Array.from([
    ...HEADER,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, result, // type section: [] → [result]
    0x03, 0x02, 0x01, 0x00, // function section: function 0 has type 0
    ...extraSections,
    0x0a, body.length + 2, 0x01, body.length, ...body, // code section
  ]);
}

const V128 = 0x7b, I32 = 0x7f;
/** i32.const 0; i8x16.splat → v128. */
const SIMD_PROBE = oneFunction(V128, [...I32_CONST_0, 0xfd, 0x0f]);
/** f32.const 0; f32x4.splat; i32x4.relaxed_trunc_f32x4_s (0xfd 0x101) → v128. */
const RELAXED_SIMD_PROBE = oneFunction(V128, [0x43, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x13, 0xfd, 0x81, 0x02]);
/** A shared memory (min 1, max 1 page) and i32.const 0; i32.atomic.load align=4 offset=0 → i32. */
const THREADS_PROBE = oneFunction(I32, [...I32_CONST_0, 0xfe, 0x10, 0x02, 0x00], [0x05, 0x04, 0x01, 0x03, 0x01, 0x01]);
const EMPTY_MODULE = Uint8Array.from(HEADER);

function validates(bytes: Uint8Array): boolean {
  try {
    return WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>);
  } catch {
    return false;
  }
}

function canCompileFromBytes(): boolean {
  try {
    return new WebAssembly.Module(EMPTY_MODULE as Uint8Array<ArrayBuffer>) instanceof WebAssembly.Module;
  } catch {
    return false;
  }
}

/** The WebAssembly features of this runtime (synchronous, no side effects). */
export function wasmFeatures(): WasmFeatures {
  const webAssembly = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  const sharedArrayBuffer = typeof SharedArrayBuffer === 'function';
  return {
    webAssembly,
    simd: webAssembly && validates(SIMD_PROBE),
    relaxedSimd: webAssembly && validates(RELAXED_SIMD_PROBE),
    threads: webAssembly && sharedArrayBuffer && validates(THREADS_PROBE),
    sharedArrayBuffer,
    compileFromBytes: webAssembly && canCompileFromBytes(),
  };
}

/** Whether WebAssembly fixed-width SIMD is available: the engine's WASM kernels cannot run without it. */
export function hasWasmSimd(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function' && validates(SIMD_PROBE);
}

interface Globals {
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  process?: { versions?: { node?: string } };
  navigator?: { userAgent?: string; gpu?: GPU };
  document?: unknown;
  WorkerGlobalScope?: new () => unknown;
  crossOriginIsolated?: boolean;
}

/** Which runtime this is, from the globals each one defines (Deno and Bun also define process.versions.node). */
export function detectRuntime(g: Globals = globalThis as unknown as Globals): RuntimeFeatures['runtime'] {
  if (g.Deno?.version?.deno) return { name: typeof g.WorkerGlobalScope === 'function' && globalThis instanceof g.WorkerGlobalScope ? 'web-worker' : 'deno', version: g.Deno.version.deno };
  if (g.Bun?.version) return { name: 'bun', version: g.Bun.version };
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return { name: 'workerd', version: null };
  if (g.process?.versions?.node) return { name: 'node', version: g.process.versions.node };
  const ua = g.navigator?.userAgent ?? null;
  if (typeof g.WorkerGlobalScope === 'function' && globalThis instanceof g.WorkerGlobalScope) return { name: 'web-worker', version: ua };
  if (g.document !== undefined) return { name: 'browser', version: ua };
  return { name: 'unknown', version: ua };
}

async function adapterSummary(gpu: GPU, timeoutMs: number): Promise<{ adapter: GpuAdapterSummary | null; reason?: string }> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
    const a = await Promise.race([gpu.requestAdapter(), timeout]);
    if (a === 'timeout') return { adapter: null, reason: `requestAdapter() did not answer within ${timeoutMs} ms` };
    if (!a) return { adapter: null, reason: 'requestAdapter() returned null (no usable GPU or driver)' };
    const info = (a as GPUAdapter & { info?: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } }).info ?? {};
    const fallback = Boolean((a as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? info.isFallbackAdapter);
    return { adapter: { vendor: info.vendor ?? '', architecture: info.architecture ?? '', description: info.description ?? '', fallback } };
  } catch (e) {
    return { adapter: null, reason: `requestAdapter() failed: ${(e as Error)?.message ?? e}` };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

export interface RuntimeFeatureOptions {
  /** A WebGPU entry point to probe (Node: the `webgpu` package's GPU); default navigator.gpu. */
  gpu?: GPU | null;
  /** How long to wait for a WebGPU adapter (default 5,000 ms). */
  adapterTimeoutMs?: number;
  /** Why there is no WebGPU entry point, when the caller knows better than the default message. */
  noGpuReason?: string;
}

/**
 * What this runtime offers and which engine paths it allows. Asks for a WebGPU adapter (the only asynchronous
 * part) when a WebGPU entry point exists.
 */
export async function runtimeFeatures(opts: RuntimeFeatureOptions = {}): Promise<RuntimeFeatures> {
  const g = globalThis as unknown as Globals;
  const wasm = wasmFeatures();
  const gpu = opts.gpu === undefined ? g.navigator?.gpu : opts.gpu ?? undefined;
  const webgpu: RuntimeFeatures['webgpu'] = gpu
    ? { api: true, ...(await adapterSummary(gpu, opts.adapterTimeoutMs ?? 5000)) }
    : { api: false, adapter: null, reason: opts.noGpuReason ?? 'no WebGPU API here (browsers: navigator.gpu in a secure context; Node: the optional webgpu package)' };

  const wasmPath: EnginePath = !wasm.webAssembly
    ? { available: false, detail: 'no WebAssembly in this runtime' }
    : !wasm.simd
      ? { available: false, detail: 'WebAssembly without SIMD: the kernels need fixed-width SIMD (128-bit)' }
      : wasm.compileFromBytes
        ? { available: true, detail: 'WASM SIMD kernels, single-threaded (compiled from the embedded module)' }
        : { available: true, detail: 'WASM SIMD kernels, single-threaded; this runtime compiles no WebAssembly from bytes: pass the compiled module (dist/splitee.wasm)' };
  const a = webgpu.adapter;
  const webgpuPath: EnginePath = a
    ? { available: true, detail: [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') + (a.fallback ? ' (fallback adapter)' : '') || 'an adapter' }
    : { available: false, detail: webgpu.reason ?? 'no adapter' };
  return {
    runtime: detectRuntime(g),
    ...wasm,
    crossOriginIsolated: typeof g.crossOriginIsolated === 'boolean' ? g.crossOriginIsolated : null,
    webgpu,
    engine: {
      wasm: wasmPath,
      webgpu: webgpuPath,
      auto: webgpuPath.available ? 'webgpu' : wasmPath.available ? 'wasm' : null,
      uses: { simd: true, relaxedSimd: wasmKernelBuild() === 'relaxed', threads: false },
    },
  };
}

/** The features as the lines `splitee info --runtime` prints. */
export function formatRuntimeFeatures(f: RuntimeFeatures): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const path = (p: EnginePath) => `${p.available ? 'yes' : 'no '}  ${p.detail}`;
  return [
    `runtime          ${f.runtime.name}${f.runtime.version ? ` ${f.runtime.version}` : ''}`,
    `WebAssembly      ${yes(f.webAssembly)}${f.webAssembly && !f.compileFromBytes ? ' (no compiling from bytes)' : ''}`,
    `  SIMD           ${yes(f.simd)}`,
    `  relaxed SIMD   ${yes(f.relaxedSimd)}`,
    `  threads        ${yes(f.threads)} (SharedArrayBuffer ${yes(f.sharedArrayBuffer)}${f.crossOriginIsolated === null ? '' : `, cross-origin isolated ${yes(f.crossOriginIsolated)}`})`,
    `WebGPU           ${f.webgpu.api ? (f.webgpu.adapter ? 'yes' : `API only: ${f.webgpu.reason}`) : 'no'}`,
    '',
    'engine paths',
    `  wasm           ${path(f.engine.wasm)}`,
    `  webgpu         ${path(f.engine.webgpu)}`,
    `  auto picks     ${f.engine.auto ?? 'nothing: no backend can run here'}`,
    `  (the kernels use fixed-width SIMD${f.engine.uses.relaxedSimd ? ' and relaxed SIMD (useWasmKernels)' : ' only: relaxed SIMD with useWasmKernels(\'auto\')'}, no threads)`,
  ].join('\n');
}
