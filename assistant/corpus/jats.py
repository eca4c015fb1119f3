"""Full-text articles in JATS XML: PMC's open-access subset (``.nxml``) and publishers' JATS, streamed.

What is kept of an article: title, authors, journal, year, PMID/PMCID/DOI, licence, keywords, the abstract, and the
body section by section with its headings, then figure and table captions where they appear. What is left out:
the reference list and the back matter (acknowledgements, funding, competing interests, author contributions,
abbreviations), body sections with those headings, tables' cells, formulae, and in-text citation markers such as
``[12]`` (bibliographic cross-references), which would otherwise end up inside quoted sentences.

The text of a record is its parts joined by single spaces; ``extra["parts"]`` says where each part lies and which
section it belongs to ("Abstract", "Results", "Results / PD-L1 expression", "Figure 2"), so passages and quotes keep
their section. A file may hold one ``<article>`` or many (``<pmc-articleset>``); each is cleared from memory once
read. ElementTree neither fetches DTDs nor expands external entities.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree as ET

from .records import Item, Rejected, join_authors, make_record
from .source import open_bytes
from .xml_stream import closed_elements, malformed
from .xml_stream import local_name as _local

XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
SKIPPED_INLINE = {"fig", "table-wrap", "disp-formula", "inline-formula", "table", "fn", "supplementary-material",
                  "ref-list", "graphic", "media", "alternatives", "tex-math", "label"}
BOILERPLATE = re.compile(r"^\s*(\d+(\.\d+)*\.?\s*)?(references?|bibliography|literature cited|acknowledge?ments?"
                         r"|funding"
                         r"|financial support|(competing|conflicts?( of)?|declaration of) interests?|conflicts? of "
                         r"interest|disclosures?|author(s'|'s)? contributions?|abbreviations|data availability"
                         r"( statement)?|supplementary (material|data|information)|ethics (approval|statement)"
                         r"|consent for publication)\b", re.I)
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:)\]])")
_EMPTY_BRACKETS = re.compile(r"[\[(]\s*[,;–-]*\s*[\])]")


def _clean(text: str) -> str:
    text = " ".join(text.split())
    text = _EMPTY_BRACKETS.sub("", text)  # what is left of "[12, 13]" once the citation markers are gone
    return " ".join(_SPACE_BEFORE_PUNCT.sub(r"\1", text).split())


def _text(element, skip: frozenset[str] = frozenset(SKIPPED_INLINE)) -> str:
    """The element's text with citation markers, floating figures/tables and formulae left out."""
    out: list[str] = []

    def walk(node) -> None:
        if node.text:
            out.append(node.text)
        for child in node:
            name = _local(child.tag)
            bibliographic = name == "xref" and child.get("ref-type") in ("bibr", "fn")
            if name not in skip and not bibliographic:
                walk(child)
            if child.tail:
                out.append(child.tail)

    if element is not None:
        walk(element)
    return _clean("".join(out))


def _find(element, path: str):
    return element.find(path) if element is not None else None


class _Body:
    """Collects ``(section, text)`` pieces in reading order, one per paragraph or caption."""

    def __init__(self) -> None:
        self.pieces: list[tuple[str, str]] = []

    def add(self, section: str, text: str) -> None:
        if text:
            self.pieces.append((section[:200], text))

    def captions(self, element) -> None:
        for node in element:
            name = _local(node.tag)
            if name in ("fig", "table-wrap"):
                label = _text(_find(node, "label")) or ("Figure" if name == "fig" else "Table")
                self.add(label.rstrip(".:"), _text(_find(node, "caption")))
            elif name in ("fig-group", "table-wrap-group", "p"):
                self.captions(node)

    def section(self, element, heading: str) -> None:
        for node in element:
            name = _local(node.tag)
            if name == "p":
                self.add(heading, _text(node))
                self.captions(node)
            elif name == "sec":
                title = _text(_find(node, "title"))
                if BOILERPLATE.match(title) or node.get("sec-type") in ("supplementary-material", "COI-statement"):
                    continue
                self.section(node, f"{heading} / {title}" if heading and title else title or heading)
            elif name in ("fig", "table-wrap", "fig-group", "table-wrap-group"):
                self.captions([node])
            elif name in ("list", "boxed-text", "disp-quote"):
                self.add(heading, _text(node))


def _abstract(meta) -> list[tuple[str, str]]:
    """The main abstract (not a graphical abstract or teaser), as one "Abstract" part."""
    for abstract in meta.iterfind("abstract") if meta is not None else ():
        if abstract.get("abstract-type") in (None, "", "summary", "structured", "author"):
            body = _Body()
            body.section(abstract, "Abstract")
            text = " ".join(t for _, t in body.pieces) or _text(abstract)
            return [("Abstract", text)] if text else []
    return []


def _ids(meta) -> dict[str, str]:
    found: dict[str, str] = {}
    for aid in meta.iterfind("article-id") if meta is not None else ():
        kind, value = (aid.get("pub-id-type") or "").lower(), (aid.text or "").strip()
        if kind in ("pmc", "pmcid") and value:
            found["pmcid"] = value if value.upper().startswith("PMC") else f"PMC{value}"
        elif kind in ("pmid", "doi") and value:
            found[kind] = value
    return found


def _authors(meta) -> str:
    names = []
    for contrib in meta.iterfind("contrib-group/contrib") if meta is not None else ():
        if contrib.get("contrib-type") not in (None, "author"):
            continue
        collab = _text(_find(contrib, "collab"))
        surname = _text(_find(contrib, "name/surname"))
        given = _text(_find(contrib, "name/given-names"))
        if surname:
            initials = "".join(w[0] for w in given.replace("-", " ").replace(".", " ").split() if w[:1].isalpha())
            names.append(f"{surname} {initials}".strip())
        elif collab:
            names.append(collab)
    return join_authors(names)


def _year(meta) -> str:
    for kind in ("epub", "ppub", "pub", "collection", None):
        for date in meta.iterfind("pub-date") if meta is not None else ():
            if kind is None or kind in (date.get("pub-type"), date.get("date-type")):
                year = (date.findtext("year") or "").strip()
                if year:
                    return year
    return ""


def _licence(meta) -> str:
    licence = _find(meta, "permissions/license")
    if licence is None:
        return ""
    href = licence.get(XLINK_HREF) or ""
    if not href:
        ref = next((n for n in licence.iter() if _local(n.tag) == "license_ref"), None)
        href = (ref.text or "").strip() if ref is not None else ""
    return href or _text(_find(licence, "license-p"))[:300]


def article_record(article, where: str) -> Item:
    front = _find(article, "front")
    meta = _find(front, "article-meta")
    if meta is None:
        return Rejected(where, "JATS article without <front>/<article-meta>; is this a full-text article?")
    journal = _find(front, "journal-meta")
    ids = _ids(meta)
    title = _text(_find(meta, "title-group/article-title"))
    label = f"{where} ({'PMID ' + ids['pmid'] if 'pmid' in ids else ids.get('pmcid') or ids.get('doi') or title[:60]})"
    body = _Body()
    if _find(article, "body") is not None:
        body.section(article.find("body"), "")
    pieces = _abstract(meta) + [(section or "Main text", text) for section, text in body.pieces]
    if not body.pieces:
        return Rejected(label, "the article has no body text (an abstract-only or PDF-only deposit); ingest its "
                               "PubMed record or its PDF instead")
    text, parts = "", []
    for section, piece in pieces:  # consecutive paragraphs of one section make one part
        start = len(text) + (1 if text else 0)
        text = f"{text} {piece}" if text else piece
        if parts and parts[-1]["section"] == section:
            parts[-1]["end"] = len(text)
        else:
            parts.append({"start": start, "end": len(text), "section": section})
    return make_record(
        label, title=title, text=text, authors=_authors(meta),
        journal=_text(_find(journal, "journal-title-group/journal-title")) or _text(_find(journal, "journal-title"))
        or _text(_find(journal, "journal-id")),
        year=_year(meta), doi=ids.get("doi"), pmid=ids.get("pmid"), pmcid=ids.get("pmcid"),
        license=_licence(meta), keywords=[_text(k) for k in meta.iterfind("kwd-group/kwd") if _text(k)],
        parts=parts,
    )


def read_jats(path: Path) -> Iterator[Item]:
    path = Path(path)
    count = 0
    try:
        with open_bytes(path, "jats") as handle:
            for root, element, depth in closed_elements(handle):
                if _local(root.tag) not in ("article", "pmc-articleset", "articles"):
                    yield Rejected(path.name, f"not a JATS article (root element <{_local(root.tag)}>)")
                    return
                if _local(element.tag) == "article" and depth <= 1:
                    count += 1
                    yield article_record(element, f"{path.name}: article {count}")
                    if element is not root:
                        root.clear()
    except ET.ParseError as exc:
        yield malformed(path, exc)
