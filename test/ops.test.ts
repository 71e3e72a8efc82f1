// Every case of the op table (test/ops-table.ts) on every backend, against the float64 reference: WASM, and WebGPU
// through dawn.node (on SwiftShader where there is no GPU: see DEVELOPERS.md). Each case runs as the one layer of a
// small model, through the backend's buffer plan and op table; ops that may write in place run a second time with
// their input pinned by a save, so both the in-place and the out-of-place kernels are checked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Backend } from '../src/engine/backend.js';
import { WasmBackend } from '../src/engine/wasm-backend.js';
import { OP_RULES } from '../src/format/shapes.js';
import { OP_NAMES, parseSpx, type Op, type OpName, type SpxModelFile } from '../src/format/index.js';
import { WebGpuBackend } from '../src/webgpu/backend.js';
import { GpuContext } from '../src/webgpu/context.js';
import { createNodeGpu } from '../src/webgpu/node-gpu.js';
import { caseLabel, caseModel, OP_TABLE, type OpCase, type OpEntry } from './ops-table.js';
import { refOps } from './reference/model.js';
import { assertClose, relError, rng } from './util.js';

let gpuCtx: GpuContext | undefined;
let gpuError: unknown;
try {
  const { gpu } = await createNodeGpu();
  gpuCtx = await GpuContext.create({ gpu });
} catch (e) {
  gpuError = e;
}

const BACKENDS: { name: string; make(file: SpxModelFile): Promise<Backend>; all: boolean }[] = [
  { name: 'wasm', make: (f) => WasmBackend.create(f), all: true },
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

/** The variants of a case: as written, and with the first op's input pinned when that op may write in place. */
function variants(c: OpCase, first: Op): OpCase[] {
  if (OP_RULES[first.op].placement !== 'inplace') return [c];
  return [c, { ...c, ops: (m) => [{ op: 'save', name: '__pinned' }, ...c.ops(m)] }];
}

const worst = new Map<string, number>();

for (const { name, make, all } of BACKENDS) {
  test(`${name}: every op of the table against the float64 reference`, async () => {
    const failures: string[] = [];
    let ran = 0;
    for (const [op, entry] of Object.entries(OP_TABLE) as [OpName, OpEntry][]) {
      for (const [i, c] of entry.cases.entries()) {
        if (!all && c.cpuOnly) continue;
        const seed = 1000 * (OP_NAMES.indexOf(op) + 1) + i;
        for (const v of variants(c, caseModel(c, rng(seed)).ops[0])) {
          // The same seed gives the same weights and input: the variants differ only in their ops.
          const m = caseModel(v, rng(seed));
          const file = parseSpx(m.bytes);
          const what = `${name} ${op} #${i + 1}: ${caseLabel(v, m.ops)}`;
          let backend: Backend | undefined;
          try {
            backend = await make(file);
            await backend.run(m.input, m.layer, m.layer);
            const got = await backend.read();
            const ref = refOps(file, m.ops, m.refInput, m.ids);
            ran++;
            if (got.shape.join() !== ref.shape.join()) { failures.push(`${what}: shape [${got.shape}], expected [${ref.shape}]`); continue; }
            if (got.data.some((x) => Number.isNaN(x))) { failures.push(`${what}: NaN in the output`); continue; }
            const tol = name === 'webgpu' ? entry.webgpuTol ?? entry.tol : entry.tol;
            const err = tol === 0
              ? (got.data.every((x, j) => x === Math.fround(ref.data[j])) ? 0 : Infinity)
              : relError(got.data, ref.data);
            worst.set(`${name} ${op}`, Math.max(worst.get(`${name} ${op}`) ?? 0, err));
            if (!(err <= tol)) failures.push(`${what}: normalized error ${err} > ${tol}`);
          } catch (e) {
            failures.push(`${what}: ${(e as Error).message}`);
          } finally {
            backend?.dispose();
          }
        }
      }
    }
    assert.equal(failures, [], `${failures.length} failing cases`);
    console.log(`  ${name}: ${ran} cases`);
  });
}

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
  const lines = [...worst].map(([k, v]) => `${k.padEnd(18)} ${v === 0 ? 'exact' : v.toExponential(2)}`);
  console.log(`  worst normalized error per op:\n    ${lines.join('\n    ')}`);
  gpuCtx?.destroy();
});

test.run();
