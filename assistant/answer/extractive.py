"""The extractive engine: the retrieved papers' own sentences that best answer the question, each cited.

No language model is involved, so nothing is invented: every answer sentence is a sentence of a cited abstract (or
full text), shown without a leading section label or dangling connective (``relevance.standalone``), and followed
by ``[n]``. Only sentences that pass the relevance test count; each chosen paper gives one key finding (see
``relevance`` for how papers and quotes are chosen and how the weights were fitted). The first paragraph is the
bottom line, the best paper's finding; each further paragraph is one paper's finding. Papers known by their title
only give no finding: a title says what a paper is about, not what it found, so the answer lists them as related.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..encoders import Encoder
from ..text import sentences
from ..types import Hit
from .guard import looks_like_instruction
from .relevance import (CLOSENESS_WEIGHT, PAPER_MARGIN, RANK_BONUS, RELEVANCE_THRESHOLD, Question, evidence_score, is_relevant,
                        standalone, usable)


@dataclass(frozen=True)
class Finding:
    """A paper's key finding: the sentence shown, the verbatim source sentence behind it, and its scores."""

    source: int  # 1-based position of the hit among the sources
    sentence: str
    quote: str
    relevance: float
    paper_score: float


def cite(sentence: str, n: int) -> str:
    """Put ``[n]`` before the sentence's final punctuation; a sentence without any gets a full stop."""
    sentence = sentence.rstrip()
    if sentence[-1:] in (".", "?", "!"):
        return f"{sentence[:-1]} [{n}]{sentence[-1]}"
    return f"{sentence} [{n}]."


def _candidates(hit: Hit) -> list[tuple[int, int, str, str]]:
    """``(position, count, shown, quote)`` for each sentence of the hit's text that can be a finding."""
    found = sentences(hit.record.text) if hit.record.text else []
    out = []
    for i, quote in enumerate(found):
        shown = standalone(quote)
        if usable(shown) and not looks_like_instruction(quote):
            out.append((i, len(found), shown, quote))
    return out


@dataclass(frozen=True)
class Scored:
    """A candidate sentence with its relevance and evidence scores (``relevance``)."""

    source: int
    position: int
    sentence: str
    quote: str
    relevance: float
    evidence: float
    closeness: float = 0.0  # the paper's retrieval cosine (its best passage against the question)


def score_sentences(question: Question, hits: Sequence[Hit], encoder: Encoder) -> list[Scored]:
    """Every candidate sentence of the hits, scored against the question in one encoder call."""
    pool = [(n, c) for n, hit in enumerate(hits, start=1) for c in _candidates(hit)]
    if not pool:
        return []
    vectors = encoder.encode_batch([shown for _, (_, _, shown, _) in pool])
    return [Scored(n, position, shown, quote, question.relevance(shown, vector),
                   evidence_score(question, shown, vector, position, count), hits[n - 1].dense_score or 0.0)
            for (n, (position, count, shown, quote)), vector in zip(pool, vectors)]


def choose_findings(scored: Sequence[Scored], max_papers: int, threshold: float = RELEVANCE_THRESHOLD,
                    margin: float = PAPER_MARGIN, rank_bonus: float = RANK_BONUS,
                    closeness_weight: float = CLOSENESS_WEIGHT) -> list[Finding]:
    """One key finding per chosen paper, the best paper first (see ``relevance``)."""
    relevant: dict[int, list[Scored]] = {}
    for s in scored:
        if is_relevant(s.relevance, threshold):
            relevant.setdefault(s.source, []).append(s)
    papers = []
    for n, found in relevant.items():
        quote = max(found, key=lambda s: (s.evidence, -s.position))
        papers.append(Finding(n, quote.sentence, quote.quote, quote.relevance,
                              max(s.relevance for s in found) + rank_bonus / n
                              + closeness_weight * found[0].closeness))
    papers.sort(key=lambda f: -f.paper_score)
    return [f for f in papers if f.paper_score >= papers[0].paper_score - margin][:max_papers] if papers else []


def select_findings(question: Question, hits: Sequence[Hit], encoder: Encoder, max_papers: int) -> list[Finding]:
    return choose_findings(score_sentences(question, hits, encoder), max_papers)


class ExtractiveEngine:
    name = "extractive"

    def __init__(self, encoder: Encoder, max_papers: int, question_of: Callable[[str, np.ndarray], Question]):
        self.encoder = encoder
        self.max_papers = max_papers
        self.question_of = question_of

    def generate(self, question: str, sources: Sequence[Hit], query_vector: np.ndarray | None = None) \
            -> Iterator[str]:
        """Stream the bottom line, then one paragraph per further paper; sentences cite their source's position
        in ``sources``."""
        if query_vector is None:
            query_vector = self.encoder.encode_batch([question])[0]
        findings = select_findings(self.question_of(question, query_vector), sources, self.encoder,
                                   self.max_papers)
        for i, finding in enumerate(findings):
            yield ("\n\n" if i else "") + cite(finding.sentence, finding.source)
