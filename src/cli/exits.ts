// `splitee exits --model <m> --input <file.json>`: every exit's answer for one raw input tensor (already
// preprocessed: the model's input layout flattened, or token ids), e.g. to compare an imported model with the
// framework it came from.
import { readFile } from 'node:fs/promises';
import { helpText, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { ENGINE_OPTIONS, backendOption, openModel, precisionOption, requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name or path to a .spx file (required)' },
  input: { type: 'string', help: 'JSON file (or - for standard input): an array of numbers in the model\'s input layout, or {"input": […]} (required)' },
  ...ENGINE_OPTIONS,
  json: { type: 'boolean', help: 'print {"model","exits":[{"layer","probs","confidence","label"}]}' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee exits --model <m> --input <file.json|-> [--json]\n\n'
  + 'Image models take C·H·W float32 values (channel-major, preprocessed as the model expects); token models take\n'
  + '1..maxLen token ids.';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The numbers of the input file: a JSON array, or an object with an `input` array. */
export function parseInputJson(text: string, what: string): number[] {
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw new UsageError(`${what} is not JSON: ${(e as Error).message}`); }
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && Array.isArray((v as { input?: unknown }).input)) v = (v as { input: unknown }).input;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new UsageError(`${what} must be a JSON array of finite numbers`);
  return v as number[];
}

export const command: Command = {
  summary: 'every exit\'s probabilities, confidence and label for one raw input tensor (JSON)',
  async run(argv) {
    const p = parseArgs(argv, spec, { positionals: [] });
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    const modelName = requireString(p, 'model');
    const inputPath = requireString(p, 'input');
    const backend = backendOption(p);
    const values = parseInputJson(inputPath === '-' ? await readStdin() : await readFile(inputPath, 'utf8'), inputPath === '-' ? 'standard input' : inputPath);
    const model = await openModel(modelName, backend, precisionOption(p));
    try {
      const h = model.header;
      let input: Float32Array | Int32Array;
      if (h.input.kind === 'image') {
        const [c, hh, w] = h.input.shape;
        if (values.length !== c * hh * w) throw new UsageError(`the model takes ${c}·${hh}·${w} = ${c * hh * w} values ([${c}, ${hh}, ${w}] flattened), the input has ${values.length}`);
        input = Float32Array.from(values);
      } else {
        const { maxLen, vocabSize } = h.input;
        if (values.length < 1 || values.length > maxLen) throw new UsageError(`the model takes 1..${maxLen} token ids, the input has ${values.length}`);
        const bad = values.find((v) => !Number.isInteger(v) || v < 0 || v >= vocabSize);
        if (bad !== undefined) throw new UsageError(`token id ${bad} is not an integer in 0..${vocabSize - 1}`);
        input = Int32Array.from(values);
      }
      const exits = await model.exits(input);
      if (p.options.json) {
        console.log(JSON.stringify({
          model: h.name,
          exits: exits.map((e, k) => ({ layer: k + 1, probs: Array.from(e.probs), confidence: e.confidence, label: e.label })),
        }));
        return 0;
      }
      console.log(`${h.name}: ${exits.length} exits`);
      console.log('  exit  label                 confidence  probabilities');
      exits.forEach((e, k) => {
        const probs = Array.from(e.probs, (v) => v.toFixed(4)).join(' ');
        console.log(`  ${String(k + 1).padStart(4)}  ${(h.classes[e.label] ?? String(e.label)).slice(0, 20).padEnd(20)}  ${e.confidence.toFixed(4).padStart(10)}  ${probs.length > 80 ? probs.slice(0, 77) + '...' : probs}`);
      });
      return 0;
    } finally {
      model.dispose();
    }
  },
};
