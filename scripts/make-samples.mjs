#!/usr/bin/env node
// Writes the demo samples the package ships (samples/*.bin.gz) from the full datasets:
//   node scripts/make-samples.mjs [DATASETS_DIR [OUT_DIR]]   (defaults: $SPLITEE_DATA, else ../shared/datasets; samples/)
// The output is deterministic (gzip level 9, no timestamp), so rerunning it on the same datasets changes nothing.
// Layout of each file (gzip of): ASCII "SPLS", uint32 LE header length, UTF-8 JSON header, payload. Image files
// carry n label bytes then n·H·W pixel bytes; text files carry their sentences and labels in the header.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dataDir = resolve(process.argv[2] ?? process.env.SPLITEE_DATA ?? join(root, '..', 'shared', 'datasets'));
const outDir = resolve(process.argv[3] ?? join(root, 'samples'));
const FMNIST_N = 1000;

function fail(msg) { console.error(`make-samples: ${msg}`); process.exit(1); }
if (!existsSync(dataDir)) fail(`${dataDir} does not exist (pass the datasets folder as the first argument)`);

function idx(path, ndim) {
  if (!existsSync(path) && existsSync(path.replace(/\.gz$/, ''))) path = path.replace(/\.gz$/, '');
  const bytes = readFileSync(path);
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 8 || raw[3] !== ndim) fail(`${path}: not a uint8 idx file with ${ndim} dims`);
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(raw.readUInt32BE(4 + 4 * i));
  return { dims, data: raw.subarray(4 + 4 * ndim) };
}

function pack(header, payload = new Uint8Array(0)) {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const head = Buffer.alloc(8);
  head.write('SPLS', 0, 'ascii');
  head.writeUInt32LE(json.length, 4);
  return gzipSync(Buffer.concat([head, json, payload]), { level: 9 });
}

mkdirSync(outDir, { recursive: true });

// Fashion-MNIST: the first 1,000 test images, in the test set's order (its classes are already interleaved).
{
  const images = idx(join(dataDir, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'), 3);
  const labels = idx(join(dataDir, 'fashion-mnist', 't10k-labels-idx1-ubyte.gz'), 1);
  const [total, h, w] = images.dims;
  if (h !== 28 || w !== 28 || labels.dims[0] !== total) fail('Fashion-MNIST test files have unexpected dimensions');
  const header = {
    format: 1, stream: 'fmnist:test', kind: 'image', n: FMNIST_N, total, shape: [1, h, w],
    classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
    source: 'Fashion-MNIST test set (t10k), images 0..999, https://github.com/zalandoresearch/fashion-mnist',
    license: 'MIT, Copyright (c) 2017 Zalando SE',
  };
  const payload = Buffer.concat([labels.data.subarray(0, FMNIST_N), images.data.subarray(0, FMNIST_N * h * w)]);
  const file = join(outDir, 'fmnist-test.bin.gz');
  writeFileSync(file, pack(header, payload));
  console.log(`${file}: ${FMNIST_N} of ${total} images, ${readFileSync(file).length} bytes`);
}

// SST-2 dev: every sentence (872), header `label<TAB>content`, label first.
{
  const lines = readFileSync(join(dataDir, 'sst2', 'dev.tsv'), 'utf8').replace(/^\uFEFF/, '').split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines[lines.length - 1] === '') lines.pop();
  const head = lines.shift().split('\t');
  if (head[0] !== 'label') fail(`sst2/dev.tsv: unexpected header ${head.join(',')}`);
  const texts = [], labels = [];
  for (const [i, l] of lines.entries()) {
    const cols = l.split('\t');
    if (cols.length !== 2 || (cols[0] !== '0' && cols[0] !== '1')) fail(`sst2/dev.tsv:${i + 2}: bad line`);
    labels.push(Number(cols[0]));
    texts.push(cols[1]);
  }
  const header = {
    format: 1, stream: 'sst2:dev', kind: 'text', n: texts.length, total: texts.length, classes: ['negative', 'positive'],
    source: 'SST-2 dev set (GLUE), all 872 sentences; Socher et al., EMNLP 2013, https://nlp.stanford.edu/sentiment/',
    license: 'Stanford Sentiment Treebank: research use, as distributed by GLUE',
    labels, texts,
  };
  const file = join(outDir, 'sst2-dev.bin.gz');
  writeFileSync(file, pack(header));
  console.log(`${file}: ${texts.length} sentences, ${readFileSync(file).length} bytes`);
}
