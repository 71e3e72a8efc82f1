// Which samples a report shows: a few misclassified ones and a few answered early on the device, spread over the run
// (not just the first ones), each with its input (an image's raw pixels or a sentence) and what the run did with it.

/** One sample as the report shows it. */
export interface ReportSample {
  /** The sample's id in its stream. */
  index: number;
  /** Position in the run, 1-based. */
  position: number;
  trueLabel: string;
  predicted: string;
  correct: boolean;
  /** Split layer chosen for it. */
  arm: number;
  /** The exit that answered (L when the cloud did). */
  answerLayer: number;
  /** Answered on the device (confident at the split layer). */
  exited: boolean;
  offloaded: boolean;
  confidence: number;
  /** Raw pixels, channel-major [C, H, W] in [0, 1] (C = 1 or 3). */
  image?: { channels: number; height: number; width: number; data: ArrayLike<number> };
  text?: string;
}

/** The fields of a run's per-sample record that the choice needs (src/device/runner.ts SampleRecord has them). */
export interface RecordLike {
  index: number;
  arm: number;
  answerLayer: number;
  exited: boolean;
  offloaded: boolean;
  prediction: number;
  confidence: number;
  label?: number;
  correct?: boolean;
}

export interface PickOptions {
  /** Class names, indexed by label. */
  classes: readonly string[];
  numLayers: number;
  /** [C, H, W] of image inputs; omit for text. */
  imageShape?: readonly number[];
  /** Samples of each kind (default 6). */
  perKind?: number;
}

/** `count` items spread evenly over `items` (first and last included when count ≥ 2). */
function spread<T>(items: T[], count: number): T[] {
  if (items.length <= count) return items;
  if (count <= 1) return items.slice(0, count);
  return Array.from({ length: count }, (_, i) => items[Math.round((i * (items.length - 1)) / (count - 1))]);
}

/**
 * Up to `perKind` misclassified samples and up to `perKind` correct ones answered early on the device (exit below L),
 * in run order. `inputs` are the stream's samples ({ index, input }), matched to records by index.
 */
export function pickReportSamples(
  records: readonly RecordLike[],
  inputs: readonly { index: number; input: ArrayLike<number> | string }[],
  opts: PickOptions,
): ReportSample[] {
  const perKind = opts.perKind ?? 6;
  const byIndex = new Map(inputs.map((s) => [s.index, s.input]));
  const name = (c: number | undefined) => (c === undefined ? '?' : opts.classes[c] ?? String(c));
  const withPos = records.map((r, i) => ({ r, position: i + 1 }));
  const wrong = withPos.filter(({ r }) => r.correct === false);
  const early = withPos.filter(({ r }) => r.correct === true && r.exited && r.answerLayer < opts.numLayers);
  const chosen = [...spread(wrong, perKind), ...spread(early, perKind)];
  return chosen.map(({ r, position }) => {
    const input = byIndex.get(r.index);
    const s: ReportSample = {
      index: r.index, position, trueLabel: name(r.label), predicted: name(r.prediction), correct: r.correct === true,
      arm: r.arm, answerLayer: r.answerLayer, exited: r.exited, offloaded: r.offloaded, confidence: r.confidence,
    };
    if (typeof input === 'string') s.text = input;
    else if (input && opts.imageShape && opts.imageShape.length === 3) {
      const [channels, height, width] = opts.imageShape;
      if (input.length === channels * height * width) s.image = { channels, height, width, data: input };
    }
    return s;
  });
}
