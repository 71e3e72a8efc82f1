// Frame fuzz: ≥ 10,000 mutated, truncated, extended and spliced frames. Each one must either throw a FrameError
// with a known code or decode to a frame that is fully consistent (its tensor decodes, and re-encoding it gives
// back the very same bytes). Anything else — another exception type, a wrong-length tensor — fails.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rng, randn, type Rng } from './util.js';
import { DTYPES, decode, encode, numElements, type Dtype } from '../src/transport/codec.js';
import { FrameError, decodeFrame, encodeFrame, newRequestId, peekFrameSize, type FrameErrorCode } from '../src/transport/frame.js';
import { crc32 } from '../src/util/crc32.js';

const CODES = new Set<FrameErrorCode>(['TRUNCATED', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_DTYPE', 'BAD_RANK', 'BAD_SHAPE', 'TOO_LARGE',
  'BAD_LENGTH', 'TRAILING', 'CHECKSUM', 'BAD_HEADER', 'BAD_PARAMS']);

function baseFrames(r: Rng): Uint8Array[] {
  const shapes = [[1], [3], [2, 5], [4, 3, 3], [1, 7, 1], [5, 2, 1, 3], [16], [2, 2, 2, 2, 2, 2, 2, 2]];
  const out: Uint8Array[] = [];
  for (const dtype of DTYPES) for (const shape of shapes) {
    const x = randn(r, numElements(shape));
    out.push(encodeFrame({ digest: Uint8Array.from({ length: 32 }, () => r.int(0, 256)), splitLayer: r.int(0, 10), tensor: encode(x, shape, dtype as Dtype), requestId: newRequestId() }));
  }
  return out;
}

function reCrc(b: Uint8Array): Uint8Array {
  if (b.length >= 4) new DataView(b.buffer, b.byteOffset, b.length).setUint32(b.length - 4, crc32(b.subarray(0, b.length - 4)), true);
  return b;
}

/** One random mutation; `fixCrc` ones recompute the checksum so the parser's deeper checks get exercised. */
function mutate(r: Rng, src: Uint8Array): Uint8Array {
  const b = src.slice();
  const pos = () => r.int(0, b.length);
  switch (r.int(0, 12)) {
    case 0: { const n = r.int(1, 4); for (let i = 0; i < n; i++) { const p = pos(); b[p] ^= 1 << r.int(0, 8); } return b; }
    case 1: { const n = r.int(1, 6); for (let i = 0; i < n; i++) b[pos()] = r.int(0, 256); return b; }
    case 2: return b.slice(0, r.int(0, b.length));                                              // truncate
    case 3: { const e = new Uint8Array(b.length + r.int(1, 40)); e.set(b); for (let i = b.length; i < e.length; i++) e[i] = r.int(0, 256); return e; } // extend
    case 4: { const p = pos(); const e = new Uint8Array(b.length + 1); e.set(b.subarray(0, p)); e[p] = r.int(0, 256); e.set(b.subarray(p), p + 1); return e; } // insert
    case 5: { const p = pos(); const e = new Uint8Array(b.length - 1); e.set(b.subarray(0, p)); e.set(b.subarray(p + 1), p); return e; } // delete
    case 6: { const e = Uint8Array.from({ length: r.int(0, 200) }, () => r.int(0, 256)); if (e.length >= 4 && r.next() < 0.7) e.set([0x53, 0x50, 0x58, 0x46]); return e; } // garbage with magic
    // With a recomputed CRC: header fields, dims, lengths, params — reach the checks behind the checksum.
    case 7: { b[r.int(4, Math.min(b.length, 60))] = r.int(0, 256); return reCrc(b); }
    case 8: { const dv = new DataView(b.buffer); const rank = Math.min(b[7], 8); if (rank > 0 && b.length >= 64 + 4 * rank) dv.setUint32(60 + 4 * r.int(0, rank), [0, 1, 2, 0xffff, 0xffffffff, r.int(0, 1 << 30)][r.int(0, 6)], true); return reCrc(b); }
    case 9: { for (let i = 0; i < 3; i++) b[r.int(60, Math.max(61, b.length - 4))] = r.int(0, 256); return reCrc(b); }
    case 10: { b[7] = r.int(0, 12); b[6] = r.int(0, 8); return reCrc(b); }
    default: { const c = b.slice(0, r.int(1, b.length)); return r.next() < 0.5 ? reCrc(c) : c; }
  }
}

test('frame fuzz: 12,000 mutations are each a FrameError with a known code or a self-consistent frame', () => {
  const r = rng(0xf422);
  const bases = baseFrames(r);
  const seen = new Map<string, number>();
  const t0 = performance.now();
  const N = 12_000;
  for (let i = 0; i < N; i++) {
    const bytes = mutate(r, bases[i % bases.length]);
    let frame;
    try {
      frame = decodeFrame(bytes, { maxElements: 1 << 16, maxBytes: 1 << 20 });
    } catch (e) {
      if (!(e instanceof FrameError)) assert.unreachable(`case ${i}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
      if (!CODES.has((e as FrameError).code)) assert.unreachable(`case ${i}: unexpected code ${(e as FrameError).code}`);
      seen.set((e as FrameError).code, (seen.get((e as FrameError).code) ?? 0) + 1);
      continue;
    }
    seen.set('valid', (seen.get('valid') ?? 0) + 1);
    const data = decode(frame.tensor);
    assert.is(data.length, numElements(frame.tensor.shape), `case ${i}: tensor length`);
    assert.equal(encodeFrame(frame), bytes, `case ${i}: a frame that decodes must re-encode to the same bytes`);
  }
  const ms = performance.now() - t0;
  if (process.env.FUZZ_STATS) console.log(seen, ms);
  // The mutations must really reach the parser's checks, not bounce off the first one.
  for (const c of ['TRUNCATED', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_DTYPE', 'BAD_RANK', 'BAD_SHAPE', 'TOO_LARGE', 'BAD_LENGTH', 'TRAILING', 'CHECKSUM', 'BAD_HEADER', 'BAD_PARAMS', 'valid']) {
    assert.ok((seen.get(c) ?? 0) > 0, `no case produced ${c}: ${JSON.stringify([...seen])}`);
  }
  assert.ok(ms < 5000, `fuzz took ${ms.toFixed(0)} ms`);
});

test('frame fuzz: hostile size claims are refused before allocation, quickly', () => {
  const r = rng(7);
  const base = encodeFrame({ digest: new Uint8Array(32), splitLayer: 1, tensor: encode(randn(r, 6), [2, 3], 'f32'), requestId: newRequestId() });
  const t0 = performance.now();
  for (let i = 0; i < 2000; i++) {
    const b = base.slice();
    const dv = new DataView(b.buffer);
    b[7] = r.int(1, 3);
    for (let d = 0; d < b[7]; d++) dv.setUint32(60 + 4 * d, 0x10000000 + r.int(0, 0x70000000), true);
    try { decodeFrame(reCrc(b)); assert.unreachable('huge claim accepted'); } catch (e) {
      assert.instance(e, FrameError);
      assert.ok(['TOO_LARGE', 'TRUNCATED', 'BAD_LENGTH'].includes((e as FrameError).code), (e as FrameError).code);
    }
  }
  assert.ok(performance.now() - t0 < 2000);
});

test('peekFrameSize on every prefix of fuzzed frames agrees with decodeFrame: the same TOO_LARGE, the announced size', () => {
  const r = rng(0x9eec);
  const bases = baseFrames(r);
  let refused = 0, sized = 0;
  // An element limit that binds first, and a byte limit that binds first (f32 frames of a few hundred elements).
  for (const limits of [{ maxElements: 1 << 10, maxBytes: 1 << 13 }, { maxElements: 1 << 16, maxBytes: 600 }]) for (let i = 0; i < 3000; i++) {
    const bytes = i < bases.length ? bases[i] : mutate(r, bases[i % bases.length]);
    let full: FrameError | null = null;
    try { decodeFrame(bytes, limits); } catch (e) { full = e as FrameError; }
    for (const cut of [0, 4, 59, 60, 63, 64, 68, 96, bytes.length]) {
      const prefix = bytes.subarray(0, Math.min(cut, bytes.length));
      let peeked: number | null | undefined;
      try { peeked = peekFrameSize(prefix, limits); } catch (e) {
        assert.instance(e, FrameError);
        assert.is((e as FrameError).code, 'TOO_LARGE');
        // Whatever the header announces past the limits, the whole body is refused as too large as well.
        assert.is(full?.code, 'TOO_LARGE', `case ${i}: peek refused, decode said ${full?.code}`);
        refused++;
        break;
      }
      if (typeof peeked === 'number' && !full) { assert.is(peeked, bytes.length, `case ${i}: announced size`); sized++; }
      if (peeked === null) assert.ok(prefix.length < 60 + 4 * 8, 'null only while the header is incomplete');
    }
  }
  assert.ok(refused > 0 && sized > 0, `refused ${refused}, sized ${sized}`);
});

test.run();
