"""A sharded knowledge base of a million passages on this machine: build, load, search, recall, filters, memory.

Records (``--text``): by default words drawn from a Zipf distribution over 200,000 pseudo-words (exponent 1.07,
as in English text), so query words are as rare in the corpus as real content words are in PubMed; or the
synthetic PubMed (``assistant.kb.synthetic.records``), whose 100-word vocabulary puts every query word in most
passages, a worst case for BM25 that no real corpus has. Vectors are generated, not embedded (a million passages
through MiniLM would take about 2.5 hours on this 2-core machine): by default points between real MiniLM vectors
of SciFact abstracts with real-covariance noise (``ann_scale.between_real``), fed to the build through its
``embed`` hook, so everything else, from the split to the shards, the tantivy index, the shared IVF quantizer and
the swap, is the product's own path. The build runs in
this process; the measurements run in a fresh process, as a server would start:

- load: ``KnowledgeBase.load`` plus opening the dense and BM25 indexes and the filter columns;
- resident memory after loading and after the queries (VmRSS, VmHWM);
- hybrid search (BM25 + dense, k 10, query vector given, no encoding) p50/p95, unfiltered and with a year range
  and a publication type, in the same run;
- BM25-only search p50 with tantivy's candidates re-scored exactly (the product's path) and with tantivy's own
  scores, alternating in the same process: what the re-scoring costs;
- dense recall@10 of the index (after its float16 re-rank) against brute force over every vector.

    .venv/bin/python benchmarks/kb_scale.py --passages 1000000 --workdir /tmp/kb-scale
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MODEL = "hash:384"  # names the (generated) vectors' space; the hashing encoder is never asked for passages


def _rss() -> dict:
    status = Path("/proc/self/status").read_text()
    found = {line.split(":")[0]: int(line.split()[1]) // 1024 for line in status.splitlines()
             if line.startswith(("VmRSS", "VmHWM"))}
    return {"rss_mb": found.get("VmRSS"), "peak_rss_mb": found.get("VmHWM")}


def _sampler(kind: str):
    from ann_scale import between_real, clustered, reference_vectors
    if kind == "clustered":
        return lambda n, seed: clustered(n, 384, seed), "clustered"
    reference, what = reference_vectors()
    return between_real(reference), f"between real MiniLM vectors of {what}"


WORDS = 200_000


def _word(rank: int) -> str:
    letters = "bcdfghjklmnpqrstvwxz"
    out = ""
    rank += 400  # no one- or two-letter words
    while rank:
        rank, digit = divmod(rank, len(letters))
        out += letters[digit] + "aeiou"[digit % 5]
    return out


def zipf_records(count: int, seed: int = 3):
    """Papers whose words follow Zipf's law; years, publication types and journals as the synthetic PubMed has."""
    from assistant.kb.synthetic import JOURNALS, TYPES
    from assistant.types import Record
    rng = np.random.default_rng(seed)
    vocabulary = np.array([_word(r) for r in range(WORDS)])
    for start in range(0, count, 10_000):
        n = min(count, start + 10_000) - start
        lengths = rng.integers(100, 220, n)
        ranks = np.minimum(rng.zipf(1.07, lengths.sum()) - 1, WORDS - 1)
        words = vocabulary[ranks]
        at = 0
        for i in range(n):
            text = words[at:at + lengths[i]]
            at += lengths[i]
            sentences = [" ".join(text[j:j + 18]).capitalize() + "." for j in range(0, len(text), 18)]
            pmid = 40_000_000 + start + i
            yield Record(id=f"pmid:{pmid}", type="abstract", title=" ".join(text[:10]).capitalize(),
                         text=" ".join(sentences), journal=JOURNALS[pmid % len(JOURNALS)], year=1995 + pmid % 31,
                         pmid=str(pmid), extra={"publication_types": sorted({"Journal Article",
                                                                             TYPES[(pmid * 7) % len(TYPES)]})})


def queries(kind: str, n: int) -> list[str]:
    rng = np.random.default_rng(5)
    if kind == "zipf":  # content words: past the most common (which play the part of stop words)
        return [" ".join(_word(int(r)) for r in rng.integers(50, 20_000, rng.integers(3, 7))) for _ in range(n)]
    from assistant.kb.synthetic import CANCERS, GENES, THERAPIES
    return [f"{GENES[rng.integers(len(GENES))]} loss resistance to {THERAPIES[rng.integers(len(THERAPIES))]} in "
            f"{CANCERS[rng.integers(len(CANCERS))]}" for _ in range(n)]


def build(args) -> None:
    from assistant.encoders import get_encoder
    from assistant.kb.synthetic import records as synthetic_records
    from assistant.kb.passages import split_records
    from assistant.kb.store import build as build_kb

    records = zipf_records if args.text == "zipf" else synthetic_records
    sample = list(records(2000))
    per_record = len(split_records(sample)) / len(sample)
    count = int(args.passages / per_record)
    sampler, what = _sampler(args.vectors)
    np.save(args.workdir / "queries.npy", sampler(args.queries, 424242))  # the measuring process loads no model
    calls = [0]

    def embed(texts, spill):
        calls[0] += 1
        return sampler(len(texts), 1000 + calls[0])

    started = time.perf_counter()
    stages = []

    def say(message):
        stages.append((round(time.perf_counter() - started, 1), message))
        print(f"[{stages[-1][0]:7.1f} s] {message}", file=sys.stderr, flush=True)

    papers = list(records(count))
    say(f"{len(papers)} synthetic records made")
    report = build_kb(papers, args.workdir / "index", get_encoder(MODEL), layout="sharded", embed=embed,
                      on_stage=say)
    seconds = time.perf_counter() - started
    out = {"records": report.records, "passages": report.passages, "vectors": what, "text": args.text,
           "build_s": round(seconds, 1), "build_driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
           // 1024, "stages": stages}
    (args.workdir / "build.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


def _percentiles(samples) -> dict:
    ms = sorted(1000 * s for s in samples)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2)}


def _rescoring_cost(retriever, texts) -> dict:
    """BM25-only search p50 with tantivy's candidates re-scored as bm25s scores them and with tantivy's own scores,
    in this process, alternating five rounds of the queries so both see the same page cache."""
    sparse = retriever.kb.sparse
    tokens, timings = sparse.passages, {"rescored": [], "tantivy_scores": []}
    for _ in range(5):
        for name, passages in (("rescored", tokens), ("tantivy_scores", None)):
            sparse.passages = passages
            for text in texts:
                t = time.perf_counter()
                retriever.search(text, k=10, mode="sparse")
                timings[name].append(time.perf_counter() - t)
    sparse.passages = tokens
    out = {f"{name}_p50_ms": round(statistics.median(values) * 1000, 2) for name, values in timings.items()}
    out["rescoring_adds_ms"] = round(out["rescored_p50_ms"] - out["tantivy_scores_p50_ms"], 2)
    return out


def measure(args) -> None:
    from assistant.kb.dense_index import exact_neighbours, search as dense_search
    from assistant.encoders import get_encoder
    from assistant.retriever import Filters, Retriever
    from assistant.kb.store import KnowledgeBase

    before = _rss()
    started = time.perf_counter()
    kb = KnowledgeBase.load(args.workdir / "index")
    kb.index, kb.sparse  # noqa: B018  (open both, as a server does before its first answer)
    retriever = Retriever(kb, get_encoder(MODEL))
    load_s = time.perf_counter() - started
    after_load = _rss()

    vectors = np.load(args.workdir / "queries.npy")
    texts = queries(args.text, len(vectors))
    filters = Filters(year_min=2005, year_max=2015, publication_types=("Review",))

    def run(with_filters):
        samples = []
        for text, vector in zip(texts, vectors):
            t = time.perf_counter()
            retriever.search(text, k=10, vector=vector, filters=filters if with_filters else None)
            samples.append(time.perf_counter() - t)
        return samples

    run(False)[:0], run(True)[:0]  # warm: the pages a query touches come from disk once
    plain, filtered = run(False), run(True)
    after_queries = _rss()
    rescoring = _rescoring_cost(retriever, texts)
    sparse_hits = np.mean([len(retriever.search(t, k=10, mode="sparse")) for t in texts[:50]])
    hits = retriever.search(texts[0], k=10, vector=vectors[0], filters=filters)
    assert all(filters.accepts(h.record) for h in hits)

    truth = exact_neighbours(kb.vectors, np.ascontiguousarray(vectors), 10)
    found = np.array([dense_search(kb.index, kb.vectors, q, 10)[1] for q in vectors])
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    size = sum(f.stat().st_size for f in kb.path.rglob("*") if f.is_file())
    out = {"passages": len(kb.passages), "records": len(kb.records), "load_s": round(load_s, 3),
           "rss_before_load_mb": before["rss_mb"], "rss_after_load_mb": after_load["rss_mb"],
           "rss_after_queries_mb": after_queries["rss_mb"], "peak_rss_mb_before_recall_check":
               after_queries["peak_rss_mb"], "sparse_hits_per_query": float(sparse_hits), "text": args.text,
           "hybrid": _percentiles(plain), "hybrid_filtered": _percentiles(filtered),
           "filtered_over_unfiltered_p50": round(statistics.median(filtered) / statistics.median(plain), 2),
           "bm25_only": rescoring, "dense_recall_at_10": round(recall, 4), "dense_index": kb.manifest["dense_index"],
           "disk_mb": round(size / 2**20), "filtered_share_of_records": round(float(
               retriever.record_mask(filters).mean()), 3)}
    (args.workdir / "measure.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kb-scale"))
    parser.add_argument("--vectors", choices=["real", "clustered"], default="real")
    parser.add_argument("--text", choices=["zipf", "synthetic"], default="zipf")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--measure-only", action="store_true", help="(internal) the fresh measuring process")
    args = parser.parse_args()
    if args.measure_only:
        measure(args)
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    build(args)
    subprocess.run([sys.executable, __file__, "--measure-only", "--workdir", str(args.workdir), "--text",
                    args.text], check=True)


if __name__ == "__main__":
    main()
