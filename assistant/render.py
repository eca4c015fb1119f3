"""HTML and Markdown for answers and sources, with every piece of document text escaped.

Kept apart from the Gradio layout so the escaping can be tested without a UI: titles, authors and quotes come
from literature files that a user may not control, and must render as text, never as markup.
"""

from __future__ import annotations

import html
import re
from typing import Iterable

from .types import Answer, Citation

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_CITE = re.compile(r"\\\[(\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Escape text so Markdown and HTML show it literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str, citations: Iterable[Citation]) -> str:
    """The answer as Markdown: text escaped, each ``[n]`` turned into a link to the cited paper."""
    links = {c.n: c.record.link for c in citations}
    escaped = escape_markdown(text).replace("\n\n", "\n\n")

    def link(match: re.Match) -> str:
        n = int(match.group(1))
        url = links.get(n)
        return f"[\\[{n}\\]]({url})" if url else f"\\[{n}\\]"

    return _CITE.sub(link, escaped)


def _links(record) -> str:
    out = []
    if record.pmid:
        out.append(f'<a href="https://pubmed.ncbi.nlm.nih.gov/{html.escape(record.pmid)}/" target="_blank" '
                   f'rel="noopener noreferrer">PubMed {html.escape(record.pmid)}</a>')
    if record.doi:
        out.append(f'<a href="https://doi.org/{html.escape(record.doi)}" target="_blank" '
                   f'rel="noopener noreferrer">DOI {html.escape(record.doi)}</a>')
    if not out and record.url:
        out.append(f'<a href="{html.escape(record.url)}" target="_blank" rel="noopener noreferrer">link</a>')
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


def source_card(n: int, record, quote: str, score: float | None = None) -> str:
    e = html.escape
    meta = " · ".join(e(str(x)) for x in (record.short_authors, record.year, record.journal) if x)
    kind = e(record.type.replace("_", " "))
    score_html = f'<span class="cqa-score">match {score:.2f}</span>' if score is not None else ""
    return (
        f'<div class="cqa-card" id="source-{n}">'
        f'<div class="cqa-head"><span class="cqa-n">[{n}]</span> <span class="cqa-title">{e(record.title)}</span></div>'
        f'<div class="cqa-meta">{meta} <span class="cqa-kind">{kind}</span> {score_html}</div>'
        f'<blockquote class="cqa-quote">{quote_in_context(record, quote)}</blockquote>'
        f'<div class="cqa-links">{_links(record)}</div>'
        f"</div>"
    )


def sources_html(answer: Answer | None) -> str:
    if answer is None:
        return '<div class="cqa-empty">Sources appear here, numbered as cited in the answer.</div>'
    if answer.refused or not answer.citations:
        return ('<div class="cqa-empty">No source answers this question. Closest matches: '
                + "; ".join(html.escape(h.record.title) for h in answer.hits[:3]) + "</div>") if answer.hits else \
            '<div class="cqa-empty">No sources.</div>'
    scores = {h.record.id: h.dense_score for h in answer.hits}
    return "".join(source_card(c.n, c.record, c.quote, scores.get(c.record.id)) for c in answer.citations)
