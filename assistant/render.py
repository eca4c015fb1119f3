"""HTML and Markdown for answers and sources, with every piece of document text escaped.

Kept apart from the Gradio layout so the escaping can be tested without a UI: titles, authors and quotes come
from literature files that a user may not control, and must render as text, never as markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from typing import Iterable, Sequence

from .types import Answer, Citation

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")
_CITE = re.compile(r"\\\[(\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Escape text so Markdown and HTML show it literally."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(text: str, citations: Iterable[Citation], answer_no: int = 0) -> str:
    """The answer as Markdown: text escaped, each ``[n]`` a link to its source card (``cite_link``)."""
    return _linked(text, {c.n: cite_link(c, answer_no) for c in citations})


def card_id(n: int, answer_no: int = 0) -> str:
    """The HTML id of source ``n``'s card; each answer of a conversation has its own (``source-2-1``)."""
    return f"source-{answer_no}-{n}" if answer_no else f"source-{n}"


def first_author(record) -> str:
    """"Shin et al." from "Shin DS, Zaretsky JM, ..."; a lone author's surname alone."""
    names = (record.short_authors or "").strip()
    lead = names.split(",")[0].split()[0] if names else ""
    return f"{lead} et al." if lead and ("," in names or "et al" in names) else lead


def cite_link(citation: Citation, answer_no: int = 0) -> str:
    """``[n]`` as a link to its card in the sources panel, named after the paper for screen readers (hidden text:
    the chat's sanitiser drops ``aria-label``), with the title, year and quoted sentence as its tooltip; the link
    out to PubMed or the DOI is on the card."""
    e = html.escape
    r = citation.record
    who = ", ".join(str(x) for x in (first_author(r), r.year) if x)
    name = f"Source {citation.n}: " + (f"{who}, " if who else "") + r.title
    tip = r.title + (f" ({r.year})" if r.year else "")
    if citation.evidence != "title" and citation.quote:
        tip += f" — “{citation.quote}”"
    return (f'<a href="#{card_id(citation.n, answer_no)}" class="cqa-cite" title="{e(tip[:400], quote=True)}">'
            f'[{citation.n}]<span class="cqa-sr"> {e(name)}</span></a>')


def _linked(text: str, links: dict) -> str:
    """``text`` escaped, each ``[n]`` replaced by ``links[n]`` (left as plain ``[n]`` without one)."""
    def link(match: re.Match) -> str:
        n = int(match.group(1))
        return links.get(n) or f"\\[{n}\\]"

    return _CITE.sub(link, escape_markdown(text))


def _same_words(a: str, b: str) -> bool:
    return " ".join(a.lower().rstrip("?.! ").split()) == " ".join(b.lower().rstrip("?.! ").split())


def final_markdown(answer: Answer, answer_no: int = 0) -> str:
    """A composed answer as Markdown, part by part: the bottom line in bold, findings as a list, related papers
    linked, the gaps, what the answer rests on, and what was searched when that is not the question as asked
    (a follow-up rewritten, or papers of the previous answer read again). Refusals render as plain text."""
    searched = ""
    if answer.scope:
        searched = "*Read again: " + escape_markdown(answer.scope) + "*"
    elif answer.query and not _same_words(answer.query, answer.question):
        searched = "*Searched for: " + escape_markdown(answer.query) + "*"
    if answer.refused and not answer.related:
        return "\n\n".join(filter(None, [escape_markdown(answer.text), searched]))
    links = {c.n: cite_link(c, answer_no) for c in answer.sources}

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
    if searched:
        blocks.append(searched)
    return "\n\n".join(blocks)


def plain_answer(answer: Answer) -> str:
    """The answer as plain text with its numbered reference list, for pasting into notes or a manuscript."""
    lines = [answer.text.strip()]
    if answer.sources:
        lines += ["", "References"] + [c.reference_line() for c in answer.sources]
    return "\n".join(lines) + "\n"


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


def quote_in_context(record, quote: str | Sequence[str], context: int = 160) -> str:
    """Every quote highlighted (``<mark>``) inside the text around it, one snippet per stretch of text (quotes
    close together share one); every piece escaped. A quote not found in the text is shown marked on its own."""
    e = html.escape
    quotes = [quote] if isinstance(quote, str) else list(quote)
    text = record.text or ""
    spans = sorted({(i, i + len(q)) for q in quotes if q and (i := text.find(q)) >= 0})
    lost = [q for q in quotes if q and text.find(q) < 0]
    snippets = []
    windows: list[list[int]] = []
    for start, end in spans:
        low, high = max(0, start - context), min(len(text), end + context)
        if windows and low <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], high)
        else:
            windows.append([low, high])
    for low, high in windows:
        while low > 0 and not text[low - 1].isspace():
            low += 1
        while high < len(text) and not text[high].isspace():
            high -= 1
        out, at = ["… " if low > 0 else ""], low
        for start, end in spans:
            if start >= low and end <= high and start >= at:
                out += [e(text[at:start]), f"<mark>{e(text[start:end])}</mark>"]
                at = end
        out.append(e(text[at:high]) + (" …" if high < len(text) else ""))
        snippets.append("".join(out))
    snippets += [f"<mark>{e(q)}</mark>" for q in lost]
    return '<span class="cqa-gap"> </span>'.join(snippets)


EVIDENCE_LABELS = {"abstract": "abstract sentence", "full_text": "full-text sentence", "title": "title only"}


def closeness(score: float) -> str:
    """A retrieval cosine in words (the number stays in the tooltip)."""
    return "very close match" if score >= 0.55 else "close match" if score >= 0.4 else "loose match"


def source_card(n: int, record, quote: str | Sequence[str], score: float | None = None, evidence: str = "abstract",
                relevance: float | None = None, place: str = "", answer_no: int = 0) -> str:
    """One numbered source: title, authors/year/journal, what the quote is and where it sits in a full text
    ("Results, p. 4"), every quoted sentence highlighted in its context, and the links."""
    e = html.escape
    meta = " · ".join(e(str(x)) for x in (record.short_authors, record.year, record.journal) if x)
    kind = e(EVIDENCE_LABELS.get(evidence, evidence) + (f" · {place}" if place else ""))
    badges = ""
    if score is not None:
        badges = (f'<span class="cqa-score" title="similarity of your question and this paper\'s closest passage: '
                  f'{score:.2f}">{closeness(score)}</span>')
    if evidence == "title":  # the title is the heading already; show what the record says it is about
        subjects = "; ".join(record.subjects)
        body = f'<div class="cqa-subjects">Topics: {e(subjects)}</div>' if subjects else ""
    else:
        quotes = [quote] if isinstance(quote, str) else list(quote)
        label = "Quoted in the answer" if len(quotes) == 1 else f"{len(quotes)} sentences quoted in the answer"
        body = (f'<blockquote class="cqa-quote" aria-label="{label}">{quote_in_context(record, quotes)}'
                f'</blockquote>')
    return (
        f'<div class="cqa-card" id="{card_id(n, answer_no)}" tabindex="-1">'
        f'<div class="cqa-head"><span class="cqa-n">[{n}]</span> <span class="cqa-title">{e(record.title)}</span></div>'
        f'<div class="cqa-meta">{meta} <span class="cqa-kind">{kind}</span> {badges}</div>'
        f'{body}'
        f'<div class="cqa-links">{_links(record)}</div>'
        f"</div>"
    )


EMPTY_SOURCES = '<div class="cqa-empty">Sources appear here, numbered as cited in the answer.</div>'


def sources_html(answer: Answer | None, answer_no: int = 0) -> str:
    if answer is None:
        return EMPTY_SOURCES
    if answer.refused and not answer.related:
        return ('<div class="cqa-empty">No source answers this question. Closest matches: '
                + "; ".join(html.escape(h.record.title) for h in answer.hits[:3]) + "</div>") if answer.hits else \
            '<div class="cqa-empty">No sources.</div>'
    scores = {h.record.id: h.dense_score for h in answer.hits}
    cards = "".join(source_card(c.n, c.record, c.all_quotes or c.quote, scores.get(c.record.id), c.evidence,
                                c.relevance, c.place, answer_no) for c in answer.sources)
    if answer.refused:
        cards = '<div class="cqa-empty">No source answers this question. Closest matches:</div>' + cards
    return cards + also_retrieved(answer)


def conversation_sources(answers: Sequence[Answer | None]) -> str:
    """The sources panel for a whole conversation: the latest answer's cards, then each earlier answer's cards
    folded away, so every ``[n]`` in the conversation leads to its own card."""
    if not any(answers):
        return EMPTY_SOURCES
    latest = len(answers)
    parts = [f'<h3 class="cqa-for">For: {html.escape(_short(answers[-1].question))}</h3>' if answers[-1] else "",
             sources_html(answers[-1], latest)]
    for i in range(latest - 1, 0, -1):
        answer = answers[i - 1]
        if answer is not None and answer.sources:
            parts.append(f'<details class="cqa-earlier"><summary>Sources of an earlier answer: '
                         f'{html.escape(_short(answer.question))}</summary>{sources_html(answer, i)}</details>')
    return "".join(parts)


def _short(text: str, most: int = 90) -> str:
    return text if len(text) <= most else text[:most].rsplit(" ", 1)[0] + "…"


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
