// Runs in a child process started by test/relaxed-simd.test.ts with `--experimental-wasm-relaxed-simd` (Node 20 needs
// the flag; later Node has relaxed SIMD on): loads one kernel build, forced, and checks it against the float64
// references the plain build is held to, then prints one JSON line the parent asserts on.
//
//   node --experimental-wasm-relaxed-simd dist/test/relaxed-simd-child.js <simd|relaxed> [ops] [zoo] [fused] [peak]
//
// ops:   every WASM case of the op table (test/ops-table.ts) against its float64 reference and tolerance, and every
//        int8 case on the int8 path (its f32 parts, depthwise convs and GELU among them, use this build's madd);
// zoo:   the zoo models' every exit against PyTorch (parity.json) and ONNX Runtime on the ONNX export (≤ 1e-4);
// fused: one dot product whose two f32 roundings and one rounding differ, through `linear` (see the parent test);
// peak:  the peak_fma8 / peak_fma12 probes on a few iterations, with the buffer they read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { WasmBackend } from '../src/engine/wasm-backend.js';
import { loadModel, packageRoot } from '../src/node.js';
import { loadKernels, useWasmKernels, wasmRelaxedSimdSupported, type WasmKernelBuild } from '../src/wasm/runtime.js';
import { runOpTable } from './ops-table.js';
import { rng } from './util.js';

const build = process.argv[2] as WasmKernelBuild;
const parts = new Set(process.argv.slice(3));
if (build !== 'simd' && build !== 'relaxed') throw new Error(`usage: relaxed-simd-child.js <simd|relaxed> [ops] [zoo] [fused], got ${build}`);

const result: Record<string, unknown> = { build, relaxedSupported: wasmRelaxedSimdSupported() };
result.chosen = useWasmKernels(build);
result.loaded = (await loadKernels()).build;

if (parts.has('ops')) {
  // the seeds and cases test/ops.test.ts uses; the int8 path's f32 parts (depthwise convs, GELU) use this build's madd
  result.ops = await runOpTable((f) => WasmBackend.create(f), { tolOf: (e) => e.tol });
  result.opsInt8 = await runOpTable((f) => WasmBackend.create(f, { precision: 'int8' }), { int8: true, tolOf: (e) => e.int8Tol! });
}

if (parts.has('zoo')) {
  const zoo: Record<string, { samples: number; torch: number; ort: number }> = {};
  for (const name of ['fmnist-cnn', 'sst2-transformer']) {
    const dir = join(packageRoot, 'models', name);
    const raw = JSON.parse(readFileSync(join(dir, 'parity.json'), 'utf8')) as
      { samples?: { input?: number[]; ids?: number[]; probs: number[][] }[]; cases?: { input?: number[]; ids?: number[]; probs: number[][] }[] };
    const samples = raw.samples ?? raw.cases ?? [];
    const m = await loadModel(name);
    const session = await ort.InferenceSession.create(join(dir, `${name}.onnx`), { intraOpNumThreads: 1, interOpNumThreads: 1 });
    let torch = 0, onnx = 0;
    for (const s of samples) {
      const x = m.header.input.kind === 'image' ? Float32Array.from(s.input!) : Int32Array.from(s.ids!);
      const exits = await m.exits(x);
      if (exits.length !== s.probs.length) throw new Error(`${name}: ${exits.length} exits, parity.json has ${s.probs.length}`);
      exits.forEach((e, k) => { for (let j = 0; j < e.probs.length; j++) torch = Math.max(torch, Math.abs(e.probs[j] - s.probs[k][j])); });
      const feed = x instanceof Float32Array
        ? new ort.Tensor('float32', x, [1, ...(m.header.input as { shape: number[] }).shape])
        : new ort.Tensor('int64', BigInt64Array.from(Array.from(x, BigInt)), [1, x.length]);
      const out = await session.run({ [session.inputNames[0]]: feed });
      session.outputNames.forEach((o, k) => {
        const d = out[o].data as Float32Array;
        for (let j = 0; j < d.length; j++) onnx = Math.max(onnx, Math.abs(d[j] - exits[k].probs[j]));
      });
    }
    await session.release();
    m.dispose();
    zoo[name] = { samples: samples.length, torch, ort: onnx };
  }
  result.zoo = zoo;
}

if (parts.has('fused')) {
  // out = x0·w0 + x1·w1 with x0·w0 = −1 first, then (1 + 2⁻¹²)² = 1 + 2⁻¹¹ + 2⁻²⁴: a multiply then an add rounds the
  // product to 1 + 2⁻¹¹ (2⁻²⁴ is half an ulp, a tie to even) and gives 2⁻¹¹; a fused multiply-add keeps 2⁻²⁴.
  // Rows M = 1 (the GEMV kernel) and M = 4 (the 4×8 tile) go through different micro-kernels.
  const k = await loadKernels();
  const K = 2, N = 1, e = 1 + 2 ** -12;
  const w = k.putF32([1, e]);
  const packed = k.alloc(k.exports.linear_packed_bytes(K, N));
  k.exports.linear_pack(w, packed, K, N);
  const out: Record<string, number[]> = {};
  for (const M of [1, 4]) {
    const x = k.putF32(Array.from({ length: M }, () => [-1, e]).flat());
    const y = k.alloc(M * N * 4);
    k.exports.linear(x, packed, 0, y, M, K, N, 0);
    out[`M${M}`] = Array.from(k.f32(y, M * N));
  }
  result.fused = out;
}

if (parts.has('peak')) {
  // The bench's madd peak probes (assembly/peak.ts) on a few iterations, with the buffer they read, so the parent
  // can compute their sums in float64.
  const k = await loadKernels();
  const e = k.exports as unknown as Record<string, (...a: number[]) => number>;
  const bytes = e.peak_buf_bytes();
  const buf = k.alloc(bytes);
  const r = rng(77);
  const values = Float32Array.from({ length: bytes / 4 }, () => 0.5 + r.next());
  k.f32(buf, values.length).set(values);
  result.peak = { buf: Array.from(values), iters: 9, fma8: e.peak_fma8(buf, 9), fma12: e.peak_fma12(buf, 9), fma8Flops: e.peak_fma8_flops_per_iter(), fma12Flops: e.peak_fma12_flops_per_iter() };
}

console.log(JSON.stringify(result));
