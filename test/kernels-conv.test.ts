// conv2d kernel paths the op table (test/ops-table.ts) does not single out: the direct 1×1 GEMM path's tails, several
// im2col chunks, the unrolled depthwise paths; and accesses past every buffer, scratch contents never leaking in.
// Outputs start as NaN and are surrounded by sentinels; scratch starts as garbage and has a guard after it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACT } from '../src/engine/activations.js';
import { rng, randn, assertClose, relError, maxAbs } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refConv2d, convOutSize, type RefAct } from './reference/gemm-conv-pool.js';

const h = kernelHarness(test, { guard: 16, sentinel: -9876.5 });

interface ConvCase {
  C: number; H: number; W: number; OC: number; KH: number; KW: number;
  stride: number; pad: number; groups: number; act: RefAct; bias: boolean;
}

function runConv(cs: ConvCase, x: Float32Array, w: Float32Array, b: Float32Array | null): Float32Array {
  const { C, H, W, OC, KH, KW, stride, pad, groups, act } = cs;
  const OH = convOutSize(H, KH, stride, pad), OW = convOutSize(W, KW, stride, pad);
  const what = JSON.stringify(cs);
  return h.scoped(() => {
    const { kern } = h;
    // NaN around the input: a read past x that leaked into the result would show.
    const px = h.putPoisoned(x);
    const pw = kern.putF32(w);
    const packedBytes = kern.exports.conv2d_packed_bytes(C, OC, KH, KW, groups);
    assert.ok(packedBytes >= w.length * 4, `${what}: packed bytes hold the weight`);
    const packed = h.guarded(Math.ceil(packedBytes / 4), 0);
    kern.exports.conv2d_pack(pw, packed.ptr, C, OC, KH, KW, groups);
    packed.check(`${what} conv2d_pack`);
    const pb = b ? kern.putF32(b) : 0;
    const scratchBytes = kern.exports.conv2d_scratch_bytes(C, H, W, OC, KH, KW, stride, pad, groups);
    assert.ok(scratchBytes >= 0 && scratchBytes % 4 === 0, `${what}: scratch bytes ${scratchBytes}`);
    // Garbage in scratch: the kernel must not rely on it being zeroed.
    const scratch = h.guarded(scratchBytes / 4, 1e30);
    const out = h.guarded(OC * OH * OW, NaN);
    kern.exports.conv2d(px, packed.ptr, pb, out.ptr, C, H, W, OC, KH, KW, stride, pad, groups, ACT[act], scratch.ptr);
    scratch.check(`${what} scratch`);
    return out.read(`${what} out`);
  });
}

let seed = 1;
function checkConv(cs: ConvCase): void {
  const r = rng(seed++);
  const { C, H, W, OC, KH, KW, groups } = cs;
  const fan = (C / groups) * KH * KW;
  const xs = cs.act === 'none' ? 1 : 2.5; // spread values over relu6's and gelu's interesting range
  const x = randn(r, C * H * W, xs);
  const w = randn(r, OC * (C / groups) * KH * KW, 1 / Math.sqrt(fan));
  const b = cs.bias ? randn(r, OC, 0.5) : null;
  const got = runConv(cs, x, w, b);
  const want = refConv2d(x, w, b, C, H, W, OC, KH, KW, cs.stride, cs.pad, groups, cs.act);
  const what = `conv seed=${seed - 1} ${JSON.stringify(cs)}`;
  assertClose(got, want, 1e-5, 1e-6 * Math.max(maxAbs(want), 1e-3), what);
  const re = relError(got, want);
  assert.ok(re <= 1e-6, `${what}: relError ${re}`);
}

const ACTS: RefAct[] = ['none', 'relu', 'relu6', 'gelu'];

test('conv2d 1x1 pointwise (direct GEMM path): tails of the pixel dimension and channel remainders', () => {
  for (const [C, OC, H, W] of [[1, 1, 1, 1], [3, 4, 1, 9], [16, 24, 7, 7], [17, 33, 5, 13], [32, 64, 14, 14],
    [64, 10, 3, 3], [8, 3, 16, 16], [5, 65, 2, 31]]) {
    for (const act of ACTS) checkConv({ C, H, W, OC, KH: 1, KW: 1, stride: 1, pad: 0, groups: 1, act, bias: C % 2 === 1 });
  }
});

test('conv2d larger shapes: several im2col chunks, stride 3, 7x7', () => {
  checkConv({ C: 16, H: 28, W: 28, OC: 32, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, act: 'relu', bias: true });
  checkConv({ C: 3, H: 32, W: 30, OC: 16, KH: 7, KW: 7, stride: 2, pad: 3, groups: 1, act: 'none', bias: true });
  checkConv({ C: 700, H: 4, W: 4, OC: 5, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, act: 'gelu', bias: false });
  checkConv({ C: 6, H: 19, W: 23, OC: 9, KH: 3, KW: 3, stride: 3, pad: 1, groups: 1, act: 'relu6', bias: true });
  checkConv({ C: 24, H: 15, W: 15, OC: 20, KH: 1, KW: 1, stride: 2, pad: 0, groups: 1, act: 'none', bias: true });
  checkConv({ C: 4, H: 3, W: 3, OC: 4, KH: 1, KW: 1, stride: 1, pad: 1, groups: 1, act: 'none', bias: true });
});

test('conv2d depthwise: 3x3 stride 1/2 (unrolled paths), 5x5, 1x1, stride 3, channel multiplier', () => {
  let n = 0;
  for (const [KH, KW] of [[3, 3], [5, 5], [1, 1], [3, 5]]) {
    for (const stride of [1, 2, 3]) {
      for (const pad of [0, 1, 2]) {
        for (const [C, H, W] of [[1, 1, 1], [3, 7, 5], [8, 14, 14], [5, 9, 17], [2, 4, 30]]) {
          if (H + 2 * pad < KH || W + 2 * pad < KW) continue;
          checkConv({ C, H, W, OC: C, KH, KW, stride, pad, groups: C, act: ACTS[n % 4], bias: n % 3 !== 2 });
          n++;
        }
      }
    }
  }
  for (const act of ACTS) {
    checkConv({ C: 4, H: 10, W: 9, OC: 8, KH: 3, KW: 3, stride: 1, pad: 1, groups: 4, act, bias: true });
    checkConv({ C: 3, H: 11, W: 12, OC: 9, KH: 3, KW: 3, stride: 2, pad: 1, groups: 3, act, bias: false });
  }
  checkConv({ C: 32, H: 56, W: 56, OC: 32, KH: 3, KW: 3, stride: 1, pad: 1, groups: 32, act: 'relu6', bias: true });
  checkConv({ C: 32, H: 57, W: 55, OC: 32, KH: 3, KW: 3, stride: 2, pad: 1, groups: 32, act: 'relu6', bias: true });
  assert.ok(n > 100);
});

test('conv2d: no access past x, the packed weight, the bias, scratch or out (each ending at the end of memory)', () => {
  const cases: ConvCase[] = [
    { C: 3, H: 7, W: 9, OC: 5, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, act: 'relu', bias: true },
    { C: 4, H: 5, W: 7, OC: 6, KH: 1, KW: 1, stride: 1, pad: 0, groups: 1, act: 'relu', bias: true },
    { C: 5, H: 9, W: 11, OC: 5, KH: 3, KW: 3, stride: 2, pad: 1, groups: 5, act: 'relu', bias: true },
    { C: 3, H: 8, W: 13, OC: 3, KH: 3, KW: 3, stride: 1, pad: 0, groups: 3, act: 'relu', bias: true },
    { C: 2, H: 6, W: 6, OC: 4, KH: 5, KW: 5, stride: 3, pad: 2, groups: 2, act: 'relu', bias: true },
    { C: 4, H: 9, W: 9, OC: 2, KH: 3, KW: 3, stride: 2, pad: 0, groups: 2, act: 'relu', bias: true },
    // depthwise maps narrower than a vector (OW < 4) and planes of fewer than 4 floats
    { C: 2, H: 3, W: 1, OC: 2, KH: 3, KW: 3, stride: 1, pad: 1, groups: 2, act: 'relu', bias: true },
    { C: 3, H: 5, W: 2, OC: 3, KH: 3, KW: 3, stride: 1, pad: 1, groups: 3, act: 'relu', bias: true },
    { C: 2, H: 6, W: 3, OC: 4, KH: 3, KW: 3, stride: 2, pad: 1, groups: 2, act: 'relu', bias: true },
    { C: 4, H: 1, W: 3, OC: 4, KH: 3, KW: 3, stride: 1, pad: 1, groups: 4, act: 'relu', bias: true },
    { C: 3, H: 1, W: 1, OC: 3, KH: 3, KW: 3, stride: 1, pad: 1, groups: 3, act: 'relu', bias: true },
  ];
  let s = 7000;
  for (const cs of cases) {
    const { C, H, W, OC, KH, KW, stride, pad, groups } = cs;
    const { kern } = h;
    const r = rng(s++);
    const x = randn(r, C * H * W), w = randn(r, OC * (C / groups) * KH * KW, 0.3), b = randn(r, OC);
    const want = refConv2d(x, w, b, C, H, W, OC, KH, KW, stride, pad, groups, 'relu');
    const nOut = want.length;
    const packedBytes = kern.exports.conv2d_packed_bytes(C, OC, KH, KW, groups);
    const scratchBytes = kern.exports.conv2d_scratch_bytes(C, H, W, OC, KH, KW, stride, pad, groups);
    for (const last of ['x', 'w', 'packed', 'b', 'scratch', 'out']) {
      h.scoped(() => {
        const buf = (name: string, n: number, data?: Float32Array) => {
          const p = name === last ? h.allocAtEnd(n) : kern.alloc(n * 4);
          if (data) kern.f32(p, n).set(data);
          return p;
        };
        // Allocation order puts `last` after everything else.
        const order = ['x', 'w', 'packed', 'b', 'scratch', 'out'].filter((n) => n !== last).concat([last]);
        const ptr: Record<string, number> = {};
        for (const name of order) {
          if (name === 'x') ptr.x = buf('x', x.length, x);
          if (name === 'w') ptr.w = buf('w', w.length, w);
          if (name === 'packed') ptr.packed = buf('packed', packedBytes / 4);
          if (name === 'b') ptr.b = buf('b', b.length, b);
          if (name === 'scratch') ptr.scratch = buf('scratch', Math.max(scratchBytes / 4, 0));
          if (name === 'out') ptr.out = buf('out', nOut);
        }
        kern.exports.conv2d_pack(ptr.w, ptr.packed, C, OC, KH, KW, groups);
        kern.exports.conv2d(ptr.x, ptr.packed, ptr.b, ptr.out, C, H, W, OC, KH, KW, stride, pad, groups, ACT.relu, ptr.scratch);
        assertClose(kern.f32(ptr.out, nOut), want, 1e-5, 1e-6, `${JSON.stringify(cs)}, ${last} last`);
      });
    }
  }
});

test('conv2d: scratch and packed sizes are stable and the result does not depend on scratch contents', () => {
  const cs: ConvCase = { C: 6, H: 12, W: 10, OC: 8, KH: 3, KW: 3, stride: 1, pad: 1, groups: 1, act: 'none', bias: true };
  const r = rng(4242);
  const x = randn(r, 6 * 12 * 10), w = randn(r, 8 * 6 * 9, 0.3), b = randn(r, 8);
  const a = runConv(cs, x, w, b);
  const again = runConv(cs, x, w, b);
  assert.equal(Array.from(a), Array.from(again));
  assert.is(h.kern.exports.conv2d_scratch_bytes(8, 5, 5, 8, 1, 1, 1, 0, 1) >= 0, true);
});

test.run();
