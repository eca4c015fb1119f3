"""The FAISS index behind dense search, exact or approximate by size.

Small knowledge bases get an exact inner-product index (``IndexFlatIP``). From ``IVF_THRESHOLD`` passages on, an
inverted-file index (``IndexIVFFlat``, about 4·sqrt(n) lists, trained on a sample) answers in a fraction of the
time; ``nprobe`` is then chosen at build time as the smallest setting whose recall@10 against exact search, with
a sample of the knowledge base's own vectors as queries (each one's own entry left out), is at least
``TARGET_RECALL``. Both are saved
with ``faiss.write_index`` and memory-mapped on load when FAISS allows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IVF_THRESHOLD = 50_000
TARGET_RECALL = 0.99
NPROBES = (4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class DenseIndexInfo:
    kind: str  # "flat" or "ivf"
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
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[rng.choice(n, size=min(n, nlist * 64), replace=False)]
    index.train(np.ascontiguousarray(sample))
    index.add(vectors)
    picked = rng.choice(n, size=min(n, 500), replace=False)
    queries = np.ascontiguousarray(vectors[picked])
    exact = faiss.IndexFlatIP(dimension)
    exact.add(vectors)
    _, truth = exact.search(queries, 11)
    truth = _without_self(truth, picked)
    recall = 0.0
    for nprobe in NPROBES:
        index.nprobe = min(nprobe, nlist)
        _, found = index.search(queries, 11)
        recall = _recall(_without_self(found, picked), truth)
        if recall >= TARGET_RECALL or nprobe >= nlist:
            break
    return index, DenseIndexInfo("ivf", nlist, index.nprobe, round(recall, 4))


def save_dense_index(index, path: Path) -> None:
    import faiss
    faiss.write_index(index, str(path))


def load_dense_index(path: Path, info: dict | None = None):
    import faiss
    try:
        index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:  # not every index type can be memory-mapped
        index = faiss.read_index(str(path))
    if info and info.get("kind") == "ivf":
        faiss.extract_index_ivf(index).nprobe = int(info["nprobe"])
    return index
