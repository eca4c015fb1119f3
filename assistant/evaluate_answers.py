"""Answer evaluation: what a researcher sees in the answer, per engine, against the benchmark's gold labels.

For each benchmark question (SciFact claims, PubMedQA questions; on-topic for their own corpus) the full answer
pipeline runs and is scored:

- answer rate: share of questions answered with at least one cited finding; refusal rate on the off-topic set;
- cited papers per answer, and cited-paper precision: share of cited papers the qrels judge relevant;
- relevant paper cited: share of answered questions that cite at least one relevant paper (for PubMedQA, whose
  only relevant paper is the question's own abstract, this is "own abstract cited");
- off-topic padding: share of answer sentences (bottom line and findings) that cite only papers the qrels do not
  judge relevant;
- rationale precision (gold), on SciFact: of the citations to an abstract that the dataset annotates for that claim,
  the share whose quote is one of the annotated rationale sentences;
- citation precision (verifier): share of the engine's citations the verifier kept;
- bottom line against the expert conclusion, on PubMedQA (``long_answer``, which the corpus lacks): ROUGE-L F1 and
  embedding cosine, beside the same for a baseline, the abstract's first sentence;
- time to first streamed text and total time per question (median).
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .config import PROJECT_ROOT, DEFAULT_MODEL, Settings, load_settings
from .encoders import get_encoder
from .evaluate import BeirData
from .text import sentences, words

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


_MARKERS = re.compile(r"\s*(\[\d+\])+")


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens: the longest common subsequence against both lengths."""
    a, b = words(candidate), words(reference)
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    lcs = previous[-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(a), lcs / len(b)
    return 2 * precision * recall / (precision + recall)


def _mean(values) -> float | None:
    values = list(values)
    return round(sum(values) / len(values), 4) if values else None


def _claims(answer) -> list[tuple[str, set[int]]]:
    """Each answer sentence (bottom line and findings) with the citation numbers it carries."""
    out = []
    for part in answer.bottom_line + answer.findings:
        for sentence in re.split(r"(?<=\]\.)\s+", part):
            numbers = {int(n) for n in re.findall(r"\[(\d+)\]", sentence)}
            if numbers:
                out.append((_MARKERS.sub("", sentence), numbers))
    return out


def evaluate_answers(data: BeirData, engines: Sequence[str], settings: Settings | None = None,
                     limit: int | None = None, off_topic: Path | None = None, index_dir: Path | None = None) -> dict:
    import tempfile

    from .answer import Answerer
    from .retriever import Retriever
    from .kb.store import KnowledgeBase, build

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
        conclusions = {q: (data.extra.get(q) or {}).get("long_answer") for q in ids}
        judged_conclusions = [q for q in ids if conclusions[q]]
        first_sentence = {r.id: (sentences(r.text) or [r.title])[0] for r in data.corpus}
        for engine in engines:
            answerer = Answerer(retriever, replace(settings, engine=engine))
            kept = dropped = gold_hits = gold_total = answered = 0
            cited_total = cited_relevant = questions_hit = padding = claims_total = 0
            firsts, totals, rouge, cosine, base_rouge, base_cosine = [], [], [], [], [], []
            for qid in ids:
                answer, first, total = _timed(answerer, data.queries[qid])
                firsts.append(first)
                totals.append(total)
                relevant = data.qrels.get(qid, {})
                if conclusions[qid]:
                    own = next(iter(relevant), None)
                    base = first_sentence.get(own, "") if own else ""
                    line = _MARKERS.sub("", " ".join(answer.bottom_line)) if answer.citations else ""
                    vectors = encoder.encode_batch([conclusions[qid], line or " ", base or " "])
                    rouge.append(rouge_l(line, conclusions[qid]))
                    cosine.append(float(vectors[1] @ vectors[0]) if line else 0.0)
                    base_rouge.append(rouge_l(base, conclusions[qid]))
                    base_cosine.append(float(vectors[2] @ vectors[0]) if base else 0.0)
                if answer.refused or not answer.citations:
                    continue
                answered += 1
                for check in answer.checks:
                    kept += sum(1 for _ in check.cited) if check.status == "supported" else 0
                    dropped += sum(1 for p in check.problems if p.startswith(("unknown", "source")))
                h, t = gold_precision(data, qid, answer)
                gold_hits, gold_total = gold_hits + h, gold_total + t
                hits = [c.record.id in relevant for c in answer.citations]
                cited_total, cited_relevant = cited_total + len(hits), cited_relevant + sum(hits)
                questions_hit += any(hits)
                by_number = {c.n: c.record.id in relevant for c in answer.citations}
                for _, numbers in _claims(answer):
                    claims_total += 1
                    padding += not any(by_number.get(n, False) for n in numbers)
            refused_off = sum(_timed(answerer, q)[0].refused for q in off)
            results[engine] = {
                "questions": len(ids),
                "answer_rate": round(answered / len(ids), 4) if ids else None,
                "cited_papers_per_answer": round(cited_total / answered, 2) if answered else None,
                "cited_paper_precision": round(cited_relevant / cited_total, 4) if cited_total else None,
                "relevant_paper_cited": round(questions_hit / answered, 4) if answered else None,
                "off_topic_padding": round(padding / claims_total, 4) if claims_total else None,
                "citation_precision_verifier": round(kept / (kept + dropped), 4) if kept + dropped else None,
                "citation_precision_gold": round(gold_hits / gold_total, 4) if gold_total else None,
                "gold_citations": gold_total,
                "bottom_line_rouge_l": _mean(rouge),
                "bottom_line_cosine": _mean(cosine),
                "baseline_first_sentence_rouge_l": _mean(base_rouge),
                "baseline_first_sentence_cosine": _mean(base_cosine),
                "conclusions_judged": len(judged_conclusions),
                "refusal_rate_off_topic": round(refused_off / len(off), 4) if off else None,
                "off_topic_questions": len(off),
                "yes_no_maybe_accuracy": None,
                "median_first_text_s": round(statistics.median(firsts), 3) if firsts else None,
                "median_total_s": round(statistics.median(totals), 3) if totals else None,
            }
    return {"dataset": data.name, "model": encoder.name, "engines": results}


def format_answer_table(result: dict) -> str:
    keys = ("answer_rate", "cited_papers_per_answer", "cited_paper_precision", "relevant_paper_cited",
            "off_topic_padding", "citation_precision_gold", "citation_precision_verifier", "bottom_line_rouge_l",
            "bottom_line_cosine", "baseline_first_sentence_rouge_l", "baseline_first_sentence_cosine",
            "refusal_rate_off_topic", "median_first_text_s", "median_total_s")
    lines = [f"{result['dataset']} (model {result['model']})"]
    for engine, r in result["engines"].items():
        lines.append(f"engine {engine}, {r['questions']} questions:")
        lines += [f"  {k:34} {'n/a' if r[k] is None else r[k]}" for k in keys]
    return "\n".join(lines)
