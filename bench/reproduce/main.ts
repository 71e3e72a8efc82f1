// `npm run reproduce`: models, datasets, the matrix cache and the files; and the command line.
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, helpText, numberOption, UsageError, type OptionSpec } from '../../src/cli/args.js';
import { Progress } from '../../src/cli/common.js';
import { loadModel, packageRoot, type Model } from '../../src/node.js';
import { fixedShapeAfter } from '../../src/engine/shapes.js';
import { frameBytes } from '../../src/transport/frame.js';
import { DRIFT } from './drift.js';
import { DatasetNotFoundError, openStream } from '../../src/data/streams.js';
import { buildMatrix } from '../../src/sim/confidence.js';
import { cacheCsv, readCache, writeAtomic, type CacheMeta } from './cache.js';
import { runStreamExperiments, type StreamResult } from './experiments.js';
import { ZOO_PLAN } from './plan.js';
import { matrixFileName, regretPlotName, renderRegretSvg, renderReport, type SkippedStream } from './render.js';

export interface ReproduceOptions {
  /** Output folder (reports/). */
  out: string;
  limit?: number;
  dataDir?: string;
  repeats: number;
  seed: number;
  /** Per ZOO_PLAN group, a .spx path replacing the zoo model (development; '' keeps the zoo one). */
  models?: string[];
  /** Only these streams. */
  streams?: string[];
  log?: (line: string) => void;
  command?: string;
}

export class MissingModelsError extends Error {
  readonly code = 'MISSING_MODELS';
  constructor(readonly files: string[]) {
    super(`the zoo model${files.length > 1 ? 's are' : ' is'} missing: ${files.join(', ')}. Train ${files.length > 1 ? 'them' : 'it'} with the recipes in models/recipes/ `
      + '(e.g. `nice -n 10 /usr/bin/python3 models/recipes/fmnist_cnn.py`), then rerun.');
    this.name = 'MissingModelsError';
  }
}

/**
 * The int8 frame of a split at k = 1..L − 1, from the model's shapes; a token model's activation grows with the
 * sentence, so it is taken at DRIFT.tokens tokens.
 */
export function splitFrameBytes(model: Model): number[] {
  const out: number[] = [];
  for (let k = 1; k < model.numLayers; k++) {
    const fixed = fixedShapeAfter(model.file, k);
    out.push(frameBytes('int8', fixed ?? [DRIFT.tokens, ...model.file.shapes.layerOutputs[k - 1].slice(1)]));
  }
  return out;
}

export async function reproduce(opts: ReproduceOptions): Promise<{ results: StreamResult[]; report: string; files: string[]; skipped: SkippedStream[] }> {
  const log = opts.log ?? ((s: string) => console.error(s));
  const outDir = resolve(opts.out);
  const matrixDir = join(outDir, 'matrices');
  const wanted = (s: string) => !opts.streams || opts.streams.includes(s);
  const groups = ZOO_PLAN.map((g, i) => ({
    model: g.model,
    path: opts.models?.[i] ? resolve(opts.models[i]) : join(packageRoot, 'models', g.model, `${g.model}.spx`),
    streams: g.streams.filter(wanted),
  })).filter((g) => g.streams.length > 0);
  if (opts.streams) {
    const known = new Set(ZOO_PLAN.flatMap((g) => g.streams));
    const unknown = opts.streams.filter((s) => !known.has(s));
    if (unknown.length) throw new UsageError(`--streams: unknown stream(s) ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  }
  const missing = groups.filter((g) => !existsSync(g.path)).map((g) => g.path);
  if (missing.length) throw new MissingModelsError(missing);
  mkdirSync(matrixDir, { recursive: true });

  const results: StreamResult[] = [];
  const files: string[] = [];
  const skipped: SkippedStream[] = [];
  for (const g of groups) {
    const model = await loadModel(g.path);
    try {
      for (const streamName of g.streams) {
        const csvPath = join(matrixDir, matrixFileName(g.model, streamName));
        let m = readCache(csvPath, model.digestHex, opts.limit, model.classes.length);
        if (m) {
          log(`${g.model} on ${streamName}: cached matrix ${csvPath} (${m.n} × ${m.L})`);
        } else {
          let stream;
          try {
            stream = await openStream(streamName, { dataDir: opts.dataDir, limit: opts.limit });
          } catch (err) {
            // A missing dataset costs that stream only; the report says so, and the exit status is non-zero.
            if (!(err instanceof DatasetNotFoundError)) throw err;
            const reason = err.message.split('\n')[0];
            skipped.push({ model: g.model, stream: streamName, reason });
            log(`${g.model} on ${streamName}: skipped, ${reason}`);
            continue;
          }
          const { createInputEncoder } = await import('../../src/data/prepare.js');
          const encode = createInputEncoder(model.header);
          const progress = new Progress(stream.size, `matrix ${g.model} on ${streamName}`);
          const started = Date.now();
          const samples = stream.samples as { label: number; input: Float32Array | string }[];
          m = await buildMatrix(model, samples, encode, { numClasses: model.classes.length, onProgress: (d) => progress.update(d) });
          progress.done();
          const seconds = (Date.now() - started) / 1000;
          const csv = cacheCsv(m);
          writeAtomic(csvPath, csv.text);
          const meta: CacheMeta = {
            model: g.model, stream: streamName, digest: model.digestHex, n: m.n, L: m.L, limit: opts.limit ?? null,
            confidences: csv.confidences, seconds, created: new Date().toISOString(),
          };
          writeAtomic(csvPath.replace(/\.csv$/, '.json'), JSON.stringify(meta, null, 2) + '\n');
          log(`${g.model} on ${streamName}: built matrix ${csvPath} (${m.n} × ${m.L}) in ${seconds.toFixed(1)} s`);
        }
        const started = Date.now();
        const r = runStreamExperiments(m, { model: g.model, stream: streamName, digest: model.digestHex, splitBytes: splitFrameBytes(model) },
          { repeats: opts.repeats, seed: opts.seed });
        log(`${g.model} on ${streamName}: α = ${r.alpha.alpha}, simulated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        results.push(r);
        for (const s of r.settings) {
          const file = join(outDir, regretPlotName(g.model, streamName, s.factor));
          writeAtomic(file, renderRegretSvg(r, s));
          files.push(file);
        }
      }
    } finally {
      model.dispose();
    }
  }
  const report = renderReport(results, { command: opts.command ?? 'npm run reproduce', limit: opts.limit, skipped });
  const mdPath = join(outDir, 'reproduce.md');
  writeAtomic(mdPath, report);
  files.push(mdPath);
  return { results, report, files, skipped };
}

// ---------------------------------------------------------------------------------------------------------------
// Command line

const PUBLIC_SPEC: Record<string, OptionSpec> = {
  limit: { type: 'string', help: 'only the first N samples of each stream (a quick run; cached separately)' },
  out: { type: 'string', default: 'reports', help: 'output folder (reproduce.md, SVG plots, matrices/)' },
  repeats: { type: 'string', default: '10', help: 'shuffled orders per setting' },
  seed: { type: 'string', default: '1', help: 'seed of the orders and of the random policy' },
  'data-dir': { type: 'string', help: 'where the datasets are (else $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets)' },
  help: { type: 'boolean', help: 'show this help' },
};
// Development overrides, not in --help: other model files (comma list, one per zoo model in order) and a stream filter.
const SPEC: Record<string, OptionSpec> = {
  ...PUBLIC_SPEC,
  models: { type: 'string', help: '' },
  streams: { type: 'string', help: '' },
};

export async function main(argv: string[]): Promise<number> {
  try {
    const p = parseArgs(argv, SPEC);
    if (p.options.help) {
      console.log(helpText('usage: npm run reproduce -- [--limit N] [--out reports] [--repeats R] [--seed S] [--data-dir D]', PUBLIC_SPEC));
      return 0;
    }
    if (p.positionals.length) throw new UsageError(`unexpected argument '${p.positionals[0]}'`);
    const list = (name: string) => (typeof p.options[name] === 'string' ? String(p.options[name]).split(',').map((s) => s.trim()) : undefined);
    const started = Date.now();
    const { files, skipped } = await reproduce({
      out: String(p.options.out),
      limit: numberOption(p, 'limit', { min: 1, integer: true }),
      repeats: numberOption(p, 'repeats', { min: 1, integer: true })!,
      seed: numberOption(p, 'seed', { integer: true })!,
      dataDir: p.options['data-dir'] as string | undefined,
      models: list('models'),
      streams: list('streams')?.filter((s) => s !== ''),
      command: ['npm run reproduce', ...(argv.length ? ['--', ...argv] : [])].join(' '),
    });
    console.log(`wrote ${files.length} files in ${((Date.now() - started) / 1000).toFixed(1)} s; report: ${files[files.length - 1]}`);
    if (skipped.length) {
      console.error(`reproduce: ${skipped.length} stream(s) skipped for missing datasets: ${skipped.map((s) => s.stream).join(', ')}`);
      return 1;
    }
    return 0;
  } catch (err) {
    const e = err as Error;
    if (e instanceof UsageError) { console.error(`reproduce: ${e.message} (see --help)`); return 2; }
    console.error(`reproduce: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message}`);
    if (process.env.SPLITEE_DEBUG) console.error(e.stack);
    return 1;
  }
}

