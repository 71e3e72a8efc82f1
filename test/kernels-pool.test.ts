// maxpool2d / avgpool2d / gap vs the float64 reference: k 1..5, stride 1/2/3, pad 0..k/2, odd and non-square
// images (interior SIMD path and clipped borders), outputs NaN-filled and guarded by sentinels.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose, relError } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refMaxpool2d, refAvgpool2d, refGap, convOutSize } from './reference/gemm-conv-pool.js';

const h = kernelHarness(test, { guard: 16, sentinel: 31337.25 });

/** Runs `call(x, out)` on guarded buffers (NaN around x, sentinels around out) and returns the output. */
function run(x: Float32Array, nOut: number, call: (px: number, po: number) => void, what: string): Float32Array {
  return h.scoped(() => {
    const px = h.putPoisoned(x);
    const out = h.guarded(nOut);
    call(px, out.ptr);
    return out.read(what);
  });
}

const SHAPES: [number, number, number][] = [[1, 1, 1], [2, 2, 2], [3, 5, 7], [1, 8, 8], [4, 13, 11], [2, 28, 28],
  [3, 9, 31], [2, 17, 4], [1, 33, 65]];

function cases(f: (C: number, H: number, W: number, k: number, stride: number, pad: number) => void): number {
  let n = 0;
  for (const [C, H, W] of SHAPES) {
    for (const k of [1, 2, 3, 5]) {
      for (const stride of [1, 2, 3]) {
        for (let pad = 0; pad <= Math.floor(k / 2); pad++) {
          if (H + 2 * pad < k || W + 2 * pad < k) continue;
          f(C, H, W, k, stride, pad);
          n++;
        }
      }
    }
  }
  return n;
}

test('maxpool2d: exact max over the in-bounds window (padding never wins)', () => {
  const { kern } = h;
  let seed = 1;
  const n = cases((C, H, W, k, stride, pad) => {
    const r = rng(seed++);
    // Mostly negative inputs: a zero from padding would win if padding took part.
    const x = randn(r, C * H * W).map((v) => v - 3);
    const OH = convOutSize(H, k, stride, pad), OW = convOutSize(W, k, stride, pad);
    const what = `maxpool C=${C} H=${H} W=${W} k=${k} s=${stride} p=${pad}`;
    const got = run(x, C * OH * OW, (px, po) => kern.k.maxpool2d(px, po, C, H, W, k, stride, pad), what);
    const want = refMaxpool2d(x, C, H, W, k, stride, pad);
    for (let i = 0; i < want.length; i++) {
      if (got[i] !== want[i]) assert.unreachable(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
    }
  });
  assert.ok(n > 150, `${n} cases`);
});

test('avgpool2d: sum of the in-bounds window / k²', () => {
  const { kern } = h;
  let seed = 1000;
  const n = cases((C, H, W, k, stride, pad) => {
    const r = rng(seed++);
    const x = randn(r, C * H * W, 2);
    const OH = convOutSize(H, k, stride, pad), OW = convOutSize(W, k, stride, pad);
    const what = `avgpool C=${C} H=${H} W=${W} k=${k} s=${stride} p=${pad}`;
    const got = run(x, C * OH * OW, (px, po) => kern.k.avgpool2d(px, po, C, H, W, k, stride, pad), what);
    const want = refAvgpool2d(x, C, H, W, k, stride, pad);
    assertClose(got, want, 1e-5, 1e-6 * 2, what);
    assert.ok(relError(got, want) <= 1e-6, `${what}: relError`);
  });
  assert.ok(n > 150, `${n} cases`);
});

test('avgpool2d: constant input gives the in-bounds fraction at the borders', () => {
  const { kern } = h;
  // All-ones 4×4, k=3, s=1, p=1: corners see 4 of 9, edges 6 of 9, the interior 9 of 9.
  const x = new Float32Array(16).fill(1);
  const got = run(x, 16, (px, po) => kern.k.avgpool2d(px, po, 1, 4, 4, 3, 1, 1), 'avg const');
  const e = [4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4].map((v) => Math.fround(v / 9));
  assert.equal(Array.from(got), e);
});

test('pooling: no access past x or out (each ending at the end of memory)', () => {
  const { kern } = h;
  let s = 9000;
  for (const [C, H, W, k, stride, pad] of [[2, 9, 9, 3, 2, 1], [1, 8, 16, 2, 2, 0], [3, 7, 12, 3, 1, 1],
    [1, 13, 19, 3, 2, 0], [2, 6, 10, 5, 3, 2], [1, 4, 11, 2, 1, 0], [1, 9, 17, 3, 2, 0], [1, 6, 8, 2, 2, 0],
    [2, 5, 25, 2, 2, 1], [1, 7, 18, 3, 2, 1], [1, 5, 12, 5, 2, 2]]) {
    const r = rng(s++);
    const x = randn(r, C * H * W);
    const wantMax = refMaxpool2d(x, C, H, W, k, stride, pad), wantAvg = refAvgpool2d(x, C, H, W, k, stride, pad);
    const n = wantMax.length;
    for (const last of ['x', 'out']) {
      h.scoped(() => {
        let px = 0, po = 0;
        if (last === 'out') { px = kern.putF32(x); po = h.allocAtEnd(n); } else { po = kern.alloc(n * 4); px = h.allocAtEnd(x.length); kern.f32(px, x.length).set(x); }
        const what = `C=${C} H=${H} W=${W} k=${k} s=${stride} p=${pad}, ${last} last`;
        kern.k.maxpool2d(px, po, C, H, W, k, stride, pad);
        assertClose(kern.f32(po, n), wantMax, 0, 0, `max ${what}`);
        kern.k.avgpool2d(px, po, C, H, W, k, stride, pad);
        assertClose(kern.f32(po, n), wantAvg, 1e-5, 1e-6, `avg ${what}`);
        kern.k.gap(px, po, C, H * W); // n ≥ C, so out has room
        assertClose(kern.f32(po, C), refGap(x, C, H * W), 1e-5, 1e-6, `gap ${what}`);
      });
    }
  }
});

test('gap: mean over HW for odd and large HW', () => {
  const { kern } = h;
  let seed = 5000;
  for (const [C, HW] of [[1, 1], [3, 3], [5, 4], [7, 15], [2, 16], [4, 17], [16, 49], [8, 196], [3, 3137], [64, 1]]) {
    const r = rng(seed++);
    const x = randn(r, C * HW).map((v) => v + 0.5);
    const got = run(x, C, (px, po) => kern.k.gap(px, po, C, HW), `gap C=${C} HW=${HW}`);
    const want = refGap(x, C, HW);
    assertClose(got, want, 1e-5, 1e-6, `gap C=${C} HW=${HW}`);
    assert.ok(relError(got, want) <= 1e-6, `gap C=${C} HW=${HW}: relError`);
  }
});

test.run();
