// The sub-word tokenizer that text models carry in their header (`preprocess.kind == "tokenizer"`), spec
// "splitee-bpe-v1". It must give exactly the ids of models/recipes/tokenizer.py (test/tokenizer.test.ts compares
// both on committed fixtures), so every step works on Unicode code points with explicit ASCII/Latin-1 rules rather
// than locale- or Unicode-version-dependent helpers (toLowerCase, \w, normalize).
//
//  1. normalize per code point: charMap replacements; A-Z and Latin-1 capitals U+00C0..U+00DE (not U+00D7) to
//     lower case; whitespace/control code points become boundaries.
//  2. words: runs of word characters (a-z, 0-9, any code point >= 0x80); an apostrophe directly followed by a word
//     character starts a clitic ("'s", "'t"); any other ASCII character is a word alone. Then "…n" + "'t" becomes
//     "…" + "n't" (so "doesn't" matches SST-2's "does n't").
//  3. BPE per word: code points, the first prefixed with wordStart (U+2581); repeatedly merge every occurrence (left
//     to right) of the adjacent pair with the lowest rank; unknown symbols become `unk`.
//  4. ids = [cls] + pieces, cut to maxLen. Core module: no Node imports.

export class TokenizerError extends Error {
  constructor(readonly code: 'BAD_PREPROCESS' | 'BAD_INPUT', message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export const TOKENIZER_ALGORITHM = 'splitee-bpe-v1';

/** The header's `preprocess` for text models. */
export interface TokenizerPreprocess {
  kind: 'tokenizer';
  algorithm: typeof TOKENIZER_ALGORITHM;
  wordStart: string;
  lowercase: 'ascii+latin1';
  charMap: Record<string, string>;
  maxLen: number;
  pad: number;
  unk: number;
  cls: number;
  mask?: number;
  prependCls: boolean;
  /** Piece strings by id. */
  vocab: string[];
  /** Merge rules by rank, each "left right" (pieces never contain a space). */
  merges: string[];
}

export interface Tokenizer {
  readonly maxLen: number;
  readonly vocabSize: number;
  /** Token ids, length 1..maxLen ([CLS] first). */
  encode(text: string): Int32Array;
  /** The words after normalization and pre-tokenization (for debugging and tests). */
  words(text: string): string[];
  /** Piece strings of `text` without [CLS] and without truncation. */
  pieces(text: string): string[];
}

const SPACES = new Set([0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff]);

function isSpace(cp: number): boolean {
  return cp <= 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x2000 && cp <= 0x200b) || SPACES.has(cp);
}

function isWordChar(cp: number): boolean {
  return (cp >= 0x61 && cp <= 0x7a) || (cp >= 0x30 && cp <= 0x39) || cp >= 0x80;
}

function normalize(text: string, charMap: Map<string, number[]>): number[] {
  const out: number[] = [];
  for (const ch of text) { // iterates code points, like Python's str
    const mapped = charMap.get(ch);
    if (mapped !== undefined) { for (const c of mapped) out.push(c); continue; }
    let cp = ch.codePointAt(0)!;
    if ((cp >= 0x41 && cp <= 0x5a) || (cp >= 0xc0 && cp <= 0xde && cp !== 0xd7)) cp += 0x20;
    out.push(isSpace(cp) ? 0x20 : cp);
  }
  return out;
}

function pretokenize(text: string, charMap: Map<string, number[]>): string[] {
  const cps = normalize(text, charMap);
  const words: string[] = [];
  let cur: number[] = [];
  const flush = () => { if (cur.length) { words.push(String.fromCodePoint(...cur)); cur = []; } };
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i];
    if (cp === 0x20) flush();
    else if (isWordChar(cp)) cur.push(cp);
    else if (cp === 0x27 && i + 1 < cps.length && isWordChar(cps[i + 1])) { flush(); cur.push(cp); }
    else { flush(); words.push(String.fromCodePoint(cp)); }
  }
  flush();
  const out: string[] = [];
  for (const w of words) {
    const prev = out.length ? out[out.length - 1] : undefined;
    if (w === "'t" && prev !== undefined && prev.endsWith('n') && isWordChar(prev.codePointAt(0)!)) {
      out.pop();
      if (prev.length > 1) out.push(prev.slice(0, -1)); // 'n' is one UTF-16 unit
      out.push("n't");
    } else {
      out.push(w);
    }
  }
  return out;
}

function fail(msg: string): never {
  throw new TokenizerError('BAD_PREPROCESS', `tokenizer preprocess: ${msg}`);
}

function isId(v: unknown, vocabSize: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < vocabSize;
}

/** Builds the tokenizer a model header describes; throws TokenizerError('BAD_PREPROCESS') on a malformed spec. */
export function createTokenizer(preprocess: unknown): Tokenizer {
  const p = preprocess as Partial<TokenizerPreprocess> | null;
  if (!p || typeof p !== 'object' || p.kind !== 'tokenizer') fail(`kind must be "tokenizer", got ${JSON.stringify(p?.kind)}`);
  if (p.algorithm !== TOKENIZER_ALGORITHM) fail(`unsupported algorithm ${JSON.stringify(p.algorithm)} (expected ${TOKENIZER_ALGORITHM})`);
  if (p.lowercase !== 'ascii+latin1') fail(`unsupported lowercase rule ${JSON.stringify(p.lowercase)}`);
  if (typeof p.wordStart !== 'string' || [...p.wordStart].length !== 1) fail('wordStart must be one character');
  if (!Array.isArray(p.vocab) || p.vocab.length === 0 || !p.vocab.every((s) => typeof s === 'string')) fail('vocab must be an array of strings');
  if (!Array.isArray(p.merges) || !p.merges.every((m) => typeof m === 'string' && m.split(' ').length === 2)) {
    fail('merges must be an array of "left right" strings');
  }
  const V = p.vocab.length;
  if (!isId(p.unk, V) || !isId(p.cls, V) || !isId(p.pad, V)) fail('pad, unk and cls must be ids inside the vocabulary');
  if (!(typeof p.maxLen === 'number' && Number.isInteger(p.maxLen) && p.maxLen >= 1)) fail('maxLen must be a positive integer');
  if (p.prependCls !== true) fail('prependCls must be true (the only layout this version knows)');
  if (!p.charMap || typeof p.charMap !== 'object' || Array.isArray(p.charMap)) fail('charMap must be an object');
  const charMap = new Map<string, number[]>();
  for (const [k, v] of Object.entries(p.charMap)) {
    if ([...k].length !== 1 || typeof v !== 'string') fail(`charMap entry ${JSON.stringify(k)} must map one character to a string`);
    charMap.set(k, [...v].map((c) => c.codePointAt(0)!));
  }

  const ids = new Map<string, number>();
  p.vocab.forEach((s, i) => { if (!ids.has(s)) ids.set(s, i); });
  // Rank lookup keyed "left right": pieces never contain U+0020, so the key is unambiguous.
  const ranks = new Map<string, number>();
  p.merges.forEach((m, i) => { if (!ranks.has(m)) ranks.set(m, i); });
  const wordStart = p.wordStart;
  const unk = p.unk, cls = p.cls, maxLen = p.maxLen;
  const cache = new Map<string, number[]>();

  function bpe(word: string): string[] {
    let syms = [...word];
    syms[0] = wordStart + syms[0];
    while (syms.length > 1) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = ranks.get(syms[i] + ' ' + syms[i + 1]);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const a = syms[best], b = syms[best + 1];
      const merged: string[] = [];
      for (let i = 0; i < syms.length;) {
        if (i + 1 < syms.length && syms[i] === a && syms[i + 1] === b) { merged.push(a + b); i += 2; }
        else { merged.push(syms[i]); i += 1; }
      }
      syms = merged;
    }
    return syms;
  }

  function wordIds(word: string): number[] {
    let hit = cache.get(word);
    if (hit === undefined) {
      hit = bpe(word).map((s) => ids.get(s) ?? unk);
      if (cache.size < 100_000) cache.set(word, hit);
    }
    return hit;
  }

  function checkText(text: unknown): asserts text is string {
    if (typeof text !== 'string') throw new TokenizerError('BAD_INPUT', `tokenizer input must be a string, got ${typeof text}`);
  }

  return {
    maxLen,
    vocabSize: V,
    words(text: string): string[] { checkText(text); return pretokenize(text, charMap); },
    pieces(text: string): string[] {
      checkText(text);
      return pretokenize(text, charMap).flatMap((w) => wordIds(w).map((i) => p.vocab![i]));
    },
    encode(text: string): Int32Array {
      checkText(text);
      const out: number[] = [cls];
      for (const w of pretokenize(text, charMap)) {
        for (const id of wordIds(w)) out.push(id);
        if (out.length >= maxLen) break;
      }
      return Int32Array.from(out.length > maxLen ? out.slice(0, maxLen) : out);
    },
  };
}
