"""Strict readers for the text datasets (mirrors src/data/text.ts).

sst2/{train,dev}.tsv: a header whose first column is `label` (second `sentence`, or `content` in the shipped
dev.tsv), then `label<TAB>sentence` lines. sentiment-sentences/{imdb,yelp,amazon_cells}_labelled.txt:
`sentence<TAB>label`, no header. Labels are 0 (negative) or 1 (positive). CRLF line ends and one trailing
newline are accepted; anything else malformed raises TextDataError naming the file and line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA_DIR = os.environ.get('SPLITEE_DATA') or os.path.normpath(
    os.path.join(HERE, '..', '..', '..', 'shared', 'datasets'))
if not os.path.isdir(DEFAULT_DATA_DIR) and os.path.isdir('/work/shared/datasets'):
    DEFAULT_DATA_DIR = '/work/shared/datasets'

KOTZIAS_FILES = {'imdb': 'imdb_labelled.txt', 'yelp': 'yelp_labelled.txt', 'amazon': 'amazon_cells_labelled.txt'}
SST2_SECOND_COLUMN = ('sentence', 'content')


class TextDataError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class TextSample:
    text: str
    label: int


def _lines(path: str) -> List[str]:
    try:
        raw = open(path, 'rb').read()
    except FileNotFoundError:
        raise TextDataError('NOT_FOUND', f'{path}: no such file')
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise TextDataError('BAD_ENCODING', f'{path}: not UTF-8 ({e})')
    if text.startswith('\ufeff'):
        text = text[1:]
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    return [l[:-1] if l.endswith('\r') else l for l in lines]


def _label(path: str, lineno: int, s: str) -> int:
    if s not in ('0', '1'):
        raise TextDataError('BAD_LABEL', f'{path}:{lineno}: label must be 0 or 1, got {s!r}')
    return int(s)


def read_sst2(data_dir: str, split: str) -> List[TextSample]:
    path = os.path.join(data_dir, 'sst2', f'{split}.tsv')
    lines = _lines(path)
    if not lines:
        raise TextDataError('BAD_HEADER', f'{path}:1: empty file, expected header label<TAB>sentence')
    head = lines[0].split('\t')
    if len(head) != 2 or head[0] != 'label' or head[1] not in SST2_SECOND_COLUMN:
        raise TextDataError('BAD_HEADER', f'{path}:1: expected header label<TAB>sentence, got {lines[0]!r}')
    out = []
    for i, line in enumerate(lines[1:], start=2):
        cols = line.split('\t')
        if len(cols) != 2:
            raise TextDataError('BAD_LINE', f'{path}:{i}: expected 2 tab-separated columns, got {len(cols)}')
        out.append(TextSample(cols[1], _label(path, i, cols[0])))
    return out


def read_kotzias(data_dir: str, which: str) -> List[TextSample]:
    if which not in KOTZIAS_FILES:
        raise TextDataError('BAD_ARGUMENT', f'unknown Kotzias source {which!r} (imdb, yelp, amazon)')
    path = os.path.join(data_dir, 'sentiment-sentences', KOTZIAS_FILES[which])
    out = []
    for i, line in enumerate(_lines(path), start=1):
        cols = line.split('\t')
        if len(cols) != 2:
            raise TextDataError('BAD_LINE', f'{path}:{i}: expected 2 tab-separated columns, got {len(cols)}')
        out.append(TextSample(cols[0], _label(path, i, cols[1])))
    return out


STREAMS = {
    'sst2:dev': lambda d: read_sst2(d, 'dev'),
    'kotzias:imdb': lambda d: read_kotzias(d, 'imdb'),
    'kotzias:yelp': lambda d: read_kotzias(d, 'yelp'),
    'kotzias:amazon': lambda d: read_kotzias(d, 'amazon'),
}
