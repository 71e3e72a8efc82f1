// Where the datasets live (Node side). Order: an explicit --data-dir (authoritative: a typo is an error, never a
// silent fallback), then $SPLITEE_DATA, then ../shared/datasets beside the current directory and beside the package
// root, then /usr/share/datasets (Debian's dataset-* packages). Each place may be the datasets root (holding
// fashion-mnist/, sst2/, sentiment-sentences/) or the dataset's own folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Base of every typed error of src/data. */
export class DataError extends Error {
  constructor(readonly code: string, message: string) { super(message); this.name = 'DataError'; }
}

export type DatasetName = 'fashion-mnist' | 'sst2' | 'sentiment-sentences';

interface DatasetInfo { title: string; howToGet: string }

const DATASETS: Record<DatasetName, DatasetInfo> = {
  'fashion-mnist': {
    title: 'Fashion-MNIST',
    howToGet: 'install it with `apt-get install dataset-fashion-mnist` (Debian; it lands in /usr/share/datasets/fashion-mnist), '
      + 'or download the four idx .gz files from https://github.com/zalandoresearch/fashion-mnist into DIR/fashion-mnist/ '
      + 'and pass --data-dir DIR or set SPLITEE_DATA=DIR',
  },
  sst2: {
    title: 'SST-2 (GLUE)',
    howToGet: 'use the shared datasets folder (shared/datasets beside the checkout has sst2/), or put GLUE\'s SST-2 '
      + 'train.tsv/dev.tsv into DIR/sst2/ and pass --data-dir DIR or set SPLITEE_DATA=DIR',
  },
  'sentiment-sentences': {
    title: 'Sentiment Labelled Sentences (Kotzias et al., UCI)',
    howToGet: 'use the shared datasets folder (shared/datasets beside the checkout has sentiment-sentences/), or unpack '
      + 'the UCI archive into DIR/sentiment-sentences/ and pass --data-dir DIR or set SPLITEE_DATA=DIR',
  },
};

export class DatasetNotFoundError extends DataError {
  constructor(readonly dataset: DatasetName, readonly looked: string[], readonly files: string[]) {
    const info = DATASETS[dataset];
    super('DATASET_NOT_FOUND',
      `${info.title} not found (needs ${files.join(', ')}). Looked in:\n`
      + looked.map((l) => `  - ${l}`).join('\n')
      + `\nTo get it: ${info.howToGet}.`);
    this.name = 'DatasetNotFoundError';
  }
}

let cachedRoot: string | null | undefined;

/** The directory of the splitee package.json above this module (src/data or dist/src/data), if any. */
export function packageRoot(): string | undefined {
  if (cachedRoot !== undefined) return cachedRoot ?? undefined;
  cachedRoot = null;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if (JSON.parse(readFileSync(pj, 'utf8')).name === 'splitee') { cachedRoot = dir; break; }
      } catch { /* unreadable package.json: keep walking */ }
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return cachedRoot ?? undefined;
}

export interface DataDirOptions {
  /** --data-dir: when given, the only place searched. */
  dataDir?: string;
  /** Defaults to process.env (tests pass their own). */
  env?: Record<string, string | undefined>;
  /** Defaults to process.cwd(). */
  cwd?: string;
}

export interface Candidate { dir: string; source: string }

/** The places searched, in order, each with why it is searched. */
export function dataDirCandidates(opts: DataDirOptions = {}): Candidate[] {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.dataDir !== undefined) return [{ dir: resolve(cwd, opts.dataDir), source: '--data-dir' }];
  const env = opts.env ?? process.env;
  const out: Candidate[] = [];
  if (env.SPLITEE_DATA) out.push({ dir: resolve(cwd, env.SPLITEE_DATA), source: 'SPLITEE_DATA' });
  out.push({ dir: resolve(cwd, '..', 'shared', 'datasets'), source: '../shared/datasets from the current directory' });
  const root = packageRoot();
  if (root) out.push({ dir: resolve(root, '..', 'shared', 'datasets'), source: '../shared/datasets from the package root' });
  out.push({ dir: '/usr/share/datasets', source: 'system datasets' });
  // The same directory reached two ways is searched (and reported) once.
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.dir) ? false : (seen.add(c.dir), true)));
}

function isFile(p: string): boolean {
  try { return statSync(p).isFile(); } catch { return false; }
}

/** The first of `names` that exists in `dir`, or undefined. */
export function firstExisting(dir: string, names: string[]): string | undefined {
  for (const n of names) if (isFile(join(dir, n))) return join(dir, n);
  return undefined;
}

/**
 * The folder of `dataset` that holds every file of `files` (each entry a list of acceptable names, e.g. with and
 * without .gz). Throws DatasetNotFoundError naming every folder it looked in.
 */
export function findDataset(dataset: DatasetName, files: string[][], opts: DataDirOptions = {}): string {
  const looked: string[] = [];
  for (const c of dataDirCandidates(opts)) {
    for (const folder of [join(c.dir, dataset), c.dir]) {
      looked.push(`${folder} (${c.source})`);
      if (files.every((alts) => firstExisting(folder, alts) !== undefined)) return folder;
    }
  }
  throw new DatasetNotFoundError(dataset, looked, files.map((alts) => alts.join(' or ')));
}
