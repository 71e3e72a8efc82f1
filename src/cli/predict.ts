// `splitee predict --model m <image.png|image.jpg|text>`: the top classes of one input and the exit that answered.
import { readFile } from 'node:fs/promises';
import { decodeImage, type RawImage } from '../image/index.js';
import { predict } from '../predict.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { ENGINE_OPTIONS, backendOption, openModel, precisionOption, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name (fmnist-cnn, sst2-transformer) or path to a .spx file (required)' },
  'top-k': { type: 'string', help: 'how many classes, best first (default 5 for image models, 1 for text models)' },
  alpha: { type: 'string', default: '0.9', help: 'answer at the first exit whose confidence is ≥ α (1: always the last exit)' },
  exit: { type: 'string', help: 'answer at exactly this exit (1..L) instead' },
  invert: { type: 'boolean', help: 'image models: use the negative (a dark item on a light background; Fashion-MNIST is light on dark)' },
  ...ENGINE_OPTIONS,
  json: { type: 'boolean', help: 'print {"model","input","exit","numExits","predictions":[{"label","score"}]}' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee predict --model <m> <image.png|image.jpg|"some text"|-> [--top-k K] [--alpha A | --exit k] [--invert] [--json]\n\n'
  + 'Image models take a PNG or JPEG file of any size (converted to the model\'s channels and resized, as its preprocess\n'
  + 'says; JPEG needs the optional package jpeg-js). Text models take the text itself, quoted as one argument;\n'
  + '`-` reads the input from standard input.';

async function readStdin(): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

export const command: Command = {
  summary: 'classify one image file or one text: top classes with their scores and the exit that answered',
  async run(argv) {
    const p = parseArgs(argv, spec, { positionals: ['input'] });
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    const modelName = requireString(p, 'model');
    const arg = p.positionals[0];
    const topK = numberOption(p, 'top-k', { min: 1, integer: true });
    const alpha = numberOption(p, 'alpha', { min: 0 })!;
    const exit = numberOption(p, 'exit', { min: 1, integer: true });
    const backend = backendOption(p);
    const model = await openModel(modelName, backend, precisionOption(p));
    try {
      if (arg === undefined) {
        throw new UsageError(model.header.input.kind === 'image' ? 'which image? give a PNG or JPEG file' : 'which text? give it as one quoted argument');
      }
      if (exit !== undefined && exit > model.numLayers) throw new UsageError(`--exit must be ≤ ${model.numLayers} (the model's exits), got ${exit}`);
      let input: RawImage | string;
      if (model.header.input.kind === 'image') {
        input = await decodeImage(arg === '-' ? await readStdin() : new Uint8Array(await readFile(arg)));
      } else {
        input = arg === '-' ? new TextDecoder().decode(await readStdin()) : arg;
      }
      const preds = await predict(model, input, { topK, alpha, exit, invert: Boolean(p.options.invert) });
      const answered = preds[0].exit;
      if (p.options.json) {
        console.log(JSON.stringify({ model: model.name, input: arg, exit: answered, numExits: model.numLayers,
          predictions: preds.map(({ label, score }) => ({ label, score })) }));
        return 0;
      }
      const why = exit !== undefined ? 'as asked' : preds[0].score >= alpha ? `confidence ${preds[0].score.toFixed(3)} ≥ α ${alpha}` : `no exit reached α ${alpha}`;
      console.log(`${model.name}: exit ${answered} of ${model.numLayers} answered (${why})`);
      const width = Math.max(...preds.map((q) => q.label.length));
      for (const q of preds) console.log(`  ${q.label.padEnd(width)}  ${q.score.toFixed(4)}`);
      return 0;
    } finally {
      model.dispose();
    }
  },
};
