"""When two records are the same paper, and what survives when they are merged.

Identity never guesses:

- A PMID or DOI decides. Records whose PMIDs differ, or whose DOIs differ, are different papers whatever their
  titles say; records sharing one of them (and disagreeing on neither) are the same paper.
- A record's own id (a JSON Lines ``id`` such as ``s2:5836``) is an identifier too; ids that readers derive from a
  title hash (``title:...``) are not.
- A title match (Unicode-aware: NFKC, case-folded, every script and Greek letters kept) links only records that have
  no identifier on at least one side and none that disagree, and only when year and first author do not disagree.
  Anything less certain is kept as two records and reported as a possible duplicate: a duplicate can be removed, two
  papers merged into one cannot be told apart afterwards.

Merging keeps every field that either side has. A full text (a record with ``parts``) and an abstract of the same
paper merge into the full text: its text holds the abstract too, and ``parts`` locate its sections in that text, so
text and parts always come from one side, whatever the order of ingestion. Where both have a value, the more trusted
source wins: NCBI's own records (PubMed XML, MEDLINE, by PMID) and the curated corpus a knowledge base was built
from outrank files a user adds (RIS, BibTeX, CSV, JSON Lines, uploads); between equals the newer value wins. The
merged record keeps the old id, so ids are stable across ingests.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, replace
from typing import Any

from ..types import Record

TITLE_ID_PREFIX = "title:"
# Formats whose records come from NCBI itself, keyed by PMID.
NCBI_ORIGINS = frozenset({"pubmed-xml", "medline", "pmc"})
CURATED, NCBI, USER_FILE = 3, 2, 1
_MERGED_FIELDS = ("title", "text", "authors", "journal", "year", "doi", "pmid", "url")
_NON_WORD = re.compile(r"[\W_]+")


def normalise_title(title: str) -> str:
    """NFKC, case-folded, runs of anything but letters and digits (of any script) as one space."""
    return " ".join(_NON_WORD.sub(" ", unicodedata.normalize("NFKC", title).casefold()).split())


def title_key(title: str) -> str:
    return TITLE_ID_PREFIX + hashlib.sha1(normalise_title(title).encode("utf-8")).hexdigest()[:16]


def doi_key(doi: str) -> str:
    return doi.strip().lower().removeprefix("https://doi.org/").removeprefix("doi:")


def explicit_id(record: Record) -> str | None:
    """The record's own id when a source gave it (not derived from its title)."""
    return None if record.id.startswith(TITLE_ID_PREFIX) else record.id


def identified(record: Record) -> bool:
    return bool(record.pmid or record.doi or record.pmcid)


def conflict(a: Record, b: Record) -> str | None:
    """Why ``a`` and ``b`` cannot be one paper, or ``None``."""
    if a.pmid and b.pmid and a.pmid != b.pmid:
        return f"different PMIDs ({a.pmid}, {b.pmid})"
    if a.doi and b.doi and doi_key(a.doi) != doi_key(b.doi):
        return f"different DOIs ({a.doi}, {b.doi})"
    if a.pmcid and b.pmcid and a.pmcid != b.pmcid:
        return f"different PMCIDs ({a.pmcid}, {b.pmcid})"
    for guessed, other in ((a, b), (b, a)):
        if guessed.extra.get("origin") == "pdf" and other.extra.get("origin") != "pdf" and \
                not titles_agree(guessed.title, other.title):
            return (f"a DOI read from a PDF's first page, but titles that disagree ({guessed.title[:60]!r}, "
                    f"{other.title[:60]!r})")
    return None


def titles_agree(a: str, b: str) -> bool:
    """Whether two titles are plausibly one paper's: at least half the words of the shorter one are in the other.
    Used where an identifier was guessed (a DOI read from a PDF's first page may be a cited paper's)."""
    words_a, words_b = set(normalise_title(a).split()), set(normalise_title(b).split())
    shorter = min(len(words_a), len(words_b))
    return shorter > 0 and len(words_a & words_b) >= shorter / 2


def _surname(record: Record) -> str:
    first = record.authors.split(",")[0].strip()
    name = first.split()[0] if first.split() else ""
    return normalise_title(name)


def title_link(a: Record, b: Record) -> str | None:
    """Why two records with one normalised title may *not* be linked by it, or ``None`` when they may."""
    if identified(a) and identified(b):
        return "both have a PMID or DOI, and they decide"
    if explicit_id(a) and explicit_id(b) and a.id != b.id:
        return f"different record ids ({a.id}, {b.id})"
    if identified(a) or identified(b):
        return "only one has a PMID or DOI"
    if a.year and b.year and a.year != b.year:
        return f"different years ({a.year}, {b.year})"
    if _surname(a) and _surname(b) and _surname(a) != _surname(b):
        return "different first authors"
    return None


def trust(record: Record) -> int:
    """How much a record's field values are worth against another copy's (see the module docstring)."""
    origin = record.extra.get("origin")
    if origin is None:
        return CURATED  # built from a corpus folder (the shipped corpus), not ingested from a file
    return NCBI if origin in NCBI_ORIGINS and record.pmid else USER_FILE


@dataclass(frozen=True)
class Merged:
    record: Record
    changed: tuple[str, ...]  # fields whose value the merge changed


def _merge_value(old: Any, new: Any, new_wins: bool) -> Any:
    if isinstance(old, list) and isinstance(new, list):
        return old + [v for v in new if v not in old]
    if new in (None, "", [], ()):
        return old
    if old in (None, "", [], ()):
        return new
    return new if new_wins else old


def _text_side(old: Record, new: Record, new_wins: bool) -> Record:
    """Whose text the merged record keeps: a full text over an abstract, then the longer-trusted rule."""
    if bool(old.parts) != bool(new.parts):
        return old if old.parts else new
    if not new.text:
        return old
    if not old.text:
        return new
    return new if new_wins else old


def combine(old: Record, new: Record) -> Merged:
    """``new`` merged into ``old``: nothing either has is lost, the old id is kept, trust decides conflicts."""
    new_wins = trust(new) >= trust(old)
    values = {name: _merge_value(getattr(old, name), getattr(new, name), new_wins) for name in _MERGED_FIELDS}
    if old.pmid:
        values["pmid"] = old.pmid
    if old.doi and new.doi and doi_key(old.doi) == doi_key(new.doi):
        values["doi"] = old.doi
    extra = dict(old.extra)
    for key, value in new.extra.items():
        if key != "parts":
            extra[key] = _merge_value(extra.get(key), value, new_wins)
    text_from = _text_side(old, new, new_wins)
    values["text"] = text_from.text
    extra.pop("parts", None)
    if "parts" in text_from.extra:
        extra["parts"] = text_from.extra["parts"]
    if not new_wins:  # the merged record stays as trusted as the stronger copy
        extra.pop("origin", None)
        if "origin" in old.extra:
            extra["origin"] = old.extra["origin"]
    extra.pop("merged_types", None)
    kind = ("full_text" if "parts" in extra else "abstract") if values["text"] else old.type
    merged = replace(old, type=kind, extra=extra, source_ids=tuple(dict.fromkeys(old.source_ids + new.source_ids)),
                     **values)
    changed = tuple(name for name in (*_MERGED_FIELDS, "type") if getattr(merged, name) != getattr(old, name))
    changed += tuple(sorted(k for k in set(extra) | set(old.extra) if k != "origin"
                            and extra.get(k) != old.extra.get(k)))
    return Merged(merged, changed)
