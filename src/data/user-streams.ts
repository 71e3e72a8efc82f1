// Streams from the user's own files (Node side), for models they imported:
//   images:DIR   one sub-folder per class holding PNG/JPEG pictures; each is converted to the model's channels and
//                resized to its input size (pixels in [0, 1]; the model's preprocess is applied by the engine)
//   jsonl:FILE   one JSON object per line: {"input": [pixels in [0, 1], C·H·W channel-major] or "text", "label": k}
//   tsv:FILE     label<TAB>text per line (text models, whose file carries a tokenizer)
// Labels are class indices, or class names of the model (`classes`). The result has the same shape as the named
// streams' (stream-types.ts), so every command that reads a stream reads these.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { decodeImage, imageToPixels } from '../image/index.js';
import { DataError } from './paths.js';
import type { DataStream, ImageSample, StreamName, TextSample } from './stream-types.js';

export const USER_STREAM_KINDS = ['images', 'jsonl', 'tsv'] as const;
export type UserStreamKind = (typeof USER_STREAM_KINDS)[number];

export interface UserStreamOptions {
  /** Only the first `limit` samples (a positive integer). */
  limit?: number;
  /** The model's input shape [C, H, W]: required for images:DIR (pictures are resized to it) and checked for jsonl. */
  shape?: readonly [number, number, number];
  /** The model's class names: labels may name them, folders of images:DIR are matched to them. */
  classes?: readonly string[];
}

const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** Whether `name` is a user stream spec (`images:DIR`, `jsonl:FILE`, `tsv:FILE`). */
export function isUserStreamSpec(name: string): boolean {
  const i = name.indexOf(':');
  return i > 0 && (USER_STREAM_KINDS as readonly string[]).includes(name.slice(0, i)) && name.length > i + 1;
}

const err = (code: string, msg: string) => new DataError(code, msg);

/** A label given as an index or a class name → the class index. */
function labelOf(v: unknown, classes: readonly string[] | undefined, where: string): number {
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v.trim()))) {
    const k = Number(v);
    if (!Number.isInteger(k) || k < 0 || (classes && k >= classes.length)) {
      throw err('BAD_LABEL', `${where}: label ${String(v)} is not a class index${classes ? ` in 0..${classes.length - 1}` : ''}`);
    }
    return k;
  }
  if (typeof v === 'string' && classes) {
    const k = classes.indexOf(v.trim());
    if (k >= 0) return k;
  }
  throw err('BAD_LABEL', `${where}: label ${JSON.stringify(v)} is neither a class index nor one of the model's classes${classes ? ` (${classes.join(', ')})` : ''}`);
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!(Number.isInteger(limit) && limit > 0)) throw err('BAD_LIMIT', `limit must be a positive integer, got ${limit}`);
  return limit;
}

/** Opens `images:DIR`, `jsonl:FILE` or `tsv:FILE`; every sample is read (and, for images, decoded) up front. */
export async function openUserStream(spec: string, opts: UserStreamOptions = {}): Promise<DataStream> {
  if (!isUserStreamSpec(spec)) throw err('UNKNOWN_STREAM', `'${spec}' is not a user stream: use images:DIR, jsonl:FILE or tsv:FILE`);
  const i = spec.indexOf(':');
  const kind = spec.slice(0, i) as UserStreamKind;
  const path = resolve(spec.slice(i + 1));
  const limit = checkLimit(opts.limit);
  let st;
  try { st = await stat(path); } catch { throw err('NOT_FOUND', `${spec}: ${path} does not exist`); }
  if (kind === 'images') {
    if (!st.isDirectory()) throw err('NOT_FOUND', `${spec}: ${path} is not a folder (images:DIR takes a folder with one sub-folder per class)`);
    return openImages(spec, path, limit, opts);
  }
  if (!st.isFile()) throw err('NOT_FOUND', `${spec}: ${path} is not a file`);
  const text = await readFile(path, 'utf8');
  return kind === 'jsonl' ? openJsonl(spec, path, text, limit, opts) : openTsv(spec, path, text, limit, opts);
}

async function openImages(spec: string, dir: string, limit: number, opts: UserStreamOptions): Promise<DataStream> {
  const shape = opts.shape;
  if (!shape) throw err('NEEDS_MODEL', `${spec}: pictures are resized to the model's input, so images:DIR needs the model's shape`);
  const folders = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name).sort();
  if (folders.length === 0) throw err('EMPTY', `${spec}: no class folders in ${dir} (put each class's pictures in a sub-folder named after it)`);
  // Folder → class index: by the model's class names when they all match, else in sorted order when the counts agree.
  let classes: readonly string[];
  let index: (f: string) => number;
  if (opts.classes && folders.every((f) => opts.classes!.includes(f))) {
    classes = opts.classes;
    index = (f) => opts.classes!.indexOf(f);
  } else if (!opts.classes || opts.classes.length === folders.length) {
    if (opts.classes && folders.some((f) => opts.classes!.includes(f))) {
      throw err('BAD_LABEL', `${spec}: the folders (${folders.join(', ')}) name only some of the model's classes (${opts.classes.join(', ')})`);
    }
    classes = opts.classes ?? folders;
    index = (f) => folders.indexOf(f);
  } else {
    throw err('BAD_LABEL', `${spec}: ${folders.length} class folders (${folders.join(', ')}) for a model with ${opts.classes.length} classes (${opts.classes.join(', ')}); name the folders after the classes`);
  }
  const files: { path: string; label: number }[] = [];
  for (const f of folders) {
    const names = (await readdir(join(dir, f))).filter((n) => IMAGE_EXTENSIONS.has(extname(n).toLowerCase())).sort();
    for (const n of names) files.push({ path: join(dir, f, n), label: index(f) });
  }
  if (files.length === 0) throw err('EMPTY', `${spec}: no .png/.jpg/.jpeg files in the class folders`);
  // Interleave classes (file order within each class kept) so that a --limit still sees every class.
  const byClass = new Map<number, { path: string; label: number }[]>();
  for (const f of files) { if (!byClass.has(f.label)) byClass.set(f.label, []); byClass.get(f.label)!.push(f); }
  const order: { path: string; label: number }[] = [];
  for (let r = 0; order.length < files.length; r++) for (const list of byClass.values()) if (r < list.length) order.push(list[r]);
  const size = Math.min(order.length, limit);
  const samples: ImageSample[] = [];
  for (let k = 0; k < size; k++) {
    const f = order[k];
    let input: Float32Array;
    try {
      input = imageToPixels(await decodeImage(new Uint8Array(await readFile(f.path))), shape);
    } catch (e) {
      throw err('BAD_IMAGE', `${f.path}: ${(e as Error).message}`);
    }
    samples.push({ index: k, label: f.label, input });
  }
  return { name: spec as StreamName, kind: 'image', size, total: order.length, classes, dir, source: 'full', shape: [shape[0], shape[1], shape[2]], samples };
}

function openJsonl(spec: string, path: string, text: string, limit: number, opts: UserStreamOptions): DataStream {
  const lines = text.split(/\r?\n/).map((l, n) => ({ l: l.trim(), n: n + 1 })).filter((x) => x.l !== '');
  if (lines.length === 0) throw err('EMPTY', `${spec}: no samples`);
  const images: ImageSample[] = [], texts: TextSample[] = [];
  let maxLabel = -1;
  for (const { l, n } of lines.slice(0, Math.min(lines.length, limit))) {
    const where = `${path}:${n}`;
    let v: unknown;
    try { v = JSON.parse(l); } catch (e) { throw err('BAD_LINE', `${where}: not JSON (${(e as Error).message})`); }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw err('BAD_LINE', `${where}: expected {"input": …, "label": k}`);
    const o = v as { input?: unknown; text?: unknown; label?: unknown };
    const label = labelOf(o.label, opts.classes, where);
    maxLabel = Math.max(maxLabel, label);
    const input = o.input ?? o.text;
    if (typeof input === 'string') {
      if (images.length) throw err('BAD_LINE', `${where}: text after image samples: a stream is one kind`);
      texts.push({ index: texts.length, label, input });
    } else if (Array.isArray(input) && input.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      if (texts.length) throw err('BAD_LINE', `${where}: pixels after text samples: a stream is one kind`);
      const px = Float32Array.from(input as number[]);
      if (opts.shape && px.length !== opts.shape[0] * opts.shape[1] * opts.shape[2]) {
        throw err('BAD_LINE', `${where}: ${px.length} values, the model takes ${opts.shape.join('·')} = ${opts.shape[0] * opts.shape[1] * opts.shape[2]}`);
      }
      if (images.length && px.length !== images[0].input.length) throw err('BAD_LINE', `${where}: ${px.length} values, the first sample has ${images[0].input.length}`);
      images.push({ index: images.length, label, input: px });
    } else {
      throw err('BAD_LINE', `${where}: "input" must be an array of numbers (pixels in [0, 1]) or a string (text)`);
    }
  }
  const classes = opts.classes ?? Array.from({ length: maxLabel + 1 }, (_, k) => String(k));
  if (texts.length) return { name: spec as StreamName, kind: 'text', size: texts.length, total: lines.length, classes, dir: path, source: 'full', samples: texts };
  const n = images[0].input.length;
  const shape: [number, number, number] = opts.shape ? [opts.shape[0], opts.shape[1], opts.shape[2]] : [1, 1, n];
  return { name: spec as StreamName, kind: 'image', size: images.length, total: lines.length, classes, dir: path, source: 'full', shape, samples: images };
}

function openTsv(spec: string, path: string, text: string, limit: number, opts: UserStreamOptions): DataStream {
  const rows = text.split(/\r?\n/).map((l, n) => ({ l, n: n + 1 })).filter((x) => x.l.trim() !== '');
  if (rows.length === 0) throw err('EMPTY', `${spec}: no samples`);
  const samples: TextSample[] = [];
  let maxLabel = -1;
  for (const { l, n } of rows.slice(0, Math.min(rows.length, limit))) {
    const tab = l.indexOf('\t');
    if (tab < 0) throw err('BAD_LINE', `${path}:${n}: expected label<TAB>text`);
    const label = labelOf(l.slice(0, tab), opts.classes, `${path}:${n}`);
    maxLabel = Math.max(maxLabel, label);
    samples.push({ index: samples.length, label, input: l.slice(tab + 1) });
  }
  const classes = opts.classes ?? Array.from({ length: maxLabel + 1 }, (_, k) => String(k));
  return { name: spec as StreamName, kind: 'text', size: samples.length, total: rows.length, classes, dir: path, source: 'full', samples };
}
