"""BM25 that answers top-k from disk: a tantivy index over the project's own analysed tokens (sharded knowledge
bases).

bm25s scores every passage per query and holds its whole matrix in memory (630 bytes a passage and 115 ms a query at
a million passages, measured for issue 20); tantivy walks only the posting lists of the query's terms with
block-max pruning and keeps its files memory-mapped (115 bytes a passage, 13.7 ms top-100). Each passage is
indexed as the tokens ``analysis.tokens`` makes of its sparse text, joined by spaces and split back by tantivy's
whitespace tokenizer, so ``PD-1 -> pd1``, stemming and the synonym table work exactly as with bm25s. tantivy's own
BM25 (k1 fixed at 1.2, lengths quantised to one byte) only picks candidates: the passages it ranks best are scored
again exactly as bm25s scores them (k1 1.5, b 0.75, exact lengths), from the tokens each shard keeps beside its
passages, so a sharded knowledge base ranks as a single-file one does (SciFact: the same top-10 papers for 300 of
300 claims in every mode). Alone, tantivy's scores cost 0.005 of hybrid nDCG@10 there. Fetching twice as many
candidates changed nothing on SciFact and cost 4 ms a search at a million passages.

Filters are index fields, so a filtered query is one tantivy query: ``year`` (integer, -1 when unknown) and ``tag``
(one raw term per filter value, ``field:value`` as ``filter_columns.record_values`` spells it). The global passage
row is a fast field read for the hits only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..analysis import tokens
from .filter_columns import FIELDS, query_values, record_values, record_year
from ..types import Passage, Record

METHOD = "tantivy bm25 candidates, re-scored as bm25s (k1 1.5, b 0.75)"
HEAP = 256_000_000
K1, B = 1.5, 0.75  # bm25s's defaults, which the single-file layout uses


def _tantivy():
    try:
        import tantivy
    except ImportError:
        from ..errors import AssistantError
        raise AssistantError("this knowledge base is sharded and its BM25 side needs tantivy: "
                             "pip install 'checkpoint-qa[scale]'") from None
    return tantivy


def _schema():
    tantivy = _tantivy()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
    builder.add_text_field("tag", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("year", indexed=True, fast=True)
    builder.add_unsigned_field("row", fast=True, indexed=True)  # indexed: an update deletes passages by row
    return builder.build()


def tags(record: Record) -> list[str]:
    return [f"{name}:{value}" for name, values in record_values(record).items() for value in sorted(values)]


class TantivyWriter:
    """Adds passages (with their record's filter values) to a new index in ``folder``; ``close`` commits."""

    def __init__(self, folder: Path, threads: int = 1, index=None):
        tantivy = _tantivy()
        self._tantivy = tantivy
        if index is None:
            folder.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(_schema(), path=str(folder), reuse=False)
        self.index = index
        self.writer = self.index.writer(heap_size=HEAP, num_threads=threads)

    @classmethod
    def extend(cls, folder: Path, live: Path, threads: int = 1) -> "TantivyWriter":
        """A writer on a copy of the live index in ``folder``: its files hard-linked (tantivy never changes a file
        it has written; a commit writes new segment, delete and meta files), so the live version is untouched."""
        folder.mkdir(parents=True)
        for path in live.iterdir():
            if path.is_file() and not path.name.startswith(".tantivy-"):
                try:
                    os.link(path, folder / path.name)
                except OSError:
                    shutil.copy2(path, folder / path.name)
        return cls(folder, threads, _tantivy().Index.open(str(folder)))

    def delete_rows(self, rows) -> None:
        rows = [int(row) for row in rows]
        if rows:  # by query: a term built from a Python int would be a signed one and match nothing
            self.writer.delete_documents_by_query(self._tantivy.Query.term_set_query(self.index.schema, "row", rows))

    def add(self, row: int, joined: str, record: Record, record_tags: Sequence[str] | None = None) -> None:
        """Index one passage: ``joined`` is its analysed tokens joined by spaces (``joined_tokens``)."""
        doc = self._tantivy.Document()
        doc.add_text("text", joined)
        for tag in record_tags if record_tags is not None else tags(record):
            doc.add_text("tag", tag)
        doc.add_integer("year", record_year(record))
        doc.add_unsigned("row", row)
        self.writer.add_document(doc)

    def close(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()


class TantivySparse:
    """The sparse side of a sharded knowledge base (same questions as ``sparse.SparseIndex`` answers)."""

    method = METHOD

    def __init__(self, folder: Path, passages=None):
        tantivy = _tantivy()
        self._tantivy = tantivy
        self.index = tantivy.Index.open(str(folder))
        self.schema = self.index.schema
        self.searcher = self.index.searcher()
        self.num_docs = self.searcher.num_docs
        self.passages = passages if passages is not None and passages.has_tokens else None
        self._mean_length: float | None = None

    @classmethod
    def load(cls, folder: Path, passages=None) -> "TantivySparse":
        """The index in ``folder``; with ``passages`` (``shards.ShardedPassages``) whose shards keep their tokens,
        candidates are re-scored as bm25s scores them (without, tantivy's own scores rank them)."""
        return cls(folder, passages)

    def _df(self, term: str) -> int:
        return int(self.searcher.doc_freq("text", term))

    def known(self, query_terms: list[str]) -> list[str]:
        return [t for t in dict.fromkeys(query_terms) if self._df(t) > 0]

    def idf(self, concepts: Sequence[frozenset[str]]) -> list[float]:
        n = self.num_docs
        out = []
        for concept in concepts:
            df = max((self._df(t) for t in concept), default=0) or 1
            out.append(float(np.log(1 + (n - df + 0.5) / (df + 0.5))))
        return out

    def _filter_query(self, filters):
        tantivy, query = self._tantivy, self._tantivy.Query
        clauses = []
        if filters.year_min is not None or filters.year_max is not None:
            low = filters.year_min if filters.year_min is not None else 0
            clauses.append(query.range_query(self.schema, "year", tantivy.FieldType.Integer, low, filters.year_max))
        for name in FIELDS:
            values = getattr(filters, name)
            if values:
                clauses.append(query.term_set_query(self.schema, "tag",
                                                    [f"{name}:{v}" for v in query_values(name, values)]))
        return query.boolean_query([(tantivy.Occur.Must, c) for c in clauses]) if clauses else None

    def top(self, terms: Iterable[str], n: int, mask: np.ndarray | None = None, filters=None) \
            -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` best passages for ``terms`` (known ones) as ``(rows, scores)``, best first; ``filters`` (the
        same as ``mask``, which this side does not need) restrict them inside the query."""
        tantivy, query = self._tantivy, self._tantivy.Query
        terms = list(dict.fromkeys(terms))
        if not terms:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = query.boolean_query([(tantivy.Occur.Should, query.term_query(self.schema, "text", t)) for t in terms])
        restrict = self._filter_query(filters) if filters else None
        if restrict is not None:
            q = query.boolean_query([(tantivy.Occur.Must, q), (tantivy.Occur.Must, query.const_score_query(restrict,
                                                                                                         0.0))])
        hits = self.searcher.search(q, n, count=False).hits
        if not hits:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = np.asarray(self.searcher.fast_field_values("row", [address for _, address in hits]), dtype=np.int64)
        if self.passages is not None:
            scores = self._bm25(rows, terms)
        else:
            scores = np.asarray([score for score, _ in hits], dtype=np.float32)
        order = np.lexsort((rows, -scores))  # ties in passage order, as the bm25s side breaks them
        return rows[order], scores[order]

    def _bm25(self, rows: np.ndarray, terms: list[str]) -> np.ndarray:
        """bm25s's score of each passage in ``rows`` for ``terms``: idf from the index, lengths and term counts
        from the passages' own tokens, a term's count being how often it occurs between its own spaces."""
        if self._mean_length is None:
            self._mean_length = self.passages.mean_token_count()
        n = self.num_docs
        idf = np.array([np.log(1 + (n - df + 0.5) / (df + 0.5)) for df in map(self._df, terms)], dtype=np.float64)
        pieces, lengths = self.passages.sparse_tokens(rows)
        # one buffer searched once per term, each occurrence placed in its passage by where it starts (no match
        # crosses a passage's edge: each piece begins and ends with a token's own space)
        joined = b"".join(pieces)
        ends = np.cumsum(np.fromiter(map(len, pieces), np.int64, len(pieces)))
        counts = np.zeros((len(rows), len(terms)), dtype=np.float64)
        for j, term in enumerate(terms):
            needle = f" {term} ".encode()
            found, at = [], joined.find(needle)
            while at >= 0:
                found.append(at)
                at = joined.find(needle, at + len(needle))
            if found:
                counts[:, j] = np.bincount(np.searchsorted(ends, found, side="right"), minlength=len(rows))
        norm = K1 * (1 - B + B * lengths / self._mean_length)
        return ((counts / (counts + norm[:, None])) @ idf).astype(np.float32)


def joined_tokens(texts: Sequence[str]) -> list[str]:
    """What the index (and a shard, for re-scoring) keeps of each text (``sparse.sparse_texts``): its analysed
    tokens joined by spaces."""
    return [" ".join(tokens(text)) for text in texts]


def index_passages(writer: TantivyWriter, first_row: int, records: Sequence[Record], passages: Sequence[Passage],
                   joined: Sequence[str]) -> None:
    """Add one shard's passages (``joined`` from ``joined_tokens``) with global rows from ``first_row``."""
    by_id = {r.id: r for r in records}
    record_tags = {r.id: tags(r) for r in records}
    for offset, (passage, text) in enumerate(zip(passages, joined)):
        writer.add(first_row + offset, text, by_id[passage.record_id], record_tags[passage.record_id])
