// Named evaluation streams (Node side): what `splitee eval --dataset <name>` and the SplitEE simulations read.
// Image samples carry raw pixels in [0, 1] (float32 [1, 28, 28]); the model's own preprocess (see
// preprocessImage in ./index.ts) is applied by the engine. Text samples carry the sentence.
import { bytesToUnit, addGaussianNoise, blurImage } from './distort.js';
import { readIdxFile } from './idx.js';
import { DataError, DatasetNotFoundError, findDataset, firstExisting, type DataDirOptions } from './paths.js';
import { FMNIST_CLASSES, SENTIMENT_CLASSES, STREAMS, STREAM_NAMES, type DataStream, type ImageSample, type StreamName, type TextSample } from './stream-types.js';
import { hasDemoSample } from './samples.js';
import { readDemoSamples } from './samples-node.js';
import { isUserStreamSpec, openUserStream } from './user-streams.js';
import type { SpxInput } from '../format/index.js';

export { DataError, DatasetNotFoundError, findDataset, dataDirCandidates } from './paths.js';
export { IdxError, parseIdx, readIdxFile } from './idx.js';

export { FMNIST_CLASSES, SENTIMENT_CLASSES, STREAMS, STREAM_NAMES } from './stream-types.js';
export type { StreamName, ImageSample, TextSample, ImageStream, TextStream, DataStream } from './stream-types.js';
export { demoSamples, demoSampleFile, demoSampleUrl, hasDemoSample, SampleError, DEMO_SAMPLE_FILES } from './samples.js';
export { readDemoSamples, demoSamplePath } from './samples-node.js';
export { isUserStreamSpec, openUserStream, type UserStreamOptions } from './user-streams.js';

export class UnknownStreamError extends DataError {
  constructor(name: string) {
    super('UNKNOWN_STREAM', `unknown dataset stream '${name}'; valid streams: ${STREAM_NAMES.join(', ')}, or your own data as images:DIR, jsonl:FILE or tsv:FILE`);
    this.name = 'UnknownStreamError';
  }
}

export interface OpenStreamOptions extends DataDirOptions {
  /** Only the first `limit` samples (a positive integer). */
  limit?: number;
  /**
   * The samples shipped in the package (fmnist:test and its distortions: the first 1,000 test images; sst2:dev: all
   * 872 sentences). 'never' (default): the full dataset or DatasetNotFoundError. 'auto': the full dataset when found,
   * else the sample (never when `dataDir` is given: an explicit folder is authoritative). 'only': always the sample.
   */
  samples?: 'never' | 'auto' | 'only';
  /** The model the stream feeds: user streams (images:DIR, jsonl:FILE, tsv:FILE) are resized to its input and labelled with its classes. */
  model?: { input: SpxInput; classes: readonly string[] };
}

const FMNIST_TEST_FILES = [
  ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'],
  ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte'],
];

const KOTZIAS_FILES = { imdb: 'imdb_labelled.txt', yelp: 'yelp_labelled.txt', amazon: 'amazon_cells_labelled.txt' } as const;

// Decoding 10,000 gzipped images takes ~100 ms; a process that opens three image streams decodes them once.
const fmnistCache = new Map<string, Promise<{ images: Uint8Array; labels: Uint8Array; n: number }>>();

async function loadFmnistTest(dir: string) {
  let p = fmnistCache.get(dir);
  if (!p) {
    p = (async () => {
      const [imgPath, labPath] = FMNIST_TEST_FILES.map((alts) => firstExisting(dir, alts)!);
      const images = await readIdxFile(imgPath, [null, 28, 28]);
      const labels = await readIdxFile(labPath, [null]);
      if (images.dims[0] !== labels.dims[0]) {
        throw new DataError('DATASET_MISMATCH', `${dir}: ${images.dims[0]} test images but ${labels.dims[0]} labels`);
      }
      const bad = labels.data.findIndex((l) => l >= FMNIST_CLASSES.length);
      if (bad >= 0) throw new DataError('DATASET_MISMATCH', `${labPath}: label ${labels.data[bad]} at ${bad} is not a class 0..9`);
      return { images: images.data, labels: labels.data, n: images.dims[0] };
    })();
    fmnistCache.set(dir, p);
    p.catch(() => fmnistCache.delete(dir));
  }
  return p;
}

function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new DataError('BAD_LIMIT', `limit must be a positive integer, got ${limit}`);
  }
}

/** Opens a named stream; all samples are materialised (the largest, 10,000 images, is 31 MB as float32). */
export async function openStream(name: string, opts: OpenStreamOptions = {}): Promise<DataStream> {
  if (isUserStreamSpec(name)) {
    const input = opts.model?.input;
    return openUserStream(name, { limit: opts.limit, shape: input?.kind === 'image' ? input.shape as [number, number, number] : undefined, classes: opts.model?.classes });
  }
  if (!Object.prototype.hasOwnProperty.call(STREAMS, name)) throw new UnknownStreamError(name);
  const stream = name as StreamName;
  checkLimit(opts.limit);
  const mode = opts.samples ?? 'never';
  if (mode !== 'never' && mode !== 'auto' && mode !== 'only') throw new DataError('BAD_OPTION', `samples must be 'never', 'auto' or 'only', got ${JSON.stringify(mode)}`);
  if (mode === 'only' || (mode === 'auto' && opts.dataDir === undefined && hasDemoSample(stream))) {
    if (mode === 'only') return readDemoSamples(stream, { limit: opts.limit });
    try {
      return await openFullStream(stream, opts);
    } catch (e) {
      if (!(e instanceof DatasetNotFoundError)) throw e;
      return readDemoSamples(stream, { limit: opts.limit });
    }
  }
  return openFullStream(stream, opts);
}

async function openFullStream(stream: StreamName, opts: OpenStreamOptions): Promise<DataStream> {
  const limit = opts.limit ?? Infinity;

  if (stream.startsWith('fmnist:')) {
    const dir = findDataset('fashion-mnist', FMNIST_TEST_FILES, opts);
    const { images, labels, n } = await loadFmnistTest(dir);
    const size = Math.min(n, limit);
    const samples: ImageSample[] = new Array(size);
    for (let i = 0; i < size; i++) {
      let input = bytesToUnit(images.subarray(i * 784, (i + 1) * 784));
      if (stream === 'fmnist:test:noise') input = addGaussianNoise(input, i);
      else if (stream === 'fmnist:test:blur') input = blurImage(input, 28, 28);
      samples[i] = { index: i, label: labels[i], input };
    }
    return { name: stream, kind: 'image', size, total: n, classes: FMNIST_CLASSES, dir, source: 'full', shape: [1, 28, 28], samples };
  }

  // Find the data first (the more useful error), then load the text readers of ./text.js lazily, so image-only
  // users never need them.
  let dir: string;
  let rows: { text: string; label: number }[];
  if (stream === 'sst2:dev') {
    dir = findDataset('sst2', [['dev.tsv']], opts);
    rows = await (await import('./text.js')).readSst2Dev(dir);
  } else {
    const which = stream.slice('kotzias:'.length) as keyof typeof KOTZIAS_FILES;
    dir = findDataset('sentiment-sentences', [[KOTZIAS_FILES[which]]], opts);
    rows = await (await import('./text.js')).readKotzias(dir, which);
  }
  const size = Math.min(rows.length, limit);
  const samples: TextSample[] = rows.slice(0, size).map((r, index) => ({ index, label: r.label, input: r.text }));
  return { name: stream, kind: 'text', size, total: rows.length, classes: SENTIMENT_CLASSES, dir, source: 'full', samples };
}
