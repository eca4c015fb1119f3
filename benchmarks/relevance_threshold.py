"""How the relevance threshold was chosen: SciFact *train* rationale sentences against the other sentences of the
papers retrieved for the same claims, and the extractive answers each threshold would give.

For every train claim with gold judgements it builds (or reuses, with ``--keep-index``) a SciFact knowledge base,
retrieves 8 papers as ``ask`` does, scores every candidate sentence with the library's own relevance and evidence
scores (``assistant.answer.relevance``), and prints per threshold:

- sentence precision and recall: of the sentences at or above it, the share that are gold rationale sentences, and
  of all rationale sentences of retrieved papers, the share at or above it;
- what the extractive engine would answer with it: answer rate, cited papers per answer, cited-paper precision
  (qrels), relevant paper cited, rationale precision of the quotes.

The rule: the largest threshold on a 0.05 grid at which at least 95% of train claims still keep a relevant
sentence. Then the paper model (``relevance.paper_probability``): a logistic regression (scikit-learn, C=1) of
"paper is relevant (qrels)" on ``extractive.paper_features``, and the probability floor for citing papers beyond the
first: on a grid, the one that in five-fold cross-validation over train claims cites a relevant paper for the most
claims while at least 40% of cited papers are relevant. The weights printed last are fitted on all of train. The
test split is never read.

    .venv/bin/python benchmarks/relevance_threshold.py --data ../shared/eval/scifact [--keep-index /tmp/scifact-kb]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from assistant.answer.extractive import choose_findings, paper_features, score_sentences  # noqa: E402
from assistant.answer.answerer import question_of  # noqa: E402
from assistant.answer.relevance import PAPER_BIAS, PAPER_MIN_PROBABILITY, PAPER_WEIGHTS  # noqa: E402
from assistant.config import DEFAULT_MODEL, load_settings  # noqa: E402
from assistant.encoders import get_encoder, get_query_encoder  # noqa: E402
from assistant.evaluate import load_beir  # noqa: E402
from assistant.retriever import Retriever  # noqa: E402
from assistant.kb.store import KnowledgeBase, build  # noqa: E402

GRID = [round(0.45 + 0.05 * i, 2) for i in range(8)]
KEEP_ANSWERING = 0.95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "eval" / "scifact"))
    parser.add_argument("--keep-index", default=None)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    data = load_beir(args.data, split="train", qrels_file="qrels_train.tsv")
    settings = load_settings({})
    folder = Path(args.keep_index or tempfile.mkdtemp(prefix="cqa-relevance-"))
    build(data.corpus, folder, get_encoder(DEFAULT_MODEL, settings.precision, settings.document_encoder))
    encoder = get_query_encoder(DEFAULT_MODEL, settings.precision, settings.query_encoder)
    retriever = Retriever(KnowledgeBase.load(folder), encoder, settings)
    questions = list(data.queries)[:args.limit] if args.limit else list(data.queries)
    scored_by_question = []
    for qid in questions:
        text = data.queries[qid]
        vector = retriever.embed_query(text)
        hits = [h for h in retriever.search(text, settings.k, vector=vector, matches=False) if h.record.text]
        question = question_of(retriever, text, vector)
        evidence = (data.extra.get(qid) or {}).get("evidence") or {}
        gold = {}
        for doc, judged in evidence.items():
            said = data.sentences.get(doc, [])
            gold[doc] = {said[i].strip() for group in judged.get("rationale_sentences", []) for i in group
                         if i < len(said)}
        scored_by_question.append((qid, hits, score_sentences(question, hits, encoder), gold))
    print(f"SciFact train: {len(questions)} claims, "
          f"{sum(len(s) for _, _, s, _ in scored_by_question)} candidate sentences of retrieved papers")
    print("threshold  sent.precision  sent.recall  answered  papers/answer  cited.precision  relevant.cited  "
          "rationale.precision")
    chosen = None
    for threshold in GRID:
        row = policy(scored_by_question, data, settings.max_citations, threshold, PAPER_MIN_PROBABILITY,
                     PAPER_WEIGHTS, PAPER_BIAS)
        rate = row["answered"]
        if rate >= KEEP_ANSWERING:
            chosen = threshold
        print(f"{threshold:9.2f}  {row['sent_precision']:14.3f}  {row['sent_recall']:11.3f}  {rate:8.3f}"
              f"  {row['papers']:13.2f}  {row['cited_precision']:15.3f}  {row['relevant_cited']:14.3f}"
              f"  {row['rationale_precision']:19.3f}")
    print(f"chosen: {chosen} (the largest threshold that keeps {KEEP_ANSWERING:.0%} of train claims answered)")
    print("\nat the chosen threshold, the paper model in five-fold cross-validation over train claims, per probability"
          "\nfloor for papers beyond the first (rule: most relevant.cited with cited.precision >= 0.40)")
    print("floor  papers/answer  cited.precision  relevant.cited  rationale.precision")
    folds = np.array_split(np.random.default_rng(0).permutation(len(scored_by_question)), 5)
    best = None
    for floor in (0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.15):
        totals = []
        for fold in folds:
            held = set(fold.tolist())
            weights, bias = fit_paper_model([q for i, q in enumerate(scored_by_question) if i not in held], data)
            totals.append(policy([scored_by_question[i] for i in fold], data, settings.max_citations, chosen,
                                 floor, weights, bias, totals=True))
        row = rates({k: sum(t[k] for t in totals) for k in totals[0]})
        print(f"{floor:5.2f}  {row['papers']:13.2f}  {row['cited_precision']:15.3f}  {row['relevant_cited']:14.3f}"
              f"  {row['rationale_precision']:19.3f}")
        if row["cited_precision"] >= 0.40 and (best is None or row["relevant_cited"] > best[0]):
            best = (row["relevant_cited"], floor)
    weights, bias = fit_paper_model(scored_by_question, data)
    print(f"chosen floor: {best[1] if best else None}; weights fitted on all of train: "
          f"{tuple(round(w, 3) for w in weights)}, bias {bias:.3f}")
    row = policy(scored_by_question, data, settings.max_citations, chosen, best[1] if best else PAPER_MIN_PROBABILITY,
                 weights, bias)
    print(f"on all of train with them: relevant.cited {row['relevant_cited']:.3f}, cited.precision "
          f"{row['cited_precision']:.3f}, papers/answer {row['papers']:.2f}")


def fit_paper_model(scored_by_question, data) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression
    features, labels = [], []
    for qid, hits, scored, _ in scored_by_question:
        by_paper: dict[int, list] = {}
        for s in scored:
            by_paper.setdefault(s.source, []).append(s)
        best = max((s.relevance for s in scored), default=0.0)
        for n, found in by_paper.items():
            features.append(paper_features(found, best))
            labels.append(hits[n - 1].record.id in data.qrels[qid])
    model = LogisticRegression(C=1.0, max_iter=5000).fit(np.array(features), np.array(labels))
    return [float(w) for w in model.coef_[0]], float(model.intercept_[0])


def policy(scored_by_question, data, max_papers: int, threshold: float, floor: float, weights, bias: float,
           totals: bool = False) -> dict:
    above = rationale_above = rationale_all = answered = cited = cited_relevant = hit = quoted = quoted_gold = 0
    for qid, hits, scored, gold in scored_by_question:
        for s in scored:
            is_gold = s.quote.strip() in gold.get(hits[s.source - 1].record.id, set())
            rationale_all += is_gold
            if s.relevance >= threshold:
                above += 1
                rationale_above += is_gold
        findings = choose_findings(scored, max_papers, threshold, floor, weights, bias)
        if not findings:
            continue
        answered += 1
        ids = [hits[f.source - 1].record.id for f in findings]
        relevant = [d in data.qrels[qid] for d in ids]
        cited, cited_relevant, hit = cited + len(ids), cited_relevant + sum(relevant), hit + any(relevant)
        for f, doc in zip(findings, ids):
            if doc in gold:
                quoted += 1
                quoted_gold += f.quote.strip() in gold[doc]
    counts = {"above": above, "rationale_above": rationale_above, "rationale_all": rationale_all,
              "answered": answered, "questions": len(scored_by_question), "cited": cited,
              "cited_relevant": cited_relevant, "hit": hit, "quoted": quoted, "quoted_gold": quoted_gold}
    return counts if totals else rates(counts)


def rates(c: dict) -> dict:
    return {"sent_precision": c["rationale_above"] / max(1, c["above"]),
            "sent_recall": c["rationale_above"] / max(1, c["rationale_all"]),
            "answered": c["answered"] / c["questions"], "papers": c["cited"] / max(1, c["answered"]),
            "cited_precision": c["cited_relevant"] / max(1, c["cited"]), "relevant_cited": c["hit"] / max(1, c["answered"]),
            "rationale_precision": c["quoted_gold"] / max(1, c["quoted"])}


if __name__ == "__main__":
    main()
