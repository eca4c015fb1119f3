"""The shard-writing stage shared by a full sharded build (``sharded_build``) and an update applied as a delta
(``delta``): split each shard's papers into passages and analyse them (``prepare_shard``: in this process, or as
Ray tasks a window ahead of the writer), index them for BM25, and write the shard, its vectors found
(the build's spill cache, the live version's shards, by passage key) or embedded in groups of about
``embed_group`` texts, in this process or through ``embed`` (a Ray actor pool). A shard whose digest the live
version already holds is hard-linked instead.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .embed_cache import EmbedCache
from ..errors import AssistantError
from .passages import split_records
from .sparse import sparse_texts
from .store import _embed_spilling, passage_key
from ..types import Passage, Record
from .shards import FILES, OPTIONAL_FILES, Shard, write_shard
from .tantivy_sparse import TantivyWriter, index_passages, joined_tokens


class LiveVectors:
    """Vectors of a live sharded version by passage key, read from ``shards`` (folders) only when first asked."""

    def __init__(self, shards: Iterable[Path] = ()):
        self.shards, self._found = list(shards), None

    def get(self, key: str):
        if self._found is None:
            self._found = {}
            for folder in self.shards:
                try:
                    opened = Shard(folder)
                except (OSError, ValueError):
                    continue
                self._found.update(zip(opened.passage_keys(), opened.vectors))
        return self._found.get(key)


def link_shard(source: Path, target: Path) -> None:
    target.mkdir(parents=True)
    for name in FILES:
        if name in OPTIONAL_FILES and not (source / name).exists():
            continue
        try:
            os.link(source / name, target / name)
        except OSError:  # another file system, or links not allowed: a copy is the same bytes
            shutil.copy2(source / name, target / name)


@dataclass
class PreparedShard:
    """A shard's papers made ready to write: passages, their keys and their BM25 tokens (``joined_tokens``)."""

    passages: list[Passage]
    keys: list[str]
    joined: list[str]


def prepare_shard(chunk: Sequence[Record], max_words: int, budget) -> PreparedShard:
    """Split one shard's papers into passages and analyse them for BM25: the build's CPU work besides embedding,
    the same wherever it runs."""
    passages = split_records(chunk, max_words, budget)
    return PreparedShard(passages, [passage_key(p) for p in passages], joined_tokens(sparse_texts(chunk, passages)))


def prepare_in_process(chunks: Iterable[Sequence[Record]], max_words: int, budget) -> Iterator[PreparedShard]:
    for chunk in chunks:
        yield prepare_shard(chunk, max_words, budget)


@dataclass
class Written:
    """What ``write_shards`` wrote: per shard ``{name, records, passages, digest, embedded}``, and the record row
    of each passage (global rows, from ``record_first``)."""

    counts: list[dict] = field(default_factory=list)
    passage_record: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def passages(self) -> int:
        return sum(c["passages"] for c in self.counts)

    @property
    def embedded(self) -> int:
        return sum(c["embedded"] for c in self.counts)


def write_shards(chunks: Sequence[Sequence[Record]], digests: Sequence[str], folder: Path, sparse: TantivyWriter, *,
                 encoder, budget, max_words: int, cache: EmbedCache, cached: dict, live_vectors,
                 live_shards: dict[str, Path] | None = None, embed: Callable | None = None,
                 embed_group: int = 131_072, progress: bool = False, say=lambda message: None,
                 first_number: int = 0, record_first: int = 0, passage_first: int = 0,
                 bm25_tokens: bool = True) -> Written:
    """Write each chunk of papers as shard ``first_number + i`` under ``folder`` (see the module's docstring),
    keeping each passage's BM25 tokens for exact re-scoring when ``bm25_tokens``. Shards are prepared
    (``prepare_shard``) by ``embed.prepare_shards`` where the embedder has one (Ray tasks), else here."""
    dimension = encoder.dimension
    live_shards = live_shards or {}
    written = Written()
    passage_record: list[np.ndarray] = []
    pending: list[tuple[dict, Sequence[Record], list[Passage], list[str], dict[int, np.ndarray], list[str]]] = []
    waiting = 0

    def flush() -> None:
        nonlocal waiting
        texts, where = [], []
        for n, (_, _, passages, _, found, _) in enumerate(pending):
            for i, passage in enumerate(passages):
                if i not in found:
                    texts.append(passage.text)
                    where.append((n, i))
        if texts:
            say(f"embedding {len(texts)} passages with {encoder.name}")

            def spill(rows, batch) -> None:
                cache.spill([pending[where[r][0]][3][where[r][1]] for r in rows], batch)

            fresh = embed(texts, spill) if embed is not None else _embed_spilling(encoder, texts, spill, progress)
            if fresh.shape != (len(texts), dimension):
                raise AssistantError(f"model {encoder.name} returned vectors of shape {fresh.shape[1:]}, expected "
                                     f"({dimension},)")
            for (n, i), vector in zip(where, fresh):
                pending[n][4][i] = vector
        for count, chunk, passages, keys, found, joined in pending:
            vectors = np.vstack([found[i] for i in range(len(passages))]) if passages else \
                np.zeros((0, dimension), np.float32)
            write_shard(folder / count["name"], chunk, passages, keys, vectors, joined if bm25_tokens else None)
        pending.clear()
        waiting = 0

    prepare = getattr(embed, "prepare_shards", None) or prepare_in_process
    prepared = prepare(chunks, max_words, budget)
    for number, (chunk, digest, ready) in enumerate(zip(chunks, digests, prepared), start=first_number):
        passages, keys, joined = ready.passages, ready.keys, ready.joined
        count = {"name": f"{number:05d}", "records": len(chunk), "passages": len(passages), "digest": digest,
                 "embedded": 0}
        written.counts.append(count)
        index_passages(sparse, passage_first, chunk, passages, joined)
        rows = {r.id: i for i, r in enumerate(chunk)}
        passage_record.append(np.fromiter((record_first + rows[p.record_id] for p in passages), np.int64,
                                          len(passages)))
        record_first += len(chunk)
        passage_first += len(passages)
        if digest in live_shards:
            link_shard(live_shards[digest], folder / count["name"])
            continue
        found: dict[int, np.ndarray] = {}
        for i, key in enumerate(keys):
            vector = cached.get(key)
            if vector is None:
                vector = live_vectors.get(key)
            if vector is not None:
                found[i] = vector
        count["embedded"] = len(passages) - len(found)
        pending.append((count, chunk, passages, keys, found, joined))
        waiting += count["embedded"]
        if waiting >= embed_group:
            flush()
    flush()
    written.passage_record = np.concatenate(passage_record) if passage_record else np.zeros(0, np.int64)
    return written
