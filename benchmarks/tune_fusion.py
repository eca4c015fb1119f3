"""Choose the fusion defaults on a training split, then report them on the test split.

Builds one index of a BEIR dataset, scores a grid of (rrf_k, dense_weight) on the train queries, and prints the
best setting with its test-split figures next to the defaults. Tuning on train keeps the test figures honest.

    .venv/bin/python benchmarks/tune_fusion.py --data ../shared/eval/scifact
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import load_settings  # noqa: E402
from assistant.encoders import encode_in_batches, get_encoder  # noqa: E402
from assistant.evaluate import load_beir, score_rankings  # noqa: E402
from assistant.retriever import Retriever  # noqa: E402
from assistant.kb.store import KnowledgeBase, build  # noqa: E402


def rankings(retriever, data, vectors):
    return {q: [h.record.id for h in retriever.search(data.queries[q], 100, vector=vectors[i], matches=False)]
            for i, q in enumerate(data.queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument("--index", default=None, help="keep the evaluation index here (reused when unchanged)")
    args = parser.parse_args()
    train = load_beir(args.data, "train", "qrels_train.tsv")
    test = load_beir(args.data, "test")
    settings = load_settings({"model": args.model})
    encoder = get_encoder(settings.model or "all-MiniLM-L6-v2")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.index) if args.index else Path(tmp) / "kb"
        build(test.corpus, folder, encoder, progress=True)
        kb = KnowledgeBase.load(folder)
        train_vectors = encode_in_batches(encoder, list(train.queries.values()))
        test_vectors = encode_in_batches(encoder, list(test.queries.values()))
        results = []
        for rrf_k in (10, 30, 60, 100):
            for dense_weight in (0.6, 0.8, 1.0, 1.25, 1.5):
                tuned = replace(settings, rrf_k=rrf_k, dense_weight=dense_weight, sparse_weight=1.0)
                retriever = Retriever(kb, encoder, tuned)
                scores = score_rankings(rankings(retriever, train, train_vectors), train.qrels)
                results.append((scores["ndcg@10"], rrf_k, dense_weight, scores["recall@100"]))
                print(f"train rrf_k={rrf_k:<4} dense_weight={dense_weight:<5} ndcg@10={scores['ndcg@10']:.4f} "
                      f"recall@100={scores['recall@100']:.4f}", flush=True)
        for mode in ("sparse", "dense"):
            retriever = Retriever(kb, encoder, replace(settings, mode=mode))
            scores = score_rankings(rankings(retriever, train, train_vectors), train.qrels)
            print(f"train {mode} alone: ndcg@10={scores['ndcg@10']:.4f} recall@100={scores['recall@100']:.4f}")
        best = max(results)
        print(f"best on train: rrf_k={best[1]} dense_weight={best[2]} (ndcg@10 {best[0]:.4f})")
        for label, (rrf_k, weight) in (("default", (settings.rrf_k, settings.dense_weight)),
                                       ("tuned", (best[1], best[2]))):
            retriever = Retriever(kb, encoder, replace(settings, rrf_k=rrf_k, dense_weight=weight))
            scores = score_rankings(rankings(retriever, test, test_vectors), test.qrels)
            print(f"test {label}: rrf_k={rrf_k} dense_weight={weight} {scores}")


if __name__ == "__main__":
    main()
