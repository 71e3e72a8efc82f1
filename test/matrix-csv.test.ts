// Confidence-matrix CSV: exact round trips, and every malformed input → MatrixError with its code and line number.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMatrixCsv, formatMatrixCsv, csvHeader, csvRow, matrixFromSamples, MatrixError } from '../src/sim/index.js';
import { rng } from './util.js';

const HEAD = 'c1,c2,c3,p1,p2,p3,label';
const ROW = '0.5,0.75,0.875,3,1,1,1';

function expectError(text: string, code: string, line: number, opts?: { numClasses?: number }): MatrixError {
  try {
    parseMatrixCsv(text, opts);
  } catch (e) {
    assert.instance(e, MatrixError, `${JSON.stringify(text.slice(0, 60))}: ${e}`);
    const me = e as MatrixError;
    assert.is(me.code, code, `${JSON.stringify(text.slice(0, 60))}: ${me.message}`);
    assert.is(me.line, line, `${JSON.stringify(text.slice(0, 60))}: ${me.message}`);
    assert.ok(me.message.startsWith(`line ${line}: `), me.message);
    return me;
  }
  assert.unreachable(`accepted ${JSON.stringify(text)}`);
  throw new Error("unreachable");
}

test('parses a small file exactly', () => {
  const m = parseMatrixCsv(`${HEAD}\n${ROW}\n0.25,1,0.0625,0,2,2,2\n`);
  assert.is(m.L, 3); assert.is(m.n, 2); assert.is(m.numClasses, 4);
  assert.equal(Array.from(m.conf), [0.5, 0.75, 0.875, 0.25, 1, 0.0625]);
  assert.equal(Array.from(m.pred), [3, 1, 1, 0, 2, 2]);
  assert.equal(Array.from(m.label), [1, 2]);
});

test('tolerates CRLF, a BOM, trailing blank lines, spaces around fields, 3.0-style class indices, exponents', () => {
  const m = parseMatrixCsv(`\ufeff${HEAD}\r\n 0.5 , 7.5e-1,1e0, 3.0 ,1,1,1\r\n\r\n\n  \n`, { numClasses: 4 });
  assert.is(m.n, 1);
  assert.equal(Array.from(m.conf), [0.5, 0.75, 1]);
  assert.equal(Array.from(m.pred), [3, 1, 1]);
  assert.is(m.numClasses, 4);
});

test('L = 1 and wide matrices', () => {
  assert.is(parseMatrixCsv('c1,p1,label\n0.3,0,1\n').L, 1);
  const L = 12;
  const m = parseMatrixCsv(`${csvHeader(L)}\n${Array(L).fill('0.5').join(',')},${Array(L).fill('4').join(',')},9\n`);
  assert.is(m.L, 12); assert.is(m.numClasses, 10);
});

test('round trip: format then parse gives back the same numbers, bit for bit', () => {
  const r = rng(5);
  for (const [L, n] of [[1, 1], [3, 7], [12, 33], [5, 100]]) {
    const samples = Array.from({ length: n }, () => ({
      confidences: Array.from({ length: L }, () => (r.next() < 0.1 ? Math.round(r.next()) : Math.fround(r.next()))),
      predictions: Array.from({ length: L }, () => r.int(0, 1000)),
      label: r.int(0, 1000),
    }));
    const m = matrixFromSamples(samples);
    const text = formatMatrixCsv(m);
    assert.ok(text.startsWith(csvHeader(L) + '\n') && text.endsWith('\n'));
    const back = parseMatrixCsv(text);
    assert.is(back.L, L); assert.is(back.n, n);
    for (let i = 0; i < n * L; i++) assert.ok(Object.is(back.conf[i], m.conf[i]), `conf ${i}`);
    assert.equal(Array.from(back.pred), Array.from(m.pred));
    assert.equal(Array.from(back.label), Array.from(m.label));
  }
});

test('empty input and headers', () => {
  expectError('', 'EMPTY', 1);
  expectError('\n\r\n  \n', 'EMPTY', 1);
  expectError('c1,c2,p1,p2,lab\n0.5,0.5,1,1,1\n', 'BAD_HEADER', 1);
  expectError('c1,c2,p1,p2\n', 'BAD_HEADER', 1); // even column count
  expectError('c1,p1,c2,p2,label\n', 'BAD_HEADER', 1); // wrong order
  expectError('label\n', 'BAD_HEADER', 1);
  const me = expectError(`${ROW}\n${ROW}\n`, 'BAD_HEADER', 1); // no header at all
  assert.match(me.message, /missing header/);
  expectError(`${HEAD}\n`, 'NO_ROWS', 2);
  expectError(`${HEAD}\n\n\n`, 'NO_ROWS', 2);
});

test('ragged rows and blank lines in the middle', () => {
  expectError(`${HEAD}\n${ROW}\n${ROW}\n0.5,0.75,3,1,1,1\n`, 'RAGGED', 4);
  expectError(`${HEAD}\n${ROW},0\n`, 'RAGGED', 2);
  expectError(`${HEAD}\n${ROW}\n\n${ROW}\n`, 'RAGGED', 3);
  expectError(`${HEAD}\r\n${ROW}\r\n${ROW};${ROW}\r\n`, 'RAGGED', 3);
});

test('non-numeric, NaN and out-of-range confidences', () => {
  for (const bad of ['NaN', 'nan', 'abc', '', ' ', 'Infinity', '-Infinity', '0x1', '1e', '.', '0.5.5', '1,5']) {
    const row = `${bad},0.75,0.875,3,1,1,1`;
    // '1,5' splits into an extra field: a ragged row, not a number
    expectError(`${HEAD}\n${ROW}\n${ROW}\n${row}\n`, bad === '1,5' ? 'RAGGED' : 'BAD_NUMBER', 4);
  }
  expectError(`${HEAD}\n0.5,1.5,0.875,3,1,1,1\n`, 'CONF_RANGE', 2);
  expectError(`${HEAD}\n${ROW}\n0.5,0.5,-0.01,3,1,1,1\n`, 'CONF_RANGE', 3);
  expectError(`${HEAD}\n${ROW}\n0.5,0.5,1e3,3,1,1,1\n`, 'CONF_RANGE', 3);
});

test('predictions and labels must be non-negative integers in range', () => {
  for (const bad of ['2.5', '-1', 'x', '', 'NaN', '1e2', '+1']) {
    expectError(`${HEAD}\n${ROW}\n0.5,0.75,0.875,${bad},1,1,1\n`, 'BAD_INT', 3);
    expectError(`${HEAD}\n0.5,0.75,0.875,3,1,1,${bad}\n`, 'BAD_INT', 2);
  }
  expectError(`${HEAD}\n${ROW}\n${ROW}\n0.5,0.75,0.875,3,1,1,4\n`, 'CLASS_RANGE', 4, { numClasses: 4 });
  expectError(`${HEAD}\n0.5,0.75,0.875,3,10,1,1\n`, 'CLASS_RANGE', 2, { numClasses: 10 });
  expectError(`${HEAD}\n0.5,0.75,0.875,3,1,1,99999999999\n`, 'CLASS_RANGE', 2);
  assert.is(parseMatrixCsv(`${HEAD}\n0.5,0.75,0.875,3,1,1,3\n`, { numClasses: 4 }).numClasses, 4);
});

test('the writer refuses what the parser would refuse', () => {
  const cases: [() => unknown, string, number][] = [
    [() => csvRow([0.5, NaN], [1, 1], 0, 7), 'BAD_NUMBER', 7],
    [() => csvRow([0.5, 1.25], [1, 1], 0), 'CONF_RANGE', 2],
    [() => csvRow([0.5, 0.5], [1, -1], 0), 'BAD_INT', 2],
    [() => csvRow([0.5, 0.5], [1, 1.5], 0), 'BAD_INT', 2],
    [() => csvRow([0.5, 0.5], [1], 0), 'RAGGED', 2],
    [() => matrixFromSamples([{ confidences: [0.5], predictions: [0], label: 0 }, { confidences: [0.5, 0.5], predictions: [0, 0], label: 0 }]), 'RAGGED', 3],
    [() => matrixFromSamples([]), 'NO_ROWS', 2],
    [() => matrixFromSamples([{ confidences: [0.5], predictions: [0], label: 5 }], { numClasses: 5 }), 'CLASS_RANGE', 2],
  ];
  for (const [f, code, line] of cases) {
    try { f(); assert.unreachable(`expected ${code}`); } catch (e) {
      assert.instance(e, MatrixError); assert.is((e as MatrixError).code, code); assert.is((e as MatrixError).line, line);
    }
  }
  assert.is(csvRow([0.5, 1], [3, 0], 2), '0.5,1,3,0,2');
});

test.run();
