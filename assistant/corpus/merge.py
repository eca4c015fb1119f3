"""Merge source records that describe the same paper, so a paper is never cited twice.

Two records are one paper when they share a DOI (case-insensitive) or a PMID and do not disagree on either; the
relation is transitive, so the groups are the connected components (a small union-find) that never join two groups
holding different PMIDs or different DOIs (``identity``). The merged record keeps every field: the richest text
and metadata win, list fields are united, and scalar extras the primary lacks are filled from the others.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..errors import CorpusError
from ..types import Record
from .identity import conflict, doi_key

_TYPE_RANK = {"full_text": -1, "abstract": 0, "title": 1, "reference_title": 2}


def paper_keys(record: Record) -> list[str]:
    keys = []
    if record.doi:
        keys.append("doi:" + doi_key(record.doi))
    if record.pmid:
        keys.append("pmid:" + record.pmid)
    if record.pmcid:
        keys.append("pmcid:" + record.pmcid)
    return keys


def _primary_order(record: Record) -> tuple:
    return (_TYPE_RANK.get(record.type, 9), -len(record.text), -len(record.authors))


def _merge_extra(records: list[Record]) -> dict[str, Any]:
    """Extras of ``records`` (primary first) united; ``parts`` are the primary's, as they locate its text."""
    merged: dict[str, Any] = {"parts": records[0].extra["parts"]} if "parts" in records[0].extra else {}
    for record in records:
        for key, value in record.extra.items():
            if key == "parts":
                continue
            if key not in merged:
                merged[key] = list(value) if isinstance(value, list) else value
            elif isinstance(merged[key], list) and isinstance(value, list):
                merged[key] += [v for v in value if v not in merged[key]]
    return merged


def _merge_group(records: list[Record]) -> Record:
    if len(records) == 1:
        return records[0]
    ordered = sorted(records, key=_primary_order)
    primary = ordered[0]

    def first(attr: str) -> Any:
        return next((getattr(r, attr) for r in ordered if getattr(r, attr)), getattr(primary, attr))

    ids = [r.id for r in records]
    canonical = next((i for i in ids if i.startswith("pmid:")), None) or next(
        (i for i in ids if i.startswith("doi:")), primary.id)
    extra = _merge_extra(ordered)
    extra["merged_types"] = sorted({r.type for r in records}, key=lambda t: _TYPE_RANK.get(t, 9))
    return Record(
        id=canonical,
        type=primary.type,
        title=primary.title,
        text=primary.text,
        authors=max((r.authors for r in records), key=len),
        journal=first("journal"),
        year=first("year"),
        doi=first("doi"),
        pmid=first("pmid"),
        url=first("url"),
        extra=extra,
        source_ids=tuple(sid for r in records for sid in r.source_ids),
    )


def merge_records(records: Iterable[Record]) -> list[Record]:
    """Group records by shared DOI/PMID and merge each group; order follows first appearance."""
    records = list(records)
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    ids: list[dict[str, set[str]]] = [{"pmid": {r.pmid} - {None}, "doi": {doi_key(r.doi)} if r.doi else set()}
                                      for r in records]
    for i, record in enumerate(records):
        for key in paper_keys(record):
            if key not in owner:
                owner[key] = i
                continue
            a, b = find(i), find(owner[key])
            if a == b or any(ids[a][k] and ids[b][k] and ids[a][k] != ids[b][k] for k in ("pmid", "doi")) \
                    or conflict(record, records[owner[key]]):
                continue  # already one group, or they disagree (identifiers, a PDF's guessed DOI): different papers
            parent[a] = b
            ids[b] = {k: ids[a][k] | ids[b][k] for k in ("pmid", "doi")}
    groups: dict[int, list[Record]] = {}
    for i, record in enumerate(records):
        groups.setdefault(find(i), []).append(record)
    merged = [_merge_group(group) for group in groups.values()]
    seen: set[str] = set()
    for record in merged:
        if record.id in seen:
            raise CorpusError(f"two different papers share the id {record.id!r}; give each record a unique id")
        seen.add(record.id)
    return merged
