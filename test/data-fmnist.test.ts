// idx parsing and the seeded Fashion-MNIST distortions. Reference values marked "Python" were computed by
// models/recipes/fmnist_data.py (`python3 models/recipes/fmnist_data.py` prints them), an independent
// implementation of the same specification; the impulse and constant-image cases are worked out by hand.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIdx, readIdxFile, IdxError } from '../src/data/idx.js';
import { Mulberry32, sampleSeed, fillStandardNormal } from '../src/data/random.js';
import { addGaussianNoise, blurImage, bytesToUnit, DistortError, NOISE_SEED, NOISE_SIGMA, BLUR_TAPS, BLUR_DIVISOR } from '../src/data/distort.js';
import { preprocessImage, PreprocessError } from '../src/data/index.js';
import { rng, assertClose } from './util.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DatasetNotFoundError, openStream, type DataStream } from '../src/data/streams.js';
import { demoSampleFile, demoSamples, demoSampleUrl, SampleError } from '../src/data/samples.js';
import { demoSamplePath, readDemoSamples } from '../src/data/samples-node.js';
import { dataDirCandidates, packageRoot } from '../src/data/paths.js';

function idxBytes(dims: number[], data: Uint8Array, ndimOverride?: number): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  const v = new DataView(head.buffer);
  head[2] = 0x08;
  head[3] = ndimOverride ?? dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => r.int(0, 256));
}

function expectIdxError(fn: () => unknown, code: string) {
  try { fn(); } catch (e) {
    assert.instance(e, IdxError);
    assert.is((e as IdxError).code, code, (e as Error).message);
    return;
  }
  assert.unreachable(`expected IdxError ${code}`);
}

test('idx: raw and gzipped files of several shapes parse to the same dims and bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'splitee-idx-'));
  try {
    for (const [k, dims] of ([[7], [3, 5, 4], [2, 28, 28], [1, 1], [5, 3, 2, 3]] as number[][]).entries()) {
      const n = dims.reduce((a, b) => a * b, 1);
      const data = randomBytes(n, 100 + k);
      const bytes = idxBytes(dims, data);
      for (const gz of [false, true]) {
        const file = join(dir, `t${k}${gz ? '.gz' : ''}`);
        writeFileSync(file, gz ? gzipSync(bytes) : bytes);
        const arr = await readIdxFile(file);
        assert.equal(arr.dims, dims);
        assert.equal(Array.from(arr.data), Array.from(data));
      }
    }
    // The shape check of readIdxFile.
    writeFileSync(join(dir, 'img'), idxBytes([2, 28, 27], randomBytes(2 * 28 * 27, 9)));
    try {
      await readIdxFile(join(dir, 'img'), [null, 28, 28]);
      assert.unreachable('shape not checked');
    } catch (e) {
      assert.is((e as IdxError).code, 'IDX_SHAPE');
      assert.match((e as Error).message, /28×27/);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('idx: corrupt inputs give typed errors', () => {
  const good = idxBytes([3, 4], randomBytes(12, 5));
  expectIdxError(() => parseIdx(good.subarray(0, 3)), 'IDX_TRUNCATED');
  expectIdxError(() => parseIdx(good.subarray(0, 10)), 'IDX_TRUNCATED'); // header cut
  expectIdxError(() => parseIdx(good.subarray(0, good.length - 1)), 'IDX_TRUNCATED'); // body cut
  const extra = new Uint8Array(good.length + 2); extra.set(good);
  expectIdxError(() => parseIdx(extra), 'IDX_LENGTH');
  const magic = good.slice(); magic[0] = 1;
  expectIdxError(() => parseIdx(magic), 'IDX_BAD_MAGIC');
  const type = good.slice(); type[2] = 0x0d; // float32 idx: valid format, not supported
  expectIdxError(() => parseIdx(type), 'IDX_UNSUPPORTED');
  expectIdxError(() => parseIdx(idxBytes([3, 4], randomBytes(12, 5), 0)), 'IDX_BAD_MAGIC');
  expectIdxError(() => parseIdx(idxBytes([3, 4], randomBytes(12, 5), 9)), 'IDX_BAD_MAGIC');
  const gz = gzipSync(good);
  expectIdxError(() => parseIdx(gz.subarray(0, gz.length - 6)), 'IDX_GZIP');
  const flipped = Uint8Array.from(gz); flipped[12] ^= 0xff;
  expectIdxError(() => parseIdx(flipped), 'IDX_GZIP');
  assert.equal(parseIdx(good).dims, [3, 4]);
});

test('mulberry32 agrees with the independent copy in test/util.ts and with Python', () => {
  for (const seed of [0, 1, 12345, 0xdeadbeef, 0xffffffff]) {
    const a = new Mulberry32(seed), b = rng(seed);
    for (let i = 0; i < 200; i++) assert.is(a.nextU32(), b.next() * 4294967296, `seed ${seed} draw ${i}`);
  }
  const m = new Mulberry32(12345);
  assert.equal([m.nextU32(), m.nextU32(), m.nextU32(), m.nextU32()], [4207900869, 1317490944, 2079646450, 3513001552]);
  // Python: sample_seed(NOISE_SEED, 0..2)
  assert.equal([0, 1, 2].map((i) => sampleSeed(NOISE_SEED, i)), [2187033592, 1257480474, 4179871330]);
  // The open-interval uniform, by hand: (u32 + 0.5) / 2^32.
  assert.is(new Mulberry32(12345).nextUniform(), (4207900869 + 0.5) / 4294967296);
});

test('Box-Muller draws: by hand and against Python', () => {
  // By hand from the first two uniforms of sample 7's generator.
  const g = new Mulberry32(sampleSeed(NOISE_SEED, 7));
  const u1 = g.nextUniform(), u2 = g.nextUniform();
  const z = fillStandardNormal(new Mulberry32(sampleSeed(NOISE_SEED, 7)), new Float64Array(6));
  assert.is(z[0], Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
  assert.is(z[1], Math.sqrt(-2 * Math.log(u1)) * Math.sin(2 * Math.PI * u2));
  // Python (glibc libm); V8 uses its own libm, so allow the last bit or two.
  assertClose(z, [-1.4334893933656718, 0.7734331703638906, 0.7684337058082451, 0.0562859890961945,
    -0.6997889866589098, -0.2337890975306559], 1e-15, 1e-15, 'z');
  // Odd length: the last sine is dropped, the cosines are unchanged.
  const odd = fillStandardNormal(new Mulberry32(sampleSeed(NOISE_SEED, 7)), new Float64Array(5));
  assert.equal(Array.from(odd), Array.from(z.subarray(0, 5)));
});

test('noise: pinned small cases from Python (even and odd sizes), bit for bit', () => {
  const img4 = Float32Array.from({ length: 16 }, (_, i) => i / 16);
  assert.equal(Array.from(addGaussianNoise(img4, 3, { sigma: 0.4, seed: NOISE_SEED })), [0.0, 0.0, 0.7913873195648193,
    0.9316473603248596, 0.3039034307003021, 0.0969020426273346, 0.0, 0.39630481600761414, 0.590501070022583,
    0.443151593208313, 0.1286424994468689, 0.9344050288200378, 0.25616636872291565, 1.0, 1.0, 0.5019853711128235]);
  const img3 = Float32Array.from({ length: 9 }, (_, i) => i / 8);
  assert.equal(Array.from(addGaussianNoise(img3, 7, { sigma: 0.4 })), [0.0, 0.43437325954437256, 0.5573734641075134,
    0.3975144028663635, 0.22008439898490906, 0.5314843654632568, 0.8882574439048767, 0.33058151602745056, 1.0]);
});

test('noise: deterministic per (seed, index), order-independent, clipped, sane statistics', () => {
  const r = rng(42);
  const img = Float32Array.from({ length: 28 * 28 }, () => r.next());
  const a = addGaussianNoise(img, 11);
  addGaussianNoise(img, 12); // drawing another sample in between changes nothing
  assert.equal(Array.from(addGaussianNoise(img, 11)), Array.from(a));
  assert.not.equal(Array.from(addGaussianNoise(img, 12)), Array.from(a));
  assert.not.equal(Array.from(addGaussianNoise(img, 11, { seed: 7 })), Array.from(a));
  assert.ok(a.every((v) => v >= 0 && v <= 1));
  assert.equal(Array.from(addGaussianNoise(img, 5, { sigma: 0 })), Array.from(img));

  // Mid-grey image, small σ so clipping never happens: the added noise has mean 0 and std σ.
  const n = 64 * 64, sigma = 0.05;
  let s1 = 0, s2 = 0, within1 = 0;
  for (let idx = 0; idx < 10; idx++) {
    const out = addGaussianNoise(new Float32Array(n).fill(0.5), idx, { sigma });
    for (const v of out) { const d = (v - 0.5) / sigma; s1 += d; s2 += d * d; if (Math.abs(d) < 1) within1++; }
  }
  const m = s1 / (10 * n), sd = Math.sqrt(s2 / (10 * n) - m * m);
  assert.ok(Math.abs(m) < 0.02, `mean ${m}`);
  assert.ok(Math.abs(sd - 1) < 0.02, `std ${sd}`);
  assert.ok(Math.abs(within1 / (10 * n) - 0.6827) < 0.01, `P(|z|<1) ${within1 / (10 * n)}`);

  // The default stream σ: on a black image half the pixels clip to 0, the rest are |N(0, σ²)| (mean σ·√(2/π)).
  const black = addGaussianNoise(new Float32Array(n), 3);
  const pos = Array.from(black).filter((v) => v > 0);
  assert.ok(Math.abs(pos.length / n - 0.5) < 0.03, `positive fraction ${pos.length / n}`);
  const halfMean = pos.reduce((a, b) => a + b, 0) / pos.length;
  assert.ok(Math.abs(halfMean - NOISE_SIGMA * Math.sqrt(2 / Math.PI)) < 0.02, `half-normal mean ${halfMean}`);

  assert.throws(() => addGaussianNoise(img, -1), (e: unknown) => e instanceof DistortError);
  assert.throws(() => addGaussianNoise(img, 1.5), (e: unknown) => e instanceof DistortError);
  assert.throws(() => addGaussianNoise(img, 0, { sigma: NaN }), (e: unknown) => e instanceof DistortError);
});

test('blur: impulse response is the outer product of the taps (by hand), pinned Python case', () => {
  const r = (BLUR_TAPS.length - 1) / 2, div2 = BLUR_DIVISOR * BLUR_DIVISOR;
  assert.is(BLUR_TAPS.reduce((a, b) => a + b, 0), BLUR_DIVISOR);
  for (const [h, w, y0, x0] of [[13, 13, 6, 6], [15, 17, 7, 8], [13, 16, 6, 9], [5, 4, 1, 2]]) {
    const img = new Float32Array(h * w);
    img[y0 * w + x0] = 1;
    const out = blurImage(img, h, w);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const dy = y - y0 + r, dx = x - x0 + r;
      const inside = dy >= 0 && dy < BLUR_TAPS.length && dx >= 0 && dx < BLUR_TAPS.length;
      assert.is(out[y * w + x], Math.fround(inside ? (BLUR_TAPS[dy] * BLUR_TAPS[dx]) / div2 : 0), `(${y},${x}) of ${h}×${w}`);
    }
  }
  const img4 = Float32Array.from({ length: 16 }, (_, i) => i / 16);
  assert.equal(Array.from(blurImage(img4, 4, 4)), [0.11057596653699875, 0.14543640613555908, 0.1547008752822876,
    0.1323923021554947, 0.17196407914161682, 0.22334939241409302, 0.2347937375307083, 0.19891367852687836,
    0.20902198553085327, 0.2691267728805542, 0.2805711328983307, 0.2359715700149536, 0.1978413164615631,
    0.25323477387428284, 0.26249927282333374, 0.21965765953063965]);
});

test('blur: a constant image stays constant in the interior, fades at zero-padded borders; channels separate', () => {
  const rg = rng(3);
  const r = (BLUR_TAPS.length - 1) / 2;
  // At a corner only the centre tap and the r taps on one side see the image: (their sum / divisor)² of the mass.
  const edge = BLUR_TAPS.slice(r).reduce((a, b) => a + b, 0) / BLUR_DIVISOR;
  for (const [h, w] of [[28, 28], [14, 21], [13, 13]]) {
    const c = Math.fround(rg.uniform(0.1, 0.9));
    const out = blurImage(new Float32Array(h * w).fill(c), h, w);
    let interior = 0;
    for (let y = r; y < h - r; y++) for (let x = r; x < w - r; x++) { assertClose([out[y * w + x]], [c], 1e-7, 0, `${h}×${w}`); interior++; }
    assert.ok(interior > 0);
    assertClose([out[0]], [c * edge * edge], 1e-6, 0, 'corner');
    assert.ok(out[0] < c * 0.5, 'corner loses the padded mass');
  }
  // Two planes blur independently: [A, B] → [blur A, blur B].
  const a = Float32Array.from({ length: 6 * 7 }, () => rg.next()), b = Float32Array.from({ length: 6 * 7 }, () => rg.next());
  const both = new Float32Array(84); both.set(a); both.set(b, 42);
  const out = blurImage(both, 6, 7);
  assert.equal(Array.from(out.subarray(0, 42)), Array.from(blurImage(a, 6, 7)));
  assert.equal(Array.from(out.subarray(42)), Array.from(blurImage(b, 6, 7)));
  assert.throws(() => blurImage(new Float32Array(10), 3, 3), (e: unknown) => e instanceof DistortError);
  assert.throws(() => blurImage(new Float32Array(9), 3, 3, [1, 1], 2), (e: unknown) => e instanceof DistortError);
});

test('bytesToUnit and preprocessImage', () => {
  const bytes = randomBytes(784, 8);
  const unit = bytesToUnit(bytes);
  for (let i = 0; i < 784; i++) assert.is(unit[i], Math.fround(bytes[i] / 255));
  const pre = { kind: 'image' as const, scale: 1 / 255, mean: [0.286], std: [0.353] };
  const y = preprocessImage(unit, pre);
  for (let i = 0; i < 784; i++) assert.is(y[i], Math.fround((unit[i] - 0.286) / 0.353));
  // Bytes are scaled first; the result agrees with the float path to float32 precision.
  assertClose(preprocessImage(bytes, pre), y, 1e-6, 1e-6, 'bytes vs unit');
  // Per-channel statistics on a 3-channel image.
  const rgb = Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => (i % 11) / 10);
  const p3 = { kind: 'image' as const, scale: 1, mean: [0.1, 0.2, 0.3], std: [0.5, 0.25, 2] };
  const o = preprocessImage(rgb, p3);
  for (let i = 0; i < rgb.length; i++) {
    const c = Math.floor(i / 20);
    assert.is(o[i], Math.fround((rgb[i] - p3.mean[c]) / p3.std[c]));
  }
  const bad = (p: unknown, px: Float32Array | Uint8Array = unit) =>
    assert.throws(() => preprocessImage(px, p as typeof pre), (e: unknown) => e instanceof PreprocessError);
  bad({ kind: 'tokenizer' });
  bad({ ...pre, std: [0] });
  bad({ ...pre, mean: [0.1, 0.2] });
  bad({ ...pre, mean: [0.1, 0.2, 0.3], std: [1, 1, 1] }, new Float32Array(10));
  bad({ ...pre, scale: undefined }, bytes);
});

// ---------------------------------------------------------------- the samples shipped in the package

function sameSamples(a: DataStream, b: DataStream, n: number) {
  assert.is(a.samples.length, n);
  assert.is(b.samples.length, n);
  for (let i = 0; i < n; i++) {
    const x = a.samples[i], y = b.samples[i];
    assert.is(x.index, y.index);
    assert.is(x.label, y.label, `label of sample ${i}`);
    if (typeof x.input === 'string') assert.is(x.input, y.input as string);
    else assert.ok(Buffer.from((x.input as Float32Array).buffer).equals(Buffer.from((y.input as Float32Array).buffer)), `pixels of sample ${i}`);
  }
}

test('samples: the shipped Fashion-MNIST sample is the first 1,000 test images, bit for bit, with the distortions', async () => {
  for (const name of ['fmnist:test', 'fmnist:test:noise', 'fmnist:test:blur']) {
    const sample = await readDemoSamples(name);
    const full = await openStream(name, { limit: 1000 });
    assert.is(sample.source, 'sample');
    assert.is(full.source, 'full');
    assert.is(sample.name, name);
    assert.is(sample.total, 1000);
    assert.equal(sample.classes, full.classes);
    sameSamples(sample, full, 1000);
  }
  const labels = new Set((await readDemoSamples('fmnist-cnn')).samples.map((s) => s.label));
  assert.is(labels.size, 10, 'every class is in the sample');
});

test('samples: the shipped SST-2 sample is the whole dev set', async () => {
  const sample = await readDemoSamples('sst2-transformer');
  const full = await openStream('sst2:dev');
  assert.is(sample.name, 'sst2:dev');
  assert.is(full.size, 872);
  sameSamples(sample, full, 872);
});

test('samples: the committed files are what scripts/make-samples.mjs writes from the datasets', () => {
  const root = packageRoot()!;
  // The datasets root as `splitee` finds it (the folder holding fashion-mnist/ and sst2/).
  const datasets = dataDirCandidates().map((c) => c.dir)
    .find((d) => existsSync(join(d, 'fashion-mnist')) && existsSync(join(d, 'sst2', 'dev.tsv')));
  assert.ok(datasets, 'no datasets folder with fashion-mnist/ and sst2/ (see README, "Data")');
  const out = mkdtempSync(join(tmpdir(), 'splitee-samples-'));
  execFileSync(process.execPath, [join(root, 'scripts', 'make-samples.mjs'), datasets!, out], { stdio: 'pipe' });
  for (const f of ['fmnist-test.bin.gz', 'sst2-dev.bin.gz']) {
    assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(root, 'samples', f))), `${f} differs from the script's output`);
  }
  rmSync(out, { recursive: true });
});

test('samples: core decoder (gzipped or not), limit, names, URL and typed errors', async () => {
  const gz = new Uint8Array(readFileSync(demoSamplePath('fmnist:test')));
  assert.is(demoSampleFile('fmnist-cnn'), 'samples/fmnist-test.bin.gz');
  assert.is(demoSampleFile('sst2:dev'), 'samples/sst2-dev.bin.gz');
  assert.ok(demoSampleUrl('fmnist:test:blur').href.endsWith('/samples/fmnist-test.bin.gz'));
  const a = await demoSamples('fmnist-cnn', gz, { limit: 37 });
  const b = await demoSamples('fmnist:test', new Uint8Array(gunzipSync(gz)), { limit: 37 });
  const c = await demoSamples('fmnist:test', gz.slice().buffer, { limit: 37 }); // an ArrayBuffer, as fetch gives
  assert.is(a.size, 37);
  sameSamples(a, b, 37);
  sameSamples(a, c, 37);
  const expectSample = async (f: () => Promise<unknown>, code: string) => {
    try { await f(); } catch (e) {
      assert.instance(e, SampleError);
      assert.is((e as SampleError).code, code, (e as Error).message);
      return;
    }
    assert.unreachable(`expected SampleError ${code}`);
  };
  await expectSample(() => demoSamples('kotzias:imdb', gz), 'UNKNOWN_SAMPLE');
  await expectSample(() => demoSamples('resnet', gz), 'UNKNOWN_SAMPLE');
  await expectSample(() => demoSamples('fmnist:test', gz, { limit: 0 }), 'BAD_LIMIT');
  await expectSample(() => demoSamples('sst2:dev', gz), 'BAD_SAMPLE'); // the image file given for the text stream
  await expectSample(() => demoSamples('fmnist:test', gz.subarray(0, gz.length - 100)), 'BAD_SAMPLE'); // truncated gzip
  const raw = new Uint8Array(gunzipSync(gz));
  await expectSample(() => demoSamples('fmnist:test', raw.subarray(0, raw.length - 1)), 'BAD_SAMPLE'); // one pixel short
  const badMagic = raw.slice(); badMagic[0] = 0x58;
  await expectSample(() => demoSamples('fmnist:test', badMagic), 'BAD_SAMPLE');
  await expectSample(() => demoSamples('fmnist:test', new Uint8Array(3)), 'BAD_SAMPLE');
  await expectSample(() => demoSamples('fmnist:test', 'abc' as unknown as Uint8Array), 'BAD_SAMPLE');
});

test('samples: openStream uses them only when asked (auto, only) and never behind an explicit --data-dir', async () => {
  const only = await openStream('sst2:dev', { samples: 'only', limit: 5 });
  assert.is(only.source, 'sample');
  assert.is(only.size, 5);
  const auto = await openStream('sst2:dev', { samples: 'auto', limit: 5 }); // the datasets are installed here
  assert.is(auto.source, 'full');
  const empty = mkdtempSync(join(tmpdir(), 'splitee-nodata-'));
  try {
    await openStream('fmnist:test', { samples: 'auto', dataDir: empty });
    assert.unreachable('an explicit data folder without the dataset must fail');
  } catch (e) { assert.instance(e, DatasetNotFoundError); }
  rmSync(empty, { recursive: true });
});

test.run();
