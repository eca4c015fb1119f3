"""Sparse retrieval: BM25 (bm25s) over the passages, with the biomedical analyser and synonym expansion.

The index is built from the same passages as the dense one and saved in the same version folder, so both are
always in step. Each passage is indexed with its record's subject terms (topics, keywords, MeSH): a paper known by
its title alone is often found by what its record says it is about ("B2M" for a title that names only "mutations"). ``scores`` returns a BM25 score for every passage; a filter is applied as a weight mask before
any ranking, so a filtered query ranks only the passages it may return.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from ..analysis import tokens
from ..types import Passage, Record

ANALYSER = "biomedical-v2"  # v2: passages carry their record's subject terms


def _bm25s():
    import bm25s
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def sparse_texts(records: Sequence[Record], passages: Sequence[Passage]) -> list[str]:
    """What BM25 indexes for each passage: the passage as the encoder reads it, with its record's subjects (a
    title-only passage has them already)."""
    subjects = {r.id: "; ".join(r.subjects) for r in records}
    return [f"{p.text}. {subjects[p.record_id]}" if p.body and subjects.get(p.record_id) else p.text
            for p in passages]


class SparseIndex:
    def __init__(self, bm25):
        self.bm25 = bm25

    @classmethod
    def build(cls, texts: Sequence[str]) -> "SparseIndex":
        bm25 = _bm25s().BM25()
        bm25.index([tokens(t) or [""] for t in texts], show_progress=False)
        return cls(bm25)

    def save(self, folder: Path) -> None:
        self.bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "SparseIndex":
        return cls(_bm25s().BM25.load(str(folder), mmap=False, show_progress=False, verbosity=0))

    def known(self, query_terms: list[str]) -> list[str]:
        """The query's terms (own and expanded) that the index has seen, each once."""
        vocab = self.bm25.vocab_dict
        return [t for t in dict.fromkeys(query_terms) if t in vocab]

    def idf(self, concepts: Sequence[frozenset[str]]) -> list[float]:
        """BM25 idf per concept (a set of alternative tokens), from its most frequent token's passage count; a
        concept the index never saw is as telling as a token seen once."""
        vocab, pointer, n = self.bm25.vocab_dict, self.bm25.scores["indptr"], self.bm25.scores["num_docs"]
        out = []
        for concept in concepts:
            df = max((int(pointer[vocab[t] + 1] - pointer[vocab[t]]) for t in concept if t in vocab), default=1)
            out.append(float(np.log(1 + (n - df + 0.5) / (df + 0.5))))
        return out

    def scores(self, query_tokens: list[str], mask: np.ndarray | None = None) -> np.ndarray:
        n = self.bm25.scores["num_docs"]
        if not query_tokens:
            return np.zeros(n, dtype=np.float32)
        weights = None if mask is None else mask.astype(np.float32)
        return np.asarray(self.bm25.get_scores(query_tokens, weight_mask=weights), dtype=np.float32)

    def top(self, terms: list[str], n: int, mask: np.ndarray | None = None, filters=None) \
            -> tuple[np.ndarray, np.ndarray]:
        """Passages scoring above zero for ``terms`` as ``(rows, scores)``, best first (all of them: bm25s scores
        every passage anyway, so ``n`` is only a floor); ``mask`` restricts them (``filters`` is for the tantivy
        side)."""
        scores = self.scores(list(terms), mask)
        positive = np.flatnonzero(scores > 0)
        top = positive[np.argsort(-scores[positive], kind="stable")]
        return top, scores[top]
