// A confidence matrix from a real model run: every exit of every sample, in one pass over the layers per sample.
// Core module (no Node imports): the model and the encoder are passed in, so a browser page can build a matrix too.
import type { ExitResult, ModelInput } from '../engine/types.js';
import {
  MatrixError, checkClass, checkConfidence, checkNumClasses, matrixFromSamples, type ConfidenceMatrix, type MatrixSample,
} from './matrix.js';

/** What a matrix needs of a model: its depth and all of its exits for one input (engine `Model` fits). */
export interface MultiExitModel {
  readonly numLayers: number;
  exits(input: ModelInput): Promise<ExitResult[]>;
}

/** One labelled sample of a stream, before the model's own preprocessing (pixels in [0, 1], or a sentence). */
export interface LabelledSample<R> {
  label: number;
  input: R;
}

/** One matrix row: C_1..C_L, the predicted class at each exit, the label; `line` is where it lands in the CSV. */
export interface ConfidenceRow extends MatrixSample {
  /** 0-based position in the stream. */
  i: number;
  /** 1-based CSV line (the header is line 1). */
  line: number;
  confidences: Float64Array;
  predictions: Int32Array;
  label: number;
}

export interface ConfidenceOptions {
  /** Only the first `limit` samples. */
  limit?: number;
  /** Predictions and labels must be < numClasses (the model's class count). */
  numClasses?: number;
}

/**
 * Runs the model on each sample in order and yields its row. Every value is checked as the CSV parser would check
 * it, so a model that produced NaN, or a label out of range, fails here naming the sample's line, not later.
 */
export async function* confidenceRows<R>(
  model: MultiExitModel,
  samples: Iterable<LabelledSample<R>> | AsyncIterable<LabelledSample<R>>,
  encode: (raw: R) => ModelInput,
  opts: ConfidenceOptions = {},
): AsyncGenerator<ConfidenceRow> {
  checkNumClasses(opts.numClasses);
  const limit = opts.limit ?? Infinity;
  if (!(limit > 0) || (limit !== Infinity && !Number.isInteger(limit))) throw new RangeError(`limit must be a positive integer, got ${opts.limit}`);
  const L = model.numLayers;
  let i = 0;
  for await (const s of samples) {
    if (i >= limit) break;
    const line = i + 2;
    const exits = await model.exits(encode(s.input));
    if (exits.length !== L) throw new MatrixError('RAGGED', line, `the model returned ${exits.length} exits, expected ${L}`);
    const confidences = new Float64Array(L), predictions = new Int32Array(L);
    for (let j = 0; j < L; j++) {
      const e = exits[j];
      checkConfidence(e.confidence, line, `c${j + 1}`);
      checkClass(e.label, line, `p${j + 1}`, opts.numClasses);
      confidences[j] = e.confidence;
      predictions[j] = e.label;
    }
    checkClass(s.label, line, 'label', opts.numClasses);
    yield { i, line, confidences, predictions, label: s.label };
    i++;
  }
}

export interface BuildOptions extends ConfidenceOptions {
  /** Called after each sample: samples done so far, and the row (e.g. to stream it to a file). */
  onRow?: (row: ConfidenceRow) => void;
  /** Called after each sample with (done, total); total is the sample count when known (arrays), else undefined. */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** The whole matrix in memory (what the simulator takes). */
export async function buildMatrix<R>(
  model: MultiExitModel,
  samples: Iterable<LabelledSample<R>> | AsyncIterable<LabelledSample<R>>,
  encode: (raw: R) => ModelInput,
  opts: BuildOptions = {},
): Promise<ConfidenceMatrix> {
  const known = Array.isArray(samples) ? samples.length : undefined;
  const total = known === undefined ? undefined : Math.min(known, opts.limit ?? Infinity);
  const rows: ConfidenceRow[] = [];
  for await (const row of confidenceRows(model, samples, encode, opts)) {
    rows.push(row);
    opts.onRow?.(row);
    opts.onProgress?.(rows.length, total);
  }
  return matrixFromSamples(rows, { numClasses: opts.numClasses });
}

/** Accuracy of each exit over the matrix (index k − 1 ↔ exit k). */
export function exitAccuracies(m: ConfidenceMatrix): Float64Array {
  const acc = new Float64Array(m.L);
  for (let i = 0; i < m.n; i++) {
    for (let j = 0; j < m.L; j++) if (m.pred[i * m.L + j] === m.label[i]) acc[j]++;
  }
  for (let j = 0; j < m.L; j++) acc[j] /= m.n;
  return acc;
}
