// Fuzzing the `.spx` reader: thousands of mutated files built from seeded valid models. Every one must either parse
// (and then yield every tensor) or throw SpxError — never another exception, never a hang — and claims of huge sizes
// must be refused before anything of that size is allocated.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SpxError, encodeSpx, parseSpx, writeSpx, type SpxErrorCode } from '../src/format/index.js';
import { rng, type Rng } from './util.js';
import { assemble, fixCrc, imageModel, splitFile, tokenModel } from './fixtures/spx-models.js';

const BASES = [imageModel(101), tokenModel(102)].map((m) => writeSpx(m.header, m.tensors));
const PER_PARSE_MS = 250; // generous: a parse of these few-KB files takes well under a millisecond
const stats = new Map<string, number>();
let total = 0, parsed = 0, worstMs = 0;

/** Parses one mutated file; returns the error code, or 'OK' after reading every tensor back. */
function judge(bytes: Uint8Array, what: string): SpxErrorCode | 'OK' {
  total++;
  const t0 = performance.now();
  let outcome: SpxErrorCode | 'OK';
  try {
    const f = parseSpx(bytes);
    for (const [name, e] of Object.entries(f.header.tensors)) {
      const v = f.tensor(name);
      if (v.length !== e.shape.reduce((a, b) => a * b, 1)) throw new Error(`${what}: tensor '${name}' has ${v.length} values`);
    }
    assert.is(f.shapes.layerOutputs.length, f.header.layers.length, what);
    assert.is(f.header.exits.length, f.header.layers.length, what);
    assert.ok(f.shapes.maxElements <= 2 ** 28, what);
    parsed++;
    outcome = 'OK';
  } catch (e) {
    if (!(e instanceof SpxError)) throw new Error(`${what}: threw ${e instanceof Error ? e.stack : String(e)}`);
    if (/internal error/.test(e.message)) throw new Error(`${what}: ${e.message}`);
    outcome = e.code;
  }
  const ms = performance.now() - t0;
  worstMs = Math.max(worstMs, ms);
  if (ms > PER_PARSE_MS) throw new Error(`${what}: took ${ms.toFixed(0)} ms`);
  const key = `${what.split(' ')[0]}:${outcome}`;
  stats.set(key, (stats.get(key) ?? 0) + 1);
  return outcome;
}

const EVIL: unknown[] = [
  0, -1, 1, 2, 3, 63, 64, 65, 255, 2 ** 16, 2 ** 28, 2 ** 28 + 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53, 2 ** 64, 1e300, -1e300,
  0.5, 1.5, -0.5, 1e-300, '', 'x', 'conv2d', 'linear', 'f32', 'i8', 'toString', '__proto__', 'constructor', null, true, false,
  [], {}, [1], [0], [2 ** 31], [1, 1, 1], [3, 9, 11], { op: 'relu' }, { op: 'flatten' }, { op: 'save', name: 'r' },
  { op: 'add', name: 'r' }, { op: 'add', name: 'skip' }, { kind: 'image', shape: [1, 1, 1] }, { axis: 0, scales: [] },
];
const HUGE = [2 ** 28, 2 ** 28 + 1, 2 ** 30, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 32 + 64, 2 ** 40, 2 ** 53, 2 ** 53 + 2, 1e21, 1e308];
const OP_NAMES = ['conv2d', 'linear', 'maxpool2d', 'avgpool2d', 'gap', 'flatten', 'relu', 'relu6', 'gelu', 'save', 'add',
  'layernorm', 'embed', 'attention', 'seqmean', 'seqfirst', 'softmax'];
const pick = <T>(r: Rng, a: readonly T[]): T => a[r.int(0, a.length)];

type Path = (string | number)[];
/** Every path into a JSON value (objects and arrays included, the root excluded). */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push([...prefix, i]); paths(x, [...prefix, i], out); });
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) { out.push([...prefix, k]); paths(x, [...prefix, k], out); }
  return out;
}
function parentOf(root: any, p: Path): any {
  let o = root;
  for (let i = 0; i < p.length - 1; i++) o = o[p[i]];
  return o;
}

/** One structural mutation of a header object, in place; returns its name for the statistics. */
function mutateHeader(r: Rng, h: any): string {
  const all = paths(h);
  const p = pick(r, all);
  const parent = parentOf(h, p);
  const key = p[p.length - 1];
  const kind = r.int(0, 8);
  switch (kind) {
    case 0: parent[key] = pick(r, EVIL); return 'replace';
    case 1: if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key]; return 'delete';
    case 2: if (Array.isArray(parent)) { parent.splice(key as number, 0, structuredClone(parent[key as number])); return 'duplicate'; }
      parent[key] = pick(r, EVIL); return 'replace';
    case 3: { // numbers: nudge
      const nums = all.filter((q) => typeof parentOf(h, q)[q[q.length - 1]] === 'number');
      if (!nums.length) return 'none';
      const q = pick(r, nums), o = parentOf(h, q), k = q[q.length - 1];
      o[k] = pick(r, [o[k] + 1, o[k] - 1, o[k] * 2, Math.floor(o[k] / 2), o[k] + 64, o[k] - 64, -o[k], o[k] * 1024]);
      return 'nudge';
    }
    case 4: { // the fields that size allocations: huge values
      const sized = all.filter((q) => ['offset', 'length', 'dataLength', 'maxLen', 'vocabSize', 'k', 'pad', 'stride', 'groups', 'heads'].includes(String(q[q.length - 1]))
        || q.includes('shape'));
      const q = pick(r, sized), o = parentOf(h, q), k = q[q.length - 1];
      o[k] = Array.isArray(o[k]) ? o[k].map(() => pick(r, HUGE)) : pick(r, HUGE);
      return 'huge';
    }
    case 5: { // rename an op
      const ops = all.filter((q) => q[q.length - 1] === 'op');
      const q = pick(r, ops);
      parentOf(h, q).op = pick(r, OP_NAMES);
      return 'rename';
    }
    case 6: { // swap two elements of some array
      const arrays = all.filter((q) => Array.isArray(parentOf(h, q)[q[q.length - 1]]) && parentOf(h, q)[q[q.length - 1]].length > 1);
      if (!arrays.length) return 'none';
      const q = pick(r, arrays), a = parentOf(h, q)[q[q.length - 1]];
      const i = r.int(0, a.length), j = r.int(0, a.length);
      [a[i], a[j]] = [a[j], a[i]];
      return 'swap';
    }
    default: { // point an op at another tensor
      const refs = all.filter((q) => ['w', 'b', 'g', 'tok', 'pos', 'wqkv', 'bqkv', 'wo', 'bo'].includes(String(q[q.length - 1]))
        && typeof parentOf(h, q)[q[q.length - 1]] === 'string');
      const q = pick(r, refs);
      parentOf(h, q)[q[q.length - 1]] = pick(r, Object.keys(h.tensors ?? { x: 0 }));
      return 'retarget';
    }
  }
}

test('fuzz: 10,000+ mutated files parse or throw SpxError, each fast', () => {
  const r = rng(20261124);
  const t0 = performance.now();
  for (const [bi, base] of BASES.entries()) {
    const { header, text, data } = splitFile(base);
    const n = base.length;
    // 1. Random byte flips anywhere (the checksum catches almost all).
    for (let i = 0; i < 1000; i++) {
      const b = base.slice();
      for (let k = r.int(1, 5); k > 0; k--) b[r.int(0, n)] ^= 1 << r.int(0, 8);
      judge(b, `flip base${bi}#${i}`);
    }
    // 2. Byte flips with the checksum fixed afterwards: corrupted headers and data reach the deep validation.
    for (let i = 0; i < 1000; i++) {
      const b = base.slice();
      const inHeader = r.next() < 0.8;
      for (let k = r.int(1, 4); k > 0; k--) b[inHeader ? r.int(16, 16 + text.length) : r.int(16, n)] = r.int(0, 256);
      judge(fixCrc(b), `flip+crc base${bi}#${i}`);
    }
    // 3. Preamble fields: random values for every field.
    for (let i = 0; i < 400; i++) {
      const b = base.slice();
      const dv = new DataView(b.buffer);
      const f = r.int(0, 5);
      if (f === 4) b[r.int(0, 4)] ^= 1 << r.int(0, 8);
      else if (f === 0) dv.setUint16(4, r.int(0, 65536), true);
      else if (f === 1) dv.setUint16(6, r.int(0, 65536), true);
      else if (f === 2) dv.setUint32(8, r.next() < 0.5 ? r.int(0, 2 ** 32) : text.length + r.int(-70, 70), true);
      else dv.setUint32(12, r.int(0, 2 ** 32), true);
      judge(b, `preamble base${bi}#${i}`);
    }
    // 4. Truncations, insertions and deletions.
    for (let i = 0; i < 500; i++) judge(base.slice(0, r.int(0, n)), `truncate base${bi}#${i}`);
    for (let i = 0; i < 500; i++) {
      const at = r.int(0, n + 1), len = r.int(1, 80);
      const ins = Uint8Array.from({ length: len }, () => r.int(0, 256));
      const b = new Uint8Array(n + len);
      b.set(base.subarray(0, at)); b.set(ins, at); b.set(base.subarray(at), at + len);
      judge(r.next() < 0.5 ? b : fixCrc(b), `insert base${bi}#${i}`);
    }
    for (let i = 0; i < 300; i++) {
      const at = r.int(0, n), len = r.int(1, 80);
      const b = new Uint8Array(Math.max(0, n - len));
      b.set(base.subarray(0, at).subarray(0, b.length)); if (at < b.length) b.set(base.subarray(at + len), at);
      judge(r.next() < 0.5 ? b : fixCrc(b), `delete base${bi}#${i}`);
    }
    // 5. Structural header mutations, re-encoded with a correct checksum and alignment.
    for (let i = 0; i < 1500; i++) {
      const h = structuredClone(header);
      let name = '';
      for (let k = r.int(1, 4); k > 0; k--) name = mutateHeader(r, h);
      let d = data;
      if (r.next() < 0.1) d = r.next() < 0.5 ? data.subarray(0, r.int(0, data.length)) : new Uint8Array(data.length + r.int(1, 200));
      let b: Uint8Array;
      try { b = encodeSpx(h, d); } catch (e) { assert.instance(e, SpxError); continue; }
      judge(b, `json-${name} base${bi}#${i}`);
    }
    // 6. Textual JSON mutations (may break the syntax), re-checksummed.
    const chars = '{}[],:"0123456789-+.eE \\ntruefalsnul\u00e9\u{1F600}';
    const enc = new TextEncoder();
    for (let i = 0; i < 500; i++) {
      let s = text;
      for (let k = r.int(1, 4); k > 0; k--) {
        const at = r.int(0, s.length);
        const op = r.int(0, 3);
        const c = pick(r, Array.from(chars));
        s = op === 0 ? s.slice(0, at) + c + s.slice(at) : op === 1 ? s.slice(0, at) + s.slice(at + 1) : s.slice(0, at) + c + s.slice(at + 1);
      }
      // Digits → big digits inside a random number, so sizes change but the JSON often stays valid.
      if (r.next() < 0.3) s = s.replace(/\d+/g, (m) => (r.next() < 0.05 ? String(pick(r, HUGE)) : m));
      judge(assemble(enc.encode(s), data), `text base${bi}#${i}`);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const summary = new Map<string, number>();
  for (const [k, v] of stats) { const code = k.split(':')[1]; summary.set(code, (summary.get(code) ?? 0) + v); }
  console.log(`  fuzz: ${total} files in ${seconds.toFixed(1)} s, ${parsed} parsed, worst ${worstMs.toFixed(1)} ms; ` +
    [...summary].sort().map(([k, v]) => `${k} ${v}`).join(', '));
  assert.ok(total >= 10000, `only ${total} files`);
  // The mutations must reach every stage of validation, or the fuzzing proves little.
  for (const code of ['TRUNCATED', 'BAD_MAGIC', 'BAD_VERSION', 'BAD_HEADER', 'CHECKSUM', 'BAD_TENSOR', 'SHAPE_MISMATCH', 'UNKNOWN_OP', 'TOO_LARGE', 'OK']) {
    assert.ok((summary.get(code) ?? 0) >= 20, `only ${summary.get(code) ?? 0} outcomes ${code}`);
  }
});

test('huge claims are refused fast, before allocating', () => {
  const base = BASES[0];
  const { header, data } = splitFile(base);
  const claim = (mutate: (h: any) => void, d: Uint8Array = data): Uint8Array => {
    const h = structuredClone(header);
    mutate(h);
    return encodeSpx(h, d);
  };
  const cases: [string, Uint8Array, SpxErrorCode[]][] = [
    ['tensor of 2^40 bytes', claim((h) => { h.tensors['e1.w'].length = 2 ** 40; }), ['BAD_TENSOR']],
    ['tensor shape [2^40]', claim((h) => { h.tensors['e1.w'].shape = [2 ** 40]; h.tensors['e1.w'].length = 2 ** 42; }), ['TOO_LARGE']],
    ['tensor shape [2^28] with a matching length', claim((h) => { h.tensors['e1.w'].shape = [2 ** 28]; h.tensors['e1.w'].length = 2 ** 30; }), ['BAD_TENSOR']],
    ['tensor at offset 2^40', claim((h) => { h.tensors['e1.w'].offset = 2 ** 40; }), ['BAD_TENSOR']],
    ['dataLength 2^40', claim((h) => { h.dataLength = 2 ** 40; }), ['TOO_LARGE']],
    ['dataLength just under 1 GiB', claim((h) => { h.dataLength = 2 ** 30 - 4096; }), ['TRUNCATED']],
    ['input of 2^28 pixels', claim((h) => { h.input.shape = [1, 2 ** 14, 2 ** 14]; }), ['SHAPE_MISMATCH', 'TOO_LARGE', 'BAD_HEADER']],
    ['conv pad 2^27', claim((h) => { h.layers[0].ops[0].pad = 2 ** 27; }), ['TOO_LARGE']],
    ['5000 ops', claim((h) => { h.layers[0].ops = Array.from({ length: 5000 }, () => ({ op: 'relu' })); }), ['TOO_LARGE']],
  ];
  const hdr = base.slice(); new DataView(hdr.buffer).setUint32(8, 2 ** 24, true);
  cases.push(['header length 16 MiB', hdr, ['TRUNCATED']]);
  for (const [what, bytes, codes] of cases) {
    const t0 = performance.now();
    try { parseSpx(bytes); assert.unreachable(`${what}: parsed`); } catch (e) {
      assert.ok(e instanceof SpxError && codes.includes(e.code), `${what}: ${String(e)}`);
    }
    const ms = performance.now() - t0;
    // Zero-filling even 256 MiB takes far longer than this on any machine.
    assert.ok(ms < 20, `${what}: ${ms.toFixed(1)} ms`);
  }
  // Memory stays flat across many such parses (nothing proportional to the claims survives or is made).
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 200; i++) for (const [, bytes] of cases) { try { parseSpx(bytes); } catch { /* expected */ } }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < 64 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`);
});

test.run();
