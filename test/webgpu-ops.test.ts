// WGSL kernel behaviour the op table (test/ops.test.ts) does not reach: attention's key masks, a window's reach, the
// exit head's ties, quantize_i8's rounding on the exact quotient and minmax's non-finite values (the int8 offload
// path), a chain of dispatches with one readback, typed argument errors, and the WebGPU backend against the float64
// model reference. In Node through dawn.node, on SwiftShader (Chromium's CPU Vulkan driver) when there is no GPU; no
// adapter is a failure, with the install instruction.
import { existsSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModelBytes, parseSpx } from '../src/index.js';
import { WebGpuBackend } from '../src/webgpu/backend.js';
import { GpuContext } from '../src/webgpu/context.js';
import { WebGpuError } from '../src/webgpu/errors.js';
import { createNodeGpu } from '../src/webgpu/node-gpu.js';
import { attention } from '../src/webgpu/ops/attention.js';
import { conv2d } from '../src/webgpu/ops/conv2d.js';
import { checkIds } from '../src/webgpu/ops/embed.js';
import { decodeExitHead, exitHead, exitHeadOutBytes } from '../src/webgpu/ops/exit-head.js';
import { gap } from '../src/webgpu/ops/gap.js';
import { linear } from '../src/webgpu/ops/linear.js';
import { maxpool2d } from '../src/webgpu/ops/maxpool2d.js';
import { minmax } from '../src/webgpu/ops/minmax.js';
import { quantizedBytes, quantizeI8 } from '../src/webgpu/ops/quantize-i8.js';
import { relu } from '../src/webgpu/ops/relu.js';
import { ACT } from '../src/webgpu/wgsl.js';
import { refConv2d, refGap, refLinear, refMaxpool2d } from './reference/gemm-conv-pool.js';
import { refArgmax, refAttention, refMinmax, refQuantizeI8, refRelu, refSoftmax } from './reference/ops.js';
import { tinyImageModel, tinyTextModel } from './fixtures/tiny-models.js';
import { refForward } from './reference/model.js';
import { assertClose, randn, relError, rng } from './util.js';

const RTOL = 1e-4;
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

let ctx: GpuContext | undefined;
let setupError: unknown;
try {
  const { gpu } = await createNodeGpu();
  ctx = await GpuContext.create({ gpu });
} catch (e) {
  setupError = e;
}

// Worst errors seen per op, printed at the end (the report quotes them): rel = ‖got − exp‖₂/‖exp‖₂,
// inf = max|got − exp| / max|exp|.
const worst = new Map<string, { rel: number; inf: number; cases: number }>();

function tally(op: string, rel: number, inf: number): void {
  const w = worst.get(op) ?? { rel: 0, inf: 0, cases: 0 };
  worst.set(op, { rel: Math.max(w.rel, rel), inf: Math.max(w.inf, inf), cases: w.cases + 1 });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Asserts ‖got − exp‖/‖exp‖ ≤ 1e-4 and, element-wise, |got − exp| ≤ 1e-4·|exp| + 1e-5·max|exp| (the absolute term
 * only matters for outputs that cancel to ~0).
 */
function check(op: string, got: ArrayLike<number>, exp: ArrayLike<number>, what: string): void {
  const scale = maxAbs(exp);
  assertClose(got, exp, RTOL, 1e-5 * scale + 1e-30, `${op} ${what}`);
  const rel = relError(got, exp);
  assert.ok(rel <= RTOL, `${op} ${what}: relative error ${rel}`);
  let inf = 0;
  for (let i = 0; i < exp.length; i++) inf = Math.max(inf, Math.abs(got[i] - exp[i]));
  tally(op, rel, scale > 0 ? inf / scale : inf);
}

const GUARD = 8;
const SENTINEL = 12345.678;

/** An output buffer: NaN where the kernel must write (unwritten elements fail), sentinels after (overruns fail). */
function outBuf(g: GpuContext, n: number): { buf: GPUBuffer; read: (what: string) => Promise<Float32Array> } {
  const init = new Float32Array(n + GUARD).fill(NaN);
  init.fill(SENTINEL, n);
  const buf = g.upload(init, 'test-out');
  return {
    buf,
    read: async (what: string) => {
      const all = await g.readF32(buf, n + GUARD);
      for (let i = n; i < n + GUARD; i++) assert.is(all[i], Math.fround(SENTINEL), `${what}: wrote past the output`);
      buf.destroy();
      return all.slice(0, n);
    },
  };
}


if (!ctx) {
  test('a WebGPU adapter', () => {
    assert.unreachable(`no WebGPU adapter: ${String((setupError as Error)?.stack ?? setupError)}\n` +
      `Install Chromium's SwiftShader (${SWIFTSHADER_ICD}) with \`apt-get install chromium\` (see DEVELOPERS.md).`);
  });
  test.run();
} else {
  const g = ctx;
  const up = (a: ArrayLike<number>) => g.upload(Float32Array.from(a));
  const free = (...bs: GPUBuffer[]) => { for (const b of bs) b.destroy(); };

  test.after.each(async () => { await g.sync(); });
  test.after(() => {
    console.log(`  webgpu-ops on "${g.adapterName}": ${g.dispatches} dispatches, ${g.pipelines.size} pipelines`);
    for (const [op, w] of worst) {
      console.log(`    ${op.padEnd(12)} ${String(w.cases).padStart(3)} cases  max rel ${w.rel.toExponential(2)}  max inf ${w.inf.toExponential(2)}`);
    }
    g.destroy();
  });

  test('attention with key masks (a kernel feature the op set does not use), windows, T = 1', async () => {
    const r = rng(1010);
    // T, D, heads, hidden keys; shapes and windows without masks are in the op table (test/ops-table.ts)
    const cases: [number, number, number, number][] = [[1, 8, 1, 1], [13, 32, 4, 4], [7, 24, 3, 2], [70, 16, 2, 9]];
    for (const [T, D, heads, hidden] of cases) {
      const x = randn(r, T * D), wqkv = randn(r, 3 * D * D, 1 / Math.sqrt(D)), bqkv = randn(r, 3 * D, 0.1);
      const wo = randn(r, D * D, 1 / Math.sqrt(D)), bo = randn(r, D, 0.1);
      // Hide the last `hidden` keys, as a padded sequence would.
      const mask = Uint8Array.from({ length: T }, (_, j) => (j < T - hidden ? 1 : 0));
      const bufs = [up(x), up(wqkv), up(bqkv), up(wo), up(bo)];
      const maskBuf = g.upload(Uint32Array.from(mask));
      let global: Float32Array | undefined;
      // window 0 is global; 40 on T = 70 spans more than one 64-thread stride; T + 5 covers the whole sequence
      for (const window of [...new Set([0, 1, 40, T - 1, T + 5])].filter((v) => v >= 0)) {
        const exp = refAttention(x, T, D, heads, wqkv, bqkv, wo, bo, mask, window);
        const o = outBuf(g, T * D);
        attention(g, { x: bufs[0], wqkv: bufs[1], bqkv: bufs[2], wo: bufs[3], bo: bufs[4], mask: maskBuf, out: o.buf, T, D, heads, window });
        const what = `T=${T} D=${D} heads=${heads} hidden=${hidden} window=${window}`;
        const got = await o.read(what);
        check('attention', got, exp, what);
        // A window of T − 1 or more runs the global loops over the same keys in the same order: bit for bit.
        if (window === 0) global = got;
        else if (window >= T - 1) assert.equal(Array.from(got), Array.from(global!), `${what}: equals global`);
      }
      free(...bufs, maskBuf);
    }
  });

  test('attention: a key outside a query\'s window cannot influence that row', async () => {
    const r = rng(1012);
    const T = 21, D = 16, heads = 2, window = 4, j = 15;
    const x = randn(r, T * D), wqkv = randn(r, 3 * D * D, 1 / Math.sqrt(D)), bqkv = randn(r, 3 * D, 0.1);
    const wo = randn(r, D * D, 1 / Math.sqrt(D)), bo = randn(r, D, 0.1);
    const run = async (xs: Float32Array) => {
      const bufs = [up(xs), up(wqkv), up(bqkv), up(wo), up(bo)];
      const o = outBuf(g, T * D);
      attention(g, { x: bufs[0], wqkv: bufs[1], bqkv: bufs[2], wo: bufs[3], bo: bufs[4], out: o.buf, T, D, heads, window });
      const y = await o.read('perturb');
      free(...bufs);
      return y;
    };
    const a = await run(x);
    const x2 = x.slice();
    for (let d = 0; d < D; d++) x2[j * D + d] += 3 + 5 * r.normal();
    const b = await run(x2);
    for (let i = 0; i < T; i++) {
      const row = (y: Float32Array) => Array.from(y.subarray(i * D, (i + 1) * D));
      if (Math.abs(i - j) > window) assert.equal(row(b), row(a), `row ${i} unchanged`);
      else assert.not.equal(row(b), row(a), `row ${i} moved`);
    }
  });

  test('exit head (softmax + argmax, lowest index on ties)', async () => {
    const r = rng(1111);
    for (const N of [1, 2, 10, 100, 257]) {
      const logits = randn(r, N, 3);
      const lb = up(logits), o = outBuf(g, N + 1);
      assert.ok(o.buf.size >= exitHeadOutBytes(N));
      exitHead(g, { logits: lb, out: o.buf, N });
      const { probs, label, confidence } = decodeExitHead(await o.read(`N=${N}`), N);
      const exp = refSoftmax(logits, 1, N);
      check('exitHead', probs, exp, `N=${N}`);
      assert.is(label, refArgmax(logits), `exitHead N=${N}: label`);
      assert.is(confidence, Math.max(...probs), `exitHead N=${N}: confidence is max(probs)`);
      free(lb);
    }
    // Ties: equal top logits anywhere (also across the 64 threads' strides) give the lowest index.
    for (const [N, top] of [[10, [3, 7]], [200, [130, 66, 194]], [5, [0, 4]]] as const) {
      const logits = randn(r, N).map((v) => Math.min(v, 2));
      for (const t of top) logits[t] = 5;
      const lb = up(logits), o = outBuf(g, N + 1);
      exitHead(g, { logits: lb, out: o.buf, N });
      const { label } = decodeExitHead(await o.read(`ties N=${N}`), N);
      assert.is(label, Math.min(...top), `exitHead ties N=${N}`);
      free(lb);
    }
  });

  /** Reads a packed int8 buffer as an Int8Array of n values. */
  async function readI8(buf: GPUBuffer, n: number): Promise<Int8Array> {
    return new Int8Array(await g.read(buf, quantizedBytes(n))).slice(0, n);
  }

  test('quantize_i8 (round half to even on the exact quotient, saturation)', async () => {
    const r = rng(1212);
    for (const [n, scale, zp] of [[1, 0.1, 0], [5, 0.05, 3], [1001, 0.0371, -7], [4096, 0.01, 127], [33, 2.5, -128]] as const) {
      const x = randn(r, n, 1);
      if (n >= 5) x.set([1000, -1000, 0, scale * 2.5, -scale * 3.5].map(Math.fround));
      if (n >= 33) x.set([Infinity, -Infinity, NaN, 1e38, -3e-39], 20);
      const xb = up(x), qb = g.alloc(quantizedBytes(n));
      quantizeI8(g, { x: xb, q: qb, n, scale, zeroPoint: zp });
      const q = await readI8(qb, n);
      assert.equal(Array.from(q), Array.from(refQuantizeI8(x, Math.fround(scale), zp)), `quantize n=${n} scale=${scale} zp=${zp}`);
      tally('quantize', 0, 0);
      g.free(qb);
      free(xb);
    }
    // Exact ties k + ½ (scale a power of two makes x/scale exact) must go to the even integer...
    {
      const scale = 0.125, ks = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 100, 126, -127];
      const x = Float32Array.from(ks, (k) => (k + 0.5) * scale);
      const xb = up(x), qb = g.alloc(quantizedBytes(x.length));
      quantizeI8(g, { x: xb, q: qb, n: x.length, scale, zeroPoint: 0 });
      const q = await readI8(qb, x.length);
      assert.equal(Array.from(q), ks.map((k) => (k % 2 === 0 ? k : k + 1)), 'ties to even');
      assert.equal(Array.from(q), Array.from(refQuantizeI8(x, scale, 0)), 'ties: reference');
      g.free(qb);
      free(xb);
    }
    // ...and values one rounding away from a tie (x = fl((k + ½)·scale) for a scale with a full mantissa) go the way
    // the exact quotient says, which a rounded GPU division alone would get wrong.
    {
      const n = 2000;
      const x = new Float32Array(n);
      const scale = Math.fround(0.0123456789);
      for (let i = 0; i < n; i++) x[i] = Math.fround((r.int(-120, 120) + 0.5) * scale);
      const xb = up(x), qb = g.alloc(quantizedBytes(n));
      quantizeI8(g, { x: xb, q: qb, n, scale, zeroPoint: 0 });
      assert.equal(Array.from(await readI8(qb, n)), Array.from(refQuantizeI8(x, scale, 0)), 'near ties');
      g.free(qb);
      free(xb);
    }
  });

  test('minmax: exact; an infinity shows, a NaN anywhere gives [−∞, +∞]', async () => {
    const r = rng(1313);
    for (const n of [1, 3, 100, 16_385, 100_000]) {
      for (const poison of [null, Infinity, -Infinity, NaN]) {
        const x = randn(r, n);
        if (poison !== null) x[r.int(0, n)] = poison;
        const xb = up(x), o = outBuf(g, 2);
        minmax(g, { x: xb, out: o.buf, n });
        const want = Number.isNaN(poison) ? [-Infinity, Infinity] : refMinmax(x);
        assert.equal(Array.from(await o.read(`n=${n}`)), want, `minmax n=${n} with ${poison}`);
        free(xb);
      }
    }
  });

  test('a layer stays on the GPU: conv → relu → pool → gap → linear → exit head, one read', async () => {
    const r = rng(1414);
    const C = 3, H = 12, W = 12, OC = 8;
    const x = randn(r, C * H * W), w = randn(r, OC * C * 9, 0.3), b = randn(r, OC, 0.1);
    const wl = randn(r, 10 * OC, 0.5), bl = randn(r, 10, 0.1);
    const xb = up(x), wb = up(w), bb = up(b), wlb = up(wl), blb = up(bl);
    const a1 = g.alloc(OC * H * W * 4), a2 = g.alloc(OC * 6 * 6 * 4), a3 = g.alloc(OC * 4), a4 = g.alloc(10 * 4), a5 = g.alloc(11 * 4);
    const before = g.dispatches;
    conv2d(g, { x: xb, w: wb, b: bb, out: a1, C, H, W, OC, KH: 3, KW: 3, pad: 1 });
    relu(g, { x: a1, out: a1, n: OC * H * W });
    maxpool2d(g, { x: a1, out: a2, C: OC, H, W, k: 2 });
    gap(g, { x: a2, out: a3, C: OC, HW: 36 });
    linear(g, { x: a3, w: wlb, b: blb, out: a4, M: 1, K: OC, N: 10 });
    exitHead(g, { logits: a4, out: a5, N: 10 });
    assert.is(g.dispatches - before, 6);
    const { probs } = decodeExitHead(await g.readF32(a5, 11), 10);
    const e1 = refRelu(refConv2d(x, w, b, C, H, W, OC, 3, 3, 1, 1, 1, 'none'));
    const e2 = refGap(refMaxpool2d(e1, OC, H, W, 2, 2, 0), OC, 36);
    check('chain', probs, refSoftmax(refLinear(e2, wl, bl, 1, OC, 10, 'none'), 1, 10), 'cnn');
    for (const a of [a1, a2, a3, a4, a5]) g.free(a);
    free(xb, wb, bb, wlb, blb);
  });

  test('bad arguments are typed errors, not GPU errors', () => {
    const small = g.alloc(16);
    const isBad = (e: unknown) => e instanceof WebGpuError && e.code === 'BAD_ARGUMENT';
    assert.throws(() => linear(g, { x: small, w: small, out: g.dummy, M: 4, K: 4, N: 4 }), isBad);
    assert.throws(() => linear(g, { x: small, w: small, out: small, M: 1, K: 1, N: 1 }), isBad);
    assert.throws(() => linear(g, { x: small, w: small, out: g.dummy, M: 0, K: 1, N: 1 }), isBad);
    assert.throws(() => linear(g, { x: small, w: small, out: g.dummy, M: 1, K: 1, N: 1, act: 'tanh' as never }), isBad);
    assert.throws(() => conv2d(g, { x: small, w: small, out: g.dummy, C: 3, H: 1, W: 1, OC: 2, KH: 1, KW: 1, groups: 2 }), isBad);
    assert.throws(() => conv2d(g, { x: small, w: small, out: g.dummy, C: 1, H: 2, W: 2, OC: 1, KH: 3, KW: 3 }), isBad);
    assert.throws(() => maxpool2d(g, { x: small, out: g.dummy, C: 1, H: 2, W: 2, k: 2, pad: 2 }), isBad);
    assert.throws(() => attention(g, { x: small, wqkv: small, wo: small, out: g.dummy, T: 1, D: 6, heads: 4 }), isBad);
    assert.throws(() => attention(g, { x: small, wqkv: small, wo: small, out: g.dummy, T: 1, D: 1, heads: 1, window: -1 }), isBad);
    assert.throws(() => attention(g, { x: small, wqkv: small, wo: small, out: g.dummy, T: 1, D: 1, heads: 1, window: 1.5 }), isBad);
    assert.throws(() => quantizeI8(g, { x: small, q: g.dummy, n: 4, scale: 0, zeroPoint: 0 }), isBad);
    assert.throws(() => quantizeI8(g, { x: small, q: g.dummy, n: 4, scale: 1, zeroPoint: 300 }), isBad);
    assert.throws(() => g.alloc(g.limits.maxStorageBufferBindingSize + 4), isBad);
    assert.throws(() => checkIds(Int32Array.of(0, 5), 5, 8), isBad);
    assert.throws(() => checkIds(Int32Array.of(-1), 5, 8), isBad);
    assert.throws(() => checkIds(new Int32Array(9), 5, 8), isBad);
    g.free(small);
    assert.is(ACT.gelu, 3);
  });

  // ---- the engine's Backend on these kernels ----

  const models = [
    ['image', tinyImageModel(), (r: ReturnType<typeof rng>) => randn(r, 3 * 13 * 11)],
    // Lengths 1..maxLen (9), both sides of the linear op's GEMV/GEMM switch at M = 8.
    ['text', tinyTextModel(), (r: ReturnType<typeof rng>, i: number) => Int32Array.from({ length: [1, 9, 6, 8, 3][i % 5] }, () => r.int(0, 50))],
    // Local attention in layers 1 and 2 (windows 1 and 2), global in layer 3.
    ['windowed text', tinyTextModel(2, 3, [1, 2, 0]), (r: ReturnType<typeof rng>, i: number) => Int32Array.from({ length: [9, 1, 6, 8, 3][i % 5] }, () => r.int(0, 50))],
  ] as const;

  for (const [kind, bytes, makeInput] of models) {
    test(`backend (${kind}): every exit against the float64 model reference; splits reproduce the unsplit run`, async () => {
      const file = parseSpx(bytes);
      const L = file.header.layers.length;
      // Two backends on one context, as device and cloud halves (sharing the compiled pipelines).
      const dev = await WebGpuBackend.create(file, g);
      const cloud = await WebGpuBackend.create(file, g);
      const r = rng(kind === 'image' ? 1515 : 1616);
      for (let i = 0; i < 4; i++) {
        const input = makeInput(r, i);
        const want = refForward(file, input);
        const exits = [];
        await dev.run(input, 1, 0);
        for (let k = 1; k <= L; k++) {
          await dev.run(null, k, k);
          const e = await dev.exit(k);
          check(`backend-${kind}`, e.probs, want[k - 1], `sample ${i} exit ${k}`);
          assert.is(e.label, refArgmax(e.probs), `exit ${k} label`);
          assert.is(e.confidence, e.probs[e.label]);
          exits.push(e);
        }
        const whole = await dev.read();
        // Split after every k: the device half's activation, read back and handed to a second backend, gives the
        // same final exit bit for bit (same kernels, same inputs).
        for (let k = 1; k < L; k++) {
          await dev.run(input, 1, k);
          const head = await dev.read();
          await cloud.run(head, k + 1, L);
          const tail = await cloud.read();
          assert.equal(tail.shape, whole.shape);
          assert.equal(Array.from(tail.data), Array.from(whole.data), `split at ${k}`);
          const last = await cloud.exit(L);
          assert.equal(Array.from(last.probs), Array.from(exits[L - 1].probs), `exit ${L} after split at ${k}`);
        }
      }
      dev.dispose();
      cloud.dispose();
    });
  }

  test('backend through loadModelBytes (its own device): WebGPU and WASM agree on every exit', async () => {
    // One model: each load makes a device of its own and compiles its pipelines anew (slow on SwiftShader); the
    // fixture models' agreement on many inputs is test/webgpu-parity.test.ts's job.
    for (const [kind, bytes, makeInput] of models.filter(([k]) => k === 'windowed text')) {
      const gm = await loadModelBytes(bytes, { backend: 'webgpu', gpu: g.gpu! });
      const wm = await loadModelBytes(bytes, { backend: 'wasm' });
      assert.is(gm.backendName, 'webgpu');
      const r = rng(1717);
      for (let i = 0; i < 3; i++) {
        const input = makeInput(r, i);
        const a = await gm.exits(input), b = await wm.exits(input);
        a.forEach((e, k) => {
          check(`webgpu~wasm`, e.probs, b[k].probs, `${kind} sample ${i} exit ${k + 1}`);
          assert.is(e.label, b[k].label, `${kind} exit ${k + 1} label`);
        });
      }
      gm.backend.dispose();
      wm.backend.dispose();
    }
  });

  test('backend errors: bad ranges, bad inputs, use after dispose', async () => {
    const file = parseSpx(tinyTextModel());
    const b = await WebGpuBackend.create(file, g);
    try { await b.exit(1); assert.unreachable('exit before run'); } catch (e) { assert.is((e as { code?: string }).code, 'BAD_RANGE'); }
    for (const bad of [new Int32Array(0), Int32Array.of(1, 999), new Float32Array(3)]) {
      try { await b.run(bad, 1, 1); assert.unreachable('bad input'); } catch (e) { assert.is((e as { code?: string }).code, 'BAD_INPUT'); }
    }
    try { await b.run(null, 2, 2); assert.unreachable('continue without state'); } catch (e) { assert.is((e as { code?: string }).code, 'BAD_RANGE'); }
    b.dispose();
    try { await b.run(Int32Array.of(1), 1, 1); assert.unreachable('after dispose'); } catch (e) { assert.is((e as { code?: string }).code, 'DISPOSED'); }
    // The memory budget is checked against the plan before anything is uploaded.
    const planned = WebGpuBackend.plannedBytes(file, b.plan);
    assert.ok(b.memoryBytes >= planned && planned > 0, `holds ${b.memoryBytes} bytes, planned ${planned}`);
    try { await WebGpuBackend.create(file, g, { maxMemoryBytes: planned - 1 }); assert.unreachable('over budget'); } catch (e) { assert.is((e as { code?: string }).code, 'TOO_LARGE'); }
    (await WebGpuBackend.create(file, g, { maxMemoryBytes: planned })).dispose();
  });

  test.run();
}
