"""The FAISS index behind dense search, exact or approximate by size.

Small knowledge bases get an exact inner-product index (``IndexFlatIP``). From ``IVF_THRESHOLD`` passages on, an
inverted-file index answers in a fraction of the time: about 4·sqrt(n) lists trained on a sample, holding 4-bit
product-quantised codes of two dimensions each (one sixteenth of the float32 bytes, scanned with FAISS's SIMD
"fast scan"), searched over its lists on all cores; the ``RERANK`` candidates it returns are then re-scored
exactly against the float32 vectors the knowledge base keeps anyway (``vectors.npy``), so the coarse codes only
shortlist and cost no precision in the final order. ``nprobe`` is chosen at build time as the smallest setting
whose recall@10 against exact search, with a sample of the knowledge base's own vectors as queries (each one's
own entry left out), is at least ``TARGET_RECALL`` plus a margin for the sampling error. Indexes are saved
with ``faiss.write_index`` and memory-mapped on load when FAISS allows it. Older knowledge bases with a plain
``IndexIVFFlat`` load and search through the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IVF_THRESHOLD = 50_000
TARGET_RECALL = 0.99
RECALL_MARGIN = 0.003
NPROBES = (4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192)
RERANK = 256


@dataclass(frozen=True)
class DenseIndexInfo:
    kind: str  # "flat", "ivf-pq" (or "ivf-sq8" for odd dimensions; "ivf" with float32 lists in older builds)
    nlist: int = 0
    nprobe: int = 0
    recall_at_10: float = 1.0

    def to_dict(self) -> dict:
        return {"kind": self.kind, "nlist": self.nlist, "nprobe": self.nprobe, "recall_at_10": self.recall_at_10}


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact)]))


def _without_self(ids: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Top-10 neighbours of each sampled vector other than itself (finding oneself says nothing of recall)."""
    return np.array([[i for i in row if i != me][:10] for row, me in zip(ids, own)])


def is_approximate(index) -> bool:
    import faiss
    return not isinstance(index, faiss.IndexFlat)


def search(index, vectors: np.ndarray | None, query: np.ndarray, k: int, allowed: np.ndarray | None = None) \
        -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` of one query as ``(scores, ids)``; approximate candidates are re-scored exactly from ``vectors``.
    ``allowed`` (a boolean mask over the passages; approximate indexes only) becomes an ID selector inside the IVF
    search, so a filter costs about what an unfiltered search does instead of a scan of every allowed vector."""
    import faiss

    query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
    if vectors is None or not is_approximate(index):
        scores, ids = index.search(query, k)
        return scores[0], ids[0]
    if allowed is not None:
        bits = np.packbits(allowed, bitorder="little")  # kept referenced until the search returns
        ivf = faiss.extract_index_ivf(index)
        params = faiss.SearchParametersIVF(sel=faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits)),
                                           nprobe=ivf.nprobe)
        _, ids = index.search(query, max(k, RERANK), params=params)
        del bits
    else:
        _, ids = index.search(query, max(k, RERANK))
    ids = np.sort(ids[0][ids[0] >= 0])  # in file order: kinder to memory-mapped vectors
    exact = np.asarray(vectors[ids]) @ query[0]
    order = np.argsort(-exact, kind="stable")[:k]
    return exact[order], ids[order]


def build_dense_index(vectors: np.ndarray, threshold: int = IVF_THRESHOLD, seed: int = 0):
    """An index over unit ``vectors`` (float32) and what was chosen."""
    import faiss

    n, dimension = vectors.shape
    if n < threshold:
        index = faiss.IndexFlatIP(dimension)
        index.add(vectors)
        return index, DenseIndexInfo("flat")
    rng = np.random.default_rng(seed)
    nlist = max(16, int(4 * math.sqrt(n)))
    codes = f"PQ{dimension // 2}x4fs" if dimension % 2 == 0 else "SQ8"
    index = faiss.index_factory(dimension, f"IVF{nlist},{codes}", faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))]
    index.train(np.ascontiguousarray(sample))
    index.add(vectors)
    index.parallel_mode = 1  # one query at a time: split its lists over the cores
    recall = tune_nprobe(index, vectors, rng)
    return index, DenseIndexInfo("ivf-pq" if codes != "SQ8" else "ivf-sq8", nlist, index.nprobe, recall)


def exact_neighbours(vectors, queries: np.ndarray, k: int, block: int = 65_536) -> np.ndarray:
    """Ids of each query's ``k`` nearest rows by inner product, by brute force over ``vectors`` in blocks (an
    array, or ``kb.shards.ShardedVectors``), so the ground truth never needs a second copy of every vector."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_ids = np.full((len(queries), k), -1, dtype=np.int64)
    blocks = vectors.blocks(block) if hasattr(vectors, "blocks") else \
        ((s, np.asarray(vectors[s:s + block], dtype=np.float32)) for s in range(0, len(vectors), block))
    for first, part in blocks:
        scores = queries @ part.T
        ids = np.broadcast_to(np.arange(first, first + len(part)), scores.shape)
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate([best_ids, ids], axis=1)
        keep = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, keep, axis=1)
        best_ids = np.take_along_axis(ids, keep, axis=1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best_ids, order, axis=1)


def tune_nprobe(index, vectors, rng) -> float:
    """Set the smallest ``nprobe`` whose recall@10 (after the exact re-rank) is at least ``TARGET_RECALL`` plus
    the margin, on up to 1,000 of the knowledge base's own vectors as queries; return that recall."""
    import faiss
    ivf = faiss.extract_index_ivf(index)
    n = index.ntotal
    picked = np.sort(rng.choice(n, size=min(n, 1000), replace=False))
    queries = np.ascontiguousarray(np.asarray(vectors[picked], dtype=np.float32))
    truth = _without_self(exact_neighbours(vectors, queries, 11), picked)
    recall = 0.0
    for nprobe in NPROBES:
        ivf.nprobe = min(nprobe, ivf.nlist)
        found = np.array([np.pad(search(index, vectors, q, 11)[1], (0, 11), constant_values=-1)[:11]
                          for q in queries])
        recall = _recall(_without_self(found, picked), truth)
        if recall >= TARGET_RECALL + RECALL_MARGIN or nprobe >= ivf.nlist:
            break
    return round(recall, 4)


def build_sharded_dense(vectors, threshold: int = IVF_THRESHOLD, seed: int = 0, like=None, info: dict | None = None):
    """The index of a sharded knowledge base (``vectors``: ``kb.shards.ShardedVectors``): exact below
    ``threshold``; above, one IVF quantizer and codebook trained on a sample drawn across all shards, each shard's
    codes added to an empty copy of it and merged in (``merge_from``) under their global passage ids. A shard's
    codes depend only on its vectors and the trained quantizer, so they can be added anywhere.

    ``like`` (an IVF index, with its ``info``) lends its trained quantizer, codebook and ``nprobe`` instead:
    compaction uses it, so every passage gets the codes it had and no search result changes."""
    import faiss

    n, dimension = vectors.shape
    if n < threshold and like is None:
        index = faiss.IndexFlatIP(dimension)
        for _, block in vectors.blocks():
            index.add(block)
        return index, DenseIndexInfo("flat")
    rng = np.random.default_rng(seed)
    if like is not None:
        index = faiss.clone_index(like)
        index.reset()
        nlist = faiss.extract_index_ivf(index).nlist
    else:
        nlist = max(16, int(4 * math.sqrt(n)))
        codes = f"PQ{dimension // 2}x4fs" if dimension % 2 == 0 else "SQ8"
        index = faiss.index_factory(dimension, f"IVF{nlist},{codes}", faiss.METRIC_INNER_PRODUCT)
        sample = np.sort(rng.choice(n, size=min(n, nlist * 64), replace=False))
        index.train(np.ascontiguousarray(vectors[sample]))
    empty = faiss.clone_index(index)
    for part, first in zip(vectors.parts, vectors.offsets):
        piece = faiss.clone_index(empty)
        for start in range(0, len(part), 65_536):
            piece.add(np.ascontiguousarray(part[start:start + 65_536], dtype=np.float32))
        index.merge_from(piece, int(first))  # the piece numbers its codes from 0
    index.parallel_mode = 1
    if like is not None:
        faiss.extract_index_ivf(index).nprobe = int(info["nprobe"])
        return index, DenseIndexInfo(info["kind"], nlist, int(info["nprobe"]), float(info["recall_at_10"]))
    recall = tune_nprobe(index, vectors, rng)
    return index, DenseIndexInfo("ivf-pq" if codes != "SQ8" else "ivf-sq8", nlist, index.nprobe, recall)


def extend_dense(path: Path, info: dict, vectors, first_new: int, dead: np.ndarray):
    """A live sharded version's index brought up to date for a delta: for IVF, the rows from ``first_new`` on added
    under their global ids and the ``dead`` rows removed (``nprobe`` kept); an exact index is rebuilt over every
    row (dead rows are masked at search: ``KnowledgeBase.dead_passages``)."""
    import faiss

    if not str(info.get("kind", "")).startswith("ivf"):
        return build_sharded_dense(vectors, threshold=len(vectors) + 1)
    index = faiss.read_index(str(path))  # in memory: it is changed, then written to the new version
    if len(dead):
        index.remove_ids(np.asarray(dead, dtype=np.int64))
    for start in range(first_new, len(vectors), 65_536):
        stop = min(len(vectors), start + 65_536)
        index.add_with_ids(np.ascontiguousarray(vectors[start:stop]), np.arange(start, stop, dtype=np.int64))
    ivf = faiss.extract_index_ivf(index)
    ivf.nprobe, ivf.parallel_mode = int(info["nprobe"]), 1
    return index, DenseIndexInfo(info["kind"], int(info["nlist"]), int(info["nprobe"]), float(info["recall_at_10"]))


def save_dense_index(index, path: Path) -> None:
    import faiss
    faiss.write_index(index, str(path))


def load_dense_index(path: Path, info: dict | None = None):
    import faiss
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:  # not every index type can be memory-mapped
        index = faiss.read_index(str(path))
    if info and str(info.get("kind", "")).startswith("ivf"):
        ivf = faiss.extract_index_ivf(index)
        ivf.nprobe = int(info["nprobe"])
        ivf.parallel_mode = 1
    return index
