// Elementwise WASM kernels (relu, relu6, gelu, gelu_scalar, add, embed, seqmean) vs the float64 reference, over
// lengths that exercise the 4-lane body and the scalar tail, in place and out of place, with guard zones around every
// output. gelu is also checked against 30-digit values and over −9..9 where it spans 18 orders of magnitude.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose, relError, type Rng } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refRelu, refRelu6, refGelu, refAdd, refEmbed, refSeqmean } from './reference/ops.js';

const h = kernelHarness(test, { guard: 8, sentinel: -7777.25 });
const { guarded } = h;
const LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 64, 1023];

/** Every element equals the float64 result rounded once to f32 (the kernels must be correctly rounded here). */
function assertExactF32(actual: Float32Array, expected: ArrayLike<number>, what: string) {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], Math.fround(expected[i])) && !(actual[i] === 0 && expected[i] === 0)) {
      assert.unreachable(`${what}: element ${i} is ${actual[i]}, expected ${Math.fround(expected[i])}`);
    }
  }
}

/** Random data with a few exact zeros, negatives, values around 6 and large magnitudes mixed in. */
function mixed(r: Rng, n: number): Float32Array {
  const a = randn(r, n, 4);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    if (u < 0.05) a[i] = 0;
    else if (u < 0.1) a[i] = 6;
    else if (u < 0.15) a[i] = r.uniform(-1e6, 1e6);
  }
  return a;
}

type Unary = 'relu' | 'relu6' | 'gelu';

function runUnary(name: Unary, x: Float32Array, inPlace: boolean): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const n = x.length;
    const o = guarded(n, inPlace ? x : undefined);
    const px = inPlace ? o.ptr : kern.putF32(x);
    kern.k[name](px, o.ptr, n);
    if (!inPlace) assert.equal(new Uint32Array(kern.f32(px, n).slice().buffer), new Uint32Array(x.slice().buffer), `${name}: input untouched`);
    return o.read(`${name} n=${n}${inPlace ? ' in place' : ''}`);
  });
}

test('relu and relu6 are exact, in place and not, every length', () => {
  const r = rng(11);
  for (const n of LENGTHS) {
    for (const inPlace of [false, true]) {
      const x = mixed(r, n);
      assertExactF32(runUnary('relu', x, inPlace), refRelu(x), `relu n=${n}`);
      assertExactF32(runUnary('relu6', x, inPlace), refRelu6(x), `relu6 n=${n}`);
    }
  }
});

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

test('gelu_scalar equals the vector kernel bit for bit', () => {
  const r = rng(13);
  const x = new Float32Array(257);
  for (let i = 0; i < x.length; i++) x[i] = i % 3 === 0 ? r.uniform(-9, 9) : r.normal() * 3;
  x[0] = -15.4; x[1] = 0; x[2] = 11 * Math.SQRT2;
  const y = runUnary('gelu', x, false);
  const gs = (h.kern.k as unknown as { gelu_scalar(v: number): number }).gelu_scalar;
  assert.type(gs, 'function', 'gelu_scalar is exported');
  for (let i = 0; i < x.length; i++) {
    assert.ok(Object.is(gs(x[i]), y[i]), `gelu_scalar(${x[i]}) = ${gs(x[i])}, kernel ${y[i]}`);
  }
});

test('add is exact, in place (out = a) and not, every length', () => {
  const { kern } = h;
  const r = rng(14);
  for (const n of LENGTHS) {
    for (const inPlace of [false, true]) {
      const mark = kern.mark();
      const a = mixed(r, n), b = mixed(r, n);
      const o = guarded(n, inPlace ? a : undefined);
      const pa = inPlace ? o.ptr : kern.putF32(a);
      const pb = kern.putF32(b);
      kern.k.add(pa, pb, o.ptr, n);
      assertExactF32(o.read(`add n=${n}`), refAdd(a, b), `add n=${n}${inPlace ? ' in place' : ''}`);
      kern.release(mark);
    }
  }
});

test('embed: out[t] = tok[ids[t]] + pos[t], exact, odd D and repeated ids', () => {
  const { kern } = h;
  const r = rng(15);
  for (const D of [1, 3, 4, 8, 12, 17, 36, 64]) {
    for (const T of [1, 2, 5, 17, 33]) {
      const V = 7, P = T + 3;
      const mark = kern.mark();
      const tok = randn(r, V * D), pos = randn(r, P * D);
      const ids = new Int32Array(T);
      for (let t = 0; t < T; t++) ids[t] = r.int(0, V);
      ids[0] = V - 1; // the last row of the table
      const pid = kern.alloc(T * 4);
      kern.i32(pid, T).set(ids);
      const o = guarded(T * D);
      kern.k.embed(pid, T, kern.putF32(tok), kern.putF32(pos), D, o.ptr);
      assertExactF32(o.read(`embed T=${T} D=${D}`), refEmbed(ids, tok, pos, D), `embed T=${T} D=${D}`);
      kern.release(mark);
    }
  }
});

test('seqmean vs reference, odd T and D, in place (out = x) too', () => {
  const { kern } = h;
  const r = rng(16);
  for (const D of [1, 3, 4, 5, 8, 12, 36, 64, 67]) {
    for (const T of [1, 2, 5, 17, 33]) {
      for (const inPlace of [false, true]) {
        const mark = kern.mark();
        const x = randn(r, T * D);
        for (let i = 0; i < x.length; i++) x[i] += 3; // a common offset, so the mean is not ~0
        const e = refSeqmean(x, T, D);
        let y: Float32Array;
        if (inPlace) {
          const o = guarded(T * D, x);
          kern.k.seqmean(o.ptr, o.ptr, T, D);
          y = o.read(`seqmean T=${T} D=${D} in place`).slice(0, D);
        } else {
          const o = guarded(D);
          kern.k.seqmean(kern.putF32(x), o.ptr, T, D);
          y = o.read(`seqmean T=${T} D=${D}`);
        }
        assertClose(y, e, 1e-5, 1e-7, `seqmean T=${T} D=${D}`);
        assert.ok(relError(y, e) <= 1e-6, `seqmean T=${T} D=${D} relError ${relError(y, e)}`);
        if (T === 1) assertExactF32(y, x.subarray(0, D), 'seqmean of one row is the row');
        kern.release(mark);
      }
    }
  }
});

test.run();
