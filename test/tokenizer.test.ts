// The TypeScript tokenizer against the Python one (models/recipes/tokenizer.py): identical ids on the committed
// fixture cases, plus hand-computed cases on a tiny vocabulary and the typed errors for malformed specs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createTokenizer, TokenizerError, type TokenizerPreprocess } from '../src/data/tokenizer.js';
import { rng } from './util.js';

function repoFile(rel: string): string {
  // Compiled to dist/test/, sources in test/: look up from either.
  for (const up of ['../../', '../']) {
    const p = fileURLToPath(new URL(up + rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`cannot find ${rel}`);
}

interface Fixture { tokenizer: TokenizerPreprocess; cases: { text: string; ids: number[] }[] }
const fixture: Fixture = JSON.parse(readFileSync(repoFile('test/fixtures/tokenizer-cases.json'), 'utf8'));

test('fixture: TS ids equal the Python tokenizer on every case', () => {
  const tok = createTokenizer(fixture.tokenizer);
  assert.ok(fixture.cases.length >= 200, `only ${fixture.cases.length} cases`);
  let mismatches = 0;
  const first: string[] = [];
  for (const c of fixture.cases) {
    const got = Array.from(tok.encode(c.text));
    if (got.join(',') !== c.ids.join(',')) {
      mismatches++;
      if (first.length < 3) first.push(`${JSON.stringify(c.text)}: got [${got}] expected [${c.ids}]`);
    }
  }
  assert.is(mismatches, 0, first.join('\n'));
});

test('fixture: the cases cover empty, truncated, unknown and multi-piece inputs', () => {
  const tok = createTokenizer(fixture.tokenizer);
  const { cls, unk, maxLen } = fixture.tokenizer;
  const lens = fixture.cases.map((c) => c.ids.length);
  assert.ok(fixture.cases.some((c) => c.text === '' && c.ids.length === 1 && c.ids[0] === cls), 'empty text -> [CLS]');
  assert.ok(lens.some((l) => l === maxLen), 'some case is truncated to maxLen');
  assert.ok(fixture.cases.some((c) => c.ids.includes(unk)), 'some case has an unknown symbol');
  for (const c of fixture.cases) {
    const ids = tok.encode(c.text);
    assert.ok(ids.length >= 1 && ids.length <= maxLen);
    assert.is(ids[0], cls);
    for (const id of ids) assert.ok(id >= 0 && id < fixture.tokenizer.vocab.length);
  }
});

test('fixture tokenizer is the one the shipped model carries', () => {
  let path: string;
  try { path = repoFile('models/sst2-transformer/sst2-transformer.spx'); } catch { return; } // not exported yet
  const bytes = readFileSync(path);
  const h = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.subarray(16, 16 + h).toString('utf8'));
  assert.equal(header.preprocess, fixture.tokenizer);
  assert.is(header.input.maxLen, fixture.tokenizer.maxLen);
  assert.is(header.input.vocabSize, fixture.tokenizer.vocab.length);
});

// A tiny spec whose outputs are worked out by hand below.
const W = '\u2581';
const tiny: TokenizerPreprocess = {
  kind: 'tokenizer', algorithm: 'splitee-bpe-v1', wordStart: W, lowercase: 'ascii+latin1',
  charMap: { '\u2019': "'", '\u2026': '...' }, maxLen: 8, pad: 0, unk: 1, cls: 2, mask: 3, prependCls: true,
  //        0        1        2        3         4      5     6     7     8      9        10      11     12      13
  vocab: ['[PAD]', '[UNK]', '[CLS]', '[MASK]', W + 'a', 'b', 'c', 'n', W + 'n', "n't", W + "n't", W + ',', W + '.', W + 'ab',
    // 14       15      16     17         18    19       20
    W + 'abc', 'bc', W + 'é', W + 'abc' + 'b', "'", W + "'", "'t"],
  merges: [W + 'a b', 'b c', W + 'ab c', W + 'abc b', "' t", W + "n 't"],
};

test('tiny spec: hand-computed ids', () => {
  const tok = createTokenizer(tiny);
  const enc = (s: string) => Array.from(tok.encode(s));
  // "abc": ▁a b c -> rank 0 (▁a,b) -> ▁ab c -> rank 2 -> ▁abc
  assert.equal(enc('abc'), [2, 14]);
  // "ABCB": lower-cased; ▁a b c b: rank 0 -> ▁ab c b; rank 2 -> ▁abc b; rank 3 -> ▁abcb
  assert.equal(enc('ABCB'), [2, 17]);
  // "bcbc": ▁b c b c: (▁b,c) has no rank, (c,b) none, (b,c) rank 1 -> ▁b c bc; ▁b unknown, c, bc
  assert.equal(enc('bcbc'), [2, 1, 6, 15]);
  // punctuation words alone; unknown "x"; Latin-1 capital É lower-cased to é
  assert.equal(enc('a, x.'), [2, 4, 11, 1, 12]);
  assert.equal(enc('É'), [2, 16]);
  // negation: "an’t" -> charMap ’ -> ' -> words "an" "'t" -> "a" + "n't"; ▁n ' t -> rank 4 -> ▁n 't -> rank 5
  assert.equal(enc('an\u2019t'), [2, 4, 10]);
  // "a n't" (SST-2 style) gives the same words
  assert.equal(tok.words("a n't"), ['a', "n't"]);
  assert.equal(tok.words("an't"), ['a', "n't"]);
  // a lone "n" + "'t" merges into one word; an apostrophe not followed by a word char stands alone
  assert.equal(tok.words("n't ' a' 'a"), ["n't", "'", 'a', "'", "'a"]);
  // truncation to maxLen 8 (CLS included)
  assert.equal(enc('a a a a a a a a a a'), [2, 4, 4, 4, 4, 4, 4, 4]);
  // empty and whitespace-only texts: CLS alone
  assert.equal(enc(''), [2]);
  assert.equal(enc(' \t\r\n\u00a0\u3000'), [2]);
  // ellipsis maps to three periods
  assert.equal(enc('\u2026'), [2, 12, 12, 12]);
});

test('tiny spec: whitespace and controls only separate words; astral code points stay one symbol', () => {
  const tok = createTokenizer(tiny);
  assert.equal(tok.words('a\tb\nc\u0001d\u200be\u2028f'), ['a', 'b', 'c', 'd', 'e', 'f']);
  assert.equal(tok.words('x😀y'), ['x😀y']);
  assert.equal(Array.from(tok.encode('😀')), [2, 1]);
  assert.equal(tok.words('Ünï ÷ ×'), ['ünï', '÷', '×']);
});

test('random inputs never throw and stay within bounds', () => {
  const tok = createTokenizer(fixture.tokenizer);
  const r = rng(7);
  const pool = ['a', 'Z', '9', ' ', "'", 'n', 't', '.', ',', '-', 'é', 'ß', '😀', '\u2019', '\t', 'x', 'q'];
  for (let i = 0; i < 300; i++) {
    const s = Array.from({ length: r.int(0, 120) }, () => pool[r.int(0, pool.length)]).join('');
    const ids = tok.encode(s);
    assert.ok(ids.length >= 1 && ids.length <= fixture.tokenizer.maxLen);
    assert.is(ids[0], fixture.tokenizer.cls);
  }
});

test('malformed specs and inputs are typed errors', () => {
  const bad = (patch: Record<string, unknown>) => {
    try {
      createTokenizer({ ...tiny, ...patch });
    } catch (e) {
      assert.instance(e, TokenizerError);
      assert.is((e as TokenizerError).code, 'BAD_PREPROCESS');
      return;
    }
    assert.unreachable(`accepted ${JSON.stringify(patch)}`);
  };
  bad({ kind: 'image' });
  bad({ algorithm: 'wordpiece' });
  bad({ lowercase: 'unicode' });
  bad({ vocab: [] });
  bad({ vocab: 'abc' });
  bad({ merges: ['a b c'] });
  bad({ unk: 99 });
  bad({ cls: -1 });
  bad({ maxLen: 0 });
  bad({ maxLen: 1.5 });
  bad({ prependCls: false });
  bad({ wordStart: 'ab' });
  bad({ charMap: { ab: 'x' } });
  try { createTokenizer(null); assert.unreachable(); } catch (e) { assert.instance(e, TokenizerError); }
  const tok = createTokenizer(tiny);
  try { tok.encode(42 as unknown as string); assert.unreachable(); } catch (e) {
    assert.instance(e, TokenizerError);
    assert.is((e as TokenizerError).code, 'BAD_INPUT');
  }
});

test.run();
