// `splitee import` and `splitee exits` as a user runs them (child processes): import with --check against ONNX
// Runtime, the imported file working with `exits` and `info`, and the errors (unsupported ops, bad inputs).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModelBytes, parseSpx } from '../src/index.js';
import { packageRoot } from '../src/node.js';
import { sha256Hex } from '../src/onnx/sha256.js';
import { encodePng } from '../src/report/png.js';
import { rng } from './util.js';

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'splitee.js');
const fixtures = join(packageRoot, 'test', 'fixtures', 'onnx');
const tmp = mkdtempSync(join(tmpdir(), 'splitee-import-'));

async function splitee(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { maxBuffer: 64 << 20, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('import --check --json: the file is written, every exit agrees with ONNX Runtime, provenance holds the digest', async () => {
  const out = join(tmp, 'lenet.spx');
  const r = await splitee(['import', join(fixtures, 'lenet.onnx'), '--out', out, '--classes', 'w,x,y,z', '--name', 'lenet', '--check', '--samples', '4', '--json']);
  assert.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.is(s.check.ok, true);
  assert.is(s.check.perExit.length, 3);
  assert.ok(s.check.maxAbsDiff <= 1e-4, String(s.check.maxAbsDiff));
  const h = parseSpx(new Uint8Array(readFileSync(out))).header;
  assert.is(h.name, 'lenet');
  assert.equal(h.classes, ['w', 'x', 'y', 'z']);
  const onnx = readFileSync(join(fixtures, 'lenet.onnx'));
  const digest = createHash('sha256').update(onnx).digest('hex');
  assert.is((h.provenance!.source as { sha256: string }).sha256, digest);
  assert.is(h.provenance!.file, 'lenet.onnx');
});

test('exits --json on an imported model: every exit, as the engine computes it', async () => {
  const out = join(tmp, 'mbv2.spx');
  const imp = await splitee(['import', join(fixtures, 'mbv2.onnx'), '--out', out, '--quantize', 'int8']);
  assert.is(imp.code, 0, imp.stderr);
  const r0 = rng(11);
  const input = Array.from({ length: 3 * 16 * 16 }, () => r0.normal());
  const inFile = join(tmp, 'in.json');
  writeFileSync(inFile, JSON.stringify(input));
  const r = await splitee(['exits', '--model', out, '--input', inFile, '--json']);
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout);
  assert.is(got.model, 'imported');
  const m = await loadModelBytes(new Uint8Array(readFileSync(out)));
  const want = await m.exits(Float32Array.from(input));
  assert.is(got.exits.length, want.length);
  got.exits.forEach((e: { layer: number; probs: number[]; confidence: number; label: number }, k: number) => {
    assert.is(e.layer, k + 1);
    assert.equal(e.probs, Array.from(want[k].probs));
    assert.is(e.confidence, want[k].confidence);
    assert.is(e.label, want[k].label);
  });
  m.dispose();
  // The human form names the class.
  const t = await splitee(['exits', '--model', out, '--input', inFile]);
  assert.is(t.code, 0, t.stderr);
  assert.match(t.stdout, /3 exits/);
});

test('exits: token ids, and inputs of the wrong size or out of the vocabulary are usage errors', async () => {
  const out = join(tmp, 'bert.spx');
  const imp = await splitee(['import', join(fixtures, 'bert_post_ln.onnx'), '--out', out]);
  assert.is(imp.code, 0, imp.stderr);
  const ids = join(tmp, 'ids.json');
  writeFileSync(ids, JSON.stringify({ input: [1, 5, 9, 33, 2] }));
  const ok = await splitee(['exits', '--model', out, '--input', ids, '--json']);
  assert.is(ok.code, 0, ok.stderr);
  assert.is(JSON.parse(ok.stdout).exits.length, 3);
  writeFileSync(ids, JSON.stringify([1, 500]));
  const bad = await splitee(['exits', '--model', out, '--input', ids]);
  assert.is(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /token id 500/);
  writeFileSync(ids, JSON.stringify(Array(17).fill(1)));
  const long = await splitee(['exits', '--model', out, '--input', ids]);
  assert.is(long.code, 2, long.stderr);
  writeFileSync(ids, 'not json');
  const nj = await splitee(['exits', '--model', out, '--input', ids]);
  assert.is(nj.code, 2, nj.stderr);
});

test('import refuses an unsupported model by node and op type (exit 1), and bad options (exit 2)', async () => {
  const r = await splitee(['import', join(fixtures, 'lstm.onnx'), '--out', join(tmp, 'lstm.spx')]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /OnnxImportError: node '\/lstm\/LSTM' \(LSTM\)/);
  const q = await splitee(['import', join(fixtures, 'lenet.onnx'), '--out', join(tmp, 'x.spx'), '--quantize', 'int4']);
  assert.is(q.code, 2, q.stderr);
  const missing = await splitee(['import', join(fixtures, 'lenet.onnx')]);
  assert.is(missing.code, 2, missing.stderr);
  assert.match(missing.stderr, /--out/);
});

test('sha256 matches node:crypto on lengths around the block boundaries', () => {
  const r = rng(3);
  for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000]) {
    const b = Uint8Array.from({ length: n }, () => r.int(0, 256));
    assert.is(sha256Hex(b), createHash('sha256').update(b).digest('hex'), `length ${n}`);
  }
});

test('the main job on your own model and pictures: import, then `splitee demo --dataset images:DIR` answers every picture', async () => {
  const spx = join(tmp, 'mbv2-demo.spx');
  const classes = ['bird', 'cat', 'dog', 'eel', 'fox'];
  const imp = await splitee(['import', join(fixtures, 'mbv2.onnx'), '--out', spx, '--classes', classes.join(',')]);
  assert.is(imp.code, 0, imp.stderr);
  // Two pictures per class folder, of other sizes than the model's input and in gray and RGB, with random pixels.
  const r = rng(5), dir = join(tmp, 'photos');
  let n = 0;
  for (const cls of ['cat', 'dog', 'fox']) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < 2; i++, n++) {
      const ch = i === 0 ? 1 : 3, w = 9 + i * 4, h = 11;
      writeFileSync(join(dir, cls, `p${i}.png`), encodePng(w, h, ch, Array.from({ length: w * h * ch }, () => Math.floor(r.next() * 256))));
    }
  }
  const demo = await splitee(['demo', '--model', spx, '--dataset', `images:${dir}`, '--out', tmp, '--json']);
  assert.is(demo.code, 0, demo.stderr);
  const out = JSON.parse(demo.stdout);
  assert.is(out.n, n);
  assert.is(out.dataset, `images:${dir}`);
  assert.ok(out.accuracy >= 0 && out.accuracy <= 1, String(out.accuracy));
  // The same pictures through eval: the last exit's accuracy over the same n samples.
  const ev = await splitee(['eval', '--model', spx, '--dataset', `images:${dir}`, '--json']);
  assert.is(ev.code, 0, ev.stderr);
  assert.is(JSON.parse(ev.stdout).n, n);
});

test.run();
