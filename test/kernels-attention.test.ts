// Multi-head self-attention WASM kernel: key masks (a kernel feature the op set does not use; shapes and windows
// without masks are in the op table, test/ops-table.ts) vs the float64 reference, and properties the reference cannot fake:
// a hidden key's token (or one outside a query's window) cannot influence that row, an all-ones mask equals no mask
// bit for bit, a window covering the sequence equals global attention bit for bit, and scratch garbage never leaks in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose, relError, maxAbs, type Rng } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refAttention } from './reference/ops.js';

const h = kernelHarness(test, { guard: 8, sentinel: -7777.25 });

interface Weights { wqkv: Float32Array; bqkv: Float32Array; wo: Float32Array; bo: Float32Array }

function weights(r: Rng, D: number): Weights {
  const s = 1 / Math.sqrt(D);
  return { wqkv: randn(r, 3 * D * D, s), bqkv: randn(r, 3 * D, 0.1), wo: randn(r, D * D, s), bo: randn(r, D, 0.1) };
}

function pack(w: Float32Array, K: number, N: number): number {
  const { kern } = h;
  const p = kern.alloc(kern.exports.linear_packed_bytes(K, N));
  kern.exports.linear_pack(kern.putF32(w), p, K, N);
  return p;
}

/** Runs the kernel with NaN-poisoned output and scratch, guard zones around both. */
function runAttention(x: Float32Array, T: number, D: number, heads: number, w: Weights, mask: Uint8Array | null,
  window = 0): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const px = kern.putF32(x);
    const pq = pack(w.wqkv, D, 3 * D);
    const po = pack(w.wo, D, D);
    const pbq = kern.putF32(w.bqkv), pbo = kern.putF32(w.bo);
    let pm = 0;
    if (mask) { pm = kern.alloc(T, 1); kern.u8(pm, T).set(mask); }
    const n = T * D;
    const out = h.guarded(n);
    const sBytes = kern.exports.attention_scratch_bytes(T, D, heads);
    assert.ok(sBytes > 0 && sBytes % 4 === 0, 'scratch size');
    const sBase = kern.alloc(sBytes + 64);
    kern.f32(sBase, sBytes / 4).fill(NaN);
    kern.u8(sBase + sBytes, 64).fill(0xa5);
    kern.exports.attention(px, T, D, heads, pq, pbq, po, pbo, pm, window, out.ptr, sBase);
    assert.ok(kern.u8(sBase + sBytes, 64).every((v) => v === 0xa5), 'attention stays inside its scratch');
    const y = out.read('attention out');
    assert.equal(kern.f32(px, n), x, 'x untouched');
    return y;
  });
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

test('attention with random key masks vs reference', () => {
  const r = rng(31);
  for (const [T, D, h] of [[1, 4, 1], [2, 8, 2], [5, 12, 3], [17, 36, 4], [33, 64, 2]]) {
    const w = weights(r, D);
    const x = randn(r, T * D);
    for (let rep = 0; rep < 3; rep++) {
      const mask = randomMask(r, T);
      check(runAttention(x, T, D, h, w, mask), refAttention(x, T, D, h, w.wqkv, w.bqkv, w.wo, w.bo, mask),
        `T=${T} D=${D} heads=${h} mask=${Array.from(mask, (v) => (v ? 1 : 0)).join('')}`);
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

const rowsOf = (y: Float32Array, t: number, D: number) => Array.from(y.subarray(t * D, (t + 1) * D));
const maskText = (m: Uint8Array | null) => (m ? Array.from(m, (v) => (v ? 1 : 0)).join('') : 'none');

test('windowed attention with random key masks vs reference', () => {
  const r = rng(36);
  for (const [T, D, heads] of [[2, 4, 4], [5, 12, 3], [17, 20, 4], [64, 36, 4]]) {
    const w = weights(r, D);
    const x = randn(r, T * D);
    for (const win of [...new Set([1, 2, 7, T - 1])].filter((v) => v > 0)) {
      const mask = randomMask(r, T);
      check(runAttention(x, T, D, heads, w, mask, win), refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, mask, win),
        `T=${T} D=${D} heads=${heads} window=${win} mask=${maskText(mask)}`);
    }
  }
});

test('windowed attention: the reference it is checked against really differs from global attention', () => {
  // Guards the test above against a reference (or kernel) that ignores the window.
  const r = rng(37);
  const D = 12, heads = 3, T = 17;
  const w = weights(r, D);
  const x = randn(r, T * D);
  const g = refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, null);
  const l = refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, null, 2);
  assert.ok(relError(l, g) > 1e-2, `window 2 vs global: ${relError(l, g)}`);
  assert.ok(relError(runAttention(x, T, D, heads, w, null, 2), g) > 1e-2);
});

test('window 0 is global attention; a window of T − 1 or more equals it bit for bit', () => {
  // Bit for bit, not within a tolerance: with every row's range the whole sequence the windowed path softmaxes the
  // same T scores with the same routine and sums the context over the same keys in the same order.
  const r = rng(38);
  for (const [T, D, heads] of [[2, 4, 1], [5, 12, 3], [8, 8, 2], [17, 36, 4], [33, 20, 2]]) {
    const w = weights(r, D);
    const x = randn(r, T * D);
    for (const mask of [null, randomMask(r, T)]) {
      const global = runAttention(x, T, D, heads, w, mask);
      assert.equal(runAttention(x, T, D, heads, w, mask, 0), global, `T=${T} window 0`);
      for (const win of [T - 1, T, T + 5, 2 ** 28, 2 ** 31 - 1]) {
        assert.equal(runAttention(x, T, D, heads, w, mask, win), global, `T=${T} window ${win} mask=${maskText(mask)}`);
      }
      // A negative window (the host never passes one) is global too, not a crash.
      assert.equal(runAttention(x, T, D, heads, w, mask, -3), global, `T=${T} window −3`);
    }
  }
});

test('window 0 gives exactly the outputs of the kernel before windows existed', () => {
  // FNV-1a over the f32 bits of the outputs, recorded from the attention kernel of the commit before the window
  // parameter was added (assembly/ at e3f0a00). Existing models must run bit for bit as before; an intended change
  // of the summation order has to update these.
  const expected = ['d25b3670', '28af9f59', '7adf67a7', '3bb47fae', '6883cd10', '76e28255', 'eddf3be5', '8892b7f1'];
  const r = rng(39);
  const got: string[] = [];
  for (const [T, D, heads] of [[2, 8, 2], [5, 12, 3], [17, 36, 4], [33, 64, 2]]) {
    const w = weights(r, D);
    const x = randn(r, T * D);
    for (const mask of [null, randomMask(r, T)]) got.push(fnv(runAttention(x, T, D, heads, w, mask, 0)));
  }
  assert.equal(got, expected);
});

function fnv(a: Float32Array): string {
  let h = 0x811c9dc5;
  for (const b of new Uint8Array(a.buffer, a.byteOffset, a.byteLength)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

test('a key outside a query\'s window cannot influence that row; inside it does', () => {
  const r = rng(40);
  for (const [T, D, heads, win, j] of [[17, 8, 2, 3, 13], [33, 12, 3, 5, 4], [9, 36, 4, 1, 0], [64, 20, 4, 7, 63]]) {
    const w = weights(r, D);
    const x = randn(r, T * D);
    for (const mask of [null, randomMask(r, T)]) {
      const a = runAttention(x, T, D, heads, w, mask, win);
      const x2 = x.slice();
      for (let d = 0; d < D; d++) x2[j * D + d] += 3 + 5 * r.normal(); // rewrite token j
      const b = runAttention(x2, T, D, heads, w, mask, win);
      for (let i = 0; i < T; i++) {
        const what = `T=${T} window=${win} key ${j} row ${i} mask=${maskText(mask)}`;
        if (Math.abs(i - j) > win) assert.equal(rowsOf(b, i, D), rowsOf(a, i, D), what);
        else if (i === j || !mask || mask[j]) assert.not.equal(rowsOf(b, i, D), rowsOf(a, i, D), what);
      }
    }
  }
});

test('window with masks: a row sees itself when visible; a row whose whole window is hidden gives bo', () => {
  const r = rng(41);
  const D = 12, heads = 3, T = 9, win = 2;
  const w = weights(r, D);
  const x = randn(r, T * D);
  // keys 0..2 and 6 visible: rows 5..8 (windows [3, 7], [4, 8], [5, 8], [6, 8]) see key 6 alone, row 6 itself;
  // row 4 ([2, 6]) sees keys 2 and 6
  const mask = new Uint8Array([1, 1, 1, 0, 0, 0, 1, 0, 0]);
  const y = runAttention(x, T, D, heads, w, mask, win);
  check(y, refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, mask, win), 'window + mask');
  // rows 5, 6, 7, 8 see key 6 alone, so they are equal (and copy token 6's value projection through wo)
  for (const t of [5, 7, 8]) assert.equal(rowsOf(y, t, D), rowsOf(y, 6, D), `row ${t} = row 6`);
  const only6 = new Uint8Array(T); only6[6] = 1;
  assertClose(y.subarray(6 * D, 7 * D), runAttention(x, T, D, heads, w, only6).subarray(0, D), 1e-6, 1e-7, 'row 6 = key 6 alone');
  // hide key 6 too: rows 5..8 see nothing → bo exactly; rows 0..4 still see keys 0..2
  const m2 = mask.slice(); m2[6] = 0;
  const y2 = runAttention(x, T, D, heads, w, m2, win);
  for (const t of [5, 6, 7, 8]) assert.equal(rowsOf(y2, t, D), Array.from(w.bo), `row ${t} → bo`);
  check(y2, refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, m2, win), 'window + mask, empty windows');
});

test('windowed attention: sharp scores stay accurate', () => {
  const r = rng(42);
  const D = 12, heads = 3, T = 33;
  const w = weights(r, D);
  for (let i = 0; i < w.wqkv.length; i++) w.wqkv[i] *= 6;
  const x = randn(r, T * D);
  for (const m of [null, randomMask(r, T)]) {
    for (const win of [1, 4]) {
      const y = runAttention(x, T, D, heads, w, m, win);
      const e = refAttention(x, T, D, heads, w.wqkv, w.bqkv, w.wo, w.bo, m, win);
      // Scores in the hundreds make a probability shared by two or three keys sensitive to the f32 rounding of
      // their scores (a few ulps of a 270 score move it by ~1e-5): an element can be off by ~1e-6 of the largest
      // output, so the element-wise bound is looser than check()'s; the norm-wise error keeps check()'s 1e-6.
      assertClose(y, e, 1e-4, 4e-6 * maxAbs(e), `sharp window ${win}`);
      assert.ok(relError(y, e) <= 1e-6, `sharp window ${win}: relError ${relError(y, e)}`);
    }
  }
});

test('attention_scratch_bytes grows with T and D', () => {
  const k = h.kern.exports;
  assert.ok(k.attention_scratch_bytes(1, 4, 1) >= (3 * 4 + 4 + 2 * 4 * 4 + 4) * 4);
  assert.ok(k.attention_scratch_bytes(64, 128, 4) > k.attention_scratch_bytes(32, 128, 4));
  assert.ok(k.attention_scratch_bytes(64, 256, 4) > k.attention_scratch_bytes(64, 128, 4));
});

test.run();
