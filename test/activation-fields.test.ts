// The fields of the activation, broadcast, pad/concat ops and of the avgpool2d / attention flags in a .spx header:
// defaults filled in, bad values refused with typed errors, and a file using the activations parsed and written back
// byte for byte.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { normalizeOp } from '../src/format/shapes.js';
import { parseSpx, SpxError, writeSpx, type Op } from '../src/format/index.js';
import { randn, rng } from './util.js';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SpxError) return e.code;
    throw e;
  }
  return 'no error';
}

test('hardsigmoid takes ONNX\'s defaults; clip keeps absent bounds absent', () => {
  assert.equal(normalizeOp({ op: 'hardsigmoid' }, 'op 1'), { op: 'hardsigmoid', alpha: 0.2, beta: 0.5 });
  assert.equal(normalizeOp({ op: 'hardsigmoid', alpha: 1 / 6 }, 'op 1'), { op: 'hardsigmoid', alpha: 1 / 6, beta: 0.5 });
  assert.equal(normalizeOp({ op: 'clip' }, 'op 1'), { op: 'clip' });
  assert.equal(normalizeOp({ op: 'clip', max: 0.2 }, 'op 1'), { op: 'clip', max: 0.2 });
  assert.equal(normalizeOp({ op: 'clip', min: -1, max: -1 }, 'op 1'), { op: 'clip', min: -1, max: -1 });
  for (const op of ['sigmoid', 'tanh', 'gelu_tanh', 'hardswish']) assert.equal(normalizeOp({ op }, 'op 1'), { op });
});

test('pad fills its sides; excludePad and causal stay absent unless given', () => {
  assert.equal(normalizeOp({ op: 'pad', left: 2 }, 'op 1'), { op: 'pad', top: 0, bottom: 0, left: 2, right: 0 });
  assert.equal(normalizeOp({ op: 'avgpool2d', k: 3 }, 'op 1'), { op: 'avgpool2d', k: 3, stride: 3, pad: 0 });
  assert.equal(normalizeOp({ op: 'avgpool2d', k: 3, pad: 1, excludePad: true }, 'op 1'), { op: 'avgpool2d', k: 3, stride: 3, pad: 1, excludePad: true });
  const att = { op: 'attention', heads: 1, wqkv: 'a', bqkv: 'b', wo: 'c', bo: 'd' };
  assert.equal(normalizeOp(att, 'op 1'), { ...att, window: 0 });
  assert.equal(normalizeOp({ ...att, causal: true }, 'op 1'), { ...att, window: 0, causal: true });
});

test('bad fields are BAD_HEADER', () => {
  assert.is(code(() => normalizeOp({ op: 'hardsigmoid', alpha: '0.2' }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'hardsigmoid', beta: null }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'clip', min: 2, max: 1 }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'clip', min: [0] }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'gelu_erf' }, 'op 1')), 'UNKNOWN_OP');
  assert.is(code(() => normalizeOp({ op: 'affine' }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'mul' }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'pad', top: -1 }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'concat', name: 'a', xFirst: 1 }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'maxpool2d', k: 2, excludePad: true }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'avgpool2d', k: 2, excludePad: 'no' }, 'op 1')), 'BAD_HEADER');
  assert.is(code(() => normalizeOp({ op: 'attention', heads: 1, wqkv: 'a', bqkv: 'b', wo: 'c', bo: 'd', causal: 'yes' }, 'op 1')), 'BAD_HEADER');
});

test('a model using every new op parses, keeps its shapes, and writes back to the same bytes', () => {
  const r = rng(3);
  const ops: Op[] = [
    { op: 'conv2d', w: 'c.w', b: 'c.b' }, { op: 'sigmoid' }, { op: 'tanh' }, { op: 'gelu_tanh' }, { op: 'hardsigmoid', alpha: 0.25, beta: 0.4 },
    { op: 'hardswish' }, { op: 'clip', min: 0.1 },
  ];
  const tensors = {
    'c.w': { dtype: 'f32' as const, shape: [3, 2, 3, 3], data: randn(r, 54) },
    'c.b': { dtype: 'f32' as const, shape: [3], data: randn(r, 3) },
    'h.w': { dtype: 'f32' as const, shape: [2, 3], data: randn(r, 6) },
  };
  const header = {
    format: 'splitee-model' as const, name: 'acts', task: 'image-classification' as const, classes: ['a', 'b'],
    input: { kind: 'image' as const, shape: [2, 7, 5] as [number, number, number] },
    preprocess: { kind: 'image', scale: 1, mean: [0], std: [1] },
    layers: [{ name: 'l1', ops }], exits: [{ layer: 1, ops: [{ op: 'gap' }, { op: 'linear', w: 'h.w' }] as Op[] }],
  };
  const bytes = writeSpx(header, tensors);
  const file = parseSpx(bytes);
  assert.equal(file.shapes.layers[0].ops.map((o) => o.output), [[3, 5, 3], [3, 5, 3], [3, 5, 3], [3, 5, 3], [3, 5, 3], [3, 5, 3], [3, 5, 3]]);
  assert.equal(file.header.layers[0].ops[4], { op: 'hardsigmoid', alpha: 0.25, beta: 0.4 });
  assert.equal(file.header.layers[0].ops[6], { op: 'clip', min: 0.1 });
  const again = writeSpx({ ...header }, tensors);
  assert.equal(Array.from(again), Array.from(bytes));
});

test.run();
