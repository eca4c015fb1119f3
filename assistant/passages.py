"""Split records into passages the encoder can read whole.

all-MiniLM-L6-v2 reads at most 256 word pieces, so a long abstract embedded in one piece is silently cut. Every
record without text is one title passage; a record with text gets windows of consecutive sentences of at most
``max_words`` words, overlapping by one sentence, each prefixed by the title when encoded. Search runs over
passages and returns each paper once, with its best passage.
"""

from __future__ import annotations

from typing import Iterable

from .text import sentence_spans
from .types import Passage, Record

MAX_WORDS = 150


def record_passages(record: Record, max_words: int = MAX_WORDS) -> list[Passage]:
    if not record.text:
        return [Passage(record.id, 0, record.title, "")]
    spans = sentence_spans(record.text)
    passages: list[Passage] = []
    i = 0
    while i < len(spans):
        j, count = i, 0
        while j < len(spans):
            n = len(record.text[spans[j][0]:spans[j][1]].split())
            if j > i and count + n > max_words:
                break
            count += n
            j += 1
        start, end = spans[i][0], spans[j - 1][1]
        passages.append(Passage(record.id, len(passages), record.title, record.text[start:end], start, end))
        if j >= len(spans):
            break
        i = max(j - 1, i + 1)  # one sentence of overlap
    return passages


def split_records(records: Iterable[Record], max_words: int = MAX_WORDS) -> list[Passage]:
    return [p for r in records for p in record_passages(r, max_words)]
