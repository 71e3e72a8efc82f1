// `splitee import <model.onnx> --out <model.spx>`: a multi-exit ONNX model (outputs = exit logits, shallowest first)
// to a .spx file, optionally checked exit by exit against ONNX Runtime on random inputs.
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { loadModelBytes } from '../engine/model.js';
import { parseSpx } from '../format/reader.js';
import type { Preprocess, SpxHeader } from '../format/types.js';
import { importOnnxDetailed, type ImportOptions, type ImportReport } from '../onnx/index.js';
import { helpText, numberOption, parseArgs, UsageError, type Command, type OptionSpec } from './args.js';
import { requireString } from './common.js';
import { mulberry32 } from '../util/random.js';

const spec: Record<string, OptionSpec> = {
  out: { type: 'string', help: 'the .spx file to write (required)' },
  name: { type: 'string', help: 'model name in the file (default: the ONNX graph\'s name, else "imported")' },
  classes: { type: 'string', help: 'class labels, comma-separated, or @file with one label per line (default 0, 1, …)' },
  quantize: { type: 'string', help: 'int8: weight matrices as per-channel int8 (about 4x smaller)' },
  'input-kind': { type: 'string', help: 'image | tokens (default: float input → image, integer input → tokens)' },
  'max-len': { type: 'string', help: 'token models with a dynamic length: the longest sequence (default: the position table\'s rows)' },
  preprocess: { type: 'string', help: 'the preprocess to record: a JSON file, or a .spx file to copy it (and its tokenizer) from' },
  check: { type: 'boolean', help: 'run every exit on random inputs in ONNX Runtime (onnxruntime-node) and print max |Δprob|' },
  samples: { type: 'string', default: '8', help: 'random inputs for --check' },
  tolerance: { type: 'string', default: '1e-4', help: '--check fails (exit 1) when some |Δprob| is larger' },
  json: { type: 'boolean', help: 'print a JSON summary' },
  help: { type: 'boolean', help: 'show this help' },
};

const USAGE = 'usage: splitee import <model.onnx> --out <model.spx> [--name n] [--classes a,b,…] [--quantize int8]\n'
  + '                      [--input-kind image|tokens] [--max-len N] [--preprocess file] [--check]\n\n'
  + 'The ONNX graph\'s outputs are the exits\' logits (or probabilities), shallowest first: what torch.onnx.export\n'
  + 'writes for a module returning a tuple of exit logits. See docs/IMPORT.md.';

export interface CheckResult {
  /** Per exit, the largest |probability difference| over the samples. */
  perExit: number[];
  worst: number;
  samples: number;
}

function softmax(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/**
 * Every exit of the imported model against ONNX Runtime running the ONNX file itself, on `samples` random inputs
 * (normal pixels for images; random token ids at the longest and at random shorter lengths for token models).
 */
export async function checkAgainstOnnxRuntime(onnx: Uint8Array, report: ImportReport, samples: number, seed = 1): Promise<CheckResult> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch (e) {
    throw new Error(`--check needs ONNX Runtime for Node: npm install onnxruntime-node (${(e as Error).message})`);
  }
  const h = report.header;
  const model = await loadModelBytes(report.bytes);
  const session = await ort.InferenceSession.create(onnx);
  const rand = mulberry32(seed); // seeded: --check is reproducible
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const perExit = new Array<number>(h.exits.length).fill(0);
  try {
    for (let s = 0; s < samples; s++) {
      let input: Float32Array | Int32Array;
      let feed: InstanceType<typeof ort.Tensor>;
      if (h.input.kind === 'image') {
        const [c, hh, w] = h.input.shape;
        input = Float32Array.from({ length: c * hh * w }, normal);
        feed = new ort.Tensor('float32', input, [1, c, hh, w]);
      } else {
        const T = s === 0 ? h.input.maxLen : 1 + Math.floor(rand() * h.input.maxLen);
        const V = h.input.vocabSize;
        input = Int32Array.from({ length: T }, () => Math.floor(rand() * V));
        const type = session.inputMetadata?.[0] && 'type' in session.inputMetadata[0] && session.inputMetadata[0].type === 'int32' ? 'int32' : 'int64';
        feed = type === 'int32' ? new ort.Tensor('int32', input, [1, T]) : new ort.Tensor('int64', BigInt64Array.from(input, (v) => BigInt(v)), [1, T]);
      }
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = { [session.inputNames[0]]: feed };
      const mask = h.provenance?.maskInput as { name: string; type: string; pinnedTo: number } | undefined;
      if (mask) {
        // The attention mask as the import pinned it: every token is real.
        const T = input.length, v = mask.pinnedTo;
        feeds[mask.name] = mask.type === 'bool' ? new ort.Tensor('bool', new Uint8Array(T).fill(v), [1, T])
          : mask.type === 'int64' ? new ort.Tensor('int64', new BigInt64Array(T).fill(BigInt(v)), [1, T])
          : mask.type === 'int32' ? new ort.Tensor('int32', new Int32Array(T).fill(v), [1, T])
          : new ort.Tensor('float32', new Float32Array(T).fill(v), [1, T]);
      }
      const res = await session.run(feeds);
      const got = await model.exits(input);
      session.outputNames.forEach((o, k) => {
        const z = Array.from(res[o].data as Float32Array);
        const want = report.outputs[k] === 'probabilities' ? z : softmax(z);
        for (let i = 0; i < want.length; i++) perExit[k] = Math.max(perExit[k], Math.abs(got[k].probs[i] - want[i]));
      });
    }
  } finally {
    model.dispose();
    await session.release();
  }
  return { perExit, worst: Math.max(...perExit), samples };
}

async function readClasses(v: string): Promise<string[]> {
  const list = v.startsWith('@') ? (await readFile(v.slice(1), 'utf8')).split(/\r?\n/).map((s) => s.trim()).filter(Boolean) : v.split(',').map((s) => s.trim());
  if (list.length === 0 || list.some((c) => c === '')) throw new UsageError('--classes needs non-empty labels');
  return list;
}

async function readPreprocess(path: string): Promise<Preprocess> {
  const bytes = new Uint8Array(await readFile(path));
  if (path.endsWith('.spx')) return parseSpx(bytes).header.preprocess;
  let v: unknown;
  try { v = JSON.parse(new TextDecoder().decode(bytes)); } catch (e) { throw new UsageError(`--preprocess ${path} is not JSON: ${(e as Error).message}`); }
  if (typeof v !== 'object' || v === null || typeof (v as { kind?: unknown }).kind !== 'string') throw new UsageError(`--preprocess ${path} must be a JSON object with a "kind"`);
  return v as Preprocess;
}

function describe(h: SpxHeader): string[] {
  const lines = h.layers.map((l, k) => `  ${String(k + 1).padStart(2)} ${l.ops.map((o) => o.op + ('act' in o && o.act && o.act !== 'none' ? `(${o.act})` : '') + (o.op === 'attention' && o.window ? `(w${o.window})` : '')).join(' ')}  →  exit: ${h.exits[k].ops.map((o) => o.op).join(' ')}`);
  return lines;
}

export const command: Command = {
  summary: 'convert a multi-exit ONNX model (exported from PyTorch) to a .spx file, optionally checked against ONNX Runtime',
  async run(argv) {
    const p = parseArgs(argv, spec, { positionals: ['model.onnx'] });
    if (p.options.help) { console.log(helpText(USAGE, spec)); return 0; }
    const src = p.positionals[0];
    if (!src) throw new UsageError('which ONNX file? splitee import <model.onnx> --out <model.spx>');
    const out = requireString(p, 'out');
    const opts: ImportOptions = { provenance: { file: basename(src) } };
    if (typeof p.options.name === 'string') opts.name = p.options.name;
    if (typeof p.options.classes === 'string') opts.classes = await readClasses(p.options.classes);
    if (p.options.quantize !== undefined) {
      if (p.options.quantize !== 'int8') throw new UsageError(`--quantize must be int8, got '${p.options.quantize}'`);
      opts.quantize = 'int8';
    }
    const kind = p.options['input-kind'];
    if (kind !== undefined) {
      if (kind !== 'image' && kind !== 'tokens') throw new UsageError(`--input-kind must be image or tokens, got '${kind}'`);
      opts.inputKind = kind;
    }
    opts.maxLen = numberOption(p, 'max-len', { min: 1, max: 65536, integer: true });
    if (typeof p.options.preprocess === 'string') opts.preprocess = await readPreprocess(p.options.preprocess);
    const samples = numberOption(p, 'samples', { min: 1, max: 10000, integer: true })!;
    const tolerance = numberOption(p, 'tolerance', { min: 0 })!;

    const onnx = new Uint8Array(await readFile(src));
    const rep = importOnnxDetailed(onnx, opts);
    await writeFile(out, rep.bytes);
    const h = rep.header;
    const check = p.options.check ? await checkAgainstOnnxRuntime(onnx, rep, samples) : undefined;
    if (p.options.json) {
      console.log(JSON.stringify({
        out, bytes: rep.bytes.length, name: h.name, input: h.input, classes: h.classes, layers: h.layers.length,
        outputs: rep.outputs[0] !== undefined && rep.outputs.every((o) => o === rep.outputs[0]) ? rep.outputs[0] : rep.outputs,
        provenance: h.provenance, ...(check ? { check: { samples: check.samples, maxAbsDiff: check.worst, perExit: check.perExit, tolerance, ok: check.worst <= tolerance } } : {}),
      }, null, 2));
    } else {
      console.log(`wrote ${out} (${rep.bytes.length.toLocaleString('en-US')} bytes): ${h.name}, ${JSON.stringify(h.input)}, ${h.classes.length} classes, ${h.layers.length} layers`);
      if (rep.outputs.some((o) => o !== 'logits')) console.log('the ONNX outputs are probabilities: their final softmax is dropped (the engine applies its own)');
      console.log(describe(h).join('\n'));
      if (check) {
        console.log(`check against ONNX Runtime on ${check.samples} random inputs: max |Δprob| ${check.worst.toExponential(2)} (per exit: ${check.perExit.map((d) => d.toExponential(1)).join(', ')})`);
      }
    }
    if (check && !(check.worst <= tolerance)) {
      console.error(`splitee import: max |Δprob| ${check.worst.toExponential(2)} is above the tolerance ${tolerance}`);
      return 1;
    }
    return 0;
  },
};
