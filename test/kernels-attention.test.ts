// Multi-head self-attention WASM kernel vs the float64 reference over T = 1, 2, 5, 17, 33, D = 4…64 and every head
// count dividing D, with and without key masks; plus properties the reference cannot fake: a hidden key's token
// cannot influence other rows, an all-ones mask equals no mask bit for bit, and scratch garbage never leaks in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadKernels, type Kernels } from '../src/wasm/runtime.js';
import { rng, randn, assertClose, relError, type Rng } from './util.js';
import { refAttention } from './reference/ops.js';

let kern: Kernels;
const GUARD = 8;
const SENTINEL = -7777.25;

test.before(async () => { kern = await loadKernels(); });

interface Weights { wqkv: Float32Array; bqkv: Float32Array; wo: Float32Array; bo: Float32Array }

function weights(r: Rng, D: number): Weights {
  const s = 1 / Math.sqrt(D);
  return { wqkv: randn(r, 3 * D * D, s), bqkv: randn(r, 3 * D, 0.1), wo: randn(r, D * D, s), bo: randn(r, D, 0.1) };
}

function pack(w: Float32Array, K: number, N: number): number {
  const p = kern.alloc(kern.k.linear_packed_bytes(K, N));
  kern.k.linear_pack(kern.putF32(w), p, K, N);
  return p;
}

/** Runs the kernel with NaN-poisoned output and scratch, guard zones around both. */
function runAttention(x: Float32Array, T: number, D: number, heads: number, w: Weights, mask: Uint8Array | null): Float32Array {
  const mark = kern.mark();
  try {
    const px = kern.putF32(x);
    const pq = pack(w.wqkv, D, 3 * D);
    const po = pack(w.wo, D, D);
    const pbq = kern.putF32(w.bqkv), pbo = kern.putF32(w.bo);
    let pm = 0;
    if (mask) { pm = kern.alloc(T, 1); kern.u8(pm, T).set(mask); }
    const n = T * D;
    const outBase = kern.alloc((n + 2 * GUARD) * 4);
    const all = kern.f32(outBase, n + 2 * GUARD);
    all.fill(SENTINEL);
    all.fill(NaN, GUARD, GUARD + n);
    const sBytes = kern.k.attention_scratch_bytes(T, D, heads);
    assert.ok(sBytes > 0 && sBytes % 4 === 0, 'scratch size');
    const sBase = kern.alloc(sBytes + 64);
    kern.f32(sBase, sBytes / 4).fill(NaN);
    kern.u8(sBase + sBytes, 64).fill(0xa5);
    kern.k.attention(px, T, D, heads, pq, pbq, po, pbo, pm, outBase + GUARD * 4, sBase);
    assert.ok(kern.u8(sBase + sBytes, 64).every((v) => v === 0xa5), 'attention stays inside its scratch');
    const v = kern.f32(outBase, n + 2 * GUARD);
    for (let i = 0; i < GUARD; i++) {
      assert.is(v[i], Math.fround(SENTINEL), 'wrote before the output');
      assert.is(v[GUARD + n + i], Math.fround(SENTINEL), 'wrote past the output');
    }
    assert.equal(kern.f32(px, n), x, 'x untouched');
    return v.slice(GUARD, GUARD + n);
  } finally {
    kern.release(mark);
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** A random mask that keeps at least one key. */
function randomMask(r: Rng, T: number): Uint8Array {
  const m = new Uint8Array(T);
  for (let j = 0; j < T; j++) m[j] = r.next() < 0.6 ? 1 + r.int(0, 255) : 0; // any non-zero byte means visible
  if (m.every((v) => v === 0)) m[r.int(0, T)] = 1;
  return m;
}

function check(y: Float32Array, e: Float64Array, what: string) {
  // outputs are O(1); the absolute term (1e-6 of the largest output) covers elements that cancel to ~0
  assertClose(y, e, 1e-5, 1e-6 * maxAbs(e), what);
  assert.ok(relError(y, e) <= 1e-6, `${what}: relError ${relError(y, e)}`);
}

test('attention vs reference: T × D × heads, no mask and random masks', () => {
  const r = rng(31);
  for (const D of [4, 8, 12, 36, 64]) {
    const heads = [1, 2, 3, 4].filter((h) => D % h === 0);
    for (const h of heads) {
      const w = weights(r, D);
      for (const T of [1, 2, 5, 17, 33]) {
        const x = randn(r, T * D);
        check(runAttention(x, T, D, h, w, null), refAttention(x, T, D, h, w.wqkv, w.bqkv, w.wo, w.bo, null),
          `T=${T} D=${D} heads=${h}`);
        const mask = randomMask(r, T);
        check(runAttention(x, T, D, h, w, mask), refAttention(x, T, D, h, w.wqkv, w.bqkv, w.wo, w.bo, mask),
          `T=${T} D=${D} heads=${h} mask=${Array.from(mask, (v) => (v ? 1 : 0)).join('')}`);
      }
    }
  }
});

test('attention: sharp attention (large scores) stays accurate', () => {
  const r = rng(32);
  const D = 12, heads = 3, T = 17;
  const w = weights(r, D);
  for (let i = 0; i < w.wqkv.length; i++) w.wqkv[i] *= 6; // scores in the hundreds: near one-hot softmax
  const x = randn(r, T * D);
  const mask = randomMask(r, T);
  for (const m of [null, mask]) {
    check(runAttention(x, T, D, heads, w, m), refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, m), 'sharp');
  }
});

test('attention: an all-ones mask equals no mask bit for bit', () => {
  const r = rng(33);
  const D = 36, heads = 4, T = 5;
  const w = weights(r, D);
  const x = randn(r, T * D);
  assert.equal(runAttention(x, T, D, heads, w, new Uint8Array(T).fill(1)), runAttention(x, T, D, heads, w, null));
});

test('attention: a hidden key cannot influence the other rows', () => {
  const r = rng(34);
  const D = 8, heads = 2, T = 7;
  const w = weights(r, D);
  const x = randn(r, T * D);
  const mask = new Uint8Array([1, 1, 0, 1, 0, 1, 1]);
  const a = runAttention(x, T, D, heads, w, mask);
  const x2 = x.slice();
  for (let d = 0; d < D; d++) { x2[2 * D + d] += 5 * r.normal(); x2[4 * D + d] = 100; } // rewrite tokens 2 and 4
  const b = runAttention(x2, T, D, heads, w, mask);
  for (const t of [0, 1, 3, 5, 6]) {
    assert.equal(Array.from(b.subarray(t * D, (t + 1) * D)), Array.from(a.subarray(t * D, (t + 1) * D)), `row ${t}`);
  }
  // and without the mask the same change does move them
  const c = runAttention(x, T, D, heads, w, null), d2 = runAttention(x2, T, D, heads, w, null);
  assert.not.equal(Array.from(c.subarray(0, D)), Array.from(d2.subarray(0, D)));
});

test('attention: a single visible key copies its value projection; every key hidden gives bo', () => {
  const r = rng(35);
  const D = 12, heads = 3, T = 5;
  const w = weights(r, D);
  const x = randn(r, T * D);
  const only = new Uint8Array(T); only[3] = 1;
  const y = runAttention(x, T, D, heads, w, only);
  check(y, refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, only), 'one key');
  for (let t = 1; t < T; t++) {
    assertClose(y.subarray(t * D, (t + 1) * D), y.subarray(0, D), 1e-6, 1e-7, `every row is the same (row ${t})`);
  }
  const none = runAttention(x, T, D, heads, w, new Uint8Array(T));
  for (let t = 0; t < T; t++) assert.equal(Array.from(none.subarray(t * D, (t + 1) * D)), Array.from(w.bo), 'all hidden → bo');
});

test('attention_scratch_bytes grows with T and D', () => {
  const k = kern.k;
  assert.ok(k.attention_scratch_bytes(1, 4, 1) >= (3 * 4 + 4 + 2 * 4 * 4 + 4) * 4);
  assert.ok(k.attention_scratch_bytes(64, 128, 4) > k.attention_scratch_bytes(32, 128, 4));
  assert.ok(k.attention_scratch_bytes(64, 256, 4) > k.attention_scratch_bytes(64, 128, 4));
});

test.run();
