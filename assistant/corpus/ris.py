"""RIS files from reference managers (EndNote, Zotero, Mendeley), parsed with ``rispy``."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import rispy

from .records import Item, join_authors, make_record, short_name
from .source import open_text


def _first(entry: dict, *keys: str):
    for key in keys:
        value = entry.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            return value
    return None


def ris_record(entry: dict, where: str) -> Item:
    pmid = _first(entry, "accession_number") if str(_first(entry, "name_of_database") or "").lower().startswith(
        "pubmed") or str(_first(entry, "accession_number") or "").isdigit() else None
    authors = entry.get("authors") or entry.get("first_authors") or []
    return make_record(
        where,
        title=_first(entry, "title", "primary_title", "translated_title"),
        text=_first(entry, "abstract", "notes_abstract") or "",
        authors=join_authors(short_name(a) for a in authors),
        journal=_first(entry, "journal_name", "secondary_title", "alternate_title3", "alternate_title1") or "",
        year=_first(entry, "year", "publication_year", "date"),
        doi=_first(entry, "doi"),
        pmid=pmid,
        url=_first(entry, "urls"),
        keywords=entry.get("keywords") or [],
        language=[entry["language"]] if entry.get("language") else [],
    )


def read_ris(path: Path) -> Iterator[Item]:
    path = Path(path)
    with open_text(path, "ris") as handle:
        entries = rispy.load(handle, skip_unknown_tags=True)
    for number, entry in enumerate(entries, start=1):
        yield ris_record(entry, f"{path.name}: record {number}")
