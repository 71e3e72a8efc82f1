// Which models the bench runs, and the inputs it feeds them: the zoo models with their ONNX exports, or, when the
// zoo is still empty, the tiny test fixtures (splitee only: they have no ONNX export).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, packageRoot, zooModels, type Model } from '../src/node.js';
import { tinyImageModel, tinyTextModel } from '../test/fixtures/tiny-models.js';

export interface BenchModel {
  name: string;
  spxBytes: number;
  model: Model;
  /** The same file loaded with `precision: 'int8'` (int8 weights, int16 activations, int32 sums), when asked for. */
  int8?: Model;
  onnx?: Uint8Array;
  onnxPath?: string;
}

export async function benchModels(opts: { tiny?: boolean; int8?: boolean } = {}): Promise<BenchModel[]> {
  const int8 = async (bytes: Uint8Array) => (opts.int8 ? loadModel(bytes, { precision: 'int8' }) : undefined);
  const out: BenchModel[] = [];
  if (!opts.tiny) {
    for (const name of zooModels()) {
      const dir = join(packageRoot, 'models', name);
      const spx = readFileSync(join(dir, `${name}.spx`));
      const onnxPath = join(dir, `${name}.onnx`);
      const onnx = existsSync(onnxPath) ? new Uint8Array(readFileSync(onnxPath)) : undefined;
      const bytes = new Uint8Array(spx);
      out.push({ name, spxBytes: spx.length, model: await loadModel(bytes), int8: await int8(bytes), onnx, onnxPath: onnx ? onnxPath : undefined });
    }
  }
  if (out.length === 0) {
    for (const bytes of [tinyImageModel(), tinyTextModel()]) {
      const model = await loadModel(bytes);
      out.push({ name: model.name, spxBytes: bytes.length, model, int8: await int8(bytes) });
    }
  }
  return out;
}

/** Deterministic standard-normal-ish numbers (Box–Muller on a 32-bit LCG): inputs never all zero. */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 1) / 4294967297;
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** One input per model: a normalised-image-like tensor, or token ids of length T. */
export interface SampleInput {
  label: string;
  image?: Float32Array;
  ids?: Int32Array;
}

/** Sentence lengths of the model's parity cases (real dev sentences), when the recipe wrote them. */
function parityLengths(name: string): number[] {
  const p = join(packageRoot, 'models', name, 'parity.json');
  if (!existsSync(p)) return [];
  try {
    const j = JSON.parse(readFileSync(p, 'utf8')) as { cases?: { ids?: number[] }[] };
    return (j.cases ?? []).map((c) => c.ids?.length ?? 0).filter((n) => n > 0);
  } catch { return []; }
}

/**
 * The inputs to bench a model at. Images: one. Token models: the longest sequence the model is planned for
 * (maxLen), and a typical one (the median length of its parity sentences, when known).
 */
export function sampleInputs(m: Model): SampleInput[] {
  const h = m.header;
  const rnd = gaussian(20261124);
  if (h.input.kind === 'image') {
    const n = h.input.shape.reduce((a, b) => a * b, 1);
    const image = new Float32Array(n);
    for (let i = 0; i < n; i++) image[i] = 0.5 * rnd() + 0.2;
    return [{ label: `[${h.input.shape.join(',')}]`, image }];
  }
  const { maxLen, vocabSize } = h.input;
  const lens = [maxLen];
  const seen = parityLengths(h.name).sort((a, b) => a - b);
  if (seen.length) {
    const typical = seen[Math.floor(seen.length / 2)];
    if (typical < maxLen) lens.push(typical);
  }
  let s = 99;
  // Ids skip the first few (special tokens in most vocabularies) because real text rarely has them.
  const lo = vocabSize > 8 ? 4 : 0;
  const id = () => lo + ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % (vocabSize - lo));
  return lens.map((T) => ({ label: `T=${T}`, ids: Int32Array.from({ length: T }, id) }));
}
