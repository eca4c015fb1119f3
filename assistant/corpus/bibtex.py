"""BibTeX files, parsed with ``bibtexparser`` (v2), LaTeX decoded with ``pylatexenc``; blocks it cannot parse are
rejected with their line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

import bibtexparser
from pylatexenc.latex2text import LatexNodes2Text

from .records import Item, Rejected, join_authors, make_record, short_name
from .source import open_text

_LATEX = LatexNodes2Text(math_mode="text")


def _authors(value: str) -> str:
    return join_authors(short_name(name) for name in value.replace("\n", " ").split(" and "))


def _decode(value: str) -> str:
    """LaTeX to text, maths included (``{$\\beta$}-catenin`` -> ``β-catenin``)."""
    if "\\" not in value and "{" not in value and "$" not in value:
        return value
    return _LATEX.latex_to_text(value)


def read_bibtex(path: Path) -> Iterator[Item]:
    path = Path(path)
    with open_text(path, "bibtex") as handle:
        text = handle.read()
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    library = bibtexparser.parse_string(text)
    for entry in library.entries:
        fields = {k.lower(): v for k, v in entry.fields_dict.items()}

        def get(name: str) -> str:
            field = fields.get(name)
            return _decode(str(field.value)).strip() if field is not None else ""

        where = f"{path.name}:{entry.start_line + 1} ({entry.key})"
        yield make_record(
            where,
            title=get("title"),
            text=get("abstract"),
            authors=_authors(get("author")),
            journal=get("journal") or get("booktitle"),
            year=get("year") or get("date"),
            doi=get("doi"),
            pmid=get("pmid"),
            url=get("url") or None,
            keywords=[k.strip() for k in get("keywords").replace(";", ",").split(",") if k.strip()],
        )
    for block in library.failed_blocks:
        yield Rejected(f"{path.name}:{block.start_line + 1}", "unparseable BibTeX entry")
