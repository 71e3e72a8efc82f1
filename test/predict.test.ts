// predict(model, input, { topK }) and `splitee predict`: pictures of any size and format reach the same input as the
// dataset's pixels; the exit that answers is the first reaching α (checked against every exit computed separately);
// bad inputs get an InputError naming what was expected and what was given.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import jpeg from 'jpeg-js';
import { checkModelInput, createInputEncoder, InputError, loadModel, packageRoot, predict, readDemoSamples, type Model } from '../src/node.js';
import { encodePng, simplePng } from './image-png.js';
import { rng } from './util.js';

const fmnist = await loadModel('fmnist-cnn');
const sst2 = await loadModel('sst2-transformer');
const images = await readDemoSamples('fmnist-cnn', { limit: 40 });
const texts = await readDemoSamples('sst2-transformer', { limit: 40 });

/** A gray 28×28 sample as 8-bit bytes (the samples are byte / 255, so this is exact). */
function sampleBytes(i: number): Uint8Array {
  return Uint8Array.from(images.samples[i].input as Float32Array, (v) => Math.round(v * 255));
}

/** Expected answer computed separately: every exit, then the first with confidence ≥ α, else the last. */
async function reference(m: Model, x: Float32Array | Int32Array, alpha: number) {
  const exits = await m.exits(x);
  const k = exits.findIndex((e) => e.confidence >= alpha);
  const e = k >= 0 ? exits[k] : exits[exits.length - 1];
  return { exit: k >= 0 ? k + 1 : exits.length, probs: Array.from(e.probs) };
}

function expectInputError(fn: () => unknown, expected: RegExp, got: RegExp) {
  try { fn(); } catch (e) {
    assert.instance(e, InputError, String(e));
    assert.is((e as InputError).code, 'BAD_INPUT');
    assert.match((e as InputError).expected, expected);
    assert.match((e as InputError).got, got);
    return;
  }
  assert.unreachable('expected InputError');
}

async function expectInputErrorAsync(p: Promise<unknown>, re: RegExp) {
  try { await p; } catch (e) {
    assert.instance(e, InputError, String(e));
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected InputError');
}

test('images: a PNG at 28×28 gray, at 4× in RGB, RGBA and 16-bit gray all give the dataset pixels\' prediction', async () => {
  const encode = createInputEncoder(fmnist.header);
  for (let i = 0; i < 12; i++) {
    const px = sampleBytes(i);
    const x = encode(images.samples[i].input) as Float32Array;
    const want = await reference(fmnist, x, 0.9);
    const big = 112;
    const rgb = new Uint8Array(big * big * 3), rgba = new Uint8Array(big * big * 4);
    for (let y = 0; y < big; y++) for (let xx = 0; xx < big; xx++) {
      const v = px[(y >> 2) * 28 + (xx >> 2)];
      rgb.set([v, v, v], (y * big + xx) * 3);
      rgba.set([v, v, v, 255], (y * big + xx) * 4);
    }
    const files = [
      simplePng(28, 28, 1, px), simplePng(big, big, 3, rgb), simplePng(big, big, 4, rgba),
      encodePng({ width: 28, height: 28, colorType: 0, bitDepth: 16, samples: Array.from(px, (v) => v * 257), interlace: true, filters: (r) => r % 5 }),
    ];
    for (const f of files) {
      const preds = await predict(fmnist, f, { topK: 10 });
      assert.is(preds.length, 10);
      assert.is(preds[0].exit, want.exit, `sample ${i}: exit`);
      for (const p of preds) {
        const c = fmnist.classes.indexOf(p.label);
        assert.ok(c >= 0, p.label);
        assert.ok(Math.abs(p.score - want.probs[c]) < 1e-5, `sample ${i} ${p.label}: ${p.score} vs ${want.probs[c]}`);
      }
      for (let k = 1; k < preds.length; k++) assert.ok(preds[k - 1].score >= preds[k].score, 'best first');
    }
  }
});

test('images: JPEG and odd sizes are converted; the default top-k is 5; exit and alpha options', async () => {
  const px = sampleBytes(0);
  const w = 57, h = 43, rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = px[Math.floor((y * 28) / h) * 28 + Math.floor((x * 28) / w)];
    rgba.set([v, v, v, 255], (y * w + x) * 4);
  }
  const file = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
  const preds = await predict(fmnist, file);
  assert.is(preds.length, 5);
  assert.is(preds[0].label, images.classes[images.samples[0].label], 'a stretched JPEG of an ankle boot is still one');
  const last = await predict(fmnist, px, { alpha: 1.01, topK: 1 });
  assert.is(last[0].exit, 7);
  const x = createInputEncoder(fmnist.header)(px) as Float32Array;
  for (let k = 1; k <= 7; k++) {
    const p = await predict(fmnist, px, { exit: k, topK: 3 });
    const e = await fmnist.exit(k, await fmnist.run(x, { to: k }));
    assert.is(p[0].exit, k);
    assert.is(p[0].score, Math.max(...e.probs));
  }
  const twice = await predict(fmnist, px.buffer as ArrayBuffer, { topK: 2 });
  assert.is(twice.length, 2);
  // invert: the negative of a dark-on-light picture is the dataset's light-on-dark one, in every input form.
  const direct = await predict(fmnist, px, { topK: 3 });
  const negative = Uint8Array.from(px, (v) => 255 - v);
  for (const form of [negative, simplePng(28, 28, 1, negative), { width: 28, height: 28, data: negative },
    Float32Array.from(negative, (v) => v / 255)]) {
    const inv = await predict(fmnist, form, { topK: 3, invert: true });
    assert.equal(inv.map((q) => q.label), direct.map((q) => q.label));
    inv.forEach((q, k) => assert.ok(Math.abs(q.score - direct[k].score) < 1e-5));
  }
  await expectInputErrorAsync(predict(sst2, 'fine', { invert: true }), /invert \(image models only\)/);
});

test('text: predict on sentences equals the tokenizer + every-exit reference; default top-k 1', async () => {
  const encode = createInputEncoder(sst2.header);
  let agree = 0;
  for (const s of texts.samples) {
    const ids = encode(s.input) as Int32Array;
    for (const alpha of [0.6, 0.9]) {
      const want = await reference(sst2, ids, alpha);
      const preds = await predict(sst2, s.input as string, { alpha });
      assert.is(preds.length, 1);
      assert.is(preds[0].exit, want.exit);
      const c = sst2.classes.indexOf(preds[0].label);
      assert.is(preds[0].score, Math.max(...want.probs));
      assert.is(c, want.probs.indexOf(Math.max(...want.probs)));
      if (alpha === 0.9 && c === s.label) agree++;
    }
    const byIds = await predict(sst2, ids, { topK: 2 });
    assert.is(byIds.length, 2);
    assert.equal(byIds.map((p) => p.label).sort(), ['negative', 'positive']);
  }
  assert.ok(agree >= 28, `${agree}/40 right`);
});

test('bad inputs: typed errors naming what was expected and what was given', async () => {
  const img = createInputEncoder(fmnist.header);
  const txt = createInputEncoder(sst2.header);
  expectInputError(() => img(new Uint8Array(100)), /784 gray pixels \(1×28×28\)/, /Uint8Array of 100 values/);
  expectInputError(() => img(new Uint8ClampedArray(3136)), /784 gray pixels/, /3136/);
  try { img(new Uint8ClampedArray(3136)); } catch (e) { assert.match((e as Error).message, /RGBA 28×28/); }
  expectInputError(() => img(new Float32Array(784).fill(Number.NaN)), /784 gray pixels/, /NaN at index 0/);
  const f = new Float32Array(784); f[5] = 200;
  expectInputError(() => img(f), /784 gray pixels/, /200 at index 5/);
  expectInputError(() => img('a shoe'), /an image for fmnist-cnn/, /a string/);
  expectInputError(() => img([1, 2, 3] as unknown as Uint8Array), /an image/, /an Array of 3 values/);
  expectInputError(() => img(undefined as unknown as Uint8Array), /an image/, /undefined/);
  expectInputError(() => img({ width: 2, height: 2, data: new Uint8Array(7) }), /picture/, /2×2 image/);
  expectInputError(() => txt(new Float32Array(10)), /a string, or an Int32Array of 1\.\.64 token ids in 0\.\.2047/, /Float32Array/);
  expectInputError(() => txt(Int32Array.from([1, 2048])), /token ids/, /token id 2048 at position 1/);
  expectInputError(() => txt(Int32Array.from([-1])), /token ids/, /token id -1/);
  expectInputError(() => txt(new Int32Array(0)), /token ids/, /Int32Array of 0 values/);
  expectInputError(() => txt(new Int32Array(65)), /1\.\.64/, /65 values/);
  expectInputError(() => txt(42 as unknown as string), /a string/, /a number/);
  // The engine-level check (already preprocessed inputs).
  expectInputError(() => checkModelInput(fmnist.header, new Uint8Array(784)), /Float32Array of 784 values/, /Uint8Array/);
  expectInputError(() => checkModelInput(fmnist.header, new Float32Array(783)), /784/, /783/);
  expectInputError(() => checkModelInput(sst2.header, new Float32Array(3)), /Int32Array/, /Float32Array/);
  expectInputError(() => checkModelInput(sst2.header, Int32Array.from([5, 99999])), /token ids/, /99999/);
  checkModelInput(fmnist.header, img(sampleBytes(1)));
  checkModelInput(sst2.header, txt('fine'));
  await expectInputErrorAsync(predict(fmnist, sampleBytes(0), { topK: 0 }), /topK 0/);
  await expectInputErrorAsync(predict(fmnist, sampleBytes(0), { exit: 8 }), /exit 8/);
  await expectInputErrorAsync(predict(sst2, simplePng(2, 2, 1, new Uint8Array(4))), /takes text, not pixels/);
});

// ---------------------------------------------------------------- the command

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'splitee.js');
async function splitee(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('splitee predict: an image file and a text, top-k with names and scores, the exit that answered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'splitee-predict-'));
  const r = rng(5);
  const i = r.int(0, 40);
  const png = join(dir, 'item.png');
  const file = simplePng(28, 28, 1, sampleBytes(i));
  writeFileSync(png, file);
  const want = await predict(fmnist, file, { topK: 3 }); // the same bytes through the API: the same numbers
  const j = await splitee(['predict', '--model', 'fmnist-cnn', png, '--top-k', '3', '--json']);
  assert.is(j.code, 0, j.stderr);
  const out = JSON.parse(j.stdout);
  assert.equal(Object.keys(out), ['model', 'input', 'exit', 'numExits', 'predictions']);
  assert.is(out.exit, want[0].exit);
  assert.is(out.numExits, 7);
  assert.equal(out.predictions, want.map(({ label, score }) => ({ label, score })));
  const plain = await splitee(['predict', '--model', 'fmnist-cnn', png]);
  assert.is(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, new RegExp(`exit ${want[0].exit} of 7 answered`));
  assert.match(plain.stdout, new RegExp(want[0].label.replace('/', '\\/')));
  const t = await splitee(['predict', '--model', 'sst2-transformer', 'an utterly charming and hilarious film', '--json', '--alpha', '1']);
  assert.is(t.code, 0, t.stderr);
  const tj = JSON.parse(t.stdout);
  assert.is(tj.exit, 6);
  assert.is(tj.predictions[0].label, 'positive');
  const notImage = join(dir, 'notes.txt');
  writeFileSync(notImage, 'hello');
  const bad = await splitee(['predict', '--model', 'fmnist-cnn', notImage]);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /not a PNG or JPEG file/);
  const missing = await splitee(['predict', '--model', 'fmnist-cnn']);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /which image\?/);
  const two = await splitee(['predict', '--model', 'sst2-transformer', 'great', 'film']);
  assert.is(two.code, 2);
  assert.match(two.stderr, /unexpected argument 'film'/);
});

test.run();
