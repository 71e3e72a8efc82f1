"""Sub-word tokenizer shipped inside the sst2-transformer model header.

The same algorithm is implemented in TypeScript (src/data/tokenizer.ts); test/fixtures/tokenizer-cases.json
(written by `python3 models/recipes/tokenizer.py fixtures`) holds ids produced here that the TS test compares.

Pipeline (spec "splitee-bpe-v1"):
  1. normalize code point by code point: ASCII A-Z and Latin-1 uppercase (U+00C0..U+00DE except U+00D7) to
     lowercase; characters in `charMap` replaced by their mapping; whitespace / control characters become a
     boundary (see `is_space`).
  2. pre-tokenize into words: runs of word characters (ASCII a-z 0-9 or any code point >= 128); an apostrophe
     followed by a word character starts a clitic word ("'s", "'t"); every other ASCII character is a word of
     its own. Then "X n" + "'t" or "Xn" + "'t" become "X" + "n't", so "doesn't" and SST-2's "does n't" agree.
  3. each word is split into code points, the first prefixed with the word-start mark U+2581, and BPE merges
     are applied GPT-2 style (repeatedly merge every occurrence, left to right, of the adjacent pair with the
     lowest merge rank); symbols not in the vocabulary become [UNK].
  4. ids = [CLS] + pieces, truncated to maxLen (CLS included). Empty text gives [CLS] alone.
"""
from __future__ import annotations

import collections
import json
import sys
from typing import Dict, Iterable, List, Sequence, Tuple

SPEC = 'splitee-bpe-v1'
WORD_START = '\u2581'
SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[MASK]']
PAD, UNK, CLS, MASK = 0, 1, 2, 3

# Typographic variants folded onto the ASCII forms that SST-2's text uses.
CHAR_MAP: Dict[str, str] = {
    '\u2018': "'", '\u2019': "'", '\u201b': "'", '\u2032': "'", '`': "'", '\u00b4': "'",
    '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u2033': '"', '\u00ab': '"', '\u00bb': '"',
    '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u2015': '-', '\u2212': '-',
    '\u0096': '-', '\u0097': '-',  # cp1252 en/em dash bytes that leaked into latin-1 decoded review text
    '\u2026': '...',
}

_SPACES = {0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF}


def is_space(cp: int) -> bool:
    """Whitespace and control characters: word boundaries that produce no token."""
    return cp <= 0x20 or 0x7F <= cp <= 0x9F or 0x2000 <= cp <= 0x200B or cp in _SPACES


def is_word_char(cp: int) -> bool:
    return (0x61 <= cp <= 0x7A) or (0x30 <= cp <= 0x39) or cp >= 0x80


def normalize(text: str, char_map: Dict[str, str] = CHAR_MAP) -> List[int]:
    out: List[int] = []
    for ch in text:
        mapped = char_map.get(ch)
        if mapped is not None:
            out.extend(ord(c) for c in mapped)
            continue
        cp = ord(ch)
        if 0x41 <= cp <= 0x5A or (0xC0 <= cp <= 0xDE and cp != 0xD7):
            cp += 0x20
        if is_space(cp):
            cp = 0x20
        out.append(cp)
    return out


def pretokenize(text: str, char_map: Dict[str, str] = CHAR_MAP) -> List[str]:
    cps = normalize(text, char_map)
    words: List[str] = []
    cur: List[str] = []
    i, n = 0, len(cps)

    def flush() -> None:
        if cur:
            words.append(''.join(cur))
            cur.clear()

    while i < n:
        cp = cps[i]
        if cp == 0x20:
            flush()
        elif is_word_char(cp):
            cur.append(chr(cp))
        elif cp == 0x27 and i + 1 < n and is_word_char(cps[i + 1]):
            flush()
            cur.append("'")
        else:
            flush()
            words.append(chr(cp))
        i += 1
    flush()
    # PTB-style negation split so raw text ("doesn't") matches SST-2's pre-tokenized text ("does n't").
    out: List[str] = []
    for w in words:
        if w == "'t" and out and out[-1].endswith('n') and is_word_char(ord(out[-1][0])):
            prev = out.pop()
            if len(prev) > 1:
                out.append(prev[:-1])
            out.append("n't")
        else:
            out.append(w)
    return out


def word_symbols(word: str) -> List[str]:
    chars = list(word)
    chars[0] = WORD_START + chars[0]
    return chars


def apply_merges(symbols: List[str], ranks: Dict[Tuple[str, str], int]) -> List[str]:
    while len(symbols) > 1:
        best, best_rank = None, None
        for a, b in zip(symbols, symbols[1:]):
            r = ranks.get((a, b))
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = (a, b), r
        if best is None:
            break
        a, b = best
        merged: List[str] = []
        i = 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                merged.append(a + b)
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return symbols


class Tokenizer:
    def __init__(self, spec: dict):
        if spec.get('kind') != 'tokenizer' or spec.get('algorithm') != SPEC:
            raise ValueError(f'not a {SPEC} tokenizer spec')
        self.spec = spec
        self.vocab: List[str] = spec['vocab']
        # First occurrence wins for duplicates (a piece can be rebuilt by two merge paths), as in the TS port.
        self.ids: Dict[str, int] = {}
        for i, s in enumerate(self.vocab):
            self.ids.setdefault(s, i)
        self.ranks: Dict[Tuple[str, str], int] = {}
        for i, m in enumerate(spec['merges']):
            a, b = m.split(' ')
            self.ranks.setdefault((a, b), i)
        self.char_map = spec['charMap']
        self.max_len = spec['maxLen']
        self.cls, self.unk = spec['cls'], spec['unk']
        self._cache: Dict[str, List[int]] = {}

    def word_ids(self, word: str) -> List[int]:
        hit = self._cache.get(word)
        if hit is None:
            hit = [self.ids.get(s, self.unk) for s in apply_merges(word_symbols(word), self.ranks)]
            if len(self._cache) < 200000:
                self._cache[word] = hit
        return hit

    def pieces(self, text: str) -> List[str]:
        return [self.vocab[i] for w in pretokenize(text, self.char_map) for i in self.word_ids(w)]

    def encode(self, text: str) -> List[int]:
        ids = [self.cls]
        for w in pretokenize(text, self.char_map):
            ids.extend(self.word_ids(w))
            if len(ids) >= self.max_len:
                break
        return ids[:self.max_len]


def train_bpe(texts: Iterable[str], vocab_size: int, max_len: int = 64) -> dict:
    """Learn merges from word frequencies. Ties break on the lexicographically smallest pair (deterministic)."""
    freq = collections.Counter(w for t in texts for w in pretokenize(t))
    words = [word_symbols(w) for w in freq]
    counts = [freq[w] for w in freq]
    base = sorted({s for syms in words for s in syms})
    n_merges = vocab_size - len(SPECIALS) - len(base)
    if n_merges < 0:
        raise ValueError(f'vocab_size {vocab_size} smaller than the base alphabet ({len(base)})')

    pair_count: Dict[Tuple[str, str], int] = collections.defaultdict(int)
    where: Dict[Tuple[str, str], set] = collections.defaultdict(set)
    for wi, syms in enumerate(words):
        for p in zip(syms, syms[1:]):
            pair_count[p] += counts[wi]
            where[p].add(wi)

    # Bucketed max search: rebuilding a heap lazily keeps this fast enough in pure Python.
    import heapq
    heap = [(-c, p) for p, c in pair_count.items()]
    heapq.heapify(heap)
    merges: List[str] = []
    while len(merges) < n_merges and heap:
        negc, p = heapq.heappop(heap)
        if pair_count.get(p, 0) != -negc or negc == 0:
            continue
        a, b = p
        merges.append(f'{a} {b}')
        ab = a + b
        changed = set()
        for wi in list(where[p]):
            syms = words[wi]
            c = counts[wi]
            for q in zip(syms, syms[1:]):
                pair_count[q] -= c
                changed.add(q)
            new: List[str] = []
            i = 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == a and syms[i + 1] == b:
                    new.append(ab)
                    i += 2
                else:
                    new.append(syms[i])
                    i += 1
            words[wi] = new
            for q in zip(new, new[1:]):
                pair_count[q] += c
                where[q].add(wi)
                changed.add(q)
        del where[p]
        pair_count.pop(p, None)
        for q in changed:
            c = pair_count.get(q, 0)
            if c > 0:
                heapq.heappush(heap, (-c, q))
            else:
                pair_count.pop(q, None)
    vocab = list(SPECIALS) + base + [m.replace(' ', '') for m in merges]
    # A merge can rebuild a string that is already a symbol (e.g. two paths to the same piece): keep ids unique.
    seen, uniq = set(), []
    for s in vocab:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return {
        'kind': 'tokenizer', 'algorithm': SPEC, 'wordStart': WORD_START, 'lowercase': 'ascii+latin1',
        'charMap': dict(CHAR_MAP), 'maxLen': max_len, 'pad': PAD, 'unk': UNK, 'cls': CLS, 'mask': MASK,
        'prependCls': True, 'vocab': uniq, 'merges': merges,
    }


FIXTURE_SENTENCES = [
    '', ' ', '\t\n', 'a', 'A', '.', "'", "''", "n't", "'t", "doesn't", 'does n\'t', "can't", "won't", "it's",
    "it 's", "I'm", "they're", "we'll", "'90s", "rock 'n' roll", "'quoted'", '"double"', 'Hello, World!',
    'HELLO', 'Ünïcödé ÀÉÎÕÜ Ç ×', 'café crème brûlée', 'naïve façade', 'Straße', 'ĞÖÇŞİ', 'Привет мир',
    '日本語のテキスト', 'emoji 😀🎬 film 👍', 'tab\tseparated\twords', 'line\nbreak\r\nwindows', 'nbsp\u00a0here',
    'zero\u200bwidth', 'em\u2014dash and en\u2013dash', 'curly \u2018single\u2019 and \u201cdouble\u201d quotes',
    'ellipsis\u2026 here', 'cp1252\x97dash', '3.14159 and 1,000,000 and 42', '2nd 3rd 21st 1990s',
    '$5.99 @home #tag 100%', 'C++ & C# -> <html>', 'a-b-c_d~e^f|g\\h', 'mid-90s self-indulgent',
    '...', '!!!', '?!?', '(parenthetical) [bracket] {brace}', 'x' * 200, 'the ' * 80, 'ab' * 40,
    'supercalifragilisticexpialidocious', 'antidisestablishmentarianism', 'unfunny unwatchable unoriginal',
    'Wow... Loved this place.', 'Crust is not good.', 'Not tasty and the texture was just nasty.',
    'A very, very, very slow-moving, aimless movie about a distressed, drifting young man.  ',
    '\ufeffbom at start', 'control\x01\x02chars', 'del\x7fchar', 'combining e\u0301 accent',
    'İstanbul', 'ǅ title-case digraph', 'ﬁ ligature', 'ＦＵＬＬＷＩＤＴＨ', 'x\u2028y\u2029z', "o'clock", "rock'n'roll",
    "don''t", "n't n't", "wasn 't", "'s 's", "can ' t", "ain't", "y'all", "'", "' '", "'n", "n'", 'Mr. Smith',
    'U.S.A.', 'e-mail: test@example.com', 'http://www.example.com/path?q=1&r=2', '----', '====', '*****',
]


def fixture_cases(tok: Tokenizer) -> List[dict]:
    import random
    from text_data import read_sst2, read_kotzias, DEFAULT_DATA_DIR
    rng = random.Random(1234)
    sents = list(FIXTURE_SENTENCES)
    dev = read_sst2(DEFAULT_DATA_DIR, 'dev')
    sents += [s.text for s in rng.sample(dev, 50)]
    for which in ('imdb', 'yelp', 'amazon'):
        sents += [s.text for s in rng.sample(read_kotzias(DEFAULT_DATA_DIR, which), 25)]
    # Random strings over a mixed alphabet exercise boundaries no natural sentence hits.
    alphabet = list("abcXYZ019 '\".,!?-\t\né€ñ😀\u2019\u2014\u00a0") + ["n't", "'s"]
    for _ in range(40):
        sents.append(''.join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))))
    return [{'text': s, 'ids': tok.encode(s)} for s in sents]


def main(argv: Sequence[str]) -> None:
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    if argv[:1] == ['fixtures']:
        model_json = os.path.join(here, 'work', 'tokenizer.json')
        spec = json.load(open(model_json))
        tok = Tokenizer(spec)
        cases = fixture_cases(tok)
        out = os.path.join(here, '..', '..', 'test', 'fixtures', 'tokenizer-cases.json')
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, 'w', encoding='utf-8') as f:
            json.dump({'tokenizer': spec, 'cases': cases}, f, ensure_ascii=True, separators=(',', ':'))
            f.write('\n')
        print(f'wrote {len(cases)} cases to {os.path.normpath(out)}')
    else:
        print('usage: tokenizer.py fixtures   (needs models/recipes/work/tokenizer.json from the recipe)')


if __name__ == '__main__':
    main(sys.argv[1:])
