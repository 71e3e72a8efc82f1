// The confidence matrix: for each sample, the max-softmax confidence and the predicted class at every exit, and the
// true label. It is all a split policy ever needs to be simulated offline.

/** Bad confidence-matrix data. `line` is the 1-based CSV line (for rows built in memory: the line it would be on). */
export class MatrixError extends Error {
  readonly code: string;
  readonly line: number;
  constructor(code: string, line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'MatrixError';
    this.code = code;
    this.line = line;
  }
}

export interface ConfidenceMatrix {
  /** Number of exits (layers). */
  readonly L: number;
  /** Number of samples. */
  readonly n: number;
  /** conf[i·L + j − 1] = C_j of sample i, in [0, 1]. */
  readonly conf: Float64Array;
  /** pred[i·L + j − 1] = predicted class at exit j of sample i. */
  readonly pred: Int32Array;
  /** label[i] = true class of sample i. */
  readonly label: Int32Array;
  /** Number of classes: given by the caller, else 1 + the largest class index present. */
  readonly numClasses: number;
}

export interface MatrixSample {
  confidences: ArrayLike<number>;
  predictions: ArrayLike<number>;
  label: number;
}

/** Largest class index we store (Int32Array). */
export const MAX_CLASS = 0x7fffffff - 1;

export function checkConfidence(x: number, line: number, col: string): void {
  if (!Number.isFinite(x)) throw new MatrixError('BAD_NUMBER', line, `${col}: '${x}' is not a finite number`);
  if (x < 0 || x > 1) throw new MatrixError('CONF_RANGE', line, `${col}: confidence ${x} is outside [0, 1]`);
}

export function checkClass(x: number, line: number, col: string, numClasses: number | undefined): void {
  if (!Number.isInteger(x) || x < 0) throw new MatrixError('BAD_INT', line, `${col}: '${x}' is not a non-negative integer`);
  const limit = numClasses ?? MAX_CLASS + 1;
  if (x >= limit) {
    throw new MatrixError('CLASS_RANGE', line, `${col}: class ${x} is out of range${numClasses !== undefined ? ` (${numClasses} classes: 0..${numClasses - 1})` : ''}`);
  }
}

export function checkNumClasses(numClasses: number | undefined): void {
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1 || numClasses > MAX_CLASS + 1)) {
    throw new RangeError(`numClasses must be an integer ≥ 1, got ${numClasses}`);
  }
}

/** Builds a checked matrix from per-sample rows (e.g. collected from a real model run). */
export function matrixFromSamples(samples: readonly MatrixSample[], opts: { numClasses?: number } = {}): ConfidenceMatrix {
  checkNumClasses(opts.numClasses);
  if (samples.length === 0) throw new MatrixError('NO_ROWS', 2, 'the matrix has no samples');
  const L = samples[0].confidences.length;
  if (L < 1) throw new MatrixError('BAD_HEADER', 1, 'a sample needs at least one exit');
  const n = samples.length;
  const conf = new Float64Array(n * L), pred = new Int32Array(n * L), label = new Int32Array(n);
  let maxClass = 0;
  for (let i = 0; i < n; i++) {
    const s = samples[i], line = i + 2;
    if (s.confidences.length !== L || s.predictions.length !== L) {
      throw new MatrixError('RAGGED', line, `expected ${L} confidences and ${L} predictions, got ${s.confidences.length} and ${s.predictions.length}`);
    }
    for (let j = 0; j < L; j++) {
      checkConfidence(s.confidences[j], line, `c${j + 1}`);
      checkClass(s.predictions[j], line, `p${j + 1}`, opts.numClasses);
      conf[i * L + j] = s.confidences[j];
      pred[i * L + j] = s.predictions[j];
      if (s.predictions[j] > maxClass) maxClass = s.predictions[j];
    }
    checkClass(s.label, line, 'label', opts.numClasses);
    label[i] = s.label;
    if (s.label > maxClass) maxClass = s.label;
  }
  return { L, n, conf, pred, label, numClasses: opts.numClasses ?? maxClass + 1 };
}
