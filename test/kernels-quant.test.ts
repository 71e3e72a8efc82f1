// The int8 offload kernels (quantize_i8, minmax) vs the float64 reference: quantize must agree bit for bit (including
// exact .5 ties, which round to even, and quotients an f32 division would round onto a tie), over lengths that
// exercise the 16-lane, 4-lane and scalar paths.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, type Rng } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refQuantizeI8, refMinmax, roundHalfEven } from './reference/ops.js';

const GUARD = 16;
const h = kernelHarness(test, { guard: GUARD, sentinel: -7777.25 });
const LENGTHS = [1, 3, 4, 5, 15, 16, 17, 31, 33, 64, 1023];

/** An i8 output with 0x5a guards on both sides, poisoned with 0x77 (a valid i8, so it must be overwritten to pass). */
function guardedI8(n: number) {
  const { kern } = h;
  const base = kern.alloc(n + 2 * GUARD);
  const all = kern.u8(base, n + 2 * GUARD);
  all.fill(0x5a);
  all.fill(0x77, GUARD, GUARD + n);
  return {
    ptr: base + GUARD,
    read(what: string): Int8Array {
      const v = kern.u8(base, n + 2 * GUARD);
      for (let i = 0; i < GUARD; i++) {
        assert.is(v[i], 0x5a, `${what}: wrote before the output`);
        assert.is(v[GUARD + n + i], 0x5a, `${what}: wrote past the output`);
      }
      return kern.i8(base + GUARD, n).slice();
    },
  };
}

function quantize(x: Float32Array, scale: number, zp: number): Int8Array {
  return h.scoped(() => {
    const { kern } = h;
    const o = guardedI8(x.length);
    kern.exports.quantize_i8(kern.putF32(x), o.ptr, x.length, scale, zp);
    return o.read(`quantize n=${x.length}`);
  });
}

function assertSameI8(a: Int8Array, e: Int8Array, x: ArrayLike<number>, what: string) {
  assert.is(a.length, e.length, `${what}: length`);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) assert.unreachable(`${what}: element ${i} (x = ${x[i]}) is ${a[i]}, expected ${e[i]}`);
  }
}

function quantData(r: Rng, n: number, scale: number, zp: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r.next();
    if (u < 0.2) x[i] = (r.int(-140, 140) + 0.5) * scale; // a tie when the product is exact
    else if (u < 0.3) x[i] = r.int(-135, 135) * scale;
    else x[i] = r.uniform(-150 - zp, 150 - zp) * scale;
  }
  return x;
}

test('quantize_i8 equals the reference bit for bit (random scales and zero points, every length)', () => {
  const r = rng(41);
  let ties = 0;
  for (const n of LENGTHS) {
    for (const scale of [1, 0.5, 0.0625, 0.0173, 3.7, 1e-4]) {
      for (const zp of [0, -128, 127, 5, -17]) {
        const s = Math.fround(scale);
        const x = quantData(r, n, s, zp);
        for (let i = 0; i < n; i++) if (Math.abs((x[i] / s) % 1) === 0.5) ties++;
        assertSameI8(quantize(x, s, zp), refQuantizeI8(x, s, zp), x, `quantize n=${n} scale=${s} zp=${zp}`);
      }
    }
  }
  assert.ok(ties > 500, `the data contained exact ties (${ties})`);
});

test('quantize_i8: ties round to even, clamps, infinities, NaN → zero point', () => {
  const x = new Float32Array([0.25, 0.75, 1.25, -0.25, -0.75, -1.25, 63.75, -64.25, 1e30, -1e30, Infinity, -Infinity,
    NaN, 0, -0]);
  const q = quantize(x, 0.5, 0);
  assert.equal(Array.from(q), [0, 2, 2, 0, -2, -2, 127, -128, 127, -128, 127, -128, 0, 0, 0]);
  const qz = quantize(x, 0.5, 3);
  assert.equal(Array.from(qz), [3, 5, 5, 3, 1, 1, 127, -125, 127, -128, 127, -128, 3, 3, 3]);
  // by hand with zp = −128 (asymmetric, like a post-ReLU tensor): 0 → −128, 127.5 → 128 − 128 = 0 (even), 255 → 127
  assert.equal(Array.from(quantize(new Float32Array([0, 127.5, 128.5, 255, 300]), 1, -128)), [-128, 0, 0, 127, 127]);
});

test('quantize_i8: quotients an f32 division would round onto a .5 tie are not ties', () => {
  // x/scale lies a hair below or above k + 0.5 but rounds to exactly k + 0.5 in f32: round-half-even of the f32
  // quotient would then go the wrong way about half the time. The kernel must follow the exact quotient.
  const r = rng(42);
  const xs: number[] = [], scales: number[] = [];
  for (let tries = 0; xs.length < 64; tries++) {
    assert.ok(tries < 1e6, 'found enough near-ties');
    const s = Math.fround(r.uniform(0.01, 2));
    const k = r.int(-120, 120);
    const x = Math.fround((k + 0.5) * s * (1 + r.uniform(-3e-7, 3e-7)));
    const f32q = Math.fround(x / s);
    const exact = x / s;
    if (Math.abs(f32q % 1) === 0.5 && exact !== f32q && roundHalfEven(f32q) !== roundHalfEven(exact)) {
      xs.push(x); scales.push(s);
    }
  }
  for (let i = 0; i < xs.length; i++) {
    const x = new Float32Array([xs[i]]);
    assertSameI8(quantize(x, scales[i], 0), refQuantizeI8(x, scales[i], 0), x, `near-tie ${xs[i]}/${scales[i]}`);
    assert.is(quantize(x, scales[i], 0)[0], roundHalfEven(xs[i] / scales[i]));
  }
});

test('quantized values are within half a step of the input inside the range', () => {
  const r = rng(44);
  const s = Math.fround(0.02), zp = 3;
  const x = new Float32Array(257);
  for (let i = 0; i < x.length; i++) x[i] = r.uniform(-128 - zp, 127 - zp) * s;
  const y = Array.from(quantize(x, s, zp), (q) => (q - zp) * s);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - x[i]) <= s / 2 + 1e-7, `element ${i}`);
});

test('minmax: exact, every length, NaN propagates, n = 0 gives +∞/−∞', () => {
  const { kern } = h;
  const r = rng(46);
  for (const n of [0, ...LENGTHS]) {
    for (let rep = 0; rep < 3; rep++) {
      const mark = kern.mark();
      const x = randn(r, n, 10);
      if (n > 0 && rep === 1) x[n - 1] = 1e30; // the extreme in the tail
      if (n > 0 && rep === 2) x[0] = -1e30;
      const out = kern.alloc(8);
      kern.f32(out, 2).fill(12345);
      kern.exports.minmax(n === 0 ? out : kern.putF32(x), n, out);
      const [lo, hi] = refMinmax(x);
      assert.equal(Array.from(kern.f32(out, 2)), [lo, hi], `minmax n=${n}`);
      kern.release(mark);
    }
  }
  const mark = kern.mark();
  for (const at of [0, 5, 8]) {
    const x = randn(r, 9);
    x[at] = NaN;
    const out = kern.alloc(8);
    kern.exports.minmax(kern.putF32(x), 9, out);
    assert.ok(kern.f32(out, 2).every(Number.isNaN), `NaN at ${at} propagates`);
  }
  kern.release(mark);
});

test.run();
