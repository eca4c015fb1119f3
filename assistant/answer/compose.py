"""The one shape of every answer: bottom line, key findings, related papers, gaps, and what it rests on.

Engines write paragraphs of cited sentences; verification keeps the supported, relevant ones. Composition then
turns them into an ``Answer`` that every front end renders alike: the first paragraph's sentences (at most two) are
the bottom line and every further paragraph (or sentence) is one finding. Relevant papers that the knowledge base
knows by title only are listed as related papers, numbered after the citations and never written as findings. Key
terms of the question that no listed paper mentions are named ("None of the sources here mentions B2M."), and the
answer says what it rests on ("From 2 abstracts and 3 titles."). When no sentence survives, the answer says so and
lists the closest papers instead of padding.
"""

from __future__ import annotations

from typing import Sequence

from ..types import Answer, Citation, Hit
from .relevance import Question, is_relevant
from .terms import gap_sentence, missing_terms
from .verify import Verified, Verifier, evidence_kind

BOTTOM_LINE_SENTENCES = 2
MAX_RELATED = 5
NOTHING_RELEVANT = ("None of the sources found answers this question: no sentence of theirs passed the relevance "
                    "test. The closest papers are listed below.")
TITLES_ONLY = ("No abstract here answers this directly. These papers look relevant, but the knowledge base knows "
               "them by title only, so their findings cannot be quoted.")


def related_papers(question: Question, hits: Sequence[Hit], verifier: Verifier, exclude: set[str],
                   start: int) -> tuple[Citation, ...]:
    """Relevant papers known by title only (title and subject terms tested for relevance), numbered from ``start``."""
    titled = [h for h in hits if not h.record.text and h.record.id not in exclude]
    if not titled:
        return ()
    texts = [". ".join([h.record.title.rstrip("."), "; ".join(h.record.subjects)]).rstrip(". ") for h in titled]
    vectors = verifier.encode(texts)
    found = []
    for hit, text, vector in zip(titled, texts, vectors):
        score = question.relevance(text, vector)
        if is_relevant(score):
            found.append((hit, score))
    found.sort(key=lambda item: -item[1])
    return tuple(Citation(start + i, hit.record, hit.record.title, "title", score)
                 for i, (hit, score) in enumerate(found[:MAX_RELATED]))


def closest_papers(hits: Sequence[Hit], start: int, most: int = 3) -> tuple[Citation, ...]:
    """The nearest papers, listed by title (nothing of theirs passed as evidence)."""
    return tuple(Citation(start + i, h.record, h.record.title, evidence_kind(h.record, h.record.title))
                 for i, h in enumerate(hits[:most]))


def basis(citations: Sequence[Citation], related: Sequence[Citation]) -> str:
    counts: dict[str, int] = {}
    for c in citations:
        counts[c.evidence] = counts.get(c.evidence, 0) + 1
    if related:
        counts["title"] = counts.get("title", 0) + len(related)
    names = {"abstract": ("abstract", "abstracts"), "full_text": ("full text", "full texts"),
             "title": ("title", "titles")}
    parts = [f"{n} {names[kind][n != 1]}" for kind, n in counts.items() if n]
    if not parts:
        return ""
    return "From " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]) + "."


def reference_item(citation: Citation) -> str:
    r = citation.record
    who = ", ".join(str(x) for x in (r.short_authors, r.year) if x)
    return f"[{citation.n}] {r.title.rstrip('.')}" + (f" ({who})" if who else "") + "."


def render(bottom_line: Sequence[str], findings: Sequence[str], related: Sequence[Citation], lead: str,
           gaps: str, based_on: str, closest: bool = False) -> str:
    """The answer as plain text; front ends that format (Markdown, HTML) render the same parts."""
    blocks = []
    if lead:
        blocks.append(lead)
    if bottom_line:
        blocks.append(" ".join(bottom_line))
    if findings:
        blocks.append("Key findings:\n" + "\n".join(f"- {f}" for f in findings))
    if related:
        heading = "Closest papers:" if closest else "Related papers, known here by title only:"
        blocks.append(heading + "\n" + "\n".join(f"- {reference_item(c)}" for c in related))
    if gaps:
        blocks.append(gaps)
    if based_on:
        blocks.append(based_on)
    return "\n\n".join(blocks)


def compose(question_text: str, query: str, question: Question, verified: Verified, hits: Sequence[Hit],
            verifier: Verifier, engine: str) -> Answer:
    """The final ``Answer`` from verified engine output and the retrieved hits."""
    sentences = [list(p) for p in verified.paragraphs]
    bottom_line = tuple(sentences[0][:BOTTOM_LINE_SENTENCES]) if sentences else ()
    findings = tuple(([" ".join(sentences[0][BOTTOM_LINE_SENTENCES:])] if sentences and
                      len(sentences[0]) > BOTTOM_LINE_SENTENCES else []) + [" ".join(p) for p in sentences[1:]])
    citations = verified.citations
    cited = {c.record.id for c in citations}
    related = related_papers(question, hits, verifier, cited, len(citations) + 1)
    refused, reason, lead = False, "", ""
    if not citations:
        if related:
            lead, reason = TITLES_ONLY, "no abstract sentence passed the relevance test; related titles listed"
        else:
            related = closest_papers(hits, 1)
            lead, refused, reason = NOTHING_RELEVANT, True, "no sentence of the sources passed the relevance test"
    gaps = missing_terms(query, [c.record for c in citations + related], verifier.synonyms) \
        if verifier.synonyms is not None else []
    gap_text = gap_sentence(gaps)
    based_on = basis(citations, related) if not refused else ""
    text = render(bottom_line, findings, related, lead, gap_text, based_on, closest=refused)
    return Answer(question_text, text, citations, refused, reason, tuple(hits), engine, query, verified.checks,
                  bottom_line, findings, related, tuple(gaps), based_on)
