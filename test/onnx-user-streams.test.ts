// The user's own data as streams for imported models: images:DIR (class folders of PNGs, converted and resized to
// the model's input), jsonl:FILE and tsv:FILE, their labels and errors, and an imported model evaluated on them.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluateStream } from '../src/cli/eval.js';
import { DataError } from '../src/data/paths.js';
import { isUserStreamSpec, openUserStream } from '../src/data/user-streams.js';
import { loadModelBytes } from '../src/index.js';
import { packageRoot } from '../src/node.js';
import { importOnnx } from '../src/onnx/index.js';
import { encodePng } from '../src/report/png.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-user-streams-'));

async function code(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { if (e instanceof DataError) return e.code; throw e; }
  return 'ok';
}

/** A class folder tree of gray and RGB PNGs whose every pixel has one known value. */
function makeImageDir(): { dir: string; values: Record<string, number[]> } {
  const dir = join(tmp, 'imgs');
  const values: Record<string, number[]> = { cat: [10, 200], dog: [90], bird: [255, 0, 128] };
  for (const [cls, vs] of Object.entries(values)) {
    mkdirSync(join(dir, cls), { recursive: true });
    vs.forEach((v, i) => {
      const rgb = i % 2 === 1;
      const w = 5 + i, h = 7;
      writeFileSync(join(dir, cls, `p${i}.png`), encodePng(w, h, rgb ? 3 : 1, new Array(w * h * (rgb ? 3 : 1)).fill(v)));
    });
  }
  writeFileSync(join(dir, 'cat', 'notes.txt'), 'not an image');
  return { dir, values };
}

test('spec names', () => {
  assert.ok(isUserStreamSpec('images:/x'));
  assert.ok(isUserStreamSpec('jsonl:a.jsonl'));
  assert.ok(isUserStreamSpec('tsv:a.tsv'));
  assert.not.ok(isUserStreamSpec('fmnist:test'));
  assert.not.ok(isUserStreamSpec('images:'));
});

test('images:DIR: folders matched to the model classes, pictures resized to [C, H, W] in [0, 1], classes interleaved', async () => {
  const { dir, values } = makeImageDir();
  const classes = ['bird', 'cat', 'dog', 'fish'];
  const s = await openUserStream(`images:${dir}`, { shape: [3, 4, 4], classes });
  assert.is(s.kind, 'image');
  assert.is(s.size, 6);
  assert.equal(s.classes, classes);
  if (s.kind !== 'image') return;
  assert.equal(s.shape, [3, 4, 4]);
  // Interleaved by class: bird, cat, dog, bird, cat, bird (folders sorted, files sorted within each).
  assert.equal(s.samples.map((x) => classes[x.label]), ['bird', 'cat', 'dog', 'bird', 'cat', 'bird']);
  const seen: Record<string, number[]> = { bird: [], cat: [], dog: [] };
  for (const x of s.samples) {
    assert.is(x.input.length, 48);
    const v = x.input[0];
    assert.ok(x.input.every((p) => Math.abs(p - v) < 1e-6), 'a uniform picture stays uniform');
    seen[classes[x.label]].push(Math.round(v * 255));
  }
  for (const [cls, vs] of Object.entries(values)) assert.equal(seen[cls], vs);
  // Without the model's classes: the folder names, sorted.
  const plain = await openUserStream(`images:${dir}`, { shape: [1, 2, 2], limit: 2 });
  assert.equal(plain.classes, ['bird', 'cat', 'dog']);
  assert.is(plain.size, 2);
  assert.is(plain.total, 6);
  assert.is(await code(openUserStream(`images:${dir}`, {})), 'NEEDS_MODEL');
  assert.is(await code(openUserStream(`images:${dir}`, { shape: [1, 2, 2], classes: ['a', 'b'] })), 'BAD_LABEL');
  assert.is(await code(openUserStream(`images:${join(tmp, 'missing')}`, { shape: [1, 2, 2] })), 'NOT_FOUND');
});

test('jsonl:FILE: pixels or text, labels as indices or class names, line-numbered errors', async () => {
  const f = join(tmp, 'a.jsonl');
  writeFileSync(f, '{"input":[0,0.5,1,0.25],"label":1}\n\n{"input":[1,1,1,1],"label":"b"}\n');
  const s = await openUserStream(`jsonl:${f}`, { shape: [1, 2, 2], classes: ['a', 'b'] });
  assert.is(s.kind, 'image');
  assert.equal(s.samples.map((x) => x.label), [1, 1]);
  assert.equal(Array.from(s.samples[0].input as Float32Array), [0, 0.5, 1, 0.25]);
  writeFileSync(f, '{"input":"a fine film","label":1}\n{"text":"dull","label":0}\n');
  const t = await openUserStream(`jsonl:${f}`);
  assert.is(t.kind, 'text');
  assert.equal(t.samples.map((x) => x.input), ['a fine film', 'dull']);
  assert.equal(t.classes, ['0', '1']);
  writeFileSync(f, '{"input":[0,1],"label":0}\n{"input":[0,1,1],"label":0}\n');
  assert.is(await code(openUserStream(`jsonl:${f}`)), 'BAD_LINE');
  writeFileSync(f, '{"input":[0,1],"label":0}\nnot json\n');
  try { await openUserStream(`jsonl:${f}`); assert.unreachable(); } catch (e) { assert.match((e as Error).message, /a\.jsonl:2/); }
  writeFileSync(f, '{"input":[0,1],"label":7}\n');
  assert.is(await code(openUserStream(`jsonl:${f}`, { classes: ['x', 'y'] })), 'BAD_LABEL');
});

test('tsv:FILE: label<TAB>text', async () => {
  const f = join(tmp, 'a.tsv');
  writeFileSync(f, '1\tgreat fun\npositive\ttabs\tinside stay\n0\tbad\n');
  const s = await openUserStream(`tsv:${f}`, { classes: ['negative', 'positive'] });
  assert.equal(s.samples.map((x) => [x.label, x.input]), [[1, 'great fun'], [1, 'tabs\tinside stay'], [0, 'bad']]);
  writeFileSync(f, 'no tab here\n');
  assert.is(await code(openUserStream(`tsv:${f}`)), 'BAD_LINE');
});

test('an imported model evaluated on images:DIR (pictures → pixels → preprocess → every exit)', async () => {
  const { dir } = makeImageDir();
  const onnx = new Uint8Array(readFileSync(join(packageRoot, 'test', 'fixtures', 'onnx', 'mbv2.onnx')));
  const model = await loadModelBytes(importOnnx(onnx, { classes: ['bird', 'cat', 'dog', 'eel', 'fox'] }));
  const h = model.header;
  const stream = await openUserStream(`images:${dir}`, { shape: h.input.kind === 'image' ? h.input.shape : undefined, classes: h.classes });
  const res = await evaluateStream(model, stream);
  assert.is(res.n, 6);
  assert.is(res.exits.length, 3);
  // The same by hand: an import's default preprocess (mean 0, std 1) leaves the stream's [0, 1] pixels as they are.
  let correct = 0;
  for (const sm of stream.samples) {
    const exits = await model.exits(sm.input as Float32Array);
    if (exits[2].label === sm.label) correct++;
  }
  assert.is(res.exits[2].accuracy, correct / 6);
  model.dispose();
});

test.run();
