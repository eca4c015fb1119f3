"""Export cited references as BibTeX, RIS or Markdown, written with bibtexparser and rispy, so they import cleanly.

Names: records keep authors as "Last Initials" (PubMed's style, ``corpus.records.normalise_authors``); exports write
``Last, I. N.``, which BibTeX and RIS both read as surname and given names (``Gopalakrishnan V.`` alone would be
read by BibTeX as given name "Gopalakrishnan"). A collective author ("Cancer Genome Atlas Network") is braced in
BibTeX so it stays one name. A list known to be incomplete ends with BibTeX's ``and others``; RIS has no such
marker, so it lists the names known. Every known author is written; nothing is cut at ten.

Keys are ``FirstauthorYear``, folded to ASCII letter by letter (``Vétizou`` -> ``Vetizou2015``) and made unique.
Text keeps its Unicode (both formats are written as UTF-8). Every value is one line without control characters,
and BibTeX values lose their own braces, so no record text can add an entry or a field to an export.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Sequence

from .text import one_line
from .types import Citation, Record

FORMATS = {"bibtex": ".bib", "ris": ".ris", "markdown": ".md"}
_INITIALS = re.compile(r"^(?:[A-Z]\.?-?){1,4}$")


def _line(value) -> str:
    return one_line(str(value))


def _bib(value) -> str:
    return _line(value).replace("{", "").replace("}", "")


def author_names(record: Record) -> tuple[list[tuple[str, str]], bool]:
    """``([(last, given), ...], incomplete)``: each author as surname and given initials (given ``""`` for a
    collective or single-word name), and whether the record says the list goes on (``et al.``)."""
    names, incomplete = [], False
    for raw in record.authors.split(","):
        name = _line(raw).strip()
        if not name:
            continue
        if re.fullmatch(r"et\.?\s*al\.?|and others", name, re.I):
            incomplete = True
            continue
        words = name.split()
        if len(words) >= 2 and _INITIALS.match(words[-1]):
            letters = re.findall(r"[A-Z]", words[-1])
            names.append((" ".join(words[:-1]), " ".join(f"{c}." for c in letters)))
        else:
            names.append((name, ""))
    return names, incomplete


def _bib_name(last: str, given: str) -> str:
    if given:
        return f"{_bib(last)}, {_bib(given)}"
    return "{" + _bib(last) + "}" if " " in last else _bib(last)


def ascii_fold(text: str) -> str:
    """Letters without their accents (``é`` -> ``e``, ``ß`` -> ``ss``), everything not a letter dropped."""
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss").replace("ø", "o").replace("Ø", "O")
                                       .replace("æ", "ae").replace("ł", "l"))
    return "".join(c for c in decomposed if c.isascii() and c.isalpha())


def _key(record: Record, used: set[str]) -> str:
    names, _ = author_names(record)
    surname = names[0][0].split()[-1] if names else ""
    base = ascii_fold(surname) or ascii_fold(record.title.split()[0] if record.title.split() else "") or "ref"
    base += str(record.year or "")
    key, suffix = base, ord("a")
    while key in used:
        key = base + chr(suffix)
        suffix += 1
    used.add(key)
    return key


def unique_records(citations: Iterable[Citation]) -> list[Citation]:
    """Each paper once (the first citation of it), for exporting several answers together."""
    seen: set[str] = set()
    out = []
    for c in citations:
        if c.record.id not in seen:
            seen.add(c.record.id)
            out.append(c)
    return out


def to_bibtex(citations: Sequence[Citation]) -> str:
    import bibtexparser
    from bibtexparser import Library
    from bibtexparser.model import Entry, Field

    library, used = Library(), set()
    for c in unique_records(citations):
        r = c.record
        fields = [Field("title", "{" + _bib(r.title) + "}")]
        names, incomplete = author_names(r)
        if names:
            fields.append(Field("author", " and ".join([_bib_name(*n) for n in names]
                                                       + (["others"] if incomplete else []))))
        for name, value in (("journal", r.journal), ("year", r.year), ("doi", r.doi), ("pmid", r.pmid),
                            ("url", r.link)):
            if value:
                fields.append(Field(name, _bib(value)))
        library.add(Entry("article", _key(r, used), fields))
    return bibtexparser.write_string(library)


def _ris_writer():
    import rispy

    class Writer(rispy.RisWriter):
        def set_header(self, count: int):  # rispy numbers each entry ("1.") by default; reference managers stumble
            return None

    return Writer


def to_ris(citations: Sequence[Citation]) -> str:
    import rispy

    entries = []
    for c in unique_records(citations):
        r = c.record
        names, _ = author_names(r)
        entry = {"type_of_reference": "JOUR", "title": _line(r.title),
                 "authors": [f"{last}, {given}" if given else last for last, given in names]}
        for name, value in (("secondary_title", r.journal), ("year", r.year), ("doi", r.doi), ("urls", r.link),
                            ("accession_number", r.pmid)):
            if value:
                entry[name] = [_line(value)] if name == "urls" else _line(value)
        if r.pmid:
            entry["name_of_database"] = "PubMed"
        entries.append(entry)
    return rispy.dumps(entries, implementation=_ris_writer())


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
