"""The shipped corpus format: JSON Lines, one record a line.

Validation is strict on purpose: a line that is not JSON, a record without an id, type or title, an unknown record
type or an unknown field stops the read with an error naming file and line, before anything is embedded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..errors import CorpusError
from ..types import RECORD_TYPES, Record
from .records import (Rejected, clean_doi, clean_pmid, clean_url, clip_parts, clip_text, field_problem,
                      identifier_problem, normalise_authors, parts_problem)
from .source import open_text

CORE_FIELDS = {"id", "type", "title", "text", "authors", "journal", "year", "doi", "pmid", "url"}
EXTRA_FIELDS = {
    "ref_number", "cited_by", "cited_in_review_ref", "topics", "keywords", "source", "license", "volume", "issue",
    "pages", "pub_date", "mesh_terms", "publication_types", "language", "sections", "citation", "pmcid",
    "merged_types", "source_ids", "origin", "truncated_from", "parts",
    "page_count",
}
KNOWN_FIELDS = CORE_FIELDS | EXTRA_FIELDS


def _clean_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def record_from_json(data: Any, where: str) -> Record:
    """Validate one decoded JSON object; ``where`` (``file:line``) prefixes every error."""
    if not isinstance(data, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_FIELDS)
    if unknown:
        raise CorpusError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(KNOWN_FIELDS))}")
    for name in ("id", "type", "title"):
        if not _clean_str(data.get(name)):
            raise CorpusError(f"{where}: record has no {name!r}; every record needs id, type and title")
    if data["type"] not in RECORD_TYPES:
        raise CorpusError(f"{where}: unknown record type {data['type']!r}; use one of {', '.join(RECORD_TYPES)}")
    for name in ("id", "title", "text", "authors", "journal", "doi", "pmid", "url"):
        value = data.get(name)
        if value is not None and not isinstance(value, str) and not (name in ("id", "pmid") and type(value) is int):
            raise CorpusError(f"{where}: {name} must be a string, not {type(value).__name__}")
    year = data.get("year")
    if year is not None:
        try:
            year = int(year)
        except (TypeError, ValueError, OverflowError):
            raise CorpusError(f"{where}: year {year!r} is not a number") from None
        if not 1000 <= year <= 2200:
            raise CorpusError(f"{where}: year {year} is not a publication year")
    if len(str(data["id"]).strip()) > 200 or any(not c.isprintable() for c in str(data["id"])):
        raise CorpusError(f"{where}: id must be at most 200 printable characters")
    problem = (field_problem(**{k: data.get(k) for k in ("title", "authors", "journal")})
               or identifier_problem(_clean_str(data.get("pmid")), _clean_str(data.get("doi")),
                                     _clean_str(data.get("url"))))
    if problem:
        raise CorpusError(f"{where}: {problem}")
    text = data.get("text") or ""
    if data.get("parts") is not None:
        problem = parts_problem(data["parts"], len(text))
        if problem:
            raise CorpusError(f"{where}: {problem}")
    else:
        text = text.strip()  # offsets of parts point into the text as given
    text, original = clip_text(text)
    extra = {k: v for k, v in data.items() if k in EXTRA_FIELDS and k != "source_ids" and v is not None}
    if original:
        extra["truncated_from"] = original
    if extra.get("parts"):
        extra["parts"] = clip_parts(extra["parts"], len(text))
    return Record(
        id=str(data["id"]).strip(),
        type=data["type"],
        title=" ".join(str(data["title"]).split()),
        text=text,
        authors=normalise_authors(data.get("authors")),
        journal=_clean_str(data.get("journal")) or "",
        year=year,
        doi=clean_doi(data.get("doi")),
        pmid=clean_pmid(_clean_str(data.get("pmid"))),
        url=clean_url(data.get("url")),
        extra=extra,
        source_ids=(str(data["id"]).strip(),),
    )


def jsonl_items(path: Path) -> Iterator[Record | Rejected]:
    """Yield each line's record, or a rejection naming file and line; blank lines are skipped."""
    path = Path(path)
    try:
        handle = open_text(path, "jsonl")
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{number}"
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield Rejected(where, f"not valid JSON ({exc.msg}, column {exc.colno})")
                    continue
                try:
                    yield record_from_json(data, where)
                except CorpusError as exc:
                    yield Rejected(where, str(exc).removeprefix(f"{where}: "))
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def read_jsonl(path: Path) -> Iterator[Record]:
    """Yield the records of one JSON Lines file, stopping at the first bad line with its location."""
    for item in jsonl_items(path):
        if isinstance(item, Rejected):
            raise CorpusError(str(item))
        yield item


def read_corpus_dir(path: Path) -> list[Record]:
    """Read every ``*.jsonl`` file of a corpus folder (or one file) in name order."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise CorpusError(f"{path}: no *.jsonl files; put the corpus records there or pass --corpus DIR")
    else:
        raise CorpusError(f"{path}: no such corpus folder or file; pass --corpus DIR")
    records = [record for file in files for record in read_jsonl(file)]
    if not records:
        raise CorpusError(f"{path}: the corpus is empty; add at least one record")
    return records
