"""Which reader a file needs: by ``--format``, by extension, else by sniffing its first bytes.

A ``.gz`` file is any supported format gzipped: its inner name and unpacked bytes decide (``source``). ``.xml``
is PubMed XML or a JATS full-text article, told apart by the root element.

``read_items`` is the single entry point the ingester uses. File-level problems (an empty file, an unknown format,
bytes that are not UTF-8) come back as ``Rejected`` items naming the file and line, like bad records do, so the
caller decides whether to stop (``--strict``) or skip and report.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

from ..errors import CorpusError
from ..types import Record
from .records import Item, Rejected
from .source import head, inner_name, open_bytes

FORMATS = ("pubmed-xml", "jats", "pdf", "medline", "ris", "bibtex", "csv", "jsonl")
_EXTENSIONS = {".nxml": "jats", ".pdf": "pdf", ".nbib": "medline", ".medline": "medline", ".ris": "ris",
               ".bib": "bibtex",
               ".bibtex": "bibtex", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def _reader(fmt: str) -> Callable[[Path], Iterator[Item]]:
    if fmt == "pubmed-xml":
        from .pubmed_xml import read_pubmed_xml
        return read_pubmed_xml
    if fmt == "jats":
        from .jats import read_jats
        return read_jats
    if fmt == "pdf":
        from .pdf import read_pdf
        return read_pdf
    if fmt == "medline":
        from .medline import read_medline
        return read_medline
    if fmt == "ris":
        from .ris import read_ris
        return read_ris
    if fmt == "bibtex":
        from .bibtex import read_bibtex
        return read_bibtex
    if fmt == "csv":
        from .pubmed_csv import read_pubmed_csv
        return read_pubmed_csv
    from .jsonl import jsonl_items
    return jsonl_items


_JATS = re.compile(r"<!DOCTYPE\s+article\b|<article[\s>]|JATS-|journalpublishing")
_PUBMED = re.compile(r"<(PubmedArticleSet|MedlineCitationSet|PubmedArticle|MedlineCitation)[\s>]")


def sniff(head: str) -> str | None:
    text = head.lstrip("\ufeff \t\r\n")
    if text.startswith("%PDF-"):
        return "pdf"
    if text.startswith("<"):
        return "jats" if _JATS.search(text) and not _PUBMED.search(text) else "pubmed-xml"
    if re.search(r"^PMID- ", text, re.M):
        return "medline"
    if re.search(r"^TY  - ", text, re.M):
        return "ris"
    if re.match(r"(%[^\n]*\n\s*)*@\w+\s*[{(]", text):
        return "bibtex"
    first = text.split("\n", 1)[0]
    if "PMID" in first and "Title" in first and "," in first:
        return "csv"
    if text.startswith("{"):
        return "jsonl"
    return None


def detect_format(path: Path, head: str) -> str | None:
    """The format of ``path`` (for ``.gz``, of its inner name) whose content starts with ``head``."""
    by_extension = _EXTENSIONS.get(inner_name(path).suffix.lower())
    return by_extension or sniff(head)


def supported(path: Path) -> bool:
    """Whether a file in a folder given to ``ingest`` is one to read (by its name, ``.gz`` looked through)."""
    return inner_name(path).suffix.lower() in {*_EXTENSIONS, ".xml"} and not path.name.startswith(".")


def utf8_problem(path: Path) -> Rejected | None:
    """Stream the file through a UTF-8 decoder; report the line of the first undecodable byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with open_bytes(path) as handle:
        while chunk := handle.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[:exc.start].count(b"\n")
                return Rejected(f"{path.name}:{line}", f"bytes that are not UTF-8 (0x{chunk[exc.start]:02x}); "
                                                        "save the file as UTF-8")
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return Rejected(f"{path.name}:{line}", "the file ends inside a UTF-8 character; save it as UTF-8")
    return None


def _unnamed(error: Exception, path: Path) -> str:
    """An error's message without the file name the rejection already starts with."""
    return str(error).removeprefix(f"{path}: ").removeprefix(f"{path.name}: ")


def read_items(path: Path, fmt: str | None = None) -> Iterator[Item]:
    """Yield the records, deletions and rejections of one file."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    if fmt is not None and fmt not in FORMATS:
        raise CorpusError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    try:
        head_bytes = head(path)
    except CorpusError as exc:
        yield Rejected(path.name, _unnamed(exc, path))
        return
    if not head_bytes.strip():
        yield Rejected(path.name, "the file is empty")
        return
    fmt = fmt or detect_format(path, head_bytes.decode("utf-8", errors="replace"))
    if fmt is None:
        yield Rejected(path.name, f"unknown format; pass --format with one of {', '.join(FORMATS)}")
        return
    if fmt not in ("pubmed-xml", "jats", "pdf"):  # XML parsers report encoding errors themselves, with the line
        try:
            problem = utf8_problem(path)
        except CorpusError as exc:
            problem = Rejected(path.name, _unnamed(exc, path))
        if problem:
            yield problem
            return
    try:
        for item in _reader(fmt)(path):
            if isinstance(item, Record):  # where it came from decides how far it is trusted (``identity.trust``)
                item = replace(item, extra={**item.extra, "origin": fmt})
            yield item
    except CorpusError as exc:
        yield Rejected(path.name, _unnamed(exc, path))
    except (ValueError, KeyError, IndexError) as exc:  # what the third-party parsers raise on broken input
        yield Rejected(path.name, f"cannot parse as {fmt} ({exc})")
