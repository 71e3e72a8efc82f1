// The two kernel builds (docs/KERNELS.md, "Two builds"): the choice at load, and the relaxed-SIMD build held to the
// same float64 references, tolerances and zoo parity as the plain one. Node 20 has relaxed SIMD only behind
// --experimental-wasm-relaxed-simd, so the relaxed build runs in a child process started with it
// (test/relaxed-simd-child.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { wasmBase64, wasmRelaxedBase64 } from '../src/wasm/binary.generated.js';
import { DEFAULT_WASM_KERNELS, loadKernels, useWasmKernels, WasmKernelError, wasmKernelBuild, wasmRelaxedSimdSupported } from '../src/wasm/runtime.js';

const CHILD = fileURLToPath(new URL('./relaxed-simd-child.js', import.meta.url));
const FLAG = '--experimental-wasm-relaxed-simd';

interface ChildResult {
  build: string; relaxedSupported: boolean; chosen: string; loaded: string;
  ops?: { ran: number; failures: string[]; worst: Record<string, number> };
  opsInt8?: { ran: number; failures: string[]; worst: Record<string, number> };
  zoo?: Record<string, { samples: number; torch: number; ort: number }>;
  fused?: Record<string, number[]>;
  peak?: { buf: number[]; iters: number; fma8: number; fma12: number; fma8Flops: number; fma12Flops: number };
}

/**
 * What peak_fma{C} returns, in float64: iteration i reads C vectors u_m at float offset 4·((i & 7) + m) and adds
 * u_m·v0 and u_m·v1 lane-wise, v0 and v1 being the buffer's first two vectors; the result sums every lane.
 */
function peakSum(buf: number[], iters: number, chains: number): number {
  let s = 0;
  for (let i = 0; i < iters; i++) {
    for (let m = 0; m < chains; m++) for (let l = 0; l < 4; l++) s += buf[4 * ((i & 7) + m) + l] * (buf[l] + buf[4 + l]);
  }
  return s;
}

function checkPeak(p: NonNullable<ChildResult['peak']>): void {
  for (const [name, chains, got, fpi] of [['peak_fma8', 8, p.fma8, p.fma8Flops], ['peak_fma12', 12, p.fma12, p.fma12Flops]] as const) {
    const want = peakSum(p.buf, p.iters, chains);
    assert.ok(Math.abs(got - want) <= 1e-5 * want, `${name}: ${got}, float64 ${want}`);
    assert.is(fpi, 2 * chains * 4 * 2, `${name}_flops_per_iter`);
  }
}

function runChild(args: string[]): ChildResult {
  assert.ok(existsSync(CHILD), `${CHILD} is missing: run npm run build`);
  let r = spawnSync(process.execPath, [FLAG, CHILD, ...args], { encoding: 'utf8', timeout: 120_000 });
  // A Node whose V8 has shipped relaxed SIMD may no longer know the flag: it needs none.
  if (r.status !== 0 && /bad option/.test(r.stderr)) r = spawnSync(process.execPath, [CHILD, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, `child ${args.join(' ')} exited ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(-2000)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as ChildResult;
}

function bytes(b64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(Buffer.from(b64, 'base64'));
}

/**
 * Whether this CPU has a fused multiply-add instruction the engine lowers relaxed_madd to: x86's FMA3 (the `fma`
 * cpuinfo flag) or any 64-bit ARM. Read from /proc/cpuinfo, independently of anything the kernels report.
 */
function cpuHasFma(): boolean {
  if (process.arch === 'arm64') return true;
  if (process.arch !== 'x64' && process.arch !== 'ia32') return false;
  const info = readFileSync('/proc/cpuinfo', 'utf8');
  return /^flags\s*:.*\bfma\b/m.test(info);
}

// linear's x0·w0 + x1·w1 with products −1 and (1 + 2⁻¹²)²: two roundings give 2⁻¹¹, one gives 2⁻¹¹ + 2⁻²⁴.
const UNFUSED = 2 ** -11;
const FUSED = 2 ** -11 + 2 ** -24;

test('the embedded relaxed build needs relaxed SIMD and the plain build does not', () => {
  assert.ok(WebAssembly.validate(bytes(wasmBase64)), 'the plain build validates on this runtime');
  const relaxed = bytes(wasmRelaxedBase64);
  assert.ok(relaxed.length > 1000 && relaxed.length !== bytes(wasmBase64).length, 'two different binaries are embedded');
  // Without relaxed SIMD the relaxed build must not validate (it really uses relaxed opcodes); with it, it must.
  assert.is(WebAssembly.validate(relaxed), wasmRelaxedSimdSupported());
});

test('useWasmKernels: the plain build by default; auto takes relaxed exactly where the runtime has it; bad input throws', async () => {
  const has = wasmRelaxedSimdSupported();
  try {
    // Nothing in this process has chosen yet: the default is the plain build, whatever the runtime supports.
    assert.is(DEFAULT_WASM_KERNELS, 'simd');
    assert.is(wasmKernelBuild(), 'simd');
    assert.is((await loadKernels()).build, 'simd');
    assert.is(useWasmKernels('auto'), has ? 'relaxed' : 'simd');
    assert.is(wasmKernelBuild(), has ? 'relaxed' : 'simd');
    assert.is((await loadKernels()).build, has ? 'relaxed' : 'simd');
    assert.is(useWasmKernels('simd'), 'simd');
    assert.is((await loadKernels()).build, 'simd');
    assert.is((await loadKernels('auto')).build, has ? 'relaxed' : 'simd', 'loadKernels(build) overrides the choice');
    if (has) {
      assert.is(useWasmKernels('relaxed'), 'relaxed');
      assert.is((await loadKernels()).build, 'relaxed');
    } else {
      // Forcing relaxed where it is missing fails at once and leaves the previous choice in place.
      try { useWasmKernels('relaxed'); assert.unreachable('forced relaxed without relaxed SIMD'); } catch (e) {
        assert.instance(e, WasmKernelError);
        assert.is((e as WasmKernelError).code, 'NO_RELAXED_SIMD');
      }
      assert.is(wasmKernelBuild(), 'simd');
    }
    for (const bad of ['fma', '', undefined, 'SIMD']) {
      try { useWasmKernels(bad as never); assert.unreachable(`accepted ${String(bad)}`); } catch (e) {
        assert.instance(e, WasmKernelError);
        assert.is((e as WasmKernelError).code, 'BAD_INPUT');
      }
    }
  } finally {
    useWasmKernels(DEFAULT_WASM_KERNELS);
  }
});

test('relaxed build (child with relaxed SIMD): every WASM op case within its tolerance, the zoo within 1e-4 of PyTorch and ORT, FMA used', () => {
  const r = runChild(['relaxed', 'ops', 'zoo', 'fused', 'peak']);
  assert.ok(r.relaxedSupported, 'the child has relaxed SIMD');
  assert.is(r.chosen, 'relaxed');
  assert.is(r.loaded, 'relaxed', 'the kernels loaded are the relaxed build (read from the module)');
  assert.ok(r.ops!.ran > 1000, `${r.ops!.ran} op cases ran`);
  assert.equal(r.ops!.failures, [], `${r.ops!.failures.length} failing cases on the relaxed build`);
  assert.ok(r.opsInt8!.ran > 100, `${r.opsInt8!.ran} int8 op cases ran`);
  assert.equal(r.opsInt8!.failures, [], `${r.opsInt8!.failures.length} failing int8 cases on the relaxed build`);
  for (const [name, z] of Object.entries(r.zoo!)) {
    assert.ok(z.samples >= 32, `${name}: ${z.samples} parity samples`);
    assert.ok(z.torch <= 1e-4, `${name}: max abs diff vs PyTorch ${z.torch}`);
    assert.ok(z.ort <= 1e-4, `${name}: max abs diff vs ONNX Runtime ${z.ort}`);
  }
  // On a CPU with FMA the engine fuses relaxed_madd; the GEMV and the 4×8 tile both go through it.
  const want = cpuHasFma() ? FUSED : UNFUSED;
  assert.equal(r.fused!.M1, [want]);
  assert.equal(r.fused!.M4, [want, want, want, want]);
  checkPeak(r.peak!);
  const worst = Object.entries(r.ops!.worst).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v.toExponential(1)}`);
  console.log(`  relaxed: ${r.ops!.ran} op cases and ${r.opsInt8!.ran} int8 cases; worst normalized error: ${worst.join(', ')}`);
});

test('plain build forced where relaxed SIMD exists: two roundings, the zoo within 1e-4, the peak probes', () => {
  const r = runChild(['simd', 'zoo', 'fused', 'peak']);
  assert.ok(r.relaxedSupported);
  assert.is(r.chosen, 'simd');
  assert.is(r.loaded, 'simd');
  assert.equal(r.fused!.M1, [UNFUSED]);
  assert.equal(r.fused!.M4, [UNFUSED, UNFUSED, UNFUSED, UNFUSED]);
  for (const [name, z] of Object.entries(r.zoo!)) {
    assert.ok(z.torch <= 1e-4 && z.ort <= 1e-4, `${name}: PyTorch ${z.torch}, ORT ${z.ort}`);
  }
  checkPeak(r.peak!);
});

test.run();
