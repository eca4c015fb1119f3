"""Search latency: hybrid against dense-only, measured in the same run, on the shipped corpus and on 100,000
generated passages.

Shipped corpus: the real knowledge base and model, timing ``Retriever.search`` end to end (query encoding
included). Generated: 100,000 passages of generated abstract text indexed with the deterministic ``hash:384``
encoder (embedding them with MiniLM would take an hour on two cores; search cost does not depend on what the
vectors mean), timing search with a precomputed query vector, so the figure is retrieval alone.

    .venv/bin/python benchmarks/search_latency.py [--passages 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import load_settings, shipped_corpus_dir  # noqa: E402
from assistant.encoders import HashingEncoder  # noqa: E402
from assistant.pipeline import build_knowledge_base  # noqa: E402
from assistant.retriever import Retriever  # noqa: E402
from assistant.kb.store import KnowledgeBase, build  # noqa: E402
from assistant.types import Record  # noqa: E402

QUERIES = ["JAK1 JAK2 loss of function", "gut microbiome anti-PD-1 response", "PTEN loss resistance",
           "T cell exclusion WNT beta-catenin", "tumour mutational burden predicts response",
           "CD279 blockade resistance", "TGF-beta and PD-L1 blockade", "hyperprogressive disease",
           "myeloid-derived suppressor cells", "antibiotics reduce efficacy of immunotherapy"]
WORDS = ("tumour T cell PD-1 PD-L1 CTLA-4 blockade resistance interferon JAK1 JAK2 B2M antigen melanoma lung "
         "microbiome exhaustion macrophage regulatory response survival mutation signalling expression "
         "fibroblast adenosine hypoxia steroid antibiotic neoantigen clonal").split()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.95 * (len(ordered) - 1))] * 1000


def time_searches(retriever: Retriever, mode: str, queries: list[str], vectors=None) -> list[float]:
    samples = []
    for i, query in enumerate(queries):
        started = time.perf_counter()
        retriever.search(query, k=10, mode=mode, vector=None if vectors is None else vectors[i])
        samples.append(time.perf_counter() - started)
    return samples


def interleaved(retriever: Retriever, queries: list[str], vectors=None) -> dict[str, tuple[float, float]]:
    """Alternate the modes query by query so both see the same machine state."""
    for mode in ("dense", "hybrid"):
        time_searches(retriever, mode, queries[:5], vectors)  # warm up
    samples = {"dense": [], "hybrid": []}
    for i, query in enumerate(queries):
        for mode in ("dense", "hybrid"):
            samples[mode] += time_searches(retriever, mode, [query], None if vectors is None else vectors[i:i + 1])
    return {mode: percentiles(s) for mode, s in samples.items()}


def report(name: str, figures: dict[str, tuple[float, float]]) -> None:
    (d50, d95), (h50, h95) = figures["dense"], figures["hybrid"]
    print(f"{name}: dense p50 {d50:.2f} ms p95 {d95:.2f} ms | hybrid p50 {h50:.2f} ms p95 {h95:.2f} ms | "
          f"hybrid/dense p50 {h50 / d50:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    queries = [QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {WORDS[i % len(WORDS)]}")
               for i in range(args.queries)]

    with tempfile.TemporaryDirectory() as tmp:
        shipped = Path(tmp) / "shipped"
        build_knowledge_base(corpus=shipped_corpus_dir(), index=shipped)
        retriever = Retriever.load(shipped)
        report(f"shipped corpus ({len(retriever.kb.passages)} passages, all-MiniLM-L6-v2, query encoding included)",
               interleaved(retriever, queries))

        rng = random.Random(0)
        records = [Record(f"g{i}", "abstract", f"Generated study {i}",
                          " ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 30))).capitalize()
                                   + "." for _ in range(4)), year=2000 + i % 25) for i in range(args.passages)]
        encoder = HashingEncoder(384)
        started = time.perf_counter()
        build(records, Path(tmp) / "generated", encoder)
        print(f"generated: built {args.passages} records in {time.perf_counter() - started:.0f} s")
        big = Retriever(KnowledgeBase.load(Path(tmp) / "generated"), encoder, load_settings({}))
        vectors = encoder.encode_batch(queries)
        report(f"generated ({len(big.kb.passages)} passages, search only)", interleaved(big, queries, vectors))


if __name__ == "__main__":
    main()
