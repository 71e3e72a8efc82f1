// `splitee simulate`, run in-process: exact JSON keys and values on the hand matrix of policy.test.ts, the human
// table, repeats, and errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../src/cli/simulate.js';
import { UsageError } from '../src/cli/args.js';
import { MatrixError } from '../src/sim/index.js';
import { PolicyError } from '../src/policy/index.js';

const dir = mkdtempSync(join(tmpdir(), 'splitee-sim-'));
const file = join(dir, 'hand.csv');
writeFileSync(file, [
  'c1,c2,c3,p1,p2,p3,label',
  '0.5,0.75,0.875,3,1,1,1',
  '0.625,0.875,0.9375,0,2,2,2',
  '0.75,0.5,0.625,1,1,0,1',
  '0.875,0.5,0.75,2,0,2,2',
  '0.9375,0.9375,1.0,0,0,0,0',
  '0.25,0.5,0.5,1,2,3,2',
].join('\n') + '\n');
const bad = join(dir, 'bad.csv');
writeFileSync(bad, 'c1,c2,p1,p2,label\n0.5,0.5,1,1,1\n0.5,NaN,1,1,1\n');

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try { return { code: await command.run(argv), out: lines.join('\n') }; } finally { console.log = log; }
}
const BASE = ['--matrix', file, '--alpha', '0.75', '--lambda', '0.125', '--offload-cost', '0.25'];
const KEYS = ['policy', 'n', 'accuracy', 'cost', 'offloadRate', 'exitRate', 'armCounts', 'finalLayerAccuracy', 'finalLayerCost', 'costReduction', 'accuracyDrop'];

test('--json: exact keys and the hand-computed values (splitee)', async () => {
  const { code, out } = await capture([...BASE, '--policy', 'splitee', '--json']);
  assert.is(code, 0);
  const j = JSON.parse(out);
  assert.equal(Object.keys(j), KEYS);
  // policy.test.ts: arms 1 2 3 2 1 1, 4 of 6 correct, total cost 2.0; last layer right on 4 of 6, γ_L = .375.
  assert.is(j.policy, 'splitee'); assert.is(j.n, 6);
  assert.is(j.accuracy, 4 / 6); assert.is(j.cost, 2 / 6);
  assert.is(j.offloadRate, 0.5); assert.is(j.exitRate, 2 / 6);
  assert.equal(j.armCounts, [3, 2, 1]);
  assert.is(j.finalLayerAccuracy, 4 / 6); assert.is(j.finalLayerCost, 0.375);
  assert.is(j.costReduction, 1 - (2 / 6) / 0.375); assert.is(j.accuracyDrop, 0);
});

test('--json for baselines and several policies', async () => {
  let j = JSON.parse((await capture([...BASE, '--policy', 'early-exit', '--json'])).out);
  assert.is(j.accuracy, 5 / 6); assert.is(j.cost, 1.25 / 6); assert.equal(j.armCounts, [0, 0, 6]);
  j = JSON.parse((await capture([...BASE, '--policy', 'oracle', '--json'])).out);
  assert.equal(j.armCounts, [6, 0, 0]); assert.is(j.cost, 0.25);
  j = JSON.parse((await capture([...BASE, '--policy', 'splitee-s,fixed:2', '--json'])).out);
  assert.ok(Array.isArray(j)); assert.equal(j.map((x: { policy: string }) => x.policy), ['splitee-s', 'fixed:2']);
  assert.is(j[1].cost, 2.25 / 6);
  j = JSON.parse((await capture([...BASE, '--policy', 'all', '--json'])).out);
  assert.equal(j.map((x: { policy: string }) => x.policy), ['splitee', 'splitee-s', 'splitee-su', 'splitee-s-released', 'final', 'early-exit', 'random', 'oracle']);
  for (const row of j) assert.equal(Object.keys(row), KEYS);
  // Per-layer costs instead of λ: γ = .125 .5 1.0; fixed:2 pays .5 on 3 exits, .75 on 3 offloads.
  j = JSON.parse((await capture(['--matrix', file, '--alpha', '0.75', '--layer-costs', '0.125,0.375,0.5', '--offload-cost', '0.25', '--policy', 'fixed:2', '--json'])).out);
  assert.is(j.cost, 3.75 / 6); assert.is(j.finalLayerCost, 1);
});

test('--order shuffle --repeats: means, reproducible from the seed', async () => {
  const args = [...BASE, '--policy', 'splitee', '--order', 'shuffle', '--seed', '4', '--repeats', '5', '--json'];
  const a = JSON.parse((await capture(args)).out), b = JSON.parse((await capture(args)).out);
  assert.equal(a, b);
  assert.equal(Object.keys(a), KEYS);
  assert.is(a.n, 6);
  assert.ok(Math.abs(a.armCounts.reduce((x: number, y: number) => x + y, 0) - 6) < 1e-12);
  // final in any order: accuracy and cost do not depend on the order.
  const f = JSON.parse((await capture([...BASE, '--policy', 'final', '--order', 'shuffle', '--repeats', '3', '--json'])).out);
  assert.is(f.accuracy, 4 / 6); assert.equal(f.armCounts, [0, 0, 6]);
});

test('human output: a table with every policy, std with repeats', async () => {
  let { code, out } = await capture([...BASE, '--policy', 'all']);
  assert.is(code, 0);
  for (const name of ['splitee-su', 'early-exit', 'oracle']) assert.match(out, new RegExp(`^${name} `, 'm'));
  assert.match(out, /best fixed arm in hindsight: 1/);
  assert.match(out, /6 samples, L = 3 exits/);
  ({ out } = await capture([...BASE, '--order', 'shuffle', '--repeats', '3']));
  assert.match(out, /±/);
  ({ code, out } = await capture(['--help']));
  assert.is(code, 0); assert.match(out, /--offload-cost/);
});

test('errors: usage, malformed matrix (with its line), unknown policy', async () => {
  const usage = [
    ['--alpha', '0.5', '--lambda', '0.1', '--offload-cost', '0.1'],
    ['--matrix', file, '--lambda', '0.1', '--offload-cost', '0.1'],
    ['--matrix', file, '--alpha', '1.5', '--lambda', '0.1', '--offload-cost', '0.1'],
    ['--matrix', file, '--alpha', '0.5', '--offload-cost', '0.1'],
    ['--matrix', file, '--alpha', '0.5', '--lambda', '0.1', '--layer-costs', '1,1,1', '--offload-cost', '0.1'],
    ['--matrix', file, '--alpha', '0.5', '--layer-costs', '1,x,1', '--offload-cost', '0.1'],
    [...BASE, '--order', 'random'],
    [...BASE, '--repeats', '0'],
    [...BASE, '--seed', '1.5'],
    [...BASE, '--bogus'],
    ['--matrix', join(dir, 'missing.csv'), '--alpha', '0.5', '--lambda', '0.1', '--offload-cost', '0.1'],
  ];
  for (const argv of usage) {
    try { await capture(argv); assert.unreachable(argv.join(' ')); } catch (e) { assert.instance(e, UsageError, `${argv.join(' ')}: ${e}`); }
  }
  try { await capture(['--matrix', bad, '--alpha', '0.5', '--lambda', '0.1', '--offload-cost', '0.1']); assert.unreachable(); } catch (e) {
    assert.instance(e, MatrixError); assert.is((e as MatrixError).line, 3); assert.ok((e as Error).message.includes('bad.csv'));
  }
  try { await capture([...BASE, '--policy', 'ucb']); assert.unreachable(); } catch (e) { assert.instance(e, PolicyError); }
  try { await capture([...BASE, '--policy', 'fixed:4']); assert.unreachable(); } catch (e) { assert.instance(e, PolicyError); }
  try { await capture([...BASE, '--classes', '3']); assert.unreachable(); } catch (e) { assert.is((e as MatrixError).code, 'CLASS_RANGE'); }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
