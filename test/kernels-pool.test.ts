// Pooling kernels beyond the op table (test/ops-table.ts): the in-bounds fraction at the borders, and no access past
// the input or the output (each ending at the end of memory).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refMaxpool2d, refAvgpool2d, refGap } from './reference/gemm-conv-pool.js';

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

test('avgpool2d: constant input gives the in-bounds fraction at the borders', () => {
  const { kern } = h;
  // All-ones 4×4, k=3, s=1, p=1: corners see 4 of 9, edges 6 of 9, the interior 9 of 9.
  const x = new Float32Array(16).fill(1);
  const got = run(x, 16, (px, po) => kern.exports.avgpool2d(px, po, 1, 4, 4, 3, 1, 1), 'avg const');
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
        kern.exports.maxpool2d(px, po, C, H, W, k, stride, pad);
        assertClose(kern.f32(po, n), wantMax, 0, 0, `max ${what}`);
        kern.exports.avgpool2d(px, po, C, H, W, k, stride, pad);
        assertClose(kern.f32(po, n), wantAvg, 1e-5, 1e-6, `avg ${what}`);
        kern.exports.gap(px, po, C, H * W); // n ≥ C, so out has room
        assertClose(kern.f32(po, C), refGap(x, C, H * W), 1e-5, 1e-6, `gap ${what}`);
      });
    }
  }
});

test.run();
