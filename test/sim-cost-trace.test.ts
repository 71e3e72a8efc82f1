// Costs in milliseconds: the conversion by hand, the normalisation that gives back the paper's reward with the
// paper's constants, cost traces (parser errors, per-step costs applied), and `splitee simulate --cost-trace`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../src/cli/simulate.js';
import { UsageError } from '../src/cli/args.js';
import { CostEstimator, costsFromMs, createPolicy, defaultMu, offloadMs, resolveCosts, transferMs, PolicyError } from '../src/policy/index.js';
import {
  MatrixError, costTraceHeader, costTraceRow, formatMatrixCsv, matrixFromSamples, parseCostTrace, simulate, traceCosts,
  type CostTraceRow,
} from '../src/sim/index.js';
import { rng } from './util.js';
import { randomMatrix } from './fixtures/random-matrix.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-trace-'));

test('milliseconds → costs by hand: γ_k = μ·Σ t_j, o_k = μ·offload time of split k', () => {
  assert.is(transferMs(12_500, 100), 1); // 100 kbit over 100 Mbit/s
  assert.is(offloadMs(125_000, { rttMs: 120, bandwidthMbit: 1 }), 1120);
  const c = costsFromMs({ alpha: 0.5, layerMs: [1, 2, 3], offloadMs: [10, 20], mu: 0.125 });
  assert.equal(Array.from(c.cum), [0, 0.125, 0.375, 0.75]);
  assert.equal(Array.from(c.offloadAt!), [0, 1.25, 2.5, 0]);
  assert.is(defaultMu([1, 2, 3]), 1 / 6);
  assert.is(costsFromMs({ alpha: 0.5, layerMs: [1, 2, 3], offloadMs: [10, 20] }).cum[3], 1, 'default μ: the whole network costs 1');
  // Offload cost depends on the split: a sample offloaded at 2 pays o_2, not o_1.
  const m = matrixFromSamples([{ confidences: [0.1, 0.2, 0.9], predictions: [0, 0, 0], label: 0 }]);
  const r = simulate(m, createPolicy('fixed:2', { L: 3, costs: c }), c, { record: true });
  assert.is(r.stepCosts![0], 0.375 + 2.5);
  assert.is(r.rewards![0], 0.9 - 0.375 - 2.5);
  for (const bad of [{ layerMs: [1, -1], offloadMs: [1] }, { layerMs: [0, 0], offloadMs: [1] }, { layerMs: [1, 1], offloadMs: [] }, { layerMs: [1, 1], offloadMs: [NaN] }]) {
    assert.throws(() => costsFromMs({ alpha: 0.5, ...bad }), (e: PolicyError) => e instanceof PolicyError && e.code === 'BAD_COSTS');
  }
  assert.throws(() => costsFromMs({ alpha: 0.5, layerMs: [1, 1], offloadMs: [1], mu: 0 }), (e: PolicyError) => e.code === 'BAD_COSTS');
});

test('normalisation: equal layer times and the default μ give the paper\'s reward with λ = 1/L and o', () => {
  const L = 4, m = randomMatrix(rng(1), L, 600);
  // 5 ms per layer, 20 ms in all: μ = 1/20, γ_k = k/4 = λk with λ = 1/4; an offload of 5 ms is o = 0.25.
  const ms = costsFromMs({ alpha: 0.6, layerMs: [5, 5, 5, 5], offloadMs: [5, 5, 5] });
  const paper = resolveCosts({ alpha: 0.6, lambda: 0.25, offloadCost: 0.25 }, L);
  assert.equal(Array.from(ms.cum), Array.from(paper.cum));
  for (const name of ['splitee', 'splitee-s', 'splitee-su']) {
    const a = simulate(m, createPolicy(name, { L, costs: ms }), ms, { record: true });
    const b = simulate(m, createPolicy(name, { L, costs: paper }), paper, { record: true });
    assert.equal(Array.from(a.arms!), Array.from(b.arms!), name);
    assert.equal(Array.from(a.rewards!), Array.from(b.rewards!), name);
  }
});

test('CostEstimator: exact layer times and link from exact measurements; it follows a change of the link', () => {
  const r = rng(11);
  const est = new CostEstimator(4, { alpha: 0.5, smoothing: 0.2 });
  assert.throws(() => est.costs(), (e: PolicyError) => e.code === 'NOT_CALIBRATED');
  est.observeLayers([1, 2, 3, 4]);
  assert.is(est.link(), undefined);
  let c = est.costs();
  [0, 0.1, 0.3, 0.6, 1].forEach((x, k) => assert.ok(Math.abs(c.cum[k] - x) < 1e-12, `γ_${k}`));
  assert.equal(Array.from(c.offloadAt!), [0, 0, 0, 0, 0], 'no offload seen: nothing to charge yet');
  // A prefix of layers 1..2 that took twice the estimate: both scale by 1 − s + s·2 = 1.2.
  est.observePrefix(2, 6);
  assert.ok(Math.abs(est.layerMs[0] - 1.2) < 1e-12 && Math.abs(est.layerMs[1] - 2.4) < 1e-12 && est.layerMs[2] === 3);
  est.observeLayers([1, 2, 3, 4]);
  // Link 1: 5 ms round trip, 10 Mbit/s (b = 0.0008 ms per byte); frames of random sizes at random splits.
  const feed = (rtt: number, mbit: number, n: number) => {
    for (let i = 0; i < n; i++) {
      const k = r.int(1, 4), bytes = r.int(500, 50_000);
      est.observeOffload(k, bytes, rtt + (bytes * 8) / (mbit * 1000));
    }
  };
  feed(5, 10, 40);
  let l = est.link()!;
  assert.ok(Math.abs(l.rttMs - 5) < 1e-6 && Math.abs(l.bandwidthMbit - 10) < 1e-6, `${l.rttMs} ms, ${l.bandwidthMbit} Mbit/s`);
  // The link changes: 80 ms, 1 Mbit/s. Old measurements fade with weight 0.8 per new one.
  feed(80, 1, 80);
  l = est.link()!;
  assert.ok(Math.abs(l.rttMs - 80) < 0.5 && Math.abs(l.bandwidthMbit - 1) < 0.01, `${l.rttMs} ms, ${l.bandwidthMbit} Mbit/s`);
  c = est.costs();
  // μ was fixed at the first costs(): 1 / 10 ms. o_k = μ·(80 + bytes_k·8/1000) with the last frame seen at k.
  for (let k = 1; k < 4; k++) assert.ok(Math.abs(c.offloadAt![k] - 0.1 * (80 + (est.frameBytes[k - 1] * 8) / 1000)) < 0.1);
  // Frames of one size cannot separate round trip and transfer: everything counts as round trip.
  const one = new CostEstimator(2, { alpha: 0.5 });
  one.observeOffload(1, 1000, 7);
  one.observeOffload(1, 1000, 9);
  const l1 = one.link()!;
  assert.ok(Math.abs(l1.rttMs - (0.9 * 7 + 9) / 1.9) < 1e-12, 'weighted mean, the older one by 1 − smoothing');
  assert.is(l1.bandwidthMbit, Infinity);
  assert.throws(() => new CostEstimator(2, { alpha: 0.5, smoothing: 0 }), (e: PolicyError) => e.code === 'BAD_OPTION');
});

function row(L: number, layer: number, bytes: number, rtt: number, mbit: number): CostTraceRow {
  return { layerMs: new Float64Array(L).fill(layer), bytes: new Float64Array(L - 1).fill(bytes), rttMs: rtt, bandwidthMbit: mbit };
}

test('cost traces: header, rows, typed errors with the line, round trip', () => {
  assert.is(costTraceHeader(3), 'ms1,ms2,ms3,bytes1,bytes2,rtt_ms,mbit');
  const rows = [row(3, 2, 1000, 4, 100), row(3, 2.5, 1250, 120, 1)];
  const text = [costTraceHeader(3), ...rows.map(costTraceRow)].join('\r\n') + '\n\n';
  const back = parseCostTrace(text, 3);
  assert.equal(back.map(costTraceRow), rows.map(costTraceRow));
  const err = (t: string, code: string, line: number) => assert.throws(() => parseCostTrace(t, 3), (e: MatrixError) => e instanceof MatrixError && e.code === code && e.line === line);
  err('', 'EMPTY', 1);
  err('ms1,ms2,bytes1,rtt_ms,mbit\n1,1,1,1,1\n', 'BAD_HEADER', 1);
  err(costTraceHeader(3) + '\n', 'NO_ROWS', 2);
  err(`${costTraceHeader(3)}\n1,1,1,1,1,1,1\n1,1,1,1,1,1\n`, 'RAGGED', 3);
  err(`${costTraceHeader(3)}\n1,1,1,1,-1,1,1\n`, 'BAD_NUMBER', 2);
  err(`${costTraceHeader(3)}\n1,1,1,1,1,1,0\n`, 'BAD_NUMBER', 2);
  err(`${costTraceHeader(3)}\n1,1,x,1,1,1,1\n`, 'BAD_NUMBER', 2);
  const tc = traceCosts(back, { alpha: 0.5 });
  assert.is(tc.mu, 1 / 6);
  assert.ok(Math.abs(tc.costsAt(1).offloadAt![1] - (120 + (1250 * 8) / 1000) / 6) < 1e-12);
  assert.throws(() => tc.costsAt(2), (e: MatrixError) => e.code === 'SHORT_TRACE');
});

test('per-step costs are applied step by step (a drop mid-stream), and `final` pays the mean γ_L', () => {
  const L = 3, m = randomMatrix(rng(7), L, 200);
  const trace = traceCosts([...Array.from({ length: 100 }, () => row(L, 2, 1000, 2, 100)), ...Array.from({ length: 100 }, () => row(L, 4, 1000, 100, 1))], { alpha: 0.6, mu: 0.1 });
  const r = simulate(m, createPolicy('fixed:1', { L, costs: trace.costs[0] }), trace.costs[0], { record: true, costsAt: trace.costsAt });
  for (let t = 0; t < m.n; t++) {
    const c1 = m.conf[t * L], slow = t >= 100;
    const expected = (slow ? 0.4 : 0.2) + (c1 < 0.6 ? 0.1 * (slow ? 100 + 8 : 2 + 0.08) : 0);
    assert.ok(Math.abs(r.stepCosts![t] - expected) < 1e-12, `t=${t}: ${r.stepCosts![t]} vs ${expected}`);
  }
  assert.ok(Math.abs(r.finalLayerCost! - (0.6 + 1.2) / 2) < 1e-12);
});

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try { return { code: await command.run(argv), out: lines.join('\n') }; } finally { console.log = log; }
}

test('`splitee simulate --cost-trace`: a constant trace is --lambda/--offload-cost; errors are usage errors', async () => {
  const L = 4, m = randomMatrix(rng(9), L, 300);
  const matrix = join(tmp, 'm.csv');
  writeFileSync(matrix, formatMatrixCsv(m));
  const trace = join(tmp, 'trace.csv');
  // 5 ms layers, a 5 ms round trip, nothing to transfer: γ_k = k/4, o = 0.25 with the default μ.
  writeFileSync(trace, [costTraceHeader(L), ...Array.from({ length: m.n }, () => costTraceRow(row(L, 5, 0, 5, 10)))].join('\n') + '\n');
  const common = ['--matrix', matrix, '--alpha', '0.6', '--policy', 'splitee,splitee-s,splitee-discounted,splitee-window,final,oracle', '--order', 'shuffle', '--repeats', '3', '--json'];
  const a = await capture([...common, '--cost-trace', trace]);
  const b = await capture([...common, '--lambda', '0.25', '--offload-cost', '0.25']);
  assert.is(a.code, 0);
  assert.equal(JSON.parse(a.out), JSON.parse(b.out));
  const human = await capture(['--matrix', matrix, '--alpha', '0.6', '--cost-trace', trace, '--mu', '0.05']);
  assert.match(human.out, /cost trace .*trace\.csv \(300 rows\), mu 0\.05 per ms/);
  const usage = async (argv: string[], re: RegExp) => {
    try { await capture(argv); assert.unreachable(argv.join(' ')); } catch (e) { assert.instance(e, UsageError); assert.match((e as Error).message, re); }
  };
  await usage(['--matrix', matrix, '--alpha', '0.6', '--cost-trace', trace, '--lambda', '0.25'], /replaces --lambda/);
  await usage(['--matrix', matrix, '--alpha', '0.6', '--lambda', '0.25', '--offload-cost', '0.1', '--mu', '2'], /--mu/);
  const short = join(tmp, 'short.csv');
  writeFileSync(short, [costTraceHeader(L), costTraceRow(row(L, 5, 0, 5, 10))].join('\n'));
  await usage(['--matrix', matrix, '--alpha', '0.6', '--cost-trace', short], /1 rows, the stream has 300 samples/);
  await usage(['--matrix', matrix, '--alpha', '0.6', '--cost-trace', join(tmp, 'none.csv')], /cannot read --cost-trace/);
  const bad = join(tmp, 'bad.csv');
  writeFileSync(bad, 'ms1,ms2\n1,2\n');
  try { await capture(['--matrix', matrix, '--alpha', '0.6', '--cost-trace', bad]); assert.unreachable(); } catch (e) {
    assert.instance(e, MatrixError); assert.match((e as Error).message, /bad\.csv: line 1/);
  }
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
