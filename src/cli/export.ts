// `splitee export --model m --tails --out DIR [--triton DIR]`: the cloud half of every split point as a standard
// ONNX model (src/cloud/onnx-export.ts) whose input is what a device sends, for ONNX Runtime, Triton or KServe.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TAIL_INPUTS, exportTails, tritonConfig, type TailInput } from '../cloud/onnx-export.js';
import { resolveModelPath } from '../node.js';
import { helpText, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { requireString } from './common.js';

const spec: Record<string, OptionSpec> = {
  model: { type: 'string', help: 'zoo model name (fmnist-cnn, sst2-transformer) or path to a .spx file (required)' },
  tails: { type: 'boolean', help: 'export the cloud half of every split point k = 1..L−1 (layers k+1..L and the last exit)' },
  out: { type: 'string', help: 'write <model>.tail-<k>[-<input>].onnx files into this folder' },
  triton: { type: 'string', help: 'write a Triton model repository into this folder: <name>/config.pbtxt and <name>/1/model.onnx' },
  inputs: { type: 'string', default: TAIL_INPUTS.join(','), help: 'activation input types, comma-separated: uint8 (named <model>.tail-<k>), int8, f32, fp16' },
  json: { type: 'boolean', help: 'print what was written as JSON' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee export --model <m> --tails (--out DIR | --triton DIR) [--inputs uint8,int8,f32,fp16] [--json]\n\n'
  + 'For every split point k, an ONNX model (opset 17) of layers k+1..L and the last exit. Its input is the activation\n'
  + 'after layer k as the device sends it: "activation" UINT8 (or INT8) with "scale" FP32 [1] and "zero_point" [1],\n'
  + 'dequantized by DequantizeLinear, or "activation" FP32 / FP16. Outputs: "probs" FP32 [C], "label" INT64 [1],\n'
  + '"confidence" FP32 [1]. The model file\'s SHA-256 is in each model\'s metadata (digest).';

export const command: Command = {
  summary: 'export the cloud half of every split point as ONNX (and a Triton model repository)',
  async run(argv) {
    const p = parseArgs(argv, spec);
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const modelName = requireString(p, 'model');
    if (!p.options.tails) throw new UsageError('say what to export: --tails');
    const out = typeof p.options.out === 'string' ? p.options.out : undefined;
    const triton = typeof p.options.triton === 'string' ? p.options.triton : undefined;
    if (!out && !triton) throw new UsageError('give --out DIR and/or --triton DIR');
    const inputs = String(p.options.inputs).split(',').map((s) => s.trim()).filter(Boolean);
    for (const i of inputs) if (!TAIL_INPUTS.includes(i as TailInput)) throw new UsageError(`--inputs: '${i}' is not one of ${TAIL_INPUTS.join(', ')}`);
    if (!inputs.length) throw new UsageError('--inputs must name at least one input type');

    const bytes = new Uint8Array(readFileSync(resolveModelPath(modelName)));
    const digest = createHash('sha256').update(bytes).digest('hex');
    const tails = exportTails(bytes, inputs as TailInput[], digest);
    const written: { name: string; k: number; input: string; bytes: number; files: string[] }[] = [];
    for (const t of tails) {
      const files: string[] = [];
      if (out) {
        mkdirSync(resolve(out), { recursive: true });
        const f = join(resolve(out), `${t.name}.onnx`);
        writeFileSync(f, t.onnx);
        files.push(f);
      }
      if (triton) {
        const dir = join(resolve(triton), t.name);
        mkdirSync(join(dir, '1'), { recursive: true });
        writeFileSync(join(dir, 'config.pbtxt'), tritonConfig(t));
        writeFileSync(join(dir, '1', 'model.onnx'), t.onnx);
        files.push(join(dir, 'config.pbtxt'), join(dir, '1', 'model.onnx'));
      }
      written.push({ name: t.name, k: t.k, input: t.input, bytes: t.onnx.length, files });
    }
    if (p.options.json) console.log(JSON.stringify({ model: modelName, digest, tails: written }));
    else {
      for (const w of written) console.log(`${w.name.padEnd(36)} k=${w.k} ${w.input.padEnd(5)} ${w.bytes.toLocaleString('en-US').padStart(11)} bytes  ${w.files.join(' ')}`);
      console.log(`${written.length} tails of ${modelName} (sha256 ${digest.slice(0, 16)}…)`);
    }
    return 0;
  },
};
