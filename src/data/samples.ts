// The demo samples shipped inside the package (samples/*.bin.gz, written by scripts/make-samples.mjs): the first
// 1,000 Fashion-MNIST test images and the 872 SST-2 dev sentences, so the demo runs where no dataset is installed.
// Core module (no Node imports): the bytes are read by the caller (Node: ./samples-node.ts; elsewhere fetch()
// demoSampleUrl(…) or bundle the file) and gunzipped with DecompressionStream.
//
// File layout (after gunzip): ASCII "SPLS", uint32 little-endian header length, UTF-8 JSON header, payload.
// Image files: header {format:1, stream, kind:'image', n, total, shape:[1,H,W], classes, source, license}, payload n
// label bytes then n·H·W pixel bytes. Text files: header {…, kind:'text', labels:[…], texts:[…]}, no payload.
import { addGaussianNoise, blurImage, bytesToUnit } from './distort.js';
import { type DataStream, type ImageSample, type StreamName, type TextSample } from './stream-types.js';

export class SampleError extends Error {
  constructor(readonly code: 'UNKNOWN_SAMPLE' | 'BAD_SAMPLE' | 'BAD_LIMIT', message: string) {
    super(message);
    this.name = 'SampleError';
  }
}

/** The shipped sample file of each stream it covers, relative to the package root. */
export const DEMO_SAMPLE_FILES: Readonly<Record<string, string>> = {
  'fmnist:test': 'samples/fmnist-test.bin.gz',
  'sst2:dev': 'samples/sst2-dev.bin.gz',
};

/** The stream each zoo model's demo uses, and the distorted streams derived from a sampled one. */
const ALIASES: Readonly<Record<string, string>> = {
  'fmnist-cnn': 'fmnist:test',
  'sst2-transformer': 'sst2:dev',
  'fmnist:test:noise': 'fmnist:test',
  'fmnist:test:blur': 'fmnist:test',
};

function baseStream(modelOrStream: string): string {
  const base = ALIASES[modelOrStream] ?? modelOrStream;
  if (!Object.prototype.hasOwnProperty.call(DEMO_SAMPLE_FILES, base)) {
    throw new SampleError('UNKNOWN_SAMPLE', `no embedded sample for '${modelOrStream}'; samples exist for `
      + `${[...Object.keys(ALIASES), ...Object.keys(DEMO_SAMPLE_FILES)].join(', ')}`);
  }
  return base;
}

/** The streams that have an embedded sample (the distorted Fashion-MNIST streams derive theirs from fmnist:test). */
export function hasDemoSample(stream: string): boolean {
  try { baseStream(stream); return true; } catch { return false; }
}

/** Path of the sample file, relative to the package root: `demoSampleFile('fmnist-cnn')` → 'samples/fmnist-test.bin.gz'. */
export function demoSampleFile(modelOrStream: string): string {
  return DEMO_SAMPLE_FILES[baseStream(modelOrStream)];
}

/** URL of the sample file in the installed package (this module is dist/src/data/samples.js). */
export function demoSampleUrl(modelOrStream: string): URL {
  return new URL(`../../../${demoSampleFile(modelOrStream)}`, import.meta.url);
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (!(bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b)) return bytes; // already decompressed
  if (typeof DecompressionStream !== 'function') {
    throw new SampleError('BAD_SAMPLE', 'this runtime has no DecompressionStream; pass the sample bytes already gunzipped');
  }
  try {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new SampleError('BAD_SAMPLE', `sample file: gzip stream is damaged (${(e as Error).message})`);
  }
}

interface SampleHeader {
  format: number; stream: string; kind: 'image' | 'text'; n: number; total: number; classes: string[];
  shape?: [number, number, number]; source: string; license: string; labels?: number[]; texts?: string[];
}

/** Header and payload of a sample file, checked. */
export async function parseDemoSample(bytes: Uint8Array | ArrayBuffer): Promise<{ header: SampleHeader; payload: Uint8Array }> {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) throw new SampleError('BAD_SAMPLE', `sample bytes must be a Uint8Array, got ${Object.prototype.toString.call(bytes)}`);
  const raw = await gunzip(bytes);
  const bad = (why: string): never => { throw new SampleError('BAD_SAMPLE', `sample file: ${why}`); };
  if (raw.length < 8 || String.fromCharCode(raw[0], raw[1], raw[2], raw[3]) !== 'SPLS') bad('not a splitee sample (magic SPLS missing)');
  const len = new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(4, true);
  if (8 + len > raw.length) bad(`header of ${len} bytes runs past the end (${raw.length} bytes)`);
  let header: SampleHeader;
  try { header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw.subarray(8, 8 + len))); } catch { return bad('header is not UTF-8 JSON'); }
  if (header.format !== 1) bad(`format ${header.format} (this version reads 1)`);
  if (!Number.isInteger(header.n) || header.n < 0) bad(`n must be a count, got ${header.n}`);
  if (!Array.isArray(header.classes) || header.classes.length === 0) bad('classes missing');
  const payload = raw.subarray(8 + len);
  if (header.kind === 'image') {
    const s = header.shape;
    if (!Array.isArray(s) || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) bad(`shape must be [C, H, W], got ${JSON.stringify(s)}`);
    const need = header.n * (1 + s![0] * s![1] * s![2]);
    if (payload.length !== need) bad(`${header.n} images of ${s!.join('×')} need ${need} payload bytes, the file has ${payload.length}`);
    for (let i = 0; i < header.n; i++) if (payload[i] >= header.classes.length) bad(`label ${payload[i]} of sample ${i} is not a class`);
  } else if (header.kind === 'text') {
    const { labels, texts } = header;
    if (!Array.isArray(labels) || !Array.isArray(texts) || labels.length !== header.n || texts.length !== header.n) bad('text samples need n labels and n texts');
    if (labels!.some((l) => !Number.isInteger(l) || l < 0 || l >= header.classes.length)) bad('a label is not a class index');
    if (texts!.some((t) => typeof t !== 'string')) bad('a text is not a string');
  } else {
    bad(`kind must be 'image' or 'text', got ${JSON.stringify(header.kind)}`);
  }
  return { header, payload };
}

/**
 * Decodes the embedded sample of a stream (or of a zoo model's demo stream) from the sample file's bytes. The result
 * is a stream like the Node `openStream` returns (source 'sample'): image inputs are float32 pixels in [0, 1], text
 * inputs the sentences; `fmnist:test:noise` / `fmnist:test:blur` apply the same seeded distortions to the images.
 */
export async function demoSamples(modelOrStream: string, bytes: Uint8Array | ArrayBuffer, opts: { limit?: number } = {}): Promise<DataStream> {
  const base = baseStream(modelOrStream);
  const name = (modelOrStream.includes(':') ? modelOrStream : base) as StreamName;
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit > 0)) {
    throw new SampleError('BAD_LIMIT', `limit must be a positive integer, got ${opts.limit}`);
  }
  const { header, payload } = await parseDemoSample(bytes);
  if (header.stream !== base) throw new SampleError('BAD_SAMPLE', `sample file holds '${header.stream}', expected '${base}'`);
  const size = Math.min(header.n, opts.limit ?? Infinity);
  const dir = `(embedded sample ${DEMO_SAMPLE_FILES[base]}: ${header.n} of ${header.total})`;
  if (header.kind === 'image') {
    const shape = header.shape!;
    const px = shape[0] * shape[1] * shape[2];
    const samples: ImageSample[] = new Array(size);
    for (let i = 0; i < size; i++) {
      let input = bytesToUnit(payload.subarray(header.n + i * px, header.n + (i + 1) * px));
      if (name === 'fmnist:test:noise') input = addGaussianNoise(input, i);
      else if (name === 'fmnist:test:blur') input = blurImage(input, shape[1], shape[2]);
      samples[i] = { index: i, label: payload[i], input };
    }
    return { name, kind: 'image', size, total: header.n, classes: header.classes, dir, source: 'sample', shape, samples };
  }
  const samples: TextSample[] = header.texts!.slice(0, size).map((input, index) => ({ index, label: header.labels![index], input }));
  return { name, kind: 'text', size, total: header.n, classes: header.classes, dir, source: 'sample', samples };
}
