// Elementwise WASM kernels beyond the op table (test/ops-table.ts): relu's signed zeros and NaN, gelu against 30-digit
// values and over −9..9 where it spans 18 orders of magnitude.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, assertClose, relError } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refGelu } from './reference/ops.js';

const h = kernelHarness(test, { guard: 8, sentinel: -7777.25 });
const { guarded } = h;
const LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64, 1023];

type Unary = 'relu' | 'relu6' | 'gelu';

function runUnary(name: Unary, x: Float32Array, inPlace: boolean): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const n = x.length;
    const o = guarded(n, inPlace ? x : undefined);
    const px = inPlace ? o.ptr : kern.putF32(x);
    kern.exports[name](px, o.ptr, n);
    if (!inPlace) assert.equal(new Uint32Array(kern.f32(px, n).slice().buffer), new Uint32Array(x.slice().buffer), `${name}: input untouched`);
    return o.read(`${name} n=${n}${inPlace ? ' in place' : ''}`);
  });
}

test('relu keeps +0 for negative input and propagates NaN', () => {
  const x = new Float32Array([-1, -0, 0, NaN, -Infinity, Infinity, 7]);
  const y = runUnary('relu', x, false);
  assert.is(y[0], 0);
  assert.ok(Object.is(y[0], 0), 'relu(−1) is +0');
  assert.ok(Number.isNaN(y[3]), 'relu(NaN) is NaN');
  assert.is(y[4], 0);
  assert.is(y[5], Infinity);
  const z = runUnary('relu6', x, false);
  assert.equal(Array.from(z.filter((v) => !Number.isNaN(v))), [0, 0, 0, 0, 6, 6]);
});

// 30-digit values of 0.5·x·erfc(−x/√2), computed independently (mpmath), not from the code under test.
const GELU_TRUE: [number, number][] = [
  [-9, -1.0157295653584566e-18],
  [-8.25, -6.5337742095800438e-16],
  [-7.5, -2.3931687546831722e-13],
  [-6, -5.9195258702261888e-9],
  [-5, -1.4332578593959696e-6],
  [-3, -0.0040496940948902836],
  [-1, -0.15865525393145705],
  [-0.5, -0.15426876936299345],
  [-0.001, -0.00049960105778608894],
  [0.25, 0.14967658142073093],
  [1, 0.84134474606854295],
  [2.5, 2.4844758366855597],
  [3, 2.9959503059051097],
  [9, 9.0],
];

test('reference gelu matches high-precision values (the oracle is itself right)', () => {
  const xs = GELU_TRUE.map(([x]) => x);
  const got = refGelu(xs);
  GELU_TRUE.forEach(([x, g], i) => {
    assert.ok(Math.abs(got[i] - g) <= 1e-12 * Math.abs(g), `refGelu(${x}) = ${got[i]}, true ${g}`);
  });
});

test('gelu kernel matches high-precision values to 1e-6', () => {
  const xs = new Float32Array(GELU_TRUE.map(([x]) => x)); // all exactly representable
  const y = runUnary('gelu', xs, false);
  GELU_TRUE.forEach(([x, g], i) => {
    assert.ok(Math.abs(y[i] - g) <= 1e-6 * Math.abs(g), `gelu(${x}) = ${y[i]}, true ${g}`);
  });
});

test('gelu: relative error ≤ 1e-5 everywhere on −9..9 (≤ 1e-6 in practice), every length, in place', () => {
  const r = rng(12);
  // a dense sweep including the deep negative tail where gelu is tiny
  const sweep = new Float32Array(4001);
  for (let i = 0; i < sweep.length; i++) sweep[i] = -9 + (18 * i) / (sweep.length - 1);
  for (const inPlace of [false, true]) {
    const y = runUnary('gelu', sweep, inPlace);
    const e = refGelu(sweep);
    assertClose(y, e, 1e-5, 0, 'gelu sweep');
    assertClose(y, e, 1e-6, 0, 'gelu sweep within 1e-6');
  }
  for (const n of LENGTHS) {
    for (const inPlace of [false, true]) {
      const x = new Float32Array(n);
      for (let i = 0; i < n; i++) x[i] = r.uniform(-9, 9);
      const y = runUnary('gelu', x, inPlace);
      const e = refGelu(x);
      assertClose(y, e, 1e-5, 0, `gelu n=${n}`);
      assert.ok(relError(y, e) <= 1e-6, `gelu n=${n} relError`);
    }
  }
});

test('gelu: an element gets the same bits wherever it sits (the 3-vector main loop, the 1-vector loop, the tail)', () => {
  // The main loop runs gelu on three interleaved vectors, the rest one vector or a partly filled one at a time: each
  // must be exactly the same computation, as the GEMM's fused GELU relies on.
  const r = rng(21);
  const x = new Float32Array(41);
  for (let i = 0; i < x.length; i++) x[i] = r.uniform(-12, 6);
  x.set([-14.2, -9, -3, -0, 0, 1e-30, 5e-40, 3], 30);
  const whole = new Uint32Array(runUnary('gelu', x, false).buffer);
  for (let start = 0; start < 13; start++) {
    for (const n of [1, 2, 3, 4, 5, 8, 11, 12, 13, 16, 25]) {
      if (start + n > x.length) continue;
      const part = new Uint32Array(runUnary('gelu', x.slice(start, start + n), false).buffer);
      for (let i = 0; i < n; i++) {
        if (part[i] !== whole[start + i]) assert.unreachable(`gelu(${x[start + i]}) at position ${i} of ${n}: bits ${part[i].toString(16)}, at ${start + i} of ${x.length}: ${whole[start + i].toString(16)}`);
      }
    }
  }
});

test('gelu: extremes and special values', () => {
  const x = new Float32Array([0, -0, 1e-30, -1e-30, -14, -15, -15.6, -100, -3e38, 20, 1e6, 3e38,
    Infinity, -Infinity, NaN]);
  const y = runUnary('gelu', x, false);
  const e = refGelu(x);
  // finite inputs down to the f32 underflow: still ≤ 1e-5 relative (atol only covers the subnormal outputs)
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(y[i] - e[i]) <= 1e-5 * Math.abs(e[i]) + 1e-44, `gelu(${x[i]}) = ${y[i]}, ref ${e[i]}`);
  assert.ok(Object.is(y[0], 0) && Object.is(y[1], -0), 'gelu(±0) = ±0');
  assert.is(y[7], 0, 'gelu(−100) underflows to 0');
  assert.is(y[8], 0, 'gelu(−3e38) is 0, not NaN');
  assert.is(y[9], 20);
  assert.is(y[10], 1e6);
  assert.is(y[11], Math.fround(3e38));
  assert.is(y[12], Infinity);
  assert.is(y[13], 0, 'gelu(−∞) = 0');
  assert.ok(Number.isNaN(y[14]), 'gelu(NaN) = NaN');
});

test.run();
