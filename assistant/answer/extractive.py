"""Extractive answers: the retrieved papers' own sentences that best answer the question, each cited.

No language model is involved, so nothing is invented: every answer sentence is a verbatim sentence of a cited
record (its title, for records without an abstract), followed by ``[n]``. Sentences are scored by embedding
similarity to the question plus a small bonus for shared content words, then picked best-first with at most two
per paper and no near-duplicates. Before any of that, a refusal gate compares the best retrieval score with a
threshold (``min_score``) on the best dense (cosine) score of the retrieved papers, and refuses when nothing in
the knowledge base is close to the question; rank-fusion scores are not calibrated, cosines are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..config import Settings, load_settings
from ..retriever import Filters, Retriever, check_query
from ..text import content_words, sentences
from ..types import Answer, Citation, Hit, Record

LEXICAL_WEIGHT = 0.2
MAX_SENTENCES = 6
PER_PAPER = 2
REDUNDANT = 0.95
SECOND_SENTENCE_RATIO = 0.9
MIN_WORDS = 4

REFUSAL = ("I can't answer that from the knowledge base: none of its sources is close enough to the question "
           "(best match {best:.2f}, threshold {threshold:.2f}). Ask about resistance to immune checkpoint "
           "inhibitors, or add your own literature with `checkpoint-qa build --corpus DIR`.")


@dataclass(frozen=True)
class Evidence:
    """A candidate sentence of a retrieved record and how well it answers the question."""

    hit: Hit
    sentence: str
    score: float
    vector: np.ndarray

    @property
    def record(self) -> Record:
        return self.hit.record


def cite(sentence: str, n: int) -> str:
    """Put ``[n]`` before the sentence's final full stop; a title without one gets one."""
    sentence = sentence.rstrip()
    if sentence.endswith("."):
        return f"{sentence[:-1]} [{n}]."
    if sentence.endswith(("?", "!")):
        return f"{sentence} [{n}]"
    return f"{sentence} [{n}]."


def _candidates(hit: Hit) -> list[str]:
    found = [hit.record.title]
    found += [s for s in sentences(hit.record.text) if len(s.split()) >= MIN_WORDS]
    return found


def select_evidence(question: str, query_vector: np.ndarray, hits: list[Hit], retriever: Retriever,
                    min_score: float, max_papers: int) -> list[Evidence]:
    """Score every sentence of the relevant hits and pick the answer's evidence, grouped by paper."""
    relevant = [h for h in hits if h.dense_score is not None and h.dense_score >= min_score]
    pool = [(hit, s) for hit in relevant for s in _candidates(hit)]
    if not pool:
        return []
    vectors = retriever.encoder.encode_batch([s for _, s in pool])
    asked = content_words(question)
    scored = []
    for (hit, sentence), vector in zip(pool, vectors):
        overlap = len(asked & content_words(sentence)) / len(asked) if asked else 0.0
        scored.append(Evidence(hit, sentence, float(vector @ query_vector) + LEXICAL_WEIGHT * overlap, vector))
    scored.sort(key=lambda e: -e.score)

    chosen: list[Evidence] = []
    papers: dict[str, list[Evidence]] = {}
    for evidence in scored:
        rid = evidence.record.id
        if evidence.score < min_score or len(chosen) >= MAX_SENTENCES:
            break
        mine = papers.get(rid, [])
        if not mine and len(papers) >= max_papers:
            continue
        if len(mine) >= PER_PAPER or (mine and evidence.score < SECOND_SENTENCE_RATIO * mine[0].score):
            continue
        if any(float(evidence.vector @ other.vector) > REDUNDANT for other in chosen):
            continue
        papers.setdefault(rid, []).append(evidence)
        chosen.append(evidence)
    return [e for group in papers.values() for e in group]


class Answerer:
    """Answers questions from a retriever: ``Answerer(retriever).answer("Does the microbiome matter?")``."""

    def __init__(self, retriever: Retriever, settings: Settings | None = None):
        self.retriever = retriever
        self.settings = settings or load_settings()

    def answer(self, question: str, filters: Filters | None = None) -> Answer:
        final = None
        for _, final in self.stream(question, filters):
            pass
        return final

    def stream(self, question: str, filters: Filters | None = None) -> Iterator[tuple[str, Answer | None]]:
        """Yield the answer text as it grows, sentence by sentence; the last item carries the full ``Answer``."""
        question = check_query(question)
        query_vector = self.retriever.embed_query(question)
        hits = self.retriever.search(question, self.settings.k, filters, vector=query_vector)
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=0.0)
        threshold = self.settings.min_score
        evidence = []
        if best >= threshold:
            evidence = select_evidence(question, query_vector, hits, self.retriever, threshold,
                                       self.settings.max_citations)
        if not evidence:
            text = REFUSAL.format(best=best, threshold=threshold)
            yield text, Answer(question, text, (), True, f"best match {best:.2f} below {threshold:.2f}", tuple(hits))
            return
        numbers: dict[str, int] = {}
        citations: list[Citation] = []
        paragraphs: list[list[str]] = []
        for item in evidence:  # grouped by paper: one paragraph per cited paper
            rid = item.record.id
            if rid not in numbers:
                numbers[rid] = len(numbers) + 1
                citations.append(Citation(numbers[rid], item.record, item.sentence))
                paragraphs.append([])
            paragraphs[-1].append(cite(item.sentence, numbers[rid]))
            yield _join(paragraphs), None
        text = _join(paragraphs)
        yield text, Answer(question, text, tuple(citations), False, "", tuple(hits))


def _join(paragraphs: list[list[str]]) -> str:
    return "\n\n".join(" ".join(p) for p in paragraphs)


def compose_answer(question: str, retriever: Retriever, settings: Settings | None = None) -> Answer:
    return Answerer(retriever, settings).answer(question)
