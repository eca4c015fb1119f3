"""The embeddable retriever: dense search over passages, one hit per paper, optional filters.

FAISS ranks passages by inner product of unit vectors (cosine). A paper's score is its best passage's score, so
a paper is returned once with the passage that matched. Filters (year range, record types) are applied before
ranking: the filtered passages are scored exactly, so the best records inside the filter come back even when
they rank low overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DEFAULT_MODEL, Settings, load_settings
from .encoders import Encoder, get_encoder
from .errors import AssistantError, IndexMismatchError
from .store import KnowledgeBase, _build_hint
from .types import Hit, Record

MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class Filters:
    year_min: int | None = None
    year_max: int | None = None
    types: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.year_min is not None or self.year_max is not None or bool(self.types)

    def accepts(self, record: Record) -> bool:
        if self.year_min is not None and (record.year is None or record.year < self.year_min):
            return False
        if self.year_max is not None and (record.year is None or record.year > self.year_max):
            return False
        if self.types:
            kinds = set(record.extra.get("merged_types") or ()) | {record.type}
            if not kinds & set(self.types):
                return False
        return True


def check_query(query: str) -> str:
    query = " ".join((query or "").split())
    if not query:
        raise AssistantError("the query is empty; ask about checkpoint-inhibitor resistance, e.g. 'JAK1 loss'")
    if len(query) > MAX_QUERY_CHARS:
        raise AssistantError(f"the query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query


class Retriever:
    """Search a built knowledge base: ``Retriever.load(index_dir).search("JAK1 loss", k=5)``."""

    def __init__(self, kb: KnowledgeBase, encoder: Encoder):
        if encoder.name != kb.model:
            self._mismatch(kb, encoder.name)
        self.kb = kb
        self.encoder = encoder

    @classmethod
    def load(cls, index_dir: str | Path | None = None, model: str | None = None,
             settings: Settings | None = None) -> "Retriever":
        """Load a knowledge base; ``model=None`` uses the model it was built with."""
        settings = settings or load_settings({"index": index_dir, "model": model})
        kb = KnowledgeBase.load(settings.index_dir)
        chosen = settings.model or kb.model or DEFAULT_MODEL
        if chosen != kb.model:  # fail before loading a model that cannot be used
            cls._mismatch(kb, chosen)
        encoder = get_encoder(chosen)
        if encoder.dimension != kb.dimension:
            raise IndexMismatchError(
                f"model {chosen!r} gives {encoder.dimension}-dimensional vectors but the knowledge base at "
                f"{settings.index_dir} holds {kb.dimension}; rebuild with: {_build_hint(settings.index_dir, chosen)}")
        return cls(kb, encoder)

    @staticmethod
    def _mismatch(kb: KnowledgeBase, chosen: str):
        raise IndexMismatchError(
            f"knowledge base at {kb.path.parent} was built with model {kb.model!r} but {chosen!r} is configured; "
            f"use --model {kb.model} or rebuild with: {_build_hint(kb.path.parent, chosen)}")

    def embed_query(self, query: str) -> np.ndarray:
        return self.encoder.encode_batch([query])[0]

    def search(self, query: str, k: int = 8, filters: Filters | None = None) -> list[Hit]:
        """Rank papers for ``query``; each paper appears once, with its best passage."""
        query = check_query(query)
        if k < 1:
            raise AssistantError(f"k must be at least 1, got {k}")
        vector = self.embed_query(query)
        return self.search_vector(vector, k, filters)

    def search_vector(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        kb = self.kb
        if filters:
            allowed = np.array([filters.accepts(r) for r in kb.records], dtype=bool)
            rows = np.flatnonzero(allowed[kb.passage_record])
            scores = np.asarray(kb.vectors[rows]) @ vector
            order = np.argsort(-scores, kind="stable")
            ranked = zip(rows[order].tolist(), scores[order].tolist())
        else:
            ranked = self._dense_ranking(vector, k)
        hits: list[Hit] = []
        seen: set[int] = set()
        for passage_row, score in ranked:
            record_row = int(kb.passage_record[passage_row])
            if record_row in seen:
                continue
            seen.add(record_row)
            hits.append(Hit(len(hits) + 1, float(score), kb.records[record_row], kb.passages[passage_row]))
            if len(hits) == k:
                break
        return hits

    def _dense_ranking(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Passages by score, deep enough to hold ``k`` distinct papers (or every passage)."""
        total = len(self.kb.passages)
        depth = min(total, max(k * 8, 64))
        query = vector.reshape(1, -1).astype(np.float32)
        while True:
            scores, ids = self.kb.index.search(query, depth)
            ranked = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            papers = len({int(self.kb.passage_record[i]) for i, _ in ranked})
            if papers >= k or depth >= total:
                return ranked
            depth = min(total, depth * 4)
