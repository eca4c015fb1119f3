"""Retrieval evaluation on public benchmarks in the BEIR layout.

``evaluate_retrieval`` builds a throw-away knowledge base from ``corpus.jsonl[.gz]`` (title + text, split into
passages like any other corpus), runs every query through BM25, dense and hybrid retrieval of the same retriever,
and scores the rankings against ``qrels.tsv`` with the standard definitions (as in trec_eval / pytrec_eval):

- nDCG@k: sum of ``rel / log2(rank + 1)`` over the top k, divided by the same sum for the ideal ordering;
- Recall@k: relevant documents in the top k over all relevant documents of the query;
- MRR@k: 1 / rank of the first relevant document in the top k, 0 if none.

Queries without any relevant document in the qrels are skipped, as BEIR does. The data is read from where it
lies; nothing is copied into the project.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .config import DEFAULT_MODEL, Settings, load_settings
from .encoders import encode_in_batches, get_encoder, get_query_encoder
from .errors import AssistantError
from .types import Record

METHODS = ("bm25", "dense", "hybrid")
MODE_OF = {"bm25": "sparse", "dense": "dense", "hybrid": "hybrid"}


@dataclass(frozen=True)
class BeirData:
    name: str
    corpus: list[Record]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    extra: dict[str, dict] = field(default_factory=dict)  # per query: gold fields (answer, evidence, ...)
    sentences: dict[str, list[str]] = field(default_factory=dict)  # per document, when the corpus lists them


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open("r", encoding="utf-8")


def _jsonl(path: Path) -> Iterable[dict]:
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise AssistantError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def load_beir(folder: str | Path, split: str | None = "test", qrels_file: str | None = None) -> BeirData:
    folder = Path(folder)
    corpus_path = next((folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).is_file()), None)
    if corpus_path is None or not (folder / "queries.jsonl").is_file():
        raise AssistantError(f"{folder} is not in the BEIR layout (corpus.jsonl[.gz], queries.jsonl, qrels.tsv)")
    qrels_path = folder / (qrels_file or "qrels.tsv")
    if not qrels_path.is_file():
        raise AssistantError(f"{qrels_path} is missing; pass --qrels FILE")
    corpus, doc_sentences = [], {}
    for row in _jsonl(corpus_path):
        doc_id = str(row.get("_id", row.get("id")))
        corpus.append(Record(id=doc_id, type="abstract", title=(row.get("title") or "").strip(),
                             text=(row.get("text") or "").strip(), source_ids=(doc_id,)))
        if isinstance(row.get("sentences"), list):
            doc_sentences[doc_id] = row["sentences"]
    queries, extra = {}, {}
    for row in _jsonl(folder / "queries.jsonl"):
        if split and row.get("split") not in (None, split):
            continue
        qid = str(row.get("_id", row.get("id")))
        queries[qid] = row["text"]
        extra[qid] = {k: v for k, v in row.items() if k not in {"_id", "id", "text"}}
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open("r", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                raise AssistantError(f"{qrels_path}:{number}: expected query-id, corpus-id and score")
            qid, did, score = parts[0], parts[1], int(parts[2])
            if score > 0 and qid in queries:
                qrels.setdefault(qid, {})[did] = score
    queries = {q: t for q, t in queries.items() if q in qrels}
    if not queries:
        raise AssistantError(f"no query of split {split!r} has relevance judgements in {qrels_path}")
    return BeirData(folder.name, corpus, queries, qrels, {q: extra[q] for q in queries}, doc_sentences)


def ndcg_at(ranking: Sequence[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: Sequence[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranking[:k]) & set(relevant)) / len(relevant)


def mrr_at(ranking: Sequence[str], relevant: dict[str, int], k: int) -> float:
    return next((1.0 / (i + 1) for i, d in enumerate(ranking[:k]) if d in relevant), 0.0)


def score_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    rows = [(ndcg_at(r, qrels[q], 10), recall_at(r, qrels[q], 1), recall_at(r, qrels[q], 10),
             recall_at(r, qrels[q], 100), mrr_at(r, qrels[q], 10)) for q, r in rankings.items()]
    means = np.mean(np.array(rows), axis=0) if rows else np.zeros(5)
    return {name: round(float(v), 4) for name, v in zip(("ndcg@10", "recall@1", "recall@10", "recall@100",
                                                         "mrr@10"), means)}


def evaluate_retrieval(data: BeirData, settings: Settings | None = None, methods: Sequence[str] = METHODS,
                       index_dir: Path | None = None, progress: bool = False, layout: str | None = None,
                       bm25_tokens: bool | None = None) -> dict:
    """Build a throw-away index for ``data`` and score each method; returns the ``--json`` object."""
    from .retriever import Retriever
    from .kb.store import KnowledgeBase, build

    settings = settings or load_settings({})
    encoder = get_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.document_encoder)
    with tempfile.TemporaryDirectory(prefix="cqa-eval-") as tmp:
        folder = Path(index_dir) if index_dir else Path(tmp) / "kb"
        started = time.perf_counter()
        build(data.corpus, folder, encoder, progress=progress, layout=layout, bm25_tokens=bm25_tokens)
        build_s = time.perf_counter() - started
        # queries are encoded as search encodes them: int8 is for documents, queries run in float
        query_encoder = get_query_encoder(encoder.name, settings.precision, settings.query_encoder)
        retriever = Retriever(KnowledgeBase.load(folder), query_encoder, replace(settings, k=100))
        ids = list(data.queries)
        started = time.perf_counter()
        vectors = encode_in_batches(query_encoder, [data.queries[q] for q in ids], progress=progress)
        encode_s = time.perf_counter() - started
        results, timings = {}, {}
        for method in methods:
            started = time.perf_counter()
            rankings = {q: [h.record.id for h in retriever.search(data.queries[q], 100, mode=MODE_OF[method],
                                                                  vector=vectors[i], matches=False)]
                        for i, q in enumerate(ids)}
            timings[method] = round((time.perf_counter() - started) / len(ids) * 1000, 2)
            results[method] = score_rankings(rankings, data.qrels)
    return {"dataset": data.name, "queries": len(ids), "documents": len(data.corpus), "model": encoder.name,
            "precision": getattr(encoder, "precision", "fp32"), "layout": layout or "single",
            "query_precision": getattr(query_encoder, "precision", "fp32"),
            "methods": results,
            "settings": {"rrf_k": settings.rrf_k, "dense_weight": settings.dense_weight,
                         "sparse_weight": settings.sparse_weight, "depth": settings.depth},
            "seconds": {"build": round(build_s, 1), "encode_queries": round(encode_s, 2)},
            "ms_per_query": timings}


def format_table(result: dict) -> str:
    metrics = ("ndcg@10", "recall@1", "recall@10", "recall@100", "mrr@10")
    lines = [f"{result['dataset']}: {result['queries']} queries, {result['documents']} documents, "
             f"model {result['model']} (documents {result.get('precision', 'fp32')}, queries "
             f"{result.get('query_precision', result.get('precision', 'fp32'))})",
             f"{'method':8} " + " ".join(f"{m:>10}" for m in metrics)]
    for method, scores in result["methods"].items():
        lines.append(f"{method:8} " + " ".join(f"{scores[m]:>10.4f}" for m in metrics))
    return "\n".join(lines)
