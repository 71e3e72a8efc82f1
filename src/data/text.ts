// Text datasets (Node side: reads files). Two layouts, both strict, both mirrored by models/recipes/text_data.py:
//   sst2/{train,dev}.tsv            header `label<TAB>sentence` (GLUE's dev.tsv says `label<TAB>content`), then
//                                    `label<TAB>sentence`: the label comes FIRST
//   sentiment-sentences/*_labelled.txt  `sentence<TAB>label`, no header (Kotzias et al.)
// Labels are exactly "0" or "1". CRLF line ends, a UTF-8 BOM and one final newline are accepted; any other
// deviation is a TextDataError naming the file and the 1-based line. Sentences are returned verbatim (the
// tokenizer treats all whitespace as a boundary, so trailing spaces in the Kotzias files are harmless).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataError } from './paths.js';

export interface TextSample { text: string; label: number }

export type KotziasSource = 'imdb' | 'yelp' | 'amazon';

export const KOTZIAS_FILE_NAMES: Record<KotziasSource, string> = {
  imdb: 'imdb_labelled.txt',
  yelp: 'yelp_labelled.txt',
  amazon: 'amazon_cells_labelled.txt',
};

export type TextDataErrorCode = 'TEXT_NOT_FOUND' | 'TEXT_ENCODING' | 'TEXT_HEADER' | 'TEXT_LINE' | 'TEXT_LABEL' | 'TEXT_ARGUMENT';

export class TextDataError extends DataError {
  constructor(code: TextDataErrorCode, message: string, readonly file?: string, readonly line?: number) {
    super(code, message);
    this.name = 'TextDataError';
  }
}

const SST2_SECOND_COLUMN = new Set(['sentence', 'content']);

function splitLines(text: string): string[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

function decode(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TextDataError('TEXT_ENCODING', `${what}: not valid UTF-8`, what);
  }
}

function label(s: string, what: string, line: number): number {
  if (s !== '0' && s !== '1') {
    throw new TextDataError('TEXT_LABEL', `${what}:${line}: label must be 0 or 1, got ${JSON.stringify(s)}`, what, line);
  }
  return s === '1' ? 1 : 0;
}

function columns(line: string, what: string, n: number): string[] {
  const cols = line.split('\t');
  if (cols.length !== 2) {
    throw new TextDataError('TEXT_LINE', `${what}:${n}: expected 2 tab-separated columns, got ${cols.length}`, what, n);
  }
  return cols;
}

/** Parses an SST-2 TSV (header, then label<TAB>sentence). `what` names the source in errors. */
export function parseSst2Tsv(content: string | Uint8Array, what = 'sst2 tsv'): TextSample[] {
  const lines = splitLines(typeof content === 'string' ? content : decode(content, what));
  if (lines.length === 0) throw new TextDataError('TEXT_HEADER', `${what}:1: empty file, expected header label<TAB>sentence`, what, 1);
  const head = lines[0].split('\t');
  if (head.length !== 2 || head[0] !== 'label' || !SST2_SECOND_COLUMN.has(head[1])) {
    throw new TextDataError('TEXT_HEADER', `${what}:1: expected header label<TAB>sentence, got ${JSON.stringify(lines[0])}`, what, 1);
  }
  const out: TextSample[] = new Array(lines.length - 1);
  for (let i = 1; i < lines.length; i++) {
    const cols = columns(lines[i], what, i + 1);
    out[i - 1] = { text: cols[1], label: label(cols[0], what, i + 1) };
  }
  return out;
}

/** Parses a Kotzias file (sentence<TAB>label, no header). */
export function parseKotzias(content: string | Uint8Array, what = 'kotzias txt'): TextSample[] {
  const lines = splitLines(typeof content === 'string' ? content : decode(content, what));
  return lines.map((line, i) => {
    const cols = columns(line, what, i + 1);
    return { text: cols[0], label: label(cols[1], what, i + 1) };
  });
}

/**
 * Reads the first of `candidates` that exists. `dir` may be the datasets root (holding sst2/ and
 * sentiment-sentences/) or the dataset's own folder, as src/data/paths.ts's findDataset returns it.
 */
async function readFirst(candidates: string[]): Promise<{ path: string; bytes: Uint8Array }> {
  for (const path of candidates) {
    try {
      return { path, bytes: new Uint8Array(await readFile(path)) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new TextDataError('TEXT_NOT_FOUND', `${path}: ${(e as Error).message}`, path);
    }
  }
  throw new TextDataError('TEXT_NOT_FOUND', `no such file; looked for ${candidates.join(' and ')}`, candidates[0]);
}

async function readSst2(dir: string, split: 'train' | 'dev'): Promise<TextSample[]> {
  const { path, bytes } = await readFirst([join(dir, 'sst2', `${split}.tsv`), join(dir, `${split}.tsv`)]);
  return parseSst2Tsv(bytes, path);
}

/** SST-2 dev (872 sentences). `dir`: the datasets root or the sst2/ folder itself. */
export function readSst2Dev(dir: string): Promise<TextSample[]> { return readSst2(dir, 'dev'); }

/** SST-2 train (67,349 phrases). */
export function readSst2Train(dir: string): Promise<TextSample[]> { return readSst2(dir, 'train'); }

/** One of the Kotzias et al. review-sentence files (1,000 sentences each). */
export async function readKotzias(dir: string, which: KotziasSource): Promise<TextSample[]> {
  const file = (KOTZIAS_FILE_NAMES as Record<string, string | undefined>)[which];
  if (file === undefined) {
    throw new TextDataError('TEXT_ARGUMENT', `unknown Kotzias source ${JSON.stringify(which)} (imdb, yelp or amazon)`);
  }
  const { path, bytes } = await readFirst([join(dir, 'sentiment-sentences', file), join(dir, file)]);
  return parseKotzias(bytes, path);
}
