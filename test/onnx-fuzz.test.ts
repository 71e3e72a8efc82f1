// The ONNX reader on damaged files: random byte flips, truncations, insertions and splices of real exports, random
// bytes, and hand-made protobuf with lying lengths. Every outcome must be a successful import (a flip inside a
// weight changes only numbers) or an OnnxImportError with a code — never another exception or a hang.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { importOnnx, OnnxImportError } from '../src/onnx/index.js';
import { ProtoReader } from '../src/onnx/protobuf.js';
import { packageRoot } from '../src/node.js';
import { rng } from './util.js';

const fixture = (name: string) => new Uint8Array(readFileSync(join(packageRoot, 'test', 'fixtures', 'onnx', `${name}.onnx`)));
const FUZZ_ROUNDS = Number(process.env.ONNX_FUZZ_ROUNDS ?? 60);
const CODES = new Set(['CORRUPT', 'UNSUPPORTED', 'UNSUPPORTED_OP', 'DYNAMIC_SHAPE', 'NOT_MULTI_EXIT', 'BAD_OPTION']);

/** 'ok' or the error code; anything that is not an OnnxImportError fails the test with the mutation that caused it. */
function outcome(bytes: Uint8Array, what: string): string {
  try {
    importOnnx(bytes);
    return 'ok';
  } catch (e) {
    if (!(e instanceof OnnxImportError)) throw new Error(`${what}: ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(CODES.has(e.code), `${what}: code ${e.code}`);
    assert.ok(e.message.length > 0);
    return e.code;
  }
}

test('the unmodified fixtures import', () => {
  for (const name of ['lenet', 'mbv2', 'pre_ln', 'torch_encoder', 'se_silu', 'activations', 'gelu_tanh', 'pad_concat', 'dilated']) assert.is(outcome(fixture(name), name), 'ok');
});

test('random byte flips, truncations, insertions and splices give typed errors or valid imports', () => {
  const r = rng(Number(process.env.ONNX_FUZZ_SEED ?? 1414));
  const counts: Record<string, number> = {};
  for (const name of ['lenet', 'mbv2', 'pre_ln', 'torch_encoder', 'se_silu', 'activations', 'gelu_tanh', 'pad_concat', 'dilated']) {
    const orig = fixture(name);
    for (let i = 0; i < FUZZ_ROUNDS; i++) {
      let b: Uint8Array;
      const kind = i % 4;
      if (kind === 0) {
        b = orig.slice();
        const flips = 1 + r.int(0, 8);
        for (let f = 0; f < flips; f++) b[r.int(0, b.length)] ^= 1 << r.int(0, 8);
      } else if (kind === 1) {
        b = orig.slice(0, r.int(0, orig.length));
      } else if (kind === 2) {
        const at = r.int(0, orig.length);
        const junk = Uint8Array.from({ length: 1 + r.int(0, 16) }, () => r.int(0, 256));
        b = new Uint8Array([...orig.subarray(0, at), ...junk, ...orig.subarray(at)]);
      } else {
        // Bytes flipped in the first kilobyte, where the graph's structure (not weights) lives in torch exports'
        // trailing part, plus in the tail where the graph inputs and outputs are.
        b = orig.slice();
        for (let f = 0; f < 4; f++) b[r.int(Math.max(0, b.length - 2048), b.length)] = r.int(0, 256);
      }
      const o = outcome(b, `${name} mutation ${i} (kind ${kind})`);
      counts[o] = (counts[o] ?? 0) + 1;
    }
  }
  // The mutations must actually exercise the error paths.
  assert.ok((counts.CORRUPT ?? 0) > 20, JSON.stringify(counts));
});

test('random bytes and empty input', () => {
  const r = rng(7);
  assert.is(outcome(new Uint8Array(0), 'empty'), 'CORRUPT');
  for (let i = 0; i < 200; i++) {
    const b = Uint8Array.from({ length: r.int(1, 300) }, () => r.int(0, 256));
    outcome(b, `random ${i}`);
  }
});

// ---- hand-made protobuf: tags, varints and lengths that lie
const varint = (v: number): number[] => {
  const out: number[] = [];
  while (v >= 0x80) { out.push((v % 128) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
};
const field = (f: number, wire: number) => varint(f * 8 + wire);
const lenField = (f: number, payload: number[]) => [...field(f, 2), ...varint(payload.length), ...payload];

test('lying lengths, overlong varints and bad wire types are CORRUPT, never a large allocation', () => {
  const cases: [string, number[]][] = [
    ['graph length past the end', [...field(1, 0), 7, ...field(7, 2), ...varint(2 ** 31)]],
    ['varint of 11 bytes', [...field(1, 0), ...Array(10).fill(0xff), 0x01]],
    ['truncated varint', [...field(1, 0), 0x80]],
    ['wire type 3 (group)', [...field(1, 0), 7, ...field(9, 3)]],
    ['wire type 7', [...field(1, 0), 7, ...field(9, 7)]],
    ['field number 0', [0x02, 0x00]],
    ['ir_version as a string', [...lenField(1, [1, 2])]],
    ['no graph', [...field(1, 0), 7]],
    ['packed floats of 3 bytes', [...field(1, 0), 7, ...lenField(7, lenField(5, [...lenField(4, [0, 0, 128])]))]],
    ['initializer raw_data shorter than dims', [...field(1, 0), 7, ...lenField(8, [...field(2, 0), 13]), ...lenField(7, [
      ...lenField(5, [...field(1, 0), 0xff, 0xff, 0xff, 0x7f, ...field(2, 0), 1, ...lenField(8, [0x77]), ...lenField(9, [0, 0, 0, 0])]),
    ])]],
    ['node reading an undefined value', [...field(1, 0), 7, ...lenField(8, [...field(2, 0), 13]), ...lenField(7, [
      ...lenField(11, lenField(1, [0x78])),
      ...lenField(1, [...lenField(1, [0x79]), ...lenField(2, [0x7a]), ...lenField(4, [0x52, 0x65, 0x6c, 0x75])]),
      ...lenField(12, lenField(1, [0x7a])),
    ])]],
  ];
  for (const [what, bytes] of cases) {
    const o = outcome(new Uint8Array(bytes), what);
    assert.ok(o === 'CORRUPT' || o === 'UNSUPPORTED', `${what}: ${o}`);
  }
});

test('varints decode exactly, including negative int64 and 2^53', () => {
  const enc = (v: bigint): number[] => {
    let u = BigInt.asUintN(64, v);
    const out: number[] = [];
    while (u >= 0x80n) { out.push(Number(u & 0x7fn) | 0x80); u >>= 7n; }
    out.push(Number(u));
    return out;
  };
  for (const v of [0n, 1n, 127n, 128n, 300n, 2n ** 31n - 1n, 2n ** 32n, 2n ** 53n, -1n, -2n, -(2n ** 31n), -(2n ** 53n), 1234567890123n]) {
    const r = new ProtoReader(new Uint8Array(enc(v)));
    assert.is(r.varint(), Number(v), `varint ${v}`);
    assert.ok(r.done);
  }
});

test.run();
