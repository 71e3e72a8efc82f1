// `splitee eval`: per-exit accuracy and mean confidence of a model on a dataset stream.
import { createInputEncoder } from '../data/prepare.js';
import { openStream, type DataStream } from '../data/streams.js';
import type { Model } from '../engine/model.js';
import { helpText, limitOption, parseArgs, type Command, type OptionSpec } from './args.js';
import { MODEL_OPTIONS, Progress, backendOption, openModel, precisionOption, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  ...MODEL_OPTIONS,
  json: { type: 'boolean', help: 'print {"model","dataset","n","exits":[{"layer","accuracy","meanConfidence"}]}' },
  help: { type: 'boolean', help: 'show this help' },
};

export interface EvalResult {
  model: string;
  dataset: string;
  n: number;
  exits: { layer: number; accuracy: number; meanConfidence: number }[];
}

/** Per-exit accuracy and mean confidence of `model` over every sample of `stream` (one pass over the layers each). */
export async function evaluateStream(model: Model, stream: DataStream, onProgress?: (done: number, lastExitCorrect: number) => void): Promise<EvalResult> {
  const encode = createInputEncoder(model.header);
  const L = model.numLayers;
  const correct = new Array<number>(L).fill(0);
  const confSum = new Array<number>(L).fill(0);
  let n = 0;
  for (const s of stream.samples) {
    const exits = await model.exits(encode(s.input));
    exits.forEach((e, k) => { if (e.label === s.label) correct[k]++; confSum[k] += e.confidence; });
    n++;
    onProgress?.(n, correct[L - 1]); // (not `?.(++n)`: an absent callback would skip the increment)
  }
  return {
    model: model.name, dataset: stream.name, n,
    exits: correct.map((c, k) => ({ layer: k + 1, accuracy: n ? c / n : 0, meanConfidence: n ? confSum[k] / n : 0 })),
  };
}

export const command: Command = {
  summary: 'per-exit accuracy and mean confidence of a model on a dataset stream',
  async run(argv) {
    const p = parseArgs(argv, spec, { positionals: [] });
    if (p.options.help) { console.log(helpText('usage: splitee eval --model <m> --dataset <stream> [--limit N] [--json]', spec)); return 0; }
    const modelName = requireString(p, 'model');
    const dataset = requireString(p, 'dataset');
    const limit = limitOption(p);
    const backend = backendOption(p);
    const model = await openModel(modelName, backend, precisionOption(p));
    const stream = await openStream(dataset, { dataDir: p.options['data-dir'] as string | undefined, limit, model: { input: model.header.input, classes: model.classes } });
    const progress = new Progress(stream.size, `eval ${model.name} on ${dataset}`);
    const result = await evaluateStream(model, stream, (done, c) => progress.update(done, `last-exit acc ${(c / done * 100).toFixed(2)}%`));
    progress.done();
    if (p.options.json) { console.log(JSON.stringify(result)); return 0; }
    console.log(`${model.name} on ${dataset} (${result.n} samples, ${model.backendName})`);
    console.log('  exit  accuracy  mean confidence');
    for (const e of result.exits) console.log(`  ${String(e.layer).padStart(4)}  ${(e.accuracy * 100).toFixed(2).padStart(7)}%  ${e.meanConfidence.toFixed(4).padStart(15)}`);
    return 0;
  },
};
