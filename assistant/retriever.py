"""The embeddable retriever: hybrid BM25 + dense search over passages, one hit per paper, filters, diversity.

Dense search ranks passages by cosine (FAISS inner product on unit vectors); sparse search ranks them by BM25 with
the biomedical analyser and synonym expansion. Each side first turns its passage ranking into a paper ranking
(a paper scores as its best passage), then reciprocal rank fusion combines the two paper rankings:
``sum(weight / (rrf_k + rank))``, the recipe that MedRAG found best for PubMed questions. Filters (years, record
types, publication types, journals, MeSH terms) select passages before anything is ranked, so the best papers
inside a filter come back even when they rank low overall. Optional maximal marginal relevance reorders the top
papers so they are not near-copies of each other.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import DEFAULT_MODEL, Settings, load_settings
from .kb.dense_index import is_approximate, search as dense_search
from .encoders import Encoder, get_query_encoder
from .errors import AssistantError, IndexMismatchError
from .limits import MAX_LIBRARY_K, MAX_QUERY_CHARS
from .kb.store import KnowledgeBase, _build_hint, model_mismatch
from .synonyms import SynonymTable, load_table
from .analysis import tokens
from .kb.filter_columns import FilterColumns
from .types import Hit, Record

MAX_K = MAX_LIBRARY_K
# Below this many allowed passages a filtered dense search scans them exactly; above, the filter is an ID selector
# inside the IVF search (a scan of 40% of 200,000 vectors took 8x an unfiltered search, the selector 0.8x).
EXACT_FILTERED_ROWS = 20_000


def _lower(values) -> set[str]:
    return {str(v).lower() for v in values or ()}


@dataclass(frozen=True)
class Filters:
    """Restrict a search; every field that is set must hold (values inside one field are alternatives)."""

    year_min: int | None = None
    year_max: int | None = None
    types: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    journals: tuple[str, ...] = ()
    mesh: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()  # only these records (a follow-up that points at an earlier answer's sources)

    def __bool__(self) -> bool:
        return any(v not in (None, ()) for v in (self.year_min, self.year_max, self.types, self.publication_types,
                                                 self.journals, self.mesh, self.ids))

    def describe(self) -> str:
        """The active filters in words: "years 2015–2022 · publication type Review"."""
        bits = []
        if self.year_min is not None or self.year_max is not None:
            low, high = self.year_min, self.year_max
            bits.append(f"years {low}–{high}" if low is not None and high is not None else
                        f"from {low}" if low is not None else f"up to {high}")
        for label, values in (("record type", self.types), ("publication type", self.publication_types),
                              ("journal", self.journals), ("MeSH term", self.mesh)):
            if values:
                bits.append(f"{label} {' or '.join(v.replace('_', ' ') for v in values)}")
        return " · ".join(bits)

    def problem(self, columns=None) -> str | None:
        """Why no paper can pass these filters (``None`` when some can): a backwards year range, or a filter that
        no paper of the knowledge base meets (``columns``: its ``FilterColumns``), named with what it does hold.
        Array operations only, so a million-paper knowledge base answers at once."""
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            return f"the year range runs backwards (from {self.year_min} to {self.year_max})"
        if columns is None or columns.mask(self).any():
            return None
        years = columns.year_range()
        if years and self.year_min is not None and self.year_min > years[1]:
            return f"the newest paper in the knowledge base is from {years[1]}"
        if years and self.year_max is not None and self.year_max < years[0]:
            return f"the oldest paper in the knowledge base is from {years[0]}"
        for name in ("types", "publication_types", "journals", "mesh"):
            alone = Filters(**{name: getattr(self, name)})
            if getattr(self, name) and not columns.mask(alone).any():
                return f"no paper has {alone.describe()}"
        return "no paper meets all of them together"

    def accepts(self, record: Record) -> bool:
        if self.ids and record.id not in self.ids:
            return False
        if self.year_min is not None and (record.year is None or record.year < self.year_min):
            return False
        if self.year_max is not None and (record.year is None or record.year > self.year_max):
            return False
        if self.types and not ({record.type, *(record.extra.get("merged_types") or ())} & set(self.types)):
            return False
        if self.publication_types and not (_lower(record.extra.get("publication_types"))
                                           & _lower(self.publication_types)):
            return False
        if self.journals and record.journal.lower() not in _lower(self.journals):
            return False
        if self.mesh and not (_lower(record.extra.get("mesh_terms")) & _lower(self.mesh)):
            return False
        return True


def check_query(query: str) -> str:
    query = " ".join((query or "").split())
    if not query:
        raise AssistantError("the query is empty; ask about checkpoint-inhibitor resistance, e.g. 'JAK1 loss'")
    if len(query) > MAX_QUERY_CHARS:
        raise AssistantError(f"the query is {len(query)} characters long; keep it under {MAX_QUERY_CHARS}")
    return query


# passages of a full text whose sentences may be quoted: the closest by meaning, and the best by BM25 when another
FULL_TEXT_PASSAGES = 4


def best_per_record(passage_rows: np.ndarray, scores: np.ndarray, passage_record: np.ndarray,
                    depth: int) -> list[tuple[int, int, float]]:
    """``(record_row, passage_row, score)`` for the ``depth`` best papers, from passages sorted by score."""
    passage_rows, total = np.asarray(passage_rows), len(passage_rows)
    take = min(total, depth * 4)  # a prefix holding ``depth`` papers holds the best ``depth``; grown as needed
    while True:
        records = passage_record[passage_rows[:take]]
        _, first = np.unique(records, return_index=True)  # each paper's first, so best, passage
        if len(first) >= depth or take == total:
            break
        take = min(total, take * 4)
    first = np.sort(first)[:depth]
    return list(zip(records[first].tolist(), passage_rows[first].tolist(), np.asarray(scores)[first].tolist()))


def rrf(rankings: list[tuple[list[int], float]], rrf_k: int) -> dict[int, float]:
    """Reciprocal rank fusion of record rankings, each with a weight."""
    fused: dict[int, float] = {}
    for ranking, weight in rankings:
        for rank, record in enumerate(ranking, start=1):
            fused[record] = fused.get(record, 0.0) + weight / (rrf_k + rank)
    return fused


class Retriever:
    """Search a built knowledge base: ``Retriever.load(index_dir).search("JAK1 loss", k=5)``."""

    def __init__(self, kb: KnowledgeBase, encoder: Encoder, settings: Settings | None = None,
                 synonyms: SynonymTable | None = None):
        if encoder.name != kb.model:
            self._mismatch(kb, encoder.name)
        self.kb = kb
        self._switching = threading.Lock()
        self.encoder = encoder
        self.settings = settings or load_settings({})
        self.synonyms = synonyms or load_table(str(self.settings.synonyms) if self.settings.synonyms else None)

    @classmethod
    def load(cls, index_dir: str | Path | None = None, model: str | None = None,
             settings: Settings | None = None) -> "Retriever":
        """Load a knowledge base; ``model=None`` uses the model it was built with."""
        settings = settings or load_settings({"index": index_dir, "model": model})
        from .pipeline import ensure_default_knowledge_base
        ensure_default_knowledge_base(settings)  # the shipped corpus, built on first use of the default
        kb = KnowledgeBase.load(settings.index_dir)
        chosen = settings.model or kb.model or DEFAULT_MODEL
        if chosen != kb.model:  # fail before loading a model that cannot be used
            cls._mismatch(kb, chosen)
        encoder = get_query_encoder(chosen, settings.precision, settings.query_encoder)
        if encoder.dimension != kb.dimension:
            raise IndexMismatchError(
                f"model {chosen!r} gives {encoder.dimension}-dimensional vectors but the knowledge base at "
                f"{settings.index_dir} holds {kb.dimension}; rebuild with: {_build_hint(settings.index_dir, chosen)}")
        return cls(kb, encoder, settings)

    # -- following the knowledge base -----------------------------------------------------------------------

    def pinned(self) -> "Retriever":
        """This retriever fixed to the version it holds now: a request that runs on it is not affected when
        ``refresh`` switches versions halfway through."""
        return copy.copy(self)

    def refresh(self) -> bool:
        """Switch to the live version when ``CURRENT`` names another one; return whether it switched.

        The new version is loaded and its indexes opened before the switch, which is one assignment, so requests
        see either the old version or the new one whole. A version built with another model is not switched to.
        """
        index_dir = self.kb.path.parent
        try:
            live = KnowledgeBase.live_version(index_dir).name
        except AssistantError:
            return False  # no or broken CURRENT: keep answering from the version in memory
        if live == self.kb.version:
            return False
        with self._switching:
            if live == self.kb.version:
                return False
            try:
                kb = KnowledgeBase.load(index_dir)
                if kb.model != self.kb.model or kb.dimension != self.kb.dimension:
                    return False
                kb.index, kb.sparse  # noqa: B018  (open both before the switch)
            except AssistantError:
                return False
            self.kb = kb
            return True

    def follow(self, interval: float = 1.0) -> None:
        """Check for a new version every ``interval`` seconds in a background thread (servers call this)."""
        def loop() -> None:
            while True:
                time.sleep(interval)
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001  (a failed check must not stop the thread; the next one retries)
                    pass
        threading.Thread(target=loop, name="follow-knowledge-base", daemon=True).start()

    @staticmethod
    def _mismatch(kb: KnowledgeBase, chosen: str):
        raise model_mismatch(kb.path.parent, kb.model, chosen)

    def embed_query(self, query: str) -> np.ndarray:
        return self.encoder.encode_batch([query])[0]

    # -- the two sides -------------------------------------------------------------------------------------------

    def filter_columns(self) -> FilterColumns:
        """The knowledge base's filter columns (built once per version, or loaded with a sharded one)."""
        kb = self.kb
        columns = getattr(kb, "filter_columns", None)  # kept on the version itself: pinned copies share it
        if columns is None:
            columns = kb.filter_columns = FilterColumns(kb.records)
        return columns

    def record_mask(self, filters: Filters) -> np.ndarray:
        """Which records pass ``filters``, from the knowledge base's filter columns."""
        return self.filter_columns().mask(filters)

    def passage_mask(self, filters: Filters | None) -> np.ndarray | None:
        if not filters:
            dead = self.kb.dead_passages  # an update's replaced papers: gone from an IVF index, not from an exact one
            return None if dead is None or is_approximate(self.kb.index) else ~dead
        return self.record_mask(filters)[self.kb.passage_record]

    def dense_papers(self, vector: np.ndarray, depth: int, mask: np.ndarray | None = None) \
            -> list[tuple[int, int, float]]:
        kb = self.kb
        total = len(kb.passages) if mask is None else int(mask.sum())
        if mask is not None and (total < EXACT_FILTERED_ROWS or not is_approximate(kb.index)):
            rows = np.flatnonzero(mask)  # few rows (or a small exact index): scanning them is exact and fast
            scores = np.asarray(kb.vectors[rows]) @ vector
            order = np.argsort(-scores, kind="stable")
            return best_per_record(rows[order], scores[order], kb.passage_record, depth)
        fetch = min(total, max(depth * 4, 64))
        while True:
            scores, ids = dense_search(kb.index, kb.vectors, vector, fetch, mask)
            keep = ids >= 0
            papers = best_per_record(ids[keep], scores[keep], kb.passage_record, depth)
            if len(papers) >= depth or fetch >= total:
                return papers
            fetch = min(total, fetch * 4)

    def query_terms(self, query: str) -> list[str]:
        """The query's own tokens followed by its synonym expansion."""
        return tokens(query) + self.synonyms.expansion(query)

    def query_concepts(self, query: str) -> list[frozenset[str]]:
        """Per word of the query, the tokens that count as a match on it (its own and its synonyms')."""
        return self.synonyms.concepts(query)

    def concept_weights(self, concepts: list[frozenset[str]]) -> list[float]:
        """How telling each concept is in this knowledge base: BM25's idf of its most frequent token."""
        return self.kb.sparse.idf(concepts)

    def sparse_papers(self, terms: list[str], depth: int, mask: np.ndarray | None = None,
                      filters: Filters | None = None) -> list[tuple[int, int, float]]:
        """The ``depth`` best papers by BM25: the best passages are fetched, then more while they hold fewer than
        ``depth`` papers and more exist (a sharded knowledge base answers top-n from disk)."""
        sparse = self.kb.sparse
        known = sparse.known(terms)
        if not known:
            return []
        n = max(depth * 4, 64)
        while True:
            rows, scores = sparse.top(known, n, mask, filters)
            papers = best_per_record(rows, scores, self.kb.passage_record, depth) if len(rows) else []
            if len(papers) >= depth or len(rows) < n:
                return papers
            n *= 4

    # -- search --------------------------------------------------------------------------------------------------

    def search(self, query: str, k: int = 8, filters: Filters | None = None, mode: str | None = None,
               vector: np.ndarray | None = None, matches: bool = True) -> list[Hit]:
        """Rank papers for ``query``; each paper appears once, with its best passage and (``matches``) the
        passage's sentences that share the most terms with the query. One call reads one version throughout."""
        pinned = self.pinned()
        try:
            return pinned._search(query, k, filters, mode, vector, matches)
        finally:
            pinned.kb.trim()  # a server's resident size stays what it needs, not what it has read

    def _search(self, query: str, k: int, filters: Filters | None, mode: str | None, vector: np.ndarray | None,
                matches: bool) -> list[Hit]:
        query = check_query(query)
        if not 1 <= k <= MAX_K:
            raise AssistantError(f"k must be between 1 and {MAX_K}, got {k}")
        mode = mode or self.settings.mode
        s = self.settings
        depth = max(k, s.depth)
        mask = self.passage_mask(filters)
        if mask is not None and not mask.any():
            return []
        dense = sparse = []
        terms = self.query_terms(query) if matches or mode != "dense" else []
        if mode in ("dense", "hybrid"):
            vector = self.embed_query(query) if vector is None else vector
            dense = self.dense_papers(vector, depth, mask)
        if mode in ("sparse", "hybrid"):
            sparse = self.sparse_papers(terms, depth, mask, filters)
        if mode == "dense":
            ranked = [(r, score) for r, _, score in dense]
        elif mode == "sparse":
            ranked = [(r, score) for r, _, score in sparse]
        else:
            fused = rrf([([r for r, _, _ in dense], s.dense_weight), ([r for r, _, _ in sparse], s.sparse_weight)],
                        s.rrf_k)
            ranked = sorted(fused.items(), key=lambda item: -item[1])
        if s.mmr and vector is not None and len(ranked) > k:
            ranked = self._mmr(ranked[:max(k * 4, 20)], vector, k, s.mmr)
        sparse_by_record = {r: score for r, _, score in sparse}
        best_sparse_passage = {r: row for r, row, _ in sparse}
        wanted = frozenset(terms) if matches else None
        return [self._hit(rank, record, score, vector, sparse_by_record.get(record),
                          best_sparse_passage.get(record), wanted)
                for rank, (record, score) in enumerate(ranked[:k], start=1)]

    def _hit(self, rank: int, record_row: int, score: float, vector: np.ndarray | None,
             sparse_score: float | None, sparse_row: int | None, wanted: frozenset[str] | None) -> Hit:
        kb = self.kb
        rows = kb.passage_rows(record_row)
        record = kb.records[record_row]
        dense_score, others = None, ()
        if vector is not None:
            cosines = np.asarray(kb.vectors[rows]) @ vector
            order = np.argsort(-cosines, kind="stable")
            best = int(rows[order[0]])
            dense_score = float(cosines[order[0]])
            if record.parts:  # a full text: what else in it is close to the question, in words too
                chosen = [int(rows[i]) for i in order[1:FULL_TEXT_PASSAGES]]
                if sparse_row is not None and sparse_row != best and sparse_row not in chosen:
                    chosen.append(sparse_row)
                others = tuple(kb.passages[i] for i in chosen)
        else:
            best = sparse_row if sparse_row is not None else int(rows[0])
        passage = kb.passages[best]
        return Hit(rank, float(score), record, passage, dense_score, sparse_score,
                   wanted or frozenset(), others)

    def _mmr(self, ranked: list[tuple[int, float]], vector: np.ndarray, k: int, trade_off: float) \
            -> list[tuple[int, float]]:
        """Maximal marginal relevance over the papers' best passages: relevance against novelty."""
        kb = self.kb
        reps = []
        for record, _ in ranked:
            rows = kb.passage_rows(record)
            vectors = np.asarray(kb.vectors[rows])
            reps.append(vectors[int(np.argmax(vectors @ vector))])
        reps = np.vstack(reps)
        scores = np.array([score for _, score in ranked])
        relevance = (scores - scores.min()) / (np.ptp(scores) or 1.0)
        chosen: list[int] = []
        left = list(range(len(ranked)))
        while left and len(chosen) < k:
            if chosen:
                similarity = (reps[left] @ reps[chosen].T).max(axis=1)
            else:
                similarity = np.zeros(len(left))
            best = left[int(np.argmax(trade_off * relevance[left] - (1 - trade_off) * similarity))]
            chosen.append(best)
            left.remove(best)
        return [ranked[i] for i in chosen] + [ranked[i] for i in left]
