// linear / GEMM kernel: the tiling's edge cases (every small M × N × K, K and N not multiples of 4/8), fused
// activations over their whole range, accesses past every buffer; plus the reference erf against high-precision values.
// Model-sized shapes are in the op table (test/ops-table.ts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ACT } from '../src/engine/activations.js';
import { rng, randn, assertClose, relError, maxAbs } from './util.js';
import { kernelHarness } from './kernel-harness.js';
import { refErf, refErfc, refGelu, refLinear, type RefAct } from './reference/gemm-conv-pool.js';

// 16 floats of sentinel on both sides of every output buffer
const h = kernelHarness(test, { guard: 16, sentinel: 12345.678 });

function runLinear(x: Float32Array, w: Float32Array, b: Float32Array | null, M: number, K: number, N: number,
  act: RefAct): Float32Array {
  return h.scoped(() => {
    const { kern } = h;
    const px = kern.putF32(x);
    const pw = kern.putF32(w);
    const bytes = kern.exports.linear_packed_bytes(K, N);
    assert.ok(bytes >= N * K * 4, 'packed bytes hold the weight');
    const guardBytes = 256;
    const pp = kern.alloc(bytes + guardBytes);
    kern.u8(pp + bytes, guardBytes).fill(0xa5);
    kern.exports.linear_pack(pw, pp, K, N);
    assert.ok(kern.u8(pp + bytes, guardBytes).every((v) => v === 0xa5), 'linear_pack stays inside linear_packed_bytes');
    const pb = b ? kern.putF32(b) : 0;
    const o = h.guarded(M * N);
    kern.exports.linear(px, pp, pb, o.ptr, M, K, N, ACT[act]);
    return o.read(`linear M=${M} K=${K} N=${N} ${act}`);
  });
}

function checkLinear(seed: number, M: number, K: number, N: number, act: RefAct, bias: boolean, xScale = 1): void {
  const r = rng(seed);
  const x = randn(r, M * K, xScale);
  const w = randn(r, N * K, 1 / Math.sqrt(K));
  const b = bias ? randn(r, N, 0.5) : null;
  const got = runLinear(x, w, b, M, K, N, act);
  const want = refLinear(x, w, b, M, K, N, act);
  const what = `linear seed=${seed} M=${M} K=${K} N=${N} act=${act} bias=${bias}`;
  assertClose(got, want, 1e-5, 1e-6 * Math.max(maxAbs(want), 1e-3), what);
  assert.ok(relError(got, want) <= 1e-6, `${what}: relError ${relError(got, want)}`);
}

const ACTS: RefAct[] = ['none', 'relu', 'relu6', 'gelu'];
const ODD = [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31, 33];

test('linear: every M/N combination of small odd sizes, every act, bias and no bias', () => {
  let seed = 1;
  for (const M of [1, 2, 3, 4, 5, 7, 9]) {
    for (const N of ODD) {
      for (const K of [1, 3, 4, 7, 17]) {
        const act = ACTS[seed % 4];
        checkLinear(seed++, M, K, N, act, seed % 3 !== 0, act === 'none' ? 1 : 3);
      }
    }
  }
});

test('linear: relu6 clips at both ends and gelu is accurate over its whole range', () => {
  // K = 1, w = 1, no bias: out = act(x), so the activation itself is checked value by value.
  const n = 4001;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = -12 + 24 * i / (n - 1);
  for (const act of ['relu6', 'gelu', 'relu'] as RefAct[]) {
    for (const N of [1, 8]) {
      // M rows of N identical columns: checks the last column, the one the partial-store path writes.
      const got = runLinear(x, new Float32Array(N).fill(1), null, n, 1, N, act);
      const col = new Float32Array(n);
      for (let i = 0; i < n; i++) col[i] = got[i * N + (N - 1)];
      for (let i = 0; i < n; i++) {
        const e = act === 'gelu' ? refGelu(x[i]) : act === 'relu6' ? Math.min(6, Math.max(0, x[i])) : Math.max(0, x[i]);
        const tol = 1e-5 * Math.abs(e) + 1e-37;
        if (!(Math.abs(col[i] - e) <= tol)) assert.unreachable(`${act}(${x[i]}) = ${col[i]}, expected ${e}`);
      }
    }
  }
});

test('linear: bias only (K with zero weights) and large-magnitude inputs', () => {
  const M = 5, K = 9, N = 11;
  const r = rng(77);
  const x = randn(r, M * K, 100);
  const w = new Float32Array(N * K);
  const b = randn(r, N, 3);
  const got = runLinear(x, w, b, M, K, N, 'none');
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) assert.is(got[m * N + n], b[n]);
  checkLinear(78, 9, 40, 21, 'none', true, 1e4);
  checkLinear(79, 9, 40, 21, 'gelu', true, 1e-3);
});

test('linear with fused gelu gives exactly the bits of linear followed by the gelu op', () => {
  const { kern } = h;
  let seed = 900;
  for (const [M, K, N] of [[1, 33, 17], [5, 16, 9], [70, 40, 23], [64, 8, 8]] as [number, number, number][]) {
    const r = rng(seed++);
    const x = randn(r, M * K, 2), w = randn(r, N * K, 1 / Math.sqrt(K)), b = randn(r, N, 0.5);
    const fused = runLinear(x, w, b, M, K, N, 'gelu');
    const plain = runLinear(x, w, b, M, K, N, 'none');
    const mark = kern.mark();
    const p = kern.putF32(plain);
    kern.exports.gelu(p, p, plain.length);
    const separate = kern.f32(p, plain.length).slice();
    kern.release(mark);
    for (let i = 0; i < fused.length; i++) {
      if (!Object.is(fused[i], separate[i])) assert.unreachable(`M=${M} K=${K} N=${N} [${i}]: ${fused[i]} vs ${separate[i]}`);
    }
  }
});

test('linear: no access past x, the packed weight, the bias or out (each ending at the end of memory)', () => {
  const { kern } = h;
  let seed = 3000;
  for (const [M, K, N] of [[1, 5, 3], [1, 16, 8], [3, 7, 13], [6, 9, 5], [5, 33, 17]] as [number, number, number][]) {
    const r = rng(seed++);
    const x = randn(r, M * K), w = randn(r, N * K, 0.3), b = randn(r, N);
    const want = refLinear(x, w, b, M, K, N, 'relu');
    for (const last of ['x', 'packed', 'b', 'out', 'w']) {
      h.scoped(() => {
        const put = (name: string, data: Float32Array) => {
          if (name !== last) return kern.putF32(data);
          const p = h.allocAtEnd(data.length);
          kern.f32(p, data.length).set(data);
          return p;
        };
        const bytes = kern.exports.linear_packed_bytes(K, N);
        const pw = last === 'w' ? 0 : kern.putF32(w);
        const pp = last === 'packed' ? 0 : kern.alloc(bytes);
        const pb = last === 'b' ? 0 : kern.putF32(b);
        const px = last === 'x' ? 0 : kern.putF32(x);
        const po = last === 'out' ? 0 : kern.alloc(M * N * 4);
        const W = last === 'w' ? put('w', w) : pw;
        const P = last === 'packed' ? h.allocAtEnd(bytes / 4) : pp;
        kern.exports.linear_pack(W, P, K, N);
        const B = last === 'b' ? put('b', b) : pb;
        const X = last === 'x' ? put('x', x) : px;
        const O = last === 'out' ? h.allocAtEnd(M * N) : po;
        kern.exports.linear(X, P, B, O, M, K, N, ACT.relu);
        assertClose(kern.f32(O, M * N), want, 1e-5, 1e-6, `M=${M} K=${K} N=${N}, ${last} last`);
      });
    }
  }
});

test('reference erf/erfc/gelu agree with high-precision values', () => {
  // mpmath at 30 digits
  const table: [number, number, number][] = [
    [1e-8, 1.1283791670955126e-8, 0.99999998871620833],
    [0.1, 0.1124629160182849, 0.8875370839817151],
    [0.5, 0.52049987781304654, 0.47950012218695346],
    [1, 0.84270079294971487, 0.15729920705028513],
    [1.5, 0.96610514647531073, 0.033894853524689273],
    [2, 0.99532226501895273, 0.0046777349810472658],
    [2.9, 0.99995890212190054, 4.1097878099458858e-5],
    [3, 0.99997790950300141, 2.2090496998585441e-5],
    [3.5, 0.99999925690162766, 7.4309837234141275e-7],
    [4.5, 0.99999999980338396, 1.9661604415428875e-10],
    [6, 0.99999999999999998, 2.1519736712498913e-17],
  ];
  for (const [x, erf, erfc] of table) {
    assert.ok(Math.abs(refErf(x) - erf) <= 2e-15 * erf, `erf(${x}) = ${refErf(x)}`);
    assert.ok(Math.abs(refErf(-x) + erf) <= 2e-15 * erf, `erf(${-x})`);
    assert.ok(Math.abs(refErfc(x) - erfc) <= 1e-14 * erfc, `erfc(${x}) = ${refErfc(x)}`);
  }
  assert.is(refGelu(0), 0);
  assert.ok(Math.abs(refGelu(1) - 0.8413447460685429) < 1e-15, 'gelu(1) = Φ(1)');
});

test.run();
