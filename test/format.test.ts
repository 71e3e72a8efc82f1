// The `.spx` model file: writer → reader round trips, the layout rules of docs/FORMAT.md, every error code from a
// precise corruption, and byte-identity of the TypeScript and Python writers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from '../src/util/crc32.js';
import {
  SpxError, encodeSpx, inferShapes, parseSpx, quantizeWeightPerChannel, roundHalfEven, writeSpx,
  type SpxErrorCode, type WriterTensor,
} from '../src/format/index.js';
import { randn, rng } from './util.js';
import { assemble, fixCrc, imageModel, splitFile, tokenModel, withHeader } from './fixtures/spx-models.js';

function expectError(code: SpxErrorCode, bytes: Uint8Array, msg?: RegExp | string, what = ''): SpxError {
  try {
    parseSpx(bytes);
  } catch (e) {
    if (!(e instanceof SpxError)) throw new Error(`${what}: expected SpxError ${code}, got ${String(e)}`);
    assert.is(e.code, code, `${what}: expected ${code}, got ${e.code}: ${e.message}`);
    if (typeof msg === 'string') assert.is(e.message, msg, what);
    else if (msg) assert.match(e.message, msg, what);
    return e;
  }
  assert.unreachable(`${what}: parsed, expected ${code}`);
  throw new Error('unreachable');
}

const image = () => { const m = imageModel(11); return { ...m, bytes: writeSpx(m.header, m.tensors) }; };
const token = () => { const m = tokenModel(12); return { ...m, bytes: writeSpx(m.header, m.tensors) }; };

/** Independent dequantization: the int8 value times its scale in float64, rounded once to float32. */
function expectedValues(t: WriterTensor): number[] {
  if (t.dtype === 'f32') return Array.from(t.data);
  const q = t.quant;
  if ('scales' in q) {
    const inner = t.data.length / t.shape[0];
    return Array.from(t.data, (v, i) => Math.fround(v * q.scales[Math.floor(i / inner)]));
  }
  return Array.from(t.data, (v) => Math.fround((v - q.zeroPoint) * q.scale));
}

// ---------------------------------------------------------------------------------------------- round trips

test('crc32 matches the IEEE check value', () => {
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('image model: round trip, layout, dequantization, shapes', () => {
  const { header, tensors, bytes } = image();
  const f = parseSpx(bytes);
  assert.equal(f.version, { major: 1, minor: 0 });
  assert.equal(Array.from(bytes.subarray(0, 4)), [0x53, 0x50, 0x58, 0]);
  const H = new DataView(bytes.buffer).getUint32(8, true);
  assert.is(f.dataOffset, Math.ceil((16 + H) / 64) * 64);
  assert.is(f.dataOffset % 64, 0);
  assert.is(bytes.length, f.dataOffset + f.header.dataLength);
  assert.is(new DataView(bytes.buffer).getUint32(12, true), crc32(bytes.subarray(16)));
  for (let i = 16 + H; i < f.dataOffset; i++) assert.is(bytes[i], 0, 'header padding');

  assert.is(f.header.name, 'tiny-cnn');
  assert.equal(f.header.classes, header.classes);
  assert.equal(f.header.input, header.input);
  assert.equal(f.header.preprocess, header.preprocess);
  assert.equal(f.header.provenance, header.provenance);
  // Defaults come back filled in.
  assert.equal(f.header.layers[0].ops[0], { op: 'conv2d', w: 'l1.conv.w', b: 'l1.conv.b', stride: 1, pad: 1, groups: 1, act: 'relu' });
  assert.equal(f.header.layers[0].ops[4], { op: 'maxpool2d', k: 2, stride: 2, pad: 0 });
  assert.equal(f.header.exits[2].ops[1], { op: 'linear', w: 'e3.fc2.w', b: 'e3.fc2.b', act: 'none' });

  // Layout: in the order given, each at the next multiple of 64, no overlap.
  let end = 0;
  for (const name of Object.keys(tensors)) {
    const e = f.header.tensors[name];
    assert.is(e.offset, Math.ceil(end / 64) * 64, name);
    assert.is(e.length, tensors[name].data.byteLength, name);
    assert.equal(e.shape, tensors[name].shape, name);
    end = e.offset + e.length;
    const got = f.tensor(name);
    assert.ok(got instanceof Float32Array);
    assert.equal(Array.from(got), expectedValues(tensors[name]), name);
    // A fresh copy each call.
    got[0] = 12345;
    assert.is.not(f.tensor(name)[0], 12345);
    assert.equal(Array.from(f.tensorBytes(name)), Array.from(new Uint8Array(tensors[name].data.buffer, tensors[name].data.byteOffset, tensors[name].data.byteLength)));
  }
  assert.is(f.header.dataLength, end);
  assert.equal(f.header.tensors['e3.fc1.w'].quant, { scale: 0.0123, zeroPoint: -3 });

  const s = f.shapes;
  assert.equal(s.layerInput, [3, 9, 11]);
  assert.is(s.variableLength, false);
  assert.equal(s.layerOutputs, [[8, 4, 5], [6, 3, 4], [16]]);
  assert.equal(s.exitOutputs, [5, 5, 5]);
  assert.equal(s.layers[0].ops.map((o) => o.output), [[8, 9, 11], [8, 9, 11], [8, 9, 11], [8, 9, 11], [8, 4, 5]]);
  assert.equal(s.layers[1].ops.map((o) => o.output), [[6, 2, 3], [6, 3, 4], [6, 3, 4]]);
  assert.is(s.layers[0].maxElements, 8 * 9 * 11);
  assert.equal(s.layers[0].saveSlots, [{ name: 'skip', elements: 8 * 9 * 11 }]);
  assert.is(s.layers[0].saveElements, 792);
  assert.is(s.layers[1].maxElements, 8 * 4 * 5); // its input is the largest
  assert.is(s.layers[2].maxElements, 72);
  assert.equal(s.exits[2].ops.map((o) => o.output), [[12], [5]]);
  assert.is(s.maxElements, 792);
  assert.is(s.maxSaveElements, 792);
  assert.equal(inferShapes(f.header, Object.fromEntries(Object.entries(f.header.tensors).map(([k, v]) => [k, v.shape]))), s);
});

test('token model: round trip and variable-length shapes', () => {
  const { tensors, bytes } = token();
  const f = parseSpx(bytes);
  for (const name of Object.keys(tensors)) assert.equal(Array.from(f.tensor(name)), expectedValues(tensors[name]), name);
  const s = f.shapes;
  assert.equal(s.layerInput, [7]);
  assert.is(s.variableLength, true);
  assert.equal(s.layerOutputs, [[7, 8], [7, 8]]);
  assert.equal(s.layerOutputVariable, [true, true]);
  assert.is(s.layers[0].inputIsTokens, true);
  assert.is(s.layers[1].inputIsTokens, false);
  assert.equal(s.exitOutputs, [3, 3]);
  assert.is(s.layers[0].ops[3].scratch, 3 * 7 * 8 + 2 * 7 * 7);
  assert.is(s.layers[0].maxScratch, 266);
  assert.is(s.layers[1].maxElements, 7 * 16);
  assert.equal(s.exits[0].ops.map((o) => [o.output, o.variable]), [[[7, 8], true], [[8], false], [[3], false]]);
  assert.is(f.header.layers[1].ops[1].op === 'layernorm' && f.header.layers[1].ops[1].eps, 1e-6);
  assert.is(f.header.layers[0].ops[2].op === 'layernorm' && f.header.layers[0].ops[2].eps, 1e-5);
});

test('attention window: absent means 0, kept out of files that do not set it, written and read back when set', () => {
  const { header, tensors, bytes } = token();
  const text = (b: Uint8Array) => splitFile(b).text;
  // A file without `window` parses to window 0 and its bytes never mention it; re-encoding what was read is identical.
  assert.not.ok(text(bytes).includes('window'));
  const f = parseSpx(bytes);
  const att = f.header.layers[0].ops[3];
  assert.ok(att.op === 'attention' && att.window === 0, 'parsed window 0');
  assert.equal(withHeader(bytes, () => {}), bytes);
  // The writer writes `window` as given; the reader carries it through; scratch and shapes do not depend on it.
  for (const win of [4, 1, 2 ** 28]) {
    const h = structuredClone(header);
    (h.layers[0].ops[3] as unknown as Record<string, unknown>).window = win;
    const b = writeSpx(h, tensors);
    assert.ok(text(b).includes(`"window":${win}`), `window ${win} in the header text`);
    const g = parseSpx(b);
    const op = g.header.layers[0].ops[3];
    assert.ok(op.op === 'attention' && op.window === win, `window ${win} read back`);
    assert.equal(g.shapes, f.shapes, `window ${win}: shapes and scratch unchanged`);
    // parsed header → writer → reader keeps it (the parsed ops carry every default explicitly)
    const again = parseSpx(writeSpx(g.header, tensors));
    assert.equal(again.header.layers, g.header.layers);
    assert.equal(withHeader(b, () => {}), b);
  }
  // An explicit 0 is valid and means global.
  const z = parseSpx(withHeader(bytes, (h) => { h.layers[0].ops[3].window = 0; })).header.layers[0].ops[3];
  assert.ok(z.op === 'attention' && z.window === 0);
});

test('attention window: anything but an integer ≥ 0 is BAD_HEADER naming the op; past 2^28 is TOO_LARGE', () => {
  const { bytes } = token();
  const where = "layer 1 op 4 \\(attention\\): field 'window'";
  const cases: [unknown, string][] = [
    [-1, `${where}: expected an integer ≥ 0, got -1`],
    [1.5, `${where}: expected an integer ≥ 0, got 1.5`],
    ['3', `${where}: expected an integer, got "3"`],
    [null, `${where}: expected an integer, got null`],
    [true, `${where}: expected an integer, got true`],
    [[2], `${where}: expected an integer, got an array`],
  ];
  for (const [v, msg] of cases) {
    expectError('BAD_HEADER', withHeader(bytes, (h) => { h.layers[0].ops[3].window = v; }), new RegExp(`^${msg}$`), `window ${JSON.stringify(v)}`);
  }
  expectError('TOO_LARGE', withHeader(bytes, (h) => { h.layers[0].ops[3].window = 2 ** 28 + 1; }), /layer 1 op 4 \(attention\): field 'window'/);
});

test('any minor version is accepted; unknown header fields and op fields are kept', () => {
  const { bytes } = image();
  const b = withHeader(bytes, (h) => { h.futureField = { x: 1 }; h.layers[0].ops[0].hint = 'fast'; });
  new DataView(b.buffer).setUint16(6, 7, true); // minor 7 (not covered by the checksum)
  const f = parseSpx(b);
  assert.equal(f.version, { major: 1, minor: 7 });
  assert.equal((f.header as unknown as Record<string, unknown>).futureField, { x: 1 });
  assert.is((f.header.layers[0].ops[0] as unknown as Record<string, unknown>).hint, 'fast');
});

test('reads from a Node Buffer at an odd byteOffset (unaligned f32 data)', () => {
  const { tensors, bytes } = image();
  const pool = Buffer.alloc(bytes.length + 3);
  pool.set(bytes, 3);
  const f = parseSpx(pool.subarray(3));
  assert.equal(Array.from(f.tensor('l1.conv.w')), expectedValues(tensors['l1.conv.w']));
});

test('tensor names like __proto__ and toString are ordinary names', () => {
  const m = imageModel(3);
  const t: Record<string, WriterTensor> = {};
  for (const [k, v] of Object.entries(m.tensors)) if (k !== 'e1.w') t[k] = v;
  Object.defineProperty(t, '__proto__', { value: m.tensors['e1.w'], enumerable: true, configurable: true, writable: true });
  m.header.exits[0].ops[1] = { op: 'linear', w: '__proto__', b: 'e1.b' };
  const f = parseSpx(writeSpx(m.header, t));
  assert.equal(Array.from(f.tensor('__proto__')), Array.from(m.tensors['e1.w'].data));
  assert.equal(f.header.tensors['__proto__'].shape, [5, 8]);
  // A reference to an inherited property name is not a tensor.
  m.header.exits[0].ops[1] = { op: 'linear', w: 'toString', b: 'e1.b' };
  expectError('BAD_TENSOR', writeSpx(m.header, t), /exit 1 op 2 \(linear\): weight 'toString' is not in the tensors table/);
  try { f.tensor('constructor'); assert.unreachable(); } catch (e) { assert.ok(e instanceof SpxError && e.code === 'BAD_TENSOR'); }
});

// ---------------------------------------------------------------------------------------------- quantization

test('quantizeWeightPerChannel: exact ties round half to even, zero channel, clamp', () => {
  // Channel 0: maxabs 127 → scale exactly 1, so x/scale = x: the ties are exact.
  const data = new Float32Array([127, 2.5, 3.5, -2.5, -0.5, 0.5, 1.5, -127, 0, 0, 0, 0, 0, 0, 0, 0, -254, 1, 5, 7, -3, 0.25, 100, 2]);
  const q = quantizeWeightPerChannel([3, 8], data);
  assert.equal(q.quant.scales, [1, 0, 2]);
  assert.equal(Array.from(q.data), [127, 2, 4, -2, -0, 0, 2, -127, 0, 0, 0, 0, 0, 0, 0, 0, -127, 0, 2, 4, -2, 0, 50, 1]);
  assert.is(roundHalfEven(-1.5), -2);
  assert.is(roundHalfEven(0.49999999999999994), 0);
  assert.is(roundHalfEven(4503599627370497), 4503599627370497);
  try { quantizeWeightPerChannel([1, 2], new Float32Array([1, NaN])); assert.unreachable(); } catch (e) { assert.instance(e, SpxError); }
});

test('quantizeWeightPerChannel agrees with an independent float64 reference on random shapes', () => {
  const r = rng(9);
  for (const shape of [[1, 1], [3, 5], [7, 3, 3, 3], [16, 1, 3, 3], [5, 33]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = randn(r, n, 0.7);
    const got = quantizeWeightPerChannel(shape, x);
    const inner = n / shape[0];
    for (let c = 0; c < shape[0]; c++) {
      let m = 0;
      for (let i = 0; i < inner; i++) m = Math.max(m, Math.abs(x[c * inner + i]));
      assert.is(got.quant.scales[c], m / 127);
      for (let i = 0; i < inner; i++) {
        const v = x[c * inner + i] / (m / 127);
        const fl = Math.floor(v), frac = v - fl;
        const want = frac < 0.5 ? fl : frac > 0.5 ? fl + 1 : (fl % 2 === 0 ? fl : fl + 1);
        assert.is(got.data[c * inner + i], Math.max(-127, Math.min(127, want)) || 0);
        // Dequantized error within half a step.
        assert.ok(Math.abs(got.data[c * inner + i] * got.quant.scales[c] - x[c * inner + i]) <= m / 254 * (1 + 1e-12));
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------- container errors

test('BAD_MAGIC and BAD_VERSION', () => {
  const { bytes } = image();
  const b = bytes.slice(); b[0] = 0x50;
  expectError('BAD_MAGIC', b, /starts with 50 50 58 00/);
  expectError('BAD_MAGIC', new Uint8Array([0x50, 0x4b]), /not a \.spx model file/);
  expectError('BAD_MAGIC', new TextEncoder().encode('{"format":"splitee-model"}'));
  const v = bytes.slice(); new DataView(v.buffer).setUint16(4, 2, true);
  expectError('BAD_VERSION', v, /version 2\.0/);
  const v0 = bytes.slice(); new DataView(v0.buffer).setUint16(4, 0, true);
  expectError('BAD_VERSION', v0);
});

test('TRUNCATED at every cut point', () => {
  const { bytes } = image();
  for (let cut = 0; cut < bytes.length; cut++) expectError('TRUNCATED', bytes.subarray(0, cut), undefined, `cut at ${cut}`);
  const { bytes: tb } = token();
  for (let cut = 0; cut < tb.length; cut += 7) expectError('TRUNCATED', tb.slice(0, cut), undefined, `token cut at ${cut}`);
  // The header length claims more than the file has.
  const h = bytes.slice(); new DataView(h.buffer).setUint32(8, bytes.length, true);
  expectError('TRUNCATED', h, /header alone needs/);
  // dataLength one past the end (checksum fixed: the length check comes first anyway).
  expectError('TRUNCATED', withHeader(bytes, (x) => { x.dataLength += 1; }).subarray(0, undefined), /header says it ends at/);
});

test('header length limits', () => {
  const { bytes } = image();
  const small = bytes.slice(); new DataView(small.buffer).setUint32(8, 1, true);
  expectError('BAD_HEADER', small, /too small/);
  const big = bytes.slice(); new DataView(big.buffer).setUint32(8, 16 * 1024 * 1024 + 1, true);
  expectError('TOO_LARGE', big, /16 MiB/);
  const huge = bytes.slice(); new DataView(huge.buffer).setUint32(8, 0xffffffff, true);
  expectError('TOO_LARGE', huge);
});

test('header not JSON / not UTF-8 / not an object', () => {
  const { bytes } = image();
  const { text, data } = splitFile(bytes);
  const enc = new TextEncoder();
  expectError('BAD_HEADER', assemble(enc.encode(text.slice(0, -1)), data), /not valid JSON/);
  expectError('BAD_HEADER', assemble(enc.encode('[1,2]'), data), /must be a JSON object/);
  const bad = enc.encode(text); bad[5] = 0xff;
  expectError('BAD_HEADER', assemble(bad, data), /not valid UTF-8/);
  // The same damage without a matching checksum is reported as corruption.
  const broken = bytes.slice(); broken[17] = 0x7b; // '{{"format"…'
  expectError('CHECKSUM', broken, /not valid JSON/);
  // Deeply nested JSON cannot blow the stack into a non-SpxError.
  expectError('BAD_HEADER', assemble(enc.encode('['.repeat(200000) + ']'.repeat(200000)), data));
});

test('CHECKSUM: stored CRC flipped, data bit flipped', () => {
  const { bytes } = image();
  const c = bytes.slice(); c[13] ^= 0x01;
  expectError('CHECKSUM', c, /checksum mismatch/);
  const d = bytes.slice(); d[d.length - 5] ^= 0x80;
  expectError('CHECKSUM', d);
  const hb = bytes.slice(); hb[30] ^= 0x01; // still valid JSON most likely, caught by the CRC either way
  expectError('CHECKSUM', hb);
});

test('dataLength: trailing bytes, wrong type, past 1 GiB; padding must be zero', () => {
  const { bytes } = image();
  const extra = new Uint8Array(bytes.length + 1); extra.set(bytes);
  expectError('CHECKSUM', extra, /after the end of the data region/);
  expectError('BAD_HEADER', fixCrc(extra), /1 bytes after the end of the data region/);
  expectError('BAD_HEADER', withHeader(bytes, (h) => { h.dataLength = 'many'; }), /dataLength must be a non-negative integer/);
  expectError('BAD_HEADER', withHeader(bytes, (h) => { delete h.dataLength; }), /dataLength/);
  expectError('TOO_LARGE', withHeader(bytes, (h) => { h.dataLength = 2 ** 40; }), /1 GiB/);
  expectError('TOO_LARGE', withHeader(bytes, (h) => { h.dataLength = 2 ** 30; }), /1 GiB/);
  const { text, data } = splitFile(bytes);
  const t = new TextEncoder().encode(text);
  const padded = assemble(t, data);
  const pad = 16 + t.length;
  if (pad % 64 !== 0) {
    padded[pad] = 1;
    expectError('BAD_HEADER', fixCrc(padded), /padding/);
  }
});

// ---------------------------------------------------------------------------------------------- header fields

test('BAD_HEADER: missing or wrong-typed top-level fields', () => {
  const { bytes } = image();
  const cases: [string, (h: Record<string, any>) => void, RegExp][] = [
    ['format', (h) => { h.format = 'onnx'; }, /header\.format must be "splitee-model"/],
    ['name', (h) => { h.name = 3; }, /header\.name must be a string, got 3/],
    ['task', (h) => { h.task = 'text-classification'; }, /expected "image-classification"/],
    ['classes', (h) => { h.classes = []; }, /header\.classes/],
    ['classes[2]', (h) => { h.classes[2] = 2; }, /header\.classes\[2\] must be a string/],
    ['input', (h) => { h.input = { kind: 'audio' }; }, /header\.input\.kind/],
    ['input.shape', (h) => { h.input.shape = [3, 9]; }, /header\.input\.shape must be \[C, H, W\]/],
    ['input.shape[1]', (h) => { h.input.shape[1] = 0; }, /header\.input\.shape\[1\]: expected an integer ≥ 1, got 0/],
    ['preprocess', (h) => { delete h.preprocess; }, /header\.preprocess must be an object/],
    ['preprocess.kind', (h) => { h.preprocess.kind = 'tokenizer'; }, /preprocess\.kind/],
    ['preprocess.std', (h) => { h.preprocess.std = [1, 0, 1]; }, /preprocess\.std/],
    ['preprocess.mean', (h) => { h.preprocess.mean = [1, 2]; }, /preprocess\.mean must be 1 or 3/],
    ['provenance', (h) => { h.provenance = 'me'; }, /provenance must be an object/],
    ['layers', (h) => { h.layers = []; }, /header\.layers must be a non-empty array/],
    ['layer name', (h) => { delete h.layers[1].name; }, /layer 2: field 'name' must be a string/],
    ['layer ops', (h) => { h.layers[1].ops = {}; }, /layer 2: field 'ops' must be an array/],
    ['exits missing', (h) => { h.exits.pop(); }, /header\.exits has 2 exits, expected one per layer \(3\)/],
    ['exits order', (h) => { [h.exits[0], h.exits[1]] = [h.exits[1], h.exits[0]]; }, /exit 1: field 'layer' is 2, expected 1/],
    ['exit not linear', (h) => { h.exits[0].ops.push({ op: 'relu' }); }, /exit 1: must end in a linear to 5 classes, ends in relu/],
    ['exit empty', (h) => { h.exits[2].ops = []; }, /exit 3: must end in a linear.*no ops/],
    ['op not object', (h) => { h.layers[0].ops[1] = 'relu'; }, /layer 1 op 2: an op must be an object/],
    ['act', (h) => { h.layers[0].ops[0].act = 'tanh'; }, /layer 1 op 1 \(conv2d\): field 'act' must be one of/],
    ['stride 0', (h) => { h.layers[1].ops[0].stride = 0; }, /layer 2 op 1 \(conv2d\): field 'stride': expected an integer ≥ 1, got 0/],
    ['pad 1.5', (h) => { h.layers[1].ops[0].pad = 1.5; }, /field 'pad'/],
    ['pool pad', (h) => { h.layers[1].ops[1].pad = 2; }, /layer 2 op 2 \(avgpool2d\): pad 2 is more than half the window 2/],
    ['pool k', (h) => { delete h.layers[0].ops[4].k; }, /field 'k' is missing/],
    ['save name', (h) => { h.layers[0].ops[1].name = 7; }, /layer 1 op 2 \(save\): field 'name' must be a string/],
    ['add unsaved', (h) => { h.layers[0].ops[3].name = 'other'; }, /layer 1 op 4 \(add\): no earlier save in this block is named 'other'/],
    ['eps', (h) => { h.layers[1].ops.push({ op: 'layernorm', g: 'x', b: 'y', eps: -1 }); }, /field 'eps' must be a positive number/],
  ];
  for (const [what, mutate, msg] of cases) expectError('BAD_HEADER', withHeader(bytes, mutate), msg, what);
});

test('UNKNOWN_OP names the op and where', () => {
  const { bytes } = image();
  const e = expectError('UNKNOWN_OP', withHeader(bytes, (h) => { h.layers[1].ops.splice(1, 0, { op: 'softmax' }); }));
  assert.match(e.message, /^layer 2 op 2: unknown op "softmax"/);
  expectError('UNKNOWN_OP', withHeader(bytes, (h) => { h.exits[2].ops[0].op = 'Linear'; }), /^exit 3 op 1: unknown op "Linear"/);
  expectError('BAD_HEADER', withHeader(bytes, (h) => { h.exits[2].ops[0].op = 5; }), /field 'op' must be a string/);
});

// ---------------------------------------------------------------------------------------------- tensors

test('BAD_TENSOR: dtype, length ≠ shape, misaligned, out of range, overlapping, quant', () => {
  const { bytes } = image();
  const cases: [string, (t: Record<string, any>, h: Record<string, any>) => void, RegExp][] = [
    ['dtype', (t) => { t['e1.b'].dtype = 'f16'; }, /tensor 'e1\.b': unknown dtype "f16"/],
    ['length', (t) => { t['e1.w'].length = 156; }, /tensor 'e1\.w': length 156 bytes, but \[5, 8\] f32 needs 160/],
    ['shape', (t) => { t['e1.w'].shape = [5, 9]; }, /tensor 'e1\.w': length 160 bytes, but \[5, 9\] f32 needs 180/],
    ['shape empty', (t) => { t['e1.w'].shape = []; }, /shape must be a non-empty array/],
    ['shape 0', (t) => { t['e1.w'].shape = [0, 8]; }, /shape\[0\] must be a positive integer, got 0/],
    ['shape 2.5', (t) => { t['e1.w'].shape = [2.5, 8]; }, /shape\[0\] must be a positive integer, got 2\.5/],
    ['misaligned', (t) => { t['e1.w'].offset += 4; }, /tensor 'e1\.w': offset \d+ is not a multiple of 64/],
    ['negative', (t) => { t['e1.w'].offset = -64; }, /offset must be a non-negative integer/],
    ['out of range', (t, h) => { t['e3.fc2.b'].offset = Math.ceil(h.dataLength / 64) * 64; }, /tensor 'e3\.fc2\.b': bytes \d+\.\.\d+ lie outside the \d+-byte data region/],
    ['offset 2^40', (t) => { t['e1.w'].offset = 2 ** 40; }, /lie outside/],
    ['overlap', (t) => { t['e1.b'].offset = t['e1.w'].offset; }, /tensors 'e1\.(w|b)' .* and 'e1\.(w|b)' .* overlap/],
    ['overlap partial', (t) => { t['l1.conv.b'].offset = t['l1.conv.w'].offset + 832; }, /overlap/],
    ['no quant', (t) => { delete t['l1.dw.w'].quant; }, /an i8 tensor needs quant/],
    ['scales', (t) => { t['l1.dw.w'].quant.scales.pop(); }, /quant\.scales must hold 8 numbers.*got 7/],
    ['scale NaN', (t) => { t['l1.dw.w'].quant.scales[3] = 'x'; }, /quant\.scales\[3\] must be a finite number/],
    ['axis', (t) => { t['l1.dw.w'].quant.axis = 1; }, /quant\.axis must be 0/],
    ['zeroPoint', (t) => { t['e3.fc1.w'].quant.zeroPoint = 200; }, /zeroPoint must be an integer in −128\.\.127/],
    ['f32 quant', (t) => { t['e1.b'].quant = { scale: 1, zeroPoint: 0 }; }, /an f32 tensor must not carry quant/],
    ['entry', (t) => { t['e1.b'] = [1]; }, /entry must be an object/],
    ['missing', (t) => { delete t['l2.conv.w']; }, /layer 2 op 1 \(conv2d\): weight 'l2\.conv\.w' is not in the tensors table/],
  ];
  for (const [what, mutate, msg] of cases) expectError('BAD_TENSOR', withHeader(bytes, (h) => mutate(h.tensors, h)), msg, what);
  expectError('BAD_HEADER', withHeader(bytes, (h) => { h.tensors = []; }), /header\.tensors must be an object/);
});

test('TOO_LARGE: absurd dims, counts and element totals', () => {
  const { bytes } = image();
  const { bytes: tb } = token();
  const cases: [string, Uint8Array, RegExp][] = [
    ['dim 2^31', withHeader(bytes, (h) => { h.tensors['e1.w'].shape = [2 ** 31, 8]; }), /tensor 'e1\.w': shape\[0\] = 2147483648 is past/],
    ['product', withHeader(bytes, (h) => { h.tensors['e1.w'].shape = [2 ** 14, 2 ** 15]; }), /tensor 'e1\.w': \[16384, 32768\] has more than 2\^28 elements/],
    ['dim 1e300', withHeader(bytes, (h) => { h.tensors['e1.w'].shape = [1e300]; }), /past/],
    ['input dim', withHeader(bytes, (h) => { h.input.shape = [3, 2 ** 31, 11]; }), /header\.input\.shape\[1\]: 2147483648 is past the limit/],
    ['input product', withHeader(bytes, (h) => { h.input.shape = [4096, 4096, 4096]; }), /header\.input\.shape: .* more than 2\^28/],
    ['maxLen', withHeader(tb, (h) => { h.input.maxLen = 2 ** 31; }), /header\.input\.maxLen/],
    ['pad 2^31', withHeader(bytes, (h) => { h.layers[0].ops[0].pad = 2 ** 31; }), /layer 1 op 1 \(conv2d\): field 'pad'/],
    ['activation', withHeader(bytes, (h) => { h.layers[0].ops[0].pad = 2 ** 14; }), /layer 1 op 1 \(conv2d\): output: \[8, 32775, 32777\] has more than 2\^28/],
    ['layers', withHeader(bytes, (h) => { h.layers = Array.from({ length: 65 }, () => h.layers[0]); }), /65 layers, more than 64/],
    ['ops', withHeader(bytes, (h) => { h.layers[2].ops.push(...Array.from({ length: 5000 }, () => ({ op: 'relu' }))); }), /layer 3 has 5002 ops/],
  ];
  for (const [what, b, msg] of cases) expectError('TOO_LARGE', b, msg, what);
  // A file claiming 1 MiB more data than it has: TRUNCATED before anything is allocated for it.
  expectError('TRUNCATED', withHeader(bytes, (h) => { h.dataLength += 1 << 20; }));
});

test('TOO_LARGE: attention scratch past 2^28', () => {
  // A real (small) file whose maxLen makes heads·T·T huge: pos table grows with maxLen, so build it properly.
  const m = tokenModel(4);
  m.header.input = { kind: 'tokens', maxLen: 12000, vocabSize: 50 };
  m.tensors['embed.pos'] = { dtype: 'i8', shape: [12000, 8], data: new Int8Array(96000), quant: { scale: 1, zeroPoint: 0 } };
  expectError('TOO_LARGE', writeSpx(m.header, m.tensors), /layer 1 op 4 \(attention\): .*2\^28 scratch/);
});

// ---------------------------------------------------------------------------------------------- shapes

test('SHAPE_MISMATCH: precise messages', () => {
  const { bytes } = image();
  const { bytes: tb } = token();
  const cases: [string, Uint8Array, RegExp | string][] = [
    ['conv channels', withHeader(bytes, (h) => { h.tensors['l2.conv.w'].shape = [12, 4, 3, 3]; }),
      "layer 2 op 1 (conv2d): weight 'l2.conv.w' has 4 input channels, activation has 8"],
    ['conv groups', withHeader(bytes, (h) => { h.layers[0].ops[2].groups = 4; }),
      "layer 1 op 3 (conv2d): weight 'l1.dw.w' has 1 input channels per group × 4 groups = 4, activation has 8"],
    ['groups divide', withHeader(bytes, (h) => { h.layers[0].ops[2].groups = 3; }), /groups 3 does not divide the 8 input channels/],
    ['conv bias', withHeader(bytes, (h) => { h.tensors['l1.conv.b'].shape = [2, 4]; }),
      "layer 1 op 1 (conv2d): bias 'l1.conv.b' is [2, 4], expected [8] (one per output channel)"],
    ['conv rank', withHeader(bytes, (h) => { h.layers[2].ops.splice(1, 0, { op: 'conv2d', w: 'l1.conv.w' }); }),
      'layer 3 op 2 (conv2d): needs a [C, H, W] activation, got [72]'],
    ['kernel too big', withHeader(bytes, (h) => { h.layers[1].ops[0].pad = 0; h.layers[1].ops.unshift({ op: 'maxpool2d', k: 4 }); }),
      'layer 2 op 2 (conv2d): kernel 3×3 is larger than the padded input 1×1'],
    ['linear K', withHeader(bytes, (h) => { h.tensors['e1.w'].shape = [4, 10]; }),
      "exit 1 op 2 (linear): weight 'e1.w' has 10 inputs (K), activation [8] has 8"],
    ['linear bias', withHeader(bytes, (h) => { h.exits[0].ops[1].b = 'l3.fc.b'; }), /bias 'l3\.fc\.b' is \[16\], expected \[5\]/],
    ['classes', withHeader(bytes, (h) => { h.classes.push('five'); }), 'exit 1 op 2 (linear): produces [5], expected [6] (one logit per class)'],
    ['add', withHeader(bytes, (h) => { h.layers[0].ops.splice(4, 0, { op: 'save', name: 's2' }); h.layers[0].ops.push({ op: 'add', name: 's2' }); }),
      /layer 1 op 7 \(add\): activation \[8, 4, 5\] and saved 's2' \[8, 9, 11\] differ/],
    ['gap rank', withHeader(bytes, (h) => { h.exits[2].ops.unshift({ op: 'gap' }); }), 'exit 3 op 1 (gap): needs a [C, H, W] activation, got [16]'],
    ['pool too big', withHeader(bytes, (h) => { h.layers[1].ops[1] = { op: 'maxpool2d', k: 5 }; }), /window 5×5 is larger than the padded input 2×3/],
    ['embed in image', withHeader(bytes, (h) => { h.layers[0].ops.unshift({ op: 'embed', tok: 'e1.w', pos: 'e1.w' }); }),
      /layer 1 op 1 \(embed\): needs token ids, got a float activation \[3, 9, 11\]/],
    ['tokens not embedded', withHeader(tb, (h) => { h.layers[0].ops.shift(); }), /layer 1 op 1 \(save\): receives token ids \[T≤7\]; only embed takes token ids/],
    ['empty token layer', withHeader(tb, (h) => { h.layers[0].ops = []; }), /layer 1 ends with token ids/],
    ['flatten sequence', withHeader(tb, (h) => { h.exits[1].ops[0] = { op: 'flatten' }; }), /exit 2 op 1 \(flatten\): cannot flatten \[T≤7, 8\]/],
    ['vocab', withHeader(tb, (h) => { h.input.vocabSize = 51; }), /token table 'embed\.tok' has 50 rows, the vocabulary has 51 ids/],
    ['pos rows', withHeader(tb, (h) => { h.input.maxLen = 8; }), /position table 'embed\.pos' has 7 rows, sequences have up to 8 tokens/],
    ['heads', withHeader(tb, (h) => { h.layers[0].ops[3].heads = 3; }), /layer 1 op 4 \(attention\): 3 heads do not divide the width 8/],
    ['wqkv', withHeader(tb, (h) => { h.layers[0].ops[3].wqkv = 'b1.attn.wo'; }), /weight 'b1\.attn\.wo' is \[8, 8\], expected \[24, 8\]/],
    ['layernorm', withHeader(tb, (h) => { h.layers[1].ops[1].g = 'b2.fc1.b'; }), /layer 2 op 2 \(layernorm\): gain 'b2\.fc1\.b' is \[16\], expected \[8\]/],
    ['exit keeps T', withHeader(tb, (h) => { h.exits[0].ops.splice(1, 1); }), /exit 1 op 2 \(linear\): produces \[T≤7, 3\], expected \[3\]/],
    ['seqmean rank', withHeader(bytes, (h) => { h.exits[0].ops[0] = { op: 'seqmean' }; }), /needs a \[T, D\] activation, got \[8, 4, 5\]/],
  ];
  for (const [what, b, msg] of cases) expectError('SHAPE_MISMATCH', b, msg, what);
});

test('inferShapes is usable on its own and validates', () => {
  const f = parseSpx(image().bytes);
  const shapes = Object.fromEntries(Object.entries(f.header.tensors).map(([k, v]) => [k, v.shape]));
  shapes['e2.w'] = [5, 7];
  try { inferShapes(f.header, shapes); assert.unreachable(); } catch (e) {
    assert.ok(e instanceof SpxError && e.code === 'SHAPE_MISMATCH' && /exit 2 op 3 \(linear\)/.test(e.message), String(e));
  }
});

test('non-Uint8Array input is an SpxError', () => {
  try { parseSpx('SPX' as unknown as Uint8Array); assert.unreachable(); } catch (e) { assert.instance(e, SpxError); }
});

test('writer: rejects what it cannot lay out', () => {
  const m = imageModel(1);
  const bad = (f: () => unknown, code: SpxErrorCode) => {
    try { f(); assert.unreachable(); } catch (e) { assert.ok(e instanceof SpxError && e.code === code, String(e)); }
  };
  bad(() => writeSpx(m.header, { x: { dtype: 'f32', shape: [3, 2], data: new Float32Array(5) } }), 'BAD_TENSOR');
  bad(() => writeSpx(m.header, { x: { dtype: 'f32', shape: [0], data: new Float32Array(0) } }), 'BAD_TENSOR');
  bad(() => writeSpx({ ...m.header, provenance: { x: NaN } }, {}), 'BAD_HEADER');
  bad(() => writeSpx(m.header, { x: { dtype: 'i8', shape: [2], data: new Int8Array(2), quant: { axis: 0, scales: [1] } } }), 'BAD_TENSOR');
  const cyc: Record<string, unknown> = {}; cyc.self = cyc;
  bad(() => encodeSpx(cyc, new Uint8Array(0)), 'BAD_HEADER');
});

// ---------------------------------------------------------------------------------------------- Python writer

const PYTHON = '/usr/bin/python3';
test('Python writer (models/recipes/spx.py) is byte-identical; Python reader agrees', () => {
  assert.ok(existsSync(PYTHON), `${PYTHON} not found: the TypeScript ↔ Python writer identity cannot be checked (apt-get install python3)`);
  const dir = mkdtempSync(join(tmpdir(), 'spx-'));
  try {
    for (const make of [() => imageModel(21), () => tokenModel(22)]) {
      const m = make();
      const r = rng(77);
      // Headers that stress number and string formatting.
      const odd = [1e-7, 1.5e-7, 0.00001, 1e21, 1e20, 123456.789, 0.1, -0, 2 ** 53, 2 ** 53 + 2, 1e-300, 5e-324, 1.7976931348623157e308, -2.5e-10, 1 / 3, 4.35, 0.000001];
      for (let i = 0; i < 60; i++) odd.push(r.normal() * 10 ** r.int(-12, 25));
      m.header.provenance = {
        numbers: odd, text: 'quote " backslash \\ tab \t newline \n nul \u0000 del \u007f é ü 中文 😀 lone \ud800 end',
        nested: { a: [true, false, null, [], {}], '12': 'integer-like key', b: 1.0 },
      };
      m.header.classes = m.header.classes.map((c, i) => (i === 0 ? 'naïve "quoted"' : c));
      const spec: Record<string, unknown> = {};
      const tensors = { ...m.tensors };
      // An integer-like tensor name, to pin down the layout order across both languages.
      tensors['7'] = { dtype: 'f32', shape: [3], data: new Float32Array([1.5, -2.25, 3e-8]) };
      for (const [name, t] of Object.entries(tensors)) {
        spec[name] = { dtype: t.dtype, shape: t.shape, data: Array.from(t.data), ...(t.dtype === 'i8' ? { quant: t.quant } : {}) };
      }
      // f32 weights Python quantizes itself: must give the same q and scales as quantizeWeightPerChannel.
      const w = randn(r, 6 * 13, 0.3);
      w[5] = 0; w.fill(0, 13, 26); // an all-zero channel
      tensors['pyq'] = quantizeWeightPerChannel([6, 13], w);
      spec['pyq'] = { dtype: 'f32', shape: [6, 13], data: Array.from(w), quantize: true };

      const specPath = join(dir, 'spec.json'), outPath = join(dir, 'out.spx');
      writeFileSync(specPath, JSON.stringify({ header: m.header, tensors: spec }));
      execFileSync(PYTHON, ['models/recipes/spx.py', '--write-json', specPath, outPath], { stdio: 'pipe' });
      const fromPython = new Uint8Array(readFileSync(outPath));
      const fromTs = writeSpx(m.header, tensors);
      if (fromPython.length !== fromTs.length || fromPython.some((b, i) => b !== fromTs[i])) {
        const { text: a } = splitFile(fromPython), { text: b } = splitFile(fromTs);
        let i = 0; while (i < a.length && a[i] === b[i]) i++;
        assert.unreachable(`python and typescript differ (${fromPython.length} vs ${fromTs.length} bytes); header text from ${i}: ${a.slice(i, i + 60)} | ${b.slice(i, i + 60)}`);
      }
      const parsed = parseSpx(fromPython);

      // Python's reader on the TypeScript file.
      const tsPath = join(dir, 'ts.spx'), dumpPath = join(dir, 'dump.json');
      writeFileSync(tsPath, fromTs);
      execFileSync(PYTHON, ['models/recipes/spx.py', '--dump', tsPath, dumpPath], { stdio: 'pipe' });
      const dump = JSON.parse(readFileSync(dumpPath, 'utf8'));
      assert.equal(dump.header, JSON.parse(splitFile(fromTs).text));
      for (const name of Object.keys(tensors)) assert.equal(dump.tensors[name], Array.from(parsed.tensor(name)), name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
