// Text dataset readers: synthetic files in a temp dir exercise both layouts and every error; the real datasets,
// found through the product's own lookup (--data-dir, $SPLITEE_DATA, ../shared/datasets, /usr/share/datasets), are
// checked against counts computed by models/recipes/text_data.py. Missing data fails the test with where it looked.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readSst2Dev, readSst2Train, readKotzias, parseSst2Tsv, parseKotzias, TextDataError, type TextSample,
} from '../src/data/text.js';
import { DataError, findDataset } from '../src/data/paths.js';
import { rng } from './util.js';

const tmp = mkdtempSync(join(tmpdir(), 'splitee-text-'));

const WORDS = ['film', 'is', "n't", 'a', 'great', ',', 'bad', 'é', 'Movie', '42', '"quoted"', "'s", '😀'];

function randomSamples(seed: number, n: number): TextSample[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => ({
    text: Array.from({ length: r.int(1, 12) }, () => WORDS[r.int(0, WORDS.length)]).join(' '),
    label: r.int(0, 2),
  }));
}

async function expectError(p: Promise<unknown> | (() => unknown), code: string, needle: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.instance(e, TextDataError);
    assert.instance(e, DataError);
    assert.is((e as TextDataError).code, code);
    assert.ok((e as Error).message.includes(needle), `"${(e as Error).message}" lacks "${needle}"`);
    return;
  }
  assert.unreachable(`no ${code} error`);
}

test('sst2: label first, both header spellings, CRLF, BOM, root or sst2/ folder', async () => {
  const root = join(tmp, 'root1');
  mkdirSync(join(root, 'sst2'), { recursive: true });
  const dev = randomSamples(1, 37);
  const train = randomSamples(2, 101);
  writeFileSync(join(root, 'sst2', 'dev.tsv'), 'label\tcontent\n' + dev.map((s) => `${s.label}\t${s.text}\n`).join(''));
  writeFileSync(join(root, 'sst2', 'train.tsv'),
    '\ufefflabel\tsentence\r\n' + train.map((s) => `${s.label}\t${s.text}`).join('\r\n'));
  assert.equal(await readSst2Dev(root), dev);
  assert.equal(await readSst2Train(root), train);
  assert.equal(await readSst2Dev(join(root, 'sst2')), dev);
});

test('kotzias: sentence first, no header, three files, text kept verbatim', async () => {
  const root = join(tmp, 'root2');
  mkdirSync(join(root, 'sentiment-sentences'), { recursive: true });
  const files = { imdb: 'imdb_labelled.txt', yelp: 'yelp_labelled.txt', amazon: 'amazon_cells_labelled.txt' } as const;
  let seed = 10;
  for (const [which, file] of Object.entries(files) as [keyof typeof files, string][]) {
    const rows = randomSamples(seed++, 53).map((s, i) => ({ ...s, text: i % 5 === 0 ? s.text + '  ' : s.text }));
    writeFileSync(join(root, 'sentiment-sentences', file), rows.map((s) => `${s.text}\t${s.label}\n`).join(''));
    assert.equal(await readKotzias(root, which), rows);
    assert.equal(await readKotzias(join(root, 'sentiment-sentences'), which), rows);
  }
  await expectError(readKotzias(root, 'twitter' as 'imdb'), 'TEXT_ARGUMENT', 'twitter');
});

test('strict parsing: line-numbered typed errors', async () => {
  await expectError(() => parseSst2Tsv('', 'x.tsv'), 'TEXT_HEADER', 'x.tsv:1');
  await expectError(() => parseSst2Tsv('sentence\tlabel\n', 'x.tsv'), 'TEXT_HEADER', 'x.tsv:1');
  await expectError(() => parseSst2Tsv('label\tsentence\n1\tgood\n0 bad\n', 'x.tsv'), 'TEXT_LINE', 'x.tsv:3');
  await expectError(() => parseSst2Tsv('label\tsentence\n1\tgood\n2\tbad\n', 'x.tsv'), 'TEXT_LABEL', 'x.tsv:3');
  await expectError(() => parseSst2Tsv('label\tsentence\ngood\t1\n', 'x.tsv'), 'TEXT_LABEL', 'x.tsv:2');
  await expectError(() => parseSst2Tsv('label\tsentence\n1\tgood\n\n0\tbad\n', 'x.tsv'), 'TEXT_LINE', 'x.tsv:3');
  await expectError(() => parseSst2Tsv('label\tsentence\n1\ta\tb\n', 'x.tsv'), 'TEXT_LINE', 'x.tsv:2');
  await expectError(() => parseKotzias('fine\t1\nnope\t1 \n', 'k.txt'), 'TEXT_LABEL', 'k.txt:2');
  await expectError(() => parseKotzias('fine\t1\n\n', 'k.txt'), 'TEXT_LINE', 'k.txt:2');
  await expectError(() => parseKotzias('no tab here\n', 'k.txt'), 'TEXT_LINE', 'k.txt:1');
  await expectError(() => parseKotzias(new Uint8Array([0x61, 0xff, 0x09, 0x31]), 'k.txt'), 'TEXT_ENCODING', 'k.txt');
  await expectError(readSst2Dev(join(tmp, 'nowhere')), 'TEXT_NOT_FOUND', 'dev.tsv');
  await expectError(readKotzias(join(tmp, 'nowhere'), 'yelp'), 'TEXT_NOT_FOUND', 'yelp_labelled.txt');
  // what parses: empty Kotzias file, header-only SST-2, a final line without newline, an empty sentence
  assert.equal(parseKotzias(''), []);
  assert.equal(parseSst2Tsv('label\tsentence'), []);
  assert.equal(parseSst2Tsv('label\tsentence\n0\t\n1\tok'), [{ text: '', label: 0 }, { text: 'ok', label: 1 }]);
  const err = (() => { try { parseKotzias('a\t1\nb\t9\n', 'k.txt'); } catch (e) { return e as TextDataError; } })();
  assert.is(err?.line, 2);
  assert.is(err?.file, 'k.txt');
});

test('real datasets: sizes, label balance and first rows (models/recipes/text_data.py agrees)', async () => {
  // Throws DatasetNotFoundError (every place looked, how to get the data) when absent: the test fails with it.
  const sst2 = findDataset('sst2', [['dev.tsv'], ['train.tsv']]);
  const kotzias = findDataset('sentiment-sentences', [['imdb_labelled.txt'], ['yelp_labelled.txt'], ['amazon_cells_labelled.txt']]);
  const dev = await readSst2Dev(sst2);
  assert.is(dev.length, 872);
  assert.is(dev.reduce((a, s) => a + s.label, 0), 444);
  assert.equal(dev[0], { text: 'one long string of cliches .', label: 0 });
  const train = await readSst2Train(sst2);
  assert.is(train.length, 67349);
  assert.is(train.reduce((a, s) => a + s.label, 0), 37569);
  assert.equal(train[0], { text: 'hide new secretions from the parental units', label: 0 });
  for (const which of ['imdb', 'yelp', 'amazon'] as const) {
    const rows = await readKotzias(kotzias, which);
    assert.is(rows.length, 1000, which);
    assert.is(rows.reduce((a, s) => a + s.label, 0), 500, which);
  }
  assert.equal((await readKotzias(kotzias, 'yelp'))[0], { text: 'Wow... Loved this place.', label: 1 });
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
test.run();
