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
import { OP_RULES } from '../src/format/shapes.js';
import { OP_NAMES, parseSpx, type Op, type OpName } from '../src/format/index.js';
import { loadModel, packageRoot } from '../src/node.js';
import { loadKernels, useWasmKernels, wasmRelaxedSimdSupported, type WasmKernelBuild } from '../src/wasm/runtime.js';
import { caseLabel, caseModel, OP_TABLE, type OpCase, type OpEntry } from './ops-table.js';
import { refOps } from './reference/model.js';
import { relError, rng } from './util.js';

const build = process.argv[2] as WasmKernelBuild;
const parts = new Set(process.argv.slice(3));
if (build !== 'simd' && build !== 'relaxed') throw new Error(`usage: relaxed-simd-child.js <simd|relaxed> [ops] [zoo] [fused], got ${build}`);

const result: Record<string, unknown> = { build, relaxedSupported: wasmRelaxedSimdSupported() };
result.chosen = useWasmKernels(build);
result.loaded = (await loadKernels()).build;

function variants(c: OpCase, first: Op): OpCase[] {
  if (OP_RULES[first.op].placement !== 'inplace') return [c];
  return [c, { ...c, ops: (m) => [{ op: 'save', name: '__pinned' }, ...c.ops(m)] }];
}

/** Every case of the op table on the f32 path, or (int8) every case with an int8 tolerance on the int8 path. */
async function runOpTable(int8: boolean): Promise<{ ran: number; failures: string[]; worst: Record<string, number> }> {
  const failures: string[] = [];
  const worst: Record<string, number> = {};
  let ran = 0;
  const opts = { int8Weights: int8 };
  for (const [op, entry] of Object.entries(OP_TABLE) as [OpName, OpEntry][]) {
    if (int8 && entry.int8Tol === undefined) continue;
    const tol = int8 ? entry.int8Tol! : entry.tol;
    for (const [i, c] of entry.cases.entries()) {
      const seed = 1000 * (OP_NAMES.indexOf(op) + 1) + i; // the seeds test/ops.test.ts uses: the same cases
      for (const v of variants(c, caseModel(c, rng(seed), opts).ops[0])) {
        const m = caseModel(v, rng(seed), opts);
        const file = parseSpx(m.bytes);
        const what = `${op} #${i + 1}: ${caseLabel(v, m.ops)}`;
        let backend: WasmBackend | undefined;
        try {
          backend = await WasmBackend.create(file, { precision: int8 ? 'int8' : 'f32' });
          await backend.run(m.input, m.layer, m.layer);
          const got = await backend.read();
          const ref = refOps(file, m.ops, m.refInput, m.ids);
          ran++;
          if (got.shape.join() !== ref.shape.join()) { failures.push(`${what}: shape [${got.shape}], expected [${ref.shape}]`); continue; }
          if (got.data.some((x) => Number.isNaN(x))) { failures.push(`${what}: NaN in the output`); continue; }
          const err = tol === 0
            ? (got.data.every((x, j) => x === Math.fround(ref.data[j])) ? 0 : Infinity)
            : relError(got.data, ref.data);
          worst[op] = Math.max(worst[op] ?? 0, err);
          if (!(err <= tol)) failures.push(`${what}: normalized error ${err} > ${tol}`);
        } catch (e) {
          failures.push(`${what}: ${(e as Error).message}`);
        } finally {
          backend?.dispose();
        }
      }
    }
  }
  return { ran, failures, worst };
}

if (parts.has('ops')) {
  result.ops = await runOpTable(false);
  result.opsInt8 = await runOpTable(true);
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
