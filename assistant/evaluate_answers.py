"""Answer evaluation: citation precision, refusal and answer rates, and speed, per engine.

For each benchmark question (SciFact claims, PubMedQA questions; on-topic for their own corpus) the full answer
pipeline runs and is scored:

- citation precision (verifier): share of the engine's citations the verifier kept;
- citation precision (gold), on SciFact: of the citations to an abstract that the dataset annotates for that claim,
  the share whose quote is one of the annotated rationale sentences (or the title, never a rationale);
- answer rate on these on-topic questions, and refusal rate on the off-topic set (``tests/data``);
- yes/no/maybe accuracy on PubMedQA when the engine gives a verdict (the built-in engines do not, so ``null``);
- time to first streamed text and total time per question (median).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .config import PROJECT_ROOT, DEFAULT_MODEL, Settings, load_settings
from .encoders import get_encoder
from .evaluate import BeirData

OFF_TOPIC = PROJECT_ROOT / "tests" / "data" / "off_topic_questions.txt"


def _timed(answerer, question: str):
    started = time.perf_counter()
    first = None
    final = None
    for _, final in answerer.stream(question):
        if first is None:
            first = time.perf_counter()
    return final, (first or time.perf_counter()) - started, time.perf_counter() - started


def gold_precision(data: BeirData, qid: str, answer) -> tuple[int, int]:
    """(citations whose quote is a gold rationale sentence, citations to annotated abstracts)."""
    evidence = (data.extra.get(qid) or {}).get("evidence") or {}
    hits = total = 0
    for citation in answer.citations:
        doc = evidence.get(citation.record.id)
        if not doc:
            continue
        total += 1
        sentences = data.sentences.get(citation.record.id, [])
        gold = {sentences[i].strip() for group in doc.get("rationale_sentences", []) for i in group
                if i < len(sentences)}
        hits += citation.quote.strip() in gold
    return hits, total


def evaluate_answers(data: BeirData, engines: Sequence[str], settings: Settings | None = None,
                     limit: int | None = None, off_topic: Path | None = None, index_dir: Path | None = None) -> dict:
    import tempfile

    from .answer import Answerer
    from .retriever import Retriever
    from .store import KnowledgeBase, build

    settings = settings or load_settings({})
    encoder = get_encoder(settings.model or DEFAULT_MODEL, settings.precision, settings.document_encoder)
    off_path = Path(off_topic) if off_topic else OFF_TOPIC
    off = [q.strip() for q in off_path.read_text().splitlines() if q.strip()] if off_path.is_file() else []
    ids = list(data.queries)[:limit] if limit else list(data.queries)
    results = {}
    with tempfile.TemporaryDirectory(prefix="cqa-eval-") as tmp:
        folder = Path(index_dir) if index_dir else Path(tmp) / "kb"
        build(data.corpus, folder, encoder)
        retriever = Retriever(KnowledgeBase.load(folder), encoder, settings)
        for engine in engines:
            answerer = Answerer(retriever, replace(settings, engine=engine))
            kept = dropped = gold_hits = gold_total = answered = 0
            firsts, totals = [], []
            for qid in ids:
                answer, first, total = _timed(answerer, data.queries[qid])
                firsts.append(first)
                totals.append(total)
                if answer.refused:
                    continue
                answered += 1
                for check in answer.checks:
                    kept += sum(1 for _ in check.cited) if check.status == "supported" else 0
                    dropped += sum(1 for p in check.problems if p.startswith(("unknown", "source")))
                h, t = gold_precision(data, qid, answer)
                gold_hits, gold_total = gold_hits + h, gold_total + t
            refused_off = sum(_timed(answerer, q)[0].refused for q in off)
            results[engine] = {
                "questions": len(ids),
                "answer_rate": round(answered / len(ids), 4) if ids else None,
                "citation_precision_verifier": round(kept / (kept + dropped), 4) if kept + dropped else None,
                "citation_precision_gold": round(gold_hits / gold_total, 4) if gold_total else None,
                "gold_citations": gold_total,
                "refusal_rate_off_topic": round(refused_off / len(off), 4) if off else None,
                "off_topic_questions": len(off),
                "yes_no_maybe_accuracy": None,
                "median_first_text_s": round(statistics.median(firsts), 3) if firsts else None,
                "median_total_s": round(statistics.median(totals), 3) if totals else None,
            }
    return {"dataset": data.name, "model": encoder.name, "engines": results}


def format_answer_table(result: dict) -> str:
    keys = ("answer_rate", "citation_precision_verifier", "citation_precision_gold", "refusal_rate_off_topic",
            "median_first_text_s", "median_total_s")
    lines = [f"{result['dataset']} (model {result['model']})", f"{'engine':11}" + "".join(f"{k:>30}" for k in keys)]
    for engine, r in result["engines"].items():
        lines.append(f"{engine:11}" + "".join(f"{'n/a' if r[k] is None else r[k]:>30}" for k in keys))
    return "\n".join(lines)
