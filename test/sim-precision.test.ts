// Confidence precision: a matrix written as float32 must be read as float32, or samples sitting on α decide the
// other way. `splitee simulate` on a cached matrix of the reproduction reads exactly the values the report used,
// and prints the report's numbers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { command, readMatrixFile } from '../src/cli/simulate.js';
import { parseMatrixCsv, formatMatrixCsvCompact, float32Text } from '../src/sim/csv.js';
import { readCache, readCacheCsv } from '../bench/reproduce.js';
import { rng } from './util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MATRICES = join(ROOT, 'reports', 'matrices');
const REPORT = join(ROOT, 'reports', 'reproduce.md');

async function capture(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
  try { return { code: await command.run(argv), out: lines.join('\n') }; } finally { console.log = log; }
}

test('parseMatrixCsv: float32 reads each confidence as the float32 it names; float64 as written', () => {
  const text = 'c1,c2,p1,p2,label\n0.7,0.30000001,1,0,1\n1,0.1,0,0,0\n';
  const f64 = parseMatrixCsv(text), f32 = parseMatrixCsv(text, { confidences: 'float32' });
  assert.equal(Array.from(f64.conf), [0.7, 0.30000001, 1, 0.1]);
  assert.equal(Array.from(f32.conf), [Math.fround(0.7), Math.fround(0.30000001), 1, Math.fround(0.1)]);
  // 0.7 as float32 is below 0.7: an exit at α = 0.7 fires on one reading and not on the other.
  assert.ok(f32.conf[0] < 0.7 && f64.conf[0] >= 0.7);
  assert.throws(() => parseMatrixCsv(text, { confidences: 'float16' as never }), /float32/);
  // The compact writer round-trips float32 values exactly through the float32 reading, random values included.
  const r = rng(3);
  const conf = Array.from({ length: 60 }, () => Math.fround(r.next()));
  const m = parseMatrixCsv(['c1,c2,c3,p1,p2,p3,label', ...Array.from({ length: 20 }, (_, i) => `${conf.slice(3 * i, 3 * i + 3).join(',')},0,1,2,1`)].join('\n'));
  const compact = formatMatrixCsvCompact(m);
  assert.is(compact.confidences, 'float32');
  assert.equal(Array.from(parseMatrixCsv(compact.text, { confidences: 'float32' }).conf), conf);
  assert.ok(compact.text.length < 0.75 * [...m.conf].map(String).join(',').length + 400, 'shortest float32 text is compact');
  assert.is(float32Text(0.1), undefined, 'a float64 value has no float32 text');
  // A matrix with a float64 value falls back to the float64 form.
  const mixed = parseMatrixCsv('c1,p1,label\n0.1,0,0\n');
  assert.is(formatMatrixCsvCompact(mixed).confidences, 'float64');
});

test('every cached matrix: `splitee simulate` reads bit-identical values to the reproduction (precision from its .json)', () => {
  assert.ok(existsSync(MATRICES), `${MATRICES} is missing: the reproduction's cached matrices are part of the repository`);
  const csvs = readdirSync(MATRICES).filter((f) => f.endsWith('.csv'));
  assert.ok(csvs.length >= 7, `expected the 7 cached matrices of the reproduction, found ${csvs.length}`);
  let differ = 0;
  for (const f of csvs) {
    const path = join(MATRICES, f);
    const meta = JSON.parse(readFileSync(path.replace(/\.csv$/, '.json'), 'utf8'));
    const bench = readCache(path, meta.digest, undefined, meta.numClasses ?? 1 << 20);
    assert.ok(bench, `${f}: the reproduction's cache reader refused it`);
    const cli = readMatrixFile(path);
    assert.is(cli.source, 'metadata', f);
    assert.is(cli.confidences, meta.confidences, f);
    assert.equal(cli.matrix.conf, bench!.conf, `${f}: confidences`);
    assert.equal(cli.matrix.pred, bench!.pred, `${f}: predictions`);
    // The same file read as float64 is not the same matrix (so the precision matters, and this test can fail).
    const f64 = readCacheCsv(readFileSync(path, 'utf8'), 'float64');
    if (f64.conf.some((x, i) => x !== bench!.conf[i])) differ++;
  }
  assert.ok(differ > 0, 'reading float32 files as float64 changes values');
});

/** The table row of `policy` under `## <model> on <stream>` / `### o = <o> ` in the report, as cells. */
function reportRow(report: string, model: string, stream: string, o: string, policy: string): { alpha: number; cells: string[] } {
  const sec = report.split(/^## /m).find((s) => s.startsWith(`${model} on ${stream}\n`));
  assert.ok(sec, `report has no section for ${model} on ${stream}`);
  const alpha = Number(/^α = ([0-9.]+):/m.exec(sec!)?.[1]);
  const sub = sec!.split(/^### /m).find((s) => s.startsWith(`o = ${o} `));
  assert.ok(sub, `no o = ${o} table`);
  const line = sub!.split('\n').find((l) => l.startsWith(`| ${policy} |`) || l.startsWith(`| ${policy} (`));
  assert.ok(line, `no ${policy} row`);
  return { alpha, cells: line!.split('|').slice(2, -1).map((c) => c.trim().split(' ± ')[0]) };
}

test('`splitee simulate` on a cached matrix prints the report\'s numbers (fmnist:test at o = 0.5 has near-ties at α)', async () => {
  assert.ok(existsSync(REPORT), `${REPORT} is missing`);
  const report = readFileSync(REPORT, 'utf8');
  const matrix = join(MATRICES, 'fmnist-cnn__fmnist_test.csv');
  const policies = ['splitee', 'splitee-s', 'splitee-su', 'final', 'early-exit', 'random'];
  const rows = policies.map((p) => reportRow(report, 'fmnist-cnn', 'fmnist:test', '0.5', p));
  const L = 7;
  const argv = ['--matrix', matrix, '--policy', policies.join(','), '--alpha', String(rows[0].alpha), '--lambda', String(1 / L),
    '--offload-cost', '0.5', '--order', 'shuffle', '--repeats', '10', '--seed', '1', '--json'];
  const cells = (j: { accuracy: number; costReduction: number; offloadRate: number; exitRate: number }) =>
    [(100 * j.accuracy).toFixed(2), (100 * j.costReduction).toFixed(1), (100 * j.offloadRate).toFixed(1), (100 * j.exitRate).toFixed(1)];
  const pick = (c: string[]) => [c[0], c[3], c[4], c[5]]; // accuracy, cost reduction, offloaded, exited early
  const run = async (extra: string[]) => {
    const { code, out } = await capture([...argv, ...extra]);
    assert.is(code, 0);
    return (JSON.parse(out) as Parameters<typeof cells>[0][]).map(cells);
  };
  const got = await run([]);
  policies.forEach((p, i) => assert.equal(got[i], pick(rows[i].cells), `${p}: simulate vs report`));
  // Read as float64, the same file gives other numbers for the learner: the case the precision fixes.
  const wrong = await run(['--confidences', 'float64']);
  assert.ok(wrong.some((c, i) => c.join() !== got[i].join()), 'float64 reading differs somewhere');
});

test.run();
