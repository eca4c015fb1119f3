"""Dense search at scale: the IVF index the store builds for large knowledge bases, against exact search.

Generates N unit vectors of 384 dimensions (embedding a million passages with MiniLM would take days on two
cores), builds the index through ``dense_index.build_dense_index`` (the store's own code path: nlist, training,
nprobe chosen for recall@10 >= 0.99), and reports build time, disk size, resident memory, and query p50/p95 with
recall@10 for IVF and for exact search, measured in the same run on the same fresh queries.

Three kinds of vectors (``--vectors``), all built from real MiniLM vectors of SciFact abstracts (from
``../shared/eval/scifact``, encoded at the start; without SciFact, the shipped knowledge base's passages):
- ``real`` (default): new "papers" between real ones: a random point on the segment between a real abstract and
  one of its 20 nearest real neighbours, plus noise with the real vectors' covariance, scaled so that a generated
  vector is as close to its base as a real abstract is to its nearest real neighbour (median cosine).
- ``gaussian``: a single Gaussian with the real vectors' mean and covariance: the real spectrum without any topic
  structure, a stress case far harder for an approximate index than text.
- ``clustered``: noisy copies of 2,000 random centres, an easy case.

    .venv/bin/python benchmarks/ann_scale.py --n 1000000 [--vectors real|gaussian|clustered]
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

from assistant.kb.dense_index import build_dense_index, load_dense_index, save_dense_index, search  # noqa: E402


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


ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"


def reference_vectors(limit: int = 3000) -> tuple[np.ndarray, str]:
    """Real MiniLM vectors: SciFact abstracts when present, else the shipped knowledge base's passages."""
    if SCIFACT.is_dir():
        from assistant.encoders import encode_in_batches, get_encoder
        from assistant.evaluate import load_beir
        corpus = load_beir(SCIFACT, "test").corpus[:limit]
        texts = [f"{r.title}. {r.text}" for r in corpus]
        return encode_in_batches(get_encoder(), texts), f"{len(texts)} SciFact abstracts"
    from assistant.config import default_index_dir
    from assistant.kb.store import KnowledgeBase
    kb = KnowledgeBase.load(default_index_dir())
    return np.asarray(kb.vectors), f"{len(kb.passages)} passages of the shipped knowledge base"


def real_spectrum(n: int, reference: np.ndarray, seed: int) -> np.ndarray:
    """Unit vectors from a Gaussian with the reference vectors' mean and covariance."""
    mean = reference.mean(axis=0)
    values, axes = np.linalg.eigh(np.cov(reference, rowvar=False))
    transform = (axes * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, reference.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        out[start:stop] = mean + rng.standard_normal((stop - start, reference.shape[1]), dtype=np.float32) @ transform
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _noise_transform(reference: np.ndarray) -> np.ndarray:
    values, axes = np.linalg.eigh(np.cov(reference, rowvar=False))
    return (axes * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)


def between_real(reference: np.ndarray):
    """A sampler ``sample(n, seed)`` of points between a real vector and one of its 20 nearest real neighbours,
    plus real-covariance noise; neighbours, noise shape and noise scale are worked out once."""
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    similarity = reference @ reference.T
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :20]
    transform = _noise_transform(reference)

    def sample(n: int, seed: int, scale: float) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, reference.shape[1]), dtype=np.float32)
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            bases = _bases(stop - start, reference, neighbours, rng)
            noise = rng.standard_normal((stop - start, reference.shape[1]), dtype=np.float32) @ transform
            out[start:stop] = bases + scale * noise
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    # the noise scale at which a generated vector is as close to its base as a real abstract to its nearest
    # real neighbour (median cosines)
    target = float(np.median(similarity.max(axis=1)))
    calibration_bases = _bases(2000, reference, neighbours, 99)
    scale = min(np.linspace(0.05, 3.0, 60),
                key=lambda s: abs(np.median((sample(2000, 99, s) * calibration_bases).sum(axis=1)) - target))
    return lambda n, seed: sample(n, seed, scale)


def _bases(n: int, reference: np.ndarray, neighbours: np.ndarray, rng) -> np.ndarray:
    rng = np.random.default_rng(rng) if isinstance(rng, int) else rng
    first = rng.integers(0, len(reference), n)
    second = neighbours[first, rng.integers(0, neighbours.shape[1], n)]
    mix = rng.random((n, 1), dtype=np.float32)
    bases = mix * reference[first] + (1 - mix) * reference[second]
    return bases / np.linalg.norm(bases, axis=1, keepdims=True)


def timed_queries(index, vectors, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """The store's own search path: approximate candidates re-scored exactly from the memory-mapped vectors."""
    samples, found = [], []
    for q in queries:
        started = time.perf_counter()
        _, ids = search(index, vectors, q, 10)
        samples.append(time.perf_counter() - started)
        found.append(ids)
    return samples, np.array(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", choices=["real", "gaussian", "clustered"], default="real")
    args = parser.parse_args()
    import faiss

    if args.vectors == "real":
        reference, described = reference_vectors()
        sample = between_real(reference)
        vectors = sample(args.n, 0)
        queries = sample(args.queries, 1)
        print(f"vectors: between real neighbours, with real-covariance noise, from {described}")
    elif args.vectors == "gaussian":
        reference, described = reference_vectors()
        vectors = real_spectrum(args.n, reference, seed=0)
        queries = real_spectrum(args.queries, reference, seed=1)
        print(f"vectors: Gaussian with the mean and covariance of {described}")
    else:
        vectors = clustered(args.n, 384)
        queries = clustered(args.queries, 384, seed=1)
        print("vectors: noisy copies of 2,000 random centres")
    started = time.perf_counter()
    index, info = build_dense_index(vectors, threshold=1)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dense.faiss"
        save_dense_index(index, path)
        np.save(Path(tmp) / "vectors.npy", vectors)
        disk_mb = (path.stat().st_size + (Path(tmp) / "vectors.npy").stat().st_size) / 1e6
        loaded = load_dense_index(path, info.to_dict())
        mapped = np.load(Path(tmp) / "vectors.npy", mmap_mode="r")
        exact = faiss.IndexFlatIP(384)
        exact.add(vectors)
        ivf_t, ivf_ids = timed_queries(loaded, mapped, queries)
        flat_t, flat_ids = timed_queries(exact, None, queries)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ivf_ids, flat_ids)]))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    p = lambda s: (statistics.median(s) * 1000, sorted(s)[int(0.95 * (len(s) - 1))] * 1000)  # noqa: E731
    (i50, i95), (f50, f95) = p(ivf_t), p(flat_t)
    print(f"{args.n} vectors: IVF nlist {info.nlist}, nprobe {info.nprobe} (chosen at build: recall@10 "
          f"{info.recall_at_10})")
    print(f"build {build_s:.1f} s, index + vectors on disk {disk_mb:.0f} MB, peak memory {rss_mb:.0f} MB")
    print(f"IVF-PQ + exact re-ranking p50 {i50:.2f} ms  p95 {i95:.2f} ms  recall@10 vs exact {recall:.4f} "
          "(fresh queries)")
    print(f"exact p50 {f50:.2f} ms  p95 {f95:.2f} ms")
    print(f"exact/IVF p50: {f50 / i50:.1f}x")


if __name__ == "__main__":
    main()
