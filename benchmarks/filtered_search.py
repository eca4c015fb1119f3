"""A filtered dense search against an unfiltered one, measured in one run on the same IVF index.

Clustered random unit vectors (``--passages``, 384 dimensions) go into the project's IVF index
(``dense_index.build_dense_index``); 50 of them are the queries. A filter allowing ``--allowed`` of the passages
is applied two ways: a scan of every allowed vector (what the retriever does below ``EXACT_FILTERED_ROWS``) and an
ID selector inside the IVF search. Prints milliseconds per query, the ratios to the unfiltered search, and the
selector's recall@10 against the scan.

    .venv/bin/python benchmarks/filtered_search.py --passages 200000 --allowed 0.4
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--allowed", type=float, default=0.4)
    args = parser.parse_args()
    from assistant.kb.dense_index import build_dense_index, search
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(500, 384)).astype(np.float32)
    vectors = centers[rng.integers(0, 500, args.passages)] + 0.5 * rng.normal(size=(args.passages, 384)).astype(
        np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index, info = build_dense_index(vectors)
    mask = rng.random(args.passages) < args.allowed
    rows = np.flatnonzero(mask)
    queries = vectors[rng.choice(args.passages, 50, replace=False)]

    def scan(query):
        scores = vectors[rows] @ query
        return rows[np.argsort(-scores)[:64]]

    def timed(fn) -> float:
        started = time.perf_counter()
        for query in queries:
            fn(query)
        return (time.perf_counter() - started) / len(queries) * 1000

    plain = timed(lambda q: search(index, vectors, q, 64))
    scanned = timed(scan)
    selected = timed(lambda q: search(index, vectors, q, 64, mask))
    recall = np.mean([len(set(search(index, vectors, q, 64, mask)[1][:10]) & set(scan(q)[:10])) / 10
                      for q in queries])
    print(f"{args.passages:,} passages, {info.kind} nlist {info.nlist} nprobe {info.nprobe}; filter allows "
          f"{mask.mean():.0%}")
    print(f"unfiltered {plain:.2f} ms; filtered by scanning {scanned:.2f} ms ({scanned / plain:.1f}x); "
          f"filtered inside the IVF search {selected:.2f} ms ({selected / plain:.1f}x), recall@10 {recall:.3f}")


if __name__ == "__main__":
    main()
