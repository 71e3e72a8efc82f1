// Confidence-matrix CSV, the interchange with the paper's tooling:
//   c1,…,cL,p1,…,pL,label        then one row per sample.
// The parser is strict (every problem is a MatrixError naming its line): a silently misread matrix would make every
// number downstream wrong without anyone noticing.
import {
  MatrixError, checkClass, checkConfidence, checkNumClasses, type ConfidenceMatrix,
} from './matrix.js';

// Plain decimal or exponent notation only: Number() alone would also accept '', '0x1f', 'Infinity'.
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
// Class indices: digits, optionally with a zero fraction ('3.0', as pandas writes integer columns stored as floats).
const INT = /^\d+(?:\.0+)?$/;

export function csvHeader(L: number): string {
  const cols: string[] = [];
  for (let j = 1; j <= L; j++) cols.push(`c${j}`);
  for (let j = 1; j <= L; j++) cols.push(`p${j}`);
  cols.push('label');
  return cols.join(',');
}

/**
 * How the confidences of a CSV are to be read. 'float64' (default): as written. 'float32': the file holds float32
 * values (an engine's confidences) in their shortest decimal form, and each is read back as that exact float32
 * value. The two differ below float32 precision only, but a confidence within that distance of α decides the
 * other way, so a file must be read with the precision it was written in.
 */
export type ConfidencePrecision = 'float32' | 'float64';

export interface ParseOptions {
  /** When known, predictions and labels must be < numClasses. */
  numClasses?: number;
  /** Default 'float64'. */
  confidences?: ConfidencePrecision;
}

export function parseMatrixCsv(text: string, opts: ParseOptions = {}): ConfidenceMatrix {
  checkNumClasses(opts.numClasses);
  const precision = opts.confidences ?? 'float64';
  if (precision !== 'float32' && precision !== 'float64') throw new RangeError(`confidences must be 'float32' or 'float64', got '${precision}'`);
  const f32 = precision === 'float32';
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1);
  let last = lines.length - 1;
  while (last >= 0 && lines[last].trim() === '') last--;
  if (last < 0) throw new MatrixError('EMPTY', 1, 'the file is empty (expected the header c1,…,cL,p1,…,pL,label)');

  const head = lines[0].split(',').map((s) => s.trim());
  const L = (head.length - 1) / 2;
  if (!Number.isInteger(L) || L < 1 || head.join(',') !== csvHeader(L)) {
    const looksLikeData = head.every((s) => FLOAT.test(s));
    throw new MatrixError('BAD_HEADER', 1, looksLikeData
      ? 'missing header: the first line must be c1,…,cL,p1,…,pL,label'
      : `bad header '${lines[0].slice(0, 120)}': expected c1,…,cL,p1,…,pL,label (${head.length} columns${Number.isInteger(L) && L >= 1 ? `, i.e. ${csvHeader(L)}` : ''})`);
  }
  const n = last;
  if (n === 0) throw new MatrixError('NO_ROWS', 2, 'the header is not followed by any sample');

  const width = 2 * L + 1;
  const conf = new Float64Array(n * L), pred = new Int32Array(n * L), label = new Int32Array(n);
  let maxClass = 0;
  for (let i = 0; i < n; i++) {
    const line = i + 2;
    const raw = lines[i + 1];
    if (raw.trim() === '') throw new MatrixError('RAGGED', line, `empty line (expected ${width} fields)`);
    const f = raw.split(',');
    if (f.length !== width) throw new MatrixError('RAGGED', line, `expected ${width} fields (L = ${L}), got ${f.length}`);
    for (let j = 0; j < L; j++) {
      const s = f[j].trim();
      if (!FLOAT.test(s)) throw new MatrixError('BAD_NUMBER', line, `c${j + 1}: '${s.slice(0, 40)}' is not a finite number`);
      const x = Number(s);
      checkConfidence(x, line, `c${j + 1}`);
      conf[i * L + j] = f32 ? Math.fround(x) : x;
    }
    for (let j = 0; j <= L; j++) {
      const col = j < L ? `p${j + 1}` : 'label';
      const s = f[L + j].trim();
      if (!INT.test(s)) throw new MatrixError('BAD_INT', line, `${col}: '${s.slice(0, 40)}' is not a non-negative integer`);
      const x = Number(s);
      checkClass(x, line, col, opts.numClasses);
      if (j < L) pred[i * L + j] = x; else label[i] = x;
      if (x > maxClass) maxClass = x;
    }
  }
  return { L, n, conf, pred, label, numClasses: opts.numClasses ?? maxClass + 1 };
}

/**
 * One CSV row (no newline), checked like the parser checks it, so a writer can never produce a file the parser
 * rejects. `line` is where the row will land (for the error message).
 */
export function csvRow(confidences: ArrayLike<number>, predictions: ArrayLike<number>, label: number, line = 2): string {
  const L = confidences.length;
  if (L < 1 || predictions.length !== L) {
    throw new MatrixError('RAGGED', line, `expected L ≥ 1 confidences and as many predictions, got ${L} and ${predictions.length}`);
  }
  const out: string[] = [];
  for (let j = 0; j < L; j++) { checkConfidence(confidences[j], line, `c${j + 1}`); out.push(String(confidences[j])); }
  for (let j = 0; j < L; j++) { checkClass(predictions[j], line, `p${j + 1}`, undefined); out.push(String(predictions[j])); }
  checkClass(label, line, 'label', undefined);
  out.push(String(label));
  return out.join(',');
}

/** The whole matrix as CSV text (header, one row per sample, trailing newline). Numbers round-trip exactly. */
export function formatMatrixCsv(m: ConfidenceMatrix): string {
  const L = m.L;
  const out = [csvHeader(L)];
  for (let i = 0; i < m.n; i++) {
    out.push(csvRow(m.conf.subarray(i * L, (i + 1) * L), m.pred.subarray(i * L, (i + 1) * L), m.label[i], i + 2));
  }
  return out.join('\n') + '\n';
}

/**
 * The shortest decimal that reads back (through float32) as x, or undefined when x is not a float32 value. An
 * engine's confidences are float32, so this is exact and about half the length of the float64 form.
 */
export function float32Text(x: number): string | undefined {
  if (Math.fround(x) !== x || !Number.isFinite(x)) return undefined;
  for (let p = 1; p <= 9; p++) {
    const s = String(Number(x.toPrecision(p)));
    if (Math.fround(Number(s)) === x) return s;
  }
  return undefined; // unreachable: 9 significant digits always identify a float32
}

/**
 * The matrix as CSV text in the shortest form that reads back exactly: float32 confidences in their shortest
 * float32 form when every one is a float32 value (then the file must be read with `confidences: 'float32'`), else
 * the float64 form. Returns the text and the precision to read it with.
 */
export function formatMatrixCsvCompact(m: ConfidenceMatrix): { text: string; confidences: ConfidencePrecision } {
  const texts: string[] = new Array(m.conf.length);
  for (let i = 0; i < m.conf.length; i++) {
    const t = float32Text(m.conf[i]);
    if (t === undefined) return { text: formatMatrixCsv(m), confidences: 'float64' };
    texts[i] = t;
  }
  const L = m.L;
  const lines = [csvHeader(L)];
  for (let i = 0; i < m.n; i++) {
    const row = texts.slice(i * L, (i + 1) * L);
    for (let j = 0; j < L; j++) row.push(String(m.pred[i * L + j]));
    row.push(String(m.label[i]));
    lines.push(row.join(','));
  }
  return { text: lines.join('\n') + '\n', confidences: 'float32' };
}
