// layernorm's special rows and the exit_head kernel (softmax + argmax) vs the float64 reference: widths that exercise
// the 4-lane body and the tail, large magnitudes and −∞, ties. layernorm's shapes are in the op table (test/ops-table.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose, relError } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refLayernorm, refSoftmax, refArgmax } from './reference/ops.js';

const h = kernelHarness(test, { guard: 8, sentinel: -7777.25 });
const { guarded } = h;

function runLayernorm(x: Float32Array, g: Float32Array, b: Float32Array, rows: number, D: number, eps: number,
  inPlace: boolean): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const o = guarded(rows * D, inPlace ? x : undefined);
    const px = inPlace ? o.ptr : kern.putF32(x);
    kern.exports.layernorm(px, kern.putF32(g), kern.putF32(b), o.ptr, rows, D, eps);
    return o.read(`layernorm rows=${rows} D=${D}`);
  });
}

/** The exit head's probabilities (its softmax) for one row of N logits, in place (probs = logits) or not. */
function runSoftmax(x: Float32Array, inPlace: boolean): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const N = x.length;
    const o = guarded(N, inPlace ? x : undefined);
    const px = inPlace ? o.ptr : kern.putF32(x);
    kern.exports.exit_head(px, o.ptr, N);
    return o.read(`exit_head N=${N}`);
  });
}

test('layernorm: a constant row gives b (variance 0, eps keeps it finite), eps is honoured', () => {
  const D = 9;
  const x = new Float32Array(D).fill(2.5);
  const g = new Float32Array(D).fill(3), b = new Float32Array(D).map((_, i) => i - 4);
  assert.equal(Array.from(runLayernorm(x, g, b, 1, D, 1e-5, false)), Array.from(b));
  // with a large eps the normalization shrinks: the output follows the reference for that eps
  const r = rng(22);
  const x2 = randn(r, 3 * D, 0.1);
  const e = refLayernorm(x2, g, b, 3, D, 0.5);
  assertClose(runLayernorm(x2, g, b, 3, D, 0.5, false), e, 1e-5, 1e-6, 'layernorm eps 0.5');
});

test('exit_head softmax vs reference: N 1..1023, scales 1..1e4, large offsets, in place', () => {
  const r = rng(23);
  for (const N of [1, 2, 3, 4, 5, 7, 8, 10, 17, 33, 64, 1023]) {
    for (const scale of [1, 10, 30, 1000, 1e4]) {
      for (const inPlace of [false, true]) {
        const x = randn(r, N, scale);
        if (scale === 10) for (let i = 0; i < x.length; i++) x[i] += 5000; // large common offset
        const y = runSoftmax(x, inPlace);
        const e = refSoftmax(x, 1, N);
        const what = `softmax N=${N} scale=${scale}`;
        // the absolute term only covers probabilities below the f32 normal range, which are flushed to 0
        assertClose(y, e, 1e-5, 1e-37, what);
        // in practice every normal probability is within a few ulp, even far below the max (x − max ≈ −87)
        assertClose(y, e, 1e-6, 1e-37, `${what} (tight)`);
        assert.ok(relError(y, e) <= 1e-6, `${what}: relError ${relError(y, e)}`);
        let sum = 0;
        for (let i = 0; i < N; i++) sum += y[i];
        assert.ok(Math.abs(sum - 1) <= 1e-5, `${what}: sums to ${sum}`);
      }
    }
  }
});

test('exit_head softmax: −∞ entries get exactly 0, huge finite values stay finite, equal values give 1/N', () => {
  const x = new Float32Array([-Infinity, 3e38, -3e38, 3e38, -Infinity, 1]);
  const y = runSoftmax(x, false);
  assert.equal(Array.from(y), [0, 0.5, 0, 0.5, 0, 0]);
  const z = runSoftmax(new Float32Array(7).fill(-123.5), true);
  assertClose(z, new Array(7).fill(1 / 7), 1e-7, 0, 'uniform');
  // a row of exactly 87 apart: the small one is e^−87, still a normal f32, and must not be flushed
  const w = runSoftmax(new Float32Array([0, -87]), false);
  assertClose(w, refSoftmax([0, -87], 1, 2), 1e-5, 0, 'e^-87');
  assert.ok(w[1] > 0);
});

test('exit_head: probs = softmax, label = argmax of probs (lowest index on ties), sum 1', () => {
  const { kern } = h;
  const r = rng(24);
  for (const N of [1, 2, 3, 4, 5, 10, 17, 100, 1023]) {
    for (let rep = 0; rep < 4; rep++) {
      const mark = kern.mark();
      const logits = randn(r, N, rep === 3 ? 50 : 3);
      const pl = kern.putF32(logits);
      const o = guarded(N);
      const label = kern.exports.exit_head(pl, o.ptr, N);
      const p = o.read(`exit_head N=${N}`);
      assertClose(p, refSoftmax(logits, 1, N), 1e-5, 1e-37, `exit_head N=${N}`);
      assert.is(label, refArgmax(p), `label N=${N}`);
      assert.is(label, refArgmax(logits), `label is the logits' argmax too (N=${N}, no ties)`);
      let s = 0;
      for (const v of p) s += v;
      assert.ok(Math.abs(s - 1) <= 1e-5, `exit_head N=${N}: sum ${s}`);
      assert.equal(kern.f32(pl, N), logits, 'logits untouched');
      kern.release(mark);
    }
  }
});

test('exit_head: ties go to the lowest index; in place (probs = logits) works', () => {
  const { kern } = h;
  const mark = kern.mark();
  const logits = new Float32Array([0.5, 2, -1, 3, 1, 3, 3, 0]);
  const pl = kern.putF32(logits);
  const label = kern.exports.exit_head(pl, pl, logits.length);
  assert.is(label, 3);
  const p = kern.f32(pl, logits.length);
  assertClose(p, refSoftmax(logits, 1, logits.length), 1e-6, 0, 'tied probs');
  assert.is(p[3], p[5]);
  // all equal: label 0
  const eq = kern.putF32(new Float32Array(5).fill(-2));
  assert.is(kern.exports.exit_head(eq, eq, 5), 0);
  kern.release(mark);
});

test.run();
