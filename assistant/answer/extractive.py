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
from ..types import Hit
from .relevance import (PAPER_BIAS, PAPER_MIN_PROBABILITY, PAPER_WEIGHTS, RELEVANCE_THRESHOLD, Question,
                        evidence_score, is_relevant, paper_probability, standalone, usable)
from .verify import evidence_sentences


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
    """``(position, count, shown, quote)`` for each sentence of the hit's text that can be a finding: the abstract,
    or for a full text the passage retrieval matched (``verify.evidence_sentences``)."""
    found = evidence_sentences(hit.record, hit.passages) if hit.record.text else []
    out = []
    for i, quote in enumerate(found):
        shown = standalone(quote)
        if usable(shown):
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
    closeness_gap: float = 0.0  # that cosine minus the best one among the hits (<= 0)
    sparse_share: float = 0.0  # the paper's BM25 score as a share of the best among the hits


def score_sentences(question: Question, hits: Sequence[Hit], encoder: Encoder) -> list[Scored]:
    """Every candidate sentence of the hits, scored against the question in one encoder call."""
    pool = [(n, c) for n, hit in enumerate(hits, start=1) for c in _candidates(hit)]
    if not pool:
        return []
    vectors = encoder.encode_batch([shown for _, (_, _, shown, _) in pool])
    dense = [h.dense_score or 0.0 for h in hits]
    sparse = [h.sparse_score or 0.0 for h in hits]
    best_dense, best_sparse = max(dense), max(sparse) or 1.0
    return [Scored(n, position, shown, quote, question.relevance(shown, vector),
                   evidence_score(question, shown, vector, position, count), dense[n - 1],
                   dense[n - 1] - best_dense, sparse[n - 1] / best_sparse)
            for (n, (position, count, shown, quote)), vector in zip(pool, vectors)]


def paper_features(found: Sequence[Scored], best_relevance: float) -> list[float]:
    """What ``relevance.paper_probability`` reads about one paper, from its scored sentences."""
    ranked = sorted((s.relevance for s in found), reverse=True)
    first = found[0]
    return [ranked[0], float(np.mean(ranked[:2])), 1.0 / first.source, first.closeness, first.closeness_gap,
            first.sparse_share, ranked[0] - best_relevance, max(s.evidence for s in found)]


def choose_findings(scored: Sequence[Scored], max_papers: int, threshold: float = RELEVANCE_THRESHOLD,
                    min_probability: float = PAPER_MIN_PROBABILITY, weights: Sequence[float] = PAPER_WEIGHTS,
                    bias: float = PAPER_BIAS) -> list[Finding]:
    """One key finding per chosen paper, the most probably relevant paper first (see ``relevance``)."""
    by_paper: dict[int, list[Scored]] = {}
    for s in scored:
        by_paper.setdefault(s.source, []).append(s)
    best = max((s.relevance for s in scored), default=0.0)
    papers = []
    for n, found in by_paper.items():
        relevant = [s for s in found if is_relevant(s.relevance, threshold)]
        if not relevant:
            continue
        quote = max(relevant, key=lambda s: (s.evidence, -s.position))
        probability = paper_probability(paper_features(found, best), weights, bias)
        papers.append(Finding(n, quote.sentence, quote.quote, quote.relevance, probability))
    papers.sort(key=lambda f: -f.paper_score)
    return papers[:1] + [f for f in papers[1:max_papers] if f.paper_score >= min_probability]


def select_findings(question: Question, hits: Sequence[Hit], encoder: Encoder, max_papers: int) -> list[Finding]:
    return choose_findings(score_sentences(question, hits, encoder), max_papers)


class ExtractiveEngine:
    name = "extractive"

    def __init__(self, encoder: Encoder, max_papers: int, question_of: Callable[[str, np.ndarray], Question]):
        self.encoder = encoder
        self.max_papers = max_papers
        self.question_of = question_of

    def generate(self, question: str, sources: Sequence[Hit], query_vector: np.ndarray | None = None,
                 per_paper: int = 1, skip: frozenset[str] = frozenset()) -> Iterator[str]:
        """Stream the bottom line, then one paragraph per further paper; sentences cite their source's position
        in ``sources``. With ``per_paper`` > 1 (a follow-up about given papers), each paper gives up to that many
        relevant sentences in their order in the paper, none of the quotes in ``skip`` (already shown)."""
        if query_vector is None:
            query_vector = self.encoder.encode_batch([question])[0]
        asked = self.question_of(question, query_vector)
        if per_paper > 1:
            paragraphs = more_from_each(score_sentences(asked, sources, self.encoder), per_paper, skip)
        else:
            paragraphs = [cite(f.sentence, f.source) for f in select_findings(asked, sources, self.encoder,
                                                                                self.max_papers)]
        for i, paragraph in enumerate(paragraphs):
            yield ("\n\n" if i else "") + paragraph


def more_from_each(scored: Sequence[Scored], per_paper: int, skip: frozenset[str]) -> list[str]:
    """One paragraph per paper: its ``per_paper`` best relevant sentences not in ``skip``, in the paper's order."""
    paragraphs = []
    for n in dict.fromkeys(s.source for s in scored):
        fresh = [s for s in scored if s.source == n and is_relevant(s.relevance) and s.quote not in skip]
        best = sorted(fresh, key=lambda s: (-s.evidence, s.position))[:per_paper]
        if best:
            paragraphs.append(" ".join(cite(s.sentence, n) for s in sorted(best, key=lambda s: s.position)))
    return paragraphs
