"""Updates to a sharded knowledge base applied as deltas, and compaction.

A PubMed daily update revises or deletes a few thousand of 38 million citations; rewriting the shards, the BM25
index and the dense index for that would take hours. A delta version instead hard-links every live shard
unchanged, writes the new and changed papers as new shards (embedding only passage texts not already embedded,
found by passage key), and marks the replaced and deleted papers dead ("tombstones"): their rows stay in their
shards so every other row keeps its number, but they are removed from the IVF index (``dense_index.extend_dense``)
and from the tantivy index (deleted by row), excluded from filter masks (``FilterColumns.alive``), and skipped by
lookups and iteration. Search results are those of the final records; only BM25's corpus statistics still count
dead passages until compaction (tantivy's own rule for deleted documents).

``compact`` rewrites the live records as clean shards with the live quantizer, codebook and ``nprobe``, so every
passage keeps its codes and no result changes. An update that would leave more than ``DELTA_MAX`` of the rows
dead, or that changes more than that share of the papers, is built in full instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from .dense_index import extend_dense, save_dense_index
from .embed_cache import EmbedCache
from .store import BuildReport, KnowledgeBase, _vector_problem, publish, staging_folder
from ..types import Record
from .shard_writer import LiveVectors, link_shard, write_shards
from .sharded_build import build_sharded, shard_digest
from .shards import Shard, ShardedVectors, keeps_bm25_tokens, record_digest
from .tantivy_sparse import TantivyWriter

DELTA_MAX = 0.25


@dataclass
class Plan:
    changed: list[Record]  # new or changed papers, written as new shards
    dead: np.ndarray  # live record rows replaced or deleted now


def plan(papers: Sequence[Record], kb: KnowledgeBase) -> Plan | None:
    """What turns the live version into ``papers``, or ``None`` when a full build is the better way."""
    live = {ident: (row, digest) for row, ident, digest in kb.records.live_rows()}
    kept, changed = set(), []
    for paper in papers:
        found = live.get(paper.id)
        if found is not None and found[1] == record_digest(paper):
            kept.add(paper.id)
        else:
            changed.append(paper)
    dead = np.array(sorted(row for ident, (row, _) in live.items() if ident not in kept), dtype=np.int64)
    rows = len(kb.records) + len(changed)
    if len(kb.records.dead) + len(dead) > DELTA_MAX * rows or len(changed) > DELTA_MAX * max(1, len(live)):
        return None
    return Plan(changed, dead)


def apply(delta: Plan, kb: KnowledgeBase, index_dir: Path, encoder, *, digest: str, max_words: int, budget,
          shard_records: int, embed=None, embed_group: int = 131_072, progress: bool = False,
          say=lambda message: None) -> tuple[BuildReport, str]:
    """Write the delta version beside the live one and make it live (see the module's docstring); return the report
    and the new version's name (the caller sweeps old versions once it has let go of ``kb``)."""
    live, manifest = kb.path, kb.manifest
    precision = manifest.get("precision", "fp32")
    dimension = kb.dimension
    dead_rows = delta.dead
    dead_passages = np.concatenate([kb.passage_rows(int(r)) for r in dead_rows]) if len(dead_rows) else \
        np.zeros(0, np.int64)
    say(f"update as a delta: {len(delta.changed)} new or changed papers, {len(dead_rows)} replaced or deleted")
    cache = EmbedCache(index_dir, encoder.name, precision, dimension)
    touched = sorted({int(np.searchsorted(kb.records.offsets, r, side="right")) - 1 for r in dead_rows})
    live_vectors = LiveVectors(live / "shards" / manifest["shards"][i]["name"] for i in touched)
    with staging_folder(index_dir) as staging:
        (staging / "shards").mkdir()
        for shard in manifest["shards"]:
            link_shard(live / "shards" / shard["name"], staging / "shards" / shard["name"])
        sparse = TantivyWriter.extend(staging / "sparse", live / "sparse")
        sparse.delete_rows(dead_passages)
        chunks = [delta.changed[i:i + shard_records] for i in range(0, len(delta.changed), shard_records)]
        tokens = keeps_bm25_tokens(manifest)
        written = write_shards(chunks, [shard_digest(c, max_words, encoder.name, precision, tokens) for c in chunks],
                               staging / "shards", sparse, encoder=encoder, budget=budget, max_words=max_words,
                               cache=cache, cached=cache.load(), live_vectors=live_vectors, embed=embed,
                               embed_group=embed_group, progress=progress, say=say,
                               first_number=len(manifest["shards"]), record_first=len(kb.records),
                               passage_first=len(kb.passages), bm25_tokens=tokens)
        sparse.close()
        np.save(staging / "passage_record.npy", np.concatenate([np.asarray(kb.passage_record),
                                                                written.passage_record]))
        all_dead = np.union1d(np.fromiter(kb.records.dead, np.int64, len(kb.records.dead)), dead_rows)
        np.save(staging / "dead_records.npy", all_dead)
        kb.filter_columns.extended(delta.changed, dead_rows).save(staging / "filters")
        shards = [*manifest["shards"], *({k: c[k] for k in ("name", "records", "passages", "digest")}
                                         for c in written.counts)]
        vectors = ShardedVectors([Shard(staging / "shards" / s["name"]) for s in shards], dimension)
        first_new = len(kb.passages)
        problem = _vector_problem(vectors[first_new:len(vectors)], len(vectors) - first_new, dimension) \
            if len(vectors) > first_new else None
        if problem:
            from ..errors import AssistantError
            raise AssistantError(f"the update made bad vectors ({problem}); nothing was written, the live version "
                                 "is unchanged")
        say(f"adding {written.passages} passages to the dense index, removing {len(dead_passages)}")
        index, info = extend_dense(live / "dense.faiss", manifest["dense_index"], vectors, first_new, dead_passages)
        save_dense_index(index, staging / "dense.faiss")
        passage_dead = np.isin(np.load(staging / "passage_record.npy"), all_dead)
        new_manifest = {**manifest,
                        "dense_index": info.to_dict(),
                        "records": len(kb.records) + sum(len(c) for c in chunks),
                        "passages": len(vectors),
                        "dead_records": int(len(all_dead)),
                        "dead_passages": int(passage_dead.sum()),
                        "updates_since_compaction": int(manifest.get("updates_since_compaction", 0)) + 1,
                        "delta_of": live.name,
                        "corpus_hash": digest,
                        "shards": shards,
                        "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        version = publish(index_dir, staging, new_manifest)
    cache.clear()
    alive_records = new_manifest["records"] - len(all_dead)
    alive_passages = len(vectors) - new_manifest["dead_passages"]
    return BuildReport(index_dir, alive_records, alive_passages, written.embedded, alive_passages - written.embedded,
                       False, encoder.name), version


def compact(index_dir: Path, encoder, *, on_stage=None, embed=None) -> BuildReport:
    """Rewrite the live sharded version without its dead rows (see the module's docstring)."""
    kb = KnowledgeBase.load(index_dir)
    if not kb.sharded:
        from ..errors import AssistantError
        raise AssistantError(f"the knowledge base at {index_dir} is not sharded; nothing to compact")
    like = kb.index if str(kb.manifest["dense_index"].get("kind", "")).startswith("ivf") else None
    papers, info = list(kb.records), kb.manifest["dense_index"]
    del kb  # let go of the old version, so the build can sweep it
    return build_sharded(papers, index_dir, encoder, on_stage=on_stage, embed=embed, full=True, like=like,
                         like_info=info)
