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
    picked = rng.choice(n, size=min(n, 1000), replace=False)
    queries = np.ascontiguousarray(vectors[picked])
    exact = faiss.IndexFlatIP(dimension)
    exact.add(vectors)
    _, truth = exact.search(queries, 11)
    truth = _without_self(truth, picked)
    recall = 0.0
    for nprobe in NPROBES:
        index.nprobe = min(nprobe, nlist)
        found = np.array([search(index, vectors, q, 11)[1] for q in queries])
        recall = _recall(_without_self(found, picked), truth)
        if recall >= TARGET_RECALL + RECALL_MARGIN or nprobe >= nlist:
            break
    return index, DenseIndexInfo("ivf-pq" if codes != "SQ8" else "ivf-sq8", nlist, index.nprobe, round(recall, 4))


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
