// Cached confidence matrices (reports/matrices/): a CSV and a JSON beside it with the model digest, the sample
// limit and the precision the confidences were written in. `splitee simulate` reads the same files through the
// same parser with the same precision (the JSON's `confidences`), so it sees exactly the values the report used.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { formatMatrixCsvCompact, parseMatrixCsv, type ConfidencePrecision } from '../../src/sim/csv.js';
import type { ConfidenceMatrix } from '../../src/sim/matrix.js';

export { float32Text } from '../../src/sim/csv.js';

export interface CacheMeta {
  model: string; stream: string; digest: string; n: number; L: number; limit: number | null;
  /** 'float32': every confidence is a float32 value written in its shortest form (read back as that float32). */
  confidences: ConfidencePrecision;
  seconds?: number; created?: string;
}

/**
 * CSV text of the cache: the engine's float32 confidences in their shortest form (exact, and about half the
 * length: it keeps the fmnist matrices, 10,000 × 7 exits, under 1 MB), else full precision.
 */
export function cacheCsv(m: ConfidenceMatrix): { text: string; confidences: ConfidencePrecision } {
  return formatMatrixCsvCompact(m);
}

/** Reads a cache CSV back with the precision it was written in. */
export function readCacheCsv(text: string, confidences: ConfidencePrecision, numClasses?: number): ConfidenceMatrix {
  return parseMatrixCsv(text, { numClasses, confidences });
}

/** The cached matrix for this model digest and limit, or undefined when absent, stale or unreadable. */
export function readCache(csvPath: string, digest: string, limit: number | undefined, numClasses: number): ConfidenceMatrix | undefined {
  const metaPath = csvPath.replace(/\.csv$/, '.json');
  if (!existsSync(csvPath) || !existsSync(metaPath)) return undefined;
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as CacheMeta;
    if (meta.digest !== digest || meta.limit !== (limit ?? null)) return undefined;
    const m = readCacheCsv(readFileSync(csvPath, 'utf8'), meta.confidences, numClasses);
    return m.n === meta.n && m.L === meta.L ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Writes via a temporary name, so an interrupted run never leaves a truncated file under the real name. */
export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
