"""Dense search at scale: the IVF index the store builds for large knowledge bases, against exact search.

Generates N clustered unit vectors (384 dimensions, like MiniLM; what they mean does not change search cost),
builds the index through ``dense_index.build_dense_index`` (the store's own code path: nlist, training, nprobe
chosen for recall@10 >= 0.99), and reports build time, disk size, resident memory, and query p50/p95 with
recall@10 for IVF and for exact search, measured in the same run on the same queries.

    .venv/bin/python benchmarks/ann_scale.py --n 1000000
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.dense_index import build_dense_index, load_dense_index, save_dense_index  # noqa: E402


def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Vectors around 2,000 shared topic centres (the same for every seed), with per-seed noise."""
    centres = np.random.default_rng(12345).normal(size=(2000, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        out[start:stop] = centres[rng.integers(0, len(centres), stop - start)] + \
            1.0 * rng.normal(size=(stop - start, dim)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def timed_queries(index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    samples, found = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = index.search(q.reshape(1, -1), 10)
        samples.append(time.perf_counter() - started)
        found.append(ids[0])
    return samples, np.array(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    import faiss

    vectors = clustered(args.n, 384)
    queries = clustered(args.queries, 384, seed=1)
    started = time.perf_counter()
    index, info = build_dense_index(vectors, threshold=1)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dense.faiss"
        save_dense_index(index, path)
        disk_mb = path.stat().st_size / 1e6
        loaded = load_dense_index(path, info.to_dict())
        exact = faiss.IndexFlatIP(384)
        exact.add(vectors)
        ivf_t, ivf_ids = timed_queries(loaded, queries)
        flat_t, flat_ids = timed_queries(exact, queries)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ivf_ids, flat_ids)]))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p = lambda s: (statistics.median(s) * 1000, sorted(s)[int(0.95 * (len(s) - 1))] * 1000)  # noqa: E731
    (i50, i95), (f50, f95) = p(ivf_t), p(flat_t)
    print(f"{args.n} vectors: IVF nlist {info.nlist}, nprobe {info.nprobe} (chosen at build: recall@10 "
          f"{info.recall_at_10})")
    print(f"build {build_s:.1f} s, index on disk {disk_mb:.0f} MB, peak memory {rss_mb:.0f} MB")
    print(f"IVF   p50 {i50:.2f} ms  p95 {i95:.2f} ms  recall@10 vs exact {recall:.4f} (fresh queries)")
    print(f"exact p50 {f50:.2f} ms  p95 {f95:.2f} ms")
    print(f"exact/IVF p50: {f50 / i50:.1f}x")


if __name__ == "__main__":
    main()
