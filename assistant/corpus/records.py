"""What every reader yields: a ``Record``, a ``Deletion`` or a ``Rejected`` item, built through one function.

Readers never decide ids or types themselves: ``make_record`` keys a paper by PMID, then DOI, then a hash of its
normalised title, types it ``abstract`` when it has text and ``title`` otherwise, and rejects a record without a
title. A rejected item names file and line or record, so the summary (or ``--strict``) can say exactly what was
skipped and why.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Iterable, Union

from ..types import Record

_DOI = re.compile(r"10\.\d{4,9}/\S+", re.I)


@dataclass(frozen=True)
class Rejected:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Deletion:
    """A PubMed ``DeleteCitation`` entry: remove the record with this PMID."""

    pmid: str
    where: str


Item = Union[Record, Deletion, Rejected]


def normalise_title(title: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", title.lower()).split())


def title_key(title: str) -> str:
    return "title:" + hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]


def clean_doi(value: Any) -> str | None:
    if not value:
        return None
    match = _DOI.search(str(value))
    return match.group(0).rstrip(".;,") if match else None


def clean_pmid(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text.isdigit() else None


def year_of(value: Any) -> int | None:
    match = re.search(r"(1[89]\d\d|20\d\d)", str(value or ""))
    return int(match.group(1)) if match else None


def join_authors(names: Iterable[str]) -> str:
    return ", ".join(n.strip() for n in names if n and n.strip())


def short_name(name: str) -> str:
    """``Spranger, Stefani`` -> ``Spranger S``; names without a comma are kept as written."""
    name = " ".join(name.split())
    if "," not in name:
        return name
    last, first = (part.strip() for part in name.split(",", 1))
    initials = "".join(part[0] for part in first.replace("-", " ").replace(".", " ").split() if part[:1].isalpha())
    return f"{last} {initials}".strip()


def make_record(where: str, *, title: Any, text: Any = "", authors: str = "", journal: Any = "", year: Any = None,
                doi: Any = None, pmid: Any = None, url: Any = None, **extra: Any) -> Record | Rejected:
    title = " ".join(str(title or "").split())
    if not title:
        return Rejected(where, "record has no title")
    pmid, doi = clean_pmid(pmid), clean_doi(doi)
    record_id = f"pmid:{pmid}" if pmid else f"doi:{doi}" if doi else title_key(title)
    text = " ".join(str(text or "").split())
    return Record(
        id=record_id,
        type="abstract" if text else "title",
        title=title,
        text=text,
        authors=authors or "",
        journal=" ".join(str(journal or "").split()),
        year=year_of(year),
        doi=doi,
        pmid=pmid,
        url=str(url).strip() if url else None,
        extra={k: v for k, v in extra.items() if v not in (None, "", [], ())},
        source_ids=(record_id,),
    )
