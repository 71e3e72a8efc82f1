// One call from a raw input to named classes: predict(model, input, { topK }) → [{ label, score, exit }], best first,
// in the convention of transformers.js pipelines. The model answers at its first exit whose confidence reaches
// `alpha` (the early exit a device would take), else at its last exit. Core module: no Node imports.
import type { Model } from './engine/model.js';
import type { ExitResult } from './engine/types.js';
import { createInputEncoder, describeValue, InputError, type RawSample } from './data/prepare.js';
import { decodeImage, invertImage } from './image/index.js';
import { isJpeg } from './image/jpeg.js';
import { isPng } from './image/png.js';

export interface Prediction {
  /** The class name (the model's `classes`). */
  label: string;
  /** Its probability at the exit that answered. */
  score: number;
  /** The exit (1..L) that answered: the first whose confidence reached α, else the last. */
  exit: number;
}

export interface PredictOptions {
  /** How many classes, best first (default: 5 for image models, 1 for text models, as transformers.js; capped at the class count). */
  topK?: number;
  /** Answer at the first exit whose confidence (max probability) is ≥ alpha (default 0.9); 1 or more: always the last exit. */
  alpha?: number;
  /** Answer at exactly this exit (1..L), overriding alpha. */
  exit?: number;
  /** Image models: use the negative of the picture (for a dark item on a light background; Fashion-MNIST is light on dark). */
  invert?: boolean;
}

/** What predict takes: anything createInputEncoder takes, plus PNG or JPEG file bytes for image models. */
export type PredictInput = RawSample | ArrayBuffer;

type Encoder = ReturnType<typeof createInputEncoder>;
const encoders = new WeakMap<Model, Encoder>();

function optionError(msg: string): InputError {
  return new InputError('valid predict options', msg);
}

/** Top-k classes of one input, with the exit that answered. */
export async function predict(model: Model, input: PredictInput, opts: PredictOptions = {}): Promise<Prediction[]> {
  const h = model.header, L = model.numLayers, classes = h.classes;
  const image = h.input.kind === 'image';
  const topK = opts.topK ?? (image ? 5 : 1);
  if (!Number.isInteger(topK) || topK < 1) throw optionError(`topK ${opts.topK} (a positive integer)`);
  const alpha = opts.alpha ?? 0.9;
  if (typeof alpha !== 'number' || Number.isNaN(alpha)) throw optionError(`alpha ${opts.alpha} (a number, usually in (0, 1])`);
  if (opts.exit !== undefined && !(Number.isInteger(opts.exit) && opts.exit >= 1 && opts.exit <= L)) throw optionError(`exit ${opts.exit} (an integer in 1..${L})`);

  let raw: PredictInput = input;
  if (raw instanceof ArrayBuffer) raw = new Uint8Array(raw);
  if (image && raw instanceof Uint8Array && (isPng(raw) || isJpeg(raw))) raw = await decodeImage(raw);
  if (raw === undefined || raw === null) throw new InputError(image ? 'an image' : 'text', describeValue(raw));
  if (opts.invert) {
    if (!image) throw optionError('invert (image models only)');
    if (raw instanceof Float32Array || raw instanceof Float64Array) raw = raw.map((v) => 1 - v);
    else if (raw instanceof Uint8Array || raw instanceof Uint8ClampedArray) raw = raw.map((v) => 255 - v);
    else if (typeof raw === 'object' && 'width' in raw) raw = invertImage(raw);
  }
  let encode = encoders.get(model);
  if (!encode) { encode = createInputEncoder(h); encoders.set(model, encode); }
  const x = encode(raw as RawSample);

  let answered: ExitResult, exit: number;
  if (opts.exit !== undefined) {
    const a = await model.run(x, { to: opts.exit });
    answered = await model.exit(opts.exit, a);
    exit = opts.exit;
  } else {
    const run = await model.runDevice(x, L, { exits: 'every', stopAt: (_k, e) => e.confidence >= alpha, offload: () => false });
    answered = run.exit;
    exit = run.layer;
  }
  const order = Array.from(answered.probs, (p, i) => [p, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return order.slice(0, Math.min(topK, classes.length)).map(([score, i]) => ({ label: classes[i] ?? String(i), score, exit }));
}
