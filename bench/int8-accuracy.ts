// Per-exit accuracy of the int8 path (`precision: 'int8'`) next to the f32 path, on every stream a zoo model's card
// evaluates it on (the streams of its eval.json), with the change per exit in points. The model cards quote it; the
// int8 path's accuracy budget is 0.3 points per exit on every stream.
//
// Usage: node dist/bench/int8-accuracy.js [--json] [--write] [--model name] [--limit N]
//   --write: also store the result as the `int8` field of models/<name>/eval.json (its other fields are kept).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateStream, type EvalResult } from '../src/cli/eval.js';
import { openStream } from '../src/data/streams.js';
import { loadModel, packageRoot, zooModels } from '../src/node.js';

/** Largest accuracy change per exit (points) the int8 path may make on any stream. */
export const INT8_ACCURACY_BUDGET_POINTS = 0.3;

export interface Int8StreamAccuracy {
  n: number;
  /** Per exit: both accuracies (fractions, as `splitee eval --json`) and int8 − f32 in points. */
  exits: { layer: number; f32: number; int8: number; deltaPoints: number; f32Confidence: number; int8Confidence: number }[];
  /** Largest |int8 − f32| over the exits, points. */
  maxAbsDeltaPoints: number;
}

export interface Int8Accuracy {
  model: string;
  what: string;
  budgetPoints: number;
  streams: Record<string, Int8StreamAccuracy>;
  /** Largest |Δ| over every exit of every stream, points, and whether it is within the budget. */
  maxAbsDeltaPoints: number;
  withinBudget: boolean;
}

const round = (v: number, d: number) => Number(v.toFixed(d));

export async function int8Accuracy(name: string, opts: { limit?: number; log?: (l: string) => void } = {}): Promise<Int8Accuracy> {
  const evalPath = join(packageRoot, 'models', name, 'eval.json');
  const streams = Object.keys((JSON.parse(readFileSync(evalPath, 'utf8')) as { streams: Record<string, unknown> }).streams);
  const f32 = await loadModel(name);
  const q8 = await loadModel(name, { precision: 'int8' });
  const out: Int8Accuracy = {
    model: name,
    what: "splitee eval on the WASM backend, precision 'f32' vs 'int8' (int8 weights, int16 activations, int32 sums), full streams",
    budgetPoints: INT8_ACCURACY_BUDGET_POINTS, streams: {}, maxAbsDeltaPoints: 0, withinBudget: true,
  };
  try {
    for (const s of streams) {
      const open = () => openStream(s, { limit: opts.limit, model: { input: f32.header.input, classes: f32.classes } });
      const a: EvalResult = await evaluateStream(f32, await open());
      const b: EvalResult = await evaluateStream(q8, await open());
      if (a.n !== b.n) throw new Error(`${name} ${s}: ${a.n} vs ${b.n} samples`);
      const exits = a.exits.map((e, k) => ({
        layer: e.layer, f32: round(e.accuracy, 6), int8: round(b.exits[k].accuracy, 6),
        deltaPoints: round(100 * (b.exits[k].accuracy - e.accuracy), 4),
        f32Confidence: round(e.meanConfidence, 6), int8Confidence: round(b.exits[k].meanConfidence, 6),
      }));
      const max = Math.max(...exits.map((e) => Math.abs(e.deltaPoints)));
      out.streams[s] = { n: a.n, exits, maxAbsDeltaPoints: round(max, 4) };
      out.maxAbsDeltaPoints = Math.max(out.maxAbsDeltaPoints, round(max, 4));
      opts.log?.(`${name} ${s} (n ${a.n}): f32 ${exits.map((e) => (100 * e.f32).toFixed(2)).join(' ')} | int8 ${exits.map((e) => (100 * e.int8).toFixed(2)).join(' ')} | max |Δ| ${max.toFixed(2)} points`);
    }
  } finally {
    f32.dispose();
    q8.dispose();
  }
  // Compared on the rounded figures the card prints, so a 0.3-point change counts as within a 0.3-point budget.
  out.withinBudget = out.maxAbsDeltaPoints <= INT8_ACCURACY_BUDGET_POINTS + 1e-9;
  return out;
}

/** The card's table: one row per stream and exit. */
export function int8AccuracyTable(r: Int8Accuracy): string {
  const lines = [`| stream | n | exit | f32 % | int8 % | Δ points |`, `| --- | ---: | ---: | ---: | ---: | ---: |`];
  for (const [s, v] of Object.entries(r.streams)) {
    for (const e of v.exits) lines.push(`| ${s} | ${v.n} | ${e.layer} | ${(100 * e.f32).toFixed(2)} | ${(100 * e.int8).toFixed(2)} | ${e.deltaPoints >= 0 ? '+' : '−'}${Math.abs(e.deltaPoints).toFixed(2)} |`);
  }
  return lines.join('\n');
}

/**
 * eval.json's text with `int8` as its last field, the rest byte for byte (the recipes write it; re-serialising here
 * would rewrite their number and escape formatting). A previous `int8` field, always the last one, is replaced.
 */
export function withInt8Field(text: string, r: Int8Accuracy): string {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  let head = text.trimEnd();
  if ('int8' in parsed) {
    const at = head.lastIndexOf(',\n "int8": {');
    if (at < 0) throw new Error('eval.json: its int8 field is not the last one; remove it by hand');
    head = head.slice(0, at) + '\n}';
  }
  if (!head.endsWith('}')) throw new Error('eval.json: not a JSON object');
  const body = JSON.stringify(r, null, 1).split('\n').map((l, i) => (i ? ` ${l}` : l)).join('\n');
  const out = `${head.slice(0, -1).trimEnd()},\n "int8": ${body}\n}\n`;
  JSON.parse(out); // still one valid object
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const argv = process.argv.slice(2);
  const opt = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
  const limit = opt('--limit') ? Number(opt('--limit')) : undefined;
  const names = opt('--model') ? [opt('--model')!] : zooModels();
  const results: Int8Accuracy[] = [];
  for (const name of names) {
    const r = await int8Accuracy(name, { limit, log: (l) => process.stderr.write(`${l}\n`) });
    results.push(r);
    if (argv.includes('--write')) {
      if (limit) throw new Error('--write stores full-stream results only: drop --limit');
      const p = join(packageRoot, 'models', name, 'eval.json');
      writeFileSync(p, withInt8Field(readFileSync(p, 'utf8'), r));
      process.stderr.write(`wrote the int8 field of ${p}\n`);
    }
  }
  process.stdout.write(argv.includes('--json') ? `${JSON.stringify(results, null, 1)}\n`
    : `${results.map((r) => `${r.model}: max |Δ| ${r.maxAbsDeltaPoints.toFixed(2)} points (budget ${r.budgetPoints}: ${r.withinBudget ? 'met' : 'NOT met'})\n${int8AccuracyTable(r)}`).join('\n\n')}\n`);
}
