"""Split records into passages the encoder can read whole.

all-MiniLM-L6-v2 reads at most 256 word pieces, so a long abstract embedded in one piece is silently cut. Every
record without text is one title passage (with its subject terms); a record with text gets windows of consecutive sentences of at most
``max_words`` words, overlapping by one sentence, each prefixed by the title when encoded. Given the encoder's
``TokenBudget`` (``token_budget``), a window also stops before its title and sentences pass the model's token
limit, so no text is cut: on SciFact, 150 words alone overran 256 tokens in 21% of passages, and fitting them
raised dense nDCG@10 from 0.653 to 0.665 (bf16). The sentences of all records are counted in one call to the
tokenizer. Search runs over passages and returns each paper once, with its best passage.

A full text (a record with ``parts``) is split part by part: no window crosses from one section or page into the
next, and each passage carries the section (and PDF page) it lies in, so a quote can be cited as "Results, p. 4".

No passage is longer than ``limits.MAX_PASSAGE_CHARS``, and text without sentence breaks is cut into bounded
pieces first (``text``), so one huge record cannot become one huge passage that every hit and answer would carry.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from ..limits import MAX_PASSAGE_CHARS
from ..text import sentence_spans
from ..encoders.token_budget import TokenBudget
from ..types import Part, Passage, Record

MAX_WORDS = 150


def _groups(record: Record) -> list[tuple[Part | None, list[tuple[int, int]]]]:
    """The record's sentence spans, grouped by the part (section, page) they lie in; one group without a part for an
    abstract."""
    if not record.text:
        return []
    parts = record.parts
    if not parts:
        return [(None, sentence_spans(record.text))]
    return [(part, [(part.start + a, part.start + b) for a, b in sentence_spans(record.text[part.start:part.end])])
            for part in parts]


def _windows(record: Record, spans: Sequence[tuple[int, int]], max_words: int, tokens: Sequence[float],
             room: float, part: Part | None = None, ordinal: int = 0) -> list[Passage]:
    """Windows of whole sentences within ``max_words`` words and ``room`` tokens (``tokens`` per sentence); a
    sentence too long for either is a window of its own. Ordinals count on from ``ordinal``."""
    passages: list[Passage] = []
    where = {"section": part.section, "page": part.page} if part else {}
    words = [len(record.text[a:b].split()) for a, b in spans]
    i = 0
    while i < len(spans):
        j, count, used = i, 0, 0.0
        while j < len(spans):
            if j > i and (count + words[j] > max_words or used + tokens[j] > room
                          or spans[j][1] - spans[i][0] > MAX_PASSAGE_CHARS):
                break
            count += words[j]
            used += tokens[j]
            j += 1
        start, end = spans[i][0], spans[j - 1][1]
        passages.append(Passage(record.id, ordinal + len(passages), record.title, record.text[start:end], start, end,
                                **where))
        if j >= len(spans):
            break
        i = max(j - 1, i + 1)  # one sentence of overlap
    return passages


def record_passages(record: Record, max_words: int = MAX_WORDS, budget: TokenBudget | None = None) \
        -> list[Passage]:
    return split_records([record], max_words, budget)


def split_records(records: Iterable[Record], max_words: int = MAX_WORDS, budget: TokenBudget | None = None) \
        -> list[Passage]:
    records = list(records)
    groups = [_groups(r) for r in records]
    counts = None
    if budget is not None:
        pieces = []
        for record, found in zip(records, groups):
            if record.text:  # the encoder reads "Title. text": the title's tokens, then the sentences'
                pieces.append(f"{record.title}." if record.title else "")
                pieces.extend(record.text[a:b] for _, spans in found for a, b in spans)
        counts = iter(budget.count(pieces))
    passages: list[Passage] = []
    for record, found in zip(records, groups):
        if not record.text:
            passages.append(Passage(record.id, 0, record.title, "", subjects="; ".join(record.subjects)))
            continue
        title = next(counts) if counts is not None else 0.0
        mine: list[Passage] = []
        for part, spans in found:
            if not spans:
                continue
            tokens = [next(counts) for _ in spans] if counts is not None else [0.0] * len(spans)
            room = budget.room - title if budget is not None else math.inf
            mine.extend(_windows(record, spans, max_words, tokens, room, part, len(mine)))
        passages.extend(mine)
    return passages
