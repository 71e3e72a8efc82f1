// Named streams and dataset lookup: synthetic datasets in a temp dir exercise every path; the real datasets, found
// through the product's own lookup, are checked against digests computed by models/recipes/fmnist_data.py. Missing
// data fails the test with where it looked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  openStream, STREAM_NAMES, UnknownStreamError, DatasetNotFoundError, DataError, IdxError, dataDirCandidates, findDataset,
  type ImageStream,
} from '../src/data/streams.js';
import { addGaussianNoise, blurImage } from '../src/data/distort.js';
import { crc32 } from '../src/util/crc32.js';
import { rng } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-streams-'));
const empty = join(tmp, 'empty');
mkdirSync(empty);

function idx(dims: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const v = new DataView(out.buffer);
  out[2] = 8; out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** A fake datasets root with an n-image Fashion-MNIST test split (gzipped, like the real one). */
function fakeFmnist(root: string, n: number, seed: number, labels?: number[]): { images: Uint8Array; labels: Uint8Array } {
  const r = rng(seed);
  const images = Uint8Array.from({ length: n * 784 }, () => r.int(0, 256));
  const labs = Uint8Array.from(labels ?? Array.from({ length: n }, () => r.int(0, 10)));
  const dir = join(root, 'fashion-mnist');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx([n, 28, 28], images)));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx([labs.length], labs)));
  return { images, labels: labs };
}

async function rejects(p: Promise<unknown>, check: (e: Error & { code?: string }) => void) {
  try { await p; } catch (e) { check(e as Error & { code?: string }); return; }
  assert.unreachable('expected a rejection');
}

test('unknown stream names every valid stream', async () => {
  await rejects(openStream('fmnist:train'), (e) => {
    assert.instance(e, UnknownStreamError);
    assert.is(e.code, 'UNKNOWN_STREAM');
    for (const n of STREAM_NAMES) assert.ok(e.message.includes(n), n);
  });
  assert.equal(STREAM_NAMES, ['fmnist:test', 'fmnist:test:noise', 'fmnist:test:blur', 'sst2:dev', 'kotzias:imdb',
    'kotzias:yelp', 'kotzias:amazon']);
  await rejects(openStream('toString'), (e) => assert.instance(e, UnknownStreamError));
});

test('search order: --data-dir alone; else SPLITEE_DATA, ../shared/datasets (cwd, package root), /usr/share', () => {
  const only = dataDirCandidates({ dataDir: 'rel/dir', cwd: '/x/y', env: { SPLITEE_DATA: '/e' } });
  assert.equal(only, [{ dir: '/x/y/rel/dir', source: '--data-dir' }]);
  const all = dataDirCandidates({ cwd: '/x/y', env: { SPLITEE_DATA: '/e' } }).map((c) => c.dir);
  assert.is(all[0], '/e');
  assert.is(all[1], '/x/shared/datasets');
  assert.is(all[all.length - 1], '/usr/share/datasets');
  // The package root's sibling (this checkout's ../shared/datasets) is searched unless it equals the cwd one.
  const pkgShared = resolve(process.cwd(), '..', 'shared', 'datasets');
  assert.ok(dataDirCandidates({ cwd: '/x/y', env: {} }).some((c) => c.dir === pkgShared));
  assert.is(dataDirCandidates({ cwd: '/x/y', env: {} })[0].dir, '/x/shared/datasets');
});

test('a missing dataset is a DatasetNotFoundError naming every place looked and how to get it', async () => {
  await rejects(openStream('fmnist:test', { dataDir: empty }), (e) => {
    assert.instance(e, DatasetNotFoundError);
    assert.is(e.code, 'DATASET_NOT_FOUND');
    assert.ok(e.message.includes(join(empty, 'fashion-mnist')), e.message);
    assert.ok(e.message.includes('--data-dir'), e.message);
    assert.ok(e.message.includes('apt-get install dataset-fashion-mnist'), e.message);
    assert.ok(e.message.includes('t10k-images-idx3-ubyte.gz'), e.message);
  });
  // Without --data-dir, every candidate is listed (SPLITEE_DATA first), unless the dataset is found somewhere.
  try {
    findDataset('sst2', [['no-such-file.tsv']], { env: { SPLITEE_DATA: empty }, cwd: tmp });
    assert.unreachable('found a file that does not exist');
  } catch (e) {
    const msg = (e as Error).message;
    assert.instance(e, DatasetNotFoundError);
    for (const c of dataDirCandidates({ env: { SPLITEE_DATA: empty }, cwd: tmp })) assert.ok(msg.includes(c.dir), c.dir);
    assert.ok(msg.indexOf(empty) < msg.indexOf('/usr/share/datasets'), 'in search order');
    assert.match(msg, /shared datasets folder/);
  }
  for (const name of ['sst2:dev', 'kotzias:yelp']) {
    await rejects(openStream(name, { dataDir: empty }), (e) => {
      assert.instance(e, DatasetNotFoundError);
      assert.ok(e.message.includes(empty), e.message);
      assert.match(e.message, name === 'sst2:dev' ? /SST-2.*dev\.tsv/ : /yelp_labelled\.txt/);
    });
  }
});

test('synthetic Fashion-MNIST: clean, noise and blur streams, limit, SPLITEE_DATA, dataset folder given directly', async () => {
  const root = join(tmp, 'syn');
  const { images, labels } = fakeFmnist(root, 7, 11);
  for (const opts of [{ dataDir: root }, { dataDir: join(root, 'fashion-mnist') }, { env: { SPLITEE_DATA: root } }]) {
    const s = await openStream('fmnist:test', opts) as ImageStream;
    assert.is(s.kind, 'image');
    assert.is(s.size, 7);
    assert.is(s.total, 7);
    assert.equal(s.shape, [1, 28, 28]);
    assert.is(s.classes.length, 10);
    s.samples.forEach((smp, i) => {
      assert.is(smp.index, i);
      assert.is(smp.label, labels[i]);
      assert.is(smp.input.length, 784);
      for (let k = 0; k < 784; k += 37) assert.is(smp.input[k], Math.fround(images[i * 784 + k] / 255));
    });
  }
  const clean = await openStream('fmnist:test', { dataDir: root }) as ImageStream;
  const noisy = await openStream('fmnist:test:noise', { dataDir: root }) as ImageStream;
  const blurred = await openStream('fmnist:test:blur', { dataDir: root, limit: 3 }) as ImageStream;
  assert.is(blurred.size, 3);
  assert.is(blurred.total, 7);
  for (let i = 0; i < 7; i++) {
    assert.equal(Array.from(noisy.samples[i].input), Array.from(addGaussianNoise(clean.samples[i].input, i)));
    assert.is(noisy.samples[i].label, labels[i]);
  }
  for (let i = 0; i < 3; i++) assert.equal(Array.from(blurred.samples[i].input), Array.from(blurImage(clean.samples[i].input, 28, 28)));
  // A limited noise stream is a prefix of the full one (per-index seeding).
  const noisy2 = await openStream('fmnist:test:noise', { dataDir: root, limit: 2 }) as ImageStream;
  assert.equal(Array.from(noisy2.samples[1].input), Array.from(noisy.samples[1].input));
  for (const limit of [0, -1, 1.5, NaN]) {
    await rejects(openStream('fmnist:test', { dataDir: root, limit }), (e) => {
      assert.instance(e, DataError);
      assert.is(e.code, 'BAD_LIMIT');
    });
  }
});

test('broken Fashion-MNIST files: typed errors', async () => {
  const bad1 = join(tmp, 'bad1');
  fakeFmnist(bad1, 3, 1, [1, 2, 10]);
  await rejects(openStream('fmnist:test', { dataDir: bad1 }), (e) => { assert.is(e.code, 'DATASET_MISMATCH'); assert.match(e.message, /label 10/); });
  const bad2 = join(tmp, 'bad2');
  fakeFmnist(bad2, 3, 1, [1, 2]);
  await rejects(openStream('fmnist:test', { dataDir: bad2 }), (e) => { assert.is(e.code, 'DATASET_MISMATCH'); assert.match(e.message, /3 test images but 2 labels/); });
  const bad3 = join(tmp, 'bad3');
  fakeFmnist(bad3, 2, 1);
  writeFileSync(join(bad3, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, 28, 28], new Uint8Array(100))));
  await rejects(openStream('fmnist:test', { dataDir: bad3 }), (e) => { assert.instance(e, IdxError); assert.is(e.code, 'IDX_TRUNCATED'); });
  // The failed load is not cached: fixing the file fixes the stream.
  writeFileSync(join(bad3, 'fashion-mnist', 't10k-images-idx3-ubyte.gz'), gzipSync(idx([2, 28, 28], new Uint8Array(2 * 784).fill(255))));
  const s = await openStream('fmnist:test', { dataDir: bad3 }) as ImageStream;
  assert.is(s.samples[1].input[100], 1);
});

// ---- the real datasets ---------------------------------------------------------------------------------------------

// CRC-32 of the float32 bytes of the first 1,000 samples of each stream and the first 10 labels, computed by
// models/recipes/fmnist_data.py: the TypeScript streams are the Python ones bit for bit.
const PY_DIGESTS: Record<string, number> = {
  'fmnist:test': 1792896013,
  'fmnist:test:noise': 212572857,
  'fmnist:test:blur': 1471099853,
};

test('real Fashion-MNIST streams equal the recipe\'s (Python) streams bit for bit', async () => {
  // Throws DatasetNotFoundError (every place looked, how to get the data) when absent: the test fails with it.
  findDataset('fashion-mnist', [['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'], ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte']]);
  for (const [name, digest] of Object.entries(PY_DIGESTS)) {
    const s = await openStream(name, { limit: 1000 }) as ImageStream;
    assert.is(s.total, 10000);
    assert.equal(s.samples.slice(0, 10).map((x) => x.label), [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
    let crc = 0;
    for (const smp of s.samples) crc = crc32(new Uint8Array(smp.input.buffer, smp.input.byteOffset, smp.input.byteLength), crc);
    assert.is(crc, digest, name);
  }
});

test('real text streams: sizes, classes, balance, limit', async () => {
  const sizes: Record<string, number> = { 'sst2:dev': 872, 'kotzias:imdb': 1000, 'kotzias:yelp': 1000, 'kotzias:amazon': 1000 };
  for (const [name, n] of Object.entries(sizes)) {
    const s = await openStream(name);
    assert.is(s.kind, 'text');
    assert.is(s.size, n, name);
    assert.equal(s.classes, ['negative', 'positive']);
    const pos = s.samples.filter((x) => x.label === 1).length;
    assert.ok(pos > n * 0.4 && pos < n * 0.6, `${name}: ${pos} positive of ${n}`);
    assert.ok(s.samples.every((x) => typeof x.input === 'string' && x.input.length > 0 && (x.label === 0 || x.label === 1)));
    const lim = await openStream(name, { limit: 5 });
    assert.is(lim.size, 5);
    assert.equal(lim.samples.map((x) => x.input), s.samples.slice(0, 5).map((x) => x.input));
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
