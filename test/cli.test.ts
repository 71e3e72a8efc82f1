// The `splitee` command as a user runs it (a child process): info, eval, demo, and the errors people hit first.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packageRoot } from '../src/node.js';

const run = promisify(execFile);
const bin = join(packageRoot, 'bin', 'splitee.js');

async function splitee(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('info --json describes the zoo model and its split points', async () => {
  const r = await splitee(['info', 'fmnist-cnn', '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.is(info.name, 'fmnist-cnn');
  assert.is(info.numLayers, info.layers.length);
  assert.match(info.digest, /^[0-9a-f]{64}$/);
  for (const l of info.layers) assert.is(l.f32Bytes, 4 * l.int8Bytes);
  assert.equal(info.layers[0].outputShape.length, 3);
});

test('info shows each attention layer\'s window (read from the file, so it fails if the header loses it)', async () => {
  const r = await splitee(['info', 'sst2-transformer', '--json']);
  assert.is(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  const attention = info.layers.map((l: { ops: string }) => l.ops.split(' ').find((o: string) => o.startsWith('attention')));
  assert.equal(attention, ['attention(w2)', 'attention(w4)', 'attention(w8)', 'attention(w16)', 'attention', 'attention']);
});

test('eval --json reports every exit with the documented keys', async () => {
  const r = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--limit', '300', '--json']);
  assert.is(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.equal(Object.keys(e), ['model', 'dataset', 'n', 'exits']);
  assert.is(e.n, 300);
  assert.is(e.exits.length, 7);
  for (const x of e.exits) {
    assert.equal(Object.keys(x), ['layer', 'accuracy', 'meanConfidence']);
    assert.ok(x.accuracy > 0.3 && x.accuracy <= 1 && x.meanConfidence > 0 && x.meanConfidence <= 1);
  }
  assert.ok(e.exits[6].accuracy > e.exits[0].accuracy, 'the last exit beats the first');
});

test('demo --json streams through SplitEE with a loopback cloud and writes the report', async () => {
  const out = mkdtempSync(join(tmpdir(), 'splitee-demo-'));
  const r = await splitee(['demo', '--limit', '300', '--json', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(Object.keys(d), ['model', 'dataset', 'n', 'accuracy', 'cost', 'costReduction', 'accuracyDrop', 'offloadRate', 'bytesSent', 'report']);
  assert.is(d.model, 'fmnist-cnn');
  assert.is(d.dataset, 'fmnist:test');
  assert.is(d.n, 300);
  // With λ = 1/L the final layer costs 1 per sample, so cost reduction is 1 − cost.
  assert.ok(Math.abs(d.costReduction - (1 - d.cost)) < 1e-9, `costReduction ${d.costReduction} vs cost ${d.cost}`);
  assert.ok(d.offloadRate > 0 && d.bytesSent > 0, 'some samples were offloaded over HTTP');
  assert.ok(existsSync(d.report));
  const html = readFileSync(d.report, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /early-exit/);
  assert.not.match(html, /<script/);
});

test('unknown model, unknown stream, missing data: clear errors, non-zero exit', async () => {
  const m = await splitee(['eval', '--model', 'no-such-model', '--dataset', 'fmnist:test']);
  assert.is.not(m.code, 0);
  assert.match(m.stderr, /no-such-model/);
  assert.match(m.stderr, /fmnist-cnn/); // names what the zoo has
  const s = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'mnist:test']);
  assert.is.not(s.code, 0);
  assert.match(s.stderr, /fmnist:test:noise/); // lists valid streams
  const empty = mkdtempSync(join(tmpdir(), 'splitee-nodata-'));
  const d = await splitee(['eval', '--model', 'fmnist-cnn', '--dataset', 'fmnist:test', '--data-dir', empty]);
  assert.is.not(d.code, 0);
  assert.match(d.stderr, new RegExp(empty.replace(/[/\\]/g, '.')));
  const u = await splitee(['eval', '--model', 'fmnist-cnn', '--datset', 'fmnist:test']);
  assert.is(u.code, 2);
  assert.match(u.stderr, /unknown option --datset/);
});

test.run();
