"""The build of a sharded (format 3) knowledge base, from records to a swapped-in version.

Stages, each bounded by one shard or one embedding group rather than by the corpus: merge the records; cut them into
shards of ``SHARD_RECORDS`` papers (a PubMed baseline file holds 30,000 citations); per shard, split the passages,
index them for BM25 (tantivy, ``tantivy_sparse``), and either hard-link the shard's files from the live version
(same digest: same records, settings and model) or find each passage's vector (the live version's shards and the
build's spill cache, by passage key) and embed the rest, in groups of about ``EMBED_GROUP`` texts, in this process
or through ``embed`` (a Ray actor pool, ``ray_build``); then write the filter columns, the global passage-to-record
map and the dense index (``dense_index.build_sharded_dense``: one quantizer trained on a sample, each shard's codes
merged in), check every vector, and swap ``CURRENT`` as ``store.build`` does. The driver never holds more than one
embedding group of vectors.

Each shard keeps its passages' BM25 tokens unless built with ``bm25_tokens=False``: tantivy then ranks BM25 by its
own scores (k1 1.2, lengths quantised) instead of re-scoring its candidates exactly as bm25s does. The tokens are
about 1.3 KB a passage on disk (85 GB for all of PubMed, more than a replica's page cache holds) and a search
reads a few hundred passages' worth; without them SciFact's hybrid nDCG@10 is about 0.005 lower. The choice is in
the manifest and in each shard's digest, so updates and compaction keep it and changing it rewrites every shard
(embedding nothing).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..corpus.merge import merge_records
from .dense_index import IVF_THRESHOLD, build_sharded_dense, save_dense_index
from .embed_cache import EmbedCache
from ..encoders import Encoder, token_budget_of
from ..errors import AssistantError
from .filter_columns import FilterColumns
from .passages import MAX_WORDS
from .sparse import ANALYSER
from .store import (BuildReport, KnowledgeBase, _encoded_alike, _previous_vectors, _sweep, _vector_problem,
                    manifest_head, publish, staging_folder)
from ..types import Record
from .shard_writer import LiveVectors, write_shards
from .shards import SHARD_FORMAT, Shard, ShardedVectors, keeps_bm25_tokens
from .tantivy_sparse import METHOD, TantivyWriter

FORMAT_VERSION = 3
SHARD_RECORDS = 30_000
EMBED_GROUP = 131_072  # passages embedded together: big enough to keep an actor pool busy, small enough to hold


def shard_digest(records: Sequence[Record], max_words: int, model: str, precision: str,
                 bm25_tokens: bool = True) -> str:
    settings = f"{FORMAT_VERSION}|{SHARD_FORMAT}|{max_words}|fit|subjects|{ANALYSER}|{model}|{precision}|"
    if not bm25_tokens:  # shards with tokens keep the digests they had before this choice existed
        settings += "no-tokens|"
    digest = hashlib.sha256(settings.encode())
    for record in records:
        digest.update(json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _up_to_date(index_dir: Path, manifest: dict, model: str) -> BuildReport:
    """The report of a build that had nothing to do: the live version's papers and passages, dead ones left out."""
    passages = manifest["passages"] - manifest.get("dead_passages", 0)
    return BuildReport(index_dir, manifest["records"] - manifest.get("dead_records", 0), passages, 0, passages, True,
                       model)


def build_sharded(records: Sequence[Record], index_dir: Path, encoder: Encoder, *, max_words: int = MAX_WORDS,
                  progress: bool = False, on_stage: Callable[[str], None] | None = None,
                  ivf_threshold: int = IVF_THRESHOLD, embed: Callable | None = None,
                  shard_records: int = SHARD_RECORDS, embed_group: int = EMBED_GROUP, full: bool = False,
                  like=None, like_info: dict | None = None, bm25_tokens: bool | None = None) -> BuildReport:
    """Write ``records`` as a new sharded version of ``index_dir`` and make it live (see the module's docstring).
    ``bm25_tokens`` ``None`` keeps the live sharded version's choice (tokens kept for a new knowledge base).

    When the live version is sharded with the same model and settings and the change is small, the update is
    applied as a delta (``delta``) unless ``full``; ``like``/``like_info`` lend a live IVF index's quantizer and
    ``nprobe`` to a full build (``delta.compact``)."""
    say = on_stage or (lambda message: None)
    index_dir = Path(index_dir)
    papers = merge_records(records)
    if not papers:
        raise AssistantError("the corpus is empty; add at least one record")
    precision = getattr(encoder, "precision", "fp32")
    try:
        manifest = KnowledgeBase.read_manifest(index_dir)
        live_version = KnowledgeBase.live_version(index_dir)
    except AssistantError:
        manifest, live_version = None, None
    if bm25_tokens is None:
        bm25_tokens = keeps_bm25_tokens(manifest) if manifest and manifest.get("layout") == "sharded" else True
    chunks = [papers[i:i + shard_records] for i in range(0, len(papers), shard_records)]
    digests = [shard_digest(chunk, max_words, encoder.name, precision, bm25_tokens) for chunk in chunks]
    digest = hashlib.sha256("|".join(digests).encode()).hexdigest()
    compacting = full and manifest and manifest.get("dead_records")
    if manifest and manifest.get("corpus_hash") == digest and _encoded_alike(manifest, encoder.name, precision) \
            and not compacting:
        return _up_to_date(index_dir, manifest, encoder.name)
    dimension, budget = encoder.dimension, token_budget_of(encoder)
    live_shards = {}
    if manifest and manifest.get("format_version") == FORMAT_VERSION and _encoded_alike(manifest, encoder.name,
                                                                                         precision):
        live_shards = {s["digest"]: live_version / "shards" / s["name"] for s in manifest["shards"]}
        same_settings = (manifest.get("passage_max_words") == max_words
                         and manifest.get("passage_max_tokens") == (budget.limit if budget else None)
                         and manifest.get("sparse", {}).get("analyser") == ANALYSER
                         and manifest.get("sparse", {}).get("method") == METHOD
                         and manifest.get("shard_format") == SHARD_FORMAT
                         and keeps_bm25_tokens(manifest) == bm25_tokens)
        if same_settings and not full:
            from . import delta
            live = KnowledgeBase.load(index_dir)
            change = delta.plan(papers, live)
            if change is not None and not change.changed and not len(change.dead):  # the same papers, reordered
                return _up_to_date(index_dir, manifest, encoder.name)
            if change is None:
                del live
            else:
                report, version = delta.apply(change, live, index_dir, encoder, digest=digest, max_words=max_words,
                                              budget=budget, shard_records=shard_records, embed=embed,
                                              embed_group=embed_group, progress=progress, say=say)
                del live  # our own hold on the old version: let it go so the sweep can remove it
                _sweep(index_dir, keep=version)
                return report
    cache = EmbedCache(index_dir, encoder.name, precision, dimension)
    if live_shards:
        live_vectors = LiveVectors(live_version / "shards" / s["name"] for s in manifest["shards"])
    else:  # a single-file live version of the same model: switching layouts embeds nothing
        live_vectors = _previous_vectors(index_dir, encoder.name, dimension, precision) if manifest else {}

    with staging_folder(index_dir) as staging:
        (staging / "shards").mkdir()
        sparse = TantivyWriter(staging / "sparse")
        written = write_shards(chunks, digests, staging / "shards", sparse, encoder=encoder, budget=budget,
                               max_words=max_words, cache=cache, cached=cache.load(), live_vectors=live_vectors,
                               live_shards=live_shards, embed=embed, embed_group=embed_group, progress=progress,
                               say=say, bm25_tokens=bm25_tokens)
        say(f"indexing {written.passages} passages for BM25")
        sparse.close()
        np.save(staging / "passage_record.npy", written.passage_record)
        counts, total_passages = written.counts, written.passages
        say(f"indexing {total_passages} passages for dense search")
        shards = [Shard(staging / "shards" / c["name"]) for c in counts]
        vectors = ShardedVectors(shards, dimension)
        problem = _vector_problem(vectors, total_passages, dimension)
        if problem:
            raise AssistantError(f"the build made bad vectors ({problem}); nothing was written, the live version "
                                 "is unchanged")
        index, dense_info = build_sharded_dense(vectors, ivf_threshold, like=like, info=like_info)
        save_dense_index(index, staging / "dense.faiss")
        del index
        FilterColumns(papers).save(staging / "filters")
        manifest = {
            **manifest_head(encoder, FORMAT_VERSION),
            "layout": "sharded",
            "shard_format": SHARD_FORMAT,
            "vectors": "float16 re-rank store per shard",
            "dense_index": dense_info.to_dict(),
            "sparse": {"method": METHOD, "analyser": ANALYSER, "tokens": bm25_tokens},
            "records": len(papers),
            "passages": total_passages,
            "passage_max_words": max_words,
            "passage_max_tokens": budget.limit if budget else None,
            "corpus_hash": digest,
            "shards": [{k: c[k] for k in ("name", "records", "passages", "digest")} for c in counts],
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        version = publish(index_dir, staging, manifest)
    _sweep(index_dir, keep=version)
    cache.clear()
    return BuildReport(index_dir, len(papers), total_passages, written.embedded, total_passages - written.embedded,
                       False, encoder.name)


