"""HTML and Markdown for answers and sources, with every piece of document text escaped.

Kept apart from the Gradio layout so the escaping can be tested without a UI: titles, authors and quotes come
from literature files that a user may not control, and must render as text, never as markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Iterable

from .types import Answer, Citation

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_CITE = re.compile(r"\\\[(\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Escape text so Markdown and HTML show it literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str, citations: Iterable[Citation]) -> str:
    """The answer as Markdown: text escaped, each ``[n]`` turned into a link to the cited paper."""
    return _linked(text, {c.n: c.record.link for c in citations})


def _linked(text: str, links: dict) -> str:
    """``text`` escaped, each ``[n]`` a link to ``links[n]`` (left as plain ``[n]`` without one)."""
    def link(match: re.Match) -> str:
        n = int(match.group(1))
        url = links.get(n)
        return f"[\\[{n}\\]]({url})" if url else f"\\[{n}\\]"

    return _CITE.sub(link, escape_markdown(text))


def final_markdown(answer: Answer) -> str:
    """A composed answer as Markdown, part by part: the bottom line in bold, findings as a list, related papers
    linked, the gaps, and what the answer rests on. Refusals and drafts render as plain escaped text."""
    if answer.refused and not answer.related:
        return escape_markdown(answer.text)
    links = {c.n: c.record.link for c in answer.sources}

    def marked(text: str) -> str:
        return _linked(text, links)

    blocks = []
    if answer.bottom_line:
        blocks.append("**Bottom line.** " + marked(" ".join(answer.bottom_line)))
    elif answer.text:
        blocks.append(escape_markdown(answer.text.split("\n\n")[0]))
    if answer.findings:
        blocks.append("**Key findings**\n\n" + "\n".join(f"- {marked(f)}" for f in answer.findings))
    if answer.related:
        heading = "Closest papers" if answer.refused else "Related papers, known here by title only"
        items = []
        for c in answer.related:
            r = c.record
            who = escape_markdown(", ".join(str(x) for x in (r.short_authors, r.year) if x))
            items.append(f"- {marked(f'[{c.n}]')} {escape_markdown(r.title)}" + (f" ({who})" if who else ""))
        blocks.append(f"**{heading}**\n\n" + "\n".join(items))
    if answer.gaps:
        blocks.append("*" + escape_markdown(gap_line(answer.gaps)) + "*")
    if answer.basis:
        blocks.append(escape_markdown(answer.basis))
    return "\n\n".join(blocks)


def gap_line(gaps) -> str:
    from .answer.terms import gap_sentence
    return gap_sentence(list(gaps))


def _links(record) -> str:
    """PubMed, PMC and DOI links, else the source's URL under its site's name; hrefs come from ``Record.link``'s
    checks, never raw fields."""
    out = []
    for kept in (replace(record, doi=None, url=None, extra={}), replace(record, pmid=None, doi=None, url=None),
                 replace(record, pmid=None, extra={}, url=None)):  # PubMed, then PMC, then DOI
        if kept.link:
            out.append(f'<a href="{html.escape(kept.link)}" target="_blank" rel="noopener noreferrer">'
                       f'{html.escape(kept.link_label)}</a>')
    if not out and record.link:
        out.append(f'<a href="{html.escape(record.link)}" target="_blank" rel="noopener noreferrer">'
                   f'{html.escape(record.link_label)}</a>')
    return " · ".join(out)


def quote_in_context(record, quote: str, context: int = 160) -> str:
    """The quote highlighted (``<mark>``) inside the text around it; every piece escaped."""
    e = html.escape
    where = record.text.find(quote) if quote else -1
    if where < 0:
        return f"<mark>{e(quote)}</mark>"
    start, end = max(0, where - context), min(len(record.text), where + len(quote) + context)
    while start > 0 and not record.text[start - 1].isspace():
        start += 1
    while end < len(record.text) and not record.text[end].isspace():
        end -= 1
    before = ("… " if start > 0 else "") + record.text[start:where]
    after = record.text[where + len(quote):end] + (" …" if end < len(record.text) else "")
    return f"{e(before)}<mark>{e(quote)}</mark>{e(after)}"


EVIDENCE_LABELS = {"abstract": "abstract sentence", "full_text": "full-text sentence", "title": "title only"}


def source_card(n: int, record, quote: str, score: float | None = None, evidence: str = "abstract",
                relevance: float | None = None, place: str = "") -> str:
    """One numbered source: title, authors/year/journal, what the quote is and where it sits in a full text
    ("Results, p. 4"), the quote highlighted in its context, and the links."""
    e = html.escape
    meta = " · ".join(e(str(x)) for x in (record.short_authors, record.year, record.journal) if x)
    kind = e(EVIDENCE_LABELS.get(evidence, evidence) + (f" · {place}" if place else ""))
    score_html = f'<span class="cqa-score">match {score:.2f}</span>' if score is not None else ""
    if relevance is not None:
        score_html += f' <span class="cqa-score">relevance {relevance:.2f}</span>'
    if evidence == "title":  # the title is the heading already; show what the record says it is about
        subjects = "; ".join(record.subjects)
        body = f'<div class="cqa-subjects">Topics: {e(subjects)}</div>' if subjects else ""
    else:
        body = f'<blockquote class="cqa-quote">{quote_in_context(record, quote)}</blockquote>'
    return (
        f'<div class="cqa-card" id="source-{n}">'
        f'<div class="cqa-head"><span class="cqa-n">[{n}]</span> <span class="cqa-title">{e(record.title)}</span></div>'
        f'<div class="cqa-meta">{meta} <span class="cqa-kind">{kind}</span> {score_html}</div>'
        f'{body}'
        f'<div class="cqa-links">{_links(record)}</div>'
        f"</div>"
    )


def sources_html(answer: Answer | None) -> str:
    if answer is None:
        return '<div class="cqa-empty">Sources appear here, numbered as cited in the answer.</div>'
    if answer.refused and not answer.related:
        return ('<div class="cqa-empty">No source answers this question. Closest matches: '
                + "; ".join(html.escape(h.record.title) for h in answer.hits[:3]) + "</div>") if answer.hits else \
            '<div class="cqa-empty">No sources.</div>'
    scores = {h.record.id: h.dense_score for h in answer.hits}
    cards = "".join(source_card(c.n, c.record, c.quote, scores.get(c.record.id), c.evidence, c.relevance,
                                c.place) for c in answer.sources)
    if answer.refused:
        cards = '<div class="cqa-empty">No source answers this question. Closest matches:</div>' + cards
    return cards + also_retrieved(answer)


HOLDS = {"full_text": "full text", "abstract": "abstract", "title": "title only", "reference_title": "title only"}


def also_retrieved(answer: Answer) -> str:
    """The retrieved papers the answer does not list, compactly, so every retrieved paper can be checked."""
    listed = {c.record.id for c in answer.sources}
    rest = [h for h in answer.hits if h.record.id not in listed]
    if not rest:
        return ""
    e = html.escape
    items = "".join(
        f'<li><span class="cqa-title">{e(h.record.title)}</span> '
        f'<span class="cqa-meta">{e(" · ".join(str(x) for x in (h.record.short_authors, h.record.year) if x))}'
        f'</span> <span class="cqa-kind">{e(HOLDS.get(h.record.type, h.record.type))}</span> {_links(h.record)}</li>'
        for h in rest)
    return (f'<details class="cqa-also"><summary>Also retrieved, not cited ({len(rest)})</summary>'
            f'<ul>{items}</ul></details>')
