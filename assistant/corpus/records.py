"""What every reader yields: a ``Record``, a ``Deletion`` or a ``Rejected`` item, built through one function.

Readers never decide ids or types themselves: ``make_record`` keys a paper by PMID, then DOI, then a hash of its
normalised title (``identity``), types it ``abstract`` when it has text and ``title`` otherwise, and rejects a
record without a title, with a title over the limit, or with an identifier that is not one: a PMID that is not
digits, a DOI that does not match Crossref's pattern, a URL that is not http(s). Text over ``limits.MAX_TEXT_CHARS``
is cut at a word boundary and the record says so (``truncated_from``), so the ingest report can list it. A
rejected item names file and line or record, so the summary (or ``--strict``) can say exactly what was skipped and
why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Union
from urllib.parse import urlsplit

from ..limits import MAX_FIELD_CHARS, MAX_TEXT_CHARS, MAX_TITLE_CHARS
from ..text import printable
from ..types import Record
from .identity import normalise_title, title_key  # noqa: F401  (readers import them from here)

# Crossref's recommended pattern, which matches 99.3% of registered DOIs
_DOI = re.compile(r"10\.\d{4,9}/[-._;()/:A-Z0-9]+", re.I)


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


def clean_doi(value: Any) -> str | None:
    if not value:
        return None
    match = _DOI.search(str(value))
    return match.group(0).rstrip(".;,") if match else None


def clean_pmid(value: Any) -> str | None:
    text = str(value or "").strip()
    return text if text.isascii() and text.isdigit() else None


def identifier_problem(pmid: Any, doi: Any, url: Any) -> str | None:
    """Why a record's PMID, DOI or URL is not one (``None`` when each is absent or valid)."""
    if pmid not in (None, "") and not clean_pmid(str(pmid).strip().removeprefix("PMID:").strip()):
        return f"PMID {str(pmid)[:40]!r} is not a number"
    if doi not in (None, "") and not clean_doi(doi):
        return f"DOI {str(doi)[:40]!r} does not look like 10.NNNN/suffix"
    if url not in (None, "") and not clean_url(url):
        return f"URL {str(url)[:40]!r} is not an http(s) address"
    return None


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += (c == "(") - (c == ")")
        if depth < 0:
            return False
    return depth == 0


def clean_url(value: Any) -> str | None:
    """An http(s) URL without whitespace, control characters, Markdown/HTML delimiters (``[]<>"'`` and backtick)
    or unbalanced parentheses (DOI URLs such as ``...S0140-6736(18)31234-5`` keep theirs)."""
    text = str(value or "").strip()
    if (not text or len(text) > 2_000 or any(c.isspace() or c in "[]<>\"'`{}|\\^" for c in text)
            or printable(text) != text or not _balanced(text)):
        return None
    parts = urlsplit(text)
    return text if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def clip_text(text: str) -> tuple[str, int | None]:
    """``text`` cut to ``MAX_TEXT_CHARS`` at a word boundary, and its original length when it was cut."""
    if len(text) <= MAX_TEXT_CHARS:
        return text, None
    cut = text.rfind(" ", MAX_TEXT_CHARS - 1_000, MAX_TEXT_CHARS)
    return text[:cut if cut > 0 else MAX_TEXT_CHARS].rstrip(), len(text)


def clip_parts(parts: Any, length: int) -> list[dict]:
    """A full text's parts kept within its (possibly cut) text of ``length`` characters."""
    kept = []
    for part in parts or ():
        if part["start"] < length:
            kept.append({**part, "end": min(part["end"], length)})
    return kept


def parts_problem(parts: Any, length: int) -> str | None:
    """Why ``parts`` cannot locate sections in a text of ``length`` characters (``None`` when they can)."""
    if not isinstance(parts, list):
        return "parts must be a list of {start, end, section, page}"
    last = 0
    for i, part in enumerate(parts):
        if not isinstance(part, dict) or set(part) - {"start", "end", "section", "page"}:
            return f"part {i} must be an object with start, end, section and page"
        start, end, page = part.get("start"), part.get("end"), part.get("page")
        if type(start) is not int or type(end) is not int or not last <= start < end <= length:
            return f"part {i} does not lie in the text after the part before it ({start}-{end} of {length})"
        if not isinstance(part.get("section", ""), str) or len(part.get("section", "")) > 200:
            return f"part {i}: section must be a string of at most 200 characters"
        if page is not None and (type(page) is not int or page < 1):
            return f"part {i}: page must be a positive number"
        last = end
    return None


def field_problem(**fields: Any) -> str | None:
    """Why a record's title or another field is over its limit, or ``None``."""
    for name, value in fields.items():
        limit = MAX_TITLE_CHARS if name == "title" else MAX_FIELD_CHARS
        if isinstance(value, str) and len(value) > limit:
            return f"{name} is {len(value):,} characters long; the limit is {limit:,}"
    return None


def year_of(value: Any) -> int | None:
    match = re.search(r"(1[89]\d\d|20\d\d)", str(value or ""))
    return int(match.group(1)) if match else None


_ET_AL = re.compile(r"(?:^|\s+|,\s*)(?:et\.?\s*al\.?|and others)\s*$", re.I)


def join_authors(names: Iterable[str]) -> str:
    return normalise_authors(", ".join(n.strip() for n in names if n and n.strip()))


def normalise_authors(authors: Any) -> str:
    """One spelling of an author list, decided once at ingestion: names separated by ", ", and a list known to be
    incomplete ends with a single ", et al." (``Peng et al.`` -> ``Peng, et al.``), so no front end doubles it."""
    names, cut = [], False
    for name in " ".join(str(authors or "").split()).split(","):
        name = name.strip()
        if _ET_AL.search(name):
            cut, name = True, _ET_AL.sub("", name).strip()
        if name:
            names.append(name)
    return ", ".join(names + (["et al."] if cut else []))


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
    problem = (field_problem(title=title, authors=authors, journal=str(journal or ""))
               or identifier_problem(pmid, doi, url))
    if problem:
        return Rejected(where, problem)
    pmid = clean_pmid(str(pmid or "").strip().removeprefix("PMID:").strip())
    doi = clean_doi(doi)
    record_id = f"pmid:{pmid}" if pmid else f"doi:{doi}" if doi else title_key(title)
    text, original = clip_text(" ".join(str(text or "").split()))
    if original:
        extra["truncated_from"] = original
    if extra.get("parts"):
        extra["parts"] = clip_parts(extra["parts"], len(text))
    return Record(
        id=record_id,
        type=("full_text" if extra.get("parts") else "abstract") if text else "title",
        title=title,
        text=text,
        authors=normalise_authors(authors),
        journal=" ".join(str(journal or "").split()),
        year=year_of(year),
        doi=doi,
        pmid=pmid,
        url=clean_url(url),
        extra={k: v for k, v in extra.items() if v not in (None, "", [], ())},
        source_ids=(record_id,),
    )
