// `splitee matrix`: run a model on a dataset stream and write its confidence matrix (c1..cL,p1..pL,label), the
// input of `splitee simulate` and of the paper's own tooling.
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { STREAM_NAMES, isUserStreamSpec, openStream, type DataStream } from '../data/streams.js';
import type { Model } from '../engine/model.js';
import { confidenceRows } from '../sim/confidence.js';
import { csvHeader, csvRow } from '../sim/csv.js';
import { helpText, limitOption, parseArgs, UsageError, type Command, type OptionSpec, type Parsed } from './args.js';
import { MODEL_OPTIONS, Progress, backendOption, openModel, precisionOption, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  ...MODEL_OPTIONS,
  out: { type: 'string', help: 'CSV file to write (required; parent folders are created)' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee matrix --model <m> --dataset <stream> --out file.csv [--limit N] [--data-dir D] [--backend wasm|webgpu|auto]';

/** A model and a stream that cannot go together (image model on a text stream, different class counts). */
export function checkModelFitsStream(model: Pick<Model, 'header'>, stream: Pick<DataStream, 'kind' | 'name' | 'classes'>): void {
  const h = model.header;
  const wants = h.input.kind === 'image' ? 'image' : 'text';
  if (wants !== stream.kind) {
    throw new UsageError(`model ${h.name} takes ${wants === 'image' ? 'images' : 'text'}, but stream ${stream.name} is ${stream.kind === 'image' ? 'images' : 'text'}`);
  }
  if (h.classes.length !== stream.classes.length) {
    throw new UsageError(`model ${h.name} has ${h.classes.length} classes, stream ${stream.name} has ${stream.classes.length}`);
  }
}

/** Where a command's samples come from: --dataset (one of the known streams), --limit and --data-dir. */
export interface StreamChoice { dataset: string; limit: number | undefined; dataDir: string | undefined }

/** Checks --dataset's value (`dataset`, already required by the caller) and reads --limit and --data-dir. */
export function streamChoice(p: Parsed, dataset: string): StreamChoice {
  if (!(STREAM_NAMES as readonly string[]).includes(dataset) && !isUserStreamSpec(dataset)) {
    throw new UsageError(`unknown --dataset '${dataset}'; valid streams: ${STREAM_NAMES.join(', ')}, or your own data as images:DIR, jsonl:FILE or tsv:FILE`);
  }
  const limit = limitOption(p);
  return { dataset, limit, dataDir: p.options['data-dir'] as string | undefined };
}

/** Opens the chosen stream for a loaded model, checks that the two fit, and makes the model's input encoder. */
export async function openModelStream(model: Model, s: StreamChoice) {
  const stream = await openStream(s.dataset, { dataDir: s.dataDir, limit: s.limit, model: { input: model.header.input, classes: model.classes } });
  checkModelFitsStream(model, stream);
  // Loaded here, not at the top: the encoder pulls in the tokenizer, which `--help` and usage errors never need.
  const { createInputEncoder } = await import('../data/prepare.js');
  return { stream, encode: createInputEncoder(model.header) };
}

export const command: Command = {
  summary: 'run a model on a dataset stream and write its confidence matrix CSV (every exit of every sample)',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    // Every argument is checked before anything slow (loading the model, decoding 10,000 images) starts.
    const modelName = requireString(p, 'model');
    const dataset = requireString(p, 'dataset');
    const out = requireString(p, 'out');
    const source = streamChoice(p, dataset);
    const backend = backendOption(p);

    const model = await openModel(modelName, backend, precisionOption(p));
    try {
      const { stream, encode } = await openModelStream(model, source);
      const L = model.numLayers;
      const path = resolve(out);
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(path, 'w');
      const progress = new Progress(stream.size, `matrix ${model.name} on ${dataset}`);
      const started = Date.now();
      const correct = new Float64Array(L);
      let n = 0;
      try {
        writeSync(fd, csvHeader(L) + '\n');
        const samples = stream.samples as { label: number; input: Float32Array | string }[];
        for await (const row of confidenceRows(model, samples, encode, { numClasses: model.classes.length })) {
          writeSync(fd, csvRow(row.confidences, row.predictions, row.label, row.line) + '\n');
          for (let j = 0; j < L; j++) if (row.predictions[j] === row.label) correct[j]++;
          n++;
          const secs = (Date.now() - started) / 1000;
          progress.update(n, `${(n / Math.max(secs, 1e-3)).toFixed(0)} samples/s`);
        }
      } catch (err) {
        // A half-written matrix would pass for a complete one of fewer samples: remove it.
        progress.done();
        closeSync(fd);
        rmSync(path, { force: true });
        throw err;
      }
      progress.done();
      closeSync(fd);
      const secs = (Date.now() - started) / 1000;
      const acc = (j: number) => `${(100 * correct[j] / Math.max(n, 1)).toFixed(2)} %`;
      console.log(`${out}: ${n} samples × ${L} exits (${model.name} on ${dataset}, ${model.backendName}, ${secs.toFixed(1)} s); `
        + `accuracy exit 1 ${acc(0)}, exit ${L} ${acc(L - 1)}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};
