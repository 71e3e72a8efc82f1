// The fusions and tail tiles of the WASM kernels, held to the unfused sequence / the full tile bit for bit:
//  - the residual epilogue (`res`) of linear, conv2d (1×1, im2col in several chunks, grouped, depthwise), linear_q8,
//    conv2d_q8, attention, attention_q8 and attention_causal: out = act(…) + res must equal the kernel without res
//    followed by an f32 add, for every activation (GELU adds the residual after its pass), on odd shapes;
//  - the GEMMs' tail tiles (1–3 rows, 4 columns): a row or pixel gets the same bits whatever the tile that computed it;
//  - exit_gap_linear: gap → linear → exit_head in one call, the same probabilities and label, and close to a float64
//    reference.
// The unfused kernels themselves are checked against float64 references in the op table and the kernel tests.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, assertClose, type Rng } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { convOutSize, refGap, refLinear } from './reference/gemm-conv-pool.js';
import { refSoftmax } from './reference/ops.js';

const h = kernelHarness(test, { guard: 16, sentinel: 4321.5 });
const ACTS = [0, 1, 2, 3] as const; // none, relu, relu6, gelu

/** Runs `call(out, res)` with res = 0 and with a random residual; the fused output must be the unfused one + res. */
function checkResidual(what: string, n: number, r: Rng, call: (out: number, res: number) => void): void {
  const { kern } = h;
  const plain = h.guarded(n);
  call(plain.ptr, 0);
  const a = plain.read(`${what} without res`);
  const resv = randn(r, n, 2);
  const pres = h.putPoisoned(resv);
  const fused = h.guarded(n);
  call(fused.ptr, pres);
  const got = fused.read(`${what} with res`);
  assert.equal(kern.f32(pres, n), resv, `${what}: res untouched`);
  const want = new Float32Array(n);
  for (let i = 0; i < n; i++) want[i] = a[i] + resv[i];
  const gb = new Uint32Array(got.buffer), wb = new Uint32Array(want.buffer);
  for (let i = 0; i < n; i++) {
    if (gb[i] !== wb[i]) assert.unreachable(`${what}: element ${i} is ${got[i]}, unfused + res is ${want[i]}`);
  }
}

function putI8(v: Int8Array): number {
  const p = h.kern.alloc(v.length, 16);
  h.kern.i8(p, v.length).set(v);
  return p;
}

function randomI8(r: Rng, n: number): Int8Array {
  const q = new Int8Array(n);
  for (let i = 0; i < n; i++) q[i] = r.int(-127, 128);
  return q;
}

/** Positive per-row scales padded with zeros to a multiple of m (the int8 kernels' layout). */
function putScales(r: Rng, n: number, m: number, K: number): number {
  const s = new Float32Array(Math.ceil(n / m) * m);
  for (let i = 0; i < n; i++) s[i] = (0.5 + r.next()) / (127 * Math.sqrt(K));
  return h.kern.putF32(s);
}

function packedLinear(r: Rng, K: number, N: number): number {
  const E = h.kern.exports;
  const pw = h.kern.putF32(randn(r, N * K, 1 / Math.sqrt(K)));
  const pp = h.kern.alloc(E.linear_packed_bytes(K, N));
  E.linear_pack(pw, pp, K, N);
  return pp;
}

function packedLinearQ8(r: Rng, K: number, N: number): number {
  const E = h.kern.exports;
  const pp = h.kern.alloc(E.linear_q8_packed_bytes(K, N), 16);
  E.linear_q8_pack(putI8(randomI8(r, N * K)), pp, K, N);
  return pp;
}

test('linear and linear_q8: act(x·wᵀ + b) + res is the unfused result + res, bit for bit', () => {
  let seed = 11;
  for (const [M, K, N] of [[1, 7, 10], [1, 64, 33], [3, 5, 8], [4, 17, 9], [5, 64, 64], [70, 33, 13]]) {
    for (const act of ACTS) {
      h.scoped(() => {
        const r = rng(seed++);
        const E = h.kern.exports;
        const px = h.putPoisoned(randn(r, M * K, 1.5));
        const pb = act % 2 ? h.kern.putF32(randn(r, N, 0.5)) : 0;
        const pp = packedLinear(r, K, N);
        checkResidual(`linear M=${M} K=${K} N=${N} act=${act}`, M * N, r, (out, res) => E.linear(px, pp, pb, out, M, K, N, act, res));
        const pq = packedLinearQ8(r, K, N);
        const ps = putScales(r, N, 8, K);
        const scratch = h.kern.alloc(E.linear_q8_scratch_bytes(M, K), 16);
        checkResidual(`linear_q8 M=${M} K=${K} N=${N} act=${act}`, M * N, r,
          (out, res) => E.linear_q8(px, pq, ps, pb, out, M, K, N, act, scratch, res));
      });
    }
  }
});

// [C, H, W, OC, KH, KW, stride, pad, groups]
const CONVS: number[][] = [
  [5, 3, 7, 6, 1, 1, 1, 0, 1], // 1×1 on x directly, a partial last column block
  [3, 9, 11, 5, 3, 3, 1, 1, 1], // im2col
  [4, 10, 7, 9, 3, 3, 2, 1, 1], // im2col, stride 2
  [3, 45, 45, 4, 3, 3, 1, 1, 1], // im2col in two chunks
  [6, 5, 5, 4, 3, 3, 1, 1, 2], // grouped
  [7, 7, 7, 7, 3, 3, 1, 1, 7], // depthwise
  [5, 14, 13, 10, 3, 3, 2, 1, 5], // depthwise, channel multiplier 2, stride 2
];

test('conv2d and conv2d_q8: act(conv + b) + res is the unfused result + res, bit for bit', () => {
  let seed = 101;
  for (const [C, H, W, OC, KH, KW, stride, pad, groups] of CONVS) {
    for (const act of ACTS) {
      h.scoped(() => {
        const r = rng(seed++);
        const E = h.kern.exports;
        const what = `[${C},${H},${W}]→${OC} k${KH} s${stride} p${pad} g${groups} act=${act}`;
        const n = OC * convOutSize(H, KH, stride, pad) * convOutSize(W, KW, stride, pad);
        const px = h.putPoisoned(randn(r, C * H * W, 1.5));
        const pb = act !== 1 ? h.kern.putF32(randn(r, OC, 0.5)) : 0;
        const Kg = (C / groups) * KH * KW;
        const pw = h.kern.putF32(randn(r, OC * Kg, 1 / Math.sqrt(Kg)));
        const pp = h.kern.alloc(E.conv2d_packed_bytes(C, OC, KH, KW, groups));
        E.conv2d_pack(pw, pp, C, OC, KH, KW, groups);
        const scratch = h.kern.alloc(E.conv2d_scratch_bytes(C, H, W, OC, KH, KW, stride, pad, groups), 16);
        checkResidual(`conv2d ${what}`, n, r, (out, res) => E.conv2d(px, pp, pb, out, C, H, W, OC, KH, KW, stride, pad, groups, act, scratch, res));
        if (groups !== 1) return;
        const pq = h.kern.alloc(E.conv2d_q8_packed_bytes(C, OC, KH, KW), 16);
        E.conv2d_q8_pack(putI8(randomI8(r, OC * Kg)), pq, C, OC, KH, KW);
        const ps = putScales(r, OC, 4, Kg);
        const qs = h.kern.alloc(E.conv2d_q8_scratch_bytes(C, H, W, OC, KH, KW, stride, pad), 16);
        checkResidual(`conv2d_q8 ${what}`, n, r, (out, res) => E.conv2d_q8(px, pq, ps, pb, out, C, H, W, OC, KH, KW, stride, pad, act, qs, res));
      });
    }
  }
});

test('attention, attention_q8 and attention_causal: the output projection adds res, bit for bit', () => {
  let seed = 201;
  for (const [T, D, heads, window] of [[1, 8, 2, 0], [7, 16, 4, 2], [13, 12, 3, 0], [29, 64, 4, 4]]) {
    h.scoped(() => {
      const r = rng(seed++);
      const E = h.kern.exports;
      const what = `T=${T} D=${D} heads=${heads} window=${window}`;
      const px = h.putPoisoned(randn(r, T * D, 1));
      const pbq = h.kern.putF32(randn(r, 3 * D, 0.1)), pbo = h.kern.putF32(randn(r, D, 0.1));
      const pq = packedLinear(r, D, 3 * D), po = packedLinear(r, D, D);
      const scratch = h.kern.alloc(Math.max(E.attention_scratch_bytes(T, D, heads), E.attention_causal_scratch_bytes(T, D)), 16);
      checkResidual(`attention ${what}`, T * D, r, (out, res) => E.attention(px, T, D, heads, pq, pbq, po, pbo, 0, window, out, scratch, res));
      checkResidual(`attention_causal ${what}`, T * D, r,
        (out, res) => E.attention_causal(px, T, D, heads, pq, pbq, po, pbo, window, out, scratch, res));
      const qq = packedLinearQ8(r, D, 3 * D), qo = packedLinearQ8(r, D, D);
      const sq = putScales(r, 3 * D, 8, D), so = putScales(r, D, 8, D);
      const qscratch = h.kern.alloc(E.attention_q8_scratch_bytes(T, D, heads), 16);
      checkResidual(`attention_q8 ${what}`, T * D, r,
        (out, res) => E.attention_q8(px, T, D, heads, qq, sq, pbq, qo, so, pbo, 0, window, out, qscratch, res));
    });
  }
});

test('linear and linear_q8: a row gets the same bits whatever the row count (the 1-, 2- and 3-row tail tiles)', () => {
  let seed = 401;
  for (const [K, N] of [[7, 10], [64, 33], [33, 8]]) {
    for (const act of ACTS) {
      h.scoped(() => {
        const r = rng(seed++);
        const E = h.kern.exports;
        const MMAX = 11;
        const px = h.putPoisoned(randn(r, MMAX * K, 1.5));
        const pb = h.kern.putF32(randn(r, N, 0.5));
        const pp = packedLinear(r, K, N);
        const pq = packedLinearQ8(r, K, N);
        const ps = putScales(r, N, 8, K);
        const scratch = h.kern.alloc(E.linear_q8_scratch_bytes(MMAX, K), 16);
        const run = (q8: boolean, M: number) => {
          const out = h.guarded(M * N);
          if (q8) E.linear_q8(px, pq, ps, pb, out.ptr, M, K, N, act, scratch);
          else E.linear(px, pp, pb, out.ptr, M, K, N, act);
          return new Uint32Array(out.read(`M=${M}`).buffer);
        };
        for (const q8 of [false, true]) {
          const all = run(q8, MMAX);
          // M = 1 runs the GEMV kernel, whose summation order differs on purpose; from 2 rows on, every M shares bits
          for (let M = 2; M < MMAX; M++) {
            const part = run(q8, M);
            for (let i = 0; i < M * N; i++) {
              if (part[i] !== all[i]) assert.unreachable(`${q8 ? 'linear_q8' : 'linear'} K=${K} N=${N} act=${act}: M=${M} element ${i} differs from M=${MMAX}`);
            }
          }
        }
      });
    }
  }
});

test('conv2d and conv2d_q8: an output channel gets the same bits in a 4-wide last column block as in an 8-wide one', () => {
  // The same image with one more column of outputs moves a pixel from the 4-wide tail tile into an 8-wide tile
  // (W = 7 → 49 outputs, tail of 1; W = 11 at the same rows → the same pixels inside full blocks): compare the pixels
  // both convolutions compute, which are identical inputs to identical arithmetic.
  let seed = 501;
  for (const act of ACTS) {
    h.scoped(() => {
      const r = rng(seed++);
      const E = h.kern.exports;
      const C = 6, OC = 5, H = 7;
      const x = randn(r, C * H * 7, 1.5);
      const pb = h.kern.putF32(randn(r, OC, 0.5));
      const pw = h.kern.putF32(randn(r, OC * C, 1 / Math.sqrt(C)));
      const pp = h.kern.alloc(E.conv2d_packed_bytes(C, OC, 1, 1, 1));
      E.conv2d_pack(pw, pp, C, OC, 1, 1, 1);
      const pq = h.kern.alloc(E.conv2d_q8_packed_bytes(C, OC, 1, 1), 16);
      E.conv2d_q8_pack(putI8(randomI8(r, OC * C)), pq, C, OC, 1, 1);
      const ps = putScales(r, OC, 4, C);
      // a 1×1 conv maps pixel to pixel: the 49 pixels as a 7×7 map (tail block of 1) and as 1×49 plus zero columns
      // appended to make 56 = 7 full blocks; the int8 path's scale is per tensor, so the padding must not change the
      // largest |x| (zeros do not)
      const wide = new Float32Array(C * 56);
      for (let c = 0; c < C; c++) wide.set(x.subarray(c * 49, c * 49 + 49), c * 56);
      for (const q8 of [false, true]) {
        const run = (xs: Float32Array, W: number, HW: number) => {
          const px = h.putPoisoned(xs);
          const out = h.guarded(OC * HW);
          if (q8) {
            const s = h.kern.alloc(E.conv2d_q8_scratch_bytes(C, 1, W, OC, 1, 1, 1, 0), 16);
            E.conv2d_q8(px, pq, ps, pb, out.ptr, C, 1, W, OC, 1, 1, 1, 0, act, s);
          } else {
            const s = h.kern.alloc(E.conv2d_scratch_bytes(C, 1, W, OC, 1, 1, 1, 0, 1), 16);
            E.conv2d(px, pp, pb, out.ptr, C, 1, W, OC, 1, 1, 1, 0, 1, act, s);
          }
          return new Uint32Array(out.read(`W=${W}`).buffer);
        };
        const tail = run(x, 49, 49), full = run(wide, 56, 56);
        for (let oc = 0; oc < OC; oc++) {
          for (let p = 0; p < 49; p++) {
            if (tail[oc * 49 + p] !== full[oc * 56 + p]) assert.unreachable(`${q8 ? 'conv2d_q8' : 'conv2d'} act=${act}: channel ${oc} pixel ${p} differs`);
          }
        }
      }
    });
  }
});

test('exit_gap_linear: the bits of gap → linear → exit_head, and the float64 reference', () => {
  let seed = 301;
  for (const [C, HW, N] of [[1, 1, 1], [3, 5, 2], [8, 784, 10], [16, 196, 10], [33, 49, 7], [64, 49, 10], [256, 49, 10], [17, 3, 33]]) {
    h.scoped(() => {
      const r = rng(seed++);
      const { kern } = h;
      const E = kern.exports;
      const what = `C=${C} HW=${HW} N=${N}`;
      const x = randn(r, C * HW, 2);
      const w = randn(r, N * C, 1 / Math.sqrt(C));
      const b = randn(r, N, 0.3);
      const px = h.putPoisoned(x);
      const pw = kern.putF32(w);
      const pp = kern.alloc(E.linear_packed_bytes(C, N));
      E.linear_pack(pw, pp, C, N);
      const pb = kern.putF32(b);
      // the separate ops
      const feat = h.guarded(C), logits = h.guarded(N), probs = h.guarded(N);
      E.gap(px, feat.ptr, C, HW);
      E.linear(feat.ptr, pp, pb, logits.ptr, 1, C, N, 0);
      const label = E.exit_head(logits.ptr, probs.ptr, N);
      const want = probs.read(`${what} separate`);
      // one call, its own buffers
      const feat2 = h.guarded(C), logits2 = h.guarded(N), probs2 = h.guarded(N);
      const label2 = E.exit_gap_linear(px, C, HW, pp, pb, N, feat2.ptr, logits2.ptr, probs2.ptr);
      const got = probs2.read(`${what} fused`);
      feat2.check(`${what} feat`);
      logits2.check(`${what} logits`);
      assert.is(label2, label, `${what}: label`);
      assert.equal(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${what}: probabilities bit for bit`);
      const ref = refSoftmax(refLinear(refGap(x, C, HW), w, b, 1, C, N, 'none'), 1, N);
      assertClose(got, ref, 1e-5, 1e-7, `${what}: vs float64`);
      let best = 0;
      for (let i = 1; i < N; i++) if (got[i] > got[best]) best = i;
      assert.is(label2, best, `${what}: label is the argmax`);
    });
  }
});

test.run();
