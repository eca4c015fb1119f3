"""The extractive engine: the retrieved papers' own sentences that best answer the question, each cited.

No language model is involved, so nothing is invented: every answer sentence is a verbatim sentence of a cited
record (its title, for records without an abstract), followed by ``[n]``. Sentences are scored by embedding
similarity to the question plus a small bonus for shared content words, then picked best-first with at most two
per paper and no near-duplicates, and grouped by paper.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ..encoders import Encoder
from ..text import content_words, sentences
from ..types import Hit
from .guard import looks_like_instruction

LEXICAL_WEIGHT = 0.2
MAX_SENTENCES = 6
PER_PAPER = 2
REDUNDANT = 0.95
SECOND_SENTENCE_RATIO = 0.9
MIN_WORDS = 4


@dataclass(frozen=True)
class Evidence:
    """A candidate sentence of a retrieved record and how well it answers the question."""

    source: int  # 1-based position of the hit among the sources
    sentence: str
    score: float
    vector: np.ndarray


def cite(sentence: str, n: int) -> str:
    """Put ``[n]`` before the sentence's final punctuation; a title without any gets a full stop."""
    sentence = sentence.rstrip()
    if sentence[-1:] in (".", "?", "!"):
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


def _candidates(hit: Hit) -> list[str]:
    found = [hit.record.title] + [s for s in sentences(hit.record.text) if len(s.split()) >= MIN_WORDS]
    return [s for s in found if not looks_like_instruction(s)]


def select_evidence(question: str, query_vector: np.ndarray, hits: Sequence[Hit], encoder: Encoder,
                    min_score: float, max_papers: int) -> list[Evidence]:
    """Score every sentence of the relevant hits and pick the answer's evidence, grouped by paper."""
    pool = [(n, s) for n, hit in enumerate(hits, start=1)
            if hit.dense_score is not None and hit.dense_score >= min_score for s in _candidates(hit)]
    if not pool:
        return []
    vectors = encoder.encode_batch([s for _, s in pool])
    asked = content_words(question)
    scored = []
    for (n, sentence), vector in zip(pool, vectors):
        overlap = len(asked & content_words(sentence)) / len(asked) if asked else 0.0
        scored.append(Evidence(n, sentence, float(vector @ query_vector) + LEXICAL_WEIGHT * overlap, vector))
    scored.sort(key=lambda e: -e.score)

    chosen: list[Evidence] = []
    papers: dict[int, list[Evidence]] = {}
    for evidence in scored:
        if evidence.score < min_score or len(chosen) >= MAX_SENTENCES:
            break
        mine = papers.get(evidence.source, [])
        if not mine and len(papers) >= max_papers:
            continue
        if len(mine) >= PER_PAPER or (mine and evidence.score < SECOND_SENTENCE_RATIO * mine[0].score):
            continue
        if any(float(evidence.vector @ other.vector) > REDUNDANT for other in chosen):
            continue
        papers.setdefault(evidence.source, []).append(evidence)
        chosen.append(evidence)
    return [e for group in papers.values() for e in group]


class ExtractiveEngine:
    name = "extractive"

    def __init__(self, encoder: Encoder, min_score: float, max_papers: int):
        self.encoder = encoder
        self.min_score = min_score
        self.max_papers = max_papers

    def generate(self, question: str, sources: Sequence[Hit], query_vector: np.ndarray | None = None) \
            -> Iterator[str]:
        """Stream the answer paper by paper; sentences cite their source's position in ``sources``."""
        if query_vector is None:
            query_vector = self.encoder.encode_batch([question])[0]
        evidence = select_evidence(question, query_vector, sources, self.encoder, self.min_score, self.max_papers)
        current = None
        for item in evidence:
            if current is not None:
                yield "\n\n" if item.source != current else " "
            current = item.source
            yield cite(item.sentence, item.source)
