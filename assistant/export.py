"""Export cited references as BibTeX, RIS or Markdown, written with bibtexparser and rispy.

Keys are ``FirstauthorYear`` made unique; titles keep their capitals in BibTeX by bracing the whole title. Every
value is one line without control characters, and BibTeX values lose their braces, so no record text can add an
entry or a field to an export.
"""

from __future__ import annotations

import re
from typing import Sequence

from .text import one_line
from .types import Citation, Record

FORMATS = {"bibtex": ".bib", "ris": ".ris", "markdown": ".md"}


def _line(value) -> str:
    return one_line(str(value))


def _bib(value) -> str:
    return _line(value).replace("{", "").replace("}", "")


def _authors(record: Record) -> list[str]:
    return [_line(a) for a in record.authors.split(",") if _line(a) and not a.strip().startswith("et al")]


def _key(record: Record, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z]", "", record.first_author) or "ref"
    base += str(record.year or "")
    key, suffix = base, ord("a")
    while key in used:
        key = base + chr(suffix)
        suffix += 1
    used.add(key)
    return key


def to_bibtex(citations: Sequence[Citation]) -> str:
    import bibtexparser
    from bibtexparser import Library
    from bibtexparser.model import Entry, Field

    library, used = Library(), set()
    for c in citations:
        r = c.record
        fields = [Field("title", "{" + _bib(r.title) + "}")]
        if r.authors:
            fields.append(Field("author", " and ".join(_bib(a) for a in _authors(r))))
        for name, value in (("journal", r.journal), ("year", r.year), ("doi", r.doi), ("pmid", r.pmid),
                            ("url", r.link)):
            if value:
                fields.append(Field(name, _bib(value)))
        library.add(Entry("article", _key(r, used), fields))
    return bibtexparser.write_string(library)


def to_ris(citations: Sequence[Citation]) -> str:
    import rispy

    entries = []
    for c in citations:
        r = c.record
        entry = {"type_of_reference": "JOUR", "title": _line(r.title), "authors": _authors(r)}
        for name, value in (("secondary_title", r.journal), ("year", r.year), ("doi", r.doi), ("urls", r.link),
                            ("accession_number", r.pmid)):
            if value:
                entry[name] = [_line(value)] if name == "urls" else _line(value)
        if r.pmid:
            entry["name_of_database"] = "PubMed"
        entries.append(entry)
    return rispy.dumps(entries)


def to_markdown(citations: Sequence[Citation], answer_text: str = "") -> str:
    lines = [answer_text.strip(), ""] if answer_text.strip() else []
    for c in citations:
        lines.append(f"{c.n}. {_line(c.reference_line()[len(f'[{c.n}] '):])}")
        lines.append(f"   > {_line(c.quote)}")
    return "\n".join(lines) + "\n"


def export(citations: Sequence[Citation], fmt: str, answer_text: str = "") -> str:
    if fmt == "bibtex":
        return to_bibtex(citations)
    if fmt == "ris":
        return to_ris(citations)
    if fmt == "markdown":
        return to_markdown(citations, answer_text)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
