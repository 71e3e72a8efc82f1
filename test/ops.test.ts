// Every case of the op table (test/ops-table.ts) on every backend, against the float64 reference: WASM, and WebGPU
// through dawn.node (on SwiftShader where there is no GPU: see DEVELOPERS.md). Each case runs as the one layer of a
// small model, through the backend's buffer plan and op table; ops that may write in place run a second time with
// their input pinned by a save, so both the in-place and the out-of-place kernels are checked. The WASM int8 path
// (precision 'int8') runs the ops that have an int8Tol, on int8-representable weights, and the tiny models end to end.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../src/engine/backend.js';
import { WasmBackend } from '../src/engine/wasm-backend.js';
import { parseSpx, writeSpx, type SpxModelFile, type WriterTensor } from '../src/format/index.js';
import { WebGpuBackend } from '../src/webgpu/backend.js';
import { GpuContext } from '../src/webgpu/context.js';
import { createNodeGpu } from '../src/webgpu/node-gpu.js';
import { runOpTable, snapRows } from './ops-table.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { refForward } from './reference/model.js';
import { assertClose, randn, relError, rng } from './util.js';

/**
 * Largest |Δp| of an exit's probabilities in int8 on int8-representable weights: each int8 op is within ~1e-4 of
 * ‖y‖ (OP_TABLE int8Tol), a few of them in a row before a softmax of O(1) logits.
 */
const INT8_MODEL_TOL = 5e-4;

let gpuCtx: GpuContext | undefined;
let gpuError: unknown;
try {
  const { gpu } = await createNodeGpu();
  gpuCtx = await GpuContext.create({ gpu });
} catch (e) {
  gpuError = e;
}

const BACKENDS: { name: string; make(file: SpxModelFile): Promise<Backend>; all: boolean; int8?: boolean }[] = [
  { name: 'wasm', make: (f) => WasmBackend.create(f), all: true },
  // precision 'int8': the ops with an int8Tol, on int8-representable weights (OpEntry.int8Tol)
  { name: 'wasm-int8', make: (f) => WasmBackend.create(f, { precision: 'int8' }), all: true, int8: true },
  {
    name: 'webgpu',
    make: (f) => {
      if (!gpuCtx) {
        throw new Error(`no WebGPU adapter (${String((gpuError as Error)?.message ?? gpuError)}): install Chromium's SwiftShader with \`apt-get install chromium\` (see DEVELOPERS.md)`);
      }
      return WebGpuBackend.create(f, gpuCtx);
    },
    all: false,
  },
];

const worst = new Map<string, number>();

for (const { name, make, all, int8 } of BACKENDS) {
  test(`${name}: every ${int8 ? 'int8 ' : ''}op of the table against the float64 reference`, async () => {
    const run = await runOpTable(make, {
      int8, label: name, skip: (c) => !all && !!c.cpuOnly,
      tolOf: (e) => (int8 ? e.int8Tol! : name === 'webgpu' ? e.webgpuTol ?? e.tol : e.tol),
    });
    for (const [op, err] of Object.entries(run.worst)) worst.set(`${name} ${op}`, err);
    assert.equal(run.failures, [], `${run.failures.length} failing cases`);
    assert.ok(run.ran > 0, `${name}: no case ran`);
    console.log(`  ${name}: ${run.ran} cases`);
  });
}

/** The model with every weight of two or more dimensions on its int8 grid (snapRows), alternately stored as int8. */
function int8Snapped(bytes: Uint8Array): Uint8Array {
  const file = parseSpx(bytes);
  const tensors: Record<string, WriterTensor> = {};
  for (const [i, [name, e]] of Object.entries(file.header.tensors).entries()) {
    const data = file.tensor(name);
    if (e.shape.length < 2) { tensors[name] = { dtype: 'f32', shape: e.shape, data }; continue; }
    const snapped = snapRows(data, e.shape[0], data.length / e.shape[0]);
    tensors[name] = i % 2 ? { dtype: 'f32', shape: e.shape, data: snapped.data } : { dtype: 'i8', shape: e.shape, data: snapped.q, quant: { axis: 0, scales: snapped.scales } };
  }
  const { tensors: _t, dataLength: _d, ...header } = file.header;
  return writeSpx(header, tensors);
}

test('wasm-int8: the tiny models end to end, every exit, against the float64 reference', async () => {
  const r = rng(77);
  const models: [string, Uint8Array, (Float32Array | Int32Array)[]][] = [
    ['tiny-image', tinyImageModel(), Array.from({ length: 4 }, () => randn(r, 3 * 13 * 11))],
    ['tiny-text', tinyTextModel(), Array.from({ length: 5 }, (_, i) => Int32Array.from({ length: [1, 2, 5, 8, 9][i] }, () => r.int(0, 50)))],
    ['tiny-text windowed', tinyTextModel(2, 3, [1, 2, 0]), Array.from({ length: 3 }, (_, i) => Int32Array.from({ length: [3, 7, 9][i] }, () => r.int(0, 50)))],
  ];
  for (const [what, original, inputs] of models) {
    const bytes = int8Snapped(original);
    const file = parseSpx(bytes);
    const backend = await WasmBackend.create(file, { precision: 'int8' });
    try {
      for (const [n, x] of inputs.entries()) {
        const ref = refForward(file, x);
        for (let k = 1; k <= file.header.layers.length; k++) {
          await backend.run(k === 1 ? x : null, k, k);
          const got = (await backend.exit(k)).probs;
          const err = ref[k - 1].reduce((m, p, j) => Math.max(m, Math.abs(p - got[j])), 0);
          worst.set('wasm-int8 model |Δp|', Math.max(worst.get('wasm-int8 model |Δp|') ?? 0, err));
          assert.ok(err <= INT8_MODEL_TOL, `${what} input ${n} exit ${k}: max |Δp| ${err} > ${INT8_MODEL_TOL} (got [${Array.from(got)}], expected [${Array.from(ref[k - 1])}])`);
        }
      }
    } finally {
      backend.dispose();
    }
  }
});

test('the comparison helpers: a NaN or an infinity is matched only by itself', () => {
  const fails = (a: number[], e: number[]) => {
    let threw = false;
    try { assertClose(a, e, 1e-3, 1e-3); } catch { threw = true; }
    assert.ok(threw, `[${a}] passed as close to [${e}]`);
  };
  fails([1], [NaN]);
  fails([NaN], [1]);
  fails([Infinity], [1]);
  fails([1e300], [Infinity]);
  fails([-Infinity], [Infinity]);
  assertClose([NaN, Infinity, 1], [NaN, Infinity, 1.0005], 1e-3, 0);
  assert.ok(relError([1, 2], [1, 2]) === 0 && relError([1, 2.1], [1, 2]) > 0.04);
});

test.after(() => {
  const lines = [...worst].map(([k, v]) => `${k.padEnd(20)} ${v === 0 ? 'exact' : v.toExponential(2)}`);
  console.log(`  worst normalized error per op:\n    ${lines.join('\n    ')}`);
  gpuCtx?.destroy();
});

test.run();
